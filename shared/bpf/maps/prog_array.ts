// BPF_MAP_TYPE_PROG_ARRAY: the jump table of bpf_tail_call(). Mirrors the
// fd-array part of kernel/bpf/arraymap.c (fd_array_map_alloc_check,
// bpf_fd_array_map_update_elem, fd_array_map_delete_elem,
// prog_fd_array_get_ptr/put_ptr, prog_fd_array_sys_lookup_elem,
// prog_array_map_clear on the last user reference) and the owner rules of
// __bpf_prog_map_compatible() in kernel/bpf/core.c.
//
// The slots live in BpfMemory: one u32 per entry holding the id of the
// program in it (0: empty), where the kernel keeps array->ptrs[]. A tail call
// reads the id and resolves it in the environment of the thread that runs it
// (env.progById), so a host datapath thread reaches the same slots as the
// owner without a round trip (thread_view.ts). Programs never see a value
// (their lookups return NULL), so the slot table is not a program region.
//
// Ownership (map->owner): the first program that uses the map or is stored in
// it binds its type; later ones must match. A program bound to a device
// (offloaded, prog_ifindex) may only sit in a prog array offloaded to the same
// device, and an offloaded prog array only holds programs offloaded to its
// device: the kernel refuses dev-bound programs in any program map; offloading
// a prog array with its programs (which the kernel does not do) extends that
// rule to "same netdev". Jited-ness (map->owner.jited) is uniform here: every
// program of one kernel runs on the engine of the run, JIT or interpreter.
import type { BpfMapAttr, BpfMapEnv } from "./map.ts";
import { E2BIG, EINVAL, ENOENT, ENOMEM, EOPNOTSUPP } from "../../errno.ts";
import { BPF_ANY, BPF_F_RDONLY_PROG, BPF_F_WRONLY_PROG, BPF_MAP_TYPE_PROG_ARRAY } from "../isa/uapi.ts";
import { arrayGetNextKey, arrayMapAllocCheck, arrayMapMemUsage } from "./array_map.ts";
import {
  MapBase, allocMapMemory, constructOrNomem, isErrnoResult, progIdOf, progTypeOf, readU32, resolveProgFd, writeU32, type MapLayout,
} from "./map_common.ts";

/** enum bpf_prog_type BPF_PROG_TYPE_EXT: extension programs never go into a prog array. */
const BPF_PROG_TYPE_EXT = 28;

/** Stored value size of a prog array entry (round_up(sizeof(u32), 8)), for memBytes. */
const PROG_ARRAY_ELEM_SIZE = 8;

/** The device a program is bound to (BpfProg.ifindex, prog_ifindex at load), 0 for none. */
function progIfindexOf(prog: unknown): number {
  if (typeof prog === "object" && prog !== null && "ifindex" in prog && typeof prog.ifindex === "number") return prog.ifindex;
  return 0;
}

/** PROG_ARRAY maps. */
export class ProgArrayMap extends MapBase {
  /** Address of the slot table (maxEntries u32 program ids) in BpfMemory; 0 once freed. */
  slotsAddr: number;
  /** Device the map is offloaded to (map_ifindex), 0 for a host map. */
  readonly mapIfindex: number;
  /** Program type every entry must have (map->owner.type), 0 until the first program binds it. */
  ownerProgType: number;
  /** False for a thread's view: it never frees the table nor holds program references. */
  readonly #owner: boolean;
  /** Filled slots (owner side), so that clearing a sparse huge array stops early. */
  #used: number;

  private constructor(env: BpfMapEnv, attr: BpfMapAttr, id: number, layout: MapLayout, mem: [number, number], slots: number, owner: boolean) {
    super(env, attr, id, layout, mem);
    this.slotsAddr = slots;
    this.mapIfindex = attr.mapIfindex ?? 0;
    this.ownerProgType = 0;
    this.#owner = owner;
    this.#used = 0;
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
    if (4 * attr.maxEntries > 0xffffffff) return -ENOMEM;
    const mem = allocMapMemory(env, layout);
    if (typeof mem === "number") return mem;
    let slots = 0;
    try {
      slots = env.mem.alloc(4 * attr.maxEntries, 8); // zeroed: every slot empty
    } catch {
      slots = 0;
    }
    if (slots === 0) {
      env.mem.free(mem[0], 8, 8);
      return -ENOMEM;
    }
    const m = constructOrNomem(env, layout, mem, () => new ProgArrayMap(env, attr, id, layout, mem, slots, true));
    if (typeof m === "number") env.mem.free(slots, 4 * attr.maxEntries, 8);
    return m;
  }

  /** Another thread's view of a prog array: the same slot table, programs resolved in `env`. */
  static view(env: BpfMapEnv, attr: BpfMapAttr, id: number, addr: number, slots: number): ProgArrayMap {
    const layout: MapLayout = { maxEntries: attr.maxEntries, mapFlags: attr.mapFlags, userValueSize: 4, valuesBytes: 0, valuesAlign: 8 };
    return new ProgArrayMap(env, attr, id, layout, [addr, 0], slots, false);
  }

  get memBytes(): number {
    return arrayMapMemUsage(BPF_MAP_TYPE_PROG_ARRAY, this.mapFlags, this.maxEntries, PROG_ARRAY_ELEM_SIZE, 1);
  }

  /** Id of the program in slot `index` (0: empty or out of range). Allocates nothing. */
  progIdAt(index: number): number {
    const i = index >>> 0;
    if (i >= this.maxEntries || this.slotsAddr === 0) return 0;
    return this.env.mem.dv.getUint32(this.slotsAddr + 4 * i, true);
  }

  /**
   * The program at `index` for bpf_tail_call(), or null (empty slot, index out of range,
   * a program this thread does not know). Allocates nothing.
   */
  progAt(index: number): unknown | null {
    const id = this.progIdAt(index);
    return id === 0 ? null : this.env.progById(id);
  }

  /**
   * __bpf_prog_map_compatible(): a device-bound program only with a prog array of the same
   * device and the other way round, then the first program binds the owner type and later
   * ones must match it. BpfKernel calls it for every prog array a loaded program uses
   * (bpf_check_tail_call()); updates call it for the program stored. True when `prog` may
   * share the map.
   */
  progCompatible(prog: unknown): boolean {
    if (progIfindexOf(prog) !== this.mapIfindex) return false;
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
    const id = this.progIdAt(readU32(key, 0));
    if (id === 0) return -ENOENT;
    writeU32(value, 0, id);
    return 0;
  }

  /** Puts `id` in slot `i` and drops the reference of the program it replaces (xchg + put_ptr). */
  #setSlot(i: number, prog: unknown | null): void {
    const a = this.slotsAddr + 4 * i;
    const dv = this.env.mem.dv;
    const old = dv.getUint32(a, true);
    dv.setUint32(a, prog === null ? 0 : progIdOf(prog), true);
    this.#used += (prog === null ? 0 : 1) - (old === 0 ? 0 : 1);
    if (old !== 0) {
      const p = this.env.progById(old);
      if (p !== null) this.env.progPut?.(p);
    }
  }

  /**
   * Stores the program named by the fd in the value, holding a reference on it. Returns 0,
   * -EINVAL (flags other than BPF_ANY, extension or incompatible program), -E2BIG (index out
   * of range), -EBADF (the fd names no program) or an errno env.progByFd reported.
   * @see bpf_fd_array_map_update_elem(), prog_fd_array_get_ptr()
   */
  protected sysUpdateElem(key: Uint8Array, value: Uint8Array, flags: number): number {
    if (flags !== BPF_ANY) return -EINVAL;
    const index = readU32(key, 0);
    if (index >= this.maxEntries) return -E2BIG;
    const prog = resolveProgFd(this.env, readU32(value, 0) | 0);
    if (isErrnoResult(prog)) return prog;
    if (progTypeOf(prog) === BPF_PROG_TYPE_EXT || !this.progCompatible(prog)) return -EINVAL;
    this.env.progGet?.(prog);
    this.#setSlot(index, prog);
    return 0;
  }

  /** Returns 0, -E2BIG (index out of range) or -ENOENT (empty slot). @see fd_array_map_delete_elem() */
  protected sysDeleteElem(key: Uint8Array): number {
    const index = readU32(key, 0);
    if (index >= this.maxEntries) return -E2BIG;
    if (this.progIdAt(index) === 0) return -ENOENT;
    this.#setSlot(index, null);
    return 0;
  }

  protected sysGetNextKeyElem(key: Uint8Array | null, next: Uint8Array): number {
    return arrayGetNextKey(this.maxEntries, key, next);
  }

  /**
   * prog_array_map_clear(): empties every slot, dropping the programs' references. The
   * kernel does it when the last user reference (fd or pin) goes, which breaks the cycle
   * of a program that tail-calls through a prog array holding it.
   */
  clear(): void {
    if (!this.#owner || this.slotsAddr === 0) return;
    for (let i = 0; i < this.maxEntries && this.#used > 0; i++) {
      if (this.env.mem.dv.getUint32(this.slotsAddr + 4 * i, true) !== 0) this.#setSlot(i, null);
    }
  }

  protected override releaseEntries(): void {
    if (!this.#owner) return;
    this.clear();
    const a = this.slotsAddr;
    this.slotsAddr = 0;
    this.env.mem.free(a, 4 * this.maxEntries, 8);
  }
}
