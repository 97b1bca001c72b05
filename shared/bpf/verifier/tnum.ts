// Tracked numbers: a 64-bit value whose bits are each known 0, known 1 or
// unknown (value/mask pair). Mirrors kernel/bpf/tnum.c (the algorithms of
// "Sound, precise and fast abstract interpretation with tristate numbers").
// Values are unsigned 64-bit BigInts; the verifier is a load-time tool path.

/** 2^64 - 1. */
export const U64_MAX = 0xffff_ffff_ffff_ffffn;
export const U32_MAX = 0xffff_ffffn;

/** A tnum: bits set in `m` are unknown; bits of `v` under the mask are 0. */
export interface Tnum {
  readonly v: bigint;
  readonly m: bigint;
}

export const TNUM_UNKNOWN: Tnum = { v: 0n, m: U64_MAX };

/** Reduces any BigInt to its unsigned 64-bit two's complement form. */
export function u64(x: bigint): bigint {
  return BigInt.asUintN(64, x);
}
/** Signed view of an unsigned 64-bit value. */
export function s64(x: bigint): bigint {
  return BigInt.asIntN(64, x);
}

export function tnumConst(v: bigint): Tnum {
  return { v: u64(v), m: 0n };
}

export function tnumIsConst(a: Tnum): boolean {
  return a.m === 0n;
}

export function tnumIsUnknown(a: Tnum): boolean {
  return a.m === U64_MAX;
}

function fls64(x: bigint): number {
  return x === 0n ? 0 : x.toString(2).length;
}

/** Smallest tnum holding every value of [min, max] (unsigned). */
export function tnumRange(min: bigint, max: bigint): Tnum {
  const chi = min ^ max;
  const bits = fls64(chi);
  if (bits > 63) return TNUM_UNKNOWN;
  const delta = (1n << BigInt(bits)) - 1n;
  return { v: min & ~delta & U64_MAX, m: delta };
}

export function tnumLshift(a: Tnum, s: number): Tnum {
  return { v: u64(a.v << BigInt(s)), m: u64(a.m << BigInt(s)) };
}

export function tnumRshift(a: Tnum, s: number): Tnum {
  return { v: a.v >> BigInt(s), m: a.m >> BigInt(s) };
}

/** Arithmetic right shift at 32- or 64-bit width (the result is zero-extended for 32). */
export function tnumArshift(a: Tnum, s: number, bits: 32 | 64): Tnum {
  if (bits === 32) {
    return {
      v: BigInt.asUintN(32, BigInt.asIntN(32, a.v) >> BigInt(s)),
      m: BigInt.asUintN(32, BigInt.asIntN(32, a.m) >> BigInt(s)),
    };
  }
  return { v: u64(s64(a.v) >> BigInt(s)), m: u64(s64(a.m) >> BigInt(s)) };
}

export function tnumAdd(a: Tnum, b: Tnum): Tnum {
  const sm = u64(a.m + b.m);
  const sv = u64(a.v + b.v);
  const sigma = u64(sm + sv);
  const chi = sigma ^ sv;
  const mu = chi | a.m | b.m;
  return { v: sv & ~mu & U64_MAX, m: mu };
}

export function tnumSub(a: Tnum, b: Tnum): Tnum {
  const dv = u64(a.v - b.v);
  const alpha = u64(dv + a.m);
  const beta = u64(dv - b.m);
  const chi = alpha ^ beta;
  const mu = chi | a.m | b.m;
  return { v: dv & ~mu & U64_MAX, m: mu };
}

export function tnumAnd(a: Tnum, b: Tnum): Tnum {
  const alpha = a.v | a.m;
  const beta = b.v | b.m;
  const v = a.v & b.v;
  return { v, m: alpha & beta & ~v & U64_MAX };
}

export function tnumOr(a: Tnum, b: Tnum): Tnum {
  const v = a.v | b.v;
  const mu = a.m | b.m;
  return { v, m: mu & ~v & U64_MAX };
}

export function tnumXor(a: Tnum, b: Tnum): Tnum {
  const v = a.v ^ b.v;
  const mu = a.m | b.m;
  return { v: v & ~mu & U64_MAX, m: mu };
}

/** Multiplication by shift-and-add over the known/unknown bits of `a`. */
export function tnumMul(a: Tnum, b: Tnum): Tnum {
  let acc: Tnum = { v: 0n, m: 0n };
  const accV = u64(a.v * b.v);
  let x = a, y = b;
  while (x.v !== 0n || x.m !== 0n) {
    if ((x.v & 1n) !== 0n) acc = tnumAdd(acc, { v: 0n, m: y.m });
    else if ((x.m & 1n) !== 0n) acc = tnumAdd(acc, { v: 0n, m: y.v | y.m });
    x = tnumRshift(x, 1);
    y = tnumLshift(y, 1);
  }
  return tnumAdd({ v: accV, m: 0n }, acc);
}

/** Values both tnums may hold. */
export function tnumIntersect(a: Tnum, b: Tnum): Tnum {
  const v = a.v | b.v;
  const mu = a.m & b.m;
  return { v: v & ~mu & U64_MAX, m: mu };
}

/** Truncates to `size` bytes. */
export function tnumCast(a: Tnum, size: number): Tnum {
  if (size >= 8) return a;
  const mask = (1n << BigInt(size * 8)) - 1n;
  return { v: a.v & mask, m: a.m & mask };
}

export function tnumIsAligned(a: Tnum, size: number): boolean {
  if (size === 0) return true;
  return ((a.v | a.m) & BigInt(size - 1)) === 0n;
}

/** True when every value of b is a value of a. */
export function tnumIn(a: Tnum, b: Tnum): boolean {
  if ((b.m & ~a.m & U64_MAX) !== 0n) return false;
  return a.v === (b.v & ~a.m & U64_MAX);
}

export function tnumSubreg(a: Tnum): Tnum {
  return tnumCast(a, 4);
}

export function tnumClearSubreg(a: Tnum): Tnum {
  return tnumLshift(tnumRshift(a, 32), 32);
}

/** Upper 32 bits of `reg`, lower 32 bits of `sub`. */
export function tnumWithSubreg(reg: Tnum, sub: Tnum): Tnum {
  return tnumOr(tnumClearSubreg(reg), tnumSubreg(sub));
}

export function tnumEq(a: Tnum, b: Tnum): boolean {
  return a.v === b.v && a.m === b.m;
}

/** "(0x0; 0xff)" as tnum_strn() prints. */
export function tnumStr(a: Tnum): string {
  return `(0x${a.v.toString(16)}; 0x${a.m.toString(16)})`;
}
