// createMap() attribute checks (map_create + alloc_check), access flags,
// BPF_MAP_FREEZE, memBytes and BpfMemory accounting for every map type.
import { describe, expect, it } from "vitest";
import type { BpfMap, BpfMapAttr, BpfMapEnv } from "../../../../shared/bpf/maps/map.ts";
import { createMap, freezeMap, jhash, mapTypeName, SUPPORTED_MAP_TYPES } from "../../../../shared/bpf/maps/index.ts";
import { E2BIG, EBUSY, EFAULT, EINVAL, ENOENT, ENOMEM, EOPNOTSUPP, EPERM } from "../../../../shared/errno.ts";
import {
  BPF_ANY, BPF_F_INNER_MAP, BPF_F_LOCK, BPF_F_MMAPABLE, BPF_F_NO_COMMON_LRU, BPF_F_NO_PREALLOC, BPF_F_NUMA_NODE, BPF_F_PRESERVE_ELEMS, BPF_F_RDONLY,
  BPF_F_RDONLY_PROG, BPF_F_WRONLY, BPF_F_WRONLY_PROG, BPF_F_ZERO_SEED, BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_DEVMAP,
  BPF_MAP_TYPE_DEVMAP_HASH, BPF_MAP_TYPE_HASH, BPF_MAP_TYPE_LPM_TRIE, BPF_MAP_TYPE_LRU_HASH,
  BPF_MAP_TYPE_LRU_PERCPU_HASH, BPF_MAP_TYPE_PERCPU_ARRAY, BPF_MAP_TYPE_PERCPU_HASH, BPF_MAP_TYPE_PROG_ARRAY,
} from "../../../../shared/bpf/isa/uapi.ts";
import { createMapOk, makeMapEnv, u32 } from "./map_test_util.ts";

function makeEnv(nCpus = 4): BpfMapEnv {
  return makeMapEnv({ nCpus, progs: [[10, { id: 100, progType: 6 }]], ifindexes: [1, 2] });
}

function attr(mapType: number, keySize: number, valueSize: number, maxEntries: number, mapFlags = 0, name = ""): BpfMapAttr {
  return { mapType, keySize, valueSize, maxEntries, mapFlags, name };
}

function mk(env: BpfMapEnv, a: BpfMapAttr): BpfMap {
  return createMapOk(env, a, 1);
}

describe("createMap() attribute checks", () => {
  const env = makeEnv();
  const cases: Array<[string, BpfMapAttr, number]> = [
    ["unknown map type", attr(999, 4, 4, 1), -EINVAL],
    ["a map type this kernel does not build (lpm_trie)", attr(BPF_MAP_TYPE_LPM_TRIE, 8, 4, 1), -EINVAL],
    ["array max_entries 0", attr(BPF_MAP_TYPE_ARRAY, 4, 4, 0), -EINVAL],
    ["array key_size 8", attr(BPF_MAP_TYPE_ARRAY, 8, 4, 1), -EINVAL],
    ["array value_size 0", attr(BPF_MAP_TYPE_ARRAY, 4, 0, 1), -EINVAL],
    ["array with BPF_F_NO_PREALLOC", attr(BPF_MAP_TYPE_ARRAY, 4, 4, 1, BPF_F_NO_PREALLOC), -EINVAL],
    ["array with BPF_F_PRESERVE_ELEMS", attr(BPF_MAP_TYPE_ARRAY, 4, 4, 1, BPF_F_PRESERVE_ELEMS), -EINVAL],
    ["array value_size above INT_MAX", attr(BPF_MAP_TYPE_ARRAY, 4, 2 ** 31, 1), -E2BIG],
    ["percpu_array with BPF_F_MMAPABLE", attr(BPF_MAP_TYPE_PERCPU_ARRAY, 4, 4, 1, BPF_F_MMAPABLE), -EINVAL],
    ["percpu_array with BPF_F_NUMA_NODE", attr(BPF_MAP_TYPE_PERCPU_ARRAY, 4, 4, 1, BPF_F_NUMA_NODE), -EINVAL],
    ["percpu_array value over PCPU_MIN_UNIT_SIZE", attr(BPF_MAP_TYPE_PERCPU_ARRAY, 4, 32769, 1), -E2BIG],
    ["BPF_F_RDONLY with BPF_F_WRONLY", attr(BPF_MAP_TYPE_ARRAY, 4, 4, 1, BPF_F_RDONLY | BPF_F_WRONLY), -EINVAL],
    ["BPF_F_RDONLY_PROG with BPF_F_WRONLY_PROG", attr(BPF_MAP_TYPE_HASH, 4, 4, 1, BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG), -EINVAL],
    ["hash key_size 0", attr(BPF_MAP_TYPE_HASH, 0, 4, 1), -EINVAL],
    ["hash value_size 0", attr(BPF_MAP_TYPE_HASH, 4, 0, 1), -EINVAL],
    ["hash max_entries 0", attr(BPF_MAP_TYPE_HASH, 4, 4, 0), -EINVAL],
    ["hash with BPF_F_MMAPABLE", attr(BPF_MAP_TYPE_HASH, 4, 4, 1, BPF_F_MMAPABLE), -EINVAL],
    ["hash with BPF_F_INNER_MAP", attr(BPF_MAP_TYPE_HASH, 4, 4, 1, BPF_F_INNER_MAP), -EINVAL],
    ["hash key+value reaching KMALLOC_MAX_SIZE", attr(BPF_MAP_TYPE_HASH, 4 << 20, 8, 1), -E2BIG],
    ["hash max_entries above 2^31", attr(BPF_MAP_TYPE_HASH, 4, 4, 2 ** 31 + 1), -E2BIG],
    ["percpu_hash value over PCPU_MIN_UNIT_SIZE", attr(BPF_MAP_TYPE_PERCPU_HASH, 4, 32769, 1), -E2BIG],
    ["percpu_hash with BPF_F_NUMA_NODE", attr(BPF_MAP_TYPE_PERCPU_HASH, 4, 4, 1, BPF_F_NUMA_NODE), -EINVAL],
    ["plain hash with BPF_F_NO_COMMON_LRU", attr(BPF_MAP_TYPE_HASH, 4, 4, 1, BPF_F_NO_COMMON_LRU), -EINVAL],
    ["lru_hash with BPF_F_NO_PREALLOC", attr(BPF_MAP_TYPE_LRU_HASH, 4, 4, 1, BPF_F_NO_PREALLOC), -EOPNOTSUPP],
    ["prog_array value_size 8", attr(BPF_MAP_TYPE_PROG_ARRAY, 4, 8, 1), -EINVAL],
    ["prog_array key_size 8", attr(BPF_MAP_TYPE_PROG_ARRAY, 8, 4, 1), -EINVAL],
    ["prog_array with BPF_F_RDONLY_PROG", attr(BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 1, BPF_F_RDONLY_PROG), -EINVAL],
    ["devmap value_size 12", attr(BPF_MAP_TYPE_DEVMAP, 4, 12, 1), -EINVAL],
    ["devmap key_size 8", attr(BPF_MAP_TYPE_DEVMAP, 8, 4, 1), -EINVAL],
    ["devmap with BPF_F_RDONLY_PROG", attr(BPF_MAP_TYPE_DEVMAP, 4, 4, 1, BPF_F_RDONLY_PROG), -EINVAL],
    ["devmap_hash max_entries above 2^31", attr(BPF_MAP_TYPE_DEVMAP_HASH, 4, 4, 2 ** 31 + 1), -EINVAL],
    ["a negative key_size", attr(BPF_MAP_TYPE_HASH, -4, 4, 1), -EINVAL],
    ["a fractional max_entries", attr(BPF_MAP_TYPE_ARRAY, 4, 4, 1.5), -EINVAL],
    ["a name of 16 characters", attr(BPF_MAP_TYPE_ARRAY, 4, 4, 1, 0, "abcdefghijklmnop"), -EINVAL],
    ["a name with '-'", attr(BPF_MAP_TYPE_ARRAY, 4, 4, 1, 0, "my-map"), -EINVAL],
  ];
  for (const [what, a, errno] of cases) {
    it(`createMap() returns ${errno} for ${what}`, () => {
      const before = env.mem.usedBytes;
      expect(createMap(env, a, 1)).toBe(errno);
      expect(env.mem.usedBytes).toBe(before);
    });
  }

  it("createMap() returns -ENOMEM when the value area cannot fit the 4 GiB BPF address space", () => {
    const before = env.mem.usedBytes;
    expect(createMap(env, attr(BPF_MAP_TYPE_ARRAY, 4, 8, 2 ** 30), 1)).toBe(-ENOMEM);
    expect(createMap(env, attr(BPF_MAP_TYPE_PERCPU_ARRAY, 4, 8, 2 ** 28), 1)).toBe(-ENOMEM);
    expect(createMap(env, attr(BPF_MAP_TYPE_DEVMAP, 4, 8, 2 ** 30), 1)).toBe(-ENOMEM);
    expect(env.mem.usedBytes).toBe(before);
  });

  it("createMap() returns -ENOMEM for a prog array of 2^32 - 1 slots (as the kernel here), leaving nothing allocated", () => {
    // The slots live in BPF memory (4 bytes each, the kernel's pointers take 8): 16 GiB does not fit.
    const before = env.mem.usedBytes;
    expect(createMap(env, attr(BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 0xffffffff), 1)).toBe(-ENOMEM);
    expect(env.mem.usedBytes).toBe(before);
  });

  it("createMap() builds a prog array of 2^20 slots; a slot far out reads back the program's id", () => {
    const m = mk(env, attr(BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 1 << 20));
    expect(m.sysUpdate(u32((1 << 20) - 1), u32(10), BPF_ANY)).toBe(0);
    const out = new Uint8Array(4);
    expect(m.sysLookup(u32((1 << 20) - 1), out)).toBe(0);
    expect(out).toEqual(u32(100));
    m.free();
  });

  it("createMap() accepts a hash key above MAX_BPF_STACK, as kernels since 5.10 do", () => {
    const m = mk(env, attr(BPF_MAP_TYPE_HASH, 600, 8, 4));
    expect(m.keySize).toBe(600);
    m.free();
  });

  it("createMap() accepts names of 15 characters from [A-Za-z0-9_.]", () => {
    const m = mk(env, attr(BPF_MAP_TYPE_ARRAY, 4, 4, 1, 0, "xdp_pr.rodata_9"));
    expect(m.name).toBe("xdp_pr.rodata_9");
    m.free();
  });

  it("createMap() accepts the global-data flags libbpf uses for .rodata (0x480)", () => {
    const m = mk(env, attr(BPF_MAP_TYPE_ARRAY, 4, 20, 1, BPF_F_RDONLY_PROG | BPF_F_MMAPABLE, "prog.rodata"));
    expect(m.mapFlags).toBe(0x480);
    expect(m.valuesStart % 4096).toBe(0);
    expect(m.valuesEnd - m.valuesStart).toBe(4096);
    m.free();
  });

  it("createMap() sets BPF_F_RDONLY_PROG on devmaps, as dev_map_init_map() does", () => {
    const m = mk(env, attr(BPF_MAP_TYPE_DEVMAP, 4, 4, 2));
    expect(m.mapFlags & BPF_F_RDONLY_PROG).toBe(BPF_F_RDONLY_PROG);
    m.free();
  });

  it("createMap() rounds LRU max_entries to a multiple of nCpus with BPF_F_NO_COMMON_LRU", () => {
    const m = mk(env, attr(BPF_MAP_TYPE_LRU_HASH, 4, 4, 5, BPF_F_NO_COMMON_LRU));
    expect(m.maxEntries).toBe(8);
    m.free();
  });

  it("createMap() reports userValueSize as nCpus * round_up(value_size, 8) for per-CPU maps", () => {
    for (const t of [BPF_MAP_TYPE_PERCPU_ARRAY, BPF_MAP_TYPE_PERCPU_HASH, BPF_MAP_TYPE_LRU_PERCPU_HASH]) {
      const m = mk(env, attr(t, 4, 12, 2));
      expect(m.userValueSize).toBe(4 * 16);
      m.free();
    }
    const a = mk(env, attr(BPF_MAP_TYPE_ARRAY, 4, 12, 2));
    expect(a.userValueSize).toBe(12);
    a.free();
  });
});

describe("mapTypeName()", () => {
  it("mapTypeName() returns bpftool's names and 'type N' for unknown types", () => {
    expect(mapTypeName(BPF_MAP_TYPE_LRU_PERCPU_HASH)).toBe("lru_percpu_hash");
    expect(mapTypeName(BPF_MAP_TYPE_DEVMAP_HASH)).toBe("devmap_hash");
    expect(mapTypeName(4242)).toBe("type 4242");
    expect(SUPPORTED_MAP_TYPES).toContain(BPF_MAP_TYPE_PROG_ARRAY);
  });
});

describe("syscall-side access flags and BPF_MAP_FREEZE", () => {
  it("sysUpdate() and sysDelete() return -EPERM after freeze(); lookups and program writes still work", () => {
    const env = makeEnv();
    const m = mk(env, attr(BPF_MAP_TYPE_HASH, 4, 4, 4));
    expect(m.sysUpdate(u32(1), u32(11), BPF_ANY)).toBe(0);
    expect(freezeMap(m)).toBe(0);
    expect(m.frozen).toBe(true);
    expect(m.sysUpdate(u32(2), u32(22), BPF_ANY)).toBe(-EPERM);
    expect(m.sysDelete(u32(1))).toBe(-EPERM);
    const out = new Uint8Array(4);
    expect(m.sysLookup(u32(1), out)).toBe(0);
    expect(out).toEqual(u32(11));
    const k = env.mem.alloc(8);
    const v = env.mem.alloc(8);
    env.mem.write(k, u32(3));
    env.mem.write(v, u32(33));
    expect(m.updateElem(k, v, BPF_ANY)).toBe(0);
    expect(m.deleteElem(k)).toBe(0);
    m.free();
  });

  it("freezeMap() returns -EBUSY the second time and -EPERM on a BPF_F_RDONLY map", () => {
    const env = makeEnv();
    const m = mk(env, attr(BPF_MAP_TYPE_ARRAY, 4, 4, 1));
    expect(freezeMap(m)).toBe(0);
    expect(freezeMap(m)).toBe(-EBUSY);
    const ro = mk(env, attr(BPF_MAP_TYPE_ARRAY, 4, 4, 1, BPF_F_RDONLY));
    expect(freezeMap(ro)).toBe(-EPERM);
    expect(ro.frozen).toBe(false);
    m.free();
    ro.free();
  });

  it("freezeMap() applies the same rules to a BpfMap not built by createMap()", () => {
    const fake = { mapFlags: 0, frozen: false } as unknown as BpfMap;
    expect(freezeMap(fake)).toBe(0);
    expect(freezeMap(fake)).toBe(-EBUSY);
  });

  it("a BPF_F_RDONLY map refuses syscall writes with -EPERM but serves lookups", () => {
    const env = makeEnv();
    const m = mk(env, attr(BPF_MAP_TYPE_ARRAY, 4, 4, 2, BPF_F_RDONLY));
    expect(m.sysUpdate(u32(0), u32(1), BPF_ANY)).toBe(-EPERM);
    expect(m.sysDelete(u32(0))).toBe(-EPERM);
    expect(m.sysLookup(u32(0), new Uint8Array(4))).toBe(0);
    expect(m.sysGetNextKey(null, new Uint8Array(4))).toBe(0);
    m.free();
  });

  it("a BPF_F_WRONLY map refuses syscall lookups and get_next_key with -EPERM but takes writes", () => {
    const env = makeEnv();
    const m = mk(env, attr(BPF_MAP_TYPE_HASH, 4, 4, 2, BPF_F_WRONLY));
    expect(m.sysUpdate(u32(0), u32(1), BPF_ANY)).toBe(0);
    expect(m.sysLookup(u32(0), new Uint8Array(4))).toBe(-EPERM);
    expect(m.sysGetNextKey(null, new Uint8Array(4))).toBe(-EPERM);
    expect(m.sysDelete(u32(0))).toBe(0);
    m.free();
  });

  it("updateElem() returns -EPERM on a BPF_F_RDONLY_PROG map while sysUpdate() works", () => {
    const env = makeEnv();
    for (const t of [BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_HASH]) {
      const m = mk(env, attr(t, 4, 4, 2, BPF_F_RDONLY_PROG));
      const k = env.mem.alloc(8);
      env.mem.write(k, u32(1));
      expect(m.updateElem(k, k, BPF_ANY)).toBe(-EPERM);
      expect(m.sysUpdate(u32(1), u32(5), BPF_ANY)).toBe(0);
      if (t === BPF_MAP_TYPE_HASH) expect(m.deleteElem(k)).toBe(-EPERM);
      expect(m.lookupElem(k)).not.toBe(0);
      m.free();
    }
  });

  it("sysUpdate() returns -EINVAL for BPF_F_LOCK: no value holds a bpf_spin_lock", () => {
    const env = makeEnv();
    const m = mk(env, attr(BPF_MAP_TYPE_HASH, 4, 4, 2));
    expect(m.sysUpdate(u32(0), u32(1), BPF_F_LOCK)).toBe(-EINVAL);
    m.free();
  });

  it("sys ops return -EFAULT when a key or value buffer is shorter than the map needs", () => {
    const env = makeEnv();
    const m = mk(env, attr(BPF_MAP_TYPE_PERCPU_HASH, 4, 4, 2));
    expect(m.sysUpdate(u32(0), new Uint8Array(8), BPF_ANY)).toBe(-EFAULT); // needs 4 * 8 bytes
    expect(m.sysLookup(new Uint8Array(2), new Uint8Array(32))).toBe(-EFAULT);
    expect(m.sysDelete(new Uint8Array(3))).toBe(-EFAULT);
    expect(m.sysGetNextKey(null, new Uint8Array(1))).toBe(-EFAULT);
    expect(m.sysLookup(u32(0), new Uint8Array(32))).toBe(-ENOENT);
    m.free();
  });
});

describe("memBytes", () => {
  it("memBytes follows array_map_mem_usage(): 272 for one 4-byte entry", () => {
    const env = makeEnv(4);
    const a = mk(env, attr(BPF_MAP_TYPE_ARRAY, 4, 4, 1));
    expect(a.memBytes).toBe(272);
    const p = mk(env, attr(BPF_MAP_TYPE_PERCPU_ARRAY, 4, 232, 2));
    expect(p.memBytes).toBe(264 + 2 * 8 + 2 * 232 * 4);
    const mm = mk(env, attr(BPF_MAP_TYPE_ARRAY, 4, 8, 1, BPF_F_MMAPABLE));
    expect(mm.memBytes).toBe(8192);
    const pa = mk(env, attr(BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 1));
    expect(pa.memBytes).toBe(272);
    for (const m of [a, p, mm, pa]) m.free();
  });

  it("memBytes follows htab_map_mem_usage() for preallocated and BPF_F_NO_PREALLOC hashes", () => {
    const env = makeEnv(16);
    const h = mk(env, attr(BPF_MAP_TYPE_HASH, 16, 8, 32));
    // header + 32 buckets * 16 + lock counters 4 * 16 * 8 + (32 + 16) elems * 72 + 16 extra pointers
    expect(h.memBytes).toBe(840 + 512 + 512 + 48 * 72 + 128);
    const lazy = mk(env, attr(BPF_MAP_TYPE_HASH, 4, 8, 4, BPF_F_NO_PREALLOC));
    const empty = lazy.memBytes;
    expect(lazy.sysUpdate(u32(1), new Uint8Array(8), BPF_ANY)).toBe(0);
    expect(lazy.memBytes - empty).toBe(48 + 8 + 8 + 8);
    const lru = mk(env, attr(BPF_MAP_TYPE_LRU_PERCPU_HASH, 4, 4, 16));
    expect(lru.memBytes).toBe(840 + 16 * 16 + 512 + 16 * (48 + 8 + 8) + 8 * 16 * 16);
    for (const m of [h, lazy, lru]) m.free();
  });

  it("memBytes of a devmap grows by one bpf_dtab_netdev per entry", () => {
    const env = makeEnv();
    const d = mk(env, attr(BPF_MAP_TYPE_DEVMAP, 4, 4, 4));
    expect(d.memBytes).toBe(296 + 4 * 8);
    expect(d.sysUpdate(u32(0), u32(1), BPF_ANY)).toBe(0);
    expect(d.memBytes).toBe(296 + 4 * 8 + 72);
    const dh = mk(env, attr(BPF_MAP_TYPE_DEVMAP_HASH, 4, 4, 3));
    expect(dh.memBytes).toBe(296 + 4 * 8);
    d.free();
    dh.free();
  });
});

describe("BpfMemory accounting", () => {
  const all: BpfMapAttr[] = [
    attr(BPF_MAP_TYPE_ARRAY, 4, 12, 8), attr(BPF_MAP_TYPE_PERCPU_ARRAY, 4, 12, 8),
    attr(BPF_MAP_TYPE_ARRAY, 4, 12, 1, BPF_F_MMAPABLE), attr(BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 8),
    attr(BPF_MAP_TYPE_HASH, 6, 12, 8), attr(BPF_MAP_TYPE_PERCPU_HASH, 6, 12, 8),
    attr(BPF_MAP_TYPE_LRU_HASH, 6, 12, 8), attr(BPF_MAP_TYPE_LRU_PERCPU_HASH, 6, 12, 8, BPF_F_NO_COMMON_LRU),
    attr(BPF_MAP_TYPE_HASH, 4, 4, 8, BPF_F_ZERO_SEED), attr(BPF_MAP_TYPE_DEVMAP, 4, 8, 8),
    attr(BPF_MAP_TYPE_DEVMAP_HASH, 4, 8, 8),
  ];
  for (const a of all) {
    it(`free() returns every BpfMemory block of a ${mapTypeName(a.mapType)} map (flags ${a.mapFlags})`, () => {
      const env = makeEnv();
      const before = env.mem.usedBytes;
      const m = mk(env, a);
      expect(env.mem.usedBytes).toBeGreaterThan(before);
      // The identity block is outside the value range.
      expect(m.addr).toBeGreaterThan(0);
      expect(m.addr >= m.valuesStart && m.addr < m.valuesEnd).toBe(false);
      m.sysUpdate(new Uint8Array(m.keySize), new Uint8Array(m.userValueSize), BPF_ANY);
      m.free();
      expect(env.mem.usedBytes).toBe(before);
      m.free();
      expect(env.mem.usedBytes).toBe(before);
    });
  }

  it("createMap() zeroes values taken from memory another map freed", () => {
    const env = makeEnv();
    const a = mk(env, attr(BPF_MAP_TYPE_ARRAY, 4, 8, 4));
    a.sysUpdate(u32(2), new Uint8Array(8).fill(0xab), BPF_ANY);
    a.free();
    const b = mk(env, attr(BPF_MAP_TYPE_ARRAY, 4, 8, 4));
    const out = new Uint8Array(8);
    for (let i = 0; i < 4; i++) {
      expect(b.sysLookup(u32(i), out)).toBe(0);
      expect(out).toEqual(new Uint8Array(8));
    }
    b.free();
  });
});

describe("jhash()", () => {
  it("jhash() matches lookup3's published test vectors", () => {
    const s = new TextEncoder().encode("Four score and seven years ago");
    expect(jhash(s, 0, s.length, 0)).toBe(0x17770551);
    expect(jhash(s, 0, s.length, 1)).toBe(0xcd628161);
    expect(jhash(new Uint8Array(0), 0, 0, 0)).toBe(0xdeadbeef);
    expect(jhash(new Uint8Array(0), 0, 0, 0xdeadbeef)).toBe(0xbd5b7dde);
  });

  it("jhash() hashes the same bytes the same at any offset", () => {
    const buf = new Uint8Array(40);
    for (let i = 0; i < 13; i++) buf[7 + i] = (i * 37) & 0xff;
    expect(jhash(buf, 7, 13, 5)).toBe(jhash(buf.slice(7, 20), 0, 13, 5));
  });
});
