// The interpreter's pre-decoded form: superinstructions must mean exactly the
// insns they cover (also when a jump lands inside them or a register is both
// operand and result), faults keep the pc of the insn that faulted, and jumps
// outside the program fault at the target pc as a plain decoder would.
import { describe, expect, it } from "vitest";
import { assemble } from "../../../../shared/bpf/isa/asm.ts";
import { BpfInsns } from "../../../../shared/bpf/isa/insn.ts";
import { BpfKernel } from "../../../../shared/bpf/syscall.ts";
import { BpfProg } from "../../../../shared/bpf/runtime/prog.ts";
import { interpRun } from "../../../../shared/bpf/runtime/interp.ts";
import {
  interpDecode, OP_LD_ARRAY_LOOKUP, OP_LD_MAP_LOOKUP, OP_LEA_K, OP_LEA_K_JGT_X, OP_LEA_X, OP_ATOMIC_ADD64, OP_MASK, slotOf,
} from "../../../../shared/bpf/runtime/interp_decode.ts";
import { XdpFrame, runXdp } from "../../../../shared/bpf/runtime/xdp.ts";
import { FAULT_BAD_INSN, FAULT_HELPER_ARG, FAULT_READ } from "../../../../shared/bpf/runtime/vm.ts";
import { BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_PERCPU_ARRAY, BPF_PROG_TYPE_XDP } from "../../../../shared/bpf/isa/uapi.ts";

const mk = (insns: BpfInsns) =>
  new BpfProg({ id: 99, name: "t", progType: BPF_PROG_TYPE_XDP, insns, usedMaps: [], gplCompatible: true });

function run(asm: string): { fault: number; pc: number; r0: bigint } {
  const kernel = new BpfKernel();
  const f = new XdpFrame(kernel.vm);
  f.prepare(kernel.vm, 64, 1, 0);
  kernel.vm.setXdpCtx(f.ctx, false);
  const fault = interpRun(kernel.vm, mk(assemble(asm)), f.ctx, 0);
  return { fault, pc: kernel.vm.faultPc, r0: kernel.vm.reg64(0) };
}

const opsOf = (asm: string) => {
  const ops = interpDecode(mk(assemble(asm)));
  return (pc: number) => ops[slotOf(pc)]! & OP_MASK;
};

describe("interpDecode() superinstructions", () => {
  it("fuses mov+add, mov+add X and the packet bounds check, and nothing else", () => {
    const op = opsOf(`
      mov %r4, %r1
      add %r4, 14
      jgt %r4, %r3, +0
      mov %r5, %r1
      add %r5, 2
      mov %r6, %r1
      add %r6, %r5
      mov %r7, %r1
      add %r8, 2
      mov %r0, 0
      exit`);
    expect([op(0), op(3), op(5), op(7)]).toEqual([OP_LEA_K_JGT_X, OP_LEA_K, OP_LEA_X, 0xbf]);
    // the covered slots keep their own ops
    expect([op(1), op(2), op(4), op(6)]).toEqual([0x07, 0x2d, 0x07, 0x0f]);
  });

  it("runs a jump into the middle of a fused pair as the single insn it lands on", () => {
    const prog = (taken: number) => `
      mov %r1, ${taken}
      mov %r2, 7
      jeq %r1, 1, +1
      mov %r3, %r2
      add %r3, 10
      mov %r0, %r3
      exit`;
    expect(run(prog(1)).r0).toBe(10n); // lands on `add`: r3 was 0
    expect(run(prog(0)).r0).toBe(17n); // mov+add fused
  });

  it("reads rX after the move when rX is the destination (rD = rS; rD += rD)", () => {
    expect(run("mov %r2, 21\nmov %r3, %r2\nadd %r3, %r3\nmov %r0, %r3\nexit").r0).toBe(42n);
  });

  it("carries into the high half and compares all 64 bits in the bounds check", () => {
    const r = run(`
      lddw %r2, 0xffffffff
      mov %r3, 0
      mov %r4, %r2
      add %r4, 1
      jgt %r4, %r3, +2
      mov %r0, 1
      exit
      mov %r0, %r4
      exit`);
    expect(r.r0).toBe(0x100000000n);
  });
});

describe("interpDecode() faults", () => {
  it("faults on a jump outside the program at the target pc", () => {
    const p = new BpfInsns(3);
    p.set(0, 0xb7, 0, 0, 0, 0); // r0 = 0
    p.set(1, 0x05, 0, 0, 40, 0); // goto pc+40 -> 42
    p.set(2, 0x95, 0, 0, 0, 0);
    const kernel = new BpfKernel();
    expect(interpRun(kernel.vm, mk(p), 0, 0)).toBe(FAULT_BAD_INSN);
    expect(kernel.vm.faultPc).toBe(42);
    const q = new BpfInsns(2);
    q.set(0, 0x05, 0, 0, -5, 0); // goto pc-5 -> -4
    q.set(1, 0x95, 0, 0, 0, 0);
    expect(interpRun(kernel.vm, mk(q), 0, 0)).toBe(FAULT_BAD_INSN);
    expect(kernel.vm.faultPc).toBe(-4);
  });

  it("faults at pc n when the program runs off its end, and on registers past r10", () => {
    const p = new BpfInsns(1);
    p.set(0, 0xb7, 0, 0, 0, 0);
    const kernel = new BpfKernel();
    expect(interpRun(kernel.vm, mk(p), 0, 0)).toBe(FAULT_BAD_INSN);
    expect(kernel.vm.faultPc).toBe(1);
    const q = new BpfInsns(2);
    q.set(0, 0xb7, 12, 0, 0, 0); // r12 = 0
    q.set(1, 0x95, 0, 0, 0, 0);
    expect(interpRun(kernel.vm, mk(q), 0, 0)).toBe(FAULT_BAD_INSN);
    expect(kernel.vm.faultPc).toBe(0);
  });

  it("treats the interpreter's own op numbers in a program as invalid insns", () => {
    const p = new BpfInsns(2);
    p.set(0, 0xe7, 0, 0, 0, 0); // ALU64 op 0xe0: no such operation (OP_LEA_K internally)
    p.set(1, 0x95, 0, 0, 0, 0);
    const kernel = new BpfKernel();
    expect(interpRun(kernel.vm, mk(p), 0, 0)).toBe(FAULT_BAD_INSN);
    expect(kernel.vm.faultPc).toBe(0);
  });
});

describe("the bpf_map_lookup_elem fixup", () => {
  function withArray(asm: (id: number) => string, mapType = BPF_MAP_TYPE_ARRAY) {
    const kernel = new BpfKernel();
    const m = kernel.mapCreate({ mapType, keySize: 4, valueSize: 8, maxEntries: 4, mapFlags: 0, name: "a" });
    if (typeof m === "number") throw new Error(`map create ${m}`);
    const res = kernel.progLoad({ progType: BPF_PROG_TYPE_XDP, insns: assemble(asm(m.id)), license: "GPL", name: "t", verify: false });
    if (res.prog === null) throw new Error(res.message);
    const f = new XdpFrame(kernel.vm);
    f.prepare(kernel.vm, 64, 1, 0);
    return { kernel, prog: res.prog, f, map: m };
  }

  it.each([
    ["a plain array, inlined", BPF_MAP_TYPE_ARRAY, OP_LD_ARRAY_LOOKUP],
    ["a per-CPU array, through the map's lookup", BPF_MAP_TYPE_PERCPU_ARRAY, OP_LD_MAP_LOOKUP],
  ])("is applied on %s, and returns what the helper returns (value pointer, NULL past max_entries)", (_what, mapType, op) => {
    for (const key of [2, 9, -1]) {
      const { kernel, prog, f, map } = withArray((id) => `
        stw [%r10-4], ${key}
        mov %r2, %r10
        add %r2, -4
        lddw %r1, map_fd ${id}
        call 1
        jeq %r0, 0, +2
        mov %r1, 1
        lock add [%r0+0], %r1
        exit`, mapType);
      const ops = interpDecode(prog);
      expect(ops[slotOf(3)]! & OP_MASK).toBe(op);
      expect(ops[slotOf(8)]! & OP_MASK).toBe(OP_ATOMIC_ADD64);
      expect(runXdp(kernel.vm, prog, f, interpRun)).toBeGreaterThanOrEqual(0);
      const r0 = Number(kernel.vm.reg64(0));
      expect(r0).toBe(key >= 0 && key < 4 ? map.lookupElem(kernel.vm.stackTop - 4) : 0);
      if (key >= 0 && key < 4) expect(kernel.mem.dv.getBigUint64(r0, true)).toBe(1n);
    }
  });

  it("leaves an unreadable key to the helper, which faults at the call's pc", () => {
    const { kernel, prog, f } = withArray((id) => `
      mov %r2, 16
      lddw %r1, map_fd ${id}
      call 1
      exit`);
    expect(runXdp(kernel.vm, prog, f, interpRun)).toBe(-1);
    expect(kernel.vm.fault).toBe(FAULT_HELPER_ARG);
    expect(kernel.vm.faultPc).toBe(3);
  });

  it("reports the pc of a load that faults after a fused bounds check", () => {
    const r = run(`
      ldxw %r2, [%r1+0]
      ldxw %r3, [%r1+4]
      mov %r4, %r2
      add %r4, 14
      jgt %r4, %r3, +1
      ldxb %r0, [%r2+200]
      exit`);
    expect(r.fault).toBe(FAULT_READ);
    expect(r.pc).toBe(5);
  });
});
