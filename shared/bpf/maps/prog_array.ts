// BPF_MAP_TYPE_PROG_ARRAY: the jump table of bpf_tail_call(). Mirrors the
// fd-array part of kernel/bpf/arraymap.c (fd_array_map_alloc_check,
// bpf_fd_array_map_update_elem, fd_array_map_delete_elem,
// prog_fd_array_get_ptr, prog_fd_array_sys_lookup_elem) and the owner check
// of __bpf_prog_map_compatible() in kernel/bpf/core.c.
//
// Entries hold program objects in a JS array; programs never see a value
// (their lookups return NULL), so the map has no value area in BpfMemory.
import type { BpfMapAttr, BpfMapEnv } from "./map.ts";
import { E2BIG, EINVAL, ENOENT, EOPNOTSUPP } from "../../errno.ts";
import { BPF_ANY, BPF_F_RDONLY_PROG, BPF_F_WRONLY_PROG, BPF_MAP_TYPE_PROG_ARRAY } from "../isa/uapi.ts";
import { arrayGetNextKey, arrayMapAllocCheck, arrayMapMemUsage } from "./array_map.ts";
import {
  MapBase, allocMapMemory, constructOrNomem, isErrnoResult, progIdOf, progTypeOf, readU32, resolveProgFd, writeU32, type MapLayout,
} from "./map_common.ts";

/** enum bpf_prog_type BPF_PROG_TYPE_EXT: extension programs never go into a prog array. */
const BPF_PROG_TYPE_EXT = 28;

/** Stored value size of a prog array entry (round_up(sizeof(u32), 8)), for memBytes. */
const PROG_ARRAY_ELEM_SIZE = 8;

/** PROG_ARRAY maps. */
export class ProgArrayMap extends MapBase {
  readonly #progs: Array<unknown>;
  /** Program type every entry must have (map->owner.type), 0 until the first program binds it. */
  ownerProgType: number;

  private constructor(env: BpfMapEnv, attr: BpfMapAttr, id: number, layout: MapLayout, mem: [number, number]) {
    super(env, attr, id, layout, mem);
    // Holey until written: a huge map costs no JS memory up front; holes read as null.
    this.#progs = new Array<unknown>(attr.maxEntries);
    this.ownerProgType = 0;
  }

  /**
   * fd_array_map_alloc_check() + array_map_alloc(): value_size must be 4 and the
   * program-side access flags are refused. Returns the map, -EINVAL, -E2BIG or -ENOMEM.
   */
  static create(env: BpfMapEnv, attr: BpfMapAttr, id: number): ProgArrayMap | number {
    if (attr.valueSize !== 4) return -EINVAL;
    if ((attr.mapFlags & (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG)) !== 0) return -EINVAL;
    const err = arrayMapAllocCheck(attr);
    if (err !== 0) return err;
    const layout: MapLayout = {
      maxEntries: attr.maxEntries, mapFlags: attr.mapFlags, userValueSize: 4, valuesBytes: 0, valuesAlign: 8,
    };
    const mem = allocMapMemory(env, layout);
    if (typeof mem === "number") return mem;
    return constructOrNomem(env, layout, mem, () => new ProgArrayMap(env, attr, id, layout, mem));
  }

  get memBytes(): number {
    return arrayMapMemUsage(BPF_MAP_TYPE_PROG_ARRAY, this.mapFlags, this.maxEntries, PROG_ARRAY_ELEM_SIZE, 1);
  }

  /**
   * The program at `index` for bpf_tail_call(), or null (empty slot, index out of range).
   * Allocates nothing.
   */
  progAt(index: number): unknown | null {
    const i = index >>> 0;
    return i < this.maxEntries ? (this.#progs[i] ?? null) : null;
  }

  /**
   * bpf_prog_map_compatible(): the first program checked binds the owner type; later
   * ones must match it. Loaders call this for programs that reference the map.
   * Returns true when `prog` may share the map.
   */
  progCompatible(prog: unknown): boolean {
    const type = progTypeOf(prog);
    if (type === 0) return true; // program objects without a type are not checked
    if (this.ownerProgType === 0) {
      this.ownerProgType = type;
      return true;
    }
    return this.ownerProgType === type;
  }

  /** Programs cannot look into a prog array (the verifier allows only bpf_tail_call): always 0. */
  lookupElem(_keyAddr: number): number {
    return 0;
  }

  /** Not reachable by verified programs (only bpf_tail_call takes a prog array): -EOPNOTSUPP. */
  updateElem(_keyAddr: number, _valueAddr: number, _flags: number): number {
    return -EOPNOTSUPP;
  }

  /** Not reachable by verified programs: -EOPNOTSUPP. */
  deleteElem(_keyAddr: number): number {
    return -EOPNOTSUPP;
  }

  /**
   * BPF_MAP_LOOKUP_ELEM on a prog array reports the id of the stored program.
   * Returns 0 or -ENOENT (empty slot or index out of range).
   * @see bpf_fd_array_map_lookup_elem(), prog_fd_array_sys_lookup_elem()
   */
  protected sysLookupElem(key: Uint8Array, value: Uint8Array): number {
    const index = readU32(key, 0);
    if (index >= this.maxEntries) return -ENOENT;
    const prog = this.#progs[index] ?? null;
    if (prog === null) return -ENOENT;
    writeU32(value, 0, progIdOf(prog));
    return 0;
  }

  /**
   * Stores the program named by the fd in the value. Returns 0, -EINVAL (flags other than
   * BPF_ANY, extension or incompatible program), -E2BIG (index out of range), -EBADF (the
   * fd names no program) or an errno env.progByFd reported.
   * @see bpf_fd_array_map_update_elem(), prog_fd_array_get_ptr()
   */
  protected sysUpdateElem(key: Uint8Array, value: Uint8Array, flags: number): number {
    if (flags !== BPF_ANY) return -EINVAL;
    const index = readU32(key, 0);
    if (index >= this.maxEntries) return -E2BIG;
    const prog = resolveProgFd(this.env, readU32(value, 0) | 0);
    if (isErrnoResult(prog)) return prog;
    if (progTypeOf(prog) === BPF_PROG_TYPE_EXT || !this.progCompatible(prog)) return -EINVAL;
    this.#progs[index] = prog;
    return 0;
  }

  /** Returns 0, -E2BIG (index out of range) or -ENOENT (empty slot). @see fd_array_map_delete_elem() */
  protected sysDeleteElem(key: Uint8Array): number {
    const index = readU32(key, 0);
    if (index >= this.maxEntries) return -E2BIG;
    if ((this.#progs[index] ?? null) === null) return -ENOENT;
    this.#progs[index] = null;
    return 0;
  }

  protected sysGetNextKeyElem(key: Uint8Array | null, next: Uint8Array): number {
    return arrayGetNextKey(this.maxEntries, key, next);
  }

  protected override releaseEntries(): void {
    this.#progs.length = 0;
  }
}
