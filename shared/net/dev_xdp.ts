// The attach rules of a device's XDP slots, one implementation for the guest's
// eth0 and the host's taps. Mirrors dev_xdp_mode(), dev_xdp_prog_count() and
// the checks of dev_xdp_attach() in net/core/dev.c (program attach, not
// bpf_link), with their errno values and extack messages.
import { XDP_FLAGS_DRV_MODE, XDP_FLAGS_HW_MODE, XDP_FLAGS_REPLACE, XDP_FLAGS_SKB_MODE, XDP_FLAGS_UPDATE_IF_NOEXIST } from "../bpf/isa/uapi.ts";
import { EBUSY, EEXIST, EINVAL, KernelError } from "../errno.ts";

/** enum bpf_xdp_mode: XDP_MODE_SKB, XDP_MODE_DRV, XDP_MODE_HW. */
export type XdpMode = "skb" | "drv" | "hw";

/** The modes in the kernel's order (enum bpf_xdp_mode; rtnl_xdp_fill() reports them so). */
export const XDP_MODES: readonly XdpMode[] = ["skb", "drv", "hw"];

/** XDP_FLAGS_MODES (include/uapi/linux/if_link.h). */
export const XDP_FLAGS_MODES = XDP_FLAGS_SKB_MODE | XDP_FLAGS_DRV_MODE | XDP_FLAGS_HW_MODE;
/** XDP_FLAGS_MASK: every flag IFLA_XDP_FLAGS accepts (do_setlink() refuses others with EINVAL). */
export const XDP_FLAGS_MASK = XDP_FLAGS_UPDATE_IF_NOEXIST | XDP_FLAGS_MODES | XDP_FLAGS_REPLACE;

/** A failure the kernel reports through netlink extack: iproute2 prints its message as "Error: msg.". */
export class ExtackError extends KernelError {}

/** The program ids in a device's slots (net_device::xdp_state[]), 0 for an empty slot. */
export type XdpSlots = Readonly<Record<XdpMode, number>>;

/** dev_xdp_mode(): the mode flag given, else DRV when the driver has ndo_bpf, else SKB. */
export function devXdpMode(flags: number, hasNdoBpf: boolean): XdpMode {
  if ((flags & XDP_FLAGS_HW_MODE) !== 0) return "hw";
  if ((flags & XDP_FLAGS_DRV_MODE) !== 0) return "drv";
  if ((flags & XDP_FLAGS_SKB_MODE) !== 0) return "skb";
  return hasNdoBpf ? "drv" : "skb";
}

/** dev_xdp_prog_count(): how many slots hold a program. */
export function devXdpProgCount(slots: XdpSlots): number {
  let n = 0;
  for (const m of XDP_MODES) if (slots[m] !== 0) n++;
  return n;
}

function popcount(x: number): number {
  let n = 0;
  for (let v = x >>> 0; v !== 0; v &= v - 1) n++;
  return n;
}

/** What an attach or detach request is. */
export interface DevXdpAttachReq {
  /** Program to install; 0 detaches (IFLA_XDP_FD -1). */
  newProg: number;
  /** The program XDP_FLAGS_REPLACE expects in the slot (IFLA_XDP_EXPECTED_FD), 0 for none. */
  oldProg: number;
  flags: number;
}

/**
 * dev_xdp_attach()'s checks for a program attach (not a bpf_link), in the
 * kernel's order. Returns the slot the request acts on and the program now in
 * it; the caller installs (or, with newProg 0, removes) the program when it
 * differs from `cur`. Throws ExtackError with the kernel's errno and message.
 */
export function devXdpAttach(slots: XdpSlots, hasNdoBpf: boolean, req: DevXdpAttachReq): { mode: XdpMode; cur: number } {
  const numModes = popcount(req.flags & XDP_FLAGS_MODES);
  if (numModes > 1) throw new ExtackError(EINVAL, "Only one XDP mode flag can be set");
  if (numModes === 0 && devXdpProgCount(slots) > 1) {
    throw new ExtackError(EINVAL, "More than one program loaded, unset mode is ambiguous");
  }
  if (req.oldProg !== 0 && (req.flags & XDP_FLAGS_REPLACE) === 0) throw new ExtackError(EINVAL, "XDP_FLAGS_REPLACE is not specified");
  const mode = devXdpMode(req.flags, hasNdoBpf);
  const cur = slots[mode];
  if ((req.flags & XDP_FLAGS_REPLACE) !== 0 && cur !== req.oldProg) throw new ExtackError(EEXIST, "Active program does not match expected");
  if (req.newProg !== 0) {
    if ((req.flags & XDP_FLAGS_UPDATE_IF_NOEXIST) !== 0 && cur !== 0) throw new ExtackError(EBUSY, "XDP program already attached");
    const other = mode === "skb" ? "drv" : "skb";
    if (mode !== "hw" && slots[other] !== 0) throw new ExtackError(EEXIST, "Native and generic XDP can't be active at the same time");
  }
  return { mode, cur };
}
