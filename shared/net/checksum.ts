// Internet checksum (RFC 1071) over (buf, off, len), as ip_compute_csum().

/** Ones'-complement sum of 16-bit big-endian words, folded, not inverted. */
export function csumPartial(buf: Uint8Array, off: number, len: number, seed = 0): number {
  let sum = seed;
  let i = off;
  const end = off + len;
  for (; i + 1 < end; i += 2) sum += (buf[i]! << 8) | buf[i + 1]!;
  if (i < end) sum += buf[i]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/** Final checksum value to store in a header. */
export function csumFold(sum: number): number {
  return ~sum & 0xffff;
}
