// Conditional jumps: is_branch_taken(), regs_refine_cond_op()/reg_set_min_max(),
// try_match_pkt_pointers() + find_good_pkt_pointers() and
// mark_ptr_or_null_regs() of kernel/bpf/verifier.c.
import {
  BPF_JEQ, BPF_JGE, BPF_JGT, BPF_JLE, BPF_JLT, BPF_JNE, BPF_JSET, BPF_JSGE, BPF_JSGT, BPF_JSLE, BPF_JSLT,
} from "../isa/uapi.ts";
import {
  AT_PKT_END, BEYOND_PKT_END, PTR_MAYBE_NULL, PTR_TO_MAP_VALUE, PTR_TO_PACKET, PTR_TO_PACKET_END, PTR_TO_PACKET_META,
  Reg, SCALAR_VALUE, baseType, fastPaths, markScalarConst, regBoundsInvalid, regBoundsSync,
  smallScalar,
} from "./reg_state.ts";
import { s64, tnumAnd, tnumConst, tnumIntersect, tnumOr, tnumSubreg, tnumWithSubreg, U64_MAX } from "./tnum.ts";
import type { VerState } from "./stack.ts";

const JSET_NOT = 0x100; // internal: "not (a & b)", the false side of JSET

const MAX_PACKET_OFF = 0xffffn;

/** flip_opcode(): the same relation with operands swapped. */
export function flipOp(op: number): number {
  switch (op) {
    case BPF_JGT: return BPF_JLT;
    case BPF_JLT: return BPF_JGT;
    case BPF_JGE: return BPF_JLE;
    case BPF_JLE: return BPF_JGE;
    case BPF_JSGT: return BPF_JSLT;
    case BPF_JSLT: return BPF_JSGT;
    case BPF_JSGE: return BPF_JSLE;
    case BPF_JSLE: return BPF_JSGE;
    default: return op;
  }
}

/** rev_opcode(): the relation that holds on the fall-through side. */
function revOp(op: number): number {
  switch (op) {
    case BPF_JEQ: return BPF_JNE;
    case BPF_JNE: return BPF_JEQ;
    case BPF_JSET: return JSET_NOT;
    case JSET_NOT: return BPF_JSET;
    case BPF_JGT: return BPF_JLE;
    case BPF_JLE: return BPF_JGT;
    case BPF_JGE: return BPF_JLT;
    case BPF_JLT: return BPF_JGE;
    case BPF_JSGT: return BPF_JSLE;
    case BPF_JSLE: return BPF_JSGT;
    case BPF_JSGE: return BPF_JSLT;
    default: return BPF_JSGE;
  }
}

interface B {
  umin: bigint; umax: bigint; smin: bigint; smax: bigint; v: bigint; m: bigint;
}
function bview(r: Reg, is32: boolean): B {
  if (!is32) return { umin: r.umin, umax: r.umax, smin: r.smin, smax: r.smax, v: r.vv, m: r.vm };
  const t = tnumSubreg(r.varOff);
  return { umin: BigInt(r.u32min), umax: BigInt(r.u32max), smin: BigInt(r.s32min), smax: BigInt(r.s32max), v: t.v, m: t.m };
}

/**
 * scalarBranchTaken() in numbers, when both operands' views are exact in them: at 32 bits when
 * both tnums lie in [0, 2^32) (the 32-bit bounds are numbers anyway), at 64 bits when both
 * registers are smallScalar() (every 64-bit field in [0, 2^32)). -2 when not applicable.
 */
function scalarBranchTakenN(r1: Reg, r2: Reg, op: number, is32: boolean): number {
  const L = 0xffffffffn;
  if (r1.vv > L || r1.vm > L || r2.vv > L || r2.vm > L) return -2;
  let aumin: number, aumax: number, asmin: number, asmax: number, bumin: number, bumax: number, bsmin: number, bsmax: number;
  if (is32) {
    aumin = r1.u32min; aumax = r1.u32max; asmin = r1.s32min; asmax = r1.s32max;
    bumin = r2.u32min; bumax = r2.u32max; bsmin = r2.s32min; bsmax = r2.s32max;
  } else {
    if (!smallScalar(r1) || !smallScalar(r2)) return -2;
    aumin = Number(r1.umin); aumax = Number(r1.umax); asmin = Number(r1.smin); asmax = Number(r1.smax);
    bumin = Number(r2.umin); bumax = Number(r2.umax); bsmin = Number(r2.smin); bsmax = Number(r2.smax);
  }
  const av = Number(r1.vv), am = Number(r1.vm), bv = Number(r2.vv), bm = Number(r2.vm);
  switch (op) {
    case BPF_JEQ:
    case BPF_JNE: {
      let eq = -1;
      if (am === 0 && bm === 0) eq = av === bv ? 1 : 0;
      else if (aumin > bumax || aumax < bumin || asmin > bsmax || asmax < bsmin) eq = 0;
      else if (((av ^ bv) & ~(am | bm)) !== 0) eq = 0;
      if (eq < 0) return -1;
      return op === BPF_JEQ ? eq : 1 - eq;
    }
    case BPF_JSET:
      if (bm !== 0) return -1;
      if ((av & bv) !== 0) return 1;
      if (((av | am) & bv) === 0) return 0;
      return -1;
    case BPF_JGT:
      if (aumin > bumax) return 1;
      if (aumax <= bumin) return 0;
      return -1;
    case BPF_JSGT:
      if (asmin > bsmax) return 1;
      if (asmax <= bsmin) return 0;
      return -1;
    case BPF_JLT:
      if (aumax < bumin) return 1;
      if (aumin >= bumax) return 0;
      return -1;
    case BPF_JSLT:
      if (asmax < bsmin) return 1;
      if (asmin >= bsmax) return 0;
      return -1;
    case BPF_JGE:
      if (aumin >= bumax) return 1;
      if (aumax < bumin) return 0;
      return -1;
    case BPF_JSGE:
      if (asmin >= bsmax) return 1;
      if (asmax < bsmin) return 0;
      return -1;
    case BPF_JLE:
      if (aumax <= bumin) return 1;
      if (aumin > bumax) return 0;
      return -1;
    case BPF_JSLE:
      if (asmax <= bsmin) return 1;
      if (asmin > bsmax) return 0;
      return -1;
  }
  return -1;
}

/** is_scalar_branch_taken(): 1 taken, 0 not taken, -1 unknown. */
function scalarBranchTaken(r1: Reg, r2: Reg, op: number, is32: boolean): number {
  if (fastPaths.on) {
    const n = scalarBranchTakenN(r1, r2, op, is32);
    if (n !== -2) return n;
  }
  const a = bview(r1, is32), b = bview(r2, is32);
  const aConst = a.m === 0n, bConst = b.m === 0n;
  switch (op) {
    case BPF_JEQ:
    case BPF_JNE: {
      let eq = -1;
      if (aConst && bConst) eq = a.v === b.v ? 1 : 0;
      else if (a.umin > b.umax || a.umax < b.umin || a.smin > b.smax || a.smax < b.smin) eq = 0;
      else if (((a.v ^ b.v) & ~(a.m | b.m) & U64_MAX) !== 0n) eq = 0;
      if (eq < 0) return -1;
      return op === BPF_JEQ ? eq : 1 - eq;
    }
    case BPF_JSET:
      if (!bConst) return -1;
      if ((a.v & b.v) !== 0n) return 1;
      if (((a.v | a.m) & b.v) === 0n) return 0;
      return -1;
    case BPF_JGT:
      if (a.umin > b.umax) return 1;
      if (a.umax <= b.umin) return 0;
      return -1;
    case BPF_JSGT:
      if (a.smin > b.smax) return 1;
      if (a.smax <= b.smin) return 0;
      return -1;
    case BPF_JLT:
      if (a.umax < b.umin) return 1;
      if (a.umin >= b.umax) return 0;
      return -1;
    case BPF_JSLT:
      if (a.smax < b.smin) return 1;
      if (a.smin >= b.smax) return 0;
      return -1;
    case BPF_JGE:
      if (a.umin >= b.umax) return 1;
      if (a.umax < b.umin) return 0;
      return -1;
    case BPF_JSGE:
      if (a.smin >= b.smax) return 1;
      if (a.smax < b.smin) return 0;
      return -1;
    case BPF_JLE:
      if (a.umax <= b.umin) return 1;
      if (a.umin > b.umax) return 0;
      return -1;
    case BPF_JSLE:
      if (a.smax <= b.smin) return 1;
      if (a.smin > b.smax) return 0;
      return -1;
  }
  return -1;
}

function isPktAny(r: Reg): boolean {
  return r.type === PTR_TO_PACKET || r.type === PTR_TO_PACKET_META || r.type === PTR_TO_PACKET_END;
}

/** is_pkt_ptr_branch_taken(). */
function pktBranchTaken(r1: Reg, r2: Reg, op: number): number {
  let pkt: Reg;
  if (r2.type === PTR_TO_PACKET_END) pkt = r1;
  else if (r1.type === PTR_TO_PACKET_END) {
    pkt = r2;
    op = flipOp(op);
  } else return -1;
  if (pkt.range >= 0) return -1;
  switch (op) {
    case BPF_JLE:
    case BPF_JGT:
      if (pkt.range === BEYOND_PKT_END) return op === BPF_JGT ? 1 : 0;
      break;
    case BPF_JLT:
    case BPF_JGE:
      if (pkt.range === BEYOND_PKT_END || pkt.range === AT_PKT_END) return op === BPF_JGE ? 1 : 0;
      break;
  }
  return -1;
}

/** is_branch_taken(). */
export function isBranchTaken(r1: Reg, r2: Reg, op: number, is32: boolean): number {
  if (isPktAny(r1) && isPktAny(r2) && !is32) return pktBranchTaken(r1, r2, op);
  if (r1.type !== SCALAR_VALUE || r2.type !== SCALAR_VALUE) {
    let p = r1, s = r2;
    if (!(s.type === SCALAR_VALUE && s.vm === 0n)) {
      p = r2;
      s = r1;
      op = flipOp(op);
    }
    if (!(s.type === SCALAR_VALUE && s.vm === 0n)) return -1;
    // reg_not_null(): only non-null map values among XDP's pointers
    if (p.type !== PTR_TO_MAP_VALUE) return -1;
    const val = is32 ? s.vv & 0xffffffffn : s.vv;
    if (val !== 0n) return -1;
    if (op === BPF_JEQ) return 0;
    if (op === BPF_JNE) return 1;
    return -1;
  }
  return scalarBranchTaken(r1, r2, op, is32);
}

const bmax = (a: bigint, b: bigint): bigint => (a > b ? a : b);
const bmin = (a: bigint, b: bigint): bigint => (a < b ? a : b);

/**
 * JEQ's tnum_intersect() of both registers' tnums, stored in both, in numbers when both tnums
 * lie in [0, 2^32) (then the 32-bit variant, tnum_with_subreg() of the intersected subregs,
 * is the same: the upper halves are zero). False, nothing done, otherwise.
 */
function intersectSmall(r1: Reg, r2: Reg): boolean {
  const L = 0xffffffffn;
  if (r1.vv > L || r1.vm > L || r2.vv > L || r2.vm > L) return false;
  const am = Number(r1.vm), bm = Number(r2.vm);
  const m = (am & bm) >>> 0;
  const v = ((Number(r1.vv) | Number(r2.vv)) & ~m) >>> 0;
  const bvv = Number(r1.vv) === v ? r1.vv : Number(r2.vv) === v ? r2.vv : BigInt(v);
  const bvm = am === m ? r1.vm : bm === m ? r2.vm : BigInt(m);
  r1.vv = r2.vv = bvv;
  r1.vm = r2.vm = bvm;
  return true;
}

/**
 * The 64-bit JNE, JLT and JSLT cases of refine() (the ones with arithmetic: a bound one past a
 * constant, or one below the other's) in numbers, for registers that are both smallScalar():
 * every bound read is exact as a double (in [-1, 2^32] even after r1's update when r1 === r2),
 * and a new BigInt is made only for a bound that changes. Same steps, same order as refine().
 */
function refineSmall(r1: Reg, r2: Reg, op: number): void {
  if (op === BPF_JNE) {
    for (let k = 0; k < 2; k++) {
      const a = k === 0 ? r1 : r2, b = k === 0 ? r2 : r1;
      if (b.vm !== 0n) continue;
      const v = Number(b.vv); // s64 of a value below 2^32 is itself
      if (Number(a.umin) === v) a.umin = BigInt(v + 1);
      if (Number(a.umax) === v) a.umax = BigInt(v - 1);
      if (Number(a.smin) === v) a.smin = BigInt(v + 1);
      if (Number(a.smax) === v) a.smax = BigInt(v - 1);
    }
    return;
  }
  if (op === BPF_JLT) {
    const x = Number(r2.umax) - 1;
    if (x < Number(r1.umax)) r1.umax = BigInt(x);
    const y = Number(r1.umin) + 1;
    if (y > Number(r2.umin)) r2.umin = BigInt(y);
    return;
  }
  const x = Number(r2.smax) - 1;
  if (x < Number(r1.smax)) r1.smax = BigInt(x);
  const y = Number(r1.smin) + 1;
  if (y > Number(r2.smin)) r2.smin = BigInt(y);
}

/** regs_refine_cond_op(): narrows r1 and r2 assuming `r1 op r2` holds. */
function refine(r1: Reg, r2: Reg, op: number, is32: boolean): void {
  switch (op) {
    case BPF_JGE: case BPF_JGT: case BPF_JSGE: case BPF_JSGT:
      refine(r2, r1, flipOp(op), is32);
      return;
  }
  if (is32) {
    switch (op) {
      case BPF_JEQ: {
        const u0 = Math.max(r1.u32min, r2.u32min), u1 = Math.min(r1.u32max, r2.u32max);
        const s0 = Math.max(r1.s32min, r2.s32min), s1 = Math.min(r1.s32max, r2.s32max);
        r1.u32min = r2.u32min = u0; r1.u32max = r2.u32max = u1;
        r1.s32min = r2.s32min = s0; r1.s32max = r2.s32max = s1;
        if (fastPaths.on && intersectSmall(r1, r2)) break;
        const t = tnumIntersect(tnumSubreg(r1.varOff), tnumSubreg(r2.varOff));
        r1.varOff = tnumWithSubreg(r1.varOff, t);
        r2.varOff = tnumWithSubreg(r2.varOff, t);
        break;
      }
      case BPF_JNE: {
        for (const [a, b] of [[r1, r2], [r2, r1]] as const) {
          if (b.vm & 0xffffffffn) continue;
          const v = Number(b.vv & 0xffffffffn);
          if (a.u32min === v) a.u32min++;
          if (a.u32max === v) a.u32max--;
          if (a.s32min === (v | 0)) a.s32min++;
          if (a.s32max === (v | 0)) a.s32max--;
        }
        break;
      }
      case BPF_JSET:
      case JSET_NOT: {
        if ((r2.vm & 0xffffffffn) !== 0n) break;
        const v = r2.vv & 0xffffffffn;
        if (op === BPF_JSET) {
          if (v === 0n || (v & (v - 1n)) !== 0n) break;
          r1.varOff = tnumWithSubreg(r1.varOff, tnumOr(tnumSubreg(r1.varOff), tnumConst(v)));
        } else {
          r1.varOff = tnumWithSubreg(r1.varOff, tnumAnd(tnumSubreg(r1.varOff), tnumConst(~v & 0xffffffffn)));
        }
        break;
      }
      case BPF_JLE: r1.u32max = Math.min(r1.u32max, r2.u32max); r2.u32min = Math.max(r2.u32min, r1.u32min); break;
      case BPF_JLT: r1.u32max = Math.min(r1.u32max, r2.u32max - 1); r2.u32min = Math.max(r2.u32min, r1.u32min + 1); break;
      case BPF_JSLE: r1.s32max = Math.min(r1.s32max, r2.s32max); r2.s32min = Math.max(r2.s32min, r1.s32min); break;
      case BPF_JSLT: r1.s32max = Math.min(r1.s32max, r2.s32max - 1); r2.s32min = Math.max(r2.s32min, r1.s32min + 1); break;
    }
    return;
  }
  if (fastPaths.on && (op === BPF_JNE || op === BPF_JLT || op === BPF_JSLT) && smallScalar(r1) && smallScalar(r2)) {
    refineSmall(r1, r2, op);
    return;
  }
  switch (op) {
    case BPF_JEQ: {
      const u0 = bmax(r1.umin, r2.umin), u1 = bmin(r1.umax, r2.umax);
      const s0 = bmax(r1.smin, r2.smin), s1 = bmin(r1.smax, r2.smax);
      r1.umin = r2.umin = u0; r1.umax = r2.umax = u1;
      r1.smin = r2.smin = s0; r1.smax = r2.smax = s1;
      if (fastPaths.on && intersectSmall(r1, r2)) break;
      const t = tnumIntersect(r1.varOff, r2.varOff);
      r1.varOff = t;
      r2.varOff = t;
      break;
    }
    case BPF_JNE:
      for (const [a, b] of [[r1, r2], [r2, r1]] as const) {
        if (b.vm !== 0n) continue;
        const v = b.vv, sv = s64(b.vv);
        if (a.umin === v) a.umin++;
        if (a.umax === v) a.umax--;
        if (a.smin === sv) a.smin++;
        if (a.smax === sv) a.smax--;
      }
      break;
    case BPF_JSET:
    case JSET_NOT: {
      if (r2.vm !== 0n) break;
      const v = r2.vv;
      if (op === BPF_JSET) {
        if (v === 0n || (v & (v - 1n)) !== 0n) break;
        r1.varOff = tnumOr(r1.varOff, tnumConst(v));
      } else {
        r1.varOff = tnumAnd(r1.varOff, tnumConst(~v & U64_MAX));
      }
      break;
    }
    case BPF_JLE: r1.umax = bmin(r1.umax, r2.umax); r2.umin = bmax(r2.umin, r1.umin); break;
    case BPF_JLT: r1.umax = bmin(r1.umax, r2.umax - 1n); r2.umin = bmax(r2.umin, r1.umin + 1n); break;
    case BPF_JSLE: r1.smax = bmin(r1.smax, r2.smax); r2.smin = bmax(r2.smin, r1.smin); break;
    case BPF_JSLT: r1.smax = bmin(r1.smax, r2.smax - 1n); r2.smin = bmax(r2.smin, r1.smin + 1n); break;
  }
}

/**
 * reg_set_min_max(): refine the scalar operands on both sides of a branch.
 * Returns false when one side turned out infeasible (bounds contradict): [takenOk, fallOk].
 */
export function regSetMinMax(tr1: Reg, tr2: Reg, fr1: Reg, fr2: Reg, op: number, is32: boolean): [boolean, boolean] {
  refine(tr1, tr2, op, is32);
  refine(fr1, fr2, revOp(op), is32);
  const ok = (r: Reg): boolean => {
    if (regBoundsInvalid(r)) return false;
    regBoundsSync(r);
    return !regBoundsInvalid(r);
  };
  const t = ok(tr1) && ok(tr2);
  const f = ok(fr1) && ok(fr2);
  return [t, f];
}

/** sync_linked_regs(): scalars sharing `r`'s id take its refined bounds. */
export function syncLinkedRegs(st: VerState, r: Reg): void {
  if (r.type !== SCALAR_VALUE || r.id === 0) return;
  forEachReg(st, (x) => {
    if (x !== r && x.type === SCALAR_VALUE && x.id === r.id) x.copyFrom(r);
  });
}

/** Applies `fn` to every register and spilled register of every frame. */
export function forEachReg(st: VerState, fn: (r: Reg) => void): void {
  for (const f of st.frames) {
    for (const r of f.regs) fn(r);
    for (const s of f.spilled) if (s !== null) fn(s);
  }
}

/** find_good_pkt_pointers(). */
function findGoodPktPointers(st: VerState, dst: Reg, type: number, rightOpen: boolean): void {
  if (dst.off < 0 || (dst.off === 0 && rightOpen)) return;
  if (dst.umax > MAX_PACKET_OFF || dst.umax + BigInt(dst.off) > MAX_PACKET_OFF) return;
  let range = dst.off;
  if (rightOpen) range++;
  const id = dst.id;
  forEachReg(st, (r) => {
    if (r.type === type && r.id === id) r.range = Math.max(r.range, range);
  });
}

/**
 * try_match_pkt_pointers(): comparisons between pkt and pkt_end (or pkt_meta and pkt) give
 * ranges. `dstNo`/`srcNo` index the current frame's registers. Returns false when not such a comparison.
 */
export function tryMatchPktPointers(taken: VerState, fall: VerState, dstNo: number, srcNo: number, op: number): boolean {
  const d = fall.cur.regs[dstNo]!, s = fall.cur.regs[srcNo]!;
  let pktNo: number, endIsSrc: boolean;
  if ((d.type === PTR_TO_PACKET && s.type === PTR_TO_PACKET_END) || (d.type === PTR_TO_PACKET_META && s.type === PTR_TO_PACKET)) {
    pktNo = dstNo;
    endIsSrc = true;
  } else if ((s.type === PTR_TO_PACKET && d.type === PTR_TO_PACKET_END) || (s.type === PTR_TO_PACKET_META && d.type === PTR_TO_PACKET)) {
    pktNo = srcNo;
    endIsSrc = false;
  } else {
    return false;
  }
  // normalise to "pkt OP end"
  const rel = endIsSrc ? op : flipOp(op);
  const pk = fall.cur.regs[pktNo]!;
  const type = pk.type;
  const isEnd = (endIsSrc ? s : d).type === PTR_TO_PACKET_END;
  const good = (st: VerState, open: boolean) => findGoodPktPointers(st, st.cur.regs[pktNo]!, type, open);
  const markEnd = (st: VerState, v: number) => {
    if (isEnd) st.cur.regs[pktNo]!.range = v;
  };
  switch (rel) {
    case BPF_JGT: good(fall, false); markEnd(taken, BEYOND_PKT_END); break;
    case BPF_JLT: good(taken, true); markEnd(fall, AT_PKT_END); break;
    case BPF_JGE: good(fall, true); markEnd(taken, AT_PKT_END); break;
    case BPF_JLE: good(taken, false); markEnd(fall, BEYOND_PKT_END); break;
    default: return false;
  }
  return true;
}

/** mark_ptr_or_null_regs(): every copy of pointer `id` becomes non-null or the scalar 0. */
export function markPtrOrNull(st: VerState, id: number, isNull: boolean): void {
  forEachReg(st, (r) => {
    if (r.id !== id || (r.type & PTR_MAYBE_NULL) === 0) return;
    if (isNull) markScalarConst(r, 0n);
    else {
      r.type &= ~PTR_MAYBE_NULL;
      if (baseType(r.type) === PTR_TO_MAP_VALUE) r.id = 0;
    }
  });
}

