// Layout shared by the eBPF-to-WebAssembly compiler and its runtime: the
// per-VM state block in BpfMemory (region bounds, stop flag, budget, tail-call
// count, register spill area for helper calls, batch arrays) and the import
// and function-type numbering of every compiled module. Counterpart: the
// register/stack conventions of arch/x86/net/bpf_jit_comp.c.

// Byte offsets in the state block.
/** r0..r5 as i64 (helper calls spill here; the entry leaves r0 here). */
export const ST_REGS = 0;
export const ST_PKT_LO = 48;
export const ST_PKT_HI = 52;
export const ST_CTX_LO = 56;
export const ST_CTX_HI = 60;
export const ST_CTXW_LO = 64;
export const ST_CTXW_HI = 68;
export const ST_EXT_LO = 72;
export const ST_EXT_HI = 76;
/** 0 while running; a FAULT_* kind (or STOP_UNWIND) once the program must stop. */
export const ST_STOP = 80;
export const ST_BUDGET = 84;
export const ST_TAIL_CNT = 88;
/** Batch entry: ctx addresses (u32 each), then verdicts (u32 each). */
export const ST_BATCH_CTX = 128;
export const BATCH_MAX = 64;
export const ST_BATCH_VERDICT = ST_BATCH_CTX + 4 * BATCH_MAX;
export const ST_BYTES = ST_BATCH_VERDICT + 4 * BATCH_MAX;

/** uBPF's unwind helper asked to stop with r0 as set (not an error). */
export const STOP_UNWIND = 8;

// Function types.
export const T_BPF = 0; // (r0..r10: i64, depth: i32) -> (r0..r5: i64)
export const T_RUN = 1; // entry: 12 x i32 -> i32
export const T_BATCH = 2; // batch: 8 x i32 -> i32
export const T_HELPER = 3; // (id, pc) -> stop
export const T_TAIL = 4; // (r2lo, r2hi, r3lo) -> slot or -1
export const T_CHECK = 5; // (addr: f64, size, write) -> ok
export const T_FAULT = 6; // (kind, pc, lo, off, size, mode, slot) -> ()
export const T_ENTRY = 7; // main as the entry points call it: (r0, r1, r2: i64) -> r0

// Imported functions, in import order.
export const F_HELPER = 0;
export const F_TAIL = 1;
export const F_CHECK = 2;
export const F_FAULT = 3;
export const N_IMPORT_FUNCS = 4;

/** Fault address modes for the fault import: lo + off (signed, like the interpreter), or lo as u32. */
export const FA_SIGNED = 0;
export const FA_U32 = 1;

// Scratch locals of every compiled BPF function (after r0..r10 and depth).
/** i64 temp. */
export const L_T = 14;
/** i32 temps. */
export const L_T32 = 23;
export const L_T32B = 24;
