// LRU_HASH and LRU_PERCPU_HASH: eviction instead of -E2BIG (exact LRU order; see bpf_lru_list.ts).
import { describe, expect, it } from "vitest";
import type { BpfMap, BpfMapAttr, BpfMapEnv } from "../../../../shared/bpf/maps/map.ts";
import type { HashMap } from "../../../../shared/bpf/maps/index.ts";
import { EEXIST, EINVAL, ENOENT } from "../../../../shared/errno.ts";
import {
  BPF_ANY, BPF_EXIST, BPF_F_NO_COMMON_LRU, BPF_MAP_TYPE_LRU_HASH, BPF_MAP_TYPE_LRU_PERCPU_HASH, BPF_NOEXIST,
} from "../../../../shared/bpf/isa/uapi.ts";
import { createMapOk, makeMapEnv, place, u32 } from "./map_test_util.ts";

function makeEnv(nCpus = 2): BpfMapEnv {
  return makeMapEnv({ nCpus });
}

function attr(mapType: number, maxEntries: number, mapFlags = 0): BpfMapAttr {
  return { mapType, keySize: 4, valueSize: 4, maxEntries, mapFlags, name: "" };
}

function mk(env: BpfMapEnv, a: BpfMapAttr): HashMap {
  return createMapOk<HashMap>(env, a, 5);
}

function present(m: BpfMap, keys: number[]): number[] {
  const out = new Uint8Array(m.userValueSize);
  return keys.filter((k) => m.sysLookup(u32(k), out) === 0);
}

describe("LRU_HASH", () => {
  it("updateElem() on a full map evicts the least recently inserted key instead of returning -E2BIG", () => {
    const env = makeEnv();
    const m = mk(env, attr(BPF_MAP_TYPE_LRU_HASH, 3));
    for (let k = 1; k <= 3; k++) expect(m.sysUpdate(u32(k), u32(k), BPF_ANY)).toBe(0);
    expect(m.sysUpdate(u32(4), u32(4), BPF_ANY)).toBe(0);
    expect(present(m, [1, 2, 3, 4])).toEqual([2, 3, 4]);
    expect(m.updateElem(place(env, u32(5)), place(env, u32(5)), BPF_NOEXIST)).toBe(0);
    expect(present(m, [1, 2, 3, 4, 5])).toEqual([3, 4, 5]);
    expect(m.count).toBe(3);
    m.free();
  });

  it("lookupElem() from a program makes a key most recently used; sysLookup() does not", () => {
    const env = makeEnv();
    const m = mk(env, attr(BPF_MAP_TYPE_LRU_HASH, 3));
    for (let k = 1; k <= 3; k++) m.sysUpdate(u32(k), u32(k), BPF_ANY);
    expect(m.lookupElem(place(env, u32(1)))).not.toBe(0);
    expect(m.sysLookup(u32(2), new Uint8Array(4))).toBe(0);
    expect(m.sysUpdate(u32(4), u32(4), BPF_ANY)).toBe(0);
    expect(present(m, [1, 2, 3, 4])).toEqual([1, 3, 4]);
    m.free();
  });

  it("updating a present key makes it most recently used and keeps one element per key", () => {
    const env = makeEnv();
    const m = mk(env, attr(BPF_MAP_TYPE_LRU_HASH, 4));
    for (let k = 1; k <= 3; k++) m.sysUpdate(u32(k), u32(k), BPF_ANY);
    expect(m.sysUpdate(u32(1), u32(11), BPF_EXIST)).toBe(0);
    expect(m.count).toBe(3);
    expect(m.sysUpdate(u32(4), u32(4), BPF_ANY)).toBe(0);
    expect(m.sysUpdate(u32(5), u32(5), BPF_ANY)).toBe(0);
    expect(present(m, [1, 2, 3, 4, 5])).toEqual([1, 3, 4, 5]);
    const out = new Uint8Array(4);
    m.sysLookup(u32(1), out);
    expect(out).toEqual(u32(11));
    m.free();
  });

  it("BPF_EXIST on the least recently used key of a full map returns -ENOENT: the pop evicts it first, as in the kernel", () => {
    const env = makeEnv();
    const m = mk(env, attr(BPF_MAP_TYPE_LRU_HASH, 3));
    for (let k = 1; k <= 3; k++) m.sysUpdate(u32(k), u32(k), BPF_ANY);
    expect(m.sysUpdate(u32(1), u32(11), BPF_EXIST)).toBe(-ENOENT);
    expect(present(m, [1, 2, 3])).toEqual([2, 3]);
    m.free();
  });

  it("a delete frees an element, so the next insert evicts nothing", () => {
    const env = makeEnv();
    const m = mk(env, attr(BPF_MAP_TYPE_LRU_HASH, 2));
    m.sysUpdate(u32(1), u32(1), BPF_ANY);
    m.sysUpdate(u32(2), u32(2), BPF_ANY);
    expect(m.deleteElem(place(env, u32(2)))).toBe(0);
    expect(m.deleteElem(place(env, u32(2)))).toBe(-ENOENT);
    expect(m.sysUpdate(u32(3), u32(3), BPF_ANY)).toBe(0);
    expect(present(m, [1, 2, 3])).toEqual([1, 3]);
    m.free();
  });

  it("flag errors come after the element is taken, so a full map evicts even when the update fails, as the kernel does", () => {
    const env = makeEnv();
    const m = mk(env, attr(BPF_MAP_TYPE_LRU_HASH, 2));
    m.sysUpdate(u32(1), u32(1), BPF_ANY);
    m.sysUpdate(u32(2), u32(2), BPF_ANY);
    expect(m.sysUpdate(u32(2), u32(9), BPF_NOEXIST)).toBe(-EEXIST);
    expect(present(m, [1, 2])).toEqual([2]);
    expect(m.sysUpdate(u32(7), u32(7), BPF_EXIST)).toBe(-ENOENT);
    expect(m.count).toBe(1);
    expect(m.sysUpdate(u32(2), u32(2), 3)).toBe(-EINVAL);
    m.free();
  });

  it("the least recently used key itself can be the victim of its own BPF_ANY update and is re-inserted", () => {
    const env = makeEnv();
    const m = mk(env, attr(BPF_MAP_TYPE_LRU_HASH, 2));
    m.sysUpdate(u32(1), u32(1), BPF_ANY);
    m.sysUpdate(u32(2), u32(2), BPF_ANY);
    expect(m.sysUpdate(u32(1), u32(10), BPF_ANY)).toBe(0);
    expect(present(m, [1, 2])).toEqual([1, 2]);
    const out = new Uint8Array(4);
    m.sysLookup(u32(1), out);
    expect(out).toEqual(u32(10));
    m.free();
  });

  it("with BPF_F_NO_COMMON_LRU each CPU recycles only its own elements", () => {
    const env = makeEnv(2);
    const m = mk(env, attr(BPF_MAP_TYPE_LRU_HASH, 4, BPF_F_NO_COMMON_LRU));
    env.cpu = 0;
    for (const k of [1, 2, 3]) expect(m.sysUpdate(u32(k), u32(k), BPF_ANY)).toBe(0);
    // CPU 0 owns 2 elements: the third key evicted the first although CPU 1's are free.
    expect(present(m, [1, 2, 3])).toEqual([2, 3]);
    env.cpu = 1;
    for (const k of [4, 5]) expect(m.sysUpdate(u32(k), u32(k), BPF_ANY)).toBe(0);
    expect(present(m, [2, 3, 4, 5])).toEqual([2, 3, 4, 5]);
    expect(m.lruOrder(1).length).toBe(2);
    expect(m.lruOrder(0).length).toBe(2);
    m.free();
  });
});

describe("LRU_PERCPU_HASH", () => {
  it("updates present keys in place and evicts the least recently used key when full", () => {
    const env = makeEnv(2);
    const m = mk(env, attr(BPF_MAP_TYPE_LRU_PERCPU_HASH, 2));
    const k1 = place(env, u32(1));
    expect(m.updateElem(k1, place(env, u32(100)), BPF_ANY)).toBe(0);
    const p = m.lookupElem(k1);
    expect(m.updateElem(k1, place(env, u32(101)), BPF_EXIST)).toBe(0);
    expect(m.lookupElem(k1)).toBe(p);
    expect(env.mem.dv.getUint32(p, true)).toBe(101);
    expect(m.sysUpdate(u32(2), new Uint8Array(16), BPF_ANY)).toBe(0);
    expect(m.lookupElem(k1)).toBe(p); // key 1 becomes most recently used
    expect(m.sysUpdate(u32(3), new Uint8Array(16), BPF_ANY)).toBe(0);
    expect(present(m, [1, 2, 3])).toEqual([1, 3]);
    m.free();
  });

  it("BPF_EXIST on an absent key returns -ENOENT without evicting anything", () => {
    const env = makeEnv(2);
    const m = mk(env, attr(BPF_MAP_TYPE_LRU_PERCPU_HASH, 2));
    m.sysUpdate(u32(1), new Uint8Array(16), BPF_ANY);
    m.sysUpdate(u32(2), new Uint8Array(16), BPF_ANY);
    expect(m.sysUpdate(u32(3), new Uint8Array(16), BPF_EXIST)).toBe(-ENOENT);
    expect(present(m, [1, 2])).toEqual([1, 2]);
    m.free();
  });

  it("a new element written by a program zeroes the other CPUs' slots", () => {
    const env = makeEnv(2);
    const m = mk(env, attr(BPF_MAP_TYPE_LRU_PERCPU_HASH, 1));
    m.sysUpdate(u32(1), new Uint8Array(16).fill(0x77), BPF_ANY);
    env.cpu = 1;
    expect(m.updateElem(place(env, u32(2)), place(env, u32(5)), BPF_ANY)).toBe(0); // evicts key 1
    const out = new Uint8Array(16);
    expect(m.sysLookup(u32(2), out)).toBe(0);
    expect(Array.from(out)).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0]);
    m.free();
  });
});
