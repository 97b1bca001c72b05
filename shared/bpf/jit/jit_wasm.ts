// eBPF -> WebAssembly compiler. Counterpart of arch/x86/net/bpf_jit_comp.c
// (do_jit()): one wasm function per BPF function (main program and every
// bpf-to-bpf call target), eBPF registers r0..r10 in i64 locals, BPF pointers
// used directly as offsets into the imported BpfMemory. Semantics follow the
// reference interpreter (shared/bpf/runtime/interp_core.ts, RFC 9669) instruction for
// instruction, faults included: every memory access the verifier has not
// proven is checked against the same regions as BpfVm.canRead/canWrite.
//
// Control flow: the reachable instructions of a function are emitted in pc
// order, each jump target opening a segment; all segment blocks are opened at
// the function start, so a forward jump is one `br`. Backward jumps (loops)
// set a label and branch to an enclosing `loop` that dispatches with
// `br_table`, which handles any control-flow graph, irreducible ones included.
import type { BpfProg } from "../runtime/prog.ts";
import type { BpfMap } from "../maps/map.ts";
import { hasGenLookup } from "../maps/array_map.ts";
import { hasGenRedirect } from "../maps/devmap.ts";
import {
  FAULT_BAD_INSN, FAULT_BUDGET, FAULT_CALL_DEPTH, FAULT_HELPER_ARG, FAULT_READ, FAULT_WRITE, XDP_CTX_REDIRECT,
  XDP_CTX_REDIRECT_MAP,
} from "../runtime/vm.ts";
import {
  BPF_ADD, BPF_ALU, BPF_ALU64, BPF_AND, BPF_CMPXCHG, BPF_FETCH, BPF_FUNC_map_lookup_elem, BPF_FUNC_redirect_map,
  BPF_FUNC_tail_call, BPF_JMP,
  BPF_JMP32, BPF_LDX, BPF_MOV, BPF_OR, BPF_PSEUDO_CALL, BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_VALUE, BPF_ST, BPF_STX,
  BPF_SUB, BPF_XCHG, BPF_XOR, MAX_BPF_STACK, MAX_CALL_FRAMES, MAX_TAIL_CALL_CNT, XDP_MD_DATA, XDP_MD_DATA_END,
  XDP_MD_DATA_META, XDP_ABORTED, XDP_REDIRECT,
} from "../isa/uapi.ts";
import {
  INSN_TABLE, K_JMP, K_JMP32, K_LD_ABS, K_LD_IND, bpfClass, bpfOp, usesDstReg, usesSrcReg,
} from "../isa/insn_table.ts";
import {
  JMP32_JA, JMP_CALL, JMP_CALL_X, JMP_EXIT, JMP_JA, LDX_MEMSX_B, LDX_MEMSX_H, LDX_MEMSX_W, LDX_MEM_B, LDX_MEM_DW,
  LDX_MEM_H, LDX_MEM_W, LD_IMM_DW, STX_ATOMIC_DW, STX_ATOMIC_W,
} from "../isa/opcodes.ts";
import { BLOCK_VOID, I32, I64, OP, WasmBuf, type FuncBody } from "./wasm_emit.ts";
import { emitAlu, emitCond } from "./jit_alu.ts";
import {
  L_T, L_T32, L_T32B, FA_SIGNED, FA_U32, F_CHECK, F_FAULT, F_HELPER, F_TAIL, ST_BUDGET, ST_CTXW_HI, ST_CTXW_LO,
  ST_CTX_HI, ST_CTX_LO, ST_EXT_HI, ST_EXT_LO, ST_PKT_HI, ST_PKT_LO, ST_REGS, ST_STOP, ST_TAIL_CNT, T_BPF,
} from "./jit_layout.ts";

/**
 * A program beyond what one wasm function may hold in V8 (src/wasm/wasm-limits.h): the one
 * kind of program the JIT does not take (kernel: bpf_int_jit_compile() giving up, and
 * bpf_prog_select_runtime() keeping the interpreter). Only programs of ~100k insns and
 * more get here; jit_cache.ts runs them on the interpreter and counts them apart from errors.
 */
export class JitUnsupportedError extends Error {}

/** kV8MaxWasmFunctionSize: bytes of one function body. */
export const WASM_MAX_FUNCTION_SIZE = 7_654_321;
/** kV8MaxWasmFunctionBrTableSize: entries of one br_table (the loop dispatch has one per segment). */
export const WASM_MAX_BR_TABLE_SIZE = 65_520;

/** What the compiled code may assume about the VM it runs on. */
export interface JitTarget {
  /** Address of the VM's JIT state block. */
  readonly stateAddr: number;
  readonly stackBase: number;
  readonly stackTop: number;
  /** Map value areas registered on the VM for maps this program uses. */
  readonly mapRegions: ReadonlyArray<{ lo: number; hi: number; writable: boolean }>;
  /** Table slot of this program's entry function. */
  readonly slot: number;
  /** Memory size in pages at compile time (the import's minimum). */
  readonly memPages: number;
  /**
   * True when the memory is shared between threads: the module declares a shared import (with
   * the wasm32 maximum, which any shared memory satisfies) and BPF atomics become wasm atomics.
   */
  readonly shared?: boolean;
}

// Atomic read-modify-write opcodes after the 0xfe prefix (64-bit forms; the 32-bit
// zero-extending forms i64.atomic.rmw32.*_u are each 5 further).
const A64_ADD = 0x1f, A64_AND = 0x2d, A64_OR = 0x34, A64_XOR = 0x3b, A64_XCHG = 0x42, A64_CMPXCHG = 0x49, A_RMW32 = 5;

// Local indices: params r0..r10, depth; then scratch locals.
const DEPTH = 11;
const L_LABEL = 12;
const L_A = 13; // i64 address
const L_PLO = 15, L_PHI = 16, L_CLO = 17, L_CHI = 18, L_CWLO = 19, L_CWHI = 20, L_ELO = 21, L_EHI = 22;
/** r3..r10 and depth, which the entry variant has as locals instead of params. */
const ENTRY_LOCALS = [I64, I64, I64, I64, I64, I64, I64, I64, I32];
const BPF_LOCALS = [I32, I64, I64, I64, I64, I64, I64, I64, I64, I64, I64, I32, I32];

/** The wasm load of each BPF_LDX opcode (zero- or sign-extending to i64). */
const LOAD_OP: Partial<Record<number, number>> = {
  [LDX_MEM_W]: OP.i64_load32_u, [LDX_MEM_H]: OP.i64_load16_u, [LDX_MEM_B]: OP.i64_load8_u, [LDX_MEM_DW]: OP.i64_load,
  [LDX_MEMSX_W]: OP.i64_load32_s, [LDX_MEMSX_H]: OP.i64_load16_s, [LDX_MEMSX_B]: OP.i64_load8_s,
};

// Pointer kinds for ordering the region tests (a heuristic only: every test is exact).
const K_UNKNOWN = 0, K_STACK = 1, K_PKT = 2, K_MAP = 3, K_CTX = 4;

/**
 * The opcodes the JIT compiles: every row of INSN_TABLE but the legacy packet loads
 * (BPF_LD | BPF_ABS/BPF_IND, which no XDP program may use and the interpreter does
 * not run either); the others fault FAULT_BAD_INSN where they are reached.
 */
const VALID = new Uint8Array(256);
for (const d of INSN_TABLE) if (d !== undefined && d.kind !== K_LD_ABS && d.kind !== K_LD_IND) VALID[d.code] = 1;

function isCondJump(c: number): boolean {
  const k = VALID[c] === 1 ? INSN_TABLE[c]!.kind : 0;
  return k === K_JMP || k === K_JMP32;
}

/**
 * Whether an insn names a register it uses that does not exist (r11 and up: only the
 * kernel's internal encoding has them). The structural checks reject such programs; built
 * past them, the insn faults FAULT_BAD_INSN where it is reached, as in the interpreter
 * (interp_decode.ts gives it op 0, by the same usesDstReg()/usesSrcReg()).
 */
function badRegister(c: number, d: number, s: number): boolean {
  const desc = INSN_TABLE[c]!;
  return (usesDstReg(desc) && d > 10) || (usesSrcReg(desc) && s > 10);
}

/** Jump target of a jump at pc, or NaN when the insn does not jump. */
function jumpTarget(prog: BpfProg, pc: number): number {
  const c = prog.insns.code[pc]!;
  if (c === JMP_JA) return pc + prog.insns.off[pc]! + 1;
  if (c === JMP32_JA) return pc + prog.insns.imm[pc]! + 1;
  if (isCondJump(c)) return pc + prog.insns.off[pc]! + 1;
  return NaN;
}

/** Whether execution may continue at the next insn (pc+1, or pc+2 after ld_imm64). */
function fallsThrough(c: number): boolean {
  return VALID[c] === 1 && c !== JMP_EXIT && c !== JMP_JA && c !== JMP32_JA;
}

function isBpfCall(prog: BpfProg, pc: number): boolean {
  return prog.insns.code[pc] === JMP_CALL && prog.insns.src[pc] === BPF_PSEUDO_CALL;
}

/** Reachable insns from `entry` (jumps and fall-through; calls continue after the call). */
function reachable(prog: BpfProg, entry: number, calls: Set<number>): number[] {
  const n = prog.insns.len;
  const seen = new Uint8Array(n);
  const work = [entry];
  const out: number[] = [];
  while (work.length > 0) {
    const pc = work.pop()!;
    if (pc < 0 || pc >= n || seen[pc] === 1) continue;
    seen[pc] = 1;
    out.push(pc);
    const c = prog.insns.code[pc]!;
    const t = jumpTarget(prog, pc);
    if (!Number.isNaN(t)) work.push(t);
    if (isBpfCall(prog, pc)) calls.add(pc + prog.insns.imm[pc]! + 1);
    if (fallsThrough(c)) work.push(pc + (c === LD_IMM_DW ? 2 : 1));
  }
  return out.sort((a, b) => a - b);
}

/** Compiles one BPF function (the insns reachable from `entry`) to a wasm function body. */
export class FuncCompiler {
  readonly prog: BpfProg;
  readonly t: JitTarget;
  readonly entry: number;
  readonly isMain: boolean;
  /** The variant the entry points call: params (r0, r1, r2), result r0 only. */
  readonly entryVariant: boolean;
  readonly funcIndex: ReadonlyMap<number, number>;
  readonly b: WasmBuf;
  readonly S: number;
  pcs: number[];
  labels: number[]; // segment start pcs, labels[0] = first reachable pc
  segOf: Map<number, number>;
  dispatch: boolean;
  k: number;
  seg: number;
  usesRegions: boolean;
  /** True when the function has a backward jump, a bpf-to-bpf call or a tail call (it spends budget). */
  usesBudget: boolean;
  kind: Uint8Array;
  mapIn: Array<BpfMap | null>;

  constructor(prog: BpfProg, t: JitTarget, entry: number, funcIndex: ReadonlyMap<number, number>, calls: Set<number>,
    entryVariant = false) {
    this.prog = prog;
    this.t = t;
    this.entry = entry;
    this.isMain = entry === 0;
    this.entryVariant = entryVariant;
    this.funcIndex = funcIndex;
    this.b = new WasmBuf(1024);
    this.S = t.stateAddr;
    this.pcs = reachable(prog, entry, calls);
    const targets = new Set<number>();
    let back = false;
    for (const pc of this.pcs) {
      const tg = jumpTarget(prog, pc);
      if (Number.isNaN(tg) || tg < 0 || tg >= prog.insns.len) continue;
      targets.add(tg);
      if (tg <= pc) back = true;
    }
    const first = this.pcs[0]!;
    targets.add(entry);
    targets.delete(first);
    this.labels = [first, ...[...targets].sort((a, b) => a - b)];
    this.segOf = new Map(this.labels.map((p, i) => [p, i]));
    this.dispatch = back || entry !== first;
    this.k = this.labels.length - 1;
    this.seg = 0;
    this.usesRegions = false;
    this.usesBudget = back;
    const aux = prog.insnAux;
    for (const pc of this.pcs) {
      const c = prog.insns.code[pc]!;
      const cls = bpfClass(c);
      const mem = cls === BPF_LDX || cls === BPF_ST || cls === BPF_STX;
      if (mem && VALID[c] === 1 && (aux === null || aux.accessProven[pc] !== 1)) this.usesRegions = true;
      if (c === JMP_CALL && prog.insns.src[pc] === 0 && prog.insns.imm[pc] === BPF_FUNC_map_lookup_elem) this.usesRegions = true;
      if (c === JMP_CALL_X || (c === JMP_CALL && (prog.insns.src[pc] === BPF_PSEUDO_CALL || prog.insns.imm[pc] === BPF_FUNC_tail_call))) {
        this.usesBudget = true;
      }
    }
    this.kind = new Uint8Array(11);
    this.mapIn = new Array<BpfMap | null>(11).fill(null);
  }

  // ---- small emit helpers ----

  stLoad32u(off: number): void {
    this.b.i32(0).mem(OP.i64_load32_u, this.S + off);
  }

  /** Pushes the 6 result values (r0..r5) and returns. */
  ret(): void {
    for (let r = 0; r <= (this.entryVariant ? 0 : 5); r++) this.b.get(r);
    this.b.op(OP.return);
  }

  /** Calls the fault import (which sets vm.fault* and the stop flag) and returns. lo: local holding the base, or -1 for 0. */
  fault(kind: number, pc: number, loLocal: number, off: number, size: number, mode: number, slot = this.t.slot): void {
    const b = this.b;
    b.i32(kind).i32(pc);
    if (loLocal >= 0) b.get(loLocal).op(OP.i32_wrap_i64);
    else b.i32(0);
    b.i32(off).i32(size).i32(mode).i32(slot).call(F_FAULT);
    this.ret();
  }

  /** budget -= 1; fault FAULT_BUDGET at faultPc when it goes negative. */
  budget(faultPc: number, slotLocal = -1): void {
    const b = this.b;
    b.i32(0).i32(0).mem(OP.i32_load, this.S + ST_BUDGET).i32(1).op(OP.i32_sub).tee(L_T32).mem(OP.i32_store, this.S + ST_BUDGET);
    b.get(L_T32).i32(0).op(OP.i32_lt_s).u8(OP.if).u8(BLOCK_VOID);
    if (slotLocal >= 0) {
      b.i32(FAULT_BUDGET).i32(faultPc).i32(0).i32(0).i32(0).i32(FA_SIGNED).i32(-1).call(F_FAULT);
      this.ret();
    } else this.fault(FAULT_BUDGET, faultPc, -1, 0, 0, FA_SIGNED);
    b.op(OP.end);
  }

  loadRegions(all: boolean): void {
    if (!this.usesRegions) return;
    const b = this.b;
    this.stLoad32u(ST_PKT_LO); b.set(L_PLO);
    this.stLoad32u(ST_PKT_HI); b.set(L_PHI);
    if (!all) return;
    this.stLoad32u(ST_CTX_LO); b.set(L_CLO);
    this.stLoad32u(ST_CTX_HI); b.set(L_CHI);
    this.stLoad32u(ST_CTXW_LO); b.set(L_CWLO);
    this.stLoad32u(ST_CTXW_HI); b.set(L_CWHI);
    this.stLoad32u(ST_EXT_LO); b.set(L_ELO);
    this.stLoad32u(ST_EXT_HI); b.set(L_EHI);
  }

  /** Emits a branch to pc `target` from insn `from`; `extra` = blocks opened inside the segment. */
  jump(target: number, from: number, extra: number): void {
    const b = this.b;
    if (target < 0 || target >= this.prog.insns.len) {
      if (target <= from) this.budget(target);
      this.fault(FAULT_BAD_INSN, target, -1, 0, 0, FA_SIGNED);
      return;
    }
    const j = this.segOf.get(target)!;
    if (target <= from) {
      this.budget(target);
      b.i32(j).set(L_LABEL).br(this.k - this.seg + extra);
      return;
    }
    b.br(j - this.seg - 1 + extra);
  }

  /**
   * Bounds check of [base + off, +size) against the regions the program may touch; on
   * failure the fault import records `faultKind` and the function returns. Leaves the address in L_A.
   */
  check(base: number, off: number, size: number, write: boolean, pc: number, faultKind: number, mode: number): void {
    const b = this.b;
    b.get(base);
    if (off !== 0) b.i64s(off).op(OP.i64_add);
    b.set(L_A);
    const aux = this.prog.insnAux;
    if (aux !== null && aux.accessProven[pc] === 1 && faultKind !== FAULT_HELPER_ARG) return;
    b.u8(OP.block).u8(BLOCK_VOID);
    b.get(base).i64s(32).op(OP.i64_shr_u).op(OP.i64_eqz).u8(OP.if).u8(BLOCK_VOID);
    const constRange = (lo: number, hi: number) => {
      b.get(L_A).i64u(lo).op(OP.i64_ge_s).get(L_A).i64(hi - size, hi - size < 0 ? -1 : 0).op(OP.i64_le_s);
      b.op(OP.i32_and).brIf(1);
    };
    const localRange = (lo: number, hi: number) => {
      b.get(L_A).get(lo).op(OP.i64_ge_s).get(L_A).i64s(size).op(OP.i64_add).get(hi).op(OP.i64_le_s);
      b.op(OP.i32_and).brIf(1);
    };
    let k = base === 10 ? K_STACK : this.kind[base]!;
    if (aux !== null && k === K_UNKNOWN) {
      const ak = aux.accessKind[pc]!;
      k = ak === 1 ? K_STACK : ak === 2 ? K_PKT : ak === 3 ? K_MAP : ak === 4 ? K_CTX : K_UNKNOWN;
    }
    const order = k === K_STACK ? [K_STACK, K_PKT, K_MAP, K_CTX] : k === K_MAP ? [K_MAP, K_PKT, K_STACK, K_CTX]
      : k === K_CTX ? [K_CTX, K_PKT, K_STACK, K_MAP] : [K_PKT, K_STACK, K_MAP, K_CTX];
    for (const r of order) {
      if (r === K_STACK) constRange(this.t.stackBase, this.t.stackTop);
      else if (r === K_PKT) localRange(L_PLO, L_PHI);
      else if (r === K_CTX) {
        if (write) localRange(L_CWLO, L_CWHI);
        else localRange(L_CLO, L_CHI);
      } else {
        for (const m of this.t.mapRegions) if (!write || m.writable) constRange(m.lo, m.hi);
      }
    }
    localRange(L_ELO, L_EHI);
    b.get(L_A).op(OP.f64_convert_i64_s).i32(size).i32(write ? 1 : 0).call(F_CHECK).brIf(1);
    b.op(OP.end);
    this.fault(faultKind, pc, base, off, size, mode);
    b.op(OP.end);
  }

  resetKinds(): void {
    this.kind.fill(K_UNKNOWN);
    this.kind[10] = K_STACK;
    this.mapIn.fill(null);
  }

  setUnknown(r: number): void {
    this.kind[r] = K_UNKNOWN;
    this.mapIn[r] = null;
  }

  // ---- the function ----

  compile(): FuncBody {
    const b = this.b;
    if (this.dispatch && this.k + 1 > WASM_MAX_BR_TABLE_SIZE) {
      throw new JitUnsupportedError(`the function at insn ${this.entry} has ${this.k + 1} jump targets with loops among them, ` +
        `over the ${WASM_MAX_BR_TABLE_SIZE} entries of V8's largest br_table`);
    }
    this.resetKinds();
    if (this.isMain) this.kind[1] = K_CTX;
    if (this.entryVariant) b.i64u(this.t.stackTop).set(10);
    this.loadRegions(true);
    if (this.dispatch) {
      b.i32(this.segOf.get(this.entry)!).set(L_LABEL);
      b.u8(OP.loop).u8(BLOCK_VOID);
    }
    for (let i = 0; i < this.k; i++) b.u8(OP.block).u8(BLOCK_VOID);
    if (this.dispatch) {
      b.u8(OP.block).u8(BLOCK_VOID);
      b.get(L_LABEL).u8(OP.br_table).uleb(this.k + 1);
      for (let j = 0; j <= this.k; j++) b.uleb(j);
      b.uleb(0);
      b.op(OP.end);
    }
    for (const pc of this.pcs) {
      const s = this.segOf.get(pc);
      if (s !== undefined && s > 0) {
        b.op(OP.end);
        this.seg = s;
        this.resetKinds();
      }
      this.insn(pc);
    }
    if (this.dispatch) b.op(OP.end);
    b.op(OP.unreachable).op(OP.end);
    // (the locals' declaration adds a few bytes to what V8 counts)
    if (b.len + 64 > WASM_MAX_FUNCTION_SIZE) {
      throw new JitUnsupportedError(`the function at insn ${this.entry} needs ${b.len} bytes of wasm, over V8's ${WASM_MAX_FUNCTION_SIZE}-byte limit`);
    }
    return { locals: this.entryVariant ? [...ENTRY_LOCALS, ...BPF_LOCALS] : BPF_LOCALS, code: b };
  }

  /** Spills r0..r5, calls the helper import with `id` (pushed by pushId), reloads r0. */
  helperCall(pc: number, pushId: () => void): void {
    const b = this.b;
    for (let r = 0; r <= 5; r++) b.i32(0).get(r).mem(OP.i64_store, this.S + ST_REGS + 8 * r);
    pushId();
    b.i32(pc).call(F_HELPER).u8(OP.if).u8(BLOCK_VOID);
    this.ret();
    b.op(OP.end);
    b.i32(0).mem(OP.i64_load, this.S + ST_REGS).set(0);
    this.loadRegions(false);
  }

  /** bpf_tail_call(ctx, r2 = prog array, r3 = index): on success the target runs in this frame. */
  tailCall(): void {
    const b = this.b;
    b.i32(0).mem(OP.i32_load, this.S + ST_TAIL_CNT).i32(MAX_TAIL_CALL_CNT).op(OP.i32_lt_s).u8(OP.if).u8(BLOCK_VOID);
    b.get(2).op(OP.i32_wrap_i64).get(2).i64s(32).op(OP.i64_shr_u).op(OP.i32_wrap_i64).get(3).op(OP.i32_wrap_i64);
    b.call(F_TAIL).tee(L_T32B).i32(0).op(OP.i32_ge_s).u8(OP.if).u8(BLOCK_VOID);
    this.budget(0, L_T32B);
    for (let r = 0; r <= 10; r++) b.get(r);
    b.get(DEPTH).get(L_T32B).u8(OP.call_indirect).uleb(T_BPF).uleb(0);
    if (this.entryVariant) for (let r = 0; r < 5; r++) b.op(OP.drop);
    b.op(OP.return);
    b.op(OP.end);
    b.op(OP.end);
  }

  insn(pc: number): void {
    const b = this.b;
    const p = this.prog.insns;
    const c = p.code[pc]!, d = p.dst[pc]!, s = p.src[pc]!, off = p.off[pc]!, imm = p.imm[pc]!;
    if (VALID[c] !== 1 || badRegister(c, d, s)) {
      this.fault(FAULT_BAD_INSN, pc, -1, 0, 0, FA_SIGNED);
      return;
    }
    const cls = bpfClass(c);
    const isX = INSN_TABLE[c]!.isX;
    const op = bpfOp(c);
    if (cls === BPF_ALU64 || cls === BPF_ALU) this.aluInsn(c, cls, op, isX, d, s, off, imm);
    else if (cls === BPF_JMP || cls === BPF_JMP32) this.jmpInsn(pc, c, cls, op, isX, d, s, off, imm);
    else if (c === LD_IMM_DW) {
      b.i64(this.prog.ldLo[pc]!, this.prog.ldHi[pc]!).set(d);
      this.setUnknown(d);
      const src = p.src[pc]!;
      if (src === BPF_PSEUDO_MAP_FD || src === BPF_PSEUDO_MAP_VALUE) {
        const m = this.prog.usedMaps.find((x) => x.addr === this.prog.ldLo[pc]) ?? null;
        if (src === BPF_PSEUDO_MAP_FD) this.mapIn[d] = m;
        else this.kind[d] = K_MAP;
      }
    } else if (cls === BPF_LDX) this.loadInsn(pc, c, d, s, off);
    else this.storeInsn(pc, c, d, s, off, imm);
    if (fallsThrough(c)) {
      const next = pc + (c === LD_IMM_DW ? 2 : 1);
      if (next >= p.len) this.fault(FAULT_BAD_INSN, next, -1, 0, 0, FA_SIGNED);
    }
  }

  aluInsn(c: number, cls: number, op: number, isX: boolean, d: number, s: number, off: number, imm: number): void {
    const keepKind = cls === BPF_ALU64 && (op === BPF_ADD || op === BPF_SUB);
    const kd = this.kind[d]!, ks = this.kind[s]!;
    emitAlu(this.b, c, cls, op, isX, d, s, off, imm);
    if (op === BPF_MOV && cls === BPF_ALU64 && isX && off === 0) {
      this.kind[d] = ks;
      this.mapIn[d] = this.mapIn[s]!;
    } else if (keepKind) {
      this.kind[d] = kd;
      this.mapIn[d] = null;
    } else this.setUnknown(d);
  }

  jmpInsn(pc: number, c: number, cls: number, op: number, isX: boolean, d: number, s: number, _off: number, imm: number): void {
    const b = this.b;
    if (c === JMP_JA || c === JMP32_JA) {
      this.jump(jumpTarget(this.prog, pc), pc, 0);
      return;
    }
    if (c === JMP_EXIT) {
      this.ret();
      return;
    }
    if (c === JMP_CALL || c === JMP_CALL_X) {
      this.callInsn(pc, c, d, s, imm);
      return;
    }
    const target = jumpTarget(this.prog, pc);
    emitCond(this.b, cls, op, isX, d, s, imm);
    const inRange = target >= 0 && target < this.prog.insns.len;
    if (inRange && target > pc) {
      b.brIf(this.segOf.get(target)! - this.seg - 1);
    } else {
      b.u8(OP.if).u8(BLOCK_VOID);
      this.jump(target, pc, 1);
      b.op(OP.end);
    }
  }

  callInsn(pc: number, c: number, d: number, s: number, imm: number): void {
    const b = this.b;
    if (c === JMP_CALL && s === BPF_PSEUDO_CALL) {
      const target = pc + imm + 1;
      b.get(DEPTH).i32(1).op(OP.i32_add).i32(MAX_CALL_FRAMES).op(OP.i32_ge_s).u8(OP.if).u8(BLOCK_VOID);
      this.fault(FAULT_CALL_DEPTH, pc, -1, 0, 0, FA_SIGNED);
      b.op(OP.end);
      this.budget(pc);
      const fi = this.funcIndex.get(target);
      if (fi === undefined) {
        this.fault(FAULT_BAD_INSN, target, -1, 0, 0, FA_SIGNED);
        return;
      }
      for (let r = 0; r <= 9; r++) b.get(r);
      b.i64u(this.t.stackTop).get(DEPTH).i32(1).op(OP.i32_add).op(OP.i64_extend_i32_u).i64s(MAX_BPF_STACK);
      b.op(OP.i64_mul).op(OP.i64_sub);
      b.get(DEPTH).i32(1).op(OP.i32_add).call(fi);
      for (let r = 5; r >= 0; r--) b.set(r);
      b.i32(0).mem(OP.i32_load, this.S + ST_STOP).u8(OP.if).u8(BLOCK_VOID);
      this.ret();
      b.op(OP.end);
      this.loadRegions(false);
      for (let r = 0; r <= 5; r++) this.setUnknown(r);
      return;
    }
    if (c === JMP_CALL && s !== 0) {
      this.fault(FAULT_BAD_INSN, pc, -1, 0, 0, FA_SIGNED);
      return;
    }
    if (c === JMP_CALL_X) {
      // callx: helper id from the low half of dst
      b.get(d).op(OP.i32_wrap_i64).i32(BPF_FUNC_tail_call).op(OP.i32_eq).u8(OP.if).u8(BLOCK_VOID);
      this.tailCall();
      b.u8(OP.else);
      this.helperCall(pc, () => b.get(d).op(OP.i32_wrap_i64));
      b.op(OP.end);
      this.setUnknown(0);
      return;
    }
    if (imm === BPF_FUNC_tail_call) {
      this.tailCall();
      return;
    }
    const m = this.mapIn[1];
    if (imm === BPF_FUNC_map_lookup_elem && hasGenLookup(m) &&
        this.t.mapRegions.some((r) => r.lo === m.valuesStart)) {
      // Inlined array_map_lookup_elem(): index = *(u32 *)r2; r0 = index < max_entries ? &values[index] : NULL
      this.check(2, 0, m.keySize, false, pc, FAULT_HELPER_ARG, FA_U32);
      b.get(L_A).op(OP.i32_wrap_i64).mem(OP.i64_load32_u).tee(L_T);
      b.i64u(m.maxEntries).op(OP.i64_lt_u).u8(OP.if).u8(BLOCK_VOID);
      b.i64u(m.valuesStart).get(L_T).i64u(m.entryStride).op(OP.i64_mul).op(OP.i64_add).set(0);
      b.u8(OP.else).i64s(0).set(0).op(OP.end);
      this.setUnknown(0);
      this.kind[0] = K_MAP;
      return;
    }
    if (imm === BPF_FUNC_redirect_map && hasGenRedirect(m)) {
      this.redirectMapInline(m.maxEntries, m.valuesStart, m.valueSize, m.id);
      this.setUnknown(0);
      return;
    }
    this.helperCall(pc, () => b.i32(imm));
    this.setUnknown(0);
  }

  /**
   * Inlined bpf_redirect_map() on a DEVMAP (the helper's semantics, helpers.ts redirectMap):
   * flags (r3) outside BPF_F_ACTION_MASK | BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS give
   * XDP_ABORTED; key r2 (u64) below max_entries with a non-zero ifindex word records the target
   * (ifindex, map id) in the context's redirect slots and gives XDP_REDIRECT; otherwise the
   * action in the low two bits of flags.
   */
  redirectMapInline(maxEntries: number, valuesStart: number, valueSize: number, mapId: number): void {
    const b = this.b;
    // Flags: bits other than 0x1b, in either half, abort.
    b.get(3).i64(~0x1b, -1).op(OP.i64_and).op(OP.i64_eqz).u8(OP.if).u8(BLOCK_VOID);
    b.i32(0).set(L_T32);
    b.get(2).i64u(maxEntries).op(OP.i64_lt_u).u8(OP.if).u8(BLOCK_VOID);
    b.get(2).op(OP.i32_wrap_i64).i32(valueSize).op(OP.i32_mul).mem(OP.i32_load, valuesStart).set(L_T32);
    b.op(OP.end);
    b.get(L_T32).op(OP.i32_eqz).u8(OP.if).u8(BLOCK_VOID);
    b.get(3).i64u(3).op(OP.i64_and).set(0);
    b.u8(OP.else);
    this.stLoad32u(ST_CTX_LO);
    b.op(OP.i32_wrap_i64).tee(L_T32B).get(L_T32).mem(OP.i32_store, XDP_CTX_REDIRECT);
    b.get(L_T32B).i32(mapId).mem(OP.i32_store, XDP_CTX_REDIRECT_MAP);
    b.i64u(XDP_REDIRECT).set(0);
    b.op(OP.end);
    b.u8(OP.else);
    b.i64u(XDP_ABORTED).set(0);
    b.op(OP.end);
  }

  loadInsn(pc: number, c: number, d: number, s: number, off: number): void {
    const b = this.b;
    const size = INSN_TABLE[c]!.size;
    // data, data_end and data_meta of the xdp_md context are packet pointers.
    const fromCtx = this.kind[s] === K_CTX && c === LDX_MEM_W &&
      (off === XDP_MD_DATA || off === XDP_MD_DATA_END || off === XDP_MD_DATA_META);
    this.check(s, off, size, false, pc, FAULT_READ, FA_SIGNED);
    const o = LOAD_OP[c]!;
    b.get(L_A).op(OP.i32_wrap_i64).mem(o).set(d);
    this.setUnknown(d);
    if (fromCtx) this.kind[d] = K_PKT;
  }

  storeInsn(pc: number, c: number, d: number, s: number, off: number, imm: number): void {
    const b = this.b;
    if (c === STX_ATOMIC_W || c === STX_ATOMIC_DW) {
      this.atomicInsn(pc, c, d, s, off, imm);
      return;
    }
    const size = INSN_TABLE[c]!.size;
    this.check(d, off, size, true, pc, FAULT_WRITE, FA_SIGNED);
    b.get(L_A).op(OP.i32_wrap_i64);
    if (bpfClass(c) === BPF_ST) b.i64s(imm);
    else b.get(s);
    b.mem(size === 8 ? OP.i64_store : size === 4 ? OP.i64_store32 : size === 2 ? OP.i64_store16 : OP.i64_store8);
  }

  atomicInsn(pc: number, c: number, d: number, s: number, off: number, imm: number): void {
    const b = this.b;
    const w = c === STX_ATOMIC_DW;
    this.check(d, off, w ? 8 : 4, true, pc, FAULT_WRITE, FA_SIGNED);
    const base = imm & ~BPF_FETCH;
    const fetch = (imm & BPF_FETCH) !== 0;
    const valid = base === BPF_ADD || base === BPF_OR || base === BPF_AND || base === BPF_XOR || imm === BPF_XCHG ||
      imm === BPF_CMPXCHG;
    if (!valid) {
      this.fault(FAULT_BAD_INSN, pc, -1, 0, 0, FA_SIGNED);
      return;
    }
    if (this.t.shared === true) {
      this.atomicShared(c, s, imm, base, fetch);
      return;
    }
    const ld = w ? OP.i64_load : OP.i64_load32_u;
    const st = w ? OP.i64_store : OP.i64_store32;
    // old value -> L_T
    b.get(L_A).op(OP.i32_wrap_i64).mem(ld).set(L_T);
    if (imm === BPF_CMPXCHG) {
      // cmpxchg: compare r0 (low 32 bits for the 32-bit form) with old; store src when equal; r0 = old
      b.get(0);
      if (!w) b.i64u(0xffffffff).op(OP.i64_and);
      b.get(L_T).op(OP.i64_eq).u8(OP.if).u8(BLOCK_VOID);
      b.get(L_A).op(OP.i32_wrap_i64).get(s).mem(st);
      b.op(OP.end);
      b.get(L_T).set(0);
      this.setUnknown(0);
      return;
    }
    b.get(L_A).op(OP.i32_wrap_i64);
    if (imm === BPF_XCHG) b.get(s);
    else {
      b.get(L_T).get(s);
      b.op(base === BPF_ADD ? OP.i64_add : base === BPF_OR ? OP.i64_or : base === BPF_AND ? OP.i64_and : OP.i64_xor);
    }
    b.mem(st);
    if (fetch) {
      b.get(L_T).set(s);
      this.setUnknown(s);
    }
  }

  /**
   * The same atomic on a memory other threads see: one wasm atomic RMW (sequentially
   * consistent, as the kernel's locked x86 instructions are), address in L_A. The verifier
   * requires atomics to be aligned; an unaligned one from an unverified program traps (abort).
   */
  atomicShared(c: number, s: number, imm: number, base: number, fetch: boolean): void {
    const b = this.b;
    const w = c === 0xdb;
    const k = w ? 0 : A_RMW32;
    const align = w ? 3 : 2;
    b.get(L_A).op(OP.i32_wrap_i64);
    if (imm === 0xf1) {
      b.get(0).get(s).atomic(A64_CMPXCHG + k, align).set(0);
      this.setUnknown(0);
      return;
    }
    b.get(s);
    const o = imm === 0xe1 ? A64_XCHG : base === 0x00 ? A64_ADD : base === 0x40 ? A64_OR : base === 0x50 ? A64_AND : A64_XOR;
    b.atomic(o + k, align);
    if (fetch) {
      b.set(s);
      this.setUnknown(s);
    } else b.op(OP.drop);
  }
}
