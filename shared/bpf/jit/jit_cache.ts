// Compiled-code cache and the JIT's per-VM runtime state: one state block in
// BpfMemory, one funcref table (tail calls cross modules through it) and the
// four imports compiled code calls back into (helpers, tail-call target
// lookup, slow-path region check, fault record). Programs compile once per VM,
// cached by program tag plus the maps they reference (kernel: bpf_prog_select_runtime()
// JITs once at load; the tag is bpf_prog_calc_tag()). A program that fails to
// compile runs on the interpreter, as bpf_prog_select_runtime() falls back when
// bpf_int_jit_compile() fails, but never quietly: every failure is counted in
// jitStats and the first one is reported (a JIT bug would otherwise show only as
// a slowdown); the test suite fails when the count is not zero.
import type { BpfProg } from "../runtime/prog.ts";
import {
  BpfVm, FAULT_BAD_HELPER, FAULT_HELPER_ARG, FAULT_NONE, FAULT_READ, FAULT_UNWIND, FAULT_WRITE,
} from "../runtime/vm.ts";
import { WASM_PAGE } from "../runtime/memory.ts";
import { JitUnsupportedError, type JitTarget } from "./jit_wasm.ts";
import { compileProg } from "./jit_entry.ts";
import {
  FA_U32, ST_BYTES, ST_CTXW_HI, ST_CTXW_LO, ST_CTX_HI, ST_CTX_LO, ST_EXT_HI, ST_EXT_LO, ST_PKT_HI, ST_PKT_LO,
  ST_STOP, ST_TAIL_CNT, STOP_UNWIND,
} from "./jit_layout.ts";

/** The exported entry (jit_entry.ts runBody()): 0 with r0 in the state block, or the FAULT_* kind. */
export type JitRunFn = (r1lo: number, r1hi: number, r2lo: number, ctxLo: number, ctxHi: number, ctxWrLo: number,
  ctxWrHi: number, pktLo: number, pktHi: number, extLo: number, extHi: number, budget: number) => number;
/** The batch entry (jit_entry.ts batchBody()): runtime faults seen; verdicts in the state block. */
export type JitBatchFn = (n: number, ctxWritable: number, extLo: number, extHi: number, budget: number, r2lo: number,
  stopOnFault: number, unused: number) => number;

/**
 * Programs that did not compile, process-wide and sticky; each runs on the interpreter
 * instead. compileErrors are JIT bugs (every program compiles, verified or not, up to
 * V8's size limits): the first is reported as a process warning (VXO_JIT_COMPILE_ERROR)
 * and test/helpers/jit_guard.ts fails any test file that leaves the count above zero.
 * With VXO_JIT_STRICT=1 in the environment (the test suite sets it, so that vxo, host and
 * guest processes the tests start inherit it) a compile error is thrown instead, from the
 * first run or jitCompile(). unsupported counts the programs over V8's limits
 * (JitUnsupportedError, the reason named): those always fall back.
 */
export const jitStats = {
  compileErrors: 0,
  /** The last error: program name and error text (with its stack). */
  lastError: null as { prog: string; error: string } | null,
  unsupported: 0,
  lastUnsupported: null as { prog: string; reason: string } | null,
};

function compileFailed(prog: BpfProg, e: unknown): void {
  if (e instanceof JitUnsupportedError) {
    jitStats.unsupported++;
    jitStats.lastUnsupported = { prog: prog.name, reason: e.message };
    if (jitStats.unsupported === 1) {
      process.emitWarning(`program ${prog.name} runs on the interpreter: ${e.message}`,
        { type: "JitUnsupported", code: "VXO_JIT_UNSUPPORTED" });
    }
    return;
  }
  const error = e instanceof Error ? (e.stack ?? e.message) : String(e);
  jitStats.compileErrors++;
  jitStats.lastError = { prog: prog.name, error };
  if (process.env.VXO_JIT_STRICT === "1") throw e;
  if (jitStats.compileErrors === 1) {
    process.emitWarning(`JIT compile error on program ${prog.name} (it runs on the interpreter): ${error}`,
      { type: "JitCompileError", code: "VXO_JIT_COMPILE_ERROR" });
  }
}

/** One compiled program. */
export interface JitCode {
  readonly slot: number;
  readonly run: JitRunFn;
  readonly batch: JitBatchFn;
  /** Size of the wasm module in bytes. */
  readonly bytes: number;
}

/** The JIT's state for one BpfVm. */
export class JitVm {
  readonly vm: BpfVm;
  readonly stateAddr: number;
  /** Int32 view of the state block; re-created after the memory grows. */
  st: Int32Array;
  readonly table: WebAssembly.Table;
  /** Program of each table slot (weak: a freed program's slot only keeps its code). */
  readonly slots: Array<WeakRef<BpfProg>>;
  readonly byProg: WeakMap<BpfProg, JitCode | null>;
  readonly byKey: Map<string, JitCode>;
  readonly imports: Record<string, Record<string, unknown>>;
  /** Programs compiled, for statistics. */
  compiles: number;

  constructor(vm: BpfVm) {
    this.vm = vm;
    this.stateAddr = vm.mem.alloc(ST_BYTES, 64);
    this.st = new Int32Array(vm.mem.memory.buffer, this.stateAddr, ST_BYTES >> 2);
    this.table = new WebAssembly.Table({ element: "anyfunc", initial: 4 });
    this.slots = [];
    this.byProg = new WeakMap();
    this.byKey = new Map();
    this.compiles = 0;
    this.imports = {
      env: {
        mem: vm.mem.memory,
        tab: this.table,
        helper: (id: number, pc: number) => this.helper(id, pc),
        tail: (r2lo: number, r2hi: number, r3lo: number) => this.tail(r2lo, r2hi, r3lo),
        check: (a: number, size: number, write: number) => this.check(a, size, write),
        fault: (kind: number, pc: number, lo: number, off: number, size: number, mode: number, slot: number) =>
          this.fault(kind, pc, lo, off, size, mode, slot),
      },
    };
  }

  /** The state block view, re-created if a memory.grow() detached the old buffer. */
  view(): Int32Array {
    let st = this.st;
    if (st.length === 0) {
      st = new Int32Array(this.vm.mem.memory.buffer, this.stateAddr, ST_BYTES >> 2);
      this.st = st;
    }
    return st;
  }

  /** Copies the per-run region bounds from the state block to the VM (helpers and canRead use them). */
  syncVm(st: Int32Array): void {
    const vm = this.vm;
    vm.ctxLo = st[ST_CTX_LO >> 2]! >>> 0;
    vm.ctxHi = st[ST_CTX_HI >> 2]! >>> 0;
    vm.ctxWrLo = st[ST_CTXW_LO >> 2]! >>> 0;
    vm.ctxWrHi = st[ST_CTXW_HI >> 2]! >>> 0;
    vm.pktLo = st[ST_PKT_LO >> 2]! >>> 0;
    vm.pktHi = st[ST_PKT_HI >> 2]! >>> 0;
    vm.extLo = st[ST_EXT_LO >> 2]! >>> 0;
    vm.extHi = st[ST_EXT_HI >> 2]! >>> 0;
  }

  /** Helper call: r0..r5 are in the state block; runs vm.helpers[id] exactly as the interpreter does. */
  helper(id: number, pc: number): number {
    const vm = this.vm;
    let st = this.view();
    const R = vm.regs;
    for (let i = 0; i < 12; i++) R[i] = st[i]!;
    this.syncVm(st);
    vm.faultPc = pc;
    vm.fault = FAULT_NONE;
    const fn = id >= 0 ? vm.helpers[id] : undefined;
    if (fn === undefined) {
      vm.fault = FAULT_BAD_HELPER;
      st[ST_STOP >> 2] = FAULT_BAD_HELPER;
      return FAULT_BAD_HELPER;
    }
    fn(vm);
    st = this.view();
    if (vm.fault !== FAULT_NONE) {
      if (vm.fault === FAULT_UNWIND) {
        vm.fault = FAULT_NONE;
        st[0] = R[0]!;
        st[1] = R[1]!;
        st[ST_STOP >> 2] = STOP_UNWIND;
        return STOP_UNWIND;
      }
      vm.faultPc = pc;
      st[ST_STOP >> 2] = vm.fault;
      return vm.fault;
    }
    st[0] = R[0]!;
    st[1] = R[1]!;
    st[ST_PKT_LO >> 2] = vm.pktLo;
    st[ST_PKT_HI >> 2] = vm.pktHi;
    return 0;
  }

  /** bpf_tail_call() target: the slot of the next program's entry, or -1 to fall through. */
  tail(r2lo: number, r2hi: number, r3lo: number): number {
    const vm = this.vm;
    const st = this.view();
    // The count lives in the state block; tailCallTarget() counts (or not) as the interpreter does.
    vm.tailCallCnt = st[ST_TAIL_CNT >> 2]!;
    const target = vm.tailCallTarget(r2lo, r2hi, r3lo);
    st[ST_TAIL_CNT >> 2] = vm.tailCallCnt;
    if (target === null) return -1;
    const code = this.code(target);
    if (code === null) return -1;
    vm.prog = target;
    return code.slot;
  }

  /** Slow-path region check: exactly BpfVm.canRead/canWrite. */
  check(a: number, size: number, write: number): number {
    const vm = this.vm;
    this.syncVm(this.view());
    return (write !== 0 ? vm.canWrite(a, size) : vm.canRead(a, size)) ? 1 : 0;
  }

  /** Records a fault the compiled code detected, as the interpreter's stop()/stopAt() would. */
  fault(kind: number, pc: number, lo: number, off: number, size: number, mode: number, slot: number): void {
    const vm = this.vm;
    const st = this.view();
    this.syncVm(st);
    vm.fault = kind;
    vm.faultPc = pc;
    if (kind === FAULT_READ || kind === FAULT_WRITE || kind === FAULT_HELPER_ARG) {
      vm.faultAddr = mode === FA_U32 ? lo >>> 0 : lo + off;
      vm.faultSize = size;
    }
    if (slot >= 0 && st[ST_TAIL_CNT >> 2] !== 0) vm.prog = this.slots[slot]?.deref() ?? vm.prog;
    st[ST_STOP >> 2] = kind;
  }

  /** The compiled code of `prog` for this VM (compiling it on first use), or null when compiling failed (jitStats). */
  code(prog: BpfProg): JitCode | null {
    const c = this.byProg.get(prog);
    if (c !== undefined) return c;
    const key = cacheKey(prog);
    let code: JitCode | null = this.byKey.get(key) ?? null;
    if (code === null) {
      try {
        code = this.compile(prog);
      } catch (e) {
        compileFailed(prog, e);
      }
      if (code !== null) {
        // Bounded: the oldest entry goes first (its programs keep their code through byProg).
        if (this.byKey.size >= JIT_CACHE_MAX) this.byKey.delete(this.byKey.keys().next().value!);
        this.byKey.set(key, code);
      }
    }
    this.byProg.set(prog, code);
    return code;
  }

  /** Compiles `prog` for this VM; throws on failure (a JIT bug: see jitStats). */
  compile(prog: BpfProg): JitCode {
    const vm = this.vm;
    const slot = this.slots.length;
    const mapRegions: Array<{ lo: number; hi: number; writable: boolean }> = [];
    for (const m of prog.usedMaps) {
      for (let i = 0; i < vm.regionCount; i++) {
        if (vm.regionLo[i] === m.valuesStart && vm.regionHi[i] === m.valuesEnd && m.valuesEnd > m.valuesStart) {
          mapRegions.push({ lo: m.valuesStart, hi: m.valuesEnd, writable: vm.regionWritable[i] === 1 });
        }
      }
    }
    const target: JitTarget = {
      stateAddr: this.stateAddr, stackBase: vm.stackBase, stackTop: vm.stackTop, mapRegions, slot,
      memPages: vm.mem.byteLength / WASM_PAGE, shared: vm.mem.shared,
    };
    const bytes = compileProg(prog, target);
    if (this.table.length <= slot) this.table.grow(slot + 1 - this.table.length + 16);
    const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes), this.imports);
    this.slots.push(new WeakRef(prog));
    this.compiles++;
    return { slot, run: inst.exports.run as JitRunFn, batch: inst.exports.batch as JitBatchFn, bytes: bytes.length };
  }
}

/** Entries of the by-tag cache per VM. */
export const JIT_CACHE_MAX = 1024;

/** Cache key: the tag (insns with map fds zeroed), the length, the maps' addresses and whether verifier facts apply. */
function cacheKey(prog: BpfProg): string {
  let k = `${prog.tag}:${prog.insns.len}:${prog.insnAux !== null ? "v" : "u"}`;
  for (const m of prog.usedMaps) k += `:${m.addr}`;
  return k;
}

const jitVms = new WeakMap<BpfVm, JitVm>();

/** The JIT state of `vm`, created on first use (setup time: allocates the state block). */
export function jitVmOf(vm: BpfVm): JitVm {
  let j = jitVms.get(vm);
  if (j === undefined) {
    j = new JitVm(vm);
    jitVms.set(vm, j);
  }
  return j;
}
