// Scalar precision tracking of kernel/bpf/verifier.c: the jump history a
// path records (push_jmp_history), backtracking through it and up the chain
// of checkpoints (__mark_chain_precision, backtrack_insn, get_prev_insn_idx,
// bt_sync_linked_regs), precision copied from the state that pruned a path
// (propagate_precision) and the two fallbacks (mark_all_scalars_precise,
// mark_all_scalars_imprecise).
//
// A scalar is "precise" in a checkpoint when some later check relied on its
// exact value or range (a branch decided by it, pointer arithmetic, a helper's
// size argument, a tail-call key...). regsafe() compares only precise scalars,
// so checkpoints that differ in values nobody relied on still prune.
import type { Env } from "./env.ts";
import { SCALAR_VALUE } from "./reg_state.ts";
import { BPF_REG_SIZE, type VerState } from "./stack.ts";

/** Numbers per jump-history entry: insn, previous insn, flags, linked set (-1 none). */
export const HIST_STRIDE = 4;
/** INSN_F_STACK_ACCESS: the insn spilled to / filled from a stack slot (frame and spi packed above). */
const HIST_F_STACK = 1;

/** History flags of a spill or fill of slot `spi` in frame `frameno` (insn_stack_access_flags()). */
export function stackAccessFlags(frameno: number, spi: number): number {
  return HIST_F_STACK | (frameno << 1) | (spi << 4);
}

/** Linked-set entry encoding: frame * 128 + (register ? 64 : 0) + register number or slot. */
const LR_REG = 64;

/** backtrack_insn() asked for the conservative fallback (-ENOTSUPP in the kernel). */
const FALLBACK = 1;

/** struct backtrack_state: registers and stack slots still looking for their origin, per frame. */
class Backtrack {
  frame = 0;
  readonly regs = new Int32Array(8);
  /** Stack slots 0..31 and 32..63. */
  readonly stackLo = new Int32Array(8);
  readonly stackHi = new Int32Array(8);

  reset(): void {
    this.frame = 0;
    this.regs.fill(0);
    this.stackLo.fill(0);
    this.stackHi.fill(0);
  }
  empty(): boolean {
    for (let f = 0; f <= this.frame; f++) if ((this.regs[f]! | this.stackLo[f]! | this.stackHi[f]!) !== 0) return false;
    return true;
  }
  isReg(f: number, r: number): boolean {
    return (this.regs[f]! & (1 << r)) !== 0;
  }
  setReg(f: number, r: number): void {
    this.regs[f]! |= 1 << r;
  }
  clearReg(f: number, r: number): void {
    this.regs[f]! &= ~(1 << r);
  }
  isSlot(f: number, spi: number): boolean {
    return spi < 32 ? (this.stackLo[f]! & (1 << spi)) !== 0 : (this.stackHi[f]! & (1 << (spi - 32))) !== 0;
  }
  setSlot(f: number, spi: number): void {
    if (spi < 32) this.stackLo[f]! |= 1 << spi;
    else this.stackHi[f]! |= 1 << (spi - 32);
  }
  clearSlot(f: number, spi: number): void {
    if (spi < 32) this.stackLo[f]! &= ~(1 << spi);
    else this.stackHi[f]! &= ~(1 << (spi - 32));
  }
}

const bt = new Backtrack();

/**
 * push_jmp_history(): records the current insn (its predecessor, and `flags`/`linked`) in the
 * current path's history. A second record for the same insn merges into the first.
 */
export function pushJmpHistory(env: Env, flags: number, linked: number): void {
  const h = env.cur.hist;
  const n = h.length;
  if (env.curHistInsn === env.insnIdx && n > 0 && h[n - HIST_STRIDE] === env.insnIdx) {
    h[n - 2]! |= flags;
    if (linked >= 0) h[n - 1] = linked;
    return;
  }
  h.push(env.insnIdx, env.prevInsnIdx, flags, linked);
  env.curHistInsn = env.insnIdx;
}

/**
 * collect_linked_regs(): every scalar register and spilled scalar sharing `id` (a conditional
 * jump bounds them all); returns the set's index in env.linkedSets, or -1 for fewer than two.
 */
export function collectLinkedRegs(env: Env, st: VerState, ids: readonly number[]): number {
  const set: number[] = [];
  for (let f = 0; f <= st.curframe; f++) {
    const fr = st.frames[f]!;
    for (let r = 0; r < 10; r++) {
      const x = fr.regs[r]!;
      if (x.type === SCALAR_VALUE && x.id !== 0 && ids.includes(x.id)) set.push(f * 128 + LR_REG + r);
    }
    for (let s = 0; s < fr.allocatedStack / BPF_REG_SIZE; s++) {
      const x = fr.spilled[s];
      if (fr.isSpilled(s) && x !== null && x !== undefined && x.type === SCALAR_VALUE && x.id !== 0 && ids.includes(x.id)) {
        set.push(f * 128 + s);
      }
    }
  }
  if (set.length < 2) return -1;
  env.linkedSets.push(set);
  return env.linkedSets.length - 1;
}

/** bt_sync_linked_regs(): one member of a linked set needing precision makes them all need it. */
function syncLinked(env: Env, linked: number): void {
  if (linked < 0) return;
  const set = env.linkedSets[linked]!;
  let any = false;
  for (const e of set) {
    const f = e >> 7, n = e & 63;
    if ((e & LR_REG) !== 0 ? bt.isReg(f, n) : bt.isSlot(f, n)) {
      any = true;
      break;
    }
  }
  if (!any) return;
  for (const e of set) {
    const f = e >> 7, n = e & 63;
    if ((e & LR_REG) !== 0) bt.setReg(f, n);
    else bt.setSlot(f, n);
  }
}

/**
 * backtrack_insn(): moves the wanted set from after insn `idx` to before it. `flags`/`linked`
 * are its history record (0/-1 without one). Returns 0 or FALLBACK.
 */
function backtrackInsn(env: Env, idx: number, subseqIdx: number, flags: number, linked: number): number {
  const p = env.insns;
  const code = p.code[idx]!;
  if (code === 0) return 0; // second half of ld_imm64
  const cls = code & 0x07, op = code & 0xf0;
  const dreg = p.dst[idx]!, sreg = p.src[idx]!;
  const fr = bt.frame;
  syncLinked(env, linked);
  if (cls === 0x04 || cls === 0x07) {
    // ALU / ALU64
    if (!bt.isReg(fr, dreg)) return 0;
    if (op === 0xd0 || op === 0x80) return 0; // END, NEG: dst still needed before
    if (op === 0xb0) {
      // MOV: dst's origin is src (or a constant)
      bt.clearReg(fr, dreg);
      if ((code & 0x08) !== 0 && sreg !== 10) bt.setReg(fr, sreg);
    } else if ((code & 0x08) !== 0 && sreg !== 10) {
      bt.setReg(fr, sreg);
    }
  } else if (cls === 0x01) {
    // LDX: a fill from a stack slot passes the need on to the slot; other memory ends it
    if (!bt.isReg(fr, dreg)) return 0;
    bt.clearReg(fr, dreg);
    if ((flags & HIST_F_STACK) !== 0) bt.setSlot((flags >> 1) & 7, (flags >> 4) & 63);
  } else if (cls === 0x03 || cls === 0x02) {
    // STX / ST: a spill to a wanted slot passes the need on to the stored register
    if (bt.isReg(fr, dreg)) return FALLBACK; // a scalar used as the address: pointer subtraction
    if ((flags & HIST_F_STACK) === 0) return 0;
    const sf = (flags >> 1) & 7, spi = (flags >> 4) & 63;
    if (!bt.isSlot(sf, spi)) return 0;
    bt.clearSlot(sf, spi);
    if (cls === 0x03) bt.setReg(fr, sreg);
  } else if (cls === 0x05 || cls === 0x06) {
    if (op === 0x80) {
      if (sreg === 1) {
        // bpf-to-bpf call seen backwards: leaving the callee; its r1-r5 came from the caller
        if ((bt.regs[fr]! & ~0x3e) !== 0 || bt.stackLo[fr] !== 0 || bt.stackHi[fr] !== 0 || fr === 0) return FALLBACK;
        for (let r = 1; r <= 5; r++) {
          if (bt.isReg(fr, r)) {
            bt.clearReg(fr, r);
            bt.setReg(fr - 1, r);
          }
        }
        bt.frame--;
        return 0;
      }
      if (sreg !== 0) return FALLBACK; // kfunc
      bt.clearReg(fr, 0); // a helper sets r0
      if ((bt.regs[fr]! & 0x3e) !== 0) return FALLBACK; // r1-r5 are clobbered by the call
    } else if (op === 0x90) {
      // exit seen backwards: entering the callee from the insn after its call
      if ((bt.regs[fr]! & 0x3e) !== 0) return FALLBACK;
      const r0 = subseqIdx - 1 >= 0 && p.code[subseqIdx - 1] === 0x85 && p.src[subseqIdx - 1] === 1 && bt.isReg(fr, 0);
      bt.clearReg(fr, 0);
      if (fr + 1 >= 8) return FALLBACK;
      bt.frame++;
      if (r0) bt.setReg(fr + 1, 0);
      return 0;
    } else if (op !== 0x00 && (code & 0x08) !== 0) {
      // dst <cond> src: each bounded the other
      if (!bt.isReg(fr, dreg) && !bt.isReg(fr, sreg)) return 0;
      bt.setReg(fr, sreg);
      bt.setReg(fr, dreg);
    }
  } else if (cls === 0x00) {
    // ld_imm64: a constant or a map pointer
    if (!bt.isReg(fr, dreg)) return 0;
    bt.clearReg(fr, dreg);
    if (code !== 0x18) return FALLBACK;
  }
  syncLinked(env, linked);
  return 0;
}

/** mark_all_scalars_precise(): the fallback, every scalar of every checkpoint above `st`. */
function markAllScalarsPrecise(st: VerState): void {
  for (let s = st.parent; s !== null; s = s.parent) {
    for (let f = 0; f <= s.curframe; f++) {
      const fr = s.frames[f]!;
      for (let r = 0; r < 10; r++) if (fr.regs[r]!.type === SCALAR_VALUE) fr.regs[r]!.precise = true;
      for (let k = 0; k < fr.allocatedStack / BPF_REG_SIZE; k++) {
        const x = fr.spilled[k];
        if (fr.isSpilled(k) && x !== null && x !== undefined && x.type === SCALAR_VALUE) x.precise = true;
      }
    }
  }
}

/** mark_all_scalars_imprecise(): a new checkpoint forgets what its ancestors needed. */
export function markAllScalarsImprecise(st: VerState): void {
  for (let f = 0; f <= st.curframe; f++) {
    const fr = st.frames[f]!;
    for (let r = 0; r < 10; r++) fr.regs[r]!.precise = false;
    for (let k = 0; k < fr.allocatedStack / BPF_REG_SIZE; k++) {
      const x = fr.spilled[k];
      if (x !== null && x !== undefined) x.precise = false;
    }
  }
}

/** Gives up on exact backtracking: everything precise above `start`, wanted set cleared. */
function fallback(start: VerState): void {
  markAllScalarsPrecise(start);
  bt.reset();
}

/**
 * __mark_chain_precision(): walks `start`'s history back from insn `lastIdx` (itself skipped),
 * then each checkpoint above it, until every wanted register/slot (bt, plus `regno` of the
 * current frame when >= 0) meets the insn that produced it; marks them precise in the checkpoints.
 */
function markChain(env: Env, start: VerState, lastIdx: number, regno: number): void {
  bt.frame = start.curframe;
  if (regno >= 0) {
    if (start.frames[bt.frame]!.regs[regno]!.type !== SCALAR_VALUE) {
      bt.reset();
      return;
    }
    bt.setReg(bt.frame, regno);
  }
  if (bt.empty()) return;
  const len = env.insns.len;
  let st: VerState = start;
  let subseq = -1;
  let skipFirst = true;
  for (;;) {
    if (lastIdx < 0) return fallback(start);
    const h = st.hist;
    let cnt = h.length / HIST_STRIDE;
    for (let i = lastIdx; ;) {
      if (skipFirst) skipFirst = false;
      else {
        const top = cnt > 0 && h[(cnt - 1) * HIST_STRIDE] === i ? (cnt - 1) * HIST_STRIDE : -1;
        const err = backtrackInsn(env, i, subseq, top >= 0 ? h[top + 2]! : 0, top >= 0 ? h[top + 3]! : -1);
        if (err !== 0) return fallback(start);
      }
      if (bt.empty()) return;
      subseq = i;
      // get_prev_insn_idx()
      if (i === st.firstInsnIdx && (cnt === 0 || (cnt === 1 && h[0] === i))) break;
      if (cnt > 0 && h[(cnt - 1) * HIST_STRIDE] === i) {
        i = h[(cnt - 1) * HIST_STRIDE + 1]!;
        cnt--;
      } else i--;
      if (i < 0 || i >= len) return fallback(start);
    }
    const parent = st.parent;
    if (parent === null) break;
    subseq = st.firstInsnIdx;
    st = parent;
    for (let f = bt.frame; f >= 0; f--) {
      const fr = st.frames[f];
      if (fr === undefined) return fallback(start);
      for (let r = 0; r < 10; r++) {
        if (!bt.isReg(f, r)) continue;
        const x = fr.regs[r]!;
        if (x.type !== SCALAR_VALUE || x.precise) bt.clearReg(f, r);
        else x.precise = true;
      }
      if (bt.stackLo[f] === 0 && bt.stackHi[f] === 0) continue;
      for (let k = 0; k < 64; k++) {
        if (!bt.isSlot(f, k)) continue;
        if (k >= fr.allocatedStack / BPF_REG_SIZE) return fallback(start);
        const x = fr.spilled[k];
        if (!fr.isSpilled(k) || x === null || x === undefined || x.type !== SCALAR_VALUE || x.precise) bt.clearSlot(f, k);
        else x.precise = true;
      }
    }
    if (bt.empty()) return;
    lastIdx = st.lastInsnIdx;
  }
  if (!bt.empty()) fallback(start);
}

/** mark_chain_precision(): register `regno` of the current frame matters exactly from here back. */
export function markChainPrecision(env: Env, regno: number): void {
  if (!env.bpfCapable) return;
  bt.reset();
  markChain(env, env.cur, env.insnIdx, regno);
  bt.reset();
}

/** mark_chain_precision_batch() for one stack slot: a spilled scalar whose value a check used. */
export function markSlotPrecision(env: Env, frameno: number, spi: number): void {
  if (!env.bpfCapable) return;
  bt.reset();
  bt.setSlot(frameno, spi);
  markChain(env, env.cur, env.insnIdx, -1);
  bt.reset();
}

/**
 * propagate_precision(): `cur` was pruned by `old`; what was precise in `old` must be precise
 * along `cur`'s chain too, or the checkpoints above `cur` would prune on values `old` relied on.
 */
export function propagatePrecision(env: Env, old: VerState, cur: VerState, insnIdx: number): void {
  if (!env.bpfCapable) return;
  bt.reset();
  for (let f = old.curframe; f >= 0; f--) {
    const fr = old.frames[f]!;
    for (let r = 0; r < 10; r++) {
      const x = fr.regs[r]!;
      if (x.type === SCALAR_VALUE && x.precise) bt.setReg(f, r);
    }
    for (let k = 0; k < fr.allocatedStack / BPF_REG_SIZE; k++) {
      const x = fr.spilled[k];
      if (fr.isSpilled(k) && x !== null && x !== undefined && x.type === SCALAR_VALUE && x.precise) bt.setSlot(f, k);
    }
  }
  markChain(env, cur, insnIdx, -1);
  bt.reset();
}
