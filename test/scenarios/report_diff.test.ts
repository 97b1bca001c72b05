// `vxo report diff OLD.json NEW.json` on two real reports (case1 run twice by
// `vxo scenario run`, emulator side, 3 runs each): a line per figure with its
// spread, the verdict following from the two ranges; a figure moved beyond its
// spread is a change, one within it is not, a model figure (deterministic)
// that moves at all is a change.
import { beforeAll, describe, expect, it } from "vitest";
import { execa } from "execa";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { diffReports, type FigureDiff } from "../../scenarios/runner/diff.ts";
import type { Report } from "../../scenarios/runner/report.ts";
import { VXO_BIN } from "../helpers/repo.ts";

const dir = mkdtempSync(path.join(tmpdir(), "vxo-diff-"));
const file = (run: string) => path.join(dir, run, "case1", "report.json");
const vxo = (args: string[]) => execa("node", [VXO_BIN, ...args], { reject: false, env: { NO_COLOR: "1" } });
let a: Report, b: Report;

beforeAll(async () => {
  for (const run of ["a", "b"]) {
    const r = await vxo(["scenario", "run", "case1", "--emulator-only", "--packets", "5000", "--runs", "3", "--out", path.join(dir, run)]);
    expect(r.exitCode, String(r.stderr)).toBe(0);
  }
  a = JSON.parse(readFileSync(file("a"), "utf8")) as Report;
  b = JSON.parse(readFileSync(file("b"), "utf8")) as Report;
}, 180_000);

const line = (d: { lines: FigureDiff[] }, fig: string) => d.lines.find((l) => l.figure === fig)!;

describe("vxo report diff", () => {
  it("two real reports: every figure, each emulator verdict from its two ranges", async () => {
    const r = await vxo(["report", "diff", file("a"), file("b")]);
    expect(r.exitCode, String(r.stderr)).toBe(0);
    const d = diffReports(a, b);
    expect(d.lines).toHaveLength(4 * 4); // 4 cells x (3 model figures + emulator mpps)
    for (const c of a.cells) {
      const l = line(d, `case1 ${c.id} emulator mpps`);
      const y = b.cells.find((x) => x.id === c.id)!.emulator;
      if (c.emulator.status !== "ok" || y.status !== "ok") {
        expect(l.verdict).not.toMatch(/spread|changed/);
        continue;
      }
      const overlap = c.emulator.mpps.max >= y.mpps.min && y.mpps.max >= c.emulator.mpps.min;
      expect(l.verdict).toBe(overlap ? "within spread" : "changed");
      expect(l.old).toMatch(/\[.*-.*\] n=3/);
      expect(r.stdout).toContain(`case1 ${c.id} emulator mpps`);
    }
    expect(r.stdout).toMatch(/\d+ of 16 figures changed beyond their spread/);
    const j = await vxo(["report", "diff", file("a"), file("b"), "--json"]);
    expect(JSON.parse(j.stdout).lines).toHaveLength(16);
  });

  it("a figure moved beyond its spread is a change; within it is not; the model moving at all is a change", () => {
    const c = structuredClone(b);
    const cell = c.cells.find((x) => x.id === "xdp1/offload")!;
    expect(cell.emulator.status).toBe("ok");
    if (cell.emulator.status !== "ok") return;
    const m = cell.emulator.mpps;
    const was = { ...m };
    // Entirely above the old range (a range that starts near 0 would still overlap itself scaled).
    Object.assign(m, { min: was.max * 2 + 1, median: was.max * 2 + 2, max: was.max * 2 + 3 });
    expect(line(diffReports(b, c), "case1 xdp1/offload emulator mpps")).toMatchObject({ verdict: "changed" });
    Object.assign(m, { median: was.median, min: was.min - 1, max: was.max + 1 });
    expect(line(diffReports(b, c), "case1 xdp1/offload emulator mpps")).toMatchObject({ verdict: "within spread" });
    m.n = 1;
    expect(line(diffReports(b, c), "case1 xdp1/offload emulator mpps")).toMatchObject({ verdict: "no spread (one run)" });
    const withModel = (mpps: number): Report => {
      const r = structuredClone(b);
      r.cells[1]!.model = { status: "ok", conserved: true, ms: 1, result: { mpps, sent: 1, dropped: 1, tx: 0, passed: 0, errors: 0, wakesPerPacket: 0, copiesPerPacket: 0 } };
      return r;
    };
    expect(line(diffReports(withModel(12), withModel(12)), "case1 xdp1/offload model mpps").verdict).toBe("same");
    expect(line(diffReports(withModel(12), withModel(12.01)), "case1 xdp1/offload model mpps")).toMatchObject({ verdict: "changed" });
    expect(line(diffReports(withModel(12), withModel(12.01)), "case1 xdp1/offload model mpps").changePct).toBeCloseTo(100 / 1200, 6);
  });

  it("refuses a file that is not a report (EINVAL, exit 1)", async () => {
    const bad = path.join(dir, "bad.json");
    writeFileSync(bad, JSON.stringify({ schema: "x" }));
    const r = await vxo(["report", "diff", bad, file("b")]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/not a vxo scenario report .*\(EINVAL\)/);
  });
});
