// The interface every map type implements, shaped after struct bpf_map_ops
// (include/linux/bpf.h): program-side ops work on addresses in BpfMemory and
// return addresses or -errno; syscall-side ops (BPF_MAP_*_ELEM) work on JS
// byte arrays at the API edge and return 0 or -errno. Neither side throws.
import type { BpfMemory } from "../runtime/memory.ts";

/** bpf_attr for BPF_MAP_CREATE (the fields we model). */
export interface BpfMapAttr {
  mapType: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  mapFlags: number;
  name: string;
  /** Device the map is offloaded to (map_ifindex); 0 or absent for a host map. */
  mapIfindex?: number;
  /** For map-in-map types (unused for now) and BTF ids, kept for show/dump. */
  btfKeyTypeId?: number;
  btfValueTypeId?: number;
}

/** What a map needs from its environment (the emulated kernel it lives in). */
export interface BpfMapEnv {
  readonly mem: BpfMemory;
  /** Number of possible CPUs (per-CPU maps keep one value per CPU). */
  readonly nCpus: number;
  /** CPU the running program is on (per-CPU maps resolve values for it). */
  cpu: number;
  /** Resolves a program fd given to a PROG_ARRAY update; null when unknown or of the wrong type. */
  progByFd(fd: number): unknown | null;
  /** The program with this id as the running thread knows it (bpf_tail_call() targets); null when none. */
  progById(id: number): unknown | null;
  /** bpf_prog_inc(): a map slot holds the program (PROG_ARRAY); absent where nothing is reference counted. */
  progGet?(prog: unknown): void;
  /** bpf_prog_put(): the slot let go of it; the program goes with its last reference. */
  progPut?(prog: unknown): void;
  /** True when a netdev with this ifindex exists (DEVMAP updates). */
  hasIfindex(ifindex: number): boolean;
}

/**
 * The `batch` part of bpf_attr for BPF_MAP_*_BATCH, with the user buffers as byte
 * arrays. The op writes `count` (elements done) and `outBatch` as the kernel writes
 * them back to user memory; a buffer too short for what the op copies is -EFAULT.
 */
export interface BpfMapBatch {
  /** in_batch: where to resume (null for the first call); a key (generic ops) or a u32 bucket (hash maps). */
  inBatch: Uint8Array | null;
  /** out_batch: where the next call resumes. */
  outBatch: Uint8Array;
  /** Set by the op when it wrote out_batch (the kernel leaves it alone on some paths). */
  outWritten?: boolean;
  /** keys and values: `count` elements of key_size and of the syscall-side value size. */
  keys: Uint8Array;
  values: Uint8Array;
  /** In: elements the buffers hold (to process); out: elements done. */
  count: number;
  elemFlags: number;
  flags: number;
}

export interface BpfMap {
  readonly id: number;
  readonly mapType: number;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly mapFlags: number;
  readonly name: string;
  /** Address that stands for the map in a register (CONST_PTR_TO_MAP); never a readable region. */
  readonly addr: number;
  /** Start and end of the value area programs may touch ([start, end)), for runtime bounds checks. */
  readonly valuesStart: number;
  readonly valuesEnd: number;
  /** Value size as seen by the syscall side (per-CPU: nCpus * round_up(valueSize, 8)). */
  readonly userValueSize: number;
  /** Bytes charged for this map (memlock accounting, quotas). */
  readonly memBytes: number;
  /** Set by BPF_MAP_FREEZE: syscall-side writes return -EPERM. */
  frozen: boolean;

  // Program side (BPF helpers). Keys and values are addresses in BpfMemory.
  /** Returns the value address for the current CPU, or 0 when absent (also for types programs cannot look up). */
  lookupElem(keyAddr: number): number;
  /** Returns 0 or -errno (-EEXIST, -ENOENT, -E2BIG, -EINVAL, -EPERM...). */
  updateElem(keyAddr: number, valueAddr: number, flags: number): number;
  /** Returns 0 or -errno. */
  deleteElem(keyAddr: number): number;

  // Syscall side (BPF_MAP_LOOKUP_ELEM and friends).
  /** Fills `value` (userValueSize bytes). Returns 0 or -errno. */
  sysLookup(key: Uint8Array, value: Uint8Array): number;
  sysUpdate(key: Uint8Array, value: Uint8Array, flags: number): number;
  sysDelete(key: Uint8Array): number;
  /** BPF_MAP_GET_NEXT_KEY; `key` null means "first key". Fills `next`. Returns 0, -ENOENT at the end. */
  sysGetNextKey(key: Uint8Array | null, next: Uint8Array): number;

  /**
   * BPF_MAP_LOOKUP_BATCH (del false) and BPF_MAP_LOOKUP_AND_DELETE_BATCH (del true), with
   * bpf_map_do_batch()'s permission checks. Returns 0, -ENOENT once the walk reached the
   * end (with the elements copied so far in b.count), or -errno; -EOPNOTSUPP for a type
   * without the op (the kernel's internal ENOTSUPP).
   */
  sysLookupBatch(b: BpfMapBatch, del: boolean): number;
  /** BPF_MAP_UPDATE_BATCH: b.count elements from keys/values; stops at the first error (b.count = done). */
  sysUpdateBatch(b: BpfMapBatch): number;
  /** BPF_MAP_DELETE_BATCH: b.count keys; stops at the first error (b.count = done). */
  sysDeleteBatch(b: BpfMapBatch): number;

  /** Releases its memory; the map is unusable afterwards. */
  free(): void;
}

/**
 * What the verifier reads of a map: its attributes, never its memory. A verifier
 * worker gets these as plain data (one object per map, so identity still means
 * "same map" in state comparisons).
 */
export type BpfMapInfo = Pick<BpfMap, "id" | "mapType" | "keySize" | "valueSize" | "maxEntries" | "mapFlags" | "name">;
