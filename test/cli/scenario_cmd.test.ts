// `vxo scenario list` and the run command's argument errors (the runs
// themselves: test/scenarios/).
import { describe, expect, it } from "vitest";
import { execa } from "execa";
import { SCENARIOS } from "../../scenarios/index.ts";
import { VXO_BIN } from "../helpers/repo.ts";

const vxo = (args: string[]) => execa("node", [VXO_BIN, ...args], { reject: false });

describe("vxo scenario", () => {
  it("list names every scenario with its cell count; --json too", async () => {
    const r = await vxo(["scenario", "list"]);
    expect(r.exitCode).toBe(0);
    for (const s of SCENARIOS) expect(r.stdout).toMatch(new RegExp(`^${s.name} +${s.cells.length} cells  `, "m"));
    const j = JSON.parse((await vxo(["scenario", "list", "--json"])).stdout) as Array<{ name: string }>;
    expect(j.map((x) => x.name)).toEqual(["case1", "case2", "case2-vhost-poll", "hook-placement", "batch-sweep", "multi-guest"]);
  });

  it("run refuses an unknown scenario, both --model-only and --emulator-only, and a bad --packets (EINVAL, exit 1)", async () => {
    const a = await vxo(["scenario", "run", "case9"]);
    expect(a.exitCode).toBe(1);
    expect(a.stderr).toContain("Error: Unknown scenario 'case9' (known: case1, case2, case2-vhost-poll, hook-placement, batch-sweep, multi-guest, all) (EINVAL)");
    const b = await vxo(["scenario", "run", "case1", "--model-only", "--emulator-only"]);
    expect(b.exitCode).toBe(1);
    expect(b.stderr).toContain("exclude each other (EINVAL)");
    const c = await vxo(["scenario", "run", "case1", "--packets", "0"]);
    expect(c.exitCode).not.toBe(0);
    expect(c.stderr).toContain("Invalid packets '0'");
  });
});
