// BPF_MAP_TYPE_ARRAY and BPF_MAP_TYPE_PERCPU_ARRAY, including the global-data
// arrays (.rodata/.data/.bss: one entry, BPF_F_MMAPABLE, .rodata also
// BPF_F_RDONLY_PROG and frozen by the loader). Mirrors kernel/bpf/arraymap.c.
//
// Layout in BpfMemory: one value area, entry i at valuesStart + i * stride with
// stride = round_up(value_size, 8); per-CPU arrays keep nCpus slots per entry
// (entry i, cpu c at valuesStart + (i * nCpus + c) * stride).
import type { BpfMap, BpfMapAttr, BpfMapBatch, BpfMapEnv } from "./map.ts";
import { E2BIG, EEXIST, EINVAL, ENOENT, EPERM } from "../../errno.ts";
import {
  BPF_EXIST, BPF_F_LOCK, BPF_F_MMAPABLE, BPF_F_NUMA_NODE, BPF_F_RDONLY_PROG, BPF_MAP_TYPE_ARRAY,
  BPF_MAP_TYPE_PERCPU_ARRAY, BPF_NOEXIST, BPF_F_INNER_MAP, BPF_F_PRESERVE_ELEMS
} from "../isa/uapi.ts";
import {
  BPF_F_ACCESS_MASK, INT_MAX, MapBase, PAGE_SIZE, PCPU_MIN_UNIT_SIZE,
  SIZEOF_BPF_ARRAY, SIZEOF_POINTER, allocMapMemory, copyBytes, flagsSansLock, mapFlagsAccessOk, pageAlign, readU32,
  roundUp8, writeU32, type MapLayout,
} from "./map_common.ts";

/** Flags an array map accepts (ARRAY_CREATE_FLAG_MASK). */
export const ARRAY_CREATE_FLAG_MASK =
  BPF_F_NUMA_NODE | BPF_F_MMAPABLE | BPF_F_ACCESS_MASK | BPF_F_PRESERVE_ELEMS | BPF_F_INNER_MAP;

/**
 * array_map_alloc_check(): the attribute rules shared by every array-backed type
 * (ARRAY, PERCPU_ARRAY, PROG_ARRAY). Returns 0, -EINVAL or -E2BIG.
 */
export function arrayMapAllocCheck(attr: BpfMapAttr): number {
  const percpu = attr.mapType === BPF_MAP_TYPE_PERCPU_ARRAY;
  // Without a numa_node field in our attr, BPF_F_NUMA_NODE names node 0.
  const hasNumaNode = (attr.mapFlags & BPF_F_NUMA_NODE) !== 0;
  if (attr.maxEntries === 0 || attr.keySize !== 4 || attr.valueSize === 0 ||
      (attr.mapFlags & ~ARRAY_CREATE_FLAG_MASK) !== 0 || !mapFlagsAccessOk(attr.mapFlags) ||
      (percpu && hasNumaNode)) {
    return -EINVAL;
  }
  if (attr.mapType !== BPF_MAP_TYPE_ARRAY && (attr.mapFlags & (BPF_F_MMAPABLE | BPF_F_INNER_MAP)) !== 0) return -EINVAL;
  // Only perf_event_array keeps its elements past the creator's close.
  if ((attr.mapFlags & BPF_F_PRESERVE_ELEMS) !== 0) return -EINVAL;
  if (attr.valueSize > INT_MAX) return -E2BIG;
  if (percpu && roundUp8(attr.valueSize) > PCPU_MIN_UNIT_SIZE) return -E2BIG;
  return 0;
}

/**
 * array_map_mem_usage(): sizeof(struct bpf_array) plus, for per-CPU arrays, one
 * pointer and nCpus slots per entry; for mmapable arrays the header and the
 * values each page-aligned; otherwise max_entries * round_up(value_size, 8).
 */
export function arrayMapMemUsage(mapType: number, mapFlags: number, maxEntries: number, stride: number, nCpus: number): number {
  if (mapType === BPF_MAP_TYPE_PERCPU_ARRAY) {
    return SIZEOF_BPF_ARRAY + maxEntries * SIZEOF_POINTER + maxEntries * stride * nCpus;
  }
  if ((mapFlags & BPF_F_MMAPABLE) !== 0) return pageAlign(SIZEOF_BPF_ARRAY) + pageAlign(maxEntries * stride);
  return SIZEOF_BPF_ARRAY + maxEntries * stride;
}

/** ARRAY and PERCPU_ARRAY maps. */
export class ArrayMap extends MapBase {
  /** Distance between two values (round_up(value_size, 8)): lets a JIT inline lookups. */
  readonly valueStride: number;
  /** Distance between two entries: valueStride, times nCpus for per-CPU arrays. */
  readonly entryStride: number;
  readonly isPercpu: boolean;
  readonly #nCpus: number;

  private constructor(env: BpfMapEnv, attr: BpfMapAttr, id: number, layout: MapLayout, mem: [number, number]) {
    super(env, attr, id, layout, mem);
    this.isPercpu = attr.mapType === BPF_MAP_TYPE_PERCPU_ARRAY;
    this.#nCpus = env.nCpus;
    this.valueStride = roundUp8(attr.valueSize);
    this.entryStride = this.isPercpu ? this.valueStride * env.nCpus : this.valueStride;
  }

  /**
   * array_map_alloc_check() + array_map_alloc(). Values start zeroed.
   * Returns the map, -EINVAL, -E2BIG or -ENOMEM.
   * @see array_map_alloc() in kernel/bpf/arraymap.c
   */
  static create(env: BpfMapEnv, attr: BpfMapAttr, id: number): ArrayMap | number {
    const err = arrayMapAllocCheck(attr);
    if (err !== 0) return err;
    const percpu = attr.mapType === BPF_MAP_TYPE_PERCPU_ARRAY;
    const stride = roundUp8(attr.valueSize);
    const mmapable = (attr.mapFlags & BPF_F_MMAPABLE) !== 0;
    const valuesBytes = attr.maxEntries * stride * (percpu ? env.nCpus : 1);
    const layout: MapLayout = {
      maxEntries: attr.maxEntries,
      mapFlags: attr.mapFlags,
      userValueSize: percpu ? stride * env.nCpus : attr.valueSize,
      // The kernel page-aligns the value area of mmapable arrays so user space can map it.
      valuesBytes: mmapable ? pageAlign(valuesBytes) : valuesBytes,
      valuesAlign: mmapable ? PAGE_SIZE : 8,
    };
    const mem = allocMapMemory(env, layout);
    if (typeof mem === "number") return mem;
    return new ArrayMap(env, attr, id, layout, mem);
  }

  /**
   * Another thread's handle on an existing array (map_view.ts): same id, identity address and
   * value area in the shared memory, nothing allocated. Program-side ops touch the same bytes.
   */
  static view(env: BpfMapEnv, attr: BpfMapAttr, id: number, addr: number, valuesStart: number, valuesEnd: number): ArrayMap {
    const percpu = attr.mapType === BPF_MAP_TYPE_PERCPU_ARRAY;
    const layout: MapLayout = {
      maxEntries: attr.maxEntries, mapFlags: attr.mapFlags,
      userValueSize: percpu ? roundUp8(attr.valueSize) * env.nCpus : attr.valueSize,
      valuesBytes: valuesEnd - valuesStart, valuesAlign: 8,
    };
    return new ArrayMap(env, attr, id, layout, [addr, valuesStart]);
  }

  get memBytes(): number {
    return arrayMapMemUsage(this.mapType, this.mapFlags, this.maxEntries, this.valueStride, this.#nCpus);
  }

  /** Address of entry `index` for `cpu` (cpu ignored for plain arrays), 0 when out of range. */
  valueAddr(index: number, cpu: number): number {
    if (index >>> 0 >= this.maxEntries) return 0;
    return this.valuesStart + (index >>> 0) * this.entryStride + (this.isPercpu ? cpu * this.valueStride : 0);
  }

  /**
   * bpf_map_lookup_elem() from a program: the value address (this CPU's slot for
   * per-CPU arrays), 0 when the index is out of range.
   * @see array_map_lookup_elem(), percpu_array_map_lookup_elem()
   */
  lookupElem(keyAddr: number): number {
    const index = readU32(this.env.mem.u8, keyAddr);
    if (index >= this.maxEntries) return 0;
    return this.valuesStart + index * this.entryStride + (this.isPercpu ? this.env.cpu * this.valueStride : 0);
  }

  /**
   * bpf_map_update_elem() from a program. Returns 0, -EINVAL (unknown flags, BPF_F_LOCK),
   * -E2BIG (index out of range), -EEXIST (BPF_NOEXIST: every entry exists) or -EPERM
   * (BPF_F_RDONLY_PROG map; the verifier rejects such programs, so this is a backstop).
   * @see array_map_update_elem()
   */
  updateElem(keyAddr: number, valueAddr: number, flags: number): number {
    if ((this.mapFlags & BPF_F_RDONLY_PROG) !== 0) return -EPERM;
    const u8 = this.env.mem.u8;
    return this.#update(u8, keyAddr, u8, valueAddr, flags, false);
  }

  /** Array entries cannot be deleted: always -EINVAL. @see array_map_delete_elem() */
  deleteElem(_keyAddr: number): number {
    return -EINVAL;
  }

  #update(kbuf: Uint8Array, koff: number, vbuf: Uint8Array, voff: number, flags: number, allCpus: boolean): number {
    const base = flagsSansLock(flags);
    if (base < 0 || base > BPF_EXIST) return -EINVAL;
    const index = readU32(kbuf, koff);
    if (index >= this.maxEntries) return -E2BIG;
    if ((flags & BPF_NOEXIST) !== 0) return -EEXIST;
    if ((flags & BPF_F_LOCK) !== 0) return -EINVAL; // no bpf_spin_lock in any value
    const u8 = this.env.mem.u8;
    const entry = this.valuesStart + index * this.entryStride;
    if (!this.isPercpu) {
      copyBytes(u8, entry, vbuf, voff, this.valueSize);
    } else if (allCpus) {
      // Syscall side: one round_up(value_size, 8) slice per possible CPU.
      for (let c = 0; c < this.#nCpus; c++) {
        copyBytes(u8, entry + c * this.valueStride, vbuf, voff + c * this.valueStride, this.valueStride);
      }
    } else {
      copyBytes(u8, entry + this.env.cpu * this.valueStride, vbuf, voff, this.valueSize);
    }
    return 0;
  }

  protected sysLookupElem(key: Uint8Array, value: Uint8Array): number {
    const index = readU32(key, 0);
    if (index >= this.maxEntries) return -ENOENT;
    const u8 = this.env.mem.u8;
    const entry = this.valuesStart + index * this.entryStride;
    copyBytes(value, 0, u8, entry, this.isPercpu ? this.entryStride : this.valueSize);
    return 0;
  }

  protected sysUpdateElem(key: Uint8Array, value: Uint8Array, flags: number): number {
    return this.#update(key, 0, value, 0, flags, true);
  }

  // array_map_ops: .map_lookup_batch = generic_map_lookup_batch, .map_update_batch =
  // generic_map_update_batch; no delete ops (an array's elements cannot be deleted).
  protected override lookupBatchOp(b: BpfMapBatch): number {
    return this.genericLookupBatch(b);
  }
  protected override updateBatchOp(b: BpfMapBatch): number {
    return this.genericUpdateBatch(b);
  }

  protected sysDeleteElem(_key: Uint8Array): number {
    return -EINVAL;
  }

  protected sysGetNextKeyElem(key: Uint8Array | null, next: Uint8Array): number {
    return arrayGetNextKey(this.maxEntries, key, next);
  }
}

/**
 * True for the maps whose lookup an engine may inline (the kernel's map_gen_lookup:
 * array_map_gen_lookup() on plain arrays): index = *(u32 *)key, value =
 * index < max_entries ? valuesStart + index * entryStride : NULL.
 */
export function hasGenLookup(m: BpfMap | null | undefined): m is ArrayMap {
  return m instanceof ArrayMap && !m.isPercpu;
}

/**
 * array_map_get_next_key(): indexes in order; no key or an out-of-range key gives
 * index 0, the last index gives -ENOENT. Shared by every array-indexed type.
 */
export function arrayGetNextKey(maxEntries: number, key: Uint8Array | null, next: Uint8Array): number {
  const index = key === null ? 0xffffffff : readU32(key, 0);
  if (index >= maxEntries) {
    writeU32(next, 0, 0);
    return 0;
  }
  if (index === maxEntries - 1) return -ENOENT;
  writeU32(next, 0, index + 1);
  return 0;
}
