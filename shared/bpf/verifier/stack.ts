// Per-frame state: registers plus the 512-byte stack with per-byte slot kinds
// and spilled registers (struct bpf_func_state / bpf_stack_state in
// include/linux/bpf_verifier.h), and the whole path state (struct
// bpf_verifier_state) with its parent link and branch count for pruning.
import { Reg, markNotInit, markPtr, PTR_TO_CTX, PTR_TO_STACK, regStr } from "./reg_state.ts";
export type { Reg };

export const MAX_BPF_STACK = 512;
export const BPF_REG_SIZE = 8;
export const MAX_CALL_FRAMES = 8;

// enum bpf_stack_slot_type
export const STACK_INVALID = 0;
export const STACK_SPILL = 1;
export const STACK_MISC = 2;
export const STACK_ZERO = 3;
const SLOT_CHAR = ["?", "r", "m", "0"];

/** The spill array of every frame that has spilled nothing: shared, never written (see FuncState.setSpilled()). */
const NO_SPILLS: ReadonlyArray<Reg | null> = new Array<Reg | null>(MAX_BPF_STACK / BPF_REG_SIZE).fill(null);

/** Slot-type arrays are carved from shared 64 KiB buffers: a 512-byte array of its own costs a malloc and a GC-tracked backing store per clone. */
const SLAB_BYTES = 1 << 16;
let slab = new ArrayBuffer(SLAB_BYTES);
let slabOff = 0;

/** A zeroed (STACK_INVALID) MAX_BPF_STACK-byte slot-type array. */
function slotTypeArray(): Uint8Array {
  if (slabOff === SLAB_BYTES) {
    slab = new ArrayBuffer(SLAB_BYTES);
    slabOff = 0;
  }
  const a = new Uint8Array(slab, slabOff, MAX_BPF_STACK);
  slabOff += MAX_BPF_STACK;
  return a;
}

/**
 * Stack bytes are indexed like the kernel's slot_type arrays: byte at fp-1-k is
 * index k, so slot spi covers indexes spi*8..spi*8+7 and index spi*8+7 is its lowest address.
 */
export class FuncState {
  readonly regs: Reg[];
  readonly slotType: Uint8Array;
  /** Spilled register per slot; written through setSpilled() only (frames without spills share one array). */
  spilled: ReadonlyArray<Reg | null>;
  /** Bytes of stack in use, a multiple of 8 (allocated_stack). */
  allocatedStack = 0;
  frameno: number;
  /** Insn of the call that created this frame (-1 for main). */
  callsite: number;
  /** Index of the subprogram this frame runs. */
  subprog: number;

  constructor(frameno: number, callsite: number, subprog: number, src: FuncState | null = null) {
    this.frameno = frameno;
    this.callsite = callsite;
    this.subprog = subprog;
    if (src === null) {
      this.regs = [];
      for (let i = 0; i <= 10; i++) this.regs.push(new Reg());
      this.slotType = slotTypeArray();
      this.spilled = NO_SPILLS;
      return;
    }
    const regs: Reg[] = [];
    for (let i = 0; i <= 10; i++) regs.push(src.regs[i]!.clone());
    this.regs = regs;
    this.slotType = slotTypeArray();
    this.slotType.set(src.slotType);
    if (src.spilled === NO_SPILLS) {
      this.spilled = NO_SPILLS;
    } else {
      const sp = src.spilled.slice();
      for (let i = 0; i < sp.length; i++) {
        const x = sp[i];
        if (x !== null && x !== undefined) sp[i] = x.clone();
      }
      this.spilled = sp;
    }
    this.allocatedStack = src.allocatedStack;
  }

  clone(): FuncState {
    return new FuncState(this.frameno, this.callsite, this.subprog, this);
  }

  /** Registers of a fresh frame: R1 = ctx for main, R10 = frame pointer. */
  initRegs(isMain: boolean): void {
    for (let i = 0; i <= 10; i++) {
      markNotInit(this.regs[i]!);
      this.regs[i]!.frameno = this.frameno;
    }
    markPtr(this.regs[10]!, PTR_TO_STACK);
    this.regs[10]!.frameno = this.frameno;
    if (isMain) markPtr(this.regs[1]!, PTR_TO_CTX);
  }

  /** Sets (or clears, `r` null) the spilled register of slot spi. */
  setSpilled(spi: number, r: Reg | null): void {
    if (this.spilled === NO_SPILLS) {
      if (r === null) return;
      this.spilled = NO_SPILLS.slice();
    }
    (this.spilled as Array<Reg | null>)[spi] = r;
  }

  growStack(bytes: number): void {
    const b = Math.ceil(bytes / BPF_REG_SIZE) * BPF_REG_SIZE;
    if (b > this.allocatedStack) this.allocatedStack = b;
  }

  isSpilled(spi: number): boolean {
    return this.slotType[spi * BPF_REG_SIZE + BPF_REG_SIZE - 1] === STACK_SPILL;
  }

  /** print_verifier_state() body for this frame (leading space per item); `which` limits the items. */
  print(regMask: number, slotMask: bigint | null): string {
    let s = this.frameno ? ` frame${this.frameno}:` : "";
    for (let i = 0; i <= 10; i++) {
      const r = this.regs[i]!;
      if (r.type === 0) continue;
      if (regMask !== -1 && (regMask & (1 << i)) === 0) continue;
      s += ` R${i}=${regStr(r)}`;
    }
    for (let spi = 0; spi < this.allocatedStack / BPF_REG_SIZE; spi++) {
      let valid = false, buf = "";
      for (let j = 0; j < BPF_REG_SIZE; j++) {
        const t = this.slotType[spi * BPF_REG_SIZE + j]!;
        if (t !== STACK_INVALID) valid = true;
        buf += SLOT_CHAR[t];
      }
      if (!valid) continue;
      if (slotMask !== null && (slotMask & (1n << BigInt(spi))) === 0n) continue;
      const off = (-spi - 1) * BPF_REG_SIZE;
      if (this.isSpilled(spi)) {
        const r = this.spilled[spi]!;
        s += ` fp${off}=${regStr(r)}`;
      } else {
        s += ` fp${off}=${buf}`;
      }
    }
    return s;
  }
}

/** One path's state: call frames plus pruning bookkeeping. */
export class VerState {
  readonly frames: FuncState[];
  curframe: number;
  /** Checkpoint this state descends from (kernel: parent). */
  parent: VerState | null;
  /** Paths still being explored below this checkpoint. */
  branches: number;
  insnIdx: number;
  /** Set on checkpoints kept in the explored list. */
  isCheckpoint: boolean;
  /** Times this checkpoint pruned a path / failed to (the state list's eviction heuristic). */
  hitCnt: number;
  missCnt: number;
  /** First insn of this state (first_insn_idx): where its checkpoint parent ends. */
  firstInsnIdx: number;
  /** Insn before the checkpoint (last_insn_idx), -1 at the entry. */
  lastInsnIdx: number;
  /**
   * Jump history since firstInsnIdx (jmp_history): HIST_STRIDE numbers per entry:
   * insn, previous insn, flags (HIST_F_*), linked-register set (index in Env.linkedSets, -1 none).
   */
  hist: number[];
  /** Dead registers and stack slots were cleared (clean_verifier_state() ran). */
  cleaned: boolean;
  /** Dropped from its insn's state list while its paths were still being explored (in_free_list). */
  evicted: boolean;

  constructor(frames: FuncState[]) {
    this.frames = frames;
    this.curframe = frames.length - 1;
    this.parent = null;
    this.branches = 1;
    this.insnIdx = 0;
    this.isCheckpoint = false;
    this.hitCnt = 0;
    this.missCnt = 0;
    this.firstInsnIdx = 0;
    this.lastInsnIdx = -1;
    this.hist = [];
    this.cleaned = false;
    this.evicted = false;
  }

  get cur(): FuncState {
    return this.frames[this.curframe]!;
  }

  clone(): VerState {
    // built by push, like the first state's [main]: Array.prototype.map() makes a holey array, and
    // code optimised on one elements kind deoptimises when it meets the other
    const frames: FuncState[] = [];
    for (let i = 0; i < this.frames.length; i++) frames.push(this.frames[i]!.clone());
    const s = new VerState(frames);
    s.curframe = this.curframe;
    s.parent = this.parent;
    s.insnIdx = this.insnIdx;
    s.firstInsnIdx = this.firstInsnIdx;
    s.lastInsnIdx = this.lastInsnIdx;
    s.hist = this.hist.slice();
    return s;
  }
}
