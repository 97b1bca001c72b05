// Handle remapping of prog array values in the shim (qemu-shim/fd_remap.ts):
// an update's program handle goes to the host as its host id, a lookup's host
// id comes back as the guest's handle; handles the guest does not own are
// EBADF, other maps' values and --fd-remap guest pass unchanged.
import { describe, expect, it } from "vitest";
import { FdTable, type MapEntry } from "../../qemu-shim/fd_remap.ts";
import { BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_PROG_ARRAY } from "../../shared/bpf/isa/uapi.ts";
import { EBADF, ENOENT, KernelError } from "../../shared/errno.ts";

const u32 = (n: number) => Uint8Array.of(n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24);
const pa: MapEntry = { hostId: 40, bytes: 0, mapType: BPF_MAP_TYPE_PROG_ARRAY };
const arr: MapEntry = { hostId: 41, bytes: 0, mapType: BPF_MAP_TYPE_ARRAY };

function errnoOf(fn: () => unknown): number {
  try {
    fn();
  } catch (e) {
    if (e instanceof KernelError) return e.errno;
    throw e;
  }
  return 0;
}

describe("FdTable prog array values", () => {
  it("valueToHost() gives the program's host id for a handle the guest owns, EBADF otherwise", () => {
    const t = new FdTable("shim");
    const h = t.newHandle(300);
    t.progs.set(h, 300);
    expect([...t.valueToHost(pa, u32(h))]).toEqual([...u32(300)]);
    expect(errnoOf(() => t.valueToHost(pa, u32(300)))).toBe(EBADF); // a host id is not a handle
    expect(errnoOf(() => t.valueToHost(pa, u32(h + 7)))).toBe(EBADF);
    expect([...t.valueToHost(arr, u32(h + 7))]).toEqual([...u32(h + 7)]); // other maps: plain data
  });

  it("valueToGuest() gives the guest's handle for the host id in a slot, ENOENT when the guest holds none", () => {
    const t = new FdTable("shim");
    const h = t.newHandle(300);
    t.progs.set(h, 300);
    expect([...t.valueToGuest(pa, u32(300))]).toEqual([...u32(h)]);
    expect(errnoOf(() => t.valueToGuest(pa, u32(301)))).toBe(ENOENT);
  });

  it("passes values through with --fd-remap guest (the guest knows host ids, as in the RFC)", () => {
    const t = new FdTable("guest");
    expect([...t.valueToHost(pa, u32(300))]).toEqual([...u32(300)]);
    expect([...t.valueToGuest(pa, u32(300))]).toEqual([...u32(300)]);
  });
});
