// page_pool (net/core/page_pool.c) of the host datapath: the NIC's DMA copy
// (words for small aligned frames, copyWithin otherwise) gives the template's
// bytes at every length, prepareU32() writes the same xdp_md block as
// prepare(), and putBulk() returns a batch under one lock (tag bits cleared)
// so that every frame is free again.
import { describe, expect, it } from "vitest";
import { BpfMemory } from "../../../shared/bpf/runtime/memory.ts";
import { PagePool } from "../../../shared/net/page_pool.ts";
import { XDP_CTX_BLOCK } from "../../../shared/bpf/runtime/vm.ts";

describe("page_pool", () => {
  it("DMA copy: the template's bytes at lengths 60..300, aligned or not", () => {
    const mem = BpfMemory.create({ shared: true });
    const pool = PagePool.create(mem, 8);
    const src = mem.alloc(512, 64);
    for (let i = 0; i < 512; i++) mem.u8[src + i] = (i * 7 + 3) & 0xff;
    for (const off of [0, 1, 2, 4]) {
      for (const len of [60, 61, 62, 63, 64, 65, 127, 128, 255, 256, 257, 300]) {
        const h = pool.alloc();
        const dst = pool.dataOf(h);
        mem.u8.fill(0xee, dst - 8, dst + 512);
        pool.dmaCopy(dst, src + off, len);
        expect([...mem.u8.subarray(dst, dst + len)], `len ${len} off ${off}`).toEqual([...mem.u8.subarray(src + off, src + off + len)]);
        // Nothing written before the packet, at most the word's remainder after it.
        expect(mem.u8[dst - 1]).toBe(0xee);
        expect(mem.u8[dst + ((len + 3) & ~3)]).toBe(0xee);
        pool.recycleDirect(h);
      }
    }
  });

  it("prepareU32() writes the xdp_md block prepare() writes", () => {
    const mem = BpfMemory.create({ shared: true });
    const pool = PagePool.create(mem, 4);
    const a = pool.alloc(), b = pool.alloc();
    mem.u8.fill(0x5a, pool.ctxOf(a), pool.ctxOf(a) + XDP_CTX_BLOCK);
    mem.u8.fill(0xa5, pool.ctxOf(b), pool.ctxOf(b) + XDP_CTX_BLOCK);
    pool.prepare(mem.dv, a, 98, 7, 3);
    pool.prepareU32(b, 98, 7, 3);
    const block = (h: number) => {
      const c = pool.ctxOf(h);
      // Frame-relative, so that both frames compare.
      const w = new Uint32Array(mem.memory.buffer, c, 10).map((x, i) => (i === 4 || i === 7 || i === 9 ? x : i <= 2 || i === 6 ? x - (h & ~0xfff) : x));
      return [...w];
    };
    expect(block(b)).toEqual(block(a));
  });

  it("putBulk() from another thread's side returns every frame (tags cleared) under one lock", () => {
    const mem = BpfMemory.create({ shared: true });
    const pool = PagePool.create(mem, 100);
    const hs = new Uint32Array(64);
    for (let i = 0; i < 64; i++) hs[i] = pool.alloc() | (i & 1);
    const other = PagePool.at(mem, pool.addr);
    other.putBulk(hs, 64);
    expect([...hs].every((h) => (h & 0xfff) === 0)).toBe(true);
    expect(pool.freeCountQuiesced()).toBe(100);
    // And the allocating side gets them back: 100 distinct frames.
    const seen = new Set<number>();
    for (let i = 0; i < 100; i++) seen.add(pool.alloc());
    expect(seen.size).toBe(100);
    expect(seen.has(0)).toBe(false);
    expect(pool.alloc()).toBe(0);
  });
});
