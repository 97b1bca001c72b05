// ARRAY, PERCPU_ARRAY, global-data arrays and PROG_ARRAY (kernel/bpf/arraymap.c semantics).
import { describe, expect, it } from "vitest";
import type { BpfMap, BpfMapAttr, BpfMapEnv } from "../../../../shared/bpf/maps/map.ts";
import { ArrayMap, ProgArrayMap, freezeMap } from "../../../../shared/bpf/maps/index.ts";
import { E2BIG, EBADF, EEXIST, EINVAL, ENOENT, EOPNOTSUPP, EPERM } from "../../../../shared/errno.ts";
import {
  BPF_ANY, BPF_EXIST, BPF_F_LOCK, BPF_F_MMAPABLE, BPF_F_RDONLY_PROG, BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_PERCPU_ARRAY,
  BPF_MAP_TYPE_PROG_ARRAY, BPF_NOEXIST,
} from "../../../../shared/bpf/isa/uapi.ts";
import { type TestMapEnv, createMapOk, makeMapEnv, place, u32 } from "./map_test_util.ts";

function makeEnv(nCpus = 4): TestMapEnv {
  return makeMapEnv({ nCpus });
}

function attr(mapType: number, valueSize: number, maxEntries: number, mapFlags = 0, name = ""): BpfMapAttr {
  return { mapType, keySize: 4, valueSize, maxEntries, mapFlags, name };
}

function mk<T extends BpfMap>(env: BpfMapEnv, a: BpfMapAttr): T {
  return createMapOk<T>(env, a, 7);
}

function bytes(...v: number[]): Uint8Array {
  return Uint8Array.from(v);
}

describe("ARRAY", () => {
  it("lookupElem() returns valuesStart + index * round_up(value_size, 8), and 0 when index >= max_entries", () => {
    const env = makeEnv();
    const m = mk<ArrayMap>(env, attr(BPF_MAP_TYPE_ARRAY, 12, 3));
    expect(m.lookupElem(place(env, u32(0)))).toBe(m.valuesStart);
    expect(m.lookupElem(place(env, u32(2)))).toBe(m.valuesStart + 32);
    expect(m.lookupElem(place(env, u32(3)))).toBe(0);
    expect(m.lookupElem(place(env, u32(0xffffffff)))).toBe(0);
    expect(m.valuesEnd - m.valuesStart).toBe(48);
    expect(m.valueAddr(1, 0)).toBe(m.valuesStart + 16);
    m.free();
  });

  it("updateElem() from a program is visible to sysLookup() and through the value pointer", () => {
    const env = makeEnv();
    const m = mk(env, attr(BPF_MAP_TYPE_ARRAY, 4, 2));
    const k = place(env, u32(1));
    const p = m.lookupElem(k);
    expect(m.updateElem(k, place(env, u32(0xdeadbeef)), BPF_ANY)).toBe(0);
    expect(env.mem.dv.getUint32(p, true)).toBe(0xdeadbeef);
    const out = new Uint8Array(4);
    expect(m.sysLookup(u32(1), out)).toBe(0);
    expect(out).toEqual(u32(0xdeadbeef));
    // A program store through the pointer is what the syscall side reads next.
    env.mem.dv.setUint32(p, 7, true);
    expect(m.sysLookup(u32(1), out)).toBe(0);
    expect(out).toEqual(u32(7));
    expect(m.lookupElem(k)).toBe(p);
    m.free();
  });

  it("sysUpdate() returns -EEXIST for BPF_NOEXIST, -E2BIG out of range, -EINVAL for unknown flags", () => {
    const env = makeEnv();
    const m = mk(env, attr(BPF_MAP_TYPE_ARRAY, 4, 2));
    expect(m.sysUpdate(u32(0), u32(1), BPF_NOEXIST)).toBe(-EEXIST);
    expect(m.sysUpdate(u32(2), u32(1), BPF_ANY)).toBe(-E2BIG);
    expect(m.sysUpdate(u32(2), u32(1), BPF_NOEXIST)).toBe(-E2BIG);
    expect(m.sysUpdate(u32(0), u32(1), BPF_NOEXIST | BPF_EXIST)).toBe(-EINVAL);
    expect(m.sysUpdate(u32(0), u32(1), 8)).toBe(-EINVAL);
    expect(m.sysUpdate(u32(0), u32(1), BPF_EXIST)).toBe(0);
    expect(m.sysUpdate(u32(1), u32(2), BPF_ANY)).toBe(0);
    m.free();
  });

  it("updateElem() checks the range before BPF_F_LOCK, as array_map_update_elem() does", () => {
    const env = makeEnv();
    const m = mk(env, attr(BPF_MAP_TYPE_ARRAY, 4, 2));
    const v = place(env, u32(1));
    expect(m.updateElem(place(env, u32(5)), v, BPF_F_LOCK)).toBe(-E2BIG);
    expect(m.updateElem(place(env, u32(0)), v, BPF_F_LOCK | BPF_NOEXIST)).toBe(-EEXIST);
    expect(m.updateElem(place(env, u32(0)), v, BPF_F_LOCK)).toBe(-EINVAL);
    expect(m.updateElem(place(env, u32(0)), v, -1)).toBe(-EINVAL);
    m.free();
  });

  it("deleteElem() and sysDelete() return -EINVAL: array entries always exist", () => {
    const env = makeEnv();
    const m = mk(env, attr(BPF_MAP_TYPE_ARRAY, 4, 2));
    expect(m.deleteElem(place(env, u32(0)))).toBe(-EINVAL);
    expect(m.sysDelete(u32(0))).toBe(-EINVAL);
    expect(m.sysLookup(u32(2), new Uint8Array(4))).toBe(-ENOENT);
    m.free();
  });

  it("sysGetNextKey() walks indexes in order; NULL or out-of-range keys restart at 0; the last gives -ENOENT", () => {
    const env = makeEnv();
    const m = mk(env, attr(BPF_MAP_TYPE_ARRAY, 4, 3));
    const next = new Uint8Array(4);
    expect(m.sysGetNextKey(null, next)).toBe(0);
    expect(next).toEqual(u32(0));
    expect(m.sysGetNextKey(u32(0), next)).toBe(0);
    expect(next).toEqual(u32(1));
    expect(m.sysGetNextKey(u32(1), next)).toBe(0);
    expect(next).toEqual(u32(2));
    expect(m.sysGetNextKey(u32(2), next)).toBe(-ENOENT);
    expect(m.sysGetNextKey(u32(99), next)).toBe(0);
    expect(next).toEqual(u32(0));
    m.free();
  });

  it("updates copy value_size bytes and leave the padding up to round_up(value_size, 8) alone", () => {
    const env = makeEnv();
    const m = mk(env, attr(BPF_MAP_TYPE_ARRAY, 5, 1));
    const p = m.lookupElem(place(env, u32(0)));
    env.mem.u8.fill(0xee, p + 5, p + 8);
    expect(m.sysUpdate(u32(0), bytes(1, 2, 3, 4, 5), BPF_ANY)).toBe(0);
    expect(Array.from(env.mem.u8.subarray(p, p + 8))).toEqual([1, 2, 3, 4, 5, 0xee, 0xee, 0xee]);
    const out = new Uint8Array(5);
    expect(m.sysLookup(u32(0), out)).toBe(0);
    expect(out).toEqual(bytes(1, 2, 3, 4, 5));
    m.free();
  });
});

describe("global-data arrays (.rodata/.data/.bss)", () => {
  it("a .rodata map takes its initial value, then freezeMap() makes syscall writes -EPERM and programs only read", () => {
    const env = makeEnv();
    const m = mk(env, attr(BPF_MAP_TYPE_ARRAY, 8, 1, BPF_F_RDONLY_PROG | BPF_F_MMAPABLE, "xdp_prog.rodata"));
    expect(m.sysUpdate(u32(0), bytes(1, 2, 3, 4, 5, 6, 7, 8), BPF_ANY)).toBe(0);
    expect(freezeMap(m)).toBe(0);
    expect(m.sysUpdate(u32(0), new Uint8Array(8), BPF_ANY)).toBe(-EPERM);
    const k = place(env, u32(0));
    const p = m.lookupElem(k);
    expect(p).toBe(m.valuesStart);
    expect(env.mem.u8[p + 7]).toBe(8);
    expect(m.updateElem(k, place(env, new Uint8Array(8)), BPF_ANY)).toBe(-EPERM);
    m.free();
  });

  it("a .bss map is written by the program and read back by the syscall side without freezing", () => {
    const env = makeEnv();
    const m = mk(env, attr(BPF_MAP_TYPE_ARRAY, 16, 1, BPF_F_MMAPABLE, "xdp_prog.bss"));
    const p = m.lookupElem(place(env, u32(0)));
    env.mem.dv.setUint32(p + 12, 0x01020304, true);
    const out = new Uint8Array(16);
    expect(m.sysLookup(u32(0), out)).toBe(0);
    expect(Array.from(out.subarray(12))).toEqual([4, 3, 2, 1]);
    expect(m.frozen).toBe(false);
    m.free();
  });
});

describe("PERCPU_ARRAY", () => {
  it("lookupElem() returns the slot of env.cpu, and program updates touch only that CPU", () => {
    const env = makeEnv(4);
    const m = mk<ArrayMap>(env, attr(BPF_MAP_TYPE_PERCPU_ARRAY, 4, 2));
    const k = place(env, u32(1));
    env.cpu = 0;
    const p0 = m.lookupElem(k);
    expect(m.updateElem(k, place(env, u32(100)), BPF_ANY)).toBe(0);
    env.cpu = 2;
    const p2 = m.lookupElem(k);
    expect(p2).toBe(p0 + 16);
    expect(p0).toBe(m.valuesStart + 1 * 4 * 8);
    expect(env.mem.dv.getUint32(p2, true)).toBe(0);
    expect(m.updateElem(k, place(env, u32(102)), BPF_ANY)).toBe(0);
    expect(env.mem.dv.getUint32(p0, true)).toBe(100);
    expect(env.mem.dv.getUint32(p2, true)).toBe(102);
    const out = new Uint8Array(m.userValueSize);
    expect(m.sysLookup(u32(1), out)).toBe(0);
    const dv = new DataView(out.buffer);
    expect([0, 1, 2, 3].map((c) => dv.getUint32(c * 8, true))).toEqual([100, 0, 102, 0]);
    m.free();
  });

  it("sysUpdate() writes one round_up(value_size, 8) slice per CPU", () => {
    const env = makeEnv(3);
    const m = mk<ArrayMap>(env, attr(BPF_MAP_TYPE_PERCPU_ARRAY, 2, 1));
    expect(m.userValueSize).toBe(24);
    const v = new Uint8Array(24);
    for (let c = 0; c < 3; c++) v[c * 8] = 10 + c;
    expect(m.sysUpdate(u32(0), v, BPF_ANY)).toBe(0);
    const k = place(env, u32(0));
    for (let c = 0; c < 3; c++) {
      env.cpu = c;
      expect(env.mem.u8[m.lookupElem(k)]).toBe(10 + c);
    }
    expect(m.sysUpdate(u32(0), v, BPF_NOEXIST)).toBe(-EEXIST);
    expect(m.sysUpdate(u32(1), v, BPF_ANY)).toBe(-E2BIG);
    expect(m.sysUpdate(u32(0), v, 3)).toBe(-EINVAL);
    expect(m.sysDelete(u32(0))).toBe(-EINVAL);
    m.free();
  });
});

describe("PROG_ARRAY", () => {
  const xdpA = { id: 41, progType: 6 };
  const xdpB = { id: 42, progType: 6 };
  const tc = { id: 43, progType: 3 };
  const ext = { id: 44, progType: 28 };

  function progEnv(): TestMapEnv {
    const env = makeEnv();
    env.progs.set(5, xdpA).set(6, xdpB).set(7, tc).set(8, ext).set(9, -EINVAL);
    return env;
  }

  it("sysUpdate() stores the program behind the fd; progAt() returns it and sysLookup() its id", () => {
    const env = progEnv();
    const m = mk<ProgArrayMap>(env, attr(BPF_MAP_TYPE_PROG_ARRAY, 4, 4));
    expect(m.sysUpdate(u32(2), u32(5), BPF_ANY)).toBe(0);
    expect(m.progAt(2)).toBe(xdpA);
    expect(m.progAt(1)).toBe(null);
    expect(m.progAt(4)).toBe(null);
    expect(m.progAt(-1)).toBe(null);
    const out = new Uint8Array(4);
    expect(m.sysLookup(u32(2), out)).toBe(0);
    expect(out).toEqual(u32(41));
    expect(m.sysLookup(u32(1), out)).toBe(-ENOENT);
    expect(m.sysLookup(u32(9), out)).toBe(-ENOENT);
    expect(m.sysUpdate(u32(2), u32(6), BPF_ANY)).toBe(0);
    expect(m.progAt(2)).toBe(xdpB);
    expect(m.ownerProgType).toBe(6);
    m.free();
  });

  it("sysUpdate() returns -EBADF for an fd naming no program and passes an errno the env reports", () => {
    const env = progEnv();
    const m = mk(env, attr(BPF_MAP_TYPE_PROG_ARRAY, 4, 4));
    expect(m.sysUpdate(u32(0), u32(77), BPF_ANY)).toBe(-EBADF);
    expect(m.sysUpdate(u32(0), u32(9), BPF_ANY)).toBe(-EINVAL);
    m.free();
  });

  it("sysUpdate() returns -EINVAL for flags other than BPF_ANY, an extension or another program type", () => {
    const env = progEnv();
    const m = mk(env, attr(BPF_MAP_TYPE_PROG_ARRAY, 4, 4));
    expect(m.sysUpdate(u32(0), u32(5), BPF_NOEXIST)).toBe(-EINVAL);
    expect(m.sysUpdate(u32(0), u32(5), BPF_EXIST)).toBe(-EINVAL);
    expect(m.sysUpdate(u32(0), u32(8), BPF_ANY)).toBe(-EINVAL);
    expect(m.sysUpdate(u32(0), u32(5), BPF_ANY)).toBe(0);
    expect(m.sysUpdate(u32(1), u32(7), BPF_ANY)).toBe(-EINVAL);
    expect(m.sysUpdate(u32(4), u32(5), BPF_ANY)).toBe(-E2BIG);
    m.free();
  });

  it("sysDelete() returns -E2BIG out of range, -ENOENT for an empty slot, and empties a slot", () => {
    const env = progEnv();
    const m = mk<ProgArrayMap>(env, attr(BPF_MAP_TYPE_PROG_ARRAY, 4, 2));
    expect(m.sysDelete(u32(2))).toBe(-E2BIG);
    expect(m.sysDelete(u32(0))).toBe(-ENOENT);
    expect(m.sysUpdate(u32(0), u32(5), BPF_ANY)).toBe(0);
    expect(m.sysDelete(u32(0))).toBe(0);
    expect(m.progAt(0)).toBe(null);
    expect(m.sysDelete(u32(0))).toBe(-ENOENT);
    m.free();
  });

  it("program-side ops on a prog array: lookupElem() returns 0, updates and deletes -EOPNOTSUPP", () => {
    const env = progEnv();
    const m = mk(env, attr(BPF_MAP_TYPE_PROG_ARRAY, 4, 2));
    expect(m.sysUpdate(u32(0), u32(5), BPF_ANY)).toBe(0);
    const k = place(env, u32(0));
    expect(m.lookupElem(k)).toBe(0);
    expect(m.updateElem(k, place(env, u32(5)), BPF_ANY)).toBe(-EOPNOTSUPP);
    expect(m.deleteElem(k)).toBe(-EOPNOTSUPP);
    expect(m.valuesEnd - m.valuesStart).toBe(0);
    m.free();
  });

  it("sysGetNextKey() on a prog array walks every index, filled or not", () => {
    const env = progEnv();
    const m = mk(env, attr(BPF_MAP_TYPE_PROG_ARRAY, 4, 2));
    const next = new Uint8Array(4);
    expect(m.sysGetNextKey(null, next)).toBe(0);
    expect(next).toEqual(u32(0));
    expect(m.sysGetNextKey(u32(0), next)).toBe(0);
    expect(next).toEqual(u32(1));
    expect(m.sysGetNextKey(u32(1), next)).toBe(-ENOENT);
    m.free();
  });

  it("free() drops the programs a prog array holds", () => {
    const env = progEnv();
    const m = mk<ProgArrayMap>(env, attr(BPF_MAP_TYPE_PROG_ARRAY, 4, 2));
    expect(m.sysUpdate(u32(1), u32(5), BPF_ANY)).toBe(0);
    m.free();
    expect(m.progAt(1)).toBe(null);
  });
});
