// The DoS limits the RFC's reviewers asked for on XDP offload (a guest must not
// exhaust the host kernel's memory or its control path): offloaded maps and map
// bytes per device, program size, and a command rate. QEMU has no counterpart;
// the token bucket is shaped like QEMU's throttle (util/throttle.c) reduced to
// one bucket.
import { BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_PROG_ARRAY } from "../shared/bpf/isa/uapi.ts";

export interface OffloadQuotas {
  maxMaps: number;
  maxMapBytes: number;
  maxInsns: number;
  /** Control commands per second (token bucket), 0 for no limit. */
  maxCmdsPerSec: number;
}

/** Host-memory estimate of a map, as the quota charges it (values rounded to 8 bytes, hash element overhead). */
export function mapChargeBytes(mapType: number, keySize: number, valueSize: number, maxEntries: number): number {
  const v = Math.ceil(valueSize / 8) * 8;
  if (mapType === BPF_MAP_TYPE_ARRAY || mapType === BPF_MAP_TYPE_PROG_ARRAY) return v * maxEntries;
  return (Math.ceil(keySize / 8) * 8 + v + 48) * maxEntries;
}

/** Command-rate limit: a bucket of maxCmdsPerSec tokens refilled continuously. */
export class CmdRateLimit {
  readonly perSec: number;
  #tokens: number;
  #atMs: number;

  constructor(perSec: number) {
    this.perSec = perSec;
    this.#tokens = perSec;
    this.#atMs = Date.now();
  }

  /** Takes one token; false when the bucket is empty (the command gets EAGAIN). */
  take(): boolean {
    const r = this.perSec;
    if (r <= 0) return true;
    const now = Date.now();
    this.#tokens = Math.min(r, this.#tokens + ((now - this.#atMs) * r) / 1000);
    this.#atMs = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}
