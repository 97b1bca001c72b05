// ALU instructions: check_alu_op(), adjust_reg_min_max_vals(),
// adjust_ptr_min_max_vals() and adjust_scalar_min_max_vals() of
// kernel/bpf/verifier.c: scalar range/tnum arithmetic at 32 and 64 bits,
// pointer arithmetic rules and their log messages.
import { EACCES, EINVAL } from "../../errno.ts";
import {
  BPF_ADD, BPF_ALU64, BPF_AND, BPF_ARSH, BPF_DIV, BPF_END, BPF_LSH, BPF_MOD, BPF_MOV, BPF_MUL, BPF_NEG, BPF_OR,
  BPF_RSH, BPF_SUB, BPF_X, BPF_XOR, BPF_TO_BE,
} from "../isa/uapi.ts";
import type { Env } from "./env.ts";
import { DST_OP, DST_OP_NO_MARK, SRC_OP } from "./env.ts";
import {
  CONST_PTR_TO_MAP, PTR_MAYBE_NULL, PTR_TO_CTX, PTR_TO_MAP_VALUE, PTR_TO_PACKET, PTR_TO_PACKET_META, PTR_TO_STACK,
  Reg, S32_MAX, S32_MIN, S64_MAX, S64_MIN, SCALAR_VALUE, U32_MAX_N, baseType, coerceToSize, fastPaths, isPktPointer,
  markKnown, markScalarConst, markScalarConstN, markScalarFields, markUnknown, regBoundsSync, regBoundsSyncN, regTypeStr, smallScalar, zext32,
} from "./reg_state.ts";
import {
  U64_MAX, s64, tnumAdd, tnumAnd, tnumArshift, tnumCast, tnumConst, tnumIsConst, tnumLshift, tnumMul, tnumOr,
  tnumRshift, tnumStr, tnumSub, tnumXor, type Tnum,
} from "./tnum.ts";
import { checkMapAccess } from "./mem.ts";
import { markChainPrecision } from "./precision.ts";
import { MAX_BPF_STACK } from "./stack.ts";

/** bpf_alu_string[] indexed by BPF_OP >> 4. */
const ALU_STR = ["+=", "-=", "*=", "/=", "|=", "&=", "<<=", ">>=", "neg", "%=", "^=", "=", "s>>=", "endian"];
const BPF_MAX_VAR_OFF = 1n << 29n;

/** A scalar's view at one width: tnum plus unsigned and signed bounds. */
interface Scal {
  t: Tnum;
  umin: bigint;
  umax: bigint;
  smin: bigint;
  smax: bigint;
}

function view(r: Reg, w: 32 | 64): Scal {
  if (w === 64) return { t: r.varOff, umin: r.umin, umax: r.umax, smin: r.smin, smax: r.smax };
  return {
    t: tnumCast(r.varOff, 4), umin: BigInt(r.u32min), umax: BigInt(r.u32max), smin: BigInt(r.s32min),
    smax: BigInt(r.s32max),
  };
}

function constView(v: bigint, w: 32 | 64): Scal {
  const u = w === 64 ? BigInt.asUintN(64, v) : BigInt.asUintN(32, v);
  const s = w === 64 ? BigInt.asIntN(64, v) : BigInt.asIntN(32, v);
  return { t: tnumConst(u), umin: u, umax: u, smin: s, smax: s };
}

/** Stores a width-w result into r as a scalar (32-bit results are zero-extended). */
function store(r: Reg, res: Scal, w: 32 | 64): void {
  const umaxW = w === 64 ? U64_MAX : 0xffffffffn;
  const sminW = w === 64 ? S64_MIN : -0x80000000n, smaxW = w === 64 ? S64_MAX : 0x7fffffffn;
  const uok = res.umin >= 0n && res.umax <= umaxW && res.umin <= res.umax;
  const sok = res.smin >= sminW && res.smax <= smaxW && res.smin <= res.smax;
  markUnknown(r);
  const t = w === 64 ? res.t : tnumCast(res.t, 4);
  r.varOff = t;
  if (w === 64) {
    if (uok) { r.umin = res.umin; r.umax = res.umax; }
    if (sok) { r.smin = res.smin; r.smax = res.smax; }
    regBoundsSync(r);
    return;
  }
  r.u32min = uok ? Number(res.umin) : 0;
  r.u32max = uok ? Number(res.umax) : U32_MAX_N;
  r.s32min = sok ? Number(res.smin) : S32_MIN;
  r.s32max = sok ? Number(res.smax) : S32_MAX;
  r.umin = 0n;
  r.umax = 0xffffffffn;
  r.smin = 0n;
  r.smax = 0xffffffffn;
  regBoundsSync(r);
  zext32(r);
}

const FULL64: Scal = { t: { v: 0n, m: U64_MAX }, umin: 0n, umax: U64_MAX, smin: S64_MIN, smax: S64_MAX };
const FULL32: Scal = { t: { v: 0n, m: 0xffffffffn }, umin: 0n, umax: 0xffffffffn, smin: -0x80000000n, smax: 0x7fffffffn };

/** The result of `a op b` at width w (adjust_scalar_min_max_vals); out-of-range bounds are widened by store(). */
function scalarOp(op: number, a: Scal, b: Scal, w: 32 | 64): Scal {
  const full = w === 64 ? FULL64 : FULL32;
  const bits = w === 64 ? 64n : 32n;
  const maxU = w === 64 ? U64_MAX : 0xffffffffn;
  if (tnumIsConst(a.t) && tnumIsConst(b.t) && op !== BPF_DIV && op !== BPF_MOD) {
    const x = a.t.v, y = b.t.v;
    let v: bigint;
    switch (op) {
      case BPF_ADD: v = x + y; break;
      case BPF_SUB: v = x - y; break;
      case BPF_MUL: v = x * y; break;
      case BPF_AND: v = x & y; break;
      case BPF_OR: v = x | y; break;
      case BPF_XOR: v = x ^ y; break;
      case BPF_LSH: v = x << (y & (bits - 1n)); break;
      case BPF_RSH: v = x >> (y & (bits - 1n)); break;
      case BPF_ARSH: v = BigInt.asIntN(w, x) >> (y & (bits - 1n)); break;
      default: return full;
    }
    return constView(BigInt.asUintN(w, v), w);
  }
  switch (op) {
    case BPF_ADD: {
      const t = tnumCast(tnumAdd(a.t, b.t), w / 8);
      const umax = a.umax + b.umax;
      return {
        t, umin: umax > maxU ? 0n : a.umin + b.umin, umax: umax > maxU ? maxU : umax,
        smin: a.smin + b.smin, smax: a.smax + b.smax,
      };
    }
    case BPF_SUB: {
      const t = tnumCast(tnumSub(a.t, b.t), w / 8);
      const under = a.umin < b.umax;
      return {
        t, umin: under ? 0n : a.umin - b.umax, umax: under ? maxU : a.umax - b.umin,
        smin: a.smin - b.smax, smax: a.smax - b.smin,
      };
    }
    case BPF_MUL: {
      const t = tnumCast(tnumMul(a.t, b.t), w / 8);
      const um = a.umax * b.umax;
      const p = [a.smin * b.smin, a.smin * b.smax, a.smax * b.smin, a.smax * b.smax];
      const smin = p.reduce((m, x) => (x < m ? x : m)), smax = p.reduce((m, x) => (x > m ? x : m));
      return { t, umin: um > maxU ? 0n : a.umin * b.umin, umax: um > maxU ? maxU : um, smin, smax };
    }
    case BPF_AND: {
      const t = tnumAnd(a.t, b.t);
      return { t, umin: t.v, umax: a.umax < b.umax ? a.umax : b.umax, smin: full.smin, smax: full.smax };
    }
    case BPF_OR: {
      const t = tnumOr(a.t, b.t);
      return { t, umin: a.umin > b.umin ? a.umin : b.umin, umax: t.v | t.m, smin: full.smin, smax: full.smax };
    }
    case BPF_XOR: {
      const t = tnumXor(a.t, b.t);
      return { t, umin: t.v, umax: t.v | t.m, smin: full.smin, smax: full.smax };
    }
    case BPF_LSH:
    case BPF_RSH:
    case BPF_ARSH: {
      if (!tnumIsConst(b.t) || b.umax >= bits) return full;
      const s = Number(b.t.v);
      if (op === BPF_LSH) {
        const t = tnumCast(tnumLshift(a.t, s), w / 8);
        const ok = a.umax << BigInt(s) <= maxU;
        return { t, umin: ok ? a.umin << BigInt(s) : 0n, umax: ok ? a.umax << BigInt(s) : maxU, smin: full.smin, smax: full.smax };
      }
      if (op === BPF_RSH) {
        const t = tnumRshift(tnumCast(a.t, w / 8), s);
        return { t, umin: a.umin >> BigInt(s), umax: a.umax >> BigInt(s), smin: full.smin, smax: full.smax };
      }
      const t = tnumArshift(tnumCast(a.t, w / 8), s, w);
      return { t, umin: 0n, umax: maxU, smin: a.smin >> BigInt(s), smax: a.smax >> BigInt(s) };
    }
    default:
      return full;
  }
}

/**
 * scalarOp() + store() at 64 bits for a dst that is smallScalar() and a src given as numbers
 * (value/mask of its tnum, its bounds: all in [0, 2^32)), without BigInt arithmetic: the same
 * steps, each exact in doubles (sums stay below 2^34, products and left shifts are checked
 * against 2^32-1, bitwise operations see no bit above 31). Returns false, having changed
 * nothing, when the result leaves [0, 2^32) or the op has no number path (MUL of non-constants,
 * ARSH, DIV, MOD): the caller then runs the general code.
 */
export function scalarOp64Small(
  dst: Reg, op: number, bv: number, bm: number, bumin: number, bumax: number, bsmin: number, bsmax: number,
): boolean {
  const M = 0xffffffff;
  const av = Number(dst.vv), am = Number(dst.vm);
  const aumin = Number(dst.umin), aumax = Number(dst.umax), asmin = Number(dst.smin), asmax = Number(dst.smax);
  if (am === 0 && bm === 0) {
    // both known: the value itself (scalarOp's constant folding, then markKnown)
    let v: number;
    switch (op) {
      case BPF_ADD: v = av + bv; break;
      case BPF_SUB: v = av - bv; break;
      case BPF_MUL: v = av * bv; break; // a product above 2^32-1 rounds to >= 2^32: rejected below
      case BPF_AND: v = (av & bv) >>> 0; break;
      case BPF_OR: v = (av | bv) >>> 0; break;
      case BPF_XOR: v = (av ^ bv) >>> 0; break;
      case BPF_LSH: v = av * 2 ** (bv & 63); break;
      case BPF_RSH:
      case BPF_ARSH: { // a value below 2^63: arithmetic and logical shifts agree
        const s = bv & 63;
        v = s >= 32 ? 0 : av >>> s;
        break;
      }
      default: return false;
    }
    if (!(v >= 0 && v <= M)) return false;
    markScalarConstN(dst, v);
    return true;
  }
  let tv: number, tm: number, umin: number, umax: number;
  let smin = -1, smax = M + 1; // signed bounds unknown unless the op sets them
  switch (op) {
    case BPF_ADD: {
      // tnum_add(): every intermediate is at most (av|am) + (bv|bm)
      if (av + am + bv + bm > M) return false;
      const sm = am + bm, sv = av + bv;
      const mu = (((sm + sv) ^ sv) | am | bm) >>> 0;
      tv = (sv & ~mu) >>> 0;
      tm = mu;
      umin = aumin + bumin;
      umax = aumax + bumax;
      smin = asmin + bsmin;
      smax = asmax + bsmax;
      break;
    }
    case BPF_SUB: {
      // tnum_sub() without wrapping: dv - bm >= 0
      const dv = av - bv;
      if (dv - bm < 0 || aumin < bumax) return false;
      const mu = (((dv + am) ^ (dv - bm)) | am | bm) >>> 0;
      tv = (dv & ~mu) >>> 0;
      tm = mu;
      umin = aumin - bumax;
      umax = aumax - bumin;
      smin = asmin - bsmax;
      smax = asmax - bsmin;
      break;
    }
    case BPF_AND: {
      tv = (av & bv) >>> 0;
      tm = ((av | am) & (bv | bm) & ~tv) >>> 0;
      umin = tv;
      umax = aumax < bumax ? aumax : bumax;
      break;
    }
    case BPF_OR: {
      tv = (av | bv) >>> 0;
      tm = ((am | bm) & ~tv) >>> 0;
      umin = aumin > bumin ? aumin : bumin;
      umax = (tv | tm) >>> 0;
      break;
    }
    case BPF_XOR: {
      const mu = (am | bm) >>> 0;
      tv = ((av ^ bv) & ~mu) >>> 0;
      tm = mu;
      umin = tv;
      umax = (tv | tm) >>> 0;
      break;
    }
    case BPF_LSH:
    case BPF_RSH: {
      if (bm !== 0 || bumax >= 64 || bv >= 64) return false;
      if (op === BPF_LSH) {
        const f = 2 ** bv;
        if ((av + am) * f > M || aumax * f > M) return false;
        tv = av * f; tm = am * f; umin = aumin * f; umax = aumax * f;
      } else if (bv >= 32) {
        tv = tm = umin = umax = 0;
      } else {
        tv = av >>> bv; tm = am >>> bv; umin = aumin >>> bv; umax = aumax >>> bv;
      }
      break;
    }
    default:
      return false;
  }
  // store(): bounds that are inverted stay unknown; unknown unsigned ones are not small
  if (!(umin <= umax) || umax > M || umin < 0) return false;
  if (!(smin <= smax)) {
    smin = -1;
    smax = M + 1;
  } else if (smin > M || smax < 0) {
    return false;
  }
  // markUnknown() but for the 64-bit fields, which regBoundsSyncN() sets (syncBounds32's contract: clamp the signed ones)
  markScalarFields(dst);
  dst.s32min = S32_MIN;
  dst.s32max = S32_MAX;
  dst.u32min = 0;
  dst.u32max = U32_MAX_N;
  regBoundsSyncN(dst, tv, tm, umin, umax, smin < 0 ? 0 : smin, smax > M ? M : smax);
  return true;
}

/**
 * scalarOp() + store() + zext at 32 bits, in numbers, for a dst whose tnum lies in [0, 2^32) and
 * a src given as numbers (its tnum's value/mask in [0, 2^32), its 32-bit bounds). Every quantity
 * is a 32-bit one: sums stay exact in doubles, and the tnum steps, taken modulo 2^32 by the
 * bitwise operators, are what tnum_cast(, 4) keeps of the 64-bit ones. Returns false, having
 * changed nothing, for the ops without a number path (MUL of non-constants, DIV, MOD).
 */
export function scalarOp32Small(
  dst: Reg, op: number, bv: number, bm: number, bumin: number, bumax: number, bsmin: number, bsmax: number,
): boolean {
  const M = 0xffffffff;
  const av = Number(dst.vv), am = Number(dst.vm);
  const aumin = dst.u32min, aumax = dst.u32max, asmin = dst.s32min, asmax = dst.s32max;
  if (am === 0 && bm === 0) {
    let v: number;
    switch (op) {
      case BPF_ADD: v = (av + bv) >>> 0; break;
      case BPF_SUB: v = (av - bv) >>> 0; break;
      case BPF_MUL: v = Math.imul(av, bv) >>> 0; break;
      case BPF_AND: v = (av & bv) >>> 0; break;
      case BPF_OR: v = (av | bv) >>> 0; break;
      case BPF_XOR: v = (av ^ bv) >>> 0; break;
      case BPF_LSH: v = (av << (bv & 31)) >>> 0; break;
      case BPF_RSH: v = av >>> (bv & 31); break;
      case BPF_ARSH: v = ((av | 0) >> (bv & 31)) >>> 0; break;
      default: return false;
    }
    markScalarConstN(dst, v);
    return true;
  }
  let tv: number, tm: number, umin: number, umax: number;
  let smin = S32_MIN, smax = S32_MAX;
  switch (op) {
    case BPF_ADD: {
      const sm = am + bm, sv = av + bv;
      const mu = ((sm + sv) ^ sv) | am | bm;
      tv = (sv & ~mu) >>> 0;
      tm = mu >>> 0;
      umax = aumax + bumax;
      if (umax > M) { umin = 0; umax = M; } else umin = aumin + bumin;
      smin = asmin + bsmin;
      smax = asmax + bsmax;
      break;
    }
    case BPF_SUB: {
      const dv = av - bv;
      const mu = ((dv + am) ^ (dv - bm)) | am | bm;
      tv = (dv & ~mu) >>> 0;
      tm = mu >>> 0;
      if (aumin < bumax) { umin = 0; umax = M; } else { umin = aumin - bumax; umax = aumax - bumin; }
      smin = asmin - bsmax;
      smax = asmax - bsmin;
      break;
    }
    case BPF_AND:
      tv = (av & bv) >>> 0;
      tm = ((av | am) & (bv | bm) & ~tv) >>> 0;
      umin = tv;
      umax = aumax < bumax ? aumax : bumax;
      break;
    case BPF_OR:
      tv = (av | bv) >>> 0;
      tm = ((am | bm) & ~tv) >>> 0;
      umin = aumin > bumin ? aumin : bumin;
      umax = (tv | tm) >>> 0;
      break;
    case BPF_XOR:
      tm = (am | bm) >>> 0;
      tv = ((av ^ bv) & ~tm) >>> 0;
      umin = tv;
      umax = (tv | tm) >>> 0;
      break;
    case BPF_LSH:
    case BPF_RSH:
    case BPF_ARSH: {
      if (bm !== 0 || bumax >= 32) {
        tv = 0; tm = M; umin = 0; umax = M;
        break;
      }
      if (bv >= 32) return false; // a constant whose bounds disagree with it: the general code's business
      if (op === BPF_LSH) {
        tv = (av << bv) >>> 0;
        tm = (am << bv) >>> 0;
        const f = 2 ** bv;
        if (aumax * f <= M) { umin = aumin * f; umax = aumax * f; } else { umin = 0; umax = M; }
      } else if (op === BPF_RSH) {
        tv = av >>> bv; tm = am >>> bv; umin = aumin >>> bv; umax = aumax >>> bv;
      } else {
        tv = ((av | 0) >> bv) >>> 0; tm = ((am | 0) >> bv) >>> 0; umin = 0; umax = M;
        smin = asmin >> bv; smax = asmax >> bv;
      }
      break;
    }
    default:
      return false;
  }
  // store(): bounds outside the width or inverted stay unknown
  const uok = umin >= 0 && umax <= M && umin <= umax;
  const sok = smin >= S32_MIN && smax <= S32_MAX && smin <= smax;
  markScalarFields(dst);
  dst.u32min = uok ? umin : 0;
  dst.u32max = uok ? umax : U32_MAX_N;
  dst.s32min = sok ? smin : S32_MIN;
  dst.s32max = sok ? smax : S32_MAX;
  regBoundsSyncN(dst, tv, tm, 0, M, 0, M);
  // zext32(): the 64-bit bounds are the 32-bit unsigned ones (the tnum has no upper half)
  regBoundsSyncN(dst, Number(dst.vv), Number(dst.vm), dst.u32min, dst.u32max, dst.u32min, dst.u32max);
  return true;
}

function fits32(x: number): boolean {
  return x >= -0x80000000 && x <= 0x7fffffff;
}

/** check_reg_sane_offset(). */
function saneOffset(env: Env, r: Reg, type: number): boolean {
  const ts = regTypeStr(type);
  if (r.vm === 0n) {
    const val = s64(r.vv);
    if (val >= BPF_MAX_VAR_OFF || val <= -BPF_MAX_VAR_OFF) {
      env.verbose(`math between ${ts} pointer and ${val} is not allowed`);
      return false;
    }
  }
  if (r.off >= Number(BPF_MAX_VAR_OFF) || r.off <= -Number(BPF_MAX_VAR_OFF)) {
    env.verbose(`${ts} pointer offset ${r.off} is not allowed`);
    return false;
  }
  if (r.smin === S64_MIN) {
    env.verbose(`math between ${ts} pointer and register with unbounded min value is not allowed`);
    return false;
  }
  if (r.smin >= BPF_MAX_VAR_OFF || r.smin <= -BPF_MAX_VAR_OFF) {
    env.verbose(`value ${r.smin} makes ${ts} pointer be out of bounds`);
    return false;
  }
  return true;
}

/** adjust_ptr_min_max_vals(): dst = ptr op offReg. */
function adjustPtr(env: Env, insnIdx: number, ptrIn: Reg, offIn: Reg, dstNo: number): number {
  const p = env.insns;
  const op = p.code[insnIdx]! & 0xf0;
  const is64 = (p.code[insnIdx]! & 0x07) === BPF_ALU64;
  const dst = env.regs[dstNo]!;
  const ptr = ptrIn.clone(), off = offIn.clone();
  const known = off.vm === 0n;
  if (!known && (off.smin > off.smax || off.umin > off.umax)) {
    markUnknown(dst);
    return 0;
  }
  if (!is64) {
    if (op === BPF_SUB && env.allowPtrLeaks) {
      markUnknown(dst);
      return 0;
    }
    return env.fail(EACCES, `R${dstNo} 32-bit pointer arithmetic prohibited`);
  }
  if (ptr.type & PTR_MAYBE_NULL) {
    return env.fail(EACCES, `R${dstNo} pointer arithmetic on ${regTypeStr(ptr.type)} prohibited, null-check it first`);
  }
  switch (baseType(ptr.type)) {
    case PTR_TO_CTX:
    case PTR_TO_MAP_VALUE:
    case PTR_TO_STACK:
    case PTR_TO_PACKET_META:
    case PTR_TO_PACKET:
      break;
    case CONST_PTR_TO_MAP:
      if (known && off.smin === 0n && op === BPF_ADD) break;
      return env.fail(EACCES, `R${dstNo} pointer arithmetic on ${regTypeStr(ptr.type)} prohibited`);
    default:
      return env.fail(EACCES, `R${dstNo} pointer arithmetic on ${regTypeStr(ptr.type)} prohibited`);
  }
  if (!saneOffset(env, off, ptr.type) || !saneOffset(env, ptr, ptr.type)) return -EINVAL;
  const offIsDst = offIn === dst;
  const res = ptr.clone();
  const sminV = off.smin;
  switch (op) {
    case BPF_ADD: {
      const n = ptr.off + Number(sminV);
      if (known && fits32(n)) {
        res.off = n;
        break;
      }
      res.varOff = tnumAdd(ptr.varOff, off.varOff);
      res.smin = ptr.smin + off.smin;
      res.smax = ptr.smax + off.smax;
      if (res.smin < S64_MIN || res.smax > S64_MAX) { res.smin = S64_MIN; res.smax = S64_MAX; }
      res.umin = ptr.umin + off.umin;
      res.umax = ptr.umax + off.umax;
      if (res.umax > U64_MAX) { res.umin = 0n; res.umax = U64_MAX; }
      if (isPktPointer(ptr.type)) {
        res.id = ++env.idGen;
        res.range = 0;
      }
      break;
    }
    case BPF_SUB: {
      if (offIsDst) return env.fail(EACCES, `R${dstNo} tried to subtract pointer from scalar`);
      if (ptr.type === PTR_TO_STACK) return env.fail(EACCES, `R${dstNo} subtraction from stack pointer prohibited`);
      const n = ptr.off - Number(sminV);
      if (known && fits32(n)) {
        res.off = n;
        break;
      }
      res.varOff = tnumSub(ptr.varOff, off.varOff);
      res.smin = ptr.smin - off.smax;
      res.smax = ptr.smax - off.smin;
      if (res.smin < S64_MIN || res.smax > S64_MAX) { res.smin = S64_MIN; res.smax = S64_MAX; }
      if (ptr.umin < off.umax) { res.umin = 0n; res.umax = U64_MAX; } else { res.umin = ptr.umin - off.umax; res.umax = ptr.umax - off.umin; }
      if (isPktPointer(ptr.type)) {
        res.id = ++env.idGen;
        res.range = 0;
      }
      break;
    }
    case BPF_AND:
    case BPF_OR:
    case BPF_XOR:
      return env.fail(EACCES, `R${dstNo} bitwise operator ${ALU_STR[op >> 4]} on pointer prohibited`);
    default:
      return env.fail(EACCES, `R${dstNo} pointer arithmetic with ${ALU_STR[op >> 4]} operator prohibited`);
  }
  res.s32min = S32_MIN; res.s32max = S32_MAX; res.u32min = 0; res.u32max = U32_MAX_N;
  if (!saneOffset(env, res, ptr.type)) return -EINVAL;
  regBoundsSync(res);
  dst.copyFrom(res);
  if (!env.allowPtrLeaks) return sanitizeBounds(env, dstNo);
  return 0;
}

/** sanitize_check_bounds(): unprivileged pointer arithmetic must stay inside the object. */
function sanitizeBounds(env: Env, regno: number): number {
  const r = env.regs[regno]!;
  if (r.type === PTR_TO_STACK) {
    if (r.vm !== 0n) {
      return env.fail(EACCES, `R${regno} variable stack access prohibited for !root, var_off=${tnumStr(r.varOff)} off=${r.off}`);
    }
    const o = r.off + Number(s64(r.vv));
    if (o < -MAX_BPF_STACK || o >= 0) {
      return env.fail(EACCES, `R${regno} stack pointer arithmetic goes out of range, prohibited for !root; off=${o}`);
    }
  } else if (r.type === PTR_TO_MAP_VALUE) {
    const n = env.errLines.length, lp = env.log.pos;
    if (checkMapAccess(env, regno, r.off, 1, false) < 0) {
      env.errLines.length = n;
      env.log.rewind(lp);
      return env.fail(EACCES, `R${regno} pointer arithmetic of map value goes out of range, prohibited for !root`);
    }
  }
  return 0;
}

/** check_alu_op(). */
export function checkAluOp(env: Env, i: number): number {
  const p = env.insns;
  const code = p.code[i]!;
  const op = code & 0xf0;
  const isX = (code & BPF_X) !== 0;
  const w: 32 | 64 = (code & 0x07) === BPF_ALU64 ? 64 : 32;
  const dstNo = p.dst[i]!, srcNo = p.src[i]!, imm = p.imm[i]!, off = p.off[i]!;
  let e: number;
  if (op === BPF_END || op === BPF_NEG) {
    if ((e = env.checkRegArg(dstNo, SRC_OP)) < 0) return e;
    if (env.isPointerValue(dstNo)) return env.fail(EACCES, `R${dstNo} pointer arithmetic prohibited`);
    const d = env.regs[dstNo]!;
    const wasConst = d.type === SCALAR_VALUE && d.vm === 0n ? d.vv : null;
    if ((e = env.checkRegArg(dstNo, DST_OP)) < 0) return e;
    if (op === BPF_NEG) {
      if (wasConst !== null) markScalarConst(d, w === 64 ? -wasConst : BigInt.asUintN(32, -wasConst));
      else if (w === 32) zext32(d);
      return 0;
    }
    // byte swaps: le on a little-endian host truncates; be/bswap reorder bytes
    const bytes = imm / 8;
    if (wasConst !== null) {
      let v = wasConst & ((1n << BigInt(imm)) - 1n);
      if (w === 64 || (code & BPF_TO_BE) !== 0) {
        let s = 0n;
        for (let k = 0; k < bytes; k++) s = (s << 8n) | ((v >> BigInt(8 * k)) & 0xffn);
        v = s;
      }
      markScalarConst(d, v);
    } else {
      coerceToSize(d, bytes);
    }
    return 0;
  }
  if (op === BPF_MOV) {
    if (isX && (e = env.checkRegArg(srcNo, SRC_OP)) < 0) return e;
    if ((e = env.checkRegArg(dstNo, DST_OP_NO_MARK)) < 0) return e;
    const d = env.regs[dstNo]!;
    if (isX) {
      const s = env.regs[srcNo]!;
      if (w === 64) {
        if (off === 0) {
          // assign_scalar_id_before_mov(): copies share an id so a later comparison bounds both
          if (s.type === SCALAR_VALUE && s.id === 0 && s.vm !== 0n) s.id = ++env.idGen;
          d.copyFrom(s);
          return 0;
        }
        if (s.type !== SCALAR_VALUE) {
          if (!env.allowPtrLeaks) return env.fail(EACCES, `R${srcNo} sign-extension mov from pointer`);
          markUnknown(d);
          return 0;
        }
        const c = s.vm === 0n ? BigInt.asIntN(off, s.vv) : null;
        markUnknown(d);
        if (c !== null) markKnown(d, c);
        return 0;
      }
      if (s.type !== SCALAR_VALUE) {
        if (!env.allowPtrLeaks) return env.fail(EACCES, `R${srcNo} partial copy of pointer`);
        markUnknown(d);
        zext32(d);
        return 0;
      }
      if (off === 0) {
        const c = s.clone();
        d.copyFrom(c);
        d.id = 0;
        coerceToSize(d, 4);
        return 0;
      }
      const c = s.vm === 0n ? BigInt.asUintN(32, BigInt.asIntN(off, s.vv)) : null;
      markUnknown(d);
      if (c !== null) markKnown(d, c);
      else zext32(d);
      return 0;
    }
    if (fastPaths.on && (w === 32 || imm >= 0)) markScalarConstN(d, imm >>> 0);
    else markScalarConst(d, w === 64 ? BigInt(imm) : BigInt(imm >>> 0));
    return 0;
  }
  if (isX) {
    if ((e = env.checkRegArg(srcNo, SRC_OP)) < 0) return e;
  } else {
    if ((op === BPF_DIV || op === BPF_MOD) && imm === 0) return env.fail(EINVAL, "div by zero");
    if ((op === BPF_LSH || op === BPF_RSH || op === BPF_ARSH) && (imm < 0 || imm >= w)) {
      return env.fail(EINVAL, `invalid shift ${imm}`);
    }
  }
  if ((e = env.checkRegArg(dstNo, SRC_OP)) < 0) return e;
  const dst = env.regs[dstNo]!;
  let srcReg: Reg;
  if (isX) {
    srcReg = env.regs[srcNo]!;
    if (srcReg.type !== SCALAR_VALUE) {
      if (dst.type !== SCALAR_VALUE) {
        if (op === BPF_SUB && env.allowPtrLeaks) {
          markUnknown(dst);
          return 0;
        }
        return env.fail(EACCES, `R${dstNo} pointer ${ALU_STR[op >> 4]} pointer prohibited`);
      }
      markChainPrecision(env, dstNo); // scalar += pointer: the scalar's range becomes the offset
      return adjustPtr(env, i, srcReg, dst, dstNo);
    }
    if (dst.type !== SCALAR_VALUE) markChainPrecision(env, srcNo); // pointer += scalar
    else if (dst.precise) markChainPrecision(env, srcNo);
  } else {
    if (dst.type === SCALAR_VALUE) {
      adjustScalarK(dst, op, imm, w);
      return 0;
    }
    srcReg = new Reg();
    markScalarConst(srcReg, BigInt(imm));
  }
  if (dst.type !== SCALAR_VALUE) return adjustPtr(env, i, dst, srcReg, dstNo);
  adjustScalarX(dst, srcReg, op, w);
  return 0;
}

/** check_alu_op()'s end for scalar dst op= imm (the operands checked): adjust_scalar_min_max_vals(). */
export function adjustScalarK(dst: Reg, op: number, imm: number, w: 32 | 64): void {
  if (fastPaths.on) {
    if (w === 64) {
      if (imm >= 0 && smallScalar(dst) && scalarOp64Small(dst, op, imm, 0, imm, imm, imm, imm)) return;
    } else if (dst.vv <= 0xffffffffn && dst.vm <= 0xffffffffn) {
      const u = imm >>> 0;
      if (scalarOp32Small(dst, op, u, 0, u, u, imm, imm)) return;
    }
  }
  store(dst, scalarOp(op, view(dst, w), constView(BigInt(imm), w), w), w);
}

/** check_alu_op()'s end for scalar dst op= scalar src (the operands checked): adjust_scalar_min_max_vals(). */
export function adjustScalarX(dst: Reg, src: Reg, op: number, w: 32 | 64): void {
  if (src.vm !== 0n && (src.smin > src.smax || src.umin > src.umax)) {
    markUnknown(dst);
    if (w === 32) zext32(dst);
    return;
  }
  if (fastPaths.on) {
    if (w === 64) {
      if (smallScalar(dst) && smallScalar(src) &&
        scalarOp64Small(dst, op, Number(src.vv), Number(src.vm), Number(src.umin), Number(src.umax),
          Number(src.smin), Number(src.smax))) {
        return;
      }
    } else if (dst.vv <= 0xffffffffn && dst.vm <= 0xffffffffn && src.vv <= 0xffffffffn && src.vm <= 0xffffffffn &&
      scalarOp32Small(dst, op, Number(src.vv), Number(src.vm), src.u32min, src.u32max, src.s32min, src.s32max)) {
      return;
    }
  }
  store(dst, scalarOp(op, view(dst, w), view(src, w), w), w);
}
