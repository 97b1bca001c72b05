// 64-bit integer arithmetic on (lo, hi) int32 pairs, without BigInt and
// without allocation: results land in the exported scratch pair.
// Semantics per RFC 9669 §4.1 (unsigned div/mod; signed sdiv/smod truncate
// toward zero; division by zero yields 0, modulo by zero leaves dst).

/** Result of the last operation: low and high 32 bits. */
export const res = new Int32Array(2);

const TWO32 = 4294967296;

/** Low 64 bits of a * b. */
export function mul64(alo: number, ahi: number, blo: number, bhi: number): void {
  const a0 = alo & 0xffff, a1 = alo >>> 16, b0 = blo & 0xffff, b1 = blo >>> 16;
  const p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
  const mid = (p00 >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
  const hi32 = p11 + (p01 >>> 16) + (p10 >>> 16) + (mid >>> 16);
  res[0] = (mid << 16) | (p00 & 0xffff);
  res[1] = (hi32 + Math.imul(alo, bhi) + Math.imul(ahi, blo)) | 0;
}

/** Unsigned 64-bit quotient (which = 0) or remainder (which = 1) of n / d, d != 0. */
export function udivmod64(nlo: number, nhi: number, dlo: number, dhi: number, which: number): void {
  const nh = nhi >>> 0, dh = dhi >>> 0;
  if (nh < 0x200000 && dh < 0x200000) {
    // Both below 2^53: exact in doubles after a correction step.
    const n = nh * TWO32 + (nlo >>> 0), d = dh * TWO32 + (dlo >>> 0);
    let q = Math.floor(n / d);
    let r = n - q * d;
    if (r < 0) {
      q -= 1;
      r += d;
    } else if (r >= d) {
      q += 1;
      r -= d;
    }
    const v = which === 0 ? q : r;
    res[0] = v % TWO32 | 0;
    res[1] = Math.floor(v / TWO32) | 0;
    return;
  }
  // Shift-subtract long division, 64 steps.
  let qlo = 0, qhi = 0, rlo = 0, rhi = 0;
  for (let i = 63; i >= 0; i--) {
    // r = (r << 1) | bit i of n
    rhi = (rhi << 1) | (rlo >>> 31);
    const bit = i >= 32 ? (nhi >>> (i - 32)) & 1 : (nlo >>> i) & 1;
    rlo = (rlo << 1) | bit;
    // if r >= d: r -= d, set q bit
    const rh = rhi >>> 0, dhu = dhi >>> 0;
    if (rh > dhu || (rh === dhu && rlo >>> 0 >= dlo >>> 0)) {
      const borrow = rlo >>> 0 < dlo >>> 0 ? 1 : 0;
      rlo = (rlo - dlo) | 0;
      rhi = (rhi - dhi - borrow) | 0;
      if (i >= 32) qhi |= 1 << (i - 32);
      else qlo |= 1 << i;
    }
  }
  res[0] = which === 0 ? qlo : rlo;
  res[1] = which === 0 ? qhi : rhi;
}

/** Signed 64-bit quotient (which = 0) or remainder (which = 1), d != 0. INT64_MIN / -1 wraps. */
export function sdivmod64(nlo: number, nhi: number, dlo: number, dhi: number, which: number): void {
  const nneg = nhi < 0, dneg = dhi < 0;
  let alo = nlo, ahi = nhi, blo = dlo, bhi = dhi;
  if (nneg) {
    alo = -nlo | 0;
    ahi = (~nhi + (nlo === 0 ? 1 : 0)) | 0;
  }
  if (dneg) {
    blo = -dlo | 0;
    bhi = (~dhi + (dlo === 0 ? 1 : 0)) | 0;
  }
  udivmod64(alo, ahi, blo, bhi, which);
  const neg = which === 0 ? nneg !== dneg : nneg;
  if (neg) {
    const lo = res[0]!, hi = res[1]!;
    res[0] = -lo | 0;
    res[1] = (~hi + (lo === 0 ? 1 : 0)) | 0;
  }
}

/** dst << (n & 63). */
export function lsh64(lo: number, hi: number, n: number): void {
  n &= 63;
  if (n === 0) {
    res[0] = lo;
    res[1] = hi;
  } else if (n < 32) {
    res[1] = (hi << n) | (lo >>> (32 - n));
    res[0] = lo << n;
  } else {
    res[1] = lo << (n - 32);
    res[0] = 0;
  }
}

/** dst >> (n & 63), logical. */
export function rsh64(lo: number, hi: number, n: number): void {
  n &= 63;
  if (n === 0) {
    res[0] = lo;
    res[1] = hi;
  } else if (n < 32) {
    res[0] = (lo >>> n) | (hi << (32 - n));
    res[1] = hi >>> n;
  } else {
    res[0] = hi >>> (n - 32);
    res[1] = 0;
  }
}

/** dst >> (n & 63), arithmetic. */
export function arsh64(lo: number, hi: number, n: number): void {
  n &= 63;
  if (n === 0) {
    res[0] = lo;
    res[1] = hi;
  } else if (n < 32) {
    res[0] = (lo >>> n) | (hi << (32 - n));
    res[1] = hi >> n;
  } else {
    res[0] = hi >> (n - 32);
    res[1] = hi >> 31;
  }
}

export function bswap16(x: number): number {
  return ((x & 0xff) << 8) | ((x >>> 8) & 0xff);
}

export function bswap32(x: number): number {
  return ((x & 0xff) << 24) | ((x & 0xff00) << 8) | ((x >>> 8) & 0xff00) | (x >>> 24);
}

/** Unsigned 64-bit a > b. */
export function ugt64(alo: number, ahi: number, blo: number, bhi: number): boolean {
  return ahi >>> 0 > bhi >>> 0 || (ahi === bhi && alo >>> 0 > blo >>> 0);
}

/** Signed 64-bit a > b. */
export function sgt64(alo: number, ahi: number, blo: number, bhi: number): boolean {
  return ahi > bhi || (ahi === bhi && alo >>> 0 > blo >>> 0);
}
