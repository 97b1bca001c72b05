// The guest kernel's view of its NIC and BPF objects: one BpfKernel (the
// first verification pass and local maps/programs), eth0 with the three XDP
// attach slots of net/core/dev.c (dev_xdp_attach(): SKB, DRV, HW modes), and
// the bookkeeping of which guest maps/programs live on the device
// (struct bpf_offloaded_map / bpf_prog_offload in kernel/bpf/offload.c).
import { BpfKernel } from "../shared/bpf/syscall.ts";
import type { BpfMap } from "../shared/bpf/maps/map.ts";
import { XDP_MODES, devXdpAttach, type XdpMode, type XdpSlots } from "../shared/net/dev_xdp.ts";

export { ExtackError, type XdpMode } from "../shared/net/dev_xdp.ts";
import { ENOTCONN, KernelError } from "../shared/errno.ts";
import type { LogFn } from "../shared/runtime_dir.ts";
import type { VirtnetQueuePair } from "./net/virtnet.ts";

/** XDP_ATTACHED_* (include/uapi/linux/if_link.h). */
export const XDP_ATTACHED_NONE = 0;
export const XDP_ATTACHED_DRV = 1;
export const XDP_ATTACHED_SKB = 2;
export const XDP_ATTACHED_HW = 3;
export const XDP_ATTACHED_MULTI = 4;

/** A program in an attach slot, with the objects to release when it goes. */
export interface XdpSlot {
  progId: number;
  /** Maps created for this program (local, or shadows of offloaded maps). */
  mapIds: number[];
  /** The object's other programs loaded with it (tail-call targets), released with it. */
  peerProgIds?: number[];
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

  /** The program id in each slot (0 when empty), for dev_xdp_attach()'s checks. */
  progIds(): XdpSlots {
    return { skb: this.slots.skb?.progId ?? 0, drv: this.slots.drv?.progId ?? 0, hw: this.slots.hw?.progId ?? 0 };
  }

  /**
   * dev_xdp_attach()'s checks for `progId` (0: detach) with XDP `flags`; virtio_net
   * has ndo_bpf, so a mode-less request means DRV. Returns the slot it acts on.
   * Throws ExtackError.
   */
  checkAttach(progId: number, flags: number, expectedProgId: number): XdpMode {
    return devXdpAttach(this.progIds(), true, { newProg: progId, oldProg: expectedProgId, flags }).mode;
  }

  /** IFLA_XDP_ATTACHED value. */
  attachedMode(): number {
    const set = XDP_MODES.filter((m) => this.slots[m] !== null);
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
  /** Wall-clock time of boot, ms: bpf_prog_info.load_time counts from it. */
  readonly bootTime: number;
  readonly log: LogFn;
  /** eth0's receive and send queues once the data channel is up (dataplane.ts), null before. */
  datapath: VirtnetQueuePair | null;
  /** Aborted when the device resets: offload loads in flight (their first pass) stop. */
  #device: AbortController;

  constructor(log: LogFn = () => {}) {
    this.log = log;
    this.#device = new AbortController();
    // A shared memory: the datapath's rings and receive pages live in it, and views of a shared
    // memory survive its growth.
    this.bpf = new BpfKernel({ sharedMemory: true });
    this.datapath = null;
    this.eth0 = new GuestNetdev("eth0", 2, "52:54:00:12:34:56");
    this.bpf.addNetdev(2, "eth0");
    this.offloadedMaps = new Map();
    this.offloadedProgs = new Map();
    this.loadedAt = new Map();
    this.bootTime = Date.now();
  }

  /** Signal of the current device incarnation (offload loads pass it to the verifier). */
  get deviceSignal(): AbortSignal {
    return this.#device.signal;
  }

  /** The device was reset: loads for it that are still verifying stop with ENOTCONN. */
  deviceReset(): void {
    this.#device.abort(new KernelError(ENOTCONN, "the device was reset meanwhile"));
    this.#device = new AbortController();
  }

  /**
   * The program the datapath runs on receive: the DRV slot's (native XDP in virtnet_poll), else
   * the SKB slot's (generic XDP, which runs on the same packets after the driver; here at the same
   * place, counted the same). The HW slot's runs on the host.
   */
  syncDatapathXdp(): void {
    if (this.datapath === null) return;
    const slot = this.eth0.slots.drv ?? this.eth0.slots.skb;
    this.datapath.xdpProg = slot === null ? null : this.bpf.progs.get(slot.progId) ?? null;
  }

  /** Releases a guest program and the maps created with it (local objects only). */
  freeLocal(slot: XdpSlot): void {
    for (const id of [slot.progId, ...(slot.peerProgIds ?? [])]) {
      this.bpf.progFree(id);
      this.offloadedProgs.delete(id);
      this.loadedAt.delete(id);
    }
    for (const id of slot.mapIds) {
      this.bpf.mapFree(id);
      this.offloadedMaps.delete(id);
    }
  }
}
