// BPF_MAP_LOOKUP_BATCH, LOOKUP_AND_DELETE_BATCH, UPDATE_BATCH and DELETE_BATCH
// (bpf_map_do_batch(), generic_map_*_batch in kernel/bpf/syscall.c,
// __htab_map_lookup_and_delete_batch in kernel/bpf/hashtab.c): the same scripts
// on the running kernel (through libbpf, test/helpers/bpf_map_batch.c) and on our
// BpfKernel, compared line by line (counts, errno, out_batch cursors, keys,
// values, the map's contents after). Hash maps use BPF_F_ZERO_SEED so that
// buckets, and so cursors and order, are the kernel's. Plus checks of our own
// that need no kernel.
import { describe, expect, it } from "vitest";
import { BpfKernel } from "../../../../shared/bpf/syscall.ts";
import type { BpfMap, BpfMapBatch } from "../../../../shared/bpf/maps/map.ts";
import { HashMap, freezeMap, jhash } from "../../../../shared/bpf/maps/index.ts";
import {
  BPF_F_RDONLY, BPF_F_WRONLY, BPF_F_ZERO_SEED, BPF_MAP_DELETE_BATCH, BPF_MAP_LOOKUP_AND_DELETE_BATCH, BPF_MAP_LOOKUP_BATCH,
  BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_HASH, BPF_MAP_TYPE_LRU_HASH, BPF_MAP_TYPE_PROG_ARRAY, BPF_MAP_UPDATE_BATCH,
} from "../../../../shared/bpf/isa/uapi.ts";
import { EINVAL, ENOENT, ENOSPC, EOPNOTSUPP, EPERM } from "../../../../shared/errno.ts";
import { mulberry32 } from "../../../helpers/prng.ts";
import { kernelMapBatch, mapBatchOracleUnavailable, ourMapBatch, type BatchLine } from "../../../helpers/map_batch_oracle.ts";

/** The kernel's internal ENOTSUPP, which its batch commands return for a map type without the op. */
const KERNEL_ENOTSUPP = 524;

const h32 = (n: number): string => Buffer.from(new Uint32Array([n]).buffer).toString("hex");
const hexOf = (n: number, len: number): string => {
  const b = Buffer.alloc(len);
  for (let i = 0; i < len; i++) b[i] = (n >>> (8 * (i % 4))) & 0xff ^ (i >> 2);
  return b.toString("hex");
};

/** A walk: the first call from no cursor, then `calls - 1` from the previous out_batch. */
function walk(op: string, count: number, calls: number, elemFlags = 0, flags = 0): string[] {
  return Array.from({ length: calls }, (_, i) => `${op} ${i === 0 ? "-" : "prev"} ${count} ${elemFlags} ${flags}`);
}

/** A hash map (zero seed) of `n` random u32 keys (seeded), values of `vs` bytes. */
function hashScript(seed: number, type: number, max: number, n: number, vs: number, ks = 4): string[] {
  const rnd = mulberry32(seed);
  const lines = [`map ${type} ${ks} ${vs} ${max} ${BPF_F_ZERO_SEED}`];
  const seen = new Set<string>();
  while (seen.size < n) {
    const k = hexOf(Math.floor(rnd() * 2 ** 32), ks);
    if (seen.has(k)) continue;
    seen.add(k);
    lines.push(`update ${k} ${hexOf(Math.floor(rnd() * 2 ** 32), vs)} 0`);
  }
  return lines;
}

const SCRIPTS: Record<string, string[]> = {
  "hash: walks of every batch size to the end and past it, ENOSPC at a bucket larger than count": [
    ...hashScript(1, BPF_MAP_TYPE_HASH, 64, 40, 8),
    ...[1, 2, 3, 4, 7, 40, 64].flatMap((c) => [...walk("lookup_batch", c, Math.ceil(64 / c) + 2), "dump"]),
  ],
  "hash: odd key size (6 bytes), values of 12": [
    ...hashScript(2, BPF_MAP_TYPE_HASH, 16, 16, 12, 6), ...walk("lookup_batch", 5, 6), "dump",
  ],
  "hash: lookup_and_delete walks empty the map, a second walk finds nothing": [
    ...hashScript(3, BPF_MAP_TYPE_HASH, 32, 25, 8), ...walk("lookup_and_delete_batch", 4, 12), "dump",
    ...walk("lookup_batch", 8, 2), ...walk("lookup_and_delete_batch", 8, 2),
  ],
  "hash: elem_flags and flags, count 0, a cursor past the last bucket": [
    ...hashScript(4, BPF_MAP_TYPE_HASH, 8, 6, 4),
    "lookup_batch - 4 4 0", "lookup_batch - 4 1 0", "lookup_batch - 4 8 0", "lookup_batch - 4 0 1",
    "lookup_and_delete_batch - 4 0 2", "lookup_batch - 0 0 0", "lookup_batch - 0 4 0",
    `lookup_batch ${h32(8)} 4 0 0`, `lookup_batch ${h32(0xffffffff)} 4 0 0`, `lookup_batch ${h32(7)} 8 0 0`, "dump",
  ],
  "hash: update_batch fills to max_entries then E2BIG, elem_flags refused; delete_batch stops at a missing key": [
    `map ${BPF_MAP_TYPE_HASH} 4 8 8 ${BPF_F_ZERO_SEED}`,
    `update_batch 10 0 ${Array.from({ length: 10 }, (_, i) => h32(i * 7)).join("")} ${Array.from({ length: 10 }, (_, i) => hexOf(i, 8)).join("")}`,
    "dump",
    `update_batch 2 1 ${h32(0)}${h32(7)} ${hexOf(1, 16)}`, `update_batch 2 2 ${h32(0)}${h32(7)} ${hexOf(1, 16)}`,
    `update_batch 2 4 ${h32(0)}${h32(7)} ${hexOf(1, 16)}`, `update_batch 0 0 - -`,
    `update_batch 2 0 ${h32(0)}${h32(7)} ${hexOf(9, 16)}`, "dump",
    `delete_batch 3 0 ${h32(0)}${h32(1000)}${h32(7)}`, `delete_batch 1 1 ${h32(7)}`, `delete_batch 0 0 -`,
    `delete_batch 2 0 ${h32(7)}${h32(14)}`, "dump",
  ],
  "array: walks, out-of-range cursors restart, update_batch stops at an index past the end, no delete ops": [
    `map ${BPF_MAP_TYPE_ARRAY} 4 4 10 0`,
    `update_batch 4 0 ${h32(1)}${h32(3)}${h32(5)}${h32(9)} ${hexOf(11, 16)}`,
    ...[1, 3, 4, 10, 11].flatMap((c) => walk("lookup_batch", c, Math.ceil(10 / c) + 2)),
    `lookup_batch ${h32(9)} 4 0 0`, `lookup_batch ${h32(10)} 4 0 0`, `lookup_batch ${h32(8)} 4 0 0`, "lookup_batch - 4 0 1",
    "lookup_batch - 4 4 0", "lookup_batch - 0 0 0",
    `update_batch 3 0 ${h32(2)}${h32(10)}${h32(4)} ${hexOf(5, 12)}`, `update_batch 1 1 ${h32(2)} ${hexOf(6, 4)}`,
    `delete_batch 1 0 ${h32(1)}`, "lookup_and_delete_batch - 4 0 0", "dump",
  ],
  "lru_hash: walks and lookup_and_delete without eviction": [
    ...hashScript(5, BPF_MAP_TYPE_LRU_HASH, 32, 20, 8), ...walk("lookup_batch", 3, 14), ...walk("lookup_and_delete_batch", 6, 6), "dump",
  ],
  "read-only and write-only maps: EPERM where the command needs the access the map refuses": [
    `map ${BPF_MAP_TYPE_HASH} 4 4 4 ${BPF_F_ZERO_SEED | BPF_F_RDONLY}`,
    "lookup_batch - 4 0 0", "lookup_and_delete_batch - 4 0 0", `update_batch 1 0 ${h32(1)} ${h32(1)}`, `delete_batch 1 0 ${h32(1)}`,
    `map ${BPF_MAP_TYPE_HASH} 4 4 4 ${BPF_F_ZERO_SEED | BPF_F_WRONLY}`,
    `update_batch 1 0 ${h32(1)} ${h32(1)}`, "lookup_batch - 4 0 0", "lookup_and_delete_batch - 4 0 0", `delete_batch 1 0 ${h32(1)}`,
  ],
  "prog_array: no batch ops": [
    `map ${BPF_MAP_TYPE_PROG_ARRAY} 4 4 4 0`, "lookup_batch - 4 0 0", `update_batch 1 0 ${h32(1)} ${h32(1)}`, `delete_batch 1 0 ${h32(1)}`,
  ],
};

const unavailable = mapBatchOracleUnavailable();
if (unavailable !== null) console.warn(`\n*** BATCH MAP OPS KERNEL DIFFERENTIAL SKIPPED: ${unavailable} ***\n`);

describe.skipIf(unavailable !== null)("batch map ops against the running kernel (libbpf)", () => {
  for (const [name, lines] of Object.entries(SCRIPTS)) {
    it(name, async () => {
      const script = lines.join("\n") + "\n";
      const kernel = (await kernelMapBatch(script)).map((l): BatchLine => (l.errno === KERNEL_ENOTSUPP ? { ...l, errno: EOPNOTSUPP } : l));
      const ours = ourMapBatch(script);
      expect(ours.length).toBe(lines.length);
      for (let i = 0; i < lines.length; i++) expect(ours[i], `line ${i + 1}: ${lines[i]}`).toEqual(kernel[i]);
    }, 60_000);
  }
});

describe.runIf(unavailable !== null && process.env.CI === "true")("batch map ops kernel differential under CI", () => {
  it("must be able to run the kernel side", () => {
    expect.fail(`CI must run the batch map differential: ${unavailable}`);
  });
});

function batch(count: number, ks: number, vs: number, inBatch: Uint8Array | null = null): BpfMapBatch {
  return { inBatch, outBatch: new Uint8Array(Math.max(4, ks)), keys: new Uint8Array(count * ks), values: new Uint8Array(count * vs), count, elemFlags: 0, flags: 0 };
}

function hashMap(k: BpfKernel, max: number): BpfMap {
  const m = k.mapCreate({ mapType: BPF_MAP_TYPE_HASH, keySize: 4, valueSize: 4, maxEntries: max, mapFlags: BPF_F_ZERO_SEED, name: "h" });
  if (typeof m === "number") throw new Error(`map create ${m}`);
  return m;
}

const u32 = (n: number) => new Uint8Array(new Uint32Array([n]).buffer);

describe("batch map ops (our kernel alone)", () => {
  it("a hash walk of any batch size returns every element once, in get_next_key order, then ENOENT", () => {
    const k = new BpfKernel();
    const m = hashMap(k, 1024);
    for (let i = 0; i < 700; i++) expect(m.sysUpdate(u32(i * 2654435761), u32(i), 0)).toBe(0);
    const order: number[] = [];
    let prev: Uint8Array | null = null;
    for (;;) {
      const n = new Uint8Array(4);
      if (m.sysGetNextKey(prev, n) !== 0) break;
      order.push(new Uint32Array(n.buffer)[0]!);
      prev = n;
    }
    for (const count of [5, 64, 700, 1000]) {
      const got: number[] = [];
      let cursor: Uint8Array | null = null;
      let rc = 0;
      do {
        const b = batch(count, 4, 4, cursor);
        rc = k.mapBatch(BPF_MAP_LOOKUP_BATCH, m.id, b);
        expect([0, -ENOENT]).toContain(rc);
        const keys = new Uint32Array(b.keys.buffer, 0, b.count), vals = new Uint32Array(b.values.buffer, 0, b.count);
        for (let i = 0; i < b.count; i++) {
          got.push(keys[i]!);
          expect(vals[i]).toBe([...Array(700).keys()].find((j) => ((j * 2654435761) >>> 0) === keys[i])!);
        }
        cursor = b.outBatch;
      } while (rc === 0);
      expect(got).toEqual(order);
    }
  });

  it("ENOSPC when the first bucket does not fit; a later one ends the call with 0 and a cursor naming it", () => {
    const k = new BpfKernel();
    const m = hashMap(k, 4) as HashMap;
    // two keys in bucket 0 of 4, one in a later bucket
    const inBucket = (b: number) => [...Array(200).keys()].filter((x) => (jhash(u32(x), 0, 4, 0) & 3) === b);
    const [a, c] = inBucket(0), [d] = inBucket(2);
    for (const x of [a!, c!, d!]) m.sysUpdate(u32(x), u32(x), 0);
    const b1 = batch(1, 4, 4);
    expect(k.mapBatch(BPF_MAP_LOOKUP_BATCH, m.id, b1)).toBe(-ENOSPC);
    expect(b1.count).toBe(0);
    const b2 = batch(2, 4, 4);
    expect(k.mapBatch(BPF_MAP_LOOKUP_BATCH, m.id, b2)).toBe(0);
    expect([b2.count, new Uint32Array(b2.outBatch.buffer)[0]]).toEqual([2, 2]); // bucket 1 is empty, bucket 2 did not fit
    const b3 = batch(2, 4, 4, b2.outBatch);
    expect(k.mapBatch(BPF_MAP_LOOKUP_AND_DELETE_BATCH, m.id, b3)).toBe(-ENOENT);
    expect([b3.count, new Uint32Array(b3.keys.buffer)[0], (m as HashMap).count]).toEqual([1, d, 2]);
  });

  it("arrays refuse the delete ops with EOPNOTSUPP; RDONLY/WRONLY/frozen maps EPERM; bad elem_flags EINVAL before count is touched", () => {
    const k = new BpfKernel();
    const arr = k.mapCreate({ mapType: BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: 4, maxEntries: 4, mapFlags: 0, name: "a" }) as BpfMap;
    expect(k.mapBatch(BPF_MAP_DELETE_BATCH, arr.id, batch(1, 4, 4))).toBe(-EOPNOTSUPP);
    expect(k.mapBatch(BPF_MAP_LOOKUP_AND_DELETE_BATCH, arr.id, batch(1, 4, 4))).toBe(-EOPNOTSUPP);
    const bad = { ...batch(3, 4, 4), elemFlags: 1 };
    expect(k.mapBatch(BPF_MAP_UPDATE_BATCH, arr.id, bad)).toBe(-EINVAL);
    expect(bad.count).toBe(3);
    const ro = k.mapCreate({ mapType: BPF_MAP_TYPE_HASH, keySize: 4, valueSize: 4, maxEntries: 4, mapFlags: BPF_F_RDONLY, name: "r" }) as BpfMap;
    expect(k.mapBatch(BPF_MAP_UPDATE_BATCH, ro.id, batch(1, 4, 4))).toBe(-EPERM);
    expect(k.mapBatch(BPF_MAP_LOOKUP_BATCH, ro.id, batch(1, 4, 4))).toBe(-ENOENT);
    const h = hashMap(k, 4);
    expect(freezeMap(h)).toBe(0);
    expect(k.mapBatch(BPF_MAP_DELETE_BATCH, h.id, batch(1, 4, 4))).toBe(-EPERM);
    expect(k.mapBatch(BPF_MAP_LOOKUP_AND_DELETE_BATCH, h.id, batch(1, 4, 4))).toBe(-EPERM);
    expect(k.mapBatch(BPF_MAP_LOOKUP_BATCH, 999, batch(1, 4, 4))).toBe(-9);
  });

  it("the scripts run on our kernel alone (the differential's other side) without throwing", () => {
    for (const lines of Object.values(SCRIPTS)) expect(ourMapBatch(lines.join("\n")).length).toBe(lines.length);
  });
});
