// A kernel's programs run from another thread over its shared memory
// (thread_view.ts): map values written by a Worker's program are what the
// owner's syscall side reads, devmap entries the owner writes are what the
// Worker's bpf_redirect_map() sees, and maps a thread cannot reach are refused.
import { describe, expect, it } from "vitest";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import path from "node:path";
import { BpfKernel } from "../../../shared/bpf/syscall.ts";
import { loadObject } from "../../../shared/bpf/libbpf/libbpf.ts";
import { openObject } from "../../../shared/bpf/libbpf/object.ts";
import { XdpFrame } from "../../../shared/bpf/runtime/xdp.ts";
import { exportBpfThread } from "../../../shared/bpf/thread_view.ts";
import { spawnTsWorker } from "../../../shared/sched/thread_spawn.ts";
import { buildFrame } from "../../../shared/net/packets.ts";
import { IPPROTO_TCP, IPPROTO_UDP } from "../../../shared/net/headers.ts";
import { E2BIG, EINVAL, EOPNOTSUPP, KernelError } from "../../../shared/errno.ts";
import { XDP_DROP, XDP_REDIRECT } from "../../../shared/bpf/isa/uapi.ts";
import { PROGRAMS_DIR } from "../../helpers/repo.ts";

function load(kernel: BpfKernel, obj: string) {
  const file = path.join(PROGRAMS_DIR, obj);
  return loadObject(kernel, openObject(readFileSync(file), { file }));
}

/** A frame holding a 64-byte IPv4 packet with L4 protocol `l4`, prepared as received on ifindex 1. */
function frameOf(kernel: BpfKernel, l4: number): XdpFrame {
  const pkt = buildFrame({ l3: "ipv4", l4, frameLen: 64 });
  const f = new XdpFrame(kernel.vm);
  f.prepare(kernel.vm, pkt.length, 1, 0);
  kernel.mem.u8.set(pkt, f.dataAddr());
  return f;
}

/** The eight frames the counting tests run: five UDP, then three TCP. */
function udp5Tcp3(kernel: BpfKernel): XdpFrame[] {
  const frames: XdpFrame[] = [];
  for (let i = 0; i < 8; i++) frames.push(frameOf(kernel, i < 5 ? IPPROTO_UDP : IPPROTO_TCP));
  return frames;
}

function mapNamed(kernel: BpfKernel, name: string) {
  return [...kernel.maps.values()].find((m) => m.name === name)!;
}

/** The u64 value at u32 key `k` of `map` (which must hold it). */
function u64At(map: ReturnType<typeof mapNamed>, k: number): number {
  const v = new Uint8Array(8);
  expect(map.sysLookup(Uint8Array.of(k, 0, 0, 0), v)).toBe(0);
  return Number(new DataView(v.buffer).getBigUint64(0, true));
}

/** `n` more distinct u32 keys (from `base` up) fit in `map`, one more does not (E2BIG: max_entries reached). */
function expectRoomFor(map: ReturnType<typeof mapNamed>, n: number, base: number): void {
  const key = new Uint8Array(4), dv = new DataView(key.buffer), one = new Uint8Array(8);
  for (let i = 0; i < n; i++) {
    dv.setUint32(0, base + i, true);
    expect(map.sysUpdate(key, one, 0), `insert ${i}`).toBe(0);
  }
  dv.setUint32(0, base + n, true);
  expect(map.sysUpdate(key, one, 0)).toBe(-E2BIG);
}

/**
 * Waits for the Worker to set the word at `flagsAddr` (its runs started: the start takes a
 * module load), then calls `run` until it sets the next word (done); 30 s deadline.
 */
function runBeside(kernel: BpfKernel, flagsAddr: number, run: () => void): void {
  const i32 = new Int32Array(kernel.mem.memory.buffer), f = flagsAddr >> 2, deadline = Date.now() + 30_000;
  while (Atomics.load(i32, f) === 0 && Date.now() < deadline) { /* spin */ }
  while (Atomics.load(i32, f + 1) === 0 && Date.now() < deadline) run();
}

async function runInWorker(kernel: BpfKernel, progId: number, frames: XdpFrame[], rounds: number,
  beside?: { flagsAddr: number; run: () => void }) {
  const image = exportBpfThread(kernel, [kernel.progs.get(progId)!]);
  const ctxs = Uint32Array.from(frames.map((f) => f.ctx));
  const w = spawnTsWorker(new URL("./thread_view_worker.ts", import.meta.url),
    { image, progId, ctxs, rounds, cpu: 1, flagsAddr: beside?.flagsAddr });
  const got = once(w, "message");
  if (beside !== undefined) runBeside(kernel, beside.flagsAddr, beside.run);
  const [msg] = await got as [{ verdicts: number[]; redirect: number[] }];
  await w.terminate();
  return msg;
}

describe("BPF objects from another thread", () => {
  it("xdp1 run by a Worker counts into the array map the owner reads (atomics on the shared memory)", async () => {
    const kernel = new BpfKernel({ sharedMemory: true });
    const obj = load(kernel, "xdp1.o");
    const prog = obj.progList[0]!;
    const frames = udp5Tcp3(kernel);
    const msg = await runInWorker(kernel, prog.id, frames, 1000);
    expect(msg.verdicts).toEqual(new Array(8).fill(XDP_DROP));
    const rxcnt = mapNamed(kernel, "rxcnt");
    expect(u64At(rxcnt, IPPROTO_UDP)).toBe(5000);
    expect(u64At(rxcnt, IPPROTO_TCP)).toBe(3000);
  }, 60_000);

  it("bpf_redirect_map() in a Worker sees the devmap entry the owner wrote", async () => {
    const kernel = new BpfKernel({ sharedMemory: true });
    kernel.addNetdev(7, "tap0");
    const obj = load(kernel, "xdp_redirect_map.o");
    const prog = obj.progList[0]!;
    const txPort = mapNamed(kernel, "tx_port");
    expect(txPort.sysUpdate(Uint8Array.of(0, 0, 0, 0), Uint8Array.of(7, 0, 0, 0), 0)).toBe(0);
    const msg = await runInWorker(kernel, prog.id, [frameOf(kernel, IPPROTO_UDP)], 1);
    expect(msg.verdicts).toEqual([XDP_REDIRECT]);
    expect(msg.redirect).toEqual([7]);
  }, 60_000);

  it("a HASH map's table is shared: a Worker's program inserts and counts, the owner's insert is seen, counts are exact", async () => {
    const kernel = new BpfKernel({ sharedMemory: true });
    const obj = load(kernel, "xdp_hash_count.o");
    const prog = obj.progList[0]!;
    const map = mapNamed(kernel, "proto_cnt");
    const key = (k: number) => Uint8Array.of(k, 0, 0, 0);
    const val = (n: number) => { const b = new Uint8Array(8); new DataView(b.buffer).setBigUint64(0, BigInt(n), true); return b; };
    // The owner inserts TCP's entry first: the Worker's program must find and increment it.
    expect(map.sysUpdate(key(IPPROTO_TCP), val(1000), 0)).toBe(0);
    const frames = udp5Tcp3(kernel);
    const msg = await runInWorker(kernel, prog.id, frames, 1000);
    expect(msg.verdicts).toEqual(new Array(8).fill(XDP_DROP));
    expect(u64At(map, IPPROTO_UDP)).toBe(5000);
    expect(u64At(map, IPPROTO_TCP)).toBe(1000 + 3000);
    // Both sides' inserts share one element pool and one count.
    expect((map as unknown as { count: number }).count).toBe(2);
  }, 60_000);

  it("HASH writers on two threads at once (the table's spinlock): no lost count, element or entry", async () => {
    const kernel = new BpfKernel({ sharedMemory: true });
    const prog = load(kernel, "xdp_hash_count.o").progList[0]!;
    const map = mapNamed(kernel, "proto_cnt");
    const frames = udp5Tcp3(kernel);
    const flagsAddr = kernel.mem.alloc(8, 8);
    const k = new Uint8Array(4), one = new Uint8Array(8);
    one[0] = 1;
    let ops = 0;
    // The owner inserts and deletes keys 100..163 while the Worker's program inserts and counts.
    await runInWorker(kernel, prog.id, frames, 20_000, {
      flagsAddr,
      run: () => {
        k[0] = 100 + (ops & 63);
        expect(map.sysUpdate(k, one, 0)).toBe(0);
        expect(map.sysDelete(k)).toBe(0);
        ops++;
      },
    });
    expect(ops).toBeGreaterThan(0);
    expect(u64At(map, IPPROTO_UDP)).toBe(5 * 20_000);
    expect(u64At(map, IPPROTO_TCP)).toBe(3 * 20_000);
    const keys: number[] = [];
    const next = new Uint8Array(4);
    let cur: Uint8Array | null = null;
    while (map.sysGetNextKey(cur, next) === 0) {
      keys.push(next[0]!);
      cur = Uint8Array.from(next);
    }
    expect(keys.sort((a, b) => a - b)).toEqual([IPPROTO_TCP, IPPROTO_UDP]);
    expect((map as unknown as { count: number }).count).toBe(2);
    // Every other element is back in the pool: 254 more inserts fit, the 255th does not (max_entries 256).
    expectRoomFor(map, 254, 1000);
  }, 60_000);

  it("HASH updates and deletes from two threads at once keep the table whole (its spinlock)", async () => {
    const kernel = new BpfKernel({ sharedMemory: true });
    const prog = load(kernel, "xdp_hash_count.o").progList[0]!;
    const map = mapNamed(kernel, "proto_cnt");
    const image = exportBpfThread(kernel, [prog]);
    const flagsAddr = kernel.mem.alloc(8, 8);
    const n = 300_000;
    const w = spawnTsWorker(new URL("./hash_writer_worker.ts", import.meta.url), { image, mapId: map.id, n, base: 2000, flagsAddr });
    const got = once(w, "message");
    const key = new Uint8Array(4), dv = new DataView(key.buffer), one = new Uint8Array(8);
    let errors = 0, ops = 0;
    runBeside(kernel, flagsAddr, () => {
      dv.setUint32(0, 100 + (ops++ & 63), true);
      if (map.sysUpdate(key, one, 0) !== 0) errors++;
      if (map.sysDelete(key) !== 0) errors++;
    });
    const [msg] = await got as [{ errors: number }];
    await w.terminate();
    expect(ops).toBeGreaterThan(0);
    expect(errors + msg.errors).toBe(0);
    expect((map as unknown as { count: number }).count).toBe(0);
    // The whole pool is free again: max_entries (256) distinct inserts fit, one more does not.
    expectRoomFor(map, 256, 5000);
  }, 60_000);

  it("refuses programs using maps whose state is not in the shared memory (EOPNOTSUPP naming the map), and unshared kernels (EINVAL)", () => {
    const kernel = new BpfKernel({ sharedMemory: true });
    const obj = load(kernel, "xdp_hash.o");
    const prog = obj.progList[0]!;
    let err: unknown = null;
    try {
      exportBpfThread(kernel, [prog]);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(KernelError);
    expect((err as KernelError).errno).toBe(EOPNOTSUPP);
    // xdp_hash.o's HASH map is reachable; its LRU_HASH is not.
    expect((err as KernelError).message).toMatch(/\(flows\): lru_hash maps keep their state in the owner thread/);
    const plain = new BpfKernel();
    const p2 = load(plain, "xdp1.o").progList[0]!;
    expect(() => exportBpfThread(plain, [p2])).toThrow(expect.objectContaining({ errno: EINVAL }));
  });
});
