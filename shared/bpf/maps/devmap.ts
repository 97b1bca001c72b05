// BPF_MAP_TYPE_DEVMAP and BPF_MAP_TYPE_DEVMAP_HASH: netdev tables for
// bpf_redirect_map(). Mirrors kernel/bpf/devmap.c.
//
// Values are struct bpf_devmap_val { u32 ifindex; union { int fd; u32 id; }
// bpf_prog; } truncated to value_size (4: ifindex only, 8: with a program run
// on redirected frames). Writers give a program fd; readers (syscall lookups
// and programs, which get a read-only pointer: the map carries
// BPF_F_RDONLY_PROG) see its id. Each entry's value lives in BpfMemory at
// valuesStart + slot * value_size; DEVMAP slots are the keys, DEVMAP_HASH
// slots come from a pool of max_entries with keys hashed by value
// (key & (n_buckets - 1)), chains kept in typed arrays.
import type { BpfMapAttr, BpfMapEnv } from "./map.ts";
import { E2BIG, EEXIST, EINVAL, ENOENT, EOPNOTSUPP } from "../../errno.ts";
import {
  BPF_EXIST, BPF_F_NUMA_NODE, BPF_F_RDONLY, BPF_F_RDONLY_PROG, BPF_F_WRONLY, BPF_MAP_TYPE_DEVMAP_HASH, BPF_NOEXIST,
  BPF_PROG_TYPE_XDP,
} from "../isa/uapi.ts";
import { arrayGetNextKey } from "./array_map.ts";
import {
  MapBase, SIZEOF_BPF_DTAB, SIZEOF_BPF_DTAB_NETDEV, SIZEOF_POINTER, allocMapMemory, constructOrNomem, copyBytes, isErrnoResult, progIdOf,
  progTypeOf, readU32, resolveProgFd, roundupPowOfTwo, writeU32, type MapLayout,
} from "./map_common.ts";

/** Flags a devmap accepts (DEV_CREATE_FLAG_MASK). */
export const DEV_CREATE_FLAG_MASK = BPF_F_NUMA_NODE | BPF_F_RDONLY | BPF_F_WRONLY;

/**
 * dev_map_init_map() checks: key 4 bytes, value 4 or 8 bytes, max_entries > 0, only
 * DEV_CREATE_FLAG_MASK flags; DEVMAP_HASH also max_entries <= 2^31. Returns 0 or -EINVAL.
 */
export function devMapAllocCheck(attr: BpfMapAttr): number {
  if (attr.maxEntries === 0 || attr.keySize !== 4 || (attr.valueSize !== 4 && attr.valueSize !== 8) ||
      (attr.mapFlags & ~DEV_CREATE_FLAG_MASK) !== 0) {
    return -EINVAL;
  }
  if (attr.mapType === BPF_MAP_TYPE_DEVMAP_HASH && attr.maxEntries > 2 ** 31) return -EINVAL;
  return 0;
}

/**
 * Shared by both devmap types: the value area, the programs attached to entries, the
 * entry count and the value parsing of __dev_map_alloc_node().
 */
abstract class DevMapBase extends MapBase {
  protected readonly progs: Array<unknown>;
  /** dtab->items: entries charged in memBytes. */
  protected items: number;

  protected constructor(env: BpfMapEnv, attr: BpfMapAttr, id: number, layout: MapLayout, mem: [number, number]) {
    super(env, attr, id, layout, mem);
    // Holey until written: a huge map costs no JS memory up front; holes read as null.
    this.progs = new Array<unknown>(layout.maxEntries);
    this.items = 0;
  }

  protected static layoutFor(attr: BpfMapAttr): MapLayout {
    return {
      maxEntries: attr.maxEntries,
      // Lookups hand programs a pointer into the entry: keep them read-only.
      mapFlags: attr.mapFlags | BPF_F_RDONLY_PROG,
      userValueSize: attr.valueSize,
      valuesBytes: attr.maxEntries * attr.valueSize,
      valuesAlign: 8,
    };
  }

  /** Program-side updates are rejected by the verifier (only lookup and redirect_map): -EOPNOTSUPP. */
  updateElem(_keyAddr: number, _valueAddr: number, _flags: number): number {
    return -EOPNOTSUPP;
  }

  /** Program-side deletes are rejected by the verifier: -EOPNOTSUPP. */
  deleteElem(_keyAddr: number): number {
    return -EOPNOTSUPP;
  }

  /**
   * Validates a written value as __dev_map_alloc_node() does: the ifindex must name a
   * netdev, a program fd > 0 must name an XDP program. Returns the program (null when
   * the value names none) or -EINVAL (the kernel maps every failure here to EINVAL).
   */
  protected checkValue(value: Uint8Array): unknown {
    const ifindex = readU32(value, 0);
    const fd = this.valueSize === 8 ? readU32(value, 4) | 0 : 0;
    if (ifindex === 0 || !this.env.hasIfindex(ifindex)) return -EINVAL;
    if (fd <= 0) return null;
    const prog = resolveProgFd(this.env, fd);
    if (isErrnoResult(prog)) return -EINVAL;
    const type = progTypeOf(prog);
    return type !== 0 && type !== BPF_PROG_TYPE_XDP ? -EINVAL : prog;
  }

  /** Stores a checked value in `slot`: the ifindex and, for 8-byte values, the program id. */
  protected writeEntry(slot: number, value: Uint8Array, prog: unknown): void {
    const u8 = this.env.mem.u8;
    const at = this.valuesStart + slot * this.valueSize;
    writeU32(u8, at, readU32(value, 0));
    if (this.valueSize === 8) writeU32(u8, at + 4, prog === null ? 0 : progIdOf(prog));
    this.progs[slot] = prog;
  }

  protected clearSlot(slot: number): void {
    this.env.mem.u8.fill(0, this.valuesStart + slot * this.valueSize, this.valuesStart + (slot + 1) * this.valueSize);
    this.progs[slot] = null;
  }

  protected copyOut(slot: number, value: Uint8Array): void {
    copyBytes(value, 0, this.env.mem.u8, this.valuesStart + slot * this.valueSize, this.valueSize);
  }

  protected override releaseEntries(): void {
    this.progs.length = 0;
  }
}

/**
 * True when the JIT may inline bpf_redirect_map() on `m` (kernel: do_misc_fixups() turning the
 * call into a direct call of the map's map_redirect, __bpf_xdp_redirect_map with
 * __dev_map_lookup_elem): a DEVMAP, whose entry is present exactly when its ifindex word in the
 * value area is non-zero (on the owner, as on a view: updates never store ifindex 0).
 */
export function hasGenRedirect(m: unknown): m is DevMap {
  return m instanceof DevMap;
}

/** DEVMAP: slot = key. */
export class DevMap extends DevMapBase {
  readonly #present: Uint8Array;
  /** A view from another thread: an entry is present when its ifindex word is non-zero. */
  readonly #isView: boolean;

  private constructor(env: BpfMapEnv, attr: BpfMapAttr, id: number, layout: MapLayout, mem: [number, number], isView = false) {
    super(env, attr, id, layout, mem);
    this.#present = new Uint8Array(isView ? 0 : layout.maxEntries);
    this.#isView = isView;
  }

  /**
   * Another thread's handle on an existing DEVMAP with 4-byte values (map_view.ts): the owner
   * keeps an entry's value zeroed exactly when the entry is absent (an update with ifindex 0
   * empties it), so presence is read from the shared value word. Nothing is allocated.
   */
  static view(env: BpfMapEnv, attr: BpfMapAttr, id: number, addr: number, valuesStart: number): DevMap {
    const layout = DevMapBase.layoutFor(attr);
    return new DevMap(env, attr, id, layout, [addr, valuesStart], true);
  }

  #isPresent(k: number): boolean {
    return this.#isView ? readU32(this.env.mem.u8, this.valuesStart + k * this.valueSize) !== 0 : this.#present[k] !== 0;
  }

  /** dev_map_alloc(). Returns the map, -EINVAL or -ENOMEM. */
  static create(env: BpfMapEnv, attr: BpfMapAttr, id: number): DevMap | number {
    const err = devMapAllocCheck(attr);
    if (err !== 0) return err;
    const layout = DevMapBase.layoutFor(attr);
    const mem = allocMapMemory(env, layout);
    if (typeof mem === "number") return mem;
    return constructOrNomem(env, layout, mem, () => new DevMap(env, attr, id, layout, mem));
  }

  /** dev_map_mem_usage(): struct bpf_dtab, one pointer per slot, one bpf_dtab_netdev per item. */
  get memBytes(): number {
    return SIZEOF_BPF_DTAB + this.maxEntries * SIZEOF_POINTER + this.items * SIZEOF_BPF_DTAB_NETDEV;
  }

  /** Ifindex stored under `key` for bpf_redirect_map(), 0 when empty or out of range. */
  ifindexAt(key: number): number {
    const k = key >>> 0;
    if (k >= this.maxEntries || !this.#isPresent(k)) return 0;
    return readU32(this.env.mem.u8, this.valuesStart + k * this.valueSize);
  }

  /** Program attached to the entry under `key` (8-byte values), null when none. */
  progAt(key: number): unknown | null {
    const k = key >>> 0;
    return k < this.maxEntries ? (this.progs[k] ?? null) : null;
  }

  /** bpf_map_lookup_elem(): address of the entry's bpf_devmap_val, 0 when empty. @see dev_map_lookup_elem() */
  lookupElem(keyAddr: number): number {
    const k = readU32(this.env.mem.u8, keyAddr);
    if (k >= this.maxEntries || !this.#isPresent(k)) return 0;
    return this.valuesStart + k * this.valueSize;
  }

  protected sysLookupElem(key: Uint8Array, value: Uint8Array): number {
    const k = readU32(key, 0);
    if (k >= this.maxEntries || !this.#isPresent(k)) return -ENOENT;
    this.copyOut(k, value);
    return 0;
  }

  /**
   * Returns 0, -EINVAL (flags, unknown ifindex, bad program, program fd with ifindex 0),
   * -E2BIG (key out of range) or -EEXIST (BPF_NOEXIST). An ifindex of 0 empties the slot.
   * @see __dev_map_update_elem()
   */
  protected sysUpdateElem(key: Uint8Array, value: Uint8Array, flags: number): number {
    // Entries change on the owner's thread only (its program references live there).
    if (this.#isView) return -EOPNOTSUPP;
    if (!Number.isInteger(flags) || flags < 0 || flags > BPF_EXIST) return -EINVAL;
    const k = readU32(key, 0);
    if (k >= this.maxEntries) return -E2BIG;
    if (flags === BPF_NOEXIST) return -EEXIST;
    const wasPresent = this.#present[k] !== 0;
    if (readU32(value, 0) === 0) {
      if (this.valueSize === 8 && (readU32(value, 4) | 0) > 0) return -EINVAL;
      this.clearSlot(k);
      this.#present[k] = 0;
    } else {
      const prog = this.checkValue(value);
      if (isErrnoResult(prog)) return prog;
      this.writeEntry(k, value, prog);
      this.#present[k] = 1;
    }
    // The kernel counts an item whenever the slot was empty, even when the new value
    // empties it again (ifindex 0), and uncounts only on delete; we keep its arithmetic.
    if (!wasPresent) this.items++;
    return 0;
  }

  /** Returns 0 (also for an empty slot) or -EINVAL (key out of range). @see dev_map_delete_elem() */
  protected sysDeleteElem(key: Uint8Array): number {
    if (this.#isView) return -EOPNOTSUPP;
    const k = readU32(key, 0);
    if (k >= this.maxEntries) return -EINVAL;
    if (this.#present[k] !== 0) {
      this.clearSlot(k);
      this.#present[k] = 0;
      this.items--;
    }
    return 0;
  }

  /** Every slot in order, empty or not. @see dev_map_get_next_key() */
  protected sysGetNextKeyElem(key: Uint8Array | null, next: Uint8Array): number {
    return arrayGetNextKey(this.maxEntries, key, next);
  }
}

/** DEVMAP_HASH: any u32 key, at most max_entries of them. */
export class DevMapHash extends DevMapBase {
  readonly nBuckets: number;
  readonly #mask: number;
  readonly #buckets: Int32Array;
  readonly #next: Int32Array;
  readonly #keys: Uint32Array;
  readonly #free: Int32Array;
  #freeTop: number;

  private constructor(env: BpfMapEnv, attr: BpfMapAttr, id: number, layout: MapLayout, mem: [number, number]) {
    super(env, attr, id, layout, mem);
    this.nBuckets = roundupPowOfTwo(layout.maxEntries);
    this.#mask = this.nBuckets - 1;
    this.#buckets = new Int32Array(this.nBuckets).fill(-1);
    this.#next = new Int32Array(layout.maxEntries).fill(-1);
    this.#keys = new Uint32Array(layout.maxEntries);
    this.#free = new Int32Array(layout.maxEntries);
    for (let i = 0; i < layout.maxEntries; i++) this.#free[i] = layout.maxEntries - 1 - i;
    this.#freeTop = layout.maxEntries;
  }

  /** dev_map_alloc() for DEVMAP_HASH. Returns the map, -EINVAL or -ENOMEM. */
  static create(env: BpfMapEnv, attr: BpfMapAttr, id: number): DevMapHash | number {
    const err = devMapAllocCheck(attr);
    if (err !== 0) return err;
    const layout = DevMapBase.layoutFor(attr);
    const mem = allocMapMemory(env, layout);
    if (typeof mem === "number") return mem;
    return constructOrNomem(env, layout, mem, () => new DevMapHash(env, attr, id, layout, mem));
  }

  /** dev_map_mem_usage(): struct bpf_dtab, one hlist_head per bucket, one bpf_dtab_netdev per item. */
  get memBytes(): number {
    return SIZEOF_BPF_DTAB + this.nBuckets * SIZEOF_POINTER + this.items * SIZEOF_BPF_DTAB_NETDEV;
  }

  /** Slot holding `key`, or -1 (__dev_map_hash_lookup_elem()). */
  #find(key: number): number {
    for (let s = this.#buckets[key & this.#mask]!; s >= 0; s = this.#next[s]!) {
      if (this.#keys[s] === key) return s;
    }
    return -1;
  }

  #linkHead(s: number): void {
    const b = this.#keys[s]! & this.#mask;
    this.#next[s] = this.#buckets[b]!;
    this.#buckets[b] = s;
  }

  #unlink(s: number): void {
    const b = this.#keys[s]! & this.#mask;
    let p = this.#buckets[b]!;
    if (p === s) {
      this.#buckets[b] = this.#next[s]!;
    } else {
      while (p >= 0 && this.#next[p] !== s) p = this.#next[p]!;
      if (p >= 0) this.#next[p] = this.#next[s]!;
    }
    this.#next[s] = -1;
  }

  /** Ifindex stored under `key` for bpf_redirect_map(), 0 when absent. */
  ifindexAt(key: number): number {
    const s = this.#find(key >>> 0);
    return s < 0 ? 0 : readU32(this.env.mem.u8, this.valuesStart + s * this.valueSize);
  }

  /** Program attached to the entry under `key`, null when none. */
  progAt(key: number): unknown | null {
    const s = this.#find(key >>> 0);
    return s < 0 ? null : (this.progs[s] ?? null);
  }

  /** bpf_map_lookup_elem(): address of the entry's bpf_devmap_val, 0 when absent. */
  lookupElem(keyAddr: number): number {
    const s = this.#find(readU32(this.env.mem.u8, keyAddr));
    return s < 0 ? 0 : this.valuesStart + s * this.valueSize;
  }

  protected sysLookupElem(key: Uint8Array, value: Uint8Array): number {
    const s = this.#find(readU32(key, 0));
    if (s < 0) return -ENOENT;
    this.copyOut(s, value);
    return 0;
  }

  /**
   * Returns 0, -EINVAL (flags, ifindex 0 or unknown, bad program), -EEXIST (BPF_NOEXIST on
   * a present key) or -E2BIG (max_entries keys present). BPF_EXIST on an absent key inserts,
   * as in the kernel. A replaced entry moves to the head of its chain.
   * @see __dev_map_hash_update_elem()
   */
  protected sysUpdateElem(key: Uint8Array, value: Uint8Array, flags: number): number {
    if (!Number.isInteger(flags) || flags < 0 || flags > BPF_EXIST) return -EINVAL;
    const k = readU32(key, 0);
    const old = this.#find(k);
    if (old >= 0 && (flags & BPF_NOEXIST) !== 0) return -EEXIST;
    // The kernel builds (and so validates) the new entry before the capacity check.
    const prog = this.checkValue(value);
    if (isErrnoResult(prog)) return prog;
    if (old >= 0) {
      this.writeEntry(old, value, prog);
      this.#unlink(old);
      this.#linkHead(old);
      return 0;
    }
    if (this.items >= this.maxEntries || this.#freeTop === 0) return -E2BIG;
    const s = this.#free[--this.#freeTop]!;
    this.writeEntry(s, value, prog);
    this.#keys[s] = k;
    this.#linkHead(s);
    this.items++;
    return 0;
  }

  /** Returns 0 or -ENOENT. @see dev_map_hash_delete_elem() */
  protected sysDeleteElem(key: Uint8Array): number {
    const s = this.#find(readU32(key, 0));
    if (s < 0) return -ENOENT;
    this.#unlink(s);
    this.clearSlot(s);
    this.#free[this.#freeTop++] = s;
    this.items--;
    return 0;
  }

  /** Chain order within buckets in order; an unknown or absent key restarts. @see dev_map_hash_get_next_key() */
  protected sysGetNextKeyElem(key: Uint8Array | null, next: Uint8Array): number {
    let i = 0;
    if (key !== null) {
      const k = readU32(key, 0);
      const s = this.#find(k);
      if (s >= 0) {
        const n = this.#next[s]!;
        if (n >= 0) {
          writeU32(next, 0, this.#keys[n]!);
          return 0;
        }
        i = (k & this.#mask) + 1;
      }
    }
    for (; i < this.nBuckets; i++) {
      const s = this.#buckets[i]!;
      if (s >= 0) {
        writeU32(next, 0, this.#keys[s]!);
        return 0;
      }
    }
    return -ENOENT;
  }
}
