// DEVMAP and DEVMAP_HASH (kernel/bpf/devmap.c semantics).
import { describe, expect, it } from "vitest";
import type { BpfMap, BpfMapAttr, BpfMapEnv } from "../../../../shared/bpf/maps/map.ts";
import type { DevMap, DevMapHash } from "../../../../shared/bpf/maps/index.ts";
import { E2BIG, EEXIST, EINVAL, ENOENT, EOPNOTSUPP } from "../../../../shared/errno.ts";
import {
  BPF_ANY, BPF_EXIST, BPF_MAP_TYPE_DEVMAP, BPF_MAP_TYPE_DEVMAP_HASH, BPF_NOEXIST,
} from "../../../../shared/bpf/isa/uapi.ts";
import { createMapOk, keysInOrder, makeMapEnv, place, u32 } from "./map_test_util.ts";

const xdpProg = { id: 55, progType: 6 };
const tcProg = { id: 56, progType: 3 };

function makeEnv(): BpfMapEnv {
  return makeMapEnv({ nCpus: 2, progs: [[20, xdpProg], [21, tcProg]], ifindexes: [1, 2, 9] });
}

function attr(mapType: number, valueSize: number, maxEntries: number): BpfMapAttr {
  return { mapType, keySize: 4, valueSize, maxEntries, mapFlags: 0, name: "tx_ports" };
}

function mk<T extends BpfMap>(env: BpfMapEnv, a: BpfMapAttr): T {
  return createMapOk<T>(env, a, 9);
}

function val(ifindex: number, fd: number): Uint8Array {
  const b = new Uint8Array(8);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, ifindex, true);
  dv.setInt32(4, fd, true);
  return b;
}

describe("DEVMAP", () => {
  it("sysUpdate() stores an ifindex that ifindexAt(), lookupElem() and sysLookup() return", () => {
    const env = makeEnv();
    const m = mk<DevMap>(env, attr(BPF_MAP_TYPE_DEVMAP, 4, 4));
    expect(m.sysUpdate(u32(2), u32(9), BPF_ANY)).toBe(0);
    expect(m.ifindexAt(2)).toBe(9);
    expect(m.ifindexAt(1)).toBe(0);
    expect(m.ifindexAt(4)).toBe(0);
    const p = m.lookupElem(place(env, u32(2)));
    expect(p).toBe(m.valuesStart + 8);
    expect(env.mem.dv.getUint32(p, true)).toBe(9);
    expect(m.lookupElem(place(env, u32(1)))).toBe(0);
    expect(m.lookupElem(place(env, u32(4)))).toBe(0);
    const out = new Uint8Array(4);
    expect(m.sysLookup(u32(2), out)).toBe(0);
    expect(out).toEqual(u32(9));
    expect(m.sysLookup(u32(0), out)).toBe(-ENOENT);
    m.free();
  });

  it("sysUpdate() returns -EINVAL for an unknown ifindex or flags, -E2BIG out of range, -EEXIST for BPF_NOEXIST", () => {
    const env = makeEnv();
    const m = mk<DevMap>(env, attr(BPF_MAP_TYPE_DEVMAP, 4, 2));
    expect(m.sysUpdate(u32(0), u32(3), BPF_ANY)).toBe(-EINVAL);
    expect(m.sysUpdate(u32(0), u32(1), 3)).toBe(-EINVAL);
    expect(m.sysUpdate(u32(2), u32(1), BPF_ANY)).toBe(-E2BIG);
    expect(m.sysUpdate(u32(0), u32(1), BPF_NOEXIST)).toBe(-EEXIST);
    expect(m.sysUpdate(u32(0), u32(1), BPF_EXIST)).toBe(0);
    expect(m.ifindexAt(0)).toBe(1);
    m.free();
  });

  it("an ifindex of 0 empties the slot, and is -EINVAL together with a program fd", () => {
    const env = makeEnv();
    const m = mk<DevMap>(env, attr(BPF_MAP_TYPE_DEVMAP, 8, 2));
    expect(m.sysUpdate(u32(1), val(2, 0), BPF_ANY)).toBe(0);
    expect(m.sysUpdate(u32(1), val(0, 20), BPF_ANY)).toBe(-EINVAL);
    expect(m.ifindexAt(1)).toBe(2);
    expect(m.sysUpdate(u32(1), val(0, 0), BPF_ANY)).toBe(0);
    expect(m.ifindexAt(1)).toBe(0);
    expect(m.sysLookup(u32(1), new Uint8Array(8))).toBe(-ENOENT);
    m.free();
  });

  it("an 8-byte value attaches an XDP program: readers see its id, progAt() returns it", () => {
    const env = makeEnv();
    const m = mk<DevMap>(env, attr(BPF_MAP_TYPE_DEVMAP, 8, 2));
    expect(m.sysUpdate(u32(0), val(1, 20), BPF_ANY)).toBe(0);
    const out = new Uint8Array(8);
    expect(m.sysLookup(u32(0), out)).toBe(0);
    expect(out).toEqual(val(1, 55));
    expect(m.progAt(0)).toBe(xdpProg);
    expect(m.sysUpdate(u32(1), val(1, 77), BPF_ANY)).toBe(-EINVAL); // no such program
    expect(m.sysUpdate(u32(1), val(1, 21), BPF_ANY)).toBe(-EINVAL); // not an XDP program
    expect(m.sysUpdate(u32(1), val(2, -1), BPF_ANY)).toBe(0); // negative fd: no program
    expect(m.sysLookup(u32(1), out)).toBe(0);
    expect(out).toEqual(val(2, 0));
    expect(m.progAt(1)).toBe(null);
    m.free();
  });

  it("sysDelete() returns -EINVAL out of range and 0 for filled and empty slots", () => {
    const env = makeEnv();
    const m = mk<DevMap>(env, attr(BPF_MAP_TYPE_DEVMAP, 4, 2));
    expect(m.sysDelete(u32(2))).toBe(-EINVAL);
    expect(m.sysDelete(u32(0))).toBe(0);
    expect(m.sysUpdate(u32(0), u32(1), BPF_ANY)).toBe(0);
    expect(m.sysDelete(u32(0))).toBe(0);
    expect(m.ifindexAt(0)).toBe(0);
    m.free();
  });

  it("program-side updateElem() and deleteElem() return -EOPNOTSUPP", () => {
    const env = makeEnv();
    const m = mk<DevMap>(env, attr(BPF_MAP_TYPE_DEVMAP, 4, 2));
    const k = place(env, u32(0));
    expect(m.updateElem(k, place(env, u32(1)), BPF_ANY)).toBe(-EOPNOTSUPP);
    expect(m.deleteElem(k)).toBe(-EOPNOTSUPP);
    expect(m.ifindexAt(0)).toBe(0);
    m.free();
  });

  it("sysGetNextKey() walks every slot of a devmap, filled or not", () => {
    const env = makeEnv();
    const m = mk<DevMap>(env, attr(BPF_MAP_TYPE_DEVMAP, 4, 3));
    m.sysUpdate(u32(1), u32(1), BPF_ANY);
    expect(keysInOrder(m)).toEqual([0, 1, 2]);
    m.free();
  });

  it("memBytes counts an item for an ifindex-0 update of an empty slot, as the kernel's items counter does", () => {
    const env = makeEnv();
    const m = mk<DevMap>(env, attr(BPF_MAP_TYPE_DEVMAP, 4, 2));
    const base = m.memBytes;
    expect(m.sysUpdate(u32(0), u32(0), BPF_ANY)).toBe(0);
    expect(m.memBytes).toBe(base + 72);
    expect(m.sysUpdate(u32(1), u32(1), BPF_ANY)).toBe(0);
    expect(m.sysDelete(u32(1))).toBe(0);
    expect(m.memBytes).toBe(base + 72);
    m.free();
  });
});

describe("DEVMAP_HASH", () => {
  it("stores any u32 key; ifindexAt(), lookupElem() and sysLookup() find it", () => {
    const env = makeEnv();
    const m = mk<DevMapHash>(env, attr(BPF_MAP_TYPE_DEVMAP_HASH, 4, 4));
    expect(m.sysUpdate(u32(100000), u32(2), BPF_ANY)).toBe(0);
    expect(m.ifindexAt(100000)).toBe(2);
    expect(m.ifindexAt(3)).toBe(0);
    const p = m.lookupElem(place(env, u32(100000)));
    expect(p >= m.valuesStart && p + 4 <= m.valuesEnd).toBe(true);
    expect(env.mem.dv.getUint32(p, true)).toBe(2);
    expect(m.lookupElem(place(env, u32(7)))).toBe(0);
    const out = new Uint8Array(4);
    expect(m.sysLookup(u32(100000), out)).toBe(0);
    expect(out).toEqual(u32(2));
    expect(m.sysLookup(u32(7), out)).toBe(-ENOENT);
    m.free();
  });

  it("sysUpdate() returns -E2BIG for a new key when max_entries keys are present but replaces present ones", () => {
    const env = makeEnv();
    const m = mk<DevMapHash>(env, attr(BPF_MAP_TYPE_DEVMAP_HASH, 4, 2));
    expect(m.sysUpdate(u32(10), u32(1), BPF_ANY)).toBe(0);
    expect(m.sysUpdate(u32(20), u32(1), BPF_ANY)).toBe(0);
    expect(m.sysUpdate(u32(30), u32(1), BPF_ANY)).toBe(-E2BIG);
    expect(m.sysUpdate(u32(30), u32(5), BPF_ANY)).toBe(-EINVAL); // value checked before capacity
    expect(m.sysUpdate(u32(20), u32(9), BPF_ANY)).toBe(0);
    expect(m.ifindexAt(20)).toBe(9);
    expect(m.sysDelete(u32(10))).toBe(0);
    expect(m.sysUpdate(u32(30), u32(2), BPF_ANY)).toBe(0);
    m.free();
  });

  it("sysUpdate() inserts on BPF_EXIST (the kernel does not check it) and returns -EEXIST on BPF_NOEXIST", () => {
    const env = makeEnv();
    const m = mk<DevMapHash>(env, attr(BPF_MAP_TYPE_DEVMAP_HASH, 4, 2));
    expect(m.sysUpdate(u32(1), u32(1), BPF_EXIST)).toBe(0);
    expect(m.sysUpdate(u32(1), u32(2), BPF_NOEXIST)).toBe(-EEXIST);
    expect(m.sysUpdate(u32(1), u32(0), BPF_ANY)).toBe(-EINVAL);
    expect(m.sysUpdate(u32(1), u32(1), 3)).toBe(-EINVAL);
    expect(m.ifindexAt(1)).toBe(1);
    m.free();
  });

  it("sysDelete() returns -ENOENT for an absent key; program-side writes return -EOPNOTSUPP", () => {
    const env = makeEnv();
    const m = mk<DevMapHash>(env, attr(BPF_MAP_TYPE_DEVMAP_HASH, 8, 2));
    expect(m.sysDelete(u32(5))).toBe(-ENOENT);
    expect(m.sysUpdate(u32(5), val(1, 20), BPF_ANY)).toBe(0);
    expect(m.progAt(5)).toBe(xdpProg);
    expect(m.sysDelete(u32(5))).toBe(0);
    expect(m.progAt(5)).toBe(null);
    expect(m.ifindexAt(5)).toBe(0);
    const k = place(env, u32(5));
    expect(m.updateElem(k, place(env, val(1, 0)), BPF_ANY)).toBe(-EOPNOTSUPP);
    expect(m.deleteElem(k)).toBe(-EOPNOTSUPP);
    m.free();
  });

  it("sysGetNextKey() follows buckets (key & (n_buckets - 1)) in order, newest first; replaced keys move to the front", () => {
    const env = makeEnv();
    const m = mk<DevMapHash>(env, attr(BPF_MAP_TYPE_DEVMAP_HASH, 4, 4));
    expect(m.nBuckets).toBe(4);
    for (const k of [1, 5, 2, 4]) expect(m.sysUpdate(u32(k), u32(1), BPF_ANY)).toBe(0);
    expect(keysInOrder(m)).toEqual([4, 5, 1, 2]);
    expect(m.sysUpdate(u32(1), u32(2), BPF_ANY)).toBe(0);
    expect(keysInOrder(m)).toEqual([4, 1, 5, 2]);
    const next = new Uint8Array(4);
    expect(m.sysGetNextKey(u32(99), next)).toBe(0);
    expect(next).toEqual(u32(4));
    m.free();
  });
});
