// ptr_ring (include/linux/ptr_ring.h) semantics on one thread, then one
// producer Worker and the main thread consuming through the shared memory.
import { describe, expect, it } from "vitest";
import { once } from "node:events";
import { BpfMemory } from "../../../shared/bpf/runtime/memory.ts";
import { PtrRing } from "../../../shared/net/ptr_ring.ts";
import { ENOSPC } from "../../../shared/errno.ts";
import { spawnTsWorker } from "../../../shared/sched/thread_spawn.ts";

describe("ptr_ring on one thread", () => {
  it("fills to exactly size entries, then -ENOSPC; FIFO order; empty gives 0", () => {
    const mem = BpfMemory.create();
    const r = PtrRing.init(mem, 8);
    expect(r.isEmpty()).toBe(true);
    expect(r.consume()).toBe(0);
    for (let i = 1; i <= 8; i++) expect(r.produce(100 + i)).toBe(0);
    expect(r.isFull()).toBe(true);
    expect(r.produce(999)).toBe(-ENOSPC);
    expect(r.peek()).toBe(101);
    const out = new Uint32Array(16);
    expect(r.consumeBatched(out, 0, 3)).toBe(3);
    expect([...out.subarray(0, 3)]).toEqual([101, 102, 103]);
    // batch is 1 for an 8-slot ring (16 > 8/2): consumed slots are free at once
    expect(r.produce(109)).toBe(0);
    expect(r.consumeBatched(out, 0, 16)).toBe(6);
    expect([...out.subarray(0, 6)]).toEqual([104, 105, 106, 107, 108, 109]);
    expect(r.isEmpty()).toBe(true);
  });

  it("zeroes consumed slots lazily in batches of 16 on a large ring: the producer sees the ring full until a batch is released", () => {
    const mem = BpfMemory.create();
    const r = PtrRing.init(mem, 64);
    for (let i = 1; i <= 64; i++) expect(r.produce(i)).toBe(0);
    for (let i = 1; i <= 15; i++) expect(r.consume()).toBe(i);
    // 15 consumed, none released yet (the kernel's batch of SMP_CACHE_BYTES*2/sizeof(void *))
    expect(r.produce(1000)).toBe(-ENOSPC);
    expect(r.consume()).toBe(16);
    for (let i = 0; i < 16; i++) expect(r.produce(2000 + i)).toBe(0);
    expect(r.produce(3000)).toBe(-ENOSPC);
    // order is kept across the wrap
    const out = new Uint32Array(64);
    expect(r.consumeBatched(out, 0, 64)).toBe(64);
    expect(out[0]).toBe(17);
    expect(out[47]).toBe(64);
    expect(out[48]).toBe(2000);
    expect(out[63]).toBe(2015);
  });

  it("entries produced without a publish stay invisible until publish(); the full check still reads the slots", () => {
    const mem = BpfMemory.create();
    const r = PtrRing.init(mem, 64);
    const out = new Uint32Array(64);
    for (let i = 1; i <= 5; i++) expect(r.produceNoPublish(i)).toBe(0);
    expect(r.isEmpty()).toBe(true);
    expect(r.peek()).toBe(0);
    expect(r.consumeBatched(out, 0, 64)).toBe(0);
    r.publish();
    expect(r.peek()).toBe(1);
    expect(r.consumeBatched(out, 0, 3)).toBe(3);
    expect([...out.subarray(0, 3)]).toEqual([1, 2, 3]);
    // A bulk under the lock: stops at the first slot still taken, publishes what it produced.
    const bulk = Uint32Array.from({ length: 70 }, (_, i) => 100 + i);
    expect(r.produceBulkLocked(bulk, 0, 70)).toBe(59); // 64 slots, 2 unconsumed, 3 consumed but not yet zeroed
    expect(r.consumeBatched(out, 0, 64)).toBe(61);
    expect(out[0]).toBe(4);
    expect(out[2]).toBe(100);
    expect(out[60]).toBe(158);
    expect(r.isEmpty()).toBe(true);
  });

  it("another handle on the same struct (PtrRing.at) sees the same ring", () => {
    const mem = BpfMemory.create();
    const a = PtrRing.init(mem, 32);
    const b = PtrRing.at(mem, a.addr);
    expect(b.size).toBe(32);
    a.produce(7);
    expect(b.consume()).toBe(7);
    expect(a.isEmpty()).toBe(true);
  });
});

describe("ptr_ring across threads", () => {
  for (const mode of ["single", "locked", "bulk", "bulkLocked"] as const) {
    const locked = mode === "locked" || mode === "bulkLocked";
    it(`a producer Worker's handles (${mode}) all arrive once, in order, at the main thread`, async () => {
      const mem = BpfMemory.create({ shared: true });
      const ring = PtrRing.init(mem, 256);
      const n = 300_000;
      const w = spawnTsWorker(new URL("./ptr_ring_producer.ts", import.meta.url),
        { memory: mem.memory, addr: ring.addr, n, deadlineMs: 30_000, mode });
      const done = once(w, "message");
      const out = new Uint32Array(64);
      let expectNext = 1, bad = 0;
      const deadline = Date.now() + 30_000;
      while (expectNext <= n && Date.now() < deadline) {
        const got = locked ? ring.consumeBatchedLocked(out, 0, 64) : ring.consumeBatched(out, 0, 64);
        for (let i = 0; i < got; i++) {
          if (out[i] !== expectNext) bad++;
          expectNext = out[i]! + 1;
        }
      }
      const [msg] = await done as [{ produced: number; fullHits: number }];
      await w.terminate();
      expect(msg.produced).toBe(n);
      expect(bad).toBe(0);
      expect(expectNext - 1).toBe(n);
      expect(ring.isEmpty()).toBe(true);
    }, 60_000);
  }
});
