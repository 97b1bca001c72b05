// Live stack slots of kernel/bpf/liveness.c, for the main program's frame:
// while paths are walked, each insn accumulates the slots it may read and
// the slots it always writes whole (intersection over its visits); after
// each path ends, live_before is recomputed as a backward data flow over the
// main subprogram. clean_live_states() then turns dead slots of fully
// explored checkpoints into STACK_INVALID (and dead registers into NOT_INIT),
// so states that differ only in values nobody reads again still prune.
// Simplification: only frame 0 is tracked; a callee's read of a frame-0 slot
// counts as a read at its call site (never fewer live slots than the kernel's
// call-chain-sensitive analysis), and callee frames are never cleaned.
import type { Env } from "./env.ts";
import { INSN_TABLE, K_CALL, K_EXIT, K_JA, K_JMP, K_JMP32, K_LD_IMM64 } from "../isa/insn_table.ts";
import { markNotInit } from "./reg_state.ts";
import { BPF_REG_SIZE, STACK_INVALID, type VerState } from "./stack.ts";

/** Per-insn slot masks of frame 0 (64 slots as two 32-bit words). */
export class StackLiveness {
  readonly mayLo: Int32Array;
  readonly mayHi: Int32Array;
  readonly mwLo: Int32Array;
  readonly mwHi: Int32Array;
  readonly mwSet: Uint8Array;
  readonly liveLo: Int32Array;
  readonly liveHi: Int32Array;
  /** Successors inside the main subprogram: two per insn, -1 for none. */
  readonly succ: Int32Array;
  readonly end: number;
  dirty = false;
  /** Whole-slot writes of the current insn (frame 0 only). */
  accLo = 0;
  accHi = 0;

  constructor(env: Env) {
    const p = env.insns;
    const n = p.len;
    this.end = env.subprogStarts.length > 1 ? env.subprogStarts[1]! : n;
    this.mayLo = new Int32Array(n);
    this.mayHi = new Int32Array(n);
    this.mwLo = new Int32Array(n);
    this.mwHi = new Int32Array(n);
    this.mwSet = new Uint8Array(n);
    this.liveLo = new Int32Array(n);
    this.liveHi = new Int32Array(n);
    this.succ = new Int32Array(2 * n).fill(-1);
    for (let i = 0; i < this.end; i++) {
      const d = INSN_TABLE[p.code[i]!];
      if (d === undefined) continue;
      switch (d.kind) {
        case K_EXIT:
          break;
        case K_JA:
          this.succ[2 * i] = i + 1 + (p.code[i] === 0x06 ? p.imm[i]! : p.off[i]!);
          break;
        case K_JMP:
        case K_JMP32:
          this.succ[2 * i] = i + 1;
          this.succ[2 * i + 1] = i + 1 + p.off[i]!;
          break;
        case K_LD_IMM64:
          this.succ[2 * i] = i + 2;
          break;
        case K_CALL:
        default:
          this.succ[2 * i] = i + 1;
      }
    }
  }

  /** bpf_mark_stack_read(): slot `spi` of frame `frameno` may be read by the current insn. */
  read(env: Env, frameno: number, spi: number): void {
    if (frameno !== 0 || spi < 0 || spi >= 64) return;
    // a callee reading the caller's stack: the call site in main reads it
    const at = env.cur.curframe === 0 ? env.insnIdx : env.cur.frames[1]!.callsite;
    if (spi < 32) {
      const b = 1 << spi;
      if ((this.mayLo[at]! & b) === 0) {
        this.mayLo[at]! |= b;
        this.dirty = true;
      }
    } else {
      const b = 1 << (spi - 32);
      if ((this.mayHi[at]! & b) === 0) {
        this.mayHi[at]! |= b;
        this.dirty = true;
      }
    }
  }

  /** bpf_mark_stack_write(): the current insn writes slot `spi` of frame `frameno` whole. */
  write(env: Env, frameno: number, spi: number): void {
    if (frameno !== 0 || env.cur.curframe !== 0) return;
    if (spi < 32) this.accLo |= 1 << spi;
    else this.accHi |= 1 << (spi - 32);
  }

  /** bpf_commit_stack_write_marks(): insn `i` (run in frame 0) always writes what every visit wrote. */
  commit(i: number): void {
    let lo = this.accLo, hi = this.accHi;
    this.accLo = this.accHi = 0;
    if (this.mwSet[i]) {
      lo &= this.mwLo[i]!;
      hi &= this.mwHi[i]!;
    }
    this.mwSet[i] = 1;
    if (lo !== this.mwLo[i] || hi !== this.mwHi[i]) {
      this.mwLo[i] = lo;
      this.mwHi[i] = hi;
      this.dirty = true;
    }
  }

  /** bpf_update_live_stack(): live_before to a fixed point (after each path ends). */
  update(): void {
    if (!this.dirty) return;
    this.dirty = false;
    const s = this.succ;
    for (let changed = true; changed;) {
      changed = false;
      for (let i = this.end - 1; i >= 0; i--) {
        const a = s[2 * i]!, b = s[2 * i + 1]!;
        if (a < 0) continue;
        let lo = this.liveLo[a]!, hi = this.liveHi[a]!;
        if (b >= 0) {
          lo |= this.liveLo[b]!;
          hi |= this.liveHi[b]!;
        }
        lo = (lo & ~this.mwLo[i]!) | this.mayLo[i]!;
        hi = (hi & ~this.mwHi[i]!) | this.mayHi[i]!;
        if (lo !== this.liveLo[i] || hi !== this.liveHi[i]) {
          this.liveLo[i] = lo;
          this.liveHi[i] = hi;
          changed = true;
        }
      }
    }
  }

  /**
   * clean_verifier_state() of a fully explored checkpoint at insn `i`, once: registers not read
   * from `i` on become NOT_INIT, and (main frame only) stack slots not read again become invalid.
   */
  clean(env: Env, st: VerState, i: number): void {
    if (st.cleaned) return;
    st.cleaned = true;
    const top = st.frames[st.curframe]!;
    const live = env.liveIn[i]!;
    for (let r = 0; r < 10; r++) if ((live & (1 << r)) === 0) markNotInit(top.regs[r]!);
    if (st.curframe !== 0) return;
    const f = st.frames[0]!;
    const lo = this.liveLo[i]!, hi = this.liveHi[i]!;
    for (let spi = 0; spi < f.allocatedStack / BPF_REG_SIZE; spi++) {
      const alive = spi < 32 ? (lo & (1 << spi)) !== 0 : (hi & (1 << (spi - 32))) !== 0;
      if (alive) continue;
      f.slotType.fill(STACK_INVALID, spi * BPF_REG_SIZE, spi * BPF_REG_SIZE + BPF_REG_SIZE);
      f.setSpilled(spi, null);
    }
  }
}
