// `vxo prog load|run|dump` as users run it: a real process, exit codes,
// errno names and messages on bad input.
import { describe, expect, it, beforeAll } from "vitest";
import { execa } from "execa";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { PROGRAMS_DIR, REPO_ROOT, VXO_BIN } from "../helpers/repo.ts";
import { kernelOracleUnavailable } from "../helpers/kernel_oracle.ts";
import { buildFrame } from "../../shared/net/packets.ts";
import { IPPROTO_UDP } from "../../shared/net/headers.ts";

const vxo = (...args: string[]) => execa("node", [VXO_BIN, ...args], { reject: false });
let dir = "";
let pkt = "";
let runt = "";
let truncated = "";

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), "vxo-cli-"));
  pkt = path.join(dir, "pkt.bin");
  writeFileSync(pkt, buildFrame({ l3: "ipv4", l4: IPPROTO_UDP, frameLen: 64 }));
  runt = path.join(dir, "runt.bin");
  writeFileSync(runt, new Uint8Array(10));
  truncated = path.join(dir, "trunc.o");
  writeFileSync(truncated, readFileSync(path.join(PROGRAMS_DIR, "xdp1.o")).subarray(0, 300));
});

describe("vxo prog run", () => {
  it("prints bpftool's line and swaps MACs with xdp2 (XDP_TX)", async () => {
    const out = path.join(dir, "out.bin");
    const r = await vxo("prog", "run", path.join(PROGRAMS_DIR, "xdp2.o"), "--data-in", pkt, "--data-out", out, "--repeat", "10");
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^Return value: 3, duration \(average\): \d+ns$/m);
    const a = readFileSync(pkt), b = readFileSync(out);
    // repeat 10 runs on the same buffer, as the kernel's test run does: an even number of swaps
    expect(Buffer.compare(a, b)).toBe(0);
  });

  it("--json reports retval, output bytes and map contents", async () => {
    const r = await vxo("prog", "run", path.join(PROGRAMS_DIR, "xdp1.o"), "--data-in", pkt, "--json");
    expect(r.exitCode, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.retval).toBe(1);
    expect(j.dataOut).toBe(readFileSync(pkt).toString("hex"));
    const udp = (j.maps.rxcnt as Array<[string, string]>).find(([k]) => k === "11000000");
    expect(udp?.[1]).toBe("0100000000000000");
  });

  it("refuses a runt with EINVAL like BPF_PROG_TEST_RUN", async () => {
    const r = await vxo("prog", "run", path.join(PROGRAMS_DIR, "xdp1.o"), "--data-in", runt);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/ETH_HLEN \(14\).*\(EINVAL\)/);
  });

  it("names the programs an object has when --sec matches none", async () => {
    const r = await vxo("prog", "run", path.join(PROGRAMS_DIR, "xdp_tail_call.o"), "--sec", "nope", "--data-in", pkt);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/xdp_tc_entry \(section xdp\).*\(ENOENT\)/);
  });

  it("applies --map-update before the run (devmap slot 0 -> lo, XDP_REDIRECT)", async () => {
    const obj = path.join(PROGRAMS_DIR, "xdp_redirect_map.o");
    const without = await vxo("prog", "run", obj, "--data-in", pkt, "--json");
    const withPort = await vxo("prog", "run", obj, "--data-in", pkt, "--json", "--map-update", "tx_port=00000000:01000000");
    expect(JSON.parse(without.stdout).retval).toBe(0);
    expect(JSON.parse(withPort.stdout).retval).toBe(4);
    const bad = await vxo("prog", "run", obj, "--data-in", pkt, "--map-update", "tx_port=00000000:07000000");
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toMatch(/Cannot update map tx_port/);
  });
});

const noKernel = kernelOracleUnavailable(REPO_ROOT);
if (noKernel !== null) console.warn(`\n*** prog run WITHOUT INPUT: COMPARISON WITH THE REAL bpftool SKIPPED: ${noKernel} ***\n`);

describe("vxo prog run without --data-in", () => {
  it("is a usage error as bpftool prog run without data_in: Error: ... on stderr, exit 255, nothing run", async () => {
    const r = await vxo("prog", "run", path.join(PROGRAMS_DIR, "xdp_pass.o"));
    expect(r.exitCode).toBe(255);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe("Error: 'run' needs at least one --data-in FILE");
    const j = await vxo("prog", "run", path.join(PROGRAMS_DIR, "xdp_pass.o"), "--json");
    expect(j.exitCode).toBe(255);
    expect(JSON.parse(j.stdout)).toEqual({ error: "'run' needs at least one --data-in FILE" });
  });

  it.skipIf(noKernel !== null)("answers as the real bpftool does: status 255, \"Error: 'run' needs ...\" (or {\"error\": ...} with -j)", async () => {
    const pin = `/sys/fs/bpf/vxotest_run_${process.pid}`;
    await execa("bpftool", ["prog", "load", path.join(PROGRAMS_DIR, "xdp_pass.o"), pin, "type", "xdp"]);
    try {
      const real = await execa("bpftool", ["prog", "run", "pinned", pin], { reject: false });
      const ours = await vxo("prog", "run", path.join(PROGRAMS_DIR, "xdp_pass.o"));
      expect(ours.exitCode).toBe(real.exitCode);
      expect(ours.stdout).toBe(real.stdout);
      const shape = (s: string) => /^Error: 'run' needs /.exec(s)?.[0];
      expect(shape(ours.stderr)).toBe(shape(real.stderr));
      const realJ = await execa("bpftool", ["-j", "prog", "run", "pinned", pin], { reject: false });
      const oursJ = await vxo("prog", "run", path.join(PROGRAMS_DIR, "xdp_pass.o"), "--json");
      expect(oursJ.exitCode).toBe(realJ.exitCode);
      expect(Object.keys(JSON.parse(oursJ.stdout))).toEqual(Object.keys(JSON.parse(realJ.stdout)));
    } finally {
      rmSync(pin, { force: true });
    }
  });
});

describe("vxo prog load and dump", () => {
  it("reports a truncated object as EINVAL naming what is cut", async () => {
    const r = await vxo("prog", "load", truncated);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/EINVAL/);
    expect(r.stderr).toMatch(/section|header|file/i);
  });

  it("dumps xlated instructions in bpftool's syntax", async () => {
    const r = await vxo("prog", "dump", "xlated", path.join(PROGRAMS_DIR, "xdp_pass.o"));
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^\s+0: \(b7\) r0 = 2\n\s+1: \(95\) exit$/m);
  });
});
