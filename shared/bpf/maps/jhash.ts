// Bob Jenkins' lookup3 hash, the function hash maps use to pick a bucket.
// Mirrors include/linux/jhash.h (jhash(), and jhash2(), which gives the same
// result on little-endian hosts for keys whose length is a multiple of 4).
// Pure integer arithmetic: no allocation, safe on the per-packet path.

/** Arbitrary start value of the lookup3 state (JHASH_INITVAL). */
export const JHASH_INITVAL = 0xdeadbeef;

function rol32(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/**
 * Hashes `len` bytes of `buf` from `off` with seed `initval`.
 * Returns an unsigned 32-bit hash.
 * @see jhash() in include/linux/jhash.h
 */
export function jhash(buf: Uint8Array, off: number, len: number, initval: number): number {
  let a = (JHASH_INITVAL + len + initval) | 0;
  let b = a;
  let c = a;
  let p = off;
  let n = len;
  while (n > 12) {
    a = (a + (buf[p]! | (buf[p + 1]! << 8) | (buf[p + 2]! << 16) | (buf[p + 3]! << 24))) | 0;
    b = (b + (buf[p + 4]! | (buf[p + 5]! << 8) | (buf[p + 6]! << 16) | (buf[p + 7]! << 24))) | 0;
    c = (c + (buf[p + 8]! | (buf[p + 9]! << 8) | (buf[p + 10]! << 16) | (buf[p + 11]! << 24))) | 0;
    // __jhash_mix
    a = (a - c) | 0; a ^= rol32(c, 4); c = (c + b) | 0;
    b = (b - a) | 0; b ^= rol32(a, 6); a = (a + c) | 0;
    c = (c - b) | 0; c ^= rol32(b, 8); b = (b + a) | 0;
    a = (a - c) | 0; a ^= rol32(c, 16); c = (c + b) | 0;
    b = (b - a) | 0; b ^= rol32(a, 19); a = (a + c) | 0;
    c = (c - b) | 0; c ^= rol32(b, 4); b = (b + a) | 0;
    n -= 12;
    p += 12;
  }
  // A zero-length tail (only possible for an empty key) skips the final mix.
  if (n === 0) return c >>> 0;
  // Tail of 1..12 bytes: bytes 0-3 go into a, 4-7 into b, 8-11 into c, little-endian.
  for (let i = 0; i < n; i++) {
    const v = buf[p + i]! << ((i & 3) * 8);
    if (i < 4) a = (a + v) | 0;
    else if (i < 8) b = (b + v) | 0;
    else c = (c + v) | 0;
  }
  // __jhash_final
  c ^= b; c = (c - rol32(b, 14)) | 0;
  a ^= c; a = (a - rol32(c, 11)) | 0;
  b ^= a; b = (b - rol32(a, 25)) | 0;
  c ^= b; c = (c - rol32(b, 16)) | 0;
  a ^= c; a = (a - rol32(c, 4)) | 0;
  b ^= a; b = (b - rol32(a, 14)) | 0;
  c ^= b; c = (c - rol32(b, 24)) | 0;
  return c >>> 0;
}
