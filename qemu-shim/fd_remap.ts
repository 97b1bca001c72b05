// Guest handle <-> host object translation for offloaded maps and programs: an
// RFC point for improvement ("the guest should not see host fds"). With
// `--fd-remap shim` (default) the guest gets device-local handles and the shim
// rewrites them, including the map references inside a program's ld_imm64
// instructions (what the RFC's guest did with host fds in
// virtnet_bpf_replace_map_fds); with `--fd-remap guest` host ids pass through
// as in the RFC. A handle the guest does not own is EBADF. Prog arrays carry
// program handles in their values: an update's value goes to the host as the
// program's host id, a lookup's value comes back as the guest's handle.
import { BpfInsns, BPF_INSN_SZ } from "../shared/bpf/isa/insn.ts";
import { BPF_LD, BPF_IMM, BPF_DW, BPF_MAP_TYPE_PROG_ARRAY, BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_VALUE } from "../shared/bpf/isa/uapi.ts";
import { EBADF, ENOENT, KernelError } from "../shared/errno.ts";

export type FdRemap = "shim" | "guest";

export interface MapEntry {
  hostId: number;
  /** What the map quota charged for it. */
  bytes: number;
  /** BPF_MAP_TYPE_*: prog arrays' values are program handles. */
  mapType: number;
}

const u32At = (b: Uint8Array): number => new DataView(b.buffer, b.byteOffset, 4).getUint32(0, true);
function u32Bytes(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
}

const LD_IMM_DW = BPF_LD | BPF_IMM | BPF_DW;

/** The handle tables of one device. */
export class FdTable {
  readonly mode: FdRemap;
  /** Guest handle -> host object (with --fd-remap guest, handle = host id). */
  readonly maps: Map<number, MapEntry>;
  readonly progs: Map<number, number>;
  #next: number;

  constructor(mode: FdRemap) {
    this.mode = mode;
    this.maps = new Map();
    this.progs = new Map();
    this.#next = 1;
  }

  /** The handle the guest will use for a new host object. */
  newHandle(hostId: number): number {
    return this.mode === "guest" ? hostId : this.#next++;
  }

  map(h: number): MapEntry {
    const m = this.mode === "shim" ? this.maps.get(h) : { hostId: h, bytes: 0, mapType: 0 };
    if (m === undefined) throw new KernelError(EBADF, `fd ${h} is not pointing to valid bpf_map`);
    return m;
  }

  progHostId(h: number): number {
    if (this.mode === "guest") return h;
    const id = this.progs.get(h);
    if (id === undefined) throw new KernelError(EBADF, `Cannot use program handle ${h}: Bad file descriptor`);
    return id;
  }

  /**
   * A prog array update's value (a program handle of this guest) as the host takes it: the
   * program's host id. Other maps' values, and every value in guest mode, pass unchanged.
   * Throws KernelError EBADF for a handle the guest does not own.
   */
  valueToHost(m: MapEntry, value: Uint8Array): Uint8Array {
    if (this.mode !== "shim" || m.mapType !== BPF_MAP_TYPE_PROG_ARRAY || value.length !== 4) return value;
    const h = u32At(value);
    const id = this.progs.get(h);
    if (id === undefined) throw new KernelError(EBADF, `Cannot update prog array: program handle ${h}: Bad file descriptor`);
    return u32Bytes(id);
  }

  /**
   * A prog array lookup's value (the host id of the program in the slot) as the guest sees it:
   * its handle. Throws KernelError ENOENT when the guest holds no handle for that program.
   */
  valueToGuest(m: MapEntry, value: Uint8Array): Uint8Array {
    if (this.mode !== "shim" || m.mapType !== BPF_MAP_TYPE_PROG_ARRAY || value.length !== 4) return value;
    const id = u32At(value);
    for (const [h, hostId] of this.progs) if (hostId === id) return u32Bytes(h);
    throw new KernelError(ENOENT, `Cannot look up prog array: program ${id} in the slot has no handle on this device`);
  }

  /** Rewrites the map references of a program image from guest handles to host ids (shim mode only). */
  remapInsns(image: Uint8Array): Uint8Array {
    // A torn image goes through as it is: the host refuses it with EINVAL.
    if (this.mode !== "shim" || image.length % BPF_INSN_SZ !== 0) return image;
    const p = BpfInsns.fromBytes(image);
    for (let i = 0; i + 1 < p.len; i++) {
      if (p.code[i] !== LD_IMM_DW) continue;
      if (p.src[i] === BPF_PSEUDO_MAP_FD || p.src[i] === BPF_PSEUDO_MAP_VALUE) p.imm[i] = this.map(p.imm[i]!).hostId;
      i++;
    }
    return p.toBytes();
  }

  clear(): void {
    this.maps.clear();
    this.progs.clear();
    this.#next = 1;
  }
}
