// Module assembly for one compiled program: its BPF functions, plus the two
// entry points JS calls (kernel counterpart: the JITed image's prologue that
// bpf_prog_run_xdp() enters, and a driver's per-buffer loop around it).
// `run` executes one program run on regions passed by the caller; `batch`
// loops over up to 64 xdp_md blocks inside wasm so that the JS/wasm boundary
// is crossed once per batch.
import type { BpfProg } from "../runtime/prog.ts";
import { XDP_MD_DATA_END, XDP_MD_DATA_META, XDP_MD_RX_QUEUE_INDEX, XDP_MD_SIZE } from "../isa/uapi.ts";
import { BLOCK_VOID, F64, I32, I64, OP, WasmBuf, assembleModule, type FuncBody } from "./wasm_emit.ts";
import { FuncCompiler, type JitTarget } from "./jit_wasm.ts";
import {
  N_IMPORT_FUNCS, ST_BATCH_CTX, ST_BATCH_VERDICT, ST_BUDGET, ST_CTXW_HI, ST_CTXW_LO, ST_CTX_HI, ST_CTX_LO,
  ST_EXT_HI, ST_EXT_LO, ST_PKT_HI, ST_PKT_LO, ST_REGS, ST_STOP, ST_TAIL_CNT, STOP_UNWIND, T_BATCH, T_BPF, T_CHECK,
  T_ENTRY, T_FAULT, T_HELPER, T_RUN, T_TAIL,
} from "./jit_layout.ts";

/** The wasm32 maximum: a shared import declaring it accepts a shared memory of any maximum. */
const WASM32_MAX_PAGES = 65536;

/**
 * run(r1lo, r1hi, r2lo, ctxLo, ctxHi, ctxWrLo, ctxWrHi, pktLo, pktHi, extLo, extHi, budget) -> stop:
 * 0 with r0 in the state block, or the FAULT_* kind (vm.fault* already recorded).
 */
function runBody(t: JitTarget, entryIndex: number, usesBudget: boolean): FuncBody {
  const b = new WasmBuf(256);
  const S = t.stateAddr;
  const st = (param: number, off: number) => b.i32(0).get(param).mem(OP.i32_store, S + off);
  st(7, ST_PKT_LO); st(8, ST_PKT_HI); st(3, ST_CTX_LO); st(4, ST_CTX_HI); st(5, ST_CTXW_LO); st(6, ST_CTXW_HI);
  st(9, ST_EXT_LO); st(10, ST_EXT_HI);
  if (usesBudget) {
    st(11, ST_BUDGET);
    b.i32(0).i32(0).mem(OP.i32_store, S + ST_TAIL_CNT);
  }
  b.i64s(0);
  b.get(0).op(OP.i64_extend_i32_u).get(1).op(OP.i64_extend_i32_u).i64s(32).op(OP.i64_shl).op(OP.i64_or);
  b.get(2).op(OP.i64_extend_i32_u);
  b.call(entryIndex).set(12);
  // The stop flag is left at 0 for the next run: reset it when set.
  b.i32(0).mem(OP.i32_load, S + ST_STOP).tee(13).u8(OP.if).u8(BLOCK_VOID);
  b.i32(0).i32(0).mem(OP.i32_store, S + ST_STOP);
  b.get(13).i32(STOP_UNWIND).op(OP.i32_eq).u8(OP.if).u8(BLOCK_VOID).i32(0).op(OP.return).op(OP.end);
  b.get(13).op(OP.return);
  b.op(OP.end);
  b.i32(0).get(12).mem(OP.i64_store, S + ST_REGS);
  b.i32(0).op(OP.end);
  return { locals: [I64, I32], code: b };
}

/**
 * batch(n, ctxWritable, extLo, extHi, budget, r2lo, stopOnFault, 0) -> faults: for i < n, ctx =
 * ctxs[i]; ctx and packet bounds from that xdp_md block; run; verdicts[i] = r0 as u32, or
 * XDP_ABORTED (0) after a runtime fault. With stopOnFault the loop ends at the first fault.
 */
function batchBody(t: JitTarget, entryIndex: number, usesBudget: boolean): FuncBody {
  const b = new WasmBuf(512);
  const S = t.stateAddr;
  const I = 8, CTX = 9, FAULTS = 10, STOP = 11, R0 = 12;
  const st = (push: () => void, off: number) => {
    b.i32(0);
    push();
    b.mem(OP.i32_store, S + off);
  };
  st(() => b.get(2), ST_EXT_LO);
  st(() => b.get(3), ST_EXT_HI);
  st(() => b.i32(0), ST_CTXW_LO);
  st(() => b.i32(0), ST_CTXW_HI);
  b.i32(0).set(I).i32(0).set(FAULTS);
  b.u8(OP.block).u8(BLOCK_VOID).u8(OP.loop).u8(BLOCK_VOID);
  b.get(I).get(0).op(OP.i32_ge_u).brIf(1);
  b.get(I).i32(2).op(OP.i32_shl).mem(OP.i32_load, S + ST_BATCH_CTX).set(CTX);
  st(() => b.get(CTX), ST_CTX_LO);
  st(() => b.get(CTX).i32(XDP_MD_SIZE).op(OP.i32_add), ST_CTX_HI);
  b.get(1).u8(OP.if).u8(BLOCK_VOID);
  st(() => b.get(CTX).i32(XDP_MD_RX_QUEUE_INDEX).op(OP.i32_add), ST_CTXW_LO);
  st(() => b.get(CTX).i32(XDP_MD_RX_QUEUE_INDEX + 4).op(OP.i32_add), ST_CTXW_HI);
  b.op(OP.end);
  st(() => b.get(CTX).mem(OP.i32_load, XDP_MD_DATA_META), ST_PKT_LO);
  st(() => b.get(CTX).mem(OP.i32_load, XDP_MD_DATA_END), ST_PKT_HI);
  if (usesBudget) {
    st(() => b.get(4), ST_BUDGET);
    st(() => b.i32(0), ST_TAIL_CNT);
  }
  b.i64s(0).get(CTX).op(OP.i64_extend_i32_u).get(5).op(OP.i64_extend_i32_u);
  b.call(entryIndex).set(R0);
  // verdict address, then value
  b.get(I).i32(2).op(OP.i32_shl);
  b.i32(0).mem(OP.i32_load, S + ST_STOP).tee(STOP).op(OP.i32_eqz).u8(OP.if).u8(I32);
  b.get(R0).op(OP.i32_wrap_i64);
  b.u8(OP.else);
  st(() => b.i32(0), ST_STOP);
  b.get(STOP).i32(STOP_UNWIND).op(OP.i32_eq).u8(OP.if).u8(I32);
  b.i32(0).mem(OP.i32_load, S + ST_REGS);
  b.u8(OP.else);
  b.get(FAULTS).i32(1).op(OP.i32_add).set(FAULTS).i32(0);
  b.op(OP.end).op(OP.end);
  b.mem(OP.i32_store, S + ST_BATCH_VERDICT);
  b.get(I).i32(1).op(OP.i32_add).set(I);
  // stop at the first fault when asked
  b.get(6).get(FAULTS).op(OP.i32_and).brIf(1);
  b.br(0);
  b.op(OP.end).op(OP.end);
  b.get(FAULTS).op(OP.end);
  return { locals: [I32, I32, I32, I32, I64], code: b };
}

/**
 * Compiles `prog` to a wasm module for the VM described by `t`. Every program compiles, verified
 * or not (insns the interpreter would fault on fault where reached): a throw here is a JIT bug.
 */
export function compileProg(prog: BpfProg, t: JitTarget): Uint8Array {
  // Discover functions: main, then the bpf-to-bpf call targets reachable from it.
  const funcs: number[] = [0];
  const funcIndex = new Map<number, number>([[0, N_IMPORT_FUNCS]]);
  const compilers: FuncCompiler[] = [];
  for (let i = 0; i < funcs.length; i++) {
    const calls = new Set<number>();
    const fc = new FuncCompiler(prog, t, funcs[i]!, funcIndex, calls);
    compilers.push(fc);
    for (const target of [...calls].sort((a, b) => a - b)) {
      if (target < 0 || target >= prog.insns.len || funcIndex.has(target)) continue;
      funcIndex.set(target, N_IMPORT_FUNCS + funcs.length);
      funcs.push(target);
    }
  }
  const usesBudget = compilers.some((c) => c.usesBudget);
  const bodies = compilers.map((fc) => ({ type: T_BPF, body: fc.compile() }));
  const entryIndex = N_IMPORT_FUNCS + bodies.length;
  bodies.push({ type: T_ENTRY, body: new FuncCompiler(prog, t, 0, funcIndex, new Set(), true).compile() });
  const runIndex = N_IMPORT_FUNCS + bodies.length;
  const i64x11 = new Array<number>(11).fill(I64);
  return assembleModule({
    types: [
      { params: [...i64x11, I32], results: [I64, I64, I64, I64, I64, I64] },
      { params: new Array<number>(12).fill(I32), results: [I32] },
      { params: new Array<number>(8).fill(I32), results: [I32] },
      { params: [I32, I32], results: [I32] },
      { params: [I32, I32, I32], results: [I32] },
      { params: [F64, I32, I32], results: [I32] },
      { params: [I32, I32, I32, I32, I32, I32, I32], results: [] },
      { params: [I64, I64, I64], results: [I64] },
    ],
    importFuncs: [
      { name: "helper", type: T_HELPER }, { name: "tail", type: T_TAIL }, { name: "check", type: T_CHECK },
      { name: "fault", type: T_FAULT },
    ],
    importMemory: { name: "mem", minPages: t.memPages, shared: t.shared === true ? { maxPages: WASM32_MAX_PAGES } : undefined },
    importTable: { name: "tab", min: t.slot + 1 },
    funcs: [...bodies, { type: T_RUN, body: runBody(t, entryIndex, usesBudget) },
      { type: T_BATCH, body: batchBody(t, entryIndex, usesBudget) }],
    exports: [{ name: "run", func: runIndex }, { name: "batch", func: runIndex + 1 }],
    elem: { offset: t.slot, funcs: [N_IMPORT_FUNCS] },
  });
}
