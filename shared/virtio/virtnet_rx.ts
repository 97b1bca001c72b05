// Guest virtio-net receive queue: buffers, refill, NAPI poll. Mirrors
// drivers/net/virtio_net.c (add_recvbuf_small, try_fill_recv, virtnet_receive,
// virtnet_poll, skb_recv_done); runs on a VringDriver in the guest's memory.
//
// Refill policy (the kernel's since 2017, "virtio_net: refill only when
// device buffer is half full" became budget-aware): after a poll,
//     if (num_free > min(budget, ring size) / 2) try_fill_recv()
// and try_fill_recv() adds buffers until the ring is full or the buffer pool
// runs out, then kick_prepare()/notify() once for the whole fill. With budget
// 64 and a 256-entry ring that refills once 33 or more descriptors are free.
// `refill: "half-ring"` selects the older rule (num_free > size / 2).
import { VringDriver } from "./vring_driver.ts";

export const NAPI_POLL_WEIGHT = 64;

export interface VirtnetRxOpts {
  readonly vq: VringDriver;
  /** Receive buffers: `nbufs` slots of `bufSize` bytes at `bufBase` in the vq's memory. */
  readonly bufBase: number;
  readonly bufSize: number;
  readonly nbufs: number;
  readonly refill?: "budget" | "half-ring";
}

/** One receive_queue. */
export class VirtnetRx {
  readonly vq: VringDriver;
  readonly bufBase: number;
  readonly bufSize: number;
  readonly refillPolicy: "budget" | "half-ring";
  /** Free buffer slots (a stack of slot numbers). */
  private readonly freeBufs: Int32Array;
  private nfree: number;
  /** netif_receive_skb: the packet at `mem[off, off + len)` (valid only during the call). */
  onPacket: ((mem: Uint8Array, off: number, len: number) => void) | null;
  /** NAPI scheduled by the interrupt and not yet completed. */
  napiScheduled: boolean;
  /** napi_schedule(): the owner runs poll() soon (setImmediate in a process, an event in the virtual clock). */
  onNapiSchedule: ((rx: VirtnetRx) => void) | null;
  // Counters (ethtool -S names where they exist).
  packets: number;
  bytes: number;
  kicks: number;
  refills: number;
  /** try_fill_recv() stopped for lack of buffers (the kernel's -ENOMEM, refill work scheduled). */
  refillOom: number;
  polls: number;

  constructor(o: VirtnetRxOpts) {
    this.vq = o.vq;
    this.bufBase = o.bufBase;
    this.bufSize = o.bufSize;
    this.refillPolicy = o.refill ?? "budget";
    if (o.bufBase + o.bufSize * o.nbufs > o.vq.mem.byteLength) throw new RangeError("Receive buffers do not fit in guest memory");
    this.freeBufs = new Int32Array(o.nbufs);
    for (let i = 0; i < o.nbufs; i++) this.freeBufs[i] = o.nbufs - 1 - i;
    this.nfree = o.nbufs;
    this.onPacket = null;
    this.napiScheduled = false;
    this.packets = 0;
    this.bytes = 0;
    this.kicks = 0;
    this.refills = 0;
    this.refillOom = 0;
    this.polls = 0;
    this.onNapiSchedule = null;
    // skb_recv_done(): the RX interrupt disables further callbacks and schedules NAPI.
    this.vq.callback = (vq) => {
      vq.disable_cb();
      if (this.napiScheduled) return;
      this.napiScheduled = true;
      if (this.onNapiSchedule !== null) this.onNapiSchedule(this);
    };
  }

  /** try_fill_recv(): fill the ring, one kick for the lot. Returns false when buffers ran out first. */
  try_fill_recv(): boolean {
    const vq = this.vq;
    let oom = false;
    this.refills++;
    while (vq.numFree > 0) {
      if (this.nfree === 0) {
        oom = true;
        break;
      }
      const slot = this.freeBufs[this.nfree - 1]!;
      const err = vq.add_inbuf(this.bufBase + slot * this.bufSize, this.bufSize, slot);
      if (err < 0) {
        oom = true;
        break;
      }
      this.nfree--;
    }
    if (vq.kick_prepare()) {
      vq.notify();
      this.kicks++;
    }
    vq.out.flush();
    if (oom) this.refillOom++;
    return !oom;
  }

  /** Whether a poll that saw `budget` should refill (see the header). */
  needRefill(budget: number): boolean {
    const size = this.vq.num;
    const lim = this.refillPolicy === "budget" ? Math.min(budget, size) : size;
    return this.vq.numFree > lim >>> 1;
  }

  /**
   * virtnet_poll(): receive up to `budget` packets, refill by the policy, and
   * when under budget complete NAPI and re-enable the callback; if entries
   * arrived meanwhile (virtqueue_enable_cb() false) stay scheduled. Returns
   * the packets received.
   */
  poll(budget: number = NAPI_POLL_WEIGHT): number {
    const vq = this.vq;
    this.polls++;
    let received = 0;
    while (received < budget) {
      const slot = vq.get_buf();
      if (slot < 0) break;
      const len = vq.lastLen;
      if (this.onPacket !== null) this.onPacket(vq.mem, this.bufBase + slot * this.bufSize, len);
      this.freeBufs[this.nfree++] = slot;
      this.packets++;
      this.bytes += len;
      received++;
    }
    if (this.needRefill(budget)) this.try_fill_recv();
    if (received < budget) {
      // napi_complete_done() + virtqueue_napi_complete().
      this.napiScheduled = false;
      if (!vq.enable_cb()) {
        vq.disable_cb();
        this.napiScheduled = true;
        if (this.onNapiSchedule !== null) this.onNapiSchedule(this);
      }
    }
    return received;
  }

  /** Buffers not in the ring and not being delivered. */
  get freeBuffers(): number {
    return this.nfree;
  }
}
