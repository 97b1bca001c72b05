// Reference interpreter: semantics the conformance vectors do not pin down
// (calls, frames, tail calls, runtime region checks, budget) and the
// no-allocation rule of the run loop.
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import path from "node:path";
import { assemble } from "../../../../shared/bpf/isa/asm.ts";
import { runRaw } from "../../../helpers/run_raw.ts";
import { BpfKernel } from "../../../../shared/bpf/syscall.ts";
import { openObject } from "../../../../shared/bpf/libbpf/object.ts";
import { loadObject } from "../../../../shared/bpf/libbpf/libbpf.ts";
import { XdpFrame, runXdp } from "../../../../shared/bpf/runtime/xdp.ts";
import { interpRun } from "../../../../shared/bpf/runtime/interp.ts";
import { FAULT_READ, FAULT_WRITE } from "../../../../shared/bpf/runtime/vm.ts";
import { BpfProg } from "../../../../shared/bpf/runtime/prog.ts";
import { BPF_MAP_TYPE_PROG_ARRAY, BPF_PROG_TYPE_XDP } from "../../../../shared/bpf/isa/uapi.ts";
import { buildFrame, testCorpus } from "../../../../shared/net/packets.ts";
import { IPPROTO_UDP } from "../../../../shared/net/headers.ts";
import { EFAULT } from "../../../../shared/errno.ts";
import { PROGRAMS_DIR, REPO_ROOT } from "../../../helpers/repo.ts";
import { ONE_OFF_SCAVENGES, runGcProbe } from "../../../helpers/gc_probe.ts";

const NO_MEM = new Uint8Array(0);
const r0 = (asm: string, mem = NO_MEM) => {
  const r = runRaw(assemble(asm), mem, "ubpf");
  if ("message" in r) throw new Error(r.message);
  return r.r0;
};

describe("interpRun()", () => {
  it("keeps r6-r9 across a bpf-to-bpf call and gives the callee its own stack frame", () => {
    expect(r0(`
      mov %r6, 7
      stdw [%r10-8], 100
      call local f
      ldxdw %r1, [%r10-8]
      add %r0, %r1
      add %r0, %r6
      exit
    f:
      mov %r6, 1000
      stdw [%r10-8], 5
      ldxdw %r0, [%r10-8]
      exit`)).toBe(112n);
  });

  it("stops with FAULT_CALL_DEPTH past 8 frames", () => {
    const r = runRaw(assemble(`
      call local f
      exit
    f:
      call local f
      exit`), NO_MEM, "ubpf");
    expect(r.errno).toBe(EFAULT);
    expect("message" in r && r.message).toMatch(/call depth exceeded/);
  });

  it("stops an infinite loop with the instruction budget instead of hanging", () => {
    const r = runRaw(assemble("ja -1\nexit"), NO_MEM, "ubpf");
    expect("message" in r && r.message).toMatch(/budget/);
  });

  it("faults on a read below the stack and on a write past the input buffer", () => {
    const below = runRaw(assemble("ldxdw %r0, [%r10-4104]\nexit"), NO_MEM, "ubpf");
    expect("message" in below && below.message).toMatch(/out-of-bounds read of 8 bytes/);
    const past = runRaw(assemble("stw [%r1+4], 1\nexit"), new Uint8Array(6), "ubpf");
    expect("message" in past && past.message).toMatch(/out-of-bounds write of 4 bytes/);
    const inside = runRaw(assemble("stw [%r1+2], 1\nldxw %r0, [%r1+2]\nexit"), new Uint8Array(6), "ubpf");
    expect(inside).toEqual({ errno: 0, r0: 1n });
  });

  it("faults on a pointer whose upper 32 bits are set instead of wrapping", () => {
    const r = runRaw(assemble("lddw %r2, 0x100000000\nadd %r1, %r2\nldxb %r0, [%r1]\nexit"), new Uint8Array(4), "ubpf");
    expect("message" in r && r.message).toMatch(/out-of-bounds read/);
  });
});

function xdpKernelWith(objFile: string) {
  const spec = openObject(readFileSync(path.join(PROGRAMS_DIR, objFile)), { file: objFile });
  const kernel = new BpfKernel();
  const obj = loadObject(kernel, spec);
  return { kernel, obj };
}

describe("tail calls", () => {
  it("stop after MAX_TAIL_CALL_CNT (33) and fall through", () => {
    // A program that tail-calls itself through slot 0 and counts in r6... r6 survives tail calls
    // only as the same frame: count in a stack slot of the caller frame instead (frame is reused).
    const kernel = new BpfKernel();
    const pa = kernel.mapCreate({ mapType: BPF_MAP_TYPE_PROG_ARRAY, keySize: 4, valueSize: 4, maxEntries: 1, mapFlags: 0, name: "pa" });
    if (typeof pa === "number") throw new Error(`map create ${pa}`);
    const text = `
      ldxdw %r0, [%r10-8]
      add %r0, 1
      stxdw [%r10-8], %r0
      lddw %r2, map_fd ${pa.id}
      mov %r3, 0
      call 12
      ldxdw %r0, [%r10-8]
      exit`;
    const res = kernel.progLoad({ progType: BPF_PROG_TYPE_XDP, insns: assemble(text), license: "GPL", name: "self" });
    if (res.prog === null) throw new Error(res.message);
    const key = new Uint8Array(4), val = new Uint8Array(4);
    new DataView(val.buffer).setUint32(0, res.prog.id, true);
    expect(pa.sysUpdate(key, val, 0)).toBe(0);
    const f = new XdpFrame(kernel.vm);
    f.prepare(kernel.vm, 64, 1, 0);
    kernel.mem.dv.setBigUint64(kernel.vm.stackTop - 8, 0n, true);
    const ret = runXdp(kernel.vm, res.prog, f);
    // 1 initial run + 33 tail calls, each incrementing once.
    expect(ret).toBe(34);
  });

  it("runs the sample's jump table: IPv4 to slot 0, IPv6 to slot 1", () => {
    const { kernel, obj } = xdpKernelWith("xdp_tail_call.o");
    const entry = obj.progs.get("xdp_tc_entry")!;
    const f = new XdpFrame(kernel.vm);
    for (const p of testCorpus(0).filter((p) => ["ipv4-udp-64", "ipv6-udp-64"].includes(p.name))) {
      f.prepare(kernel.vm, p.bytes.length, 1, 0);
      kernel.mem.u8.set(p.bytes, f.dataAddr());
      expect(runXdp(kernel.vm, entry, f)).toBeGreaterThanOrEqual(0);
    }
  });
});

describe("runtime regions", () => {
  it("refuse writes to the xdp_md context and reads past data_end", () => {
    const kernel = new BpfKernel();
    const mk = (asm: string) => new BpfProg({ id: 99, name: "t", progType: BPF_PROG_TYPE_XDP, insns: assemble(asm), usedMaps: [], gplCompatible: true });
    const f = new XdpFrame(kernel.vm);
    f.prepare(kernel.vm, 20, 1, 0);
    expect(runXdp(kernel.vm, mk("stw [%r1+4], 0\nmov %r0, 2\nexit"), f)).toBe(-1);
    expect(kernel.vm.fault).toBe(FAULT_WRITE);
    expect(runXdp(kernel.vm, mk("ldxw %r2, [%r1]\nldxb %r0, [%r2+20]\nexit"), f)).toBe(-1);
    expect(kernel.vm.fault).toBe(FAULT_READ);
    expect(runXdp(kernel.vm, mk("ldxw %r2, [%r1]\nldxb %r0, [%r2+19]\nexit"), f)).toBeGreaterThanOrEqual(0);
  });
});

describe("the run loop", () => {
  for (const obj of ["xdp1.o", "xdp2.o"]) {
    it(`allocates nothing per packet: no scavenge over 2M runs of ${obj}`, async () => {
      const { out, scavenges } = await runGcProbe(path.join(REPO_ROOT, "test/helpers/alloc_probe.ts"), [obj, "2000000"]);
      expect(out).toMatch(/END \d+/);
      expect(scavenges).toBeLessThanOrEqual(ONE_OFF_SCAVENGES);
    }, 120_000);
  }
});

