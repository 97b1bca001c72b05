// A host tap device for one guest NIC, with the slot for the XDP program the
// guest offloaded to it (the RFC's tun "offloaded xdp prog" run in the Tx
// path; drivers/net/tun.c). The datapath arrives with the dataplane issue;
// here the tap is the attach point and the unit of ownership.
import { EBUSY, EEXIST, EINVAL } from "../shared/errno.ts";
import { XDP_FLAGS_REPLACE, XDP_FLAGS_UPDATE_IF_NOEXIST } from "../shared/bpf/isa/uapi.ts";

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
   * Checks an attach of `progId` with XDP flags against the current slot, as
   * dev_xdp_attach() does. Returns null or [-errno, extack message].
   */
  checkAttach(progId: number, flags: number, expectedId: number): [number, string] | null {
    if ((flags & XDP_FLAGS_UPDATE_IF_NOEXIST) !== 0 && (flags & XDP_FLAGS_REPLACE) !== 0) {
      return [-EINVAL, "XDP_FLAGS_REPLACE and XDP_FLAGS_UPDATE_IF_NOEXIST are mutually exclusive"];
    }
    if ((flags & XDP_FLAGS_REPLACE) !== 0 && this.progId !== expectedId) {
      return [-EEXIST, "Active program does not match expected"];
    }
    if ((flags & XDP_FLAGS_UPDATE_IF_NOEXIST) !== 0 && this.progId !== 0 && this.progId !== progId) {
      return [-EBUSY, "XDP program already attached"];
    }
    return null;
  }
}
