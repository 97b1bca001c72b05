// A host tap device for one guest NIC, with the slot for the XDP program the
// guest offloaded to it (the RFC's tun "offloaded xdp prog" run in the Tx
// path; drivers/net/tun.c). The datapath arrives with the dataplane issue;
// here the tap is the attach point and the unit of ownership.
import { XDP_FLAGS_HW_MODE } from "../shared/bpf/isa/uapi.ts";
import { EINVAL, KernelError } from "../shared/errno.ts";
import { XDP_FLAGS_MASK, devXdpAttach } from "../shared/net/dev_xdp.ts";

/** One tap: name, ifindex, owner, offloaded program slot. */
export class Tap {
  readonly name: string;
  readonly ifindex: number;
  /** Guest (shim session) name that owns it, and the NIC index in that guest. */
  readonly guest: string;
  readonly nic: number;
  /** Host id of the offloaded program, 0 when none. */
  progId: number;

  constructor(name: string, ifindex: number, guest: string, nic: number) {
    this.name = name;
    this.ifindex = ifindex;
    this.guest = guest;
    this.nic = nic;
    this.progId = 0;
  }

  /**
   * dev_xdp_attach()'s checks for attaching `progId` with the guest's XDP flags.
   * The tap's slot is the offload (HW) slot, so the guest's mode-less flags
   * address it. Throws ExtackError (errno, kernel message).
   */
  checkAttach(progId: number, flags: number, expectedId: number): void {
    // do_setlink(): IFLA_XDP_FLAGS outside XDP_FLAGS_MASK are refused before dev_xdp_attach(), with no extack.
    if ((flags & ~XDP_FLAGS_MASK) !== 0) throw new KernelError(EINVAL, `Cannot attach: unknown XDP flags 0x${(flags >>> 0).toString(16)}`);
    devXdpAttach({ skb: 0, drv: 0, hw: this.progId }, true, { newProg: progId, oldProg: expectedId, flags: flags | XDP_FLAGS_HW_MODE });
  }
}
