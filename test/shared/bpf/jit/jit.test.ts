// The WebAssembly JIT against the reference interpreter: edge semantics,
// faults (kind, pc, address), budget and call-depth limits, tail calls, the
// batch entry, the compile cache and engine selection. The conformance suite
// and the kernel differential test run everything else on both engines.
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { assemble } from "../../../../shared/bpf/isa/asm.ts";
import { jitRunOnSharedMemory, runRaw, type RawResult } from "../../../helpers/run_raw.ts";
import { interpRun } from "../../../../shared/bpf/runtime/interp.ts";
import { jitRun, jitCompile, engineByName, makeTieredEngine } from "../../../../shared/bpf/runtime/engine.ts";
import { runXdpBatch, runXdpRepeat, XDP_BATCH_MAX } from "../../../../shared/bpf/runtime/batch.ts";
import { jitStats, jitVmOf } from "../../../../shared/bpf/jit/jit_cache.ts";
import { WasmBuf } from "../../../../shared/bpf/jit/wasm_emit.ts";
import { BpfInsns } from "../../../../shared/bpf/isa/insn.ts";
import { BpfKernel } from "../../../../shared/bpf/syscall.ts";
import { BpfProg } from "../../../../shared/bpf/runtime/prog.ts";
import { loadObject } from "../../../../shared/bpf/libbpf/libbpf.ts";
import { openObject } from "../../../../shared/bpf/libbpf/object.ts";
import { XdpFrame, runXdp } from "../../../../shared/bpf/runtime/xdp.ts";
import { FAULT_BAD_INSN, FAULT_BUDGET, FAULT_NONE, FAULT_READ, FAULT_WRITE } from "../../../../shared/bpf/runtime/vm.ts";
import { BPF_MAP_TYPE_PROG_ARRAY, BPF_PROG_TYPE_XDP, XDP_ABORTED, XDP_TX } from "../../../../shared/bpf/isa/uapi.ts";
import { EINVAL, KernelError } from "../../../../shared/errno.ts";
import { buildFrame, testCorpus } from "../../../../shared/net/packets.ts";
import { IPPROTO_UDP } from "../../../../shared/net/headers.ts";
import { PROGRAMS_DIR } from "../../../helpers/repo.ts";
import { ONE_OFF_SCAVENGES, runGcProbe } from "../../../helpers/gc_probe.ts";

const show = (r: RawResult) => ("r0" in r ? `r0=0x${r.r0.toString(16)}` : `errno ${r.errno}: ${r.message}`);

/** Runs a .data-dialect program on both engines and returns the (identical) outcome. */
function both(text: string, mem = new Uint8Array(0)): string {
  const insns = assemble(text);
  const a = show(runRaw(insns, mem, "ubpf", interpRun));
  const b = show(runRaw(insns, mem, "ubpf", jitRun));
  expect(b, "jit vs interp").toBe(a);
  // The same module shape on a shared memory (atomics become wasm atomics there).
  expect(show(runRaw(insns, mem, "ubpf", jitRunOnSharedMemory)), "jit on a shared memory vs interp").toBe(a);
  return a;
}

function loadXdp(obj: string): { kernel: BpfKernel; prog: ReturnType<BpfKernel["progs"]["get"]> & object } {
  const file = path.join(PROGRAMS_DIR, obj);
  const kernel = new BpfKernel();
  const loaded = loadObject(kernel, openObject(readFileSync(file), { file }));
  return { kernel, prog: [...loaded.progs.values()][0]! };
}

describe("wasm emitter", () => {
  it("encodes LEB128 as the spec's examples", () => {
    const enc = (f: (b: WasmBuf) => void) => [...(() => { const b = new WasmBuf(); f(b); return b.toVec(); })()];
    expect(enc((b) => b.uleb(624485))).toEqual([0xe5, 0x8e, 0x26]);
    expect(enc((b) => b.sleb32(-123456))).toEqual([0xc0, 0xbb, 0x78]);
    expect(enc((b) => b.sleb32(63))).toEqual([0x3f]);
    expect(enc((b) => b.sleb32(64))).toEqual([0xc0, 0x00]);
    expect(enc((b) => b.sleb64(0, 0x80000000))).toEqual([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x7f]);
    expect(enc((b) => b.sleb64(0xffffffff, 0))).toEqual([0xff, 0xff, 0xff, 0xff, 0x0f]);
    expect(enc((b) => b.sleb64(-1, -1))).toEqual([0x7f]);
  });
});

describe("JIT semantics equal the interpreter's", () => {
  it("division and modulo edge cases (zero divisor, INT_MIN / -1, signed forms)", () => {
    expect(both("lddw %r0, 0x8000000000000000\nmov %r1, -1\nsdiv %r0, %r1\nexit")).toBe("r0=0x8000000000000000");
    expect(both("lddw %r0, 0x8000000000000000\nsmod %r0, -1\nexit")).toBe("r0=0x0");
    expect(both("mov32 %r0, 0x80000000\nsdiv32 %r0, -1\nexit")).toBe("r0=0x80000000");
    expect(both("mov %r0, 7\nmov %r1, 0\ndiv %r0, %r1\nexit")).toBe("r0=0x0");
    expect(both("mov %r0, 7\nmov %r1, 0\nmod %r0, %r1\nexit")).toBe("r0=0x7");
    expect(both("mov %r0, -7\nmov32 %r1, 0\nmod32 %r0, %r1\nexit")).toBe("r0=0xfffffff9");
    expect(both("mov %r0, -7\nsmod %r0, 2\nexit")).toBe("r0=0xffffffffffffffff");
  });

  it("shifts mask their count, 32-bit ops zero-extend, movsx and bswap", () => {
    expect(both("mov %r0, 1\nmov %r1, 65\nlsh %r0, %r1\nexit")).toBe("r0=0x2");
    expect(both("mov %r0, -1\nmov %r1, 33\nrsh32 %r0, %r1\nexit")).toBe("r0=0x7fffffff");
    expect(both("mov %r1, 0x80\nmovsx864 %r0, %r1\nexit")).toBe("r0=0xffffffffffffff80");
    expect(both("lddw %r0, 0x0102030405060708\nbswap64 %r0\nexit")).toBe("r0=0x807060504030201");
    expect(both("lddw %r0, 0x0102030405060708\nbe16 %r0\nexit")).toBe("r0=0x807");
  });

  it("bpf-to-bpf calls: r6-r9 preserved, r1-r5 and r0 as the callee left them", () => {
    const prog = "mov %r6, 6\nmov %r1, 1\ncall local f\nlsh %r1, 8\nadd %r0, %r1\nadd %r0, %r6\nexit\nf:\nmov %r6, 100\nmov %r1, 2\nmov %r0, 40\nexit";
    expect(both(prog)).toBe("r0=0x22e");
  });

  it("call depth: the 8th nested frame faults at the call, as in the interpreter", () => {
    const r = both("mov %r1, 0\ncall local f\nexit\nf:\nadd %r1, 1\ncall local f\nexit");
    expect(r).toMatch(/call depth exceeded at insn 4/);
  });

  it("an endless loop stops with the same budget fault and pc", () => {
    const r = both("mov %r0, 0\nloop:\nadd %r0, 1\nja loop\nexit");
    expect(r).toMatch(/instruction budget exhausted at insn 1/);
  });

  it("out-of-bounds accesses fault with the interpreter's kind, pc, address and size", () => {
    const mem = new Uint8Array(8);
    expect(both("ldxdw %r0, [%r1+4]\nexit", mem)).toMatch(/out-of-bounds read of 8 bytes at 0x[0-9a-f]+ \(insn 0\)/);
    expect(both("mov %r0, 0\nstb [%r1+8], 1\nexit", mem)).toMatch(/out-of-bounds write of 1 bytes .* \(insn 1\)/);
    expect(both("mov %r1, -4\nldxw %r0, [%r1+0]\nexit", mem)).toMatch(/out-of-bounds read of 4 bytes at 0xfffffffc/);
    expect(both("lddw %r1, 0x100000000\nldxb %r0, [%r1+0]\nexit", mem)).toMatch(/out-of-bounds read/);
    expect(both("ldxw %r0, [%r10+0]\nexit")).toMatch(/out-of-bounds read of 4 bytes/);
    expect(both("ldxw %r0, [%r10-512]\nexit")).toBe("r0=0x0");
  });

  it("atomics: fetch forms and cmpxchg (32-bit compares the low half of r0)", () => {
    const mem = new Uint8Array(8);
    expect(both("mov %r2, 5\nstxdw [%r1], %r2\nmov %r3, 3\nlock fetch add [%r1], %r3\nldxdw %r0, [%r1]\nadd %r0, %r3\nexit", mem)).toBe("r0=0xd");
    expect(both("stw [%r1], 9\nlddw %r0, 0x100000009\nmov %r2, 4\nlock cmpxchg32 [%r1], %r2\nldxw %r1, [%r1]\nlsh %r1, 32\nor %r0, %r1\nexit", mem))
      .toBe("r0=0x400000009");
  });

  it("uBPF's unwind helper stops the program with r0 set, on both engines", () => {
    expect(both("mov %r1, 0\nmov %r0, 9\ncall 5\nmov %r0, 7\nexit")).toBe("r0=0x0");
    expect(both("mov %r1, 3\ncall 5\nmov %r0, 7\nexit")).toBe("r0=0x7");
  });
});

describe("XDP programs on the JIT", () => {
  it("tail calls: 33 at most, then fall through (interpreter and JIT agree)", () => {
    // prog: count in r6 via the stack? Simpler: every run tail-calls itself; after 33 it falls through and returns r0.
    const k = new BpfKernel();
    const pa = k.mapCreate({ mapType: BPF_MAP_TYPE_PROG_ARRAY, keySize: 4, valueSize: 4, maxEntries: 1, mapFlags: 0, name: "jmp" });
    if (typeof pa === "number") throw new Error(`map: ${pa}`);
    // r7 counts runs through a map-less global: use r0 = r0 + 1 kept across tail calls (registers survive).
    const insns = BpfInsns.fromTuples([
      [0x07, 0, 0, 0, 1], // r0 += 1 (r0 starts at 0 and survives tail calls)
      [0x18, 2, 1, 0, pa.id], [0, 0, 0, 0, 0], // r2 = prog array
      [0xb7, 3, 0, 0, 0], // r3 = 0
      [0x85, 0, 0, 0, 12], // tail_call
      [0x95, 0, 0, 0, 0],
    ]);
    const r = k.progLoad({ progType: BPF_PROG_TYPE_XDP, insns, license: "GPL", name: "tc", verify: false });
    if (r.prog === null) throw new Error(r.message);
    const fd = new Uint8Array(4);
    new DataView(fd.buffer).setUint32(0, r.prog.id, true);
    expect(pa.sysUpdate(new Uint8Array(4), fd, 0)).toBe(0);
    const f = new XdpFrame(k.vm);
    f.prepare(k.vm, 64, 1, 0);
    expect(runXdp(k.vm, r.prog, f, interpRun)).toBe(34);
    expect(runXdp(k.vm, r.prog, f, jitRun)).toBe(34);
    expect(k.vm.tailCallCnt).toBe(33);
  });

  it("the batch entry gives per-frame verdicts and leaves rewritten packets in place (xdp2)", () => {
    const { kernel, prog } = loadXdp("xdp2.o");
    const vm = kernel.vm;
    const corpus = testCorpus(24).slice(0, XDP_BATCH_MAX);
    const frames = corpus.map(() => new XdpFrame(vm));
    const expected: Array<[number, string]> = [];
    const ref = loadXdp("xdp2.o");
    const rf = new XdpFrame(ref.kernel.vm);
    for (const p of corpus) {
      rf.prepare(ref.kernel.vm, p.bytes.length, 1, 0);
      ref.kernel.vm.mem.u8.set(p.bytes, rf.dataAddr());
      const ret = runXdp(ref.kernel.vm, ref.prog, rf, interpRun);
      expected.push([ret, Buffer.from(ref.kernel.vm.mem.u8.slice(rf.dataAddr(), rf.dataAddr() + p.bytes.length)).toString("hex")]);
    }
    corpus.forEach((p, i) => {
      frames[i]!.prepare(vm, p.bytes.length, 1, 0);
      vm.mem.u8.set(p.bytes, frames[i]!.dataAddr());
    });
    const verdicts = new Uint32Array(XDP_BATCH_MAX);
    expect(runXdpBatch(vm, prog, frames, corpus.length, verdicts)).toBe(0);
    corpus.forEach((p, i) => {
      const f = frames[i]!;
      expect([verdicts[i], Buffer.from(vm.mem.u8.slice(f.dataAddr(), f.dataAddr() + p.bytes.length)).toString("hex")]).toEqual(expected[i]);
    });
    expect(verdicts.slice(0, corpus.length)).toContain(XDP_TX);
    expect(runXdpBatch(vm, prog, frames, XDP_BATCH_MAX + 1, verdicts)).toBe(-EINVAL);
  });

  it("a fault in one frame of a batch aborts that frame only and is counted", () => {
    const k = new BpfKernel();
    // r0 = *(u8 *)(data + 100): faults on packets shorter than 101 bytes
    const insns = BpfInsns.fromTuples([[0x61, 2, 1, 0, 0], [0x71, 0, 2, 100, 0], [0x95, 0, 0, 0, 0]]);
    const r = k.progLoad({ progType: BPF_PROG_TYPE_XDP, insns, license: "GPL", name: "peek", verify: false });
    if (r.prog === null) throw new Error(r.message);
    const frames = [60, 200, 64, 300].map((len) => {
      const f = new XdpFrame(k.vm);
      f.prepare(k.vm, len, 1, 0);
      k.vm.mem.u8.fill(7, f.dataAddr(), f.dataAddr() + len);
      return f;
    });
    const v = new Uint32Array(4);
    expect(runXdpBatch(k.vm, r.prog, frames, 4, v)).toBe(2);
    expect([...v]).toEqual([XDP_ABORTED, 7, XDP_ABORTED, 7]);
    expect(k.vm.fault).toBe(FAULT_READ);
    expect(k.vm.faultPc).toBe(1);
    // the repeat loop stops at the first fault, like the interpreter's loop
    expect(runXdpRepeat(k.vm, r.prog, frames[0]!, 1000)).toBe(-1);
    expect(runXdpRepeat(k.vm, r.prog, frames[1]!, 1000)).toBe(7);
  });

  it("verified programs (insnAux) run with proven checks dropped and give the interpreter's results", () => {
    const { kernel, prog } = loadXdp("xdp1.o");
    expect(prog.insnAux).not.toBeNull();
    const f = new XdpFrame(kernel.vm);
    for (const p of testCorpus(24)) {
      f.prepare(kernel.vm, p.bytes.length, 1, 0);
      kernel.vm.mem.u8.set(p.bytes, f.dataAddr());
      const a = runXdp(kernel.vm, prog, f, interpRun);
      expect(runXdp(kernel.vm, prog, f, jitRun)).toBe(a);
    }
  });

  it("writes to the read-only context fault on the JIT as in the interpreter", () => {
    const k = new BpfKernel();
    const insns = BpfInsns.fromTuples([[0x62, 1, 0, 16, 3], [0xb7, 0, 0, 0, 2], [0x95, 0, 0, 0, 0]]);
    const r = k.progLoad({ progType: BPF_PROG_TYPE_XDP, insns, license: "GPL", name: "ctxw", verify: false });
    if (r.prog === null) throw new Error(r.message);
    const f = new XdpFrame(k.vm);
    f.prepare(k.vm, 64, 1, 0);
    expect(runXdp(k.vm, r.prog, f, jitRun)).toBe(-1);
    expect([k.vm.fault, k.vm.faultPc, k.vm.faultSize]).toEqual([FAULT_WRITE, 0, 4]);
    r.prog.ifindex = 5; // device-bound: rx_queue_index is writable
    expect(runXdp(k.vm, r.prog, f, jitRun)).toBe(2);
  });
});

describe("compile cache and engine selection", () => {
  it("compiles once per program and reuses the module for an identical program on the same maps", () => {
    const { kernel, prog } = loadXdp("xdp1.o");
    const jv = jitVmOf(kernel.vm);
    const n0 = jv.compiles;
    expect(jitCompile(kernel.vm, prog)).toBeGreaterThan(0);
    expect(jitCompile(kernel.vm, prog)).toBeGreaterThan(0);
    expect(jv.compiles).toBe(n0 + 1);
  });

  it("engineByName picks the engine and refuses unknown names with EINVAL", () => {
    expect(engineByName("jit")).toBe(jitRun);
    expect(engineByName("interp")).toBe(interpRun);
    expect(() => engineByName("llvm")).toThrowError(KernelError);
    try {
      engineByName("llvm");
    } catch (e) {
      expect((e as KernelError).errno).toBe(EINVAL);
    }
  });

  it("the tiered engine interprets the first runs, then compiles", () => {
    const { kernel, prog } = loadXdp("xdp_drop.o");
    const jv = jitVmOf(kernel.vm);
    const eng = makeTieredEngine(3);
    const f = new XdpFrame(kernel.vm);
    f.prepare(kernel.vm, 64, 1, 0);
    kernel.vm.mem.u8.set(buildFrame({ l3: "ipv4", l4: IPPROTO_UDP, frameLen: 64 }), f.dataAddr());
    const before = jv.compiles;
    for (let i = 0; i < 3; i++) expect(runXdp(kernel.vm, prog, f, eng)).toBe(1);
    expect(jv.compiles).toBe(before);
    expect(runXdp(kernel.vm, prog, f, eng)).toBe(1);
    expect(jv.compiles).toBe(before + 1);
  });

  it("an endless loop in an unverified XDP program stops with FAULT_BUDGET at the same pc on both engines", () => {
    const k = new BpfKernel();
    const loop = k.progLoad({ progType: BPF_PROG_TYPE_XDP, insns: BpfInsns.fromTuples([[0x05, 0, 0, -1, 0], [0x95, 0, 0, 0, 0]]),
      license: "GPL", name: "spin", verify: false });
    if (loop.prog === null) throw new Error(loop.message);
    k.vm.budgetInit = 1000;
    const f = new XdpFrame(k.vm);
    f.prepare(k.vm, 64, 1, 0);
    expect(runXdp(k.vm, loop.prog, f, interpRun)).toBe(-1);
    const pc = k.vm.faultPc;
    expect(runXdp(k.vm, loop.prog, f, jitRun)).toBe(-1);
    expect([k.vm.fault, k.vm.faultPc]).toEqual([FAULT_BUDGET, pc]);
  });
});

describe("compile failures", () => {
  // Built directly: even unverified loads go through the structural checks, which refuse r11.
  const unverified = (_k: BpfKernel, t: Array<[number, number, number, number, number]>) =>
    new BpfProg({ id: 0, name: "r11", progType: BPF_PROG_TYPE_XDP, insns: BpfInsns.fromTuples(t), usedMaps: [], gplCompatible: true });

  it("a program naming r11 (built past the structural checks) compiles, and faults where the interpreter does", () => {
    const k = new BpfKernel();
    const f = new XdpFrame(k.vm);
    f.prepare(k.vm, 64, 1, 0);
    const bad = [FAULT_BAD_INSN, 1];
    const cases: Array<[Array<[number, number, number, number, number]>, number[]]> = [
      [[[0xb7, 0, 0, 0, 2], [0x07, 11, 0, 0, 1], [0x95, 0, 0, 0, 0]], bad], // add r11, 1
      [[[0xb7, 0, 0, 0, 2], [0x0f, 0, 11, 0, 0], [0x95, 0, 0, 0, 0]], bad], // add r0, r11
      [[[0xb7, 0, 0, 0, 2], [0x18, 11, 0, 0, 7], [0, 0, 0, 0, 0], [0x95, 0, 0, 0, 0]], bad], // lddw r11, 7
      [[[0xb7, 0, 0, 0, 2], [0x07, 0, 11, 0, 1], [0x95, 0, 0, 0, 0]], [3]], // add r0, 1 (src 11 unused)
      [[[0xb7, 0, 0, 0, 2], [0x05, 0, 0, 1, 0], [0x07, 11, 0, 0, 1], [0x95, 0, 0, 0, 0]], [2]], // never reached
    ];
    for (const [t, want] of cases) {
      const prog = unverified(k, t);
      expect(jitCompile(k.vm, prog), "compiled").toBeGreaterThan(0);
      const a = runXdp(k.vm, prog, f, interpRun);
      const ia = [k.vm.fault, k.vm.faultPc];
      expect(a === -1 ? ia : [a]).toEqual(want);
      const b = runXdp(k.vm, prog, f, jitRun);
      expect(b === -1 ? [k.vm.fault, k.vm.faultPc] : [b]).toEqual(want);
    }
    expect(jitStats.compileErrors).toBe(0);
  });

  it("a program over V8's limits for one wasm function runs on the interpreter, counted as unsupported, not as an error", () => {
    // 70000 jump targets with backward jumps among them: a loop dispatch br_table over V8's 65520 entries.
    const t: Array<[number, number, number, number, number]> = [[0xb7, 0, 0, 0, 0]];
    for (let i = 1; i < 140000 - 1; i++) t.push(i % 2 === 0 ? [0x15, 0, 0, -2, 5] : [0x07, 0, 0, 0, 1]);
    t.push([0x95, 0, 0, 0, 0]);
    const k = new BpfKernel();
    const prog = unverified(k, t);
    const before = jitStats.unsupported;
    expect(jitCompile(k.vm, prog)).toBe(-1);
    expect(jitStats.unsupported).toBe(before + 1);
    expect(jitStats.lastUnsupported).toEqual({ prog: prog.name, reason: expect.stringContaining("br_table") });
    expect(jitStats.compileErrors).toBe(0);
    const f = new XdpFrame(k.vm);
    f.prepare(k.vm, 64, 1, 0);
    const want = runXdp(k.vm, prog, f, interpRun);
    expect(want).toBeGreaterThan(0);
    expect(runXdp(k.vm, prog, f, jitRun)).toBe(want);
  });

  it("a failed compile runs the program on the interpreter, counts the failure and names the program", () => {
    const { kernel, prog } = loadXdp("xdp_drop.o");
    const jv = jitVmOf(kernel.vm);
    const saved = { ...jitStats };
    jv.compile = () => {
      throw new Error("planted JIT bug");
    };
    const strict = process.env.VXO_JIT_STRICT;
    process.env.VXO_JIT_STRICT = "0";
    try {
      const f = new XdpFrame(kernel.vm);
      f.prepare(kernel.vm, 64, 1, 0);
      expect(runXdp(kernel.vm, prog, f, jitRun)).toBe(1);
      expect(kernel.vm.fault).toBe(FAULT_NONE);
      expect(jitStats.compileErrors).toBe(saved.compileErrors + 1);
      expect(jitStats.lastError?.prog).toBe(prog.name);
      expect(jitStats.lastError?.error).toContain("planted JIT bug");
      // Strict (as the test suite runs): the error is thrown, from the first run.
      process.env.VXO_JIT_STRICT = "1";
      const other = loadXdp("xdp_drop.o");
      jitVmOf(other.kernel.vm).compile = jv.compile;
      expect(() => jitCompile(other.kernel.vm, other.prog)).toThrowError("planted JIT bug");
    } finally {
      // Deliberate: not a JIT bug, so the suite's guard (test/helpers/jit_guard.ts) must not see it.
      Object.assign(jitStats, saved);
      if (strict === undefined) delete process.env.VXO_JIT_STRICT;
      else process.env.VXO_JIT_STRICT = strict;
    }
  });
});

describe("the JIT run paths", () => {
  for (const obj of ["xdp1.o", "xdp2.o"]) {
    it(`allocate nothing per packet: no scavenge over 2M single runs, 2M packets in batches of 64 and 2M batches of one, of ${obj}`, async () => {
      const probe = path.join(path.dirname(new URL(import.meta.url).pathname), "alloc_probe_jit.ts");
      const { out, scavenges } = await runGcProbe(probe, [obj, "2000000"]);
      expect(out).toMatch(/END \d+/);
      expect(scavenges).toBeLessThanOrEqual(ONE_OFF_SCAVENGES);
    }, 120_000);
  }
});
