// dev_xdp_attach()'s rules (net/core/dev.c) as one table: which slot a request
// acts on, and each refusal's errno and extack message, in the kernel's order.
import { describe, expect, it } from "vitest";
import { XDP_FLAGS_DRV_MODE, XDP_FLAGS_HW_MODE, XDP_FLAGS_REPLACE, XDP_FLAGS_SKB_MODE, XDP_FLAGS_UPDATE_IF_NOEXIST } from "../../../shared/bpf/isa/uapi.ts";
import { EBUSY, EEXIST, EINVAL } from "../../../shared/errno.ts";
import { ExtackError, devXdpAttach, devXdpMode, type XdpSlots } from "../../../shared/net/dev_xdp.ts";
import { Tap } from "../../../host/tap.ts";

const NOEXIST = XDP_FLAGS_UPDATE_IF_NOEXIST;
const slots = (skb: number, drv: number, hw: number): XdpSlots => ({ skb, drv, hw });
function refusal(f: () => unknown): [number, string] | null {
  try {
    f();
    return null;
  } catch (e) {
    if (!(e instanceof ExtackError)) throw e;
    return [e.errno, e.message];
  }
}

describe("devXdpMode (dev_xdp_mode)", () => {
  it("takes the mode flag, else DRV when the driver has ndo_bpf, else SKB", () => {
    expect(devXdpMode(XDP_FLAGS_HW_MODE, true)).toBe("hw");
    expect(devXdpMode(XDP_FLAGS_SKB_MODE, true)).toBe("skb");
    expect(devXdpMode(XDP_FLAGS_DRV_MODE, false)).toBe("drv");
    expect(devXdpMode(NOEXIST, true)).toBe("drv");
    expect(devXdpMode(NOEXIST, false)).toBe("skb");
  });
});

describe("devXdpAttach (dev_xdp_attach)", () => {
  const cases: Array<[string, XdpSlots, number, number, number, [number, string] | string]> = [
    ["two mode flags", slots(0, 0, 0), 5, 0, XDP_FLAGS_SKB_MODE | XDP_FLAGS_HW_MODE, [EINVAL, "Only one XDP mode flag can be set"]],
    ["mode-less detach with drv + hw", slots(0, 1, 2), 0, 0, 0, [EINVAL, "More than one program loaded, unset mode is ambiguous"]],
    ["mode-less attach with skb + hw", slots(1, 0, 2), 5, 0, NOEXIST, [EINVAL, "More than one program loaded, unset mode is ambiguous"]],
    ["mode-less detach with hw only: DRV, empty", slots(0, 0, 2), 0, 0, 0, "drv"],
    ["mode-less detach with skb only: DRV, empty", slots(1, 0, 0), 0, 0, 0, "drv"],
    ["expected program without REPLACE", slots(0, 1, 0), 5, 1, XDP_FLAGS_DRV_MODE, [EINVAL, "XDP_FLAGS_REPLACE is not specified"]],
    ["REPLACE with another program in the slot", slots(0, 1, 0), 5, 3, XDP_FLAGS_DRV_MODE | XDP_FLAGS_REPLACE, [EEXIST, "Active program does not match expected"]],
    ["REPLACE and NOEXIST: REPLACE checked first, then NOEXIST", slots(0, 1, 0), 5, 1, XDP_FLAGS_DRV_MODE | XDP_FLAGS_REPLACE | NOEXIST, [EBUSY, "XDP program already attached"]],
    ["NOEXIST on a used slot, before the native/generic check", slots(1, 0, 0), 5, 0, XDP_FLAGS_SKB_MODE | NOEXIST, [EBUSY, "XDP program already attached"]],
    ["NOEXIST refuses even the same program", slots(0, 5, 0), 5, 0, XDP_FLAGS_DRV_MODE | NOEXIST, [EBUSY, "XDP program already attached"]],
    ["native beside generic", slots(1, 0, 0), 5, 0, XDP_FLAGS_DRV_MODE, [EEXIST, "Native and generic XDP can't be active at the same time"]],
    ["generic beside native", slots(0, 1, 0), 5, 0, XDP_FLAGS_SKB_MODE, [EEXIST, "Native and generic XDP can't be active at the same time"]],
    ["offload beside generic", slots(1, 0, 0), 5, 0, XDP_FLAGS_HW_MODE | NOEXIST, "hw"],
    ["a native detach beside a generic program: no native/generic refusal, the DRV slot is empty", slots(1, 0, 0), 0, 0, XDP_FLAGS_DRV_MODE, "drv"],
  ];
  for (const [what, s, prog, old, flags, want] of cases) {
    it(what, () => {
      if (typeof want === "string") expect(devXdpAttach(s, true, { newProg: prog, oldProg: old, flags }).mode).toBe(want);
      else expect(refusal(() => devXdpAttach(s, true, { newProg: prog, oldProg: old, flags }))).toEqual(want);
    });
  }

  it("the host tap uses the same rules on its offload slot, with the kernel's positive errno", () => {
    const t = new Tap("tap0", 10, "vm1", 0);
    t.progId = 4;
    expect(refusal(() => t.checkAttach(5, NOEXIST, 0))).toEqual([EBUSY, "XDP program already attached"]);
    expect(refusal(() => t.checkAttach(5, XDP_FLAGS_REPLACE, 3))).toEqual([EEXIST, "Active program does not match expected"]);
    expect(refusal(() => t.checkAttach(5, XDP_FLAGS_SKB_MODE, 0))).toEqual([EINVAL, "Only one XDP mode flag can be set"]);
    expect(() => t.checkAttach(5, XDP_FLAGS_REPLACE, 4)).not.toThrow();
    expect(() => t.checkAttach(5, 1 << 7, 0)).toThrow(/unknown XDP flags 0x80/);
  });
});
