// HASH and PERCPU_HASH (kernel/bpf/hashtab.c semantics with the default preallocated pool),
// on a private memory and on a shared one (bookkeeping in a table of the shared memory,
// writers under its spinlock): the same behaviour on both.
import { beforeAll, describe, expect, it } from "vitest";
import type { BpfMapAttr, BpfMapEnv } from "../../../../shared/bpf/maps/map.ts";
import { HashMap, jhash } from "../../../../shared/bpf/maps/index.ts";
import { E2BIG, EEXIST, EINVAL, ENOENT } from "../../../../shared/errno.ts";
import {
  BPF_ANY, BPF_EXIST, BPF_F_LOCK, BPF_F_NO_PREALLOC, BPF_F_ZERO_SEED, BPF_MAP_TYPE_HASH, BPF_MAP_TYPE_PERCPU_HASH,
  BPF_NOEXIST,
} from "../../../../shared/bpf/isa/uapi.ts";
import { createMapOk, keysInOrder, makeMapEnv, place, u32 } from "./map_test_util.ts";

/** Set by each pass of the suite below. */
let onSharedMemory = false;

function makeEnv(nCpus = 4): BpfMapEnv {
  return makeMapEnv({ nCpus, sharedMemory: onSharedMemory });
}

function attr(mapType: number, keySize: number, valueSize: number, maxEntries: number, mapFlags = 0): BpfMapAttr {
  return { mapType, keySize, valueSize, maxEntries, mapFlags, name: "" };
}

function mk(env: BpfMapEnv, a: BpfMapAttr): HashMap {
  return createMapOk<HashMap>(env, a, 3);
}

function readU32At(env: BpfMapEnv, addr: number): number {
  return env.mem.dv.getUint32(addr, true);
}

/** Bucket of a u32 key in a BPF_F_ZERO_SEED map with n buckets. */
function bucketOf(key: number, nBuckets: number): number {
  return jhash(u32(key), 0, 4, 0) & (nBuckets - 1);
}

for (const shared of [false, true]) describe(shared ? "on a shared memory" : "on a private memory", () => {
beforeAll(() => {
  onSharedMemory = shared;
});

describe("HASH", () => {
  it("lookupElem() returns 0 when the key is absent and the value address once it is present", () => {
    const env = makeEnv();
    const m = mk(env, attr(BPF_MAP_TYPE_HASH, 4, 8, 4));
    const k = place(env, u32(42));
    expect(m.lookupElem(k)).toBe(0);
    expect(m.updateElem(k, place(env, u32(0xabcd)), BPF_ANY)).toBe(0);
    const p = m.lookupElem(k);
    expect(p).toBeGreaterThanOrEqual(m.valuesStart);
    expect(p + 8).toBeLessThanOrEqual(m.valuesEnd);
    expect(readU32At(env, p)).toBe(0xabcd);
    const out = new Uint8Array(8);
    expect(m.sysLookup(u32(42), out)).toBe(0);
    expect(out.subarray(0, 4)).toEqual(u32(0xabcd));
    expect(m.sysLookup(u32(43), out)).toBe(-ENOENT);
    expect(m.count).toBe(1);
    m.free();
  });

  it("updates return -EEXIST for BPF_NOEXIST on a present key and -ENOENT for BPF_EXIST on an absent one", () => {
    const env = makeEnv();
    const m = mk(env, attr(BPF_MAP_TYPE_HASH, 4, 4, 4));
    expect(m.sysUpdate(u32(1), u32(10), BPF_EXIST)).toBe(-ENOENT);
    expect(m.sysUpdate(u32(1), u32(10), BPF_NOEXIST)).toBe(0);
    expect(m.sysUpdate(u32(1), u32(11), BPF_NOEXIST)).toBe(-EEXIST);
    expect(m.sysUpdate(u32(1), u32(12), BPF_EXIST)).toBe(0);
    const k = place(env, u32(1));
    expect(m.updateElem(k, place(env, u32(13)), BPF_NOEXIST)).toBe(-EEXIST);
    expect(m.updateElem(place(env, u32(2)), k, BPF_EXIST)).toBe(-ENOENT);
    expect(readU32At(env, m.lookupElem(k))).toBe(12);
    m.free();
  });

  it("updates return -EINVAL for unknown flag bits and BPF_F_LOCK", () => {
    const env = makeEnv();
    const m = mk(env, attr(BPF_MAP_TYPE_HASH, 4, 4, 4));
    const k = place(env, u32(1));
    for (const f of [3, 8, 1 << 20, BPF_F_LOCK, BPF_F_LOCK | BPF_EXIST]) {
      expect(m.updateElem(k, k, f)).toBe(-EINVAL);
      expect(m.sysUpdate(u32(1), u32(1), f)).toBe(-EINVAL);
    }
    expect(m.count).toBe(0);
    m.free();
  });

  it("updateElem() returns -E2BIG for a new key in a full map, but replaces present keys and refills after a delete", () => {
    const env = makeEnv(2);
    const m = mk(env, attr(BPF_MAP_TYPE_HASH, 4, 4, 3));
    for (let i = 0; i < 3; i++) expect(m.sysUpdate(u32(i), u32(i), BPF_ANY)).toBe(0);
    expect(m.sysUpdate(u32(3), u32(3), BPF_ANY)).toBe(-E2BIG);
    expect(m.updateElem(place(env, u32(3)), place(env, u32(3)), BPF_NOEXIST)).toBe(-E2BIG);
    // Replacing uses the CPU's spare element, so a full map still takes it, repeatedly.
    for (let r = 0; r < 5; r++) expect(m.sysUpdate(u32(1), u32(100 + r), BPF_ANY)).toBe(0);
    expect(m.count).toBe(3);
    expect(m.sysDelete(u32(0))).toBe(0);
    expect(m.sysUpdate(u32(3), u32(3), BPF_ANY)).toBe(0);
    expect(keysInOrder(m).sort()).toEqual([1, 2, 3]);
    m.free();
  });

  it("replacing a value moves the key to a fresh element; the old pointer still holds the old value", () => {
    const env = makeEnv(2);
    const m = mk(env, attr(BPF_MAP_TYPE_HASH, 4, 4, 2));
    const k = place(env, u32(9));
    expect(m.updateElem(k, place(env, u32(1)), BPF_ANY)).toBe(0);
    const p1 = m.lookupElem(k);
    expect(m.updateElem(k, place(env, u32(2)), BPF_ANY)).toBe(0);
    const p2 = m.lookupElem(k);
    expect(p2).not.toBe(p1);
    expect(readU32At(env, p1)).toBe(1);
    expect(readU32At(env, p2)).toBe(2);
    expect(p1 >= m.valuesStart && p1 + 4 <= m.valuesEnd).toBe(true);
    // The next replacement on this CPU recycles p1 (it became the CPU's spare)...
    expect(m.updateElem(k, place(env, u32(3)), BPF_ANY)).toBe(0);
    expect(m.lookupElem(k)).toBe(p1);
    // ...while another CPU uses its own spare.
    env.cpu = 1;
    expect(m.updateElem(k, place(env, u32(4)), BPF_ANY)).toBe(0);
    const p4 = m.lookupElem(k);
    expect([p1, p2]).not.toContain(p4);
    expect(readU32At(env, p4)).toBe(4);
    m.free();
  });

  it("deleteElem() returns -ENOENT for an absent key and returns the element to the pool", () => {
    const env = makeEnv();
    const m = mk(env, attr(BPF_MAP_TYPE_HASH, 4, 4, 2));
    const k = place(env, u32(5));
    expect(m.deleteElem(k)).toBe(-ENOENT);
    expect(m.updateElem(k, k, BPF_ANY)).toBe(0);
    const p = m.lookupElem(k);
    expect(m.deleteElem(k)).toBe(0);
    expect(m.lookupElem(k)).toBe(0);
    expect(m.sysDelete(u32(5))).toBe(-ENOENT);
    expect(m.count).toBe(0);
    expect(m.sysUpdate(u32(6), u32(6), BPF_ANY)).toBe(0);
    expect(m.lookupElem(place(env, u32(6)))).toBe(p);
    m.free();
  });

  it("sysGetNextKey() follows buckets in order, newest first in a chain, like the kernel for BPF_F_ZERO_SEED", () => {
    const env = makeEnv();
    const m = mk(env, attr(BPF_MAP_TYPE_HASH, 4, 4, 16, BPF_F_ZERO_SEED));
    expect(m.nBuckets).toBe(16);
    const keys = [3, 77, 1000, 12, 5, 999999, 64, 65, 8, 31];
    for (const key of keys) expect(m.sysUpdate(u32(key), u32(key), BPF_ANY)).toBe(0);
    const expected = keys
      .map((key, order) => ({ key, order, b: bucketOf(key, 16) }))
      .sort((x, y) => x.b - y.b || y.order - x.order)
      .map((x) => x.key);
    expect(keysInOrder(m)).toEqual(expected);
    m.free();
  });

  it("sysGetNextKey() restarts at the first key for NULL or an unknown key, and gives -ENOENT at the end", () => {
    const env = makeEnv();
    const m = mk(env, attr(BPF_MAP_TYPE_HASH, 4, 4, 8));
    const next = new Uint8Array(4);
    expect(m.sysGetNextKey(null, next)).toBe(-ENOENT);
    expect(m.sysGetNextKey(u32(1), next)).toBe(-ENOENT);
    for (const key of [10, 20, 30]) m.sysUpdate(u32(key), u32(0), BPF_ANY);
    const order = keysInOrder(m);
    expect(order.slice().sort((a, b) => a - b)).toEqual([10, 20, 30]);
    expect(m.sysGetNextKey(u32(12345), next)).toBe(0);
    expect(next).toEqual(u32(order[0]!));
    expect(m.sysGetNextKey(u32(order[2]!), next)).toBe(-ENOENT);
    m.free();
  });

  it("a replaced key moves to the head of its chain, as the kernel's swap does", () => {
    const env = makeEnv();
    const m = mk(env, attr(BPF_MAP_TYPE_HASH, 4, 4, 4, BPF_F_ZERO_SEED));
    // Two keys that share a bucket of the 4.
    let a = 0;
    let b = 1;
    while (bucketOf(b, 4) !== bucketOf(a, 4)) b++;
    m.sysUpdate(u32(a), u32(1), BPF_ANY);
    m.sysUpdate(u32(b), u32(1), BPF_ANY);
    expect(keysInOrder(m)).toEqual([b, a]);
    m.sysUpdate(u32(a), u32(2), BPF_ANY);
    expect(keysInOrder(m)).toEqual([a, b]);
    m.free();
  });

  it("keys whose size is not a multiple of 4 match byte for byte on both sides", () => {
    const env = makeEnv();
    const m = mk(env, attr(BPF_MAP_TYPE_HASH, 6, 4, 4));
    const key = Uint8Array.from([1, 2, 3, 4, 5, 6]);
    expect(m.sysUpdate(key, u32(66), BPF_ANY)).toBe(0);
    expect(readU32At(env, m.lookupElem(place(env, key)))).toBe(66);
    expect(m.lookupElem(place(env, Uint8Array.from([1, 2, 3, 4, 5, 7])))).toBe(0);
    const next = new Uint8Array(6);
    expect(m.sysGetNextKey(null, next)).toBe(0);
    expect(next).toEqual(key);
    m.free();
  });

  it("a BPF_F_NO_PREALLOC hash keeps the same update semantics", () => {
    const env = makeEnv();
    const m = mk(env, attr(BPF_MAP_TYPE_HASH, 4, 4, 2, BPF_F_NO_PREALLOC));
    expect(m.sysUpdate(u32(1), u32(1), BPF_ANY)).toBe(0);
    expect(m.sysUpdate(u32(2), u32(2), BPF_ANY)).toBe(0);
    expect(m.sysUpdate(u32(3), u32(3), BPF_ANY)).toBe(-E2BIG);
    expect(m.sysUpdate(u32(2), u32(22), BPF_EXIST)).toBe(0);
    m.free();
  });
});

describe("PERCPU_HASH", () => {
  it("lookupElem() returns the slot of env.cpu and program updates write only that slot", () => {
    const env = makeEnv(4);
    const m = mk(env, attr(BPF_MAP_TYPE_PERCPU_HASH, 4, 4, 4));
    const k = place(env, u32(7));
    env.cpu = 1;
    expect(m.updateElem(k, place(env, u32(11)), BPF_ANY)).toBe(0);
    const p1 = m.lookupElem(k);
    env.cpu = 3;
    const p3 = m.lookupElem(k);
    expect(p3 - p1).toBe(16);
    expect(readU32At(env, p3)).toBe(0);
    expect(m.updateElem(k, place(env, u32(33)), BPF_EXIST)).toBe(0);
    expect(m.lookupElem(k)).toBe(p3); // in place: the pointer is stable
    expect(readU32At(env, p1)).toBe(11);
    expect(readU32At(env, p3)).toBe(33);
    const out = new Uint8Array(m.userValueSize);
    expect(m.sysLookup(u32(7), out)).toBe(0);
    const dv = new DataView(out.buffer);
    expect([0, 1, 2, 3].map((c) => dv.getUint32(c * 8, true))).toEqual([0, 11, 0, 33]);
    m.free();
  });

  it("a new element created by a program has every other CPU's slot zeroed, even in a recycled element", () => {
    const env = makeEnv(3);
    const m = mk(env, attr(BPF_MAP_TYPE_PERCPU_HASH, 4, 4, 1));
    expect(m.sysUpdate(u32(1), new Uint8Array(24).fill(0xff), BPF_ANY)).toBe(0);
    expect(m.sysDelete(u32(1))).toBe(0);
    env.cpu = 2;
    expect(m.updateElem(place(env, u32(2)), place(env, u32(5)), BPF_ANY)).toBe(0);
    const out = new Uint8Array(24);
    expect(m.sysLookup(u32(2), out)).toBe(0);
    const expected = new Uint8Array(24);
    expected[16] = 5;
    expect(out).toEqual(expected);
    m.free();
  });

  it("sysUpdate() writes every CPU's round_up(value_size, 8) slice", () => {
    const env = makeEnv(2);
    const m = mk(env, attr(BPF_MAP_TYPE_PERCPU_HASH, 4, 3, 2));
    const v = Uint8Array.from([1, 2, 3, 9, 9, 9, 9, 9, 4, 5, 6, 8, 8, 8, 8, 8]);
    expect(m.sysUpdate(u32(1), v, BPF_ANY)).toBe(0);
    const out = new Uint8Array(16);
    expect(m.sysLookup(u32(1), out)).toBe(0);
    expect(out).toEqual(v);
    env.cpu = 1;
    expect(Array.from(env.mem.u8.subarray(m.lookupElem(place(env, u32(1))), m.lookupElem(place(env, u32(1))) + 3)))
      .toEqual([4, 5, 6]);
    m.free();
  });

  it("a full per-CPU hash returns -E2BIG for new keys and still updates present keys in place", () => {
    const env = makeEnv(2);
    const m = mk(env, attr(BPF_MAP_TYPE_PERCPU_HASH, 4, 4, 2));
    expect(m.sysUpdate(u32(1), new Uint8Array(16), BPF_ANY)).toBe(0);
    expect(m.sysUpdate(u32(2), new Uint8Array(16), BPF_ANY)).toBe(0);
    expect(m.sysUpdate(u32(3), new Uint8Array(16), BPF_ANY)).toBe(-E2BIG);
    const k = place(env, u32(2));
    const p = m.lookupElem(k);
    expect(m.updateElem(k, place(env, u32(9)), BPF_ANY)).toBe(0);
    expect(m.lookupElem(k)).toBe(p);
    expect(m.sysUpdate(u32(2), new Uint8Array(16), 3)).toBe(-EINVAL);
    m.free();
  });
});

it("keeps its bookkeeping where the memory says (a shared table only on a shared memory)", () => {
  const m = mk(makeEnv(), attr(BPF_MAP_TYPE_HASH, 4, 8, 16));
  expect(m.tableAddr !== 0).toBe(shared);
});
});
