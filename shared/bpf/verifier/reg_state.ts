// Abstract register state: struct bpf_reg_state (include/linux/bpf_verifier.h)
// with 64- and 32-bit signed/unsigned bounds plus a tnum, the bounds
// propagation of kernel/bpf/verifier.c (__update_reg_bounds, __reg_deduce_bounds,
// __reg_bound_offset, reg_bounds_sync) and the register printer of
// kernel/bpf/log.c print_reg_state().
import type { BpfMapInfo } from "../maps/map.ts";
import {
  U64_MAX, s64, tnumIntersect, tnumIsConst, tnumRange, tnumSubreg,
  tnumWithSubreg, type Tnum,
} from "./tnum.ts";

// enum bpf_reg_type (the subset an XDP program can hold)
export const NOT_INIT = 0;
export const SCALAR_VALUE = 1;
export const PTR_TO_CTX = 2;
export const CONST_PTR_TO_MAP = 3;
export const PTR_TO_MAP_VALUE = 4;
export const PTR_TO_STACK = 5;
export const PTR_TO_PACKET_META = 6;
export const PTR_TO_PACKET = 7;
export const PTR_TO_PACKET_END = 8;
export const PTR_TO_MAP_KEY = 9;
/** type flag: may be NULL until checked (PTR_MAYBE_NULL). */
export const PTR_MAYBE_NULL = 0x100;
/** type flag: read-only memory (MEM_RDONLY). */
export const MEM_RDONLY = 0x200;

/** Packet pointer ranges after a comparison proved it beyond/at pkt_end (AT_PKT_END/BEYOND_PKT_END). */
export const AT_PKT_END = -1;
export const BEYOND_PKT_END = -2;

export const S64_MIN = -(1n << 63n);
export const S64_MAX = (1n << 63n) - 1n;
export const S32_MIN = -0x80000000;
export const S32_MAX = 0x7fffffff;
export const U32_MAX_N = 0xffffffff;

const TYPE_STR: Record<number, string> = {
  [NOT_INIT]: "?", [SCALAR_VALUE]: "scalar", [PTR_TO_CTX]: "ctx", [CONST_PTR_TO_MAP]: "map_ptr",
  [PTR_TO_MAP_VALUE]: "map_value", [PTR_TO_STACK]: "fp", [PTR_TO_PACKET]: "pkt", [PTR_TO_PACKET_META]: "pkt_meta",
  [PTR_TO_PACKET_END]: "pkt_end", [PTR_TO_MAP_KEY]: "map_key",
};

export function baseType(t: number): number {
  return t & 0xff;
}

/** reg_type_str(): "map_value_or_null", "rdonly_map_value", "pkt"... */
export function regTypeStr(t: number): string {
  return `${t & MEM_RDONLY ? "rdonly_" : ""}${TYPE_STR[baseType(t)] ?? "?"}${t & PTR_MAYBE_NULL ? "_or_null" : ""}`;
}

export function isPktPointer(t: number): boolean {
  return t === PTR_TO_PACKET || t === PTR_TO_PACKET_META;
}

/** One register's abstract value. Fields follow struct bpf_reg_state. */
export class Reg {
  declare type: number;
  /** Fixed offset of a pointer. */
  declare off: number;
  /** Pointer id (null checks, packet ranges) or scalar link id. */
  declare id: number;
  /** Packet pointers: bytes known readable after off. */
  declare range: number;
  declare map: BpfMapInfo | null;
  declare frameno: number;
  declare vv: bigint;
  declare vm: bigint;
  declare smin: bigint;
  declare smax: bigint;
  declare umin: bigint;
  declare umax: bigint;
  declare s32min: number;
  declare s32max: number;
  declare u32min: number;
  declare u32max: number;
  /** Scalars: the exact value/range matters to some later check (mark_chain_precision set it). */
  declare precise: boolean;

  /** An uninitialised register (NOT_INIT, unbounded), or a copy of `o` (one pass over the fields: states clone often). */
  constructor(o?: Reg) {
    if (o === undefined) {
      this.type = NOT_INIT;
      this.off = 0;
      this.id = 0;
      this.range = 0;
      this.map = null;
      this.frameno = 0;
      this.vv = 0n;
      this.vm = U64_MAX;
      this.smin = S64_MIN;
      this.smax = S64_MAX;
      this.umin = 0n;
      this.umax = U64_MAX;
      this.s32min = S32_MIN;
      this.s32max = S32_MAX;
      this.u32min = 0;
      this.u32max = U32_MAX_N;
      this.precise = false;
    } else {
      this.copyFrom(o);
    }
  }

  get varOff(): Tnum {
    return { v: this.vv, m: this.vm };
  }
  set varOff(t: Tnum) {
    this.vv = t.v;
    this.vm = t.m;
  }

  copyFrom(o: Reg): void {
    this.type = o.type;
    this.off = o.off;
    this.id = o.id;
    this.range = o.range;
    this.map = o.map;
    this.frameno = o.frameno;
    this.vv = o.vv;
    this.vm = o.vm;
    this.smin = o.smin;
    this.smax = o.smax;
    this.umin = o.umin;
    this.umax = o.umax;
    this.s32min = o.s32min;
    this.s32max = o.s32max;
    this.u32min = o.u32min;
    this.u32max = o.u32max;
    this.precise = o.precise;
  }

  clone(): Reg {
    return new Reg(this);
  }
}

// u32min/u32max hold values above 2^31 (not small integers): V8 would give those fields a double
// representation, a separate heap box per field of every Reg created (states clone registers by
// the thousand), and switch u32min to it mid-verification (deprecating Reg's hidden class, which
// deoptimises every function compiled against it). Tagged fields copy as plain pointers: generalise
// both once, here, with a value that is not a number.
{
  const g = new Reg() as unknown as Record<string, unknown>;
  g["u32min"] = null;
  g["u32max"] = null;
}

/**
 * Switch for the number fast paths of the bounds arithmetic (regBoundsSync, the scalar ALU,
 * branch refinement): off, everything runs the general BigInt code. Only the differential tests
 * (test/shared/bpf/verifier/fastpath.test.ts) turn it off, to use that code as their oracle.
 */
export const fastPaths = { on: true };

/** Unbounded variable part (pointers get a zero one). */
export function markUnbounded(r: Reg): void {
  r.vv = 0n;
  r.vm = U64_MAX;
  r.smin = S64_MIN;
  r.smax = S64_MAX;
  r.umin = 0n;
  r.umax = U64_MAX;
  r.s32min = S32_MIN;
  r.s32max = S32_MAX;
  r.u32min = 0;
  r.u32max = U32_MAX_N;
}

/** __mark_reg_known(): every bound equals `v` (64-bit, any sign). */
export function markKnown(r: Reg, v: bigint): void {
  if (fastPaths.on && v >= 0n && v <= 0xffffffffn) {
    // in [0, 2^32): already its u64 and s64 forms, and its low half
    r.vv = r.umin = r.umax = r.smin = r.smax = v;
    r.vm = 0n;
    const n = Number(v);
    r.u32min = r.u32max = n;
    r.s32min = r.s32max = n | 0;
    return;
  }
  const u = BigInt.asUintN(64, v);
  r.vv = u;
  r.vm = 0n;
  r.umin = r.umax = u;
  r.smin = r.smax = s64(u);
  const lo = Number(u & 0xffffffffn);
  r.u32min = r.u32max = lo;
  r.s32min = r.s32max = lo | 0;
}

/** The non-bound fields of a fresh scalar (type, no offset, id, range or map, imprecise); bounds untouched. */
export function markScalarFields(r: Reg): void {
  r.type = SCALAR_VALUE;
  r.off = 0;
  r.id = 0;
  r.range = 0;
  r.map = null;
  r.precise = false;
}

/** __mark_reg_unknown(): an unknown scalar. */
export function markUnknown(r: Reg): void {
  markScalarFields(r);
  markUnbounded(r);
}

/** __mark_reg_known_zero() for a pointer or scalar. */
export function markKnownZero(r: Reg): void {
  r.off = 0;
  r.id = 0;
  r.range = 0;
  markKnown(r, 0n);
}

export function markScalarConst(r: Reg, v: bigint): void {
  markUnknown(r);
  markKnown(r, v);
}

/** A scalar whose tnum and 64-bit bounds all lie in [0, 2^32): its arithmetic has a number path. */
export function smallScalar(r: Reg): boolean {
  const L = 0xffffffffn;
  return r.vv <= L && r.vm <= L && r.umin >= 0n && r.umin <= L && r.umax >= 0n && r.umax <= L &&
    r.smin >= 0n && r.smin <= L && r.smax >= 0n && r.smax <= L;
}

/** markScalarConst() of a value in [0, 2^32), given as a number (one BigInt made, none if r already holds it). */
export function markScalarConstN(r: Reg, v: number): void {
  markScalarFields(r);
  const b = r.vv === r.umin && Number(r.vv) === v ? r.vv : BigInt(v);
  r.vv = b;
  r.vm = 0n;
  r.umin = r.umax = r.smin = r.smax = b;
  r.u32min = r.u32max = v;
  r.s32min = r.s32max = v | 0;
}

/**
 * regBoundsSync() of a scalar whose 64-bit tnum and unsigned bounds lie in [0, 2^32), given as
 * numbers (smin <= 2^32-1, smax >= 0: the contract of syncBounds32); r's 32-bit fields are its
 * 32-bit bounds. The known-value case is regBoundsSync()'s first one.
 */
export function regBoundsSyncN(r: Reg, vv: number, vm: number, umin: number, umax: number, smin: number, smax: number): void {
  if (vm === 0 && umin <= vv && vv <= umax && smin <= vv && vv <= smax && r.u32min <= vv && vv <= r.u32max &&
    r.s32min <= (vv | 0) && (vv | 0) <= r.s32max) {
    const b = Number(r.vv) === vv ? r.vv : BigInt(vv);
    r.vv = b;
    r.vm = 0n;
    r.umin = r.umax = r.smin = r.smax = b;
    r.u32min = r.u32max = vv;
    r.s32min = r.s32max = vv | 0;
    return;
  }
  syncBounds32(r, vv, vm, umin, umax, smin, smax);
}

export function markNotInit(r: Reg): void {
  markUnknown(r);
  r.type = NOT_INIT;
}

/** A pointer with a fixed offset and no variable part. */
export function markPtr(r: Reg, type: number, off = 0): void {
  markKnownZero(r);
  r.type = type;
  r.off = off;
  r.map = null;
}

export function regIsConst(r: Reg): boolean {
  return r.type === SCALAR_VALUE && tnumIsConst(r.varOff);
}

export function regIsConstZero(r: Reg): boolean {
  return r.type === SCALAR_VALUE && r.vm === 0n && r.vv === 0n;
}

const bmax = (a: bigint, b: bigint): bigint => (a > b ? a : b);
const bmin = (a: bigint, b: bigint): bigint => (a < b ? a : b);

/** __update_reg32_bounds + __update_reg64_bounds: tighten bounds with the tnum. */
export function updateRegBounds(r: Reg): void {
  const v32 = tnumSubreg(r.varOff);
  const sMin32 = Number(BigInt.asIntN(32, v32.v | (v32.m & 0x80000000n)));
  const sMax32 = Number(BigInt.asIntN(32, v32.v | (v32.m & 0x7fffffffn)));
  r.s32min = Math.max(r.s32min, sMin32);
  r.s32max = Math.min(r.s32max, sMax32);
  r.u32min = Math.max(r.u32min, Number(v32.v));
  r.u32max = Math.min(r.u32max, Number(v32.v | v32.m));
  r.smin = bmax(r.smin, s64(r.vv | (r.vm & (1n << 63n))));
  r.smax = bmin(r.smax, s64(r.vv | (r.vm & S64_MAX)));
  r.umin = bmax(r.umin, r.vv);
  r.umax = bmin(r.umax, r.vv | r.vm);
}

function deduce32(r: Reg): void {
  // 32-bit bounds from 64-bit ones when the upper halves agree
  if (r.umin >> 32n === r.umax >> 32n) {
    const lo = Number(r.umin & 0xffffffffn), hi = Number(r.umax & 0xffffffffn);
    r.u32min = Math.max(r.u32min, lo);
    r.u32max = Math.min(r.u32max, hi);
    if ((lo | 0) <= (hi | 0)) {
      r.s32min = Math.max(r.s32min, lo | 0);
      r.s32max = Math.min(r.s32max, hi | 0);
    }
  }
  if (r.smin >> 32n === r.smax >> 32n) {
    const lo = Number(BigInt.asUintN(32, r.smin)), hi = Number(BigInt.asUintN(32, r.smax));
    if ((lo | 0) <= (hi | 0)) {
      r.s32min = Math.max(r.s32min, lo | 0);
      r.s32max = Math.min(r.s32max, hi | 0);
    }
    if (lo <= hi) {
      r.u32min = Math.max(r.u32min, lo);
      r.u32max = Math.min(r.u32max, hi);
    }
  }
  // signed and unsigned 32-bit ranges agree when they do not cross the sign boundary
  if ((r.u32min | 0) <= (r.u32max | 0)) {
    r.s32min = Math.max(r.s32min, r.u32min | 0);
    r.s32max = Math.min(r.s32max, r.u32max | 0);
  }
  if (r.s32min >>> 0 <= r.s32max >>> 0) {
    r.u32min = Math.max(r.u32min, r.s32min >>> 0);
    r.u32max = Math.min(r.u32max, r.s32max >>> 0);
  }
}

function deduce64(r: Reg): void {
  if (s64(r.umin) <= s64(r.umax)) {
    r.smin = bmax(r.smin, s64(r.umin));
    r.smax = bmin(r.smax, s64(r.umax));
  }
  if (BigInt.asUintN(64, r.smin) <= BigInt.asUintN(64, r.smax)) {
    r.umin = bmax(r.umin, BigInt.asUintN(64, r.smin));
    r.umax = bmin(r.umax, BigInt.asUintN(64, r.smax));
  }
  // 64-bit bounds from the 32-bit ones within the same upper half
  const hiMask = ~0xffffffffn & U64_MAX;
  const nUmin = (r.umin & hiMask) | BigInt(r.u32min);
  const nUmax = (r.umax & hiMask) | BigInt(r.u32max);
  r.umin = bmax(r.umin, nUmin);
  r.umax = bmin(r.umax, nUmax);
  const sminHi = BigInt.asUintN(64, r.smin) & hiMask, smaxHi = BigInt.asUintN(64, r.smax) & hiMask;
  const nSmin = s64(sminHi | BigInt(r.u32min));
  const nSmax = s64(smaxHi | BigInt(r.u32max));
  r.smin = bmax(r.smin, nSmin);
  r.smax = bmin(r.smax, nSmax);
}

/** __reg_bound_offset(): tighten the tnum with the ranges. */
function boundOffset(r: Reg): void {
  const v64 = tnumIntersect(r.varOff, tnumRange(r.umin, r.umax));
  const v32 = tnumIntersect(tnumSubreg(v64), tnumRange(BigInt(r.u32min), BigInt(r.u32max)));
  r.varOff = tnumWithSubreg(v64, v32);
}

/** reg_bounds_sync(). */
export function regBoundsSync(r: Reg): void {
  if (r.vm === 0n) {
    // a known value: every bound is that value, unless the bounds already exclude it (an infeasible path)
    const v = r.vv, small = fastPaths.on && v <= 0xffffffffn;
    const sv = small ? v : s64(v), lo = small ? Number(v) : Number(v & 0xffffffffn);
    if (r.umin <= v && v <= r.umax && r.smin <= sv && sv <= r.smax && r.u32min <= lo && lo <= r.u32max &&
      r.s32min <= (lo | 0) && (lo | 0) <= r.s32max) {
      markKnown(r, v);
      return;
    }
  } else if (r.vm === U64_MAX && r.umin === 0n && r.umax === U64_MAX && r.smin === S64_MIN && r.smax === S64_MAX &&
    r.u32min === 0 && r.u32max === U32_MAX_N && r.s32min === S32_MIN && r.s32max === S32_MAX) {
    return; // nothing known: nothing to deduce
  }
  const L = 0xffffffffn;
  // the first step (__update_reg64_bounds) brings smin up to vv >= 0 and smax down to vv|vm <= 2^32-1,
  // so any smin <= 2^32-1 and smax >= 0 (S64_MIN/S64_MAX after AND/OR/XOR/shifts) lands in range
  if (fastPaths.on && r.vm <= L && r.vv <= L && r.umax <= L && r.umin <= L && r.smin <= L && r.smax >= 0n) {
    syncBounds32(r, Number(r.vv), Number(r.vm), Number(r.umin), Number(r.umax),
      r.smin <= 0n ? 0 : Number(r.smin), r.smax >= L ? U32_MAX_N : Number(r.smax));
    return;
  }
  updateRegBounds(r);
  deduce32(r);
  deduce64(r);
  deduce32(r);
  deduce64(r);
  boundOffset(r);
  updateRegBounds(r);
}

/** The smallest tnum holding [min, max] (tnumRange) of 32-bit values, as [value, mask] numbers. */
function range32(min: number, max: number): number {
  const chi = (min ^ max) >>> 0;
  return chi === 0 ? 0 : 0xffffffff >>> Math.clz32(chi);
}

/**
 * regBoundsSync() of a register whose tnum and 64-bit bounds all lie in [0, 2^32) (what packet
 * bytes, lengths and masked values are), in numbers: every step of the general sequence keeps
 * them there, and its 64-bit arithmetic reduces to 32-bit (upper halves zero, no sign bit).
 * The 64-bit inputs come as numbers (the scalar ALU's fast path passes its results without
 * making BigInts of them); r's 32-bit fields are the 32-bit inputs, and r's 64-bit fields are
 * read only to keep the BigInts whose values did not change.
 */
export function syncBounds32(r: Reg, vv: number, vm: number, umin: number, umax: number, smin: number, smax: number): void {
  let s32min = r.s32min, s32max = r.s32max, u32min = r.u32min, u32max = r.u32max;
  for (let pass = 0; pass < 2; pass++) {
    if (pass === 1) {
      // __reg_bound_offset(): tnum of [umin, umax], then of [u32min, u32max] (the upper half is 0)
      let d = range32(umin, umax);
      let m = vm & d, v = ((vv | (umin & ~d)) & ~m) >>> 0;
      m >>>= 0;
      d = range32(u32min, u32max);
      const m2 = (m & d) >>> 0;
      vv = ((v | (u32min & ~d)) & ~m2) >>> 0;
      vm = m2;
    }
    // __update_reg32_bounds + __update_reg64_bounds
    const sMin32 = vv | (vm & 0x80000000), sMax32 = vv | (vm & 0x7fffffff), hi = (vv | vm) >>> 0;
    if (sMin32 > s32min) s32min = sMin32;
    if (sMax32 < s32max) s32max = sMax32;
    if (vv > u32min) u32min = vv;
    if (hi < u32max) u32max = hi;
    if (vv > smin) smin = vv;
    if (hi < smax) smax = hi;
    if (vv > umin) umin = vv;
    if (hi < umax) umax = hi;
    if (pass === 1) break;
    for (let k = 0; k < 2; k++) {
      // __reg32_deduce_bounds(): both 64-bit ranges sit in one upper half (0)
      if (umin > u32min) u32min = umin;
      if (umax < u32max) u32max = umax;
      if ((umin | 0) <= (umax | 0)) {
        if ((umin | 0) > s32min) s32min = umin | 0;
        if ((umax | 0) < s32max) s32max = umax | 0;
      }
      if ((smin | 0) <= (smax | 0)) {
        if ((smin | 0) > s32min) s32min = smin | 0;
        if ((smax | 0) < s32max) s32max = smax | 0;
      }
      if (smin <= smax) {
        if (smin > u32min) u32min = smin;
        if (smax < u32max) u32max = smax;
      }
      if ((u32min | 0) <= (u32max | 0)) {
        if ((u32min | 0) > s32min) s32min = u32min | 0;
        if ((u32max | 0) < s32max) s32max = u32max | 0;
      }
      if (s32min >>> 0 <= s32max >>> 0) {
        if (s32min >>> 0 > u32min) u32min = s32min >>> 0;
        if (s32max >>> 0 < u32max) u32max = s32max >>> 0;
      }
      // __reg64_deduce_bounds(): signed and unsigned agree below 2^63; the 32-bit bounds fill the lower half
      if (umin <= umax) {
        if (umin > smin) smin = umin;
        if (umax < smax) smax = umax;
      }
      if (smin <= smax) {
        if (smin > umin) umin = smin;
        if (smax < umax) umax = smax;
      }
      if (u32min > umin) umin = u32min;
      if (u32max < umax) umax = u32max;
      if (u32min > smin) smin = u32min;
      if (u32max < smax) smax = u32max;
    }
  }
  // the fields stay BigInt (the general path's representation): a new one only where the value changed
  if (vv !== Number(r.vv)) r.vv = BigInt(vv);
  if (vm !== Number(r.vm)) r.vm = BigInt(vm);
  if (umin !== Number(r.umin)) r.umin = BigInt(umin);
  if (umax !== Number(r.umax)) r.umax = BigInt(umax);
  if (smin !== Number(r.smin)) r.smin = BigInt(smin);
  if (smax !== Number(r.smax)) r.smax = BigInt(smax);
  r.s32min = s32min;
  r.s32max = s32max;
  r.u32min = u32min;
  r.u32max = u32max;
}

/** True when the bounds are self-contradictory (an infeasible path). */
export function regBoundsInvalid(r: Reg): boolean {
  return r.umin > r.umax || r.smin > r.smax || r.u32min > r.u32max || r.s32min > r.s32max ||
    (r.vv & r.vm) !== 0n;
}

/** Re-derives 32-bit bounds and tnum from a value known to fit in 32 bits (zero extension). */
export function zext32(r: Reg): void {
  r.varOff = tnumSubreg(r.varOff);
  r.umin = BigInt(r.u32min);
  r.umax = BigInt(r.u32max);
  r.smin = r.umin;
  r.smax = r.umax;
  regBoundsSync(r);
}

/** The 64-bit bounds after truncating to `size` bytes (coerce_reg_to_size). */
export function coerceToSize(r: Reg, size: number): void {
  if (size >= 8) return;
  const mask = (1n << BigInt(size * 8)) - 1n;
  const fits = (r.umin & ~mask) === (r.umax & ~mask);
  r.vv &= mask;
  r.vm &= mask;
  if (fits) {
    r.umin &= mask;
    r.umax &= mask;
  } else {
    r.umin = 0n;
    r.umax = mask;
  }
  r.smin = r.umin;
  r.smax = r.umax;
  r.u32min = 0;
  r.u32max = U32_MAX_N;
  r.s32min = S32_MIN;
  r.s32max = S32_MAX;
  regBoundsSync(r);
}

const RANGE_NAMES = ["smin", "smax", "umin", "umax", "smin32", "smax32", "umin32", "umax32"];
const MAX_SAFE_N = BigInt(Number.MAX_SAFE_INTEGER);
/** Scratch for scalarRanges(): each bound's value (a number when it fits in 53 bits), whether it is printed. */
const rangeVal: Array<number | bigint> = new Array<number | bigint>(8).fill(0);
const rangeOmit: boolean[] = new Array<boolean>(8).fill(false);

/** A 64-bit bound as a number when it is exact as one, else itself: equal values get equal (===) forms. */
function boundVal(x: bigint): number | bigint {
  return x <= MAX_SAFE_N && x >= -MAX_SAFE_N ? Number(x) : x;
}

/**
 * print_scalar_ranges(): merged "smin=smin32=0,smax=umax=...=255" list. The kernel merges two
 * bounds when their u64 bit patterns and signs agree, that is when they are the same number.
 */
function scalarRanges(r: Reg): string {
  rangeVal[0] = boundVal(r.smin); rangeOmit[0] = r.smin === S64_MIN;
  rangeVal[1] = boundVal(r.smax); rangeOmit[1] = r.smax === S64_MAX;
  rangeVal[2] = boundVal(r.umin); rangeOmit[2] = r.umin === 0n;
  rangeVal[3] = boundVal(r.umax); rangeOmit[3] = r.umax === U64_MAX;
  rangeVal[4] = r.s32min; rangeOmit[4] = r.s32min === S32_MIN;
  rangeVal[5] = r.s32max; rangeOmit[5] = r.s32max === S32_MAX;
  rangeVal[6] = r.u32min; rangeOmit[6] = r.u32min === 0;
  rangeVal[7] = r.u32max; rangeOmit[7] = r.u32max === U32_MAX_N;
  let out = "";
  for (let i = 0; i < 8; i++) {
    if (rangeOmit[i]) continue;
    const v = rangeVal[i]!;
    let s = out === "" ? RANGE_NAMES[i]! + "=" : "," + RANGE_NAMES[i]! + "=";
    for (let j = i + 2; j < 8; j += 2) {
      if (rangeOmit[j] || rangeVal[j] !== v) continue;
      rangeOmit[j] = true;
      s += RANGE_NAMES[j]! + "=";
    }
    out += s + String(v);
  }
  return out;
}

/** A u64 in hex, without BigInt.toString when it fits in 53 bits. */
function hex64(x: bigint): string {
  return x <= MAX_SAFE_N ? Number(x).toString(16) : x.toString(16);
}

/** print_reg_state() of kernels 6.x: "scalar(...)", "pkt(off=14,r=14)", "fp-8", "42". */
export function regStr(r: Reg): string {
  const t = r.type;
  if ((t === SCALAR_VALUE || t === PTR_TO_STACK) && r.vm === 0n) {
    const pre = t === SCALAR_VALUE ? "" : regTypeStr(t);
    // the value as s64, in numbers when vv < 2^32 (off is a small int: the sum stays exact)
    if (r.vv <= 0xffffffffn) return pre + String(Number(r.vv) + r.off);
    return pre + String(s64(r.vv + BigInt(r.off)));
  }
  let parts = "";
  if (r.id) parts = `id=${r.id}`;
  if (t !== SCALAR_VALUE && r.off !== 0) parts += (parts === "" ? "off=" : ",off=") + r.off;
  if (isPktPointer(t)) {
    parts += (parts === "" ? "r=" : ",r=") + (r.range < 0 ? "0x" + BigInt.asUintN(64, BigInt(r.range)).toString(16) : r.range);
  } else if ((baseType(t) === CONST_PTR_TO_MAP || baseType(t) === PTR_TO_MAP_VALUE) && r.map !== null) {
    parts += (parts === "" ? "ks=" : ",ks=") + r.map.keySize + ",vs=" + r.map.valueSize;
  }
  if (r.vm === 0n) {
    if (r.vv !== 0n) parts += (parts === "" ? "imm=" : ",imm=") + hex64(r.vv);
  } else {
    const ranges = scalarRanges(r);
    if (ranges !== "") parts += parts === "" ? ranges : "," + ranges;
    if (r.vm !== U64_MAX) parts += (parts === "" ? "var_off=(0x" : ",var_off=(0x") + hex64(r.vv) + "; 0x" + hex64(r.vm) + ")";
  }
  return regTypeStr(t) + "(" + parts + ")";
}
