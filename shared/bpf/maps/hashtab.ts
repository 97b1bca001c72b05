// BPF_MAP_TYPE_HASH, PERCPU_HASH, LRU_HASH and LRU_PERCPU_HASH.
// Mirrors kernel/bpf/hashtab.c with its default preallocated element pool.
//
// Buckets: roundup_pow_of_two(max_entries) chains, bucket = jhash(key, seed) &
// (n_buckets - 1); a new element goes to the head of its chain, so iteration
// (BPF_MAP_GET_NEXT_KEY: buckets in order, each chain from its head) matches
// the kernel's order exactly for BPF_F_ZERO_SEED maps. Other maps get a fixed
// seed derived from the map id instead of the kernel's random one, so runs
// are reproducible.
//
// Storage: values in one BpfMemory area, element e at valuesStart +
// e * elemBytes (per-CPU: nCpus slots of round_up(value_size, 8)); keys,
// hashes and chain links in typed arrays. Plain HASH maps own max_entries +
// nCpus elements: as in the kernel, updating an existing key fills the CPU's
// spare ("extra") element and swaps it in, the old element becoming the new
// spare, so a value pointer a program still holds keeps pointing at the old,
// intact value until that CPU replaces another element. Per-CPU maps update
// in place. Deleted elements return to the pool (LIFO).
//
// On a shared BpfMemory (host datapath threads), HASH and PERCPU_HASH keep
// that bookkeeping (buckets, links, hashes, keys, free stack, spares, counts)
// in a table block of the shared memory instead of JS arrays, so that another
// thread can build a view of the same map (HashMap.view). Writers (update and
// delete, from programs or the syscall side, on any thread) take the table's
// spinlock, as the kernel's per-bucket locks serialise them; lookups take no
// lock, as the kernel's RCU readers: a lookup racing with an update finds the
// old or the new element. LRU maps (whose lookups write their lists) keep JS
// state and stay on their owner's thread.
import type { BpfMapAttr, BpfMapBatch, BpfMapEnv } from "./map.ts";
import { E2BIG, EEXIST, EFAULT, EINVAL, ENOENT, ENOMEM, ENOSPC, EOPNOTSUPP, EPERM } from "../../errno.ts";
import {
  BPF_EXIST, BPF_F_NO_COMMON_LRU, BPF_F_NO_PREALLOC, BPF_F_NUMA_NODE, BPF_F_RDONLY_PROG, BPF_F_ZERO_SEED,
  BPF_MAP_TYPE_LRU_HASH, BPF_MAP_TYPE_LRU_PERCPU_HASH, BPF_MAP_TYPE_PERCPU_HASH, BPF_NOEXIST,
} from "../isa/uapi.ts";
import { BpfLru } from "./bpf_lru_list.ts";
import { jhash } from "./jhash.ts";
import {
  BPF_F_ACCESS_MASK, KMALLOC_MAX_SIZE, MapBase, PCPU_MIN_UNIT_SIZE, SIZEOF_BPF_HTAB, SIZEOF_BUCKET, SIZEOF_HTAB_ELEM,
  SIZEOF_POINTER, U32_MAX, allocMapMemory, constructOrNomem, copyBytes, mapFlagsAccessOk, readU32, roundUp8, roundupPowOfTwo, writeU32,
  type MapLayout,
} from "./map_common.ts";

/** Flags a hash map accepts (HTAB_CREATE_FLAG_MASK). */
export const HTAB_CREATE_FLAG_MASK =
  BPF_F_NO_PREALLOC | BPF_F_NO_COMMON_LRU | BPF_F_NUMA_NODE | BPF_F_ACCESS_MASK | BPF_F_ZERO_SEED;
/** Per-CPU bucket-lock counters each hash map allocates (HASHTAB_MAP_LOCK_COUNT). */
const HASHTAB_MAP_LOCK_COUNT = 8;

function isPercpuType(t: number): boolean {
  return t === BPF_MAP_TYPE_PERCPU_HASH || t === BPF_MAP_TYPE_LRU_PERCPU_HASH;
}

function isLruType(t: number): boolean {
  return t === BPF_MAP_TYPE_LRU_HASH || t === BPF_MAP_TYPE_LRU_PERCPU_HASH;
}

/**
 * htab_map_alloc_check(). Returns 0, -EINVAL, -E2BIG, or -EOPNOTSUPP for an LRU map
 * with BPF_F_NO_PREALLOC (the kernel returns its internal ENOTSUPP, 524, there; we
 * never let 524 out).
 */
export function htabMapAllocCheck(attr: BpfMapAttr): number {
  const percpu = isPercpuType(attr.mapType);
  const lru = isLruType(attr.mapType);
  const percpuLru = (attr.mapFlags & BPF_F_NO_COMMON_LRU) !== 0;
  const prealloc = (attr.mapFlags & BPF_F_NO_PREALLOC) === 0;
  const hasNumaNode = (attr.mapFlags & BPF_F_NUMA_NODE) !== 0;
  if ((attr.mapFlags & ~HTAB_CREATE_FLAG_MASK) !== 0 || !mapFlagsAccessOk(attr.mapFlags)) return -EINVAL;
  if (!lru && percpuLru) return -EINVAL;
  if (lru && !prealloc) return -EOPNOTSUPP;
  if (hasNumaNode && (percpu || percpuLru)) return -EINVAL;
  if (attr.maxEntries === 0 || attr.keySize === 0 || attr.valueSize === 0) return -EINVAL;
  // Keeps a whole element kmalloc-able and copyable by the syscall side.
  if (attr.keySize + attr.valueSize >= KMALLOC_MAX_SIZE - SIZEOF_HTAB_ELEM) return -E2BIG;
  if (percpu && roundUp8(attr.valueSize) > PCPU_MIN_UNIT_SIZE) return -E2BIG;
  return 0;
}

/** A fixed per-map seed (the kernel draws get_random_u32()); see the file header. */
function seedFor(id: number): number {
  let h = (id ^ 0x9e3779b9) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

// Words of the shared table header.
const T_LOCK = 0, T_FREE_TOP = 1, T_COUNT = 2, T_N_ELEMS = 3, T_N_BUCKETS = 4, T_POOLED = 5, T_N_EXTRA = 6;
const TABLE_HDR_BYTES = 64;

/** Byte offsets of the arrays in a shared table. */
function tableLayout(nBuckets: number, nElems: number, pooled: number, nExtra: number, keySize: number) {
  const buckets = TABLE_HDR_BYTES;
  const next = buckets + 4 * nBuckets;
  const hashes = next + 4 * nElems;
  const free = hashes + 4 * nElems;
  const extra = free + 4 * pooled;
  const keys = extra + 4 * nExtra;
  return { buckets, next, hashes, free, extra, keys, bytes: keys + nElems * keySize };
}

/** HASH, PERCPU_HASH, LRU_HASH and LRU_PERCPU_HASH maps. */
export class HashMap extends MapBase {
  readonly isPercpu: boolean;
  readonly isLru: boolean;
  readonly nBuckets: number;
  readonly #prealloc: boolean;
  readonly #mask: number;
  readonly #seed: number;
  readonly #nCpus: number;
  /** round_up(value_size, 8): one value slot. */
  readonly #stride: number;
  /** Bytes of one element in the value area. */
  readonly #elemBytes: number;
  /** Chain head per bucket, -1 when empty. */
  readonly #buckets: Int32Array;
  /** Next element in the same chain, -1 at the end. */
  readonly #next: Int32Array;
  readonly #hashes: Uint32Array;
  /** keySize bytes per element. */
  readonly #keys: Uint8Array;
  /** Free elements (non-LRU maps), used as a stack. */
  readonly #free: Int32Array;
  /** Spare element per CPU (plain HASH only). */
  readonly #extra: Int32Array;
  readonly #lru: BpfLru | null;
  /** Lock, free stack top and element count (T_* words): in the shared table, or a private array. */
  readonly #st: Int32Array;
  /** Address of the shared table block, 0 when the bookkeeping is in JS arrays. */
  readonly tableAddr: number;
  readonly #tableBytes: number;

  private constructor(
    env: BpfMapEnv, attr: BpfMapAttr, id: number, layout: MapLayout, mem: [number, number], nElems: number,
    table: { addr: number; bytes: number; isNew: boolean } | null = null,
  ) {
    super(env, attr, id, layout, mem);
    this.isPercpu = isPercpuType(attr.mapType);
    this.isLru = isLruType(attr.mapType);
    this.nBuckets = roundupPowOfTwo(layout.maxEntries);
    this.#prealloc = (attr.mapFlags & BPF_F_NO_PREALLOC) === 0;
    this.#mask = this.nBuckets - 1;
    this.#seed = (attr.mapFlags & BPF_F_ZERO_SEED) !== 0 ? 0 : seedFor(id);
    this.#nCpus = env.nCpus;
    this.#stride = roundUp8(attr.valueSize);
    this.#elemBytes = this.isPercpu ? this.#stride * env.nCpus : this.#stride;
    const hasExtra = !this.isPercpu && !this.isLru;
    const pooled = this.isLru ? 0 : layout.maxEntries;
    const nExtra = hasExtra ? env.nCpus : 0;
    if (table === null) {
      this.tableAddr = 0;
      this.#tableBytes = 0;
      this.#st = new Int32Array(8);
      this.#buckets = new Int32Array(this.nBuckets);
      this.#next = new Int32Array(nElems);
      this.#hashes = new Uint32Array(nElems);
      this.#keys = new Uint8Array(nElems * attr.keySize);
      this.#free = new Int32Array(pooled);
      this.#extra = new Int32Array(nExtra);
    } else {
      const buf = env.mem.memory.buffer, a = table.addr;
      const t = tableLayout(this.nBuckets, nElems, pooled, nExtra, attr.keySize);
      this.tableAddr = a;
      this.#tableBytes = table.bytes;
      this.#st = new Int32Array(buf, a, TABLE_HDR_BYTES >> 2);
      this.#buckets = new Int32Array(buf, a + t.buckets, this.nBuckets);
      this.#next = new Int32Array(buf, a + t.next, nElems);
      this.#hashes = new Uint32Array(buf, a + t.hashes, nElems);
      this.#keys = new Uint8Array(buf, a + t.keys, nElems * attr.keySize);
      this.#free = new Int32Array(buf, a + t.free, pooled);
      this.#extra = new Int32Array(buf, a + t.extra, nExtra);
    }
    if (table === null || table.isNew) {
      const st = this.#st;
      st[T_N_ELEMS] = nElems;
      st[T_N_BUCKETS] = this.nBuckets;
      st[T_POOLED] = pooled;
      st[T_N_EXTRA] = nExtra;
      this.#buckets.fill(-1);
      this.#next.fill(-1);
      // Stack top is the end: element 0 is handed out first.
      for (let i = 0; i < pooled; i++) this.#free[i] = pooled - 1 - i;
      st[T_FREE_TOP] = pooled;
      for (let c = 0; c < nExtra; c++) this.#extra[c] = layout.maxEntries + c;
      st[T_COUNT] = 0;
    }
    const nLists = (attr.mapFlags & BPF_F_NO_COMMON_LRU) !== 0 ? env.nCpus : 1;
    this.#lru = this.isLru ? new BpfLru(nElems, nLists) : null;
  }

  /**
   * htab_map_alloc_check() + htab_map_alloc() with a preallocated pool.
   * Returns the map, -EINVAL, -E2BIG, -EOPNOTSUPP or -ENOMEM.
   * @see htab_map_alloc() in kernel/bpf/hashtab.c
   */
  static create(env: BpfMapEnv, attr: BpfMapAttr, id: number): HashMap | number {
    const err = htabMapAllocCheck(attr);
    if (err !== 0) return err;
    const percpu = isPercpuType(attr.mapType);
    const lru = isLruType(attr.mapType);
    let maxEntries = attr.maxEntries;
    if ((attr.mapFlags & BPF_F_NO_COMMON_LRU) !== 0) {
      // Each CPU's list gets the same number (>= 1) of elements.
      maxEntries = Math.ceil(attr.maxEntries / env.nCpus) * env.nCpus;
      if (maxEntries > U32_MAX) maxEntries = Math.floor(attr.maxEntries / env.nCpus) * env.nCpus;
    }
    if (maxEntries > 2 ** 31) return -E2BIG;
    if (roundupPowOfTwo(maxEntries) > Math.floor(U32_MAX / SIZEOF_BUCKET)) return -E2BIG;
    const nElems = maxEntries + (!percpu && !lru ? env.nCpus : 0);
    const stride = roundUp8(attr.valueSize);
    const layout: MapLayout = {
      maxEntries,
      mapFlags: attr.mapFlags,
      userValueSize: percpu ? stride * env.nCpus : attr.valueSize,
      valuesBytes: nElems * stride * (percpu ? env.nCpus : 1),
      valuesAlign: 8,
    };
    if (env.mem.shared && !lru) {
      const pooled = maxEntries, nExtra = percpu ? 0 : env.nCpus;
      const bytes = tableLayout(roundupPowOfTwo(maxEntries), nElems, pooled, nExtra, attr.keySize).bytes;
      let addr = 0;
      try {
        addr = env.mem.alloc(bytes, 64);
      } catch {
        addr = 0;
      }
      if (addr === 0) return -ENOMEM;
      const mem = allocMapMemory(env, layout);
      if (typeof mem === "number") {
        env.mem.free(addr, bytes, 64);
        return mem;
      }
      return new HashMap(env, attr, id, layout, mem, nElems, { addr, bytes, isNew: true });
    }
    const mem = allocMapMemory(env, layout);
    if (typeof mem === "number") return mem;
    return constructOrNomem(env, layout, mem, () => new HashMap(env, attr, id, layout, mem, nElems));
  }

  /**
   * Another thread's handle on an existing HASH or PERCPU_HASH map of a shared memory
   * (thread_view.ts): the same values and table, nothing allocated.
   */
  static view(env: BpfMapEnv, attr: BpfMapAttr, id: number, addr: number, valuesStart: number, valuesEnd: number,
    tableAddr: number): HashMap {
    const percpu = isPercpuType(attr.mapType);
    const stride = roundUp8(attr.valueSize);
    const st = new Int32Array(env.mem.memory.buffer, tableAddr, TABLE_HDR_BYTES >> 2);
    const nElems = st[T_N_ELEMS]!;
    const layout: MapLayout = {
      maxEntries: st[T_POOLED]!, mapFlags: attr.mapFlags, userValueSize: percpu ? stride * env.nCpus : attr.valueSize,
      valuesBytes: valuesEnd - valuesStart, valuesAlign: 8,
    };
    const bytes = tableLayout(st[T_N_BUCKETS]!, nElems, st[T_POOLED]!, st[T_N_EXTRA]!, attr.keySize).bytes;
    return new HashMap(env, attr, id, layout, [addr, valuesStart], nElems, { addr: tableAddr, bytes, isNew: false });
  }

  /** The table's spinlock (writers on a shared table); no-op for a private one. */
  #lock(): void {
    if (this.tableAddr === 0) return;
    const st = this.#st;
    while (Atomics.compareExchange(st, T_LOCK, 0, 1) !== 0) {
      while (Atomics.load(st, T_LOCK) !== 0) { /* spin: the holder runs a few stores */ }
    }
  }

  #unlock(): void {
    if (this.tableAddr !== 0) Atomics.store(this.#st, T_LOCK, 0);
  }

  protected override releaseEntries(): void {
    if (this.tableAddr !== 0) this.env.mem.free(this.tableAddr, this.#tableBytes, 64);
  }

  /** Elements currently in the map. */
  get count(): number {
    return this.#st[T_COUNT]!;
  }

  /**
   * htab_map_mem_usage(): struct bpf_htab, 16-byte buckets, the per-CPU lock counters,
   * then either the whole preallocated pool (elements of 48 + round_up(key_size, 8) +
   * round_up(value_size, 8) bytes, or + 8 for the per-CPU pointer, plus per-CPU values,
   * plus the extra-element pointers of plain hashes) or, with BPF_F_NO_PREALLOC, only
   * the elements in use with their allocator overhead.
   */
  get memBytes(): number {
    const n = this.#nCpus;
    const elemSize = SIZEOF_HTAB_ELEM + roundUp8(this.keySize) + (this.isPercpu ? SIZEOF_POINTER : this.#stride);
    let usage = SIZEOF_BPF_HTAB + SIZEOF_BUCKET * this.nBuckets + 4 * n * HASHTAB_MAP_LOCK_COUNT;
    if (this.#prealloc) {
      const hasExtra = !this.isPercpu && !this.isLru;
      const num = this.maxEntries + (hasExtra ? n : 0);
      usage += elemSize * num;
      if (this.isPercpu) usage += this.#stride * n * num;
      else if (!this.isLru) usage += SIZEOF_POINTER * n;
    } else {
      const llistNode = SIZEOF_POINTER;
      const count = this.#st[T_COUNT]!;
      usage += (elemSize + llistNode) * count;
      if (this.isPercpu) usage += (llistNode + SIZEOF_POINTER) * count + this.#stride * n * count;
    }
    return usage;
  }

  // ---- chains ---------------------------------------------------------------

  #hash(buf: Uint8Array, off: number): number {
    return jhash(buf, off, this.keySize, this.#seed);
  }

  /** Element holding the key at buf[off..], or -1 (lookup_elem_raw()). */
  #find(buf: Uint8Array, off: number, hash: number): number {
    const ks = this.keySize;
    const keys = this.#keys;
    for (let e = this.#buckets[hash & this.#mask]!; e >= 0; e = this.#next[e]!) {
      if (this.#hashes[e] !== hash) continue;
      const k = e * ks;
      let i = 0;
      while (i < ks && keys[k + i] === buf[off + i]) i++;
      if (i === ks) return e;
    }
    return -1;
  }

  #linkHead(e: number): void {
    const b = this.#hashes[e]! & this.#mask;
    this.#next[e] = this.#buckets[b]!;
    this.#buckets[b] = e;
  }

  #unlink(e: number): void {
    const b = this.#hashes[e]! & this.#mask;
    let p = this.#buckets[b]!;
    if (p === e) {
      this.#buckets[b] = this.#next[e]!;
    } else {
      while (p >= 0 && this.#next[p] !== e) p = this.#next[p]!;
      if (p >= 0) this.#next[p] = this.#next[e]!;
    }
    this.#next[e] = -1;
  }

  /** Copies the key into element e and records its hash. */
  #setKey(e: number, buf: Uint8Array, off: number, hash: number): void {
    copyBytes(this.#keys, e * this.keySize, buf, off, this.keySize);
    this.#hashes[e] = hash;
  }

  #valueAddr(e: number, cpu: number): number {
    return this.valuesStart + e * this.#elemBytes + (this.isPercpu ? cpu * this.#stride : 0);
  }

  /**
   * Fills a per-CPU element. From the syscall side every CPU gets its slice; from a
   * program only the current CPU's slot is written and, for a new element, the other
   * CPUs' slots are zeroed (pcpu_init_value()).
   */
  #writePercpu(e: number, vbuf: Uint8Array, voff: number, allCpus: boolean, isNew: boolean): void {
    const u8 = this.env.mem.u8;
    const base = this.valuesStart + e * this.#elemBytes;
    const stride = this.#stride;
    if (allCpus) {
      for (let c = 0; c < this.#nCpus; c++) copyBytes(u8, base + c * stride, vbuf, voff + c * stride, stride);
      return;
    }
    const slot = base + this.env.cpu * stride;
    if (isNew) {
      u8.fill(0, base, slot);
      u8.fill(0, slot + this.valueSize, base + this.#elemBytes);
    }
    copyBytes(u8, slot, vbuf, voff, this.valueSize);
  }

  /**
   * An element for a new LRU entry (prealloc_lru_pop()): a free one of this CPU's list,
   * else the list's least recently used element, evicted from the table. -1 if none.
   */
  #lruPop(lru: BpfLru): number {
    const list = lru.listOf(this.env.cpu);
    let e = lru.popFree(list);
    if (e >= 0) return e;
    e = lru.victim(list);
    if (e < 0) return -1;
    lru.remove(e);
    this.#unlink(e);
    this.#st[T_COUNT]!--;
    return e;
  }

  // ---- operations shared by both sides ---------------------------------------

  #update(kbuf: Uint8Array, koff: number, vbuf: Uint8Array, voff: number, flags: number, allCpus: boolean): number {
    // No value here has a bpf_spin_lock, so BPF_F_LOCK is as invalid as unknown bits.
    if (!(flags === 0 || flags === BPF_NOEXIST || flags === BPF_EXIST)) return -EINVAL;
    this.#lock();
    const r = this.#updateLocked(kbuf, koff, vbuf, voff, flags, allCpus);
    this.#unlock();
    return r;
  }

  #updateLocked(kbuf: Uint8Array, koff: number, vbuf: Uint8Array, voff: number, flags: number, allCpus: boolean): number {
    if (this.#lru !== null) {
      return this.isPercpu ? this.#updateLruPercpu(this.#lru, kbuf, koff, vbuf, voff, flags, allCpus)
        : this.#updateLru(this.#lru, kbuf, koff, vbuf, voff, flags);
    }
    const hash = this.#hash(kbuf, koff);
    const old = this.#find(kbuf, koff, hash);
    if (old >= 0 && flags === BPF_NOEXIST) return -EEXIST;
    if (old < 0 && flags === BPF_EXIST) return -ENOENT;
    if (this.isPercpu) {
      if (old >= 0) {
        this.#writePercpu(old, vbuf, voff, allCpus, false);
        return 0;
      }
      const st = this.#st;
      if (st[T_FREE_TOP] === 0) return -E2BIG;
      const e = this.#free[--st[T_FREE_TOP]!]!;
      this.#setKey(e, kbuf, koff, hash);
      this.#writePercpu(e, vbuf, voff, allCpus, true);
      this.#linkHead(e);
      st[T_COUNT]!++;
      return 0;
    }
    let e: number;
    if (old >= 0) {
      // Swap with this CPU's spare: the old element (and any pointer to it) stays intact.
      const cpu = this.env.cpu;
      e = this.#extra[cpu]!;
      this.#extra[cpu] = old;
    } else {
      const st = this.#st;
      if (st[T_FREE_TOP] === 0) return -E2BIG;
      e = this.#free[--st[T_FREE_TOP]!]!;
    }
    this.#setKey(e, kbuf, koff, hash);
    copyBytes(this.env.mem.u8, this.#valueAddr(e, 0), vbuf, voff, this.valueSize);
    // New element first at the chain head, then the old one leaves (concurrent readers
    // in the kernel always find one of the two).
    this.#linkHead(e);
    if (old >= 0) this.#unlink(old);
    else this.#st[T_COUNT]!++;
    return 0;
  }

  /** htab_lru_map_update_elem(): pops (maybe evicting) before it checks the flags. */
  #updateLru(lru: BpfLru, kbuf: Uint8Array, koff: number, vbuf: Uint8Array, voff: number, flags: number): number {
    const hash = this.#hash(kbuf, koff);
    const e = this.#lruPop(lru);
    if (e < 0) return -ENOMEM;
    this.#setKey(e, kbuf, koff, hash);
    copyBytes(this.env.mem.u8, this.#valueAddr(e, 0), vbuf, voff, this.valueSize);
    // Search with the copied key: the caller's key bytes may have been overwritten.
    const old = this.#find(this.#keys, e * this.keySize, hash);
    if ((old >= 0 && flags === BPF_NOEXIST) || (old < 0 && flags === BPF_EXIST)) {
      lru.pushFree(e);
      return old >= 0 ? -EEXIST : -ENOENT;
    }
    this.#linkHead(e);
    lru.addHead(e);
    if (old >= 0) {
      this.#unlink(old);
      lru.remove(old);
      lru.pushFree(old);
    } else {
      this.#st[T_COUNT]!++;
    }
    return 0;
  }

  /** __htab_lru_percpu_map_update_elem(): existing elements are updated in place. */
  #updateLruPercpu(
    lru: BpfLru, kbuf: Uint8Array, koff: number, vbuf: Uint8Array, voff: number, flags: number, allCpus: boolean,
  ): number {
    const hash = this.#hash(kbuf, koff);
    let e = -1;
    if (flags !== BPF_EXIST) {
      e = this.#lruPop(lru);
      if (e < 0) return -ENOMEM;
      this.#setKey(e, kbuf, koff, hash);
    }
    const old = e >= 0 ? this.#find(this.#keys, e * this.keySize, hash) : this.#find(kbuf, koff, hash);
    if ((old >= 0 && flags === BPF_NOEXIST) || (old < 0 && flags === BPF_EXIST)) {
      if (e >= 0) lru.pushFree(e);
      return old >= 0 ? -EEXIST : -ENOENT;
    }
    if (old >= 0) {
      lru.touch(old);
      this.#writePercpu(old, vbuf, voff, allCpus, false);
      if (e >= 0) lru.pushFree(e);
      return 0;
    }
    this.#writePercpu(e, vbuf, voff, allCpus, true);
    this.#linkHead(e);
    lru.addHead(e);
    this.#st[T_COUNT]!++;
    return 0;
  }

  #delete(buf: Uint8Array, off: number): number {
    this.#lock();
    const e = this.#find(buf, off, this.#hash(buf, off));
    if (e < 0) {
      this.#unlock();
      return -ENOENT;
    }
    this.#remove(e);
    this.#unlock();
    return 0;
  }

  /** Unlinks element e and returns it to the pool or the LRU free list (the lock held). */
  #remove(e: number): void {
    this.#unlink(e);
    if (this.#lru !== null) {
      this.#lru.remove(e);
      this.#lru.pushFree(e);
    } else {
      this.#free[this.#st[T_FREE_TOP]!++] = e;
    }
    this.#st[T_COUNT]!--;
  }

  // ---- program side ------------------------------------------------------------

  /**
   * bpf_map_lookup_elem(): the value address (this CPU's slot for per-CPU maps) or 0.
   * LRU maps mark the element as just used.
   * @see htab_map_lookup_elem(), htab_lru_map_lookup_elem(), htab_percpu_map_lookup_elem()
   */
  lookupElem(keyAddr: number): number {
    const u8 = this.env.mem.u8;
    const e = this.#find(u8, keyAddr, this.#hash(u8, keyAddr));
    if (e < 0) return 0;
    if (this.#lru !== null) this.#lru.touch(e);
    return this.#valueAddr(e, this.env.cpu);
  }

  /**
   * bpf_map_update_elem(). Returns 0, -EINVAL (flags), -EEXIST, -ENOENT, -E2BIG (no free
   * element; LRU maps evict instead), -ENOMEM, or -EPERM on a BPF_F_RDONLY_PROG map
   * (a backstop: the verifier rejects such programs).
   * @see htab_map_update_elem() and its per-CPU and LRU variants
   */
  updateElem(keyAddr: number, valueAddr: number, flags: number): number {
    if ((this.mapFlags & BPF_F_RDONLY_PROG) !== 0) return -EPERM;
    const u8 = this.env.mem.u8;
    return this.#update(u8, keyAddr, u8, valueAddr, flags, false);
  }

  /** bpf_map_delete_elem(). Returns 0, -ENOENT, or -EPERM (BPF_F_RDONLY_PROG backstop). */
  deleteElem(keyAddr: number): number {
    if ((this.mapFlags & BPF_F_RDONLY_PROG) !== 0) return -EPERM;
    return this.#delete(this.env.mem.u8, keyAddr);
  }

  // ---- syscall side -------------------------------------------------------------

  /** Copies value_size bytes, or every CPU's round_up(value_size, 8) slot. LRU order is untouched. */
  protected sysLookupElem(key: Uint8Array, value: Uint8Array): number {
    const e = this.#find(key, 0, this.#hash(key, 0));
    if (e < 0) return -ENOENT;
    copyBytes(value, 0, this.env.mem.u8, this.#valueAddr(e, 0), this.isPercpu ? this.#elemBytes : this.valueSize);
    return 0;
  }

  protected sysUpdateElem(key: Uint8Array, value: Uint8Array, flags: number): number {
    return this.#update(key, 0, value, 0, flags, true);
  }

  protected sysDeleteElem(key: Uint8Array): number {
    return this.#delete(key, 0);
  }

  /**
   * htab_map_get_next_key(): after a known key comes the next one in its chain, then
   * the first of the following buckets; no key or an unknown key restarts at the first.
   */
  protected sysGetNextKeyElem(key: Uint8Array | null, next: Uint8Array): number {
    let i = 0;
    if (key !== null) {
      const hash = this.#hash(key, 0);
      const e = this.#find(key, 0, hash);
      if (e >= 0) {
        const n = this.#next[e]!;
        if (n >= 0) {
          copyBytes(next, 0, this.#keys, n * this.keySize, this.keySize);
          return 0;
        }
        i = (hash & this.#mask) + 1;
      }
    }
    for (; i < this.nBuckets; i++) {
      const e = this.#buckets[i]!;
      if (e >= 0) {
        copyBytes(next, 0, this.#keys, e * this.keySize, this.keySize);
        return 0;
      }
    }
    return -ENOENT;
  }

  // ---- BPF_MAP_*_BATCH -------------------------------------------------------------

  protected override lookupBatchOp(b: BpfMapBatch): number {
    return this.#lookupBatch(b, false);
  }
  protected override lookupAndDeleteBatchOp(b: BpfMapBatch): number {
    return this.#lookupBatch(b, true);
  }
  protected override updateBatchOp(b: BpfMapBatch): number {
    return this.genericUpdateBatch(b);
  }
  protected override deleteBatchOp(b: BpfMapBatch): number {
    return this.genericDeleteBatch(b);
  }

  /**
   * __htab_map_lookup_and_delete_batch(): in_batch and out_batch are a u32 bucket index;
   * whole buckets are copied (each chain from its head, the get_next_key order) while
   * they fit in `count`. A first bucket larger than `count` is -ENOSPC (nothing copied);
   * a later one ends the call with 0 and out_batch naming it; passing the last bucket is
   * -ENOENT with what was copied. Values are copied without touching LRU order; with
   * `del` the bucket's elements are then deleted.
   */
  #lookupBatch(b: BpfMapBatch, del: boolean): number {
    if (b.elemFlags !== 0) return -EINVAL; // BPF_F_LOCK needs a bpf_spin_lock in the value
    if (b.flags !== 0) return -EINVAL;
    const max = b.count;
    if (max === 0) return 0;
    b.count = 0;
    let batch = 0;
    if (b.inBatch !== null) {
      if (b.inBatch.length < 4) return -EFAULT;
      batch = readU32(b.inBatch, 0);
    }
    if (batch >= this.nBuckets) return -ENOENT;
    const ks = this.keySize, vs = this.userValueSize;
    const valueBytes = this.isPercpu ? this.#elemBytes : this.valueSize;
    const u8 = this.env.mem.u8;
    let total = 0, ret = 0;
    if (del) this.#lock();
    for (;;) {
      let cnt = 0;
      for (let e = this.#buckets[batch]!; e >= 0; e = this.#next[e]!) cnt++;
      if (cnt > max - total) {
        if (total === 0) ret = -ENOSPC;
        break;
      }
      if (cnt > 0) {
        if (b.keys.length < (total + cnt) * ks || b.values.length < (total + cnt) * vs) {
          if (del) this.#unlock();
          return -EFAULT;
        }
        let i = total;
        for (let e = this.#buckets[batch]!; e >= 0; e = this.#next[e]!, i++) {
          copyBytes(b.keys, i * ks, this.#keys, e * ks, ks);
          copyBytes(b.values, i * vs, u8, this.#valueAddr(e, 0), valueBytes);
        }
        if (del) for (let e = this.#buckets[batch]!; e >= 0; e = this.#buckets[batch]!) this.#remove(e);
        total += cnt;
      }
      batch++;
      if (batch >= this.nBuckets) {
        ret = -ENOENT;
        break;
      }
    }
    if (del) this.#unlock();
    if (b.outBatch.length < 4) return -EFAULT;
    writeU32(b.outBatch, 0, batch);
    b.outWritten = true;
    b.count = total;
    return ret;
  }

  /** LRU order of the list `cpu` allocates from, as keys' element indexes (tests, dumps). */
  lruOrder(cpu: number): number[] {
    return this.#lru === null ? [] : this.#lru.order(this.#lru.listOf(cpu));
  }
}
