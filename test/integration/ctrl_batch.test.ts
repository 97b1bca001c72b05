// The batch map commands through real processes: the guest side (driver and
// GuestMapOps, as the guest kernel runs them) in this process, a real shim and
// host. Every step of a script runs on a map offloaded through the device and on
// the same map local to a BpfKernel (whose batch ops
// test/shared/bpf/maps/batch.test.ts judges against the running kernel): counts,
// errno, cursors, keys and values must be the same. Then `bpftool map dump` of an
// offloaded map (one LOOKUP_BATCH) against the same dump of the local copy and
// against the element-wise walk through the device.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Procs } from "../helpers/procs.ts";
import { VirtioNetDriver } from "../../guest/virtio_net.ts";
import { GuestKernel } from "../../guest/netdev.ts";
import { GuestMapOps, bpftoolCommand, offloadedMapEntries } from "../../guest/bpftool.ts";
import type { BpfMap, BpfMapBatch } from "../../shared/bpf/maps/map.ts";
import { mapDoBatch } from "../../shared/bpf/syscall.ts";
import {
  BPF_F_ZERO_SEED, BPF_MAP_DELETE_BATCH, BPF_MAP_LOOKUP_AND_DELETE_BATCH, BPF_MAP_LOOKUP_BATCH, BPF_MAP_TYPE_ARRAY,
  BPF_MAP_TYPE_HASH, BPF_MAP_UPDATE_BATCH,
} from "../../shared/bpf/isa/uapi.ts";
import { VIRTIO_NET_CTRL_BPF_MAP_CREATE, VIRTIO_NET_CTRL_BPF_MAP_LOOKUP_BATCH } from "../../shared/virtio/virtio_net.ts";
import { E2BIG, ENOENT } from "../../shared/errno.ts";
import { mulberry32 } from "../helpers/prng.ts";

const procs = new Procs();
let drv: VirtioNetDriver;
const k = new GuestKernel();
const ops = () => new GuestMapOps(k, drv);

beforeAll(async () => {
  const host = await procs.host();
  const qemu = await procs.qemu(host.url, "batchvm");
  drv = await VirtioNetDriver.probe(qemu.url, "batchvm");
});
afterAll(async () => {
  drv?.ch.close();
  await procs.stopAll();
});

/** A guest map offloaded to the device, and a local twin of the same attributes (the oracle). */
async function twins(mapType: number, keySize: number, valueSize: number, maxEntries: number, mapFlags: number): Promise<[BpfMap, BpfMap]> {
  const attr = { mapType, keySize, valueSize, maxEntries, mapFlags, name: "twin" };
  const off = k.bpf.mapCreate(attr), local = k.bpf.mapCreate(attr);
  if (typeof off === "number" || typeof local === "number") throw new Error("map create");
  const c = await drv.bpfCmd(VIRTIO_NET_CTRL_BPF_MAP_CREATE, attr);
  if (!c.ok) throw new Error(`MAP_CREATE: ${c.message}`);
  k.offloadedMaps.set(off.id, { handle: c.data.handle, map: off });
  return [off, local];
}

interface Step { cmd: number; count: number; cursor?: "prev"; keys?: Uint8Array; values?: Uint8Array; elemFlags?: number; flags?: number }

/** Runs one step on a map: the offloaded one through the device, the local one in the kernel. */
async function run(m: BpfMap, s: Step, prevOut: Uint8Array | null) {
  const lookup = s.cmd === BPF_MAP_LOOKUP_BATCH || s.cmd === BPF_MAP_LOOKUP_AND_DELETE_BATCH;
  const b: BpfMapBatch = {
    inBatch: s.cursor === "prev" ? prevOut : null, outBatch: new Uint8Array(Math.max(4, m.keySize)).fill(0xee),
    keys: lookup ? new Uint8Array(s.count * m.keySize) : s.keys!, values: lookup ? new Uint8Array(s.count * m.userValueSize) : (s.values ?? new Uint8Array(0)),
    count: s.count, elemFlags: s.elemFlags ?? 0, flags: s.flags ?? 0,
  };
  const rc = k.offloadedMaps.has(m.id) ? await ops().batch(s.cmd, m, b) : mapDoBatch(s.cmd, m, b);
  return { rc, count: b.count, outBatch: Buffer.from(b.outBatch).toString("hex"), keys: Buffer.from(b.keys).toString("hex"), values: Buffer.from(b.values).toString("hex") };
}

const u32s = (xs: number[]) => new Uint8Array(new Uint32Array(xs).buffer);

async function compare(off: BpfMap, local: BpfMap, steps: Step[]) {
  let prevOff: Uint8Array | null = null, prevLocal: Uint8Array | null = null;
  const seen: number[] = [];
  for (const [i, s] of steps.entries()) {
    const a = await run(off, s, prevOff), b = await run(local, s, prevLocal);
    expect(a, `step ${i}: ${JSON.stringify({ ...s, keys: undefined, values: undefined })}`).toEqual(b);
    prevOff = Buffer.from(a.outBatch, "hex");
    prevLocal = Buffer.from(b.outBatch, "hex");
    seen.push(a.rc);
  }
  return seen;
}

describe("VIRTIO_NET_CTRL_BPF_MAP_*_BATCH through a real shim and host", () => {
  it("hash: update_batch to E2BIG, walks of several sizes (ENOSPC, ENOENT), delete_batch, lookup_and_delete: as the kernel's ops", async () => {
    const [off, local] = await twins(BPF_MAP_TYPE_HASH, 4, 8, 64, BPF_F_ZERO_SEED);
    const rnd = mulberry32(7);
    const keys = Array.from({ length: 70 }, () => Math.floor(rnd() * 2 ** 32));
    const vals = new Uint8Array(70 * 8).map(() => Math.floor(rnd() * 256));
    const steps: Step[] = [{ cmd: BPF_MAP_UPDATE_BATCH, count: 70, keys: u32s(keys), values: vals }];
    for (const c of [1, 2, 3, 7, 64]) for (let j = 0; j < Math.ceil(64 / c) + 1; j++) steps.push({ cmd: BPF_MAP_LOOKUP_BATCH, count: c, cursor: j === 0 ? undefined : "prev" });
    steps.push({ cmd: BPF_MAP_LOOKUP_BATCH, count: 4, elemFlags: 1 }, { cmd: BPF_MAP_LOOKUP_BATCH, count: 4, flags: 1 });
    steps.push({ cmd: BPF_MAP_DELETE_BATCH, count: 3, keys: u32s([keys[0]!, 12345, keys[1]!]) });
    for (let j = 0; j < 14; j++) steps.push({ cmd: BPF_MAP_LOOKUP_AND_DELETE_BATCH, count: 5, cursor: j === 0 ? undefined : "prev" });
    steps.push({ cmd: BPF_MAP_LOOKUP_BATCH, count: 8 });
    const rcs = await compare(off, local, steps);
    // the script does reach the interesting answers
    expect(rcs[0]).toBe(-E2BIG);
    expect(rcs).toContain(-ENOENT);
    expect(rcs).toContain(-28); // ENOSPC
    expect(rcs).toContain(-22); // EINVAL
    expect(rcs.at(-1)).toBe(-ENOENT);
  }, 60_000);

  it("array: walks, update_batch past the end, and the delete commands refused (EOPNOTSUPP)", async () => {
    const [off, local] = await twins(BPF_MAP_TYPE_ARRAY, 4, 4, 10, 0);
    const steps: Step[] = [
      { cmd: BPF_MAP_UPDATE_BATCH, count: 3, keys: u32s([2, 11, 4]), values: u32s([7, 8, 9]) },
      ...[3, 4, 10].flatMap((c) => Array.from({ length: Math.ceil(10 / c) + 1 }, (_, j): Step => ({ cmd: BPF_MAP_LOOKUP_BATCH, count: c, cursor: j === 0 ? undefined : "prev" }))),
      { cmd: BPF_MAP_DELETE_BATCH, count: 1, keys: u32s([2]) }, { cmd: BPF_MAP_LOOKUP_AND_DELETE_BATCH, count: 2 },
    ];
    const rcs = await compare(off, local, steps);
    expect(rcs.slice(-2)).toEqual([-95, -95]);
  }, 60_000);

  it("a batch over the device's byte budget is E2BIG with the message naming it", async () => {
    const [off] = await twins(BPF_MAP_TYPE_HASH, 4, 4, 8, 0);
    const r = await drv.bpfCmd(VIRTIO_NET_CTRL_BPF_MAP_LOOKUP_BATCH, {
      handle: k.offloadedMaps.get(off.id)!.handle, hasInBatch: false, inBatch: new Uint8Array(0), count: 1 << 20, elemFlags: 0, flags: 0,
    });
    expect(r).toMatchObject({ ok: false, errno: E2BIG, message: expect.stringMatching(/the device carries at most 4194304/) });
  });

  it("bpftool map dump of an offloaded map: the local twin's output, and the element-wise walk's elements in its order", async () => {
    const [off, local] = await twins(BPF_MAP_TYPE_HASH, 4, 8, 4096, BPF_F_ZERO_SEED);
    const rnd = mulberry32(11);
    const n = 3000;
    const keys = u32s(Array.from({ length: n }, () => Math.floor(rnd() * 2 ** 32)));
    const vals = new Uint8Array(n * 8).map(() => Math.floor(rnd() * 256));
    for (const m of [off, local]) {
      const b: BpfMapBatch = { inBatch: null, outBatch: new Uint8Array(4), keys, values: vals, count: n, elemFlags: 0, flags: 0 };
      expect(k.offloadedMaps.has(m.id) ? await ops().batch(BPF_MAP_UPDATE_BATCH, m, b) : mapDoBatch(BPF_MAP_UPDATE_BATCH, m, b)).toBe(0);
    }
    const dump = async (m: BpfMap, json: boolean) => {
      const io = { out: [] as string[], err: [] as string[], files: new Map() };
      const status = await bpftoolCommand(k, drv, [...(json ? ["-j"] : []), "map", "dump", "id", String(m.id)], io);
      return { status, out: io.out.join("\n"), err: io.err.join("\n") };
    };
    for (const json of [false, true]) {
      const [a, b] = [await dump(off, json), await dump(local, json)];
      expect(a).toEqual(b);
      expect(a.status).toBe(0);
    }
    expect((await dump(off, false)).out).toMatch(/\nFound 3000 elements$/);
    // the element-wise walk through the device (GET_NEXT + LOOKUP) sees the same elements in the same order
    const batched = await offloadedMapEntries(ops(), off);
    const walked: string[] = [];
    for (let key: Uint8Array | null = null; ;) {
      const nx = await ops().getNext(off, key);
      if (nx.rc < 0) break;
      const v = await ops().lookup(off, nx.bytes!);
      walked.push(Buffer.from(nx.bytes!).toString("hex") + ":" + Buffer.from(v.bytes!).toString("hex"));
      key = nx.bytes;
    }
    const got = batched!.chunks.flatMap((c) => Array.from({ length: c.count }, (_, i) =>
      Buffer.from(c.keys.subarray(i * 4, i * 4 + 4)).toString("hex") + ":" + Buffer.from(c.values.subarray(i * 8, i * 8 + 8)).toString("hex")));
    expect(got).toEqual(walked);
  }, 60_000);
});
