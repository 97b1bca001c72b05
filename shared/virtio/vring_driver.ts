// Driver side of split virtqueues, in the guest process and its own memory.
// Mirrors drivers/virtio/virtio_ring.c (virtqueue_add_split, virtqueue_kick_prepare_split,
// virtqueue_get_buf_ctx_split, detach_buf_split, virtqueue_enable_cb_prepare_split,
// virtqueue_disable_cb_split, vring_interrupt); virtio 1.2 §2.7.
//
// The ring lives in a Uint8Array the guest owns (its "RAM"), laid out exactly as
// include/uapi/linux/virtio_ring.h says. The device lives in another process and
// cannot read it, so everything the driver writes into the ring is also shipped
// in data-channel records (shared/virtio/vring_frame.ts): each add appends an
// AVAIL record with the chain's descriptors as written, kick_prepare ships the
// avail idx, and used_event/avail flags travel as DRIVER_EVT at sync points.
// Records from the device (USED with packet bytes, USED_IDX, DEVICE_EVT,
// INTERRUPT) are applied to this memory as the device's DMA would be.
//
// Message passing has no memory barrier pairing (the smp_mb() between "write
// avail idx" and "read avail_event" on one side and the reverse on the other),
// so the re-check that pairing makes safe is done on receipt instead: when a
// DEVICE_EVT moves avail_event into entries we published after our last kick,
// we kick now (counted in `recheckKicks`). The device does the same for
// interrupts on DRIVER_EVT. Without it a kick can be lost.
//
// Hot path (add, kick, get_buf, applying records) allocates nothing and never throws;
// a device that writes nonsense (bad id, payload larger than the chain) makes
// the queue `broken` as BAD_RING() does.
import {
  VRING_AVAIL_F_NO_INTERRUPT,
  VRING_AVAIL_FLAGS,
  VRING_AVAIL_IDX,
  VRING_AVAIL_RING,
  VRING_DESC_ADDR,
  VRING_DESC_F_NEXT,
  VRING_DESC_F_WRITE,
  VRING_DESC_FLAGS,
  VRING_DESC_LEN,
  VRING_DESC_NEXT,
  VRING_DESC_SIZE,
  VRING_USED_F_NO_NOTIFY,
  VRING_USED_FLAGS,
  VRING_USED_IDX,
  VRING_USED_RING,
  VRING_USED_ELEM_SIZE,
  vring_avail_event_off,
  vring_init,
  vring_need_event,
  vring_used_event_off,
  type VringLayout,
} from "./virtio_ring.ts";
import {
  FrameWriter,
  readFrame,
  rd32,
  VQF_REC_AVAIL_IDX,
  VQF_REC_DEVICE_EVT,
  VQF_REC_DRIVER_EVT,
  VQF_REC_INTERRUPT,
  VQF_REC_KICK,
  VQF_REC_NEEDS_RESET,
  VQF_REC_RESET,
  VQF_REC_USED,
  VQF_REC_USED_IDX,
  VQF_USED_BODY_SIZE,
  type FrameHandler,
} from "./vring_frame.ts";
import { EAGAIN, EIO, ENOSPC, EINVAL } from "../errno.ts";

export interface VringDriverOpts {
  /** Queue index on the device (rx0 = 0, tx0 = 1, ...). */
  readonly index: number;
  readonly num: number;
  /** Guest memory and where the ring is placed in it. */
  readonly mem: Uint8Array;
  readonly base: number;
  /** VIRTIO_RING_F_EVENT_IDX negotiated. */
  readonly eventIdx: boolean;
  /** Where this queue's records go (shared by the queues of one device). */
  readonly out: FrameWriter;
  /** Used ring alignment (4096 legacy; 4 packs the ring). */
  readonly align?: number;
  /**
   * Ship readable buffers' bytes with their descriptors (transmit queues: the
   * device cannot read guest memory). Off for receive queues.
   */
  readonly outData?: boolean;
}

/** One split virtqueue, driver side (struct vring_virtqueue, split part). */
export class VringDriver {
  readonly index: number;
  readonly num: number;
  readonly mem: Uint8Array;
  readonly dv: DataView;
  readonly layout: VringLayout;
  readonly event: boolean;
  readonly out: FrameWriter;
  readonly outData: boolean;
  private readonly mask: number;
  private readonly usedEventAddr: number;
  private readonly availEventAddr: number;
  /** Per head: the caller's token (>= 0) or -1 (desc_state[].data). */
  private readonly data: Int32Array;
  // Ring state, set by reset() (the constructor calls it).
  freeHead!: number;
  numFree!: number;
  numAdded!: number;
  lastUsedIdx!: number;
  availIdxShadow!: number;
  availFlagsShadow!: number;
  /** Avail idx carried by our last kick (what the device was told about). */
  private kickedIdx!: number;
  /** Avail idx shipped by the last kick_prepare (what the device can see). */
  private publishedIdx!: number;
  /** used_event / avail flags written since the last DRIVER_EVT. */
  private driverEvtDirty!: boolean;
  broken!: boolean;
  /** Length the device wrote for the buffer returned by the last get_buf(). */
  lastLen: number;
  /** vring_interrupt() callback (the driver's vq callback: skb_recv_done schedules NAPI). */
  callback: ((vq: VringDriver) => void) | null;
  // Counters.
  kicks: number;
  recheckKicks: number;
  kickPrepares: number;
  interrupts: number;
  spuriousInterrupts: number;
  /** Copies of packet bytes: frame into guest buffers (copy 2 of 2 on RX), guest buffers into the frame (copy 1 of 2 on TX). */
  copies: number;
  copiedBytes: number;

  constructor(o: VringDriverOpts) {
    this.index = o.index;
    this.num = o.num;
    this.mem = o.mem;
    this.dv = new DataView(o.mem.buffer, o.mem.byteOffset, o.mem.byteLength);
    this.layout = vring_init(o.num, o.base, o.align ?? 4);
    if (this.layout.desc + this.layout.size > o.mem.byteLength) throw new RangeError("Ring does not fit in guest memory");
    this.event = o.eventIdx;
    this.out = o.out;
    this.outData = o.outData ?? false;
    this.mask = o.num - 1;
    this.usedEventAddr = this.layout.avail + vring_used_event_off(o.num);
    this.availEventAddr = this.layout.used + vring_avail_event_off(o.num);
    this.data = new Int32Array(o.num);
    this.lastLen = 0;
    this.callback = null;
    this.kicks = 0;
    this.recheckKicks = 0;
    this.kickPrepares = 0;
    this.interrupts = 0;
    this.spuriousInterrupts = 0;
    this.copies = 0;
    this.copiedBytes = 0;
    this.reset();
  }

  /** Zero the ring and rebuild the free list (vring_init + virtqueue_reinit). */
  reset(): void {
    this.mem.fill(0, this.layout.desc, this.layout.desc + this.layout.size);
    for (let i = 0; i < this.num - 1; i++) this.dv.setUint16(this.descAddr(i) + VRING_DESC_NEXT, i + 1, true);
    this.data.fill(-1);
    this.freeHead = 0;
    this.numFree = this.num;
    this.numAdded = 0;
    this.lastUsedIdx = 0;
    this.availIdxShadow = 0;
    this.availFlagsShadow = 0;
    this.kickedIdx = 0;
    this.publishedIdx = 0;
    this.driverEvtDirty = false;
    this.broken = false;
  }

  private descAddr(i: number): number {
    return this.layout.desc + i * VRING_DESC_SIZE;
  }

  /**
   * virtqueue_add_split(): one chain of `outNum` readable then `inNum` writable
   * buffers `(addrs[k], lens[k])`. Returns 0, -ENOSPC when the ring is full,
   * -EAGAIN when the data channel is above its bound (nothing written), -EIO
   * when the queue is broken, -EINVAL for an empty chain or a negative token.
   */
  add(addrs: ArrayLike<number>, lens: ArrayLike<number>, outNum: number, inNum: number, token: number): number {
    if (this.broken) return -EIO;
    const total = outNum + inNum;
    if (total === 0 || token < 0) return -EINVAL;
    if (this.numFree < total) return -ENOSPC;
    const head = this.freeHead;
    let dataBytes = -1;
    if (this.outData) {
      dataBytes = 0;
      for (let k = 0; k < outNum; k++) dataBytes += (lens[k]! + 3) & ~3;
    }
    let w = this.out.beginAvail(this.index, this.availIdxShadow, head, total, dataBytes);
    if (w < 0) return -EAGAIN;
    const dv = this.dv;
    let i = head;
    for (let k = 0; k < total; k++) {
      const a = this.descAddr(i);
      const addr = addrs[k]!;
      const flags = (k < outNum ? 0 : VRING_DESC_F_WRITE) | (k + 1 < total ? VRING_DESC_F_NEXT : 0);
      dv.setUint32(a + VRING_DESC_ADDR, addr >>> 0, true);
      dv.setUint32(a + VRING_DESC_ADDR + 4, 0, true);
      dv.setUint32(a + VRING_DESC_LEN, lens[k]! >>> 0, true);
      dv.setUint16(a + VRING_DESC_FLAGS, flags, true);
      const next = dv.getUint16(a + VRING_DESC_NEXT, true);
      w = this.out.availDesc(w, i, next, flags, lens[k]!, addr, 0);
      // Copy 1 of 2 on TX: the packet into the frame (nothing checks the guest's own addresses here).
      if (dataBytes >= 0 && k < outNum) {
        w = this.out.availData(w, this.mem, addr, lens[k]!);
        this.copies++;
        this.copiedBytes += lens[k]!;
      }
      i = next;
    }
    this.numFree -= total;
    this.freeHead = i;
    this.data[head] = token;
    const slot = this.availIdxShadow & this.mask;
    dv.setUint16(this.layout.avail + VRING_AVAIL_RING + 2 * slot, head, true);
    this.availIdxShadow = (this.availIdxShadow + 1) & 0xffff;
    dv.setUint16(this.layout.avail + VRING_AVAIL_IDX, this.availIdxShadow, true);
    this.numAdded++;
    return 0;
  }

  /** virtqueue_add_inbuf() with one writable buffer. */
  add_inbuf(addr: number, len: number, token: number): number {
    this.sg1a[0] = addr;
    this.sg1l[0] = len;
    return this.add(this.sg1a, this.sg1l, 0, 1, token);
  }
  /** virtqueue_add_outbuf() with one readable buffer. */
  add_outbuf(addr: number, len: number, token: number): number {
    this.sg1a[0] = addr;
    this.sg1l[0] = len;
    return this.add(this.sg1a, this.sg1l, 1, 0, token);
  }
  private readonly sg1a = new Float64Array(1);
  private readonly sg1l = new Uint32Array(1);

  /**
   * virtqueue_kick_prepare_split(): ships the avail idx (the device's view of
   * the write) and decides whether the device must be notified: with event
   * idx, when avail_event lies in the entries added since the last prepare;
   * otherwise unless the device set VRING_USED_F_NO_NOTIFY.
   */
  kick_prepare(): boolean {
    const newIdx = this.availIdxShadow;
    const old = (newIdx - this.numAdded) & 0xffff;
    this.numAdded = 0;
    this.publishedIdx = newIdx;
    this.kickPrepares++;
    this.out.simple(VQF_REC_AVAIL_IDX, this.index, newIdx);
    this.syncDriverEvt();
    if (this.event) return vring_need_event(this.dv.getUint16(this.availEventAddr, true), newIdx, old);
    return (this.dv.getUint16(this.layout.used + VRING_USED_FLAGS, true) & VRING_USED_F_NO_NOTIFY) === 0;
  }

  /** The ring's indices and notification state (cold: a debugging dump). */
  debugState(): Record<string, number | boolean> {
    const dv = this.dv;
    return {
      num_free: this.numFree, last_used: this.lastUsedIdx, used_idx: dv.getUint16(this.layout.used + VRING_USED_IDX, true),
      avail_idx: this.availIdxShadow, published: this.publishedIdx, kicked: this.kickedIdx,
      used_event: dv.getUint16(this.usedEventAddr, true), avail_event: dv.getUint16(this.availEventAddr, true),
      avail_flags: this.availFlagsShadow, evt_dirty: this.driverEvtDirty, broken: this.broken, kicks: this.kicks,
      recheck_kicks: this.recheckKicks, interrupts: this.interrupts, spurious: this.spuriousInterrupts,
    };
  }

  /** virtqueue_notify(): the doorbell write, a KICK record. */
  notify(): void {
    this.kicks++;
    this.kickedIdx = this.publishedIdx;
    this.out.simple(VQF_REC_KICK, this.index, this.publishedIdx);
  }

  /** virtqueue_kick(): prepare, notify if needed, send the batch. Returns whether a kick went out. */
  kick(): boolean {
    const k = this.kick_prepare();
    if (k) this.notify();
    this.out.flush();
    return k;
  }

  private syncDriverEvt(): void {
    if (!this.driverEvtDirty) return;
    if (this.out.simple(VQF_REC_DRIVER_EVT, this.index, this.dv.getUint16(this.usedEventAddr, true) | (this.availFlagsShadow << 16)))
      this.driverEvtDirty = false;
  }

  /** more_used_split(). */
  more_used(): boolean {
    return this.lastUsedIdx !== this.dv.getUint16(this.layout.used + VRING_USED_IDX, true);
  }

  /**
   * virtqueue_get_buf(): the token of the next used buffer and its length in
   * `lastLen`, or -1 when none (or the queue is broken).
   */
  get_buf(): number {
    if (this.broken || !this.more_used()) return -1;
    const dv = this.dv;
    const e = this.layout.used + VRING_USED_RING + (this.lastUsedIdx & this.mask) * VRING_USED_ELEM_SIZE;
    const id = dv.getUint32(e, true);
    const len = dv.getUint32(e + 4, true);
    if (id >= this.num || this.data[id]! < 0) {
      this.broken = true; // BAD_RING(vq, "id %u is not a head!\n")
      return -1;
    }
    const token = this.data[id]!;
    this.detach_buf(id);
    this.lastUsedIdx = (this.lastUsedIdx + 1) & 0xffff;
    if ((this.availFlagsShadow & VRING_AVAIL_F_NO_INTERRUPT) === 0) {
      dv.setUint16(this.usedEventAddr, this.lastUsedIdx, true);
      this.driverEvtDirty = true;
    }
    this.lastLen = len;
    return token;
  }

  /** detach_buf_split(): put the chain back on the free list. */
  private detach_buf(head: number): void {
    const dv = this.dv;
    this.data[head] = -1;
    let i = head;
    let n = 1;
    while ((dv.getUint16(this.descAddr(i) + VRING_DESC_FLAGS, true) & VRING_DESC_F_NEXT) !== 0 && n <= this.num) {
      i = dv.getUint16(this.descAddr(i) + VRING_DESC_NEXT, true);
      n++;
    }
    dv.setUint16(this.descAddr(i) + VRING_DESC_NEXT, this.freeHead, true);
    this.freeHead = head;
    this.numFree += n;
  }

  /** virtqueue_disable_cb_split(): with event idx Linux parks used_event at 0 ("a hack"); else the flag. */
  disable_cb(): void {
    if ((this.availFlagsShadow & VRING_AVAIL_F_NO_INTERRUPT) !== 0) return;
    this.availFlagsShadow |= VRING_AVAIL_F_NO_INTERRUPT;
    this.driverEvtDirty = true;
    if (this.event) {
      // used_event already lies behind the device's used idx: the device stays
      // quiet without being told at once; the 0 travels with the next batch.
      this.dv.setUint16(this.usedEventAddr, 0, true);
    } else {
      // The flag is the only thing that silences the device: tell it now.
      this.dv.setUint16(this.layout.avail + VRING_AVAIL_FLAGS, this.availFlagsShadow, true);
      this.syncDriverEvt();
      this.out.flush();
    }
  }

  /** virtqueue_enable_cb_prepare_split(): returns the used idx to poll() against. */
  enable_cb_prepare(): number {
    if ((this.availFlagsShadow & VRING_AVAIL_F_NO_INTERRUPT) !== 0) {
      this.availFlagsShadow &= ~VRING_AVAIL_F_NO_INTERRUPT;
      if (!this.event) this.dv.setUint16(this.layout.avail + VRING_AVAIL_FLAGS, this.availFlagsShadow, true);
    }
    this.dv.setUint16(this.usedEventAddr, this.lastUsedIdx, true);
    this.driverEvtDirty = true;
    return this.lastUsedIdx;
  }

  /** virtqueue_poll(): more used entries than `last`? */
  poll(last: number): boolean {
    return last !== this.dv.getUint16(this.layout.used + VRING_USED_IDX, true);
  }

  /**
   * virtqueue_enable_cb(): re-arm the callback, ship the new used_event and
   * return true when nothing is pending (false: the caller must poll again).
   */
  enable_cb(): boolean {
    const last = this.enable_cb_prepare();
    this.syncDriverEvt();
    this.out.flush();
    return !this.poll(last);
  }

  // ---- records from the device ----

  /** Apply one device record to guest memory. Returns false when the queue went broken. */
  onRecord(type: number, arg: number, b: Uint8Array, body: number, bodyLen: number): boolean {
    const dv = this.dv;
    switch (type & 0xff) {
      case VQF_REC_USED: {
        if (bodyLen < VQF_USED_BODY_SIZE) return this.bad();
        const id = rd32(b, body);
        const len = rd32(b, body + 4);
        const paylen = rd32(b, body + 8);
        if (paylen > bodyLen - VQF_USED_BODY_SIZE || id >= this.num || this.data[id]! < 0) return this.bad();
        const e = this.layout.used + VRING_USED_RING + (arg & this.mask) * VRING_USED_ELEM_SIZE;
        dv.setUint32(e, id, true);
        dv.setUint32(e + 4, len, true);
        if (paylen > 0 && !this.scatter(id, b, body + VQF_USED_BODY_SIZE, paylen)) return this.bad();
        return true;
      }
      case VQF_REC_USED_IDX:
        dv.setUint16(this.layout.used + VRING_USED_IDX, arg & 0xffff, true);
        return true;
      case VQF_REC_DEVICE_EVT: {
        const ev = arg & 0xffff;
        const flags = arg >>> 16;
        dv.setUint16(this.availEventAddr, ev, true);
        dv.setUint16(this.layout.used + VRING_USED_FLAGS, flags, true);
        // The barrier-pairing re-check (see the header): entries published
        // after our last kick that the device now asks to hear about.
        const want = this.event
          ? vring_need_event(ev, this.publishedIdx, this.kickedIdx)
          : (flags & VRING_USED_F_NO_NOTIFY) === 0 && this.kickedIdx !== this.publishedIdx;
        if (want) {
          this.recheckKicks++;
          this.notify();
          this.out.flush();
        }
        return true;
      }
      case VQF_REC_INTERRUPT:
        // vring_interrupt(): IRQ_NONE when nothing is used.
        if (!this.more_used()) {
          this.spuriousInterrupts++;
          return true;
        }
        this.interrupts++;
        if (this.callback !== null) this.callback(this);
        return true;
      default:
        return true;
    }
  }

  /** Copy 2 of 2: packet bytes from the frame into the chain's writable buffers. */
  private scatter(head: number, b: Uint8Array, off: number, n: number): boolean {
    const dv = this.dv;
    const mem = this.mem;
    let i = head;
    let left = n;
    for (let k = 0; k < this.num && left > 0; k++) {
      const a = this.descAddr(i);
      const flags = dv.getUint16(a + VRING_DESC_FLAGS, true);
      if ((flags & VRING_DESC_F_WRITE) !== 0) {
        const addr = dv.getUint32(a + VRING_DESC_ADDR, true);
        const dlen = dv.getUint32(a + VRING_DESC_LEN, true);
        const c = left < dlen ? left : dlen;
        for (let j = 0; j < c; j++) mem[addr + j] = b[off + j]!;
        off += c;
        left -= c;
      }
      if ((flags & VRING_DESC_F_NEXT) === 0) break;
      i = dv.getUint16(a + VRING_DESC_NEXT, true);
    }
    if (left > 0) return false;
    this.copies++;
    this.copiedBytes += n;
    return true;
  }

  private bad(): boolean {
    this.broken = true;
    return false;
  }
}

/**
 * The driver's end of one device's data channel: routes device records to its
 * queues and records the device's NEEDS_RESET (the config interrupt after
 * virtio_error()). `reset()` writes status 0 (a RESET record) and reinitialises the queues.
 */
export class VirtioDriverDevice implements FrameHandler {
  readonly vqs: VringDriver[];
  readonly out: FrameWriter;
  needsReset: boolean;
  reason: string;
  /** Frames from the device that did not parse. */
  badFrames: number;
  /** Called once when the device reports NEEDS_RESET (cold). */
  onNeedsReset: ((reason: string) => void) | null;

  constructor(out: FrameWriter, vqs: VringDriver[]) {
    this.out = out;
    this.vqs = vqs;
    this.needsReset = false;
    this.reason = "";
    this.badFrames = 0;
    this.onNeedsReset = null;
  }

  /** Apply one frame received from the device. */
  receive(b: Uint8Array, off: number, len: number): void {
    if (readFrame(b, off, len, this) < 0) this.badFrames++;
  }

  onRecord(type: number, queue: number, arg: number, b: Uint8Array, body: number, bodyLen: number): boolean {
    if (type === VQF_REC_NEEDS_RESET) {
      this.needsReset = true;
      this.reason = new TextDecoder().decode(b.subarray(body, body + Math.min(arg, bodyLen)));
      if (this.onNeedsReset !== null) this.onNeedsReset(this.reason);
      return true;
    }
    const vq = this.vqs[queue];
    if (vq === undefined) return true;
    vq.onRecord(type, arg, b, body, bodyLen);
    return true;
  }

  /** Device reset (status 0): the device clears NEEDS_RESET, both sides start from empty rings. */
  reset(): void {
    for (const vq of this.vqs) vq.reset();
    this.needsReset = false;
    this.reason = "";
    this.out.simple(VQF_REC_RESET, 0, 0);
    this.out.flush();
  }
}
