// Execution state shared by the reference interpreter, the helpers and the
// JIT: register file, call frames, the regions a program may touch and the
// fault record. One BpfVm per CPU-like execution context; reused for every run,
// so nothing here is allocated per packet.
import { BpfMemory } from "./memory.ts";
import { BPF_MAP_TYPE_PROG_ARRAY, MAX_BPF_STACK, MAX_CALL_FRAMES, MAX_TAIL_CALL_CNT, XDP_MD_SIZE } from "../isa/uapi.ts";
import type { BpfMap } from "../maps/map.ts";
import type { BpfProg } from "./prog.ts";

/** A helper implementation: reads r1..r5 from vm.regs, writes r0; sets vm.fault to abort the program. */
export type HelperFn = (vm: BpfVm) => void;

// Fault kinds: why a program was stopped by the runtime (defence in depth; the verifier is first).
export const FAULT_NONE = 0;
export const FAULT_READ = 1;
export const FAULT_WRITE = 2;
export const FAULT_BAD_INSN = 3;
export const FAULT_BAD_HELPER = 4;
export const FAULT_CALL_DEPTH = 5;
export const FAULT_BUDGET = 6;
export const FAULT_HELPER_ARG = 7;
export const FAULT_UNWIND = 8; // not an error: uBPF's unwind helper stopped the program

const FAULT_TEXT = ["no fault", "out-of-bounds read", "out-of-bounds write", "invalid instruction",
  "unknown helper", "call depth exceeded", "instruction budget exhausted", "invalid helper argument", "unwind"];

/** Hidden (not program-readable) fields after struct xdp_md in a context block. */
export const XDP_CTX_FRAME_START = XDP_MD_SIZE; // u32: data_hard_start
export const XDP_CTX_FRAME_SZ = XDP_MD_SIZE + 4; // u32: frame size (xdp_buff.frame_sz)
export const XDP_CTX_REDIRECT = XDP_MD_SIZE + 8; // u32: redirect target ifindex (bpf_redirect_info)
export const XDP_CTX_REDIRECT_MAP = XDP_MD_SIZE + 12; // u32: redirect map id, 0 for bpf_redirect()
export const XDP_CTX_BLOCK = 64; // bytes allocated per context

/** Environment callbacks a VM's helpers may need; all optional and set once. */
export interface BpfVmEnv {
  /** bpf_trace_printk output, one line without the trailing newline. */
  tracePrintk?: (line: string) => void;
  /** bpf_fib_lookup backend: fills the params at addr, returns BPF_FIB_LKUP_RET_* or -errno. */
  fibLookup?: (vm: BpfVm, paramsAddr: number, plen: number, flags: number, ctxAddr: number) => number;
  /** Maps a map identity address back to the map (CONST_PTR_TO_MAP in a register). */
  mapByAddr: (addr: number) => BpfMap | undefined;
}

export class BpfVm {
  readonly mem: BpfMemory;
  /** r0..r10 as (lo, hi) int32 pairs: r at [2r], [2r+1]. */
  readonly regs: Int32Array;
  /** Callee-saved r6..r9 and r10 per frame, plus return pc and program. */
  readonly savedRegs: Int32Array;
  readonly savedPc: Int32Array;
  readonly savedProg: Array<BpfProg | null>;
  frameDepth: number;
  readonly stackBase: number;
  readonly stackTop: number;
  /** Helper table for the environment this VM runs in (index = helper id). */
  helpers: ReadonlyArray<HelperFn | undefined>;
  env: BpfVmEnv;
  /** CPU number (bpf_get_smp_processor_id, per-CPU map slot). */
  cpu: number;

  // Regions a program may touch, besides the stack: [lo, hi).
  ctxLo: number;
  ctxHi: number;
  /** Writable window inside the context (rx_queue_index for device-bound programs), or empty. */
  ctxWrLo: number;
  ctxWrHi: number;
  pktLo: number;
  pktHi: number;
  /** Extra read/write region (the conformance runner's input buffer). */
  extLo: number;
  extHi: number;
  /** Map value areas: [lo, hi) and writability, dense in [0, regionCount). */
  regionLo: Int32Array;
  regionHi: Int32Array;
  regionWritable: Uint8Array;
  regionCount: number;

  /** r2 at entry (the raw-buffer ABI passes the length); 0 for context-only program types. */
  r2Init: number;
  /** Backward jumps and calls allowed before FAULT_BUDGET (guards unverified programs). */
  budget: number;
  budgetInit: number;
  tailCallCnt: number;
  /** Current program during a run (tail calls change it). */
  prog: BpfProg | null;
  fault: number;
  faultPc: number;
  faultAddr: number;
  faultSize: number;
  /** xorshift128 state for bpf_get_prandom_u32. */
  readonly rnd: Uint32Array;

  constructor(mem: BpfMemory, helpers: ReadonlyArray<HelperFn | undefined>, env: BpfVmEnv) {
    this.mem = mem;
    this.regs = new Int32Array(2 * 11);
    this.savedRegs = new Int32Array(MAX_CALL_FRAMES * 10);
    this.savedPc = new Int32Array(MAX_CALL_FRAMES);
    this.savedProg = new Array<BpfProg | null>(MAX_CALL_FRAMES).fill(null);
    this.frameDepth = 0;
    const stackBytes = MAX_CALL_FRAMES * MAX_BPF_STACK;
    this.stackBase = mem.alloc(stackBytes, 64);
    this.stackTop = this.stackBase + stackBytes;
    this.helpers = helpers;
    this.env = env;
    this.cpu = 0;
    this.ctxLo = 0;
    this.ctxHi = 0;
    this.ctxWrLo = 0;
    this.ctxWrHi = 0;
    this.pktLo = 0;
    this.pktHi = 0;
    this.extLo = 0;
    this.extHi = 0;
    this.regionLo = new Int32Array(16);
    this.regionHi = new Int32Array(16);
    this.regionWritable = new Uint8Array(16);
    this.regionCount = 0;
    this.r2Init = 0;
    this.budgetInit = 1 << 30;
    this.budget = this.budgetInit;
    this.tailCallCnt = 0;
    this.prog = null;
    this.fault = FAULT_NONE;
    this.faultPc = 0;
    this.faultAddr = 0;
    this.faultSize = 0;
    this.rnd = new Uint32Array([0x9e3779b9, 0x243f6a88, 0xb7e15162, 0x12345678]);
  }

  /** Registers the value area of a map so programs may access it. */
  addMapRegion(map: BpfMap, writable: boolean): void {
    for (let i = 0; i < this.regionCount; i++) if (this.regionLo[i] === map.valuesStart) return;
    if (this.regionCount === this.regionLo.length) {
      const n = this.regionLo.length * 2;
      const lo = new Int32Array(n), hi = new Int32Array(n), w = new Uint8Array(n);
      lo.set(this.regionLo);
      hi.set(this.regionHi);
      w.set(this.regionWritable);
      this.regionLo = lo;
      this.regionHi = hi;
      this.regionWritable = w;
    }
    this.regionLo[this.regionCount] = map.valuesStart;
    this.regionHi[this.regionCount] = map.valuesEnd;
    this.regionWritable[this.regionCount] = writable ? 1 : 0;
    this.regionCount++;
  }

  /** Forgets a freed map's value area. */
  removeMapRegion(map: BpfMap): void {
    for (let i = 0; i < this.regionCount; i++) {
      if (this.regionLo[i] !== map.valuesStart) continue;
      const last = this.regionCount - 1;
      this.regionLo[i] = this.regionLo[last]!;
      this.regionHi[i] = this.regionHi[last]!;
      this.regionWritable[i] = this.regionWritable[last]!;
      this.regionCount = last;
      return;
    }
  }

  // setXdpCtx() and refreshPacket() run per packet: xdp_md's offsets are literals here, named in
  // comments, because V8 loads an imported const on every use (XDP_MD_DATA_META/XDP_MD_DATA_END
  // imported cost ~1 ns a run, 5% of xdp_drop on the interpreter). test/shared/bpf/runtime/vm.test.ts
  // checks them against the XDP_MD_* constants.

  /** Sets the program context region (xdp_md block at addr) and refreshes packet bounds. */
  setXdpCtx(ctxAddr: number, isRxqWritable: boolean): void {
    this.ctxLo = ctxAddr;
    this.ctxHi = ctxAddr + 24; // XDP_MD_SIZE
    this.ctxWrLo = isRxqWritable ? ctxAddr + 16 : 0; // XDP_MD_RX_QUEUE_INDEX, its u32 writable
    this.ctxWrHi = isRxqWritable ? ctxAddr + 20 : 0;
    this.refreshPacket();
  }

  /** Re-reads data_meta/data_end after a helper moved them. */
  refreshPacket(): void {
    if (this.ctxLo === 0) return;
    const dv = this.mem.dv;
    this.pktLo = dv.getUint32(this.ctxLo + 8, true); // XDP_MD_DATA_META
    this.pktHi = dv.getUint32(this.ctxLo + 4, true); // XDP_MD_DATA_END
  }

  /** True when [a, a+size) lies inside a region the program may read. */
  canRead(a: number, size: number): boolean {
    const e = a + size;
    // Packet first: it is what XDP programs touch most.
    if (a >= this.pktLo && e <= this.pktHi) return true;
    if (a >= this.stackBase && e <= this.stackTop) return true;
    if (a >= this.ctxLo && e <= this.ctxHi) return true;
    if (a >= this.extLo && e <= this.extHi) return true;
    const lo = this.regionLo, hi = this.regionHi;
    for (let i = 0, n = this.regionCount; i < n; i++) {
      if (a >= lo[i]! && e <= hi[i]!) return true;
    }
    return false;
  }

  /** True when [a, a+size) lies inside a region the program may write. */
  canWrite(a: number, size: number): boolean {
    const e = a + size;
    if (a >= this.pktLo && e <= this.pktHi) return true;
    if (a >= this.stackBase && e <= this.stackTop) return true;
    if (a >= this.extLo && e <= this.extHi) return true;
    if (a >= this.ctxWrLo && e <= this.ctxWrHi) return true;
    const lo = this.regionLo, hi = this.regionHi, w = this.regionWritable;
    for (let i = 0, n = this.regionCount; i < n; i++) {
      if (a >= lo[i]! && e <= hi[i]! && w[i] === 1) return true;
    }
    return false;
  }

  /**
   * bpf_tail_call()'s target: no such map or index out of range falls through;
   * MAX_TAIL_CALL_CNT calls made (vm.tailCallCnt) falls through; an empty slot falls through
   * uncounted; otherwise the call counts and the program in the slot is returned. That is the
   * x86-64 JIT's order (what `bpftool prog run` measures with the JIT on, checked by the
   * xdp_tail_loop sample against the kernel); ___bpf_prog_run() would count the empty slot too.
   * One lookup for both engines (the JIT calls it from its tail-call import). Allocates nothing.
   */
  tailCallTarget(mapLo: number, mapHi: number, index: number): BpfProg | null {
    if (mapHi !== 0) return null;
    const map = this.env.mapByAddr(mapLo >>> 0);
    if (map === undefined || map.mapType !== BPF_MAP_TYPE_PROG_ARRAY) return null;
    const i = index >>> 0;
    if (i >= map.maxEntries) return null;
    if (this.tailCallCnt >= MAX_TAIL_CALL_CNT) return null;
    const prog = (map as unknown as { progAt(i: number): unknown }).progAt(i) as BpfProg | null;
    if (prog === null) return null;
    this.tailCallCnt++;
    return prog;
  }

  /** Records a fault (first one wins) and returns false for convenient use in helpers. */
  setFault(kind: number, addr: number, size: number): false {
    if (this.fault === FAULT_NONE) {
      this.fault = kind;
      this.faultAddr = addr;
      this.faultSize = size;
    }
    return false;
  }

  /** Human-readable fault description (API edge only). */
  faultMessage(): string {
    const what = FAULT_TEXT[this.fault] ?? `fault ${this.fault}`;
    const name = this.prog !== null ? this.prog.name : "program";
    if (this.fault === FAULT_READ || this.fault === FAULT_WRITE || this.fault === FAULT_HELPER_ARG) {
      return `${name}: ${what} of ${this.faultSize} bytes at 0x${(this.faultAddr >>> 0).toString(16)} (insn ${this.faultPc})`;
    }
    return `${name}: ${what} at insn ${this.faultPc}`;
  }

  /** Reads register r as an unsigned 64-bit BigInt (API edge only). */
  reg64(r: number): bigint {
    return (BigInt(this.regs[2 * r + 1]! >>> 0) << 32n) | BigInt(this.regs[2 * r]! >>> 0);
  }
}
