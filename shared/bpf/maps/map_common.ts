// What every map type shares: the struct bpf_map attributes, the checks
// map_create() makes before the per-type alloc_check, the syscall-side
// permission rules (map_get_sys_perms: BPF_F_RDONLY/BPF_F_WRONLY and
// BPF_MAP_FREEZE) and the memory bookkeeping in BpfMemory.
// Counterpart: kernel/bpf/syscall.c (map_create, map_*_elem, map_freeze,
// bpf_map_do_batch and the generic_map_*_batch ops).
import type { BpfMap, BpfMapAttr, BpfMapBatch, BpfMapEnv } from "./map.ts";
import { EBADF, EBUSY, EFAULT, EINVAL, ENOENT, ENOMEM, EOPNOTSUPP, EPERM } from "../../errno.ts";
import {
  BPF_F_LOCK, BPF_F_RDONLY, BPF_F_RDONLY_PROG, BPF_F_WRONLY, BPF_F_WRONLY_PROG, BPF_OBJ_NAME_LEN,
} from "../isa/uapi.ts";

/** The four access bits (include/linux/bpf.h BPF_F_ACCESS_MASK). */
export const BPF_F_ACCESS_MASK = BPF_F_RDONLY | BPF_F_RDONLY_PROG | BPF_F_WRONLY | BPF_F_WRONLY_PROG;

export const U32_MAX = 0xffffffff;
export const INT_MAX = 0x7fffffff;
export const PAGE_SIZE = 4096;
/** Smallest per-CPU unit (mm/percpu.c PCPU_MIN_UNIT_SIZE): bound on one per-CPU value. */
export const PCPU_MIN_UNIT_SIZE = 32 << 10;
/** Largest kmalloc() on x86-64 (1 << KMALLOC_SHIFT_MAX). */
export const KMALLOC_MAX_SIZE = 4 << 20;

// sizeof() of kernel structures on x86-64, used only for memBytes (bpftool's "memlock",
// fdinfo's map_mem_usage). struct bpf_array is measured (a one-entry array of 4-byte values
// shows 272 bytes); the others are estimates built around the same struct bpf_map.
export const SIZEOF_BPF_ARRAY = 264;
export const SIZEOF_BPF_HTAB = 840;
export const SIZEOF_BPF_DTAB = 296;
export const SIZEOF_BPF_DTAB_NETDEV = 72;
export const SIZEOF_HTAB_ELEM = 48;
export const SIZEOF_BUCKET = 16;
export const SIZEOF_POINTER = 8;

/** True for an integer the kernel would hold in a __u32. */
export function isU32(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= U32_MAX;
}

export function roundUp8(n: number): number {
  return Math.ceil(n / 8) * 8;
}

export function pageAlign(n: number): number {
  return Math.ceil(n / PAGE_SIZE) * PAGE_SIZE;
}

/** roundup_pow_of_two() for 1 <= n <= 2^31. */
export function roundupPowOfTwo(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/** Reads a little-endian u32 (the host byte order of the x86-64 kernel we mirror). */
export function readU32(buf: Uint8Array, off: number): number {
  return (buf[off]! | (buf[off + 1]! << 8) | (buf[off + 2]! << 16) | (buf[off + 3]! << 24)) >>> 0;
}

export function writeU32(buf: Uint8Array, off: number, v: number): void {
  buf[off] = v & 0xff;
  buf[off + 1] = (v >>> 8) & 0xff;
  buf[off + 2] = (v >>> 16) & 0xff;
  buf[off + 3] = (v >>> 24) & 0xff;
}

/**
 * Copies `len` bytes without allocating: copyWithin inside one buffer (program side,
 * overlap-safe), a byte loop between two (keys into the key table, syscall buffers).
 */
export function copyBytes(dst: Uint8Array, dstOff: number, src: Uint8Array, srcOff: number, len: number): void {
  if (dst === src) dst.copyWithin(dstOff, srcOff, srcOff + len);
  else for (let i = 0; i < len; i++) dst[dstOff + i] = src[srcOff + i]!;
}

/**
 * Update flags as the BPF_MAP_UPDATE_ELEM ops see them: returns the flags with
 * BPF_F_LOCK removed, or -1 when the value cannot be a u64 flag word.
 */
export function flagsSansLock(flags: number): number {
  if (!Number.isInteger(flags) || flags < 0) return -1;
  return flags % 8 >= 4 ? flags - BPF_F_LOCK : flags;
}

/** bpf_map_flags_access_ok(): BPF_F_RDONLY_PROG and BPF_F_WRONLY_PROG exclude each other. */
export function mapFlagsAccessOk(flags: number): boolean {
  return (flags & (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG)) !== (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG);
}

/**
 * bpf_obj_name_cpy(): at most BPF_OBJ_NAME_LEN - 1 characters from [A-Za-z0-9_.].
 * Returns 0 or -EINVAL.
 */
export function checkObjName(name: string): number {
  if (name.length >= BPF_OBJ_NAME_LEN) return -EINVAL;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    const ok = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f || c === 0x2e;
    if (!ok) return -EINVAL;
  }
  return 0;
}

/**
 * The id a syscall-side lookup reports for a program stored in a map (prog->aux->id).
 * Program objects carry a numeric `id` (BpfProg does); a bare positive number is taken as the id.
 */
export function progIdOf(prog: unknown): number {
  if (typeof prog === "number") return prog >>> 0;
  if (typeof prog === "object" && prog !== null && "id" in prog && typeof prog.id === "number") return prog.id >>> 0;
  return 0;
}

/** The program type of a program object (BpfProg.progType), 0 when it has none. */
export function progTypeOf(prog: unknown): number {
  if (typeof prog === "object" && prog !== null && "progType" in prog && typeof prog.progType === "number") {
    return prog.progType;
  }
  return 0;
}

/**
 * Resolves a program fd through env.progByFd. Returns the program, or a negative errno:
 * null means the fd names no program (bpf_prog_get(): -EBADF); the environment may also
 * return a negative errno itself (-EINVAL for an fd that is not a program).
 */
export function resolveProgFd(env: BpfMapEnv, fd: number): unknown {
  const prog = env.progByFd(fd);
  if (prog === null || prog === undefined) return -EBADF;
  return prog;
}

/** True when resolveProgFd() returned an errno rather than a program. */
export function isErrnoResult(v: unknown): v is number {
  return typeof v === "number" && v < 0;
}

/** Where a map's memory went in BpfMemory, computed by its create(). */
export interface MapLayout {
  /** max_entries as the kernel stores it (LRU with BPF_F_NO_COMMON_LRU rounds it). */
  maxEntries: number;
  mapFlags: number;
  userValueSize: number;
  /** Bytes and alignment of the value area (0 bytes: the map has none). */
  valuesBytes: number;
  valuesAlign: number;
}

/** Size of the block that stands for a map in registers (CONST_PTR_TO_MAP). */
const MAP_ADDR_BYTES = 8;

/**
 * Allocates the identity block and the value area. Returns [addr, valuesStart] or
 * -ENOMEM; nothing stays allocated on failure.
 */
export function allocMapMemory(env: BpfMapEnv, layout: MapLayout): [number, number] | number {
  if (layout.valuesBytes > 0xffffffff) return -ENOMEM;
  let addr = 0;
  let values = 0;
  try {
    addr = env.mem.alloc(MAP_ADDR_BYTES, 8);
    if (addr === 0) return -ENOMEM;
    if (layout.valuesBytes > 0) {
      values = env.mem.alloc(layout.valuesBytes, layout.valuesAlign);
      if (values === 0) {
        env.mem.free(addr, MAP_ADDR_BYTES, 8);
        return -ENOMEM;
      }
    }
  } catch {
    // WebAssembly.Memory.grow() throws when the host cannot back the pages.
    if (addr !== 0) env.mem.free(addr, MAP_ADDR_BYTES, 8);
    return -ENOMEM;
  }
  return [addr, values];
}

/**
 * Runs a map constructor whose typed-array bookkeeping may be too large for the host;
 * on failure returns the BpfMemory blocks and -ENOMEM (the kernel's failed kvmalloc()).
 */
export function constructOrNomem<T>(env: BpfMapEnv, layout: MapLayout, mem: [number, number], make: () => T): T | number {
  try {
    return make();
  } catch {
    if (layout.valuesBytes > 0) env.mem.free(mem[1], layout.valuesBytes, layout.valuesAlign);
    env.mem.free(mem[0], MAP_ADDR_BYTES, 8);
    return -ENOMEM;
  }
}

/**
 * Fields and syscall-side rules common to all map types. Subclasses implement the
 * program-side ops and the sys*Elem hooks, which run after the permission and
 * buffer-size checks made here.
 */
export abstract class MapBase implements BpfMap {
  readonly id: number;
  readonly mapType: number;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly mapFlags: number;
  readonly name: string;
  readonly addr: number;
  readonly valuesStart: number;
  readonly valuesEnd: number;
  readonly userValueSize: number;
  frozen: boolean;
  protected readonly env: BpfMapEnv;
  readonly #valuesBytes: number;
  readonly #valuesAlign: number;
  #isFreed: boolean;

  constructor(env: BpfMapEnv, attr: BpfMapAttr, id: number, layout: MapLayout, mem: [number, number]) {
    this.id = id;
    this.mapType = attr.mapType;
    this.keySize = attr.keySize;
    this.valueSize = attr.valueSize;
    this.maxEntries = layout.maxEntries;
    this.mapFlags = layout.mapFlags;
    this.name = attr.name;
    this.addr = mem[0];
    // A map without a value area (PROG_ARRAY) gets an empty range anchored at its own
    // identity block, so that every map's range is distinct and none contains a byte.
    this.valuesStart = layout.valuesBytes > 0 ? mem[1] : mem[0];
    this.valuesEnd = this.valuesStart + layout.valuesBytes;
    this.userValueSize = layout.userValueSize;
    this.frozen = false;
    this.env = env;
    this.#valuesBytes = layout.valuesBytes;
    this.#valuesAlign = layout.valuesAlign;
    this.#isFreed = false;
  }

  abstract get memBytes(): number;

  abstract lookupElem(keyAddr: number): number;
  abstract updateElem(keyAddr: number, valueAddr: number, flags: number): number;
  abstract deleteElem(keyAddr: number): number;

  protected abstract sysLookupElem(key: Uint8Array, value: Uint8Array): number;
  protected abstract sysUpdateElem(key: Uint8Array, value: Uint8Array, flags: number): number;
  protected abstract sysDeleteElem(key: Uint8Array): number;
  protected abstract sysGetNextKeyElem(key: Uint8Array | null, next: Uint8Array): number;

  /** True when syscall-side reads are allowed (map_get_sys_perms() & FMODE_CAN_READ). */
  get canSysRead(): boolean {
    return (this.mapFlags & BPF_F_WRONLY) === 0;
  }

  /** True when syscall-side writes are allowed: not BPF_F_RDONLY and not frozen. */
  get canSysWrite(): boolean {
    return (this.mapFlags & BPF_F_RDONLY) === 0 && !this.frozen;
  }

  /**
   * BPF_MAP_LOOKUP_ELEM. Fills `value` (userValueSize bytes).
   * Returns 0, -EPERM (BPF_F_WRONLY), -EFAULT (short buffer), -ENOENT or a type-specific errno.
   */
  sysLookup(key: Uint8Array, value: Uint8Array): number {
    if (!this.canSysRead) return -EPERM;
    if (key.length < this.keySize || value.length < this.userValueSize) return -EFAULT;
    return this.sysLookupElem(key, value);
  }

  /**
   * BPF_MAP_UPDATE_ELEM. Returns 0, -EPERM (BPF_F_RDONLY or frozen), -EINVAL (BPF_F_LOCK:
   * no map here has a bpf_spin_lock), -EFAULT (short buffer) or the type's errno.
   */
  sysUpdate(key: Uint8Array, value: Uint8Array, flags: number): number {
    if (!this.canSysWrite) return -EPERM;
    if (flagsSansLock(flags) !== flags) return -EINVAL;
    if (key.length < this.keySize || value.length < this.userValueSize) return -EFAULT;
    return this.sysUpdateElem(key, value, flags);
  }

  /** BPF_MAP_DELETE_ELEM. Returns 0, -EPERM (BPF_F_RDONLY or frozen), -EFAULT or the type's errno. */
  sysDelete(key: Uint8Array): number {
    if (!this.canSysWrite) return -EPERM;
    if (key.length < this.keySize) return -EFAULT;
    return this.sysDeleteElem(key);
  }

  /** BPF_MAP_GET_NEXT_KEY. Returns 0, -ENOENT after the last key, -EPERM (BPF_F_WRONLY) or -EFAULT. */
  sysGetNextKey(key: Uint8Array | null, next: Uint8Array): number {
    if (!this.canSysRead) return -EPERM;
    if ((key !== null && key.length < this.keySize) || next.length < this.keySize) return -EFAULT;
    return this.sysGetNextKeyElem(key, next);
  }

  // ---- BPF_MAP_*_BATCH ---------------------------------------------------------

  /**
   * bpf_map_do_batch(): lookups need read access, the others write access (a frozen
   * map has none, BPF_F_RDONLY neither), then the type's op.
   */
  sysLookupBatch(b: BpfMapBatch, del: boolean): number {
    if (!this.canSysRead) return -EPERM;
    if (del && !this.canSysWrite) return -EPERM;
    return del ? this.lookupAndDeleteBatchOp(b) : this.lookupBatchOp(b);
  }

  sysUpdateBatch(b: BpfMapBatch): number {
    if (!this.canSysWrite) return -EPERM;
    return this.updateBatchOp(b);
  }

  sysDeleteBatch(b: BpfMapBatch): number {
    if (!this.canSysWrite) return -EPERM;
    return this.deleteBatchOp(b);
  }

  // A type without an op answers the kernel's internal ENOTSUPP (524), which we send as EOPNOTSUPP.
  protected lookupBatchOp(_b: BpfMapBatch): number {
    return -EOPNOTSUPP;
  }
  protected lookupAndDeleteBatchOp(_b: BpfMapBatch): number {
    return -EOPNOTSUPP;
  }
  protected updateBatchOp(_b: BpfMapBatch): number {
    return -EOPNOTSUPP;
  }
  protected deleteBatchOp(_b: BpfMapBatch): number {
    return -EOPNOTSUPP;
  }

  /**
   * generic_map_lookup_batch(): get_next_key from in_batch (a key), each element's value
   * (one that vanished meanwhile is skipped), until `count` are copied or the keys end
   * (-ENOENT). out_batch is the last key copied, written only when one was.
   */
  protected genericLookupBatch(b: BpfMapBatch): number {
    // No value here holds a bpf_spin_lock, so BPF_F_LOCK is as invalid as any other bit.
    if (b.elemFlags !== 0) return -EINVAL;
    const ks = this.keySize, vs = this.userValueSize;
    const max = b.count;
    if (max === 0) return 0;
    b.count = 0;
    let prev: Uint8Array<ArrayBufferLike> | null = null;
    if (b.inBatch !== null) {
      if (b.inBatch.length < ks) return -EFAULT;
      prev = b.inBatch.slice(0, ks);
    }
    let key: Uint8Array<ArrayBufferLike> = new Uint8Array(ks), spare: Uint8Array<ArrayBufferLike> = new Uint8Array(ks);
    const value = new Uint8Array(vs);
    let cp = 0, err = 0;
    while (cp < max) {
      err = this.sysGetNextKeyElem(prev, key);
      if (err !== 0) break;
      err = this.sysLookupElem(key, value);
      if (err !== -ENOENT) {
        if (err !== 0) return err;
        if (b.keys.length < (cp + 1) * ks || b.values.length < (cp + 1) * vs) return -EFAULT;
        b.keys.set(key, cp * ks);
        b.values.set(value, cp * vs);
        cp++;
      }
      // next_key: the key just handled becomes the previous one
      const t = prev ?? spare;
      prev = key;
      key = t;
      spare = t;
    }
    b.count = cp;
    if (cp > 0) {
      if (b.outBatch.length < ks) return -EFAULT;
      b.outBatch.set(prev!.subarray(0, ks), 0);
      b.outWritten = true;
    }
    return err;
  }

  /** generic_map_update_batch(): count elements with elem_flags, stopping at the first error. */
  protected genericUpdateBatch(b: BpfMapBatch): number {
    if (b.elemFlags !== 0) return -EINVAL;
    const ks = this.keySize, vs = this.userValueSize;
    const max = b.count;
    if (max === 0) return 0;
    b.count = 0;
    let cp = 0, err = 0;
    for (; cp < max; cp++) {
      if (b.keys.length < (cp + 1) * ks || b.values.length < (cp + 1) * vs) {
        err = -EFAULT;
        break;
      }
      err = this.sysUpdateElem(b.keys.subarray(cp * ks, (cp + 1) * ks), b.values.subarray(cp * vs, (cp + 1) * vs), b.elemFlags);
      if (err !== 0) break;
    }
    b.count = cp;
    return err;
  }

  /** generic_map_delete_batch(): count keys, stopping at the first error (-ENOENT for a missing one). */
  protected genericDeleteBatch(b: BpfMapBatch): number {
    if (b.elemFlags !== 0) return -EINVAL;
    const ks = this.keySize;
    const max = b.count;
    if (max === 0) return 0;
    b.count = 0;
    let cp = 0, err = 0;
    for (; cp < max; cp++) {
      if (b.keys.length < (cp + 1) * ks) {
        err = -EFAULT;
        break;
      }
      err = this.sysDeleteElem(b.keys.subarray(cp * ks, (cp + 1) * ks));
      if (err !== 0) break;
    }
    b.count = cp;
    return err;
  }

  /**
   * BPF_MAP_FREEZE: later syscall-side writes fail with -EPERM; programs keep writing.
   * Returns 0, -EPERM when the map is not writable from the syscall side (BPF_F_RDONLY),
   * -EBUSY when it is already frozen.
   * @see map_freeze() in kernel/bpf/syscall.c
   */
  freeze(): number {
    if ((this.mapFlags & BPF_F_RDONLY) !== 0) return -EPERM;
    if (this.frozen) return -EBUSY;
    this.frozen = true;
    return 0;
  }

  /** Returns every BpfMemory block; the map is unusable afterwards. Idempotent. */
  free(): void {
    if (this.#isFreed) return;
    this.#isFreed = true;
    this.releaseEntries();
    if (this.#valuesBytes > 0) this.env.mem.free(this.valuesStart, this.#valuesBytes, this.#valuesAlign);
    this.env.mem.free(this.addr, MAP_ADDR_BYTES, 8);
  }

  /** Drops references the entries hold (programs in PROG_ARRAY/DEVMAP slots). */
  protected releaseEntries(): void {}
}
