// The frame pool of a datapath (the host's NIC and vhost, the guest's virtio-net): net/core/page_pool.c. Every frame is
// preallocated in the (shared) BPF memory at setup, one page each
// (XDP_FRAME_SZ), with its xdp_md context block in a parallel array; a frame
// moves between stages and threads as a u32 handle (its address, page
// aligned, so the low bits are free for tags such as tun's TUN_XDP_FLAG).
// Nothing is allocated per packet: the allocating thread (the NIC's NAPI
// context) takes frames from a local cache refilled in bulk from the pool's
// recycle ring; that thread returns frames straight to the cache
// (page_pool_recycle_direct), other threads through the ring
// (page_pool_put_page -> ptr_ring_produce under the producer lock).
import type { BpfMemory } from "../bpf/runtime/memory.ts";
import { XDP_FRAME_SZ, xdpPrepareBuff } from "../bpf/runtime/xdp.ts";
import { XDP_CTX_BLOCK, XDP_CTX_FRAME_START, XDP_CTX_FRAME_SZ, XDP_CTX_REDIRECT, XDP_CTX_REDIRECT_MAP } from "../bpf/runtime/vm.ts";
import {
  XDP_MD_DATA, XDP_MD_DATA_END, XDP_MD_DATA_META, XDP_MD_EGRESS_IFINDEX, XDP_MD_INGRESS_IFINDEX, XDP_MD_RX_QUEUE_INDEX,
  XDP_PACKET_HEADROOM,
} from "../bpf/isa/uapi.ts";
import { ENOMEM, KernelError } from "../errno.ts";
import { memCopyOf, type MemCopy } from "../bpf/runtime/memcopy.ts";
import { PTR_RING_BATCH, PtrRing } from "./ptr_ring.ts";

// Header words: frame base, ctx base, count, recycle ring address.
const H_FRAMES = 0, H_CTXS = 1, H_COUNT = 2, H_RING = 3;
const HEADER_BYTES = 64;
/** PP_ALLOC_CACHE_SIZE / PP_ALLOC_CACHE_REFILL: the allocating thread's cache and its bulk refill. */
export const PP_ALLOC_CACHE_SIZE = 128;
export const PP_ALLOC_CACHE_REFILL = 64;

export class PagePool {
  readonly addr: number;
  readonly frameBase: number;
  readonly ctxBase: number;
  readonly count: number;
  readonly ring: PtrRing;
  /** View of the memory (re-made only if it no longer covers an address: setup-time growth). */
  #u32: Uint32Array;
  #viewEnd: number;
  /** This thread's alloc cache (only the allocating thread uses it). */
  readonly #cache: Uint32Array;
  #cacheLen: number;
  readonly #mem: BpfMemory;
  /** memory.copy over the pool's memory (dmaCopy). */
  readonly #copy: MemCopy;

  private constructor(mem: BpfMemory, addr: number) {
    this.addr = addr;
    this.#mem = mem;
    this.#copy = memCopyOf(mem.memory);
    this.#u32 = new Uint32Array(mem.memory.buffer);
    this.#viewEnd = this.#u32.byteLength;
    const h = addr >> 2;
    this.frameBase = this.#u32[h + H_FRAMES]!;
    this.ctxBase = this.#u32[h + H_CTXS]!;
    this.count = this.#u32[h + H_COUNT]!;
    this.ring = PtrRing.at(mem, this.#u32[h + H_RING]!);
    this.#cache = new Uint32Array(PP_ALLOC_CACHE_SIZE);
    this.#cacheLen = 0;
  }

  /** page_pool_create(): `count` frames, all free. Throws KernelError(ENOMEM). */
  static create(mem: BpfMemory, count: number): PagePool {
    const addr = mem.alloc(HEADER_BYTES, 64);
    const frames = mem.alloc(count * XDP_FRAME_SZ, XDP_FRAME_SZ);
    const ctxs = mem.alloc(count * XDP_CTX_BLOCK, 64);
    if (addr === 0 || frames === 0 || ctxs === 0) throw new KernelError(ENOMEM, `no memory for a page_pool of ${count} frames`);
    // A slot per frame, plus the consumer's lazily zeroed batch: a put never finds the ring full.
    const ring = PtrRing.init(mem, count + PTR_RING_BATCH);
    for (let i = 0; i < count; i++) ring.produce(frames + i * XDP_FRAME_SZ);
    const u32 = new Uint32Array(mem.memory.buffer);
    const h = addr >> 2;
    u32[h + H_FRAMES] = frames;
    u32[h + H_CTXS] = ctxs;
    u32[h + H_COUNT] = count;
    u32[h + H_RING] = ring.addr;
    return new PagePool(mem, addr);
  }

  /** The pool at `addr` (another thread's handle; its alloc cache starts empty). */
  static at(mem: BpfMemory, addr: number): PagePool {
    return new PagePool(mem, addr);
  }

  /** The xdp_md block of frame `h` (tag bits ignored). */
  ctxOf(h: number): number {
    return this.ctxBase + (((h & ~0xfff) - this.frameBase) >>> 12) * XDP_CTX_BLOCK;
  }

  /** Address of packet data after prepare(): the frame plus XDP_PACKET_HEADROOM. */
  dataOf(h: number): number {
    return (h & ~0xfff) + XDP_PACKET_HEADROOM;
  }

  /** A free frame, or 0 when the pool is exhausted. @see page_pool_alloc_pages() */
  alloc(): number {
    if (this.#cacheLen === 0) {
      this.#cacheLen = this.ring.consumeBatched(this.#cache, 0, PP_ALLOC_CACHE_REFILL);
      if (this.#cacheLen === 0) return 0;
    }
    return this.#cache[--this.#cacheLen]!;
  }

  /** Returns a frame from the allocating thread (NAPI context). @see page_pool_recycle_direct() */
  recycleDirect(h: number): void {
    h &= ~0xfff;
    if (this.#cacheLen < PP_ALLOC_CACHE_SIZE) this.#cache[this.#cacheLen++] = h;
    else this.ring.produceLocked(h);
  }

  /** Gives this handle's alloc cache back to the ring (the allocating thread is going away). */
  flushCache(): void {
    while (this.#cacheLen > 0) this.ring.produceLocked(this.#cache[--this.#cacheLen]!);
  }

  /** Returns a frame from any other thread. @see page_pool_put_full_page(), xdp_return_frame() */
  put(h: number): void {
    // The ring has a slot for every frame of the pool and its lazy batch, so this cannot fail.
    this.ring.produceLocked(h & ~0xfff);
  }

  /**
   * Returns hs[0..n) from any other thread under one producer lock and one publish (tag bits
   * are cleared in place). @see xdp_return_frame_bulk(), page_pool_put_page_bulk()
   */
  putBulk(hs: Uint32Array, n: number): void {
    if (n <= 0) return;
    for (let i = 0; i < n; i++) hs[i] = hs[i]! & ~0xfff;
    // The ring has a slot for every frame of the pool and its lazy batch: all of them fit.
    this.ring.produceBulkLocked(hs, 0, n);
  }

  /** A view covering [0, end) of `mem` (the cached one unless the memory grew past it). */
  #view(end: number): Uint32Array {
    if (end > this.#viewEnd) {
      this.#u32 = new Uint32Array(this.#mem.memory.buffer);
      this.#viewEnd = this.#u32.byteLength;
    }
    return this.#u32;
  }

  /**
   * The NIC's DMA of a received frame into buffer data `dst`: `len` bytes from `src` (one copy
   * of the bytes, as the hardware writes them), by wasm memory.copy over the pool's memory.
   */
  dmaCopy(dst: number, src: number, len: number): void {
    this.#copy(dst, src, len);
  }

  /**
   * prepare() through this handle's word view (the NIC's per-packet path: no DataView call per
   * field).
   */
  prepareU32(h: number, len: number, ingressIfindex: number, rxQueueIndex: number): void {
    const c = this.ctxOf(h) >> 2, frame = h & ~0xfff, data = frame + XDP_PACKET_HEADROOM;
    const u32 = this.#view((c << 2) + XDP_CTX_BLOCK);
    u32[c + (XDP_MD_DATA >> 2)] = data;
    u32[c + (XDP_MD_DATA_END >> 2)] = data + len;
    u32[c + (XDP_MD_DATA_META >> 2)] = data;
    u32[c + (XDP_MD_INGRESS_IFINDEX >> 2)] = ingressIfindex;
    u32[c + (XDP_MD_RX_QUEUE_INDEX >> 2)] = rxQueueIndex;
    u32[c + (XDP_MD_EGRESS_IFINDEX >> 2)] = 0;
    u32[c + (XDP_CTX_FRAME_START >> 2)] = frame;
    u32[c + (XDP_CTX_FRAME_SZ >> 2)] = XDP_FRAME_SZ;
    u32[c + (XDP_CTX_REDIRECT >> 2)] = 0;
    u32[c + (XDP_CTX_REDIRECT_MAP >> 2)] = 0;
  }

  /**
   * xdp_init_buff() + xdp_prepare_buff() on frame `h`: a packet of `len` bytes at
   * data = frame + XDP_PACKET_HEADROOM (the caller writes the bytes at dataOf(h)).
   */
  prepare(dv: DataView, h: number, len: number, ingressIfindex: number, rxQueueIndex: number): void {
    xdpPrepareBuff(dv, this.ctxOf(h), h & ~0xfff, len, ingressIfindex, rxQueueIndex);
  }

  /**
   * Frames in this handle's alloc cache plus the recycle ring, counted by draining and refilling
   * the ring: only while no other thread uses the pool (tests, teardown).
   */
  freeCountQuiesced(): number {
    let n = this.#cacheLen;
    const tmp = new Uint32Array(this.count);
    const k = this.ring.consumeBatched(tmp, 0, this.count);
    for (let i = 0; i < k; i++) this.ring.produceLocked(tmp[i]!);
    n += k;
    return n;
  }
}
