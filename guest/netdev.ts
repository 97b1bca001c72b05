// The guest kernel's view of its NIC and BPF objects: one BpfKernel (the
// first verification pass and local maps/programs), eth0 with the three XDP
// attach slots of net/core/dev.c (dev_xdp_attach(): SKB, DRV, HW modes), and
// the bookkeeping of which guest maps/programs live on the device
// (struct bpf_offloaded_map / bpf_prog_offload in kernel/bpf/offload.c).
import { BpfKernel } from "../shared/bpf/syscall.ts";
import type { BpfMap } from "../shared/bpf/maps/map.ts";
import { EBUSY, EEXIST, EINVAL, KernelError } from "../shared/errno.ts";
import { XDP_FLAGS_REPLACE, XDP_FLAGS_UPDATE_IF_NOEXIST } from "../shared/bpf/isa/uapi.ts";

/** XDP_ATTACHED_* (include/uapi/linux/if_link.h). */
export const XDP_ATTACHED_NONE = 0;
export const XDP_ATTACHED_DRV = 1;
export const XDP_ATTACHED_SKB = 2;
export const XDP_ATTACHED_HW = 3;
export const XDP_ATTACHED_MULTI = 4;

export type XdpMode = "skb" | "drv" | "hw";

/** A failure the kernel reports through netlink extack: iproute2 prints its message verbatim. */
export class ExtackError extends KernelError {}

/** A program in an attach slot, with the objects to release when it goes. */
export interface XdpSlot {
  progId: number;
  /** Maps created for this program (local, or shadows of offloaded maps). */
  mapIds: number[];
}

/** An offloaded guest map: its device handle. */
export interface OffloadedMap {
  handle: number;
  map: BpfMap;
}

export class GuestNetdev {
  readonly name: string;
  readonly ifindex: number;
  readonly mac: string;
  readonly mtu: number;
  readonly slots: Record<XdpMode, XdpSlot | null>;

  constructor(name: string, ifindex: number, mac: string) {
    this.name = name;
    this.ifindex = ifindex;
    this.mac = mac;
    this.mtu = 1500;
    this.slots = { skb: null, drv: null, hw: null };
  }

  /**
   * dev_xdp_attach() checks for installing `progId` in `mode`. Returns null or
   * [errno, extack message] with the kernel's wording.
   */
  checkAttach(mode: XdpMode, progId: number, flags: number, expectedProgId: number): [number, string] | null {
    if ((flags & XDP_FLAGS_UPDATE_IF_NOEXIST) !== 0 && (flags & XDP_FLAGS_REPLACE) !== 0) {
      return [EINVAL, "XDP_FLAGS_REPLACE and XDP_FLAGS_UPDATE_IF_NOEXIST are mutually exclusive"];
    }
    if ((mode === "drv" && this.slots.skb !== null) || (mode === "skb" && this.slots.drv !== null)) {
      return [EEXIST, "Native and generic XDP can't be active at the same time"];
    }
    const cur = this.slots[mode]?.progId ?? 0;
    if ((flags & XDP_FLAGS_REPLACE) !== 0 && cur !== expectedProgId) return [EEXIST, "Active program does not match expected"];
    if ((flags & XDP_FLAGS_UPDATE_IF_NOEXIST) !== 0 && cur !== 0 && progId !== 0) return [EBUSY, "XDP program already attached"];
    return null;
  }

  /** IFLA_XDP_ATTACHED value. */
  attachedMode(): number {
    const set = (["drv", "skb", "hw"] as const).filter((m) => this.slots[m] !== null);
    if (set.length === 0) return XDP_ATTACHED_NONE;
    if (set.length > 1) return XDP_ATTACHED_MULTI;
    return set[0] === "drv" ? XDP_ATTACHED_DRV : set[0] === "skb" ? XDP_ATTACHED_SKB : XDP_ATTACHED_HW;
  }
}

/** The guest kernel: BPF subsystem, NIC and offload bookkeeping. */
export class GuestKernel {
  readonly bpf: BpfKernel;
  readonly eth0: GuestNetdev;
  /** Guest map id -> device handle, for maps that live on the device. */
  readonly offloadedMaps: Map<number, OffloadedMap>;
  /** Guest prog id -> device handle. */
  readonly offloadedProgs: Map<number, number>;
  /** Guest prog id -> load time (bpf_prog_info.load_time, shown as loaded_at). */
  readonly loadedAt: Map<number, Date>;

  constructor() {
    this.bpf = new BpfKernel();
    this.eth0 = new GuestNetdev("eth0", 2, "52:54:00:12:34:56");
    this.bpf.addNetdev(2, "eth0");
    this.offloadedMaps = new Map();
    this.offloadedProgs = new Map();
    this.loadedAt = new Map();
  }

  /** Releases a guest program and the maps created with it (local objects only). */
  freeLocal(slot: XdpSlot): void {
    this.bpf.progFree(slot.progId);
    this.offloadedProgs.delete(slot.progId);
    this.loadedAt.delete(slot.progId);
    for (const id of slot.mapIds) {
      this.bpf.mapFree(id);
      this.offloadedMaps.delete(id);
    }
  }
}
