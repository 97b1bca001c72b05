// The runner stops only its own children and all of them: on SIGTERM and
// SIGINT (Ctrl-C) to `vxo scenario run` mid-run, and when a run fails (its host
// killed under it). With --host URL it uses an already running host and leaves
// it running.
import { afterAll, describe, expect, it } from "vitest";
import { execa } from "execa";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { runScenarios } from "../../scenarios/runner/run.ts";
import { paperCells, type Scenario } from "../../scenarios/types.ts";
import type { Report } from "../../scenarios/runner/report.ts";
import { isAlive, Procs, waitFor } from "../helpers/procs.ts";
import { VXO_BIN } from "../helpers/repo.ts";

const out = mkdtempSync(path.join(tmpdir(), "vxo-scen-life-"));
const procs = new Procs();
afterAll(async () => {
  await procs.stopAll();
  rmSync(out, { recursive: true, force: true });
});

/** Pids whose parent is `ppid` (from /proc/PID/stat). */
function childrenOf(ppid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(fields[1]) === ppid) out.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

describe.each([["SIGTERM", 143], ["SIGINT", 130]] as const)("vxo scenario run gets %s mid-run", (signal, status) => {
  it(`ends every process it started, then exits ${status}`, async () => {
    const run = execa("node", [VXO_BIN, "scenario", "run", "case2", "--emulator-only", "--packets", "3000000", "--runs", "5", "--out", out],
      { reject: false, env: { VXO_RUNTIME_DIR: procs.runtimeDir } });
    // Mid-traffic: the progress (shown once a run passes 2 s) names a cell of the emulator side.
    let err = "";
    run.stderr!.on("data", (d: Buffer) => {
      err += d.toString();
    });
    const kids = await waitFor("the emulator side's progress", async () => {
      const k = childrenOf(run.pid!);
      return /xdp\d\/\S+ \(emulator\)/.test(err) && k.length >= 3 ? k : undefined;
    }, 60_000);
    run.kill(signal);
    const r = await run;
    expect(r.exitCode, String(r.stderr)).toBe(status);
    expect(kids.filter(isAlive)).toEqual([]);
  }, 120_000);
});

describe("a run that fails", () => {
  it("stops its children when its host dies under it; the cells say what failed", async () => {
    const sc: Scenario = { name: "fail", title: "fail", description: "", topology: {}, cells: paperCells(1).filter((c) => c.mode === "offload"),
      table: { kind: "paper", table: "case1" }, expectations: [] };
    const pids: Array<{ kind: string; pid: number }> = [];
    const [rep] = await runScenarios([sc], {
      packets: 1000, runs: 1, outDir: out, isEmulatorOnly: true, progress: null,
      onChildStart: (c) => {
        pids.push(c);
        // The guest is spawned: kill the host (ours) under the run.
        if (c.kind === "guest") process.kill(pids.find((p) => p.kind === "host")!.pid, "SIGKILL");
      },
    });
    expect(pids.map((p) => p.kind)).toEqual(["host", "qemu", "guest"]);
    for (const c of rep!.cells) expect(c.emulator.status).toBe("error");
    expect(pids.map((p) => p.pid).filter(isAlive)).toEqual([]);
  }, 60_000);
});

describe("vxo scenario run --host URL", () => {
  it("runs against an already running host and leaves it running", async () => {
    const host = await procs.host([], "shared-host");
    const dir = path.join(out, "remote");
    const r = await execa("node", [VXO_BIN, "scenario", "run", "case1", "--emulator-only", "--host", host.url, "--packets", "3000", "--runs", "1", "--out", dir],
      { reject: false, env: { VXO_RUNTIME_DIR: procs.runtimeDir } });
    expect(r.exitCode, String(r.stderr)).toBe(0);
    expect(r.stdout).toContain("Case 1: XDP_REDIRECT to tun");
    const rep = JSON.parse(readFileSync(path.join(dir, "case1", "report.json"), "utf8")) as Report;
    expect(rep.options.host).toBe(host.url);
    expect(rep.cells.find((c) => c.id === "xdp1/offload")!.emulator.status).toBe("ok");
    expect(isAlive(host.pid)).toBe(true);
    const st = await procs.cli(["host", "show", host.url, "--json"]);
    expect(st.exitCode).toBe(0);
  }, 120_000);
});
