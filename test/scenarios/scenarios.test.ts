// Every scenario at a tiny packet count through the runner (model side: a
// test double of runModel; emulator side: real vxo host/qemu/guest processes):
// each report matches its schema, every result conserves its packets, the
// case tables carry the paper's figures, and the scenarios' expectations are
// evaluated. With the real model present (scenarios/model/index.ts), its Case
// 1 and Case 2 wakes per packet are checked too.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isAlive } from "../helpers/procs.ts";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { SCENARIOS } from "../../scenarios/index.ts";
import { runScenarios } from "../../scenarios/runner/run.ts";
import { readSharedTables, SHARED_RESULTS } from "../../scenarios/runner/paper.ts";
import type { Report } from "../../scenarios/runner/report.ts";
import { modelCalls, runModelDouble } from "../helpers/model_double.ts";
import { reportProblems } from "../helpers/report_schema.ts";

const out = mkdtempSync(path.join(tmpdir(), "vxo-scen-"));
let reports: Report[] = [];
const pids: number[] = [];

beforeAll(async () => {
  reports = await runScenarios([...SCENARIOS], {
    packets: 3000, runs: 2, outDir: out, runModel: runModelDouble, progress: null, onChildStart: (c) => pids.push(c.pid),
  });
}, 300_000);
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe("every scenario at a tiny packet count", () => {
  it("writes report.{json,md,html} per scenario; the JSON matches the schema", () => {
    expect(reports.map((r) => r.scenario)).toEqual(SCENARIOS.map((s) => s.name));
    for (const r of reports) {
      const dir = path.join(out, r.scenario);
      for (const f of ["report.json", "report.md", "report.html"]) expect(existsSync(path.join(dir, f)), `${r.scenario}/${f}`).toBe(true);
      const j = JSON.parse(readFileSync(path.join(dir, "report.json"), "utf8")) as Report;
      expect(reportProblems(j), r.scenario).toEqual([]);
      expect(j.cells).toHaveLength(SCENARIOS.find((s) => s.name === r.scenario)!.cells.length);
    }
  });

  it("conservation: every model result and emulator run has sent = dropped + tx + passed + errors", () => {
    let emulatorRuns = 0;
    for (const r of reports) {
      expect(r.checks.find((c) => c.what.startsWith("conservation")), r.scenario).toMatchObject({ status: "pass" });
      for (const c of r.cells) {
        if (c.model.status === "ok") {
          const m = c.model.result;
          expect(m.sent).toBe(m.dropped + m.tx + m.passed + m.errors);
        }
        if (c.emulator.status !== "ok") continue;
        for (const x of c.emulator.runs) {
          emulatorRuns++;
          expect(x.sent).toBe(3000 * (c.spec.guests ?? 1));
          expect(x.sent, `${r.scenario} ${c.id}`).toBe(x.dropped + x.tx + x.passed + x.errors);
          expect(x.programRuns).toBeGreaterThan(0);
        }
      }
    }
    // Both modes flow end to end: case1, case2, case2-vhost-poll, hook-placement and multi-guest ran for real.
    expect(emulatorRuns).toBeGreaterThanOrEqual(2 * (4 + 4 + 8 + 8 + 8));
  });

  it("the model got each cell's options (hook, busy poll, vhost batch, guests)", () => {
    expect(modelCalls.some((o) => o.hook === "net_xmit")).toBe(true);
    expect(modelCalls.some((o) => o.busyPollUs === 50)).toBe(true);
    expect(modelCalls.some((o) => o.vhostBatch === 256)).toBe(true);
    expect(modelCalls.some((o) => o.guests === 8)).toBe(true);
  });

  it("case1/case2 rows carry the paper's figures; a cell the emulator cannot run says why, with no figure", () => {
    const tables = existsSync(SHARED_RESULTS) ? readSharedTables() : null;
    for (const name of ["case1", "case2"] as const) {
      const r = reports.find((x) => x.scenario === name)!;
      expect(r.rows!.map((x) => x.program)).toEqual(["xdp1", "xdp2"]);
      if (tables !== null) for (const row of r.rows!) expect(row.paper).toEqual(tables[name][row.program]);
      for (const row of r.rows!) {
        for (const mode of ["non_offload", "offload"] as const) {
          if (row.emulator[mode] === null) expect(row.unavailable[`emulator/${mode}`]).toMatch(/\S/);
          else expect(row.emulator[mode]).toBeGreaterThan(0);
        }
      }
    }
    // Busy polling: vxo host --poll-us; the worker busy-polled only in the cells that asked for it.
    const pollCells = reports.find((x) => x.scenario === "case2-vhost-poll")!.cells;
    for (const c of pollCells) {
      expect(c.emulator.status, c.id).toBe("ok");
      const busyPolls = c.emulator.status === "ok" ? c.emulator.counters!.taps[0]!.counters.vhost_net!.rx_busy_polls! : -1;
      if ((c.spec.busyPollUs ?? 0) > 0) expect(busyPolls, c.id).toBeGreaterThan(0);
      else expect(busyPolls, c.id).toBe(0);
    }
    // Other vhost batches are not a host option: said in the cell.
    const sweep = reports.find((x) => x.scenario === "batch-sweep")!;
    expect(sweep.cells.find((c) => c.id === "xdp1/offload batch=64")!.emulator.status).toBe("ok");
    expect(sweep.cells.find((c) => c.id === "xdp1/offload batch=8")!.emulator.status).toBe("unavailable");
  });

  it("multi-guest: per-guest figures for each guest", () => {
    const r = reports.find((x) => x.scenario === "multi-guest")!;
    const c8 = r.cells.find((c) => c.id === "case1 guests=8")!;
    expect(c8.emulator.status).toBe("ok");
    if (c8.emulator.status === "ok") expect(c8.emulator.runs[0]!.perGuestMpps).toHaveLength(8);
  });

  it("no process the runner started survives it", () => {
    expect(pids.length).toBeGreaterThan(20);
    expect(pids.filter(isAlive)).toEqual([]);
  });
});

describe("the performance model (scenarios/model/index.ts)", () => {
  it("Case 2 wakes per packet in 0.5..1.1, Case 1 offload below 0.05", async () => {
    const [c1, c2] = await runScenarios(SCENARIOS.filter((s) => s.name === "case1" || s.name === "case2"), {
      runs: 1, outDir: out, isModelOnly: true, progress: null,
    });
    for (const r of [c1!, c2!]) expect(reportProblems(r)).toEqual([]);
    expect(c1!.checks.find((c) => c.what.includes("wakesPerPacket"))!.status).toBe("pass");
    expect(c2!.checks.find((c) => c.what.includes("wakesPerPacket"))!.status).toBe("pass");
  }, 120_000);
});
