// Device side of split virtqueues, in the host process (the vhost role). Mirrors
// QEMU hw/virtio/virtio.c (virtqueue_split_pop, virtqueue_num_heads,
// virtqueue_get_head, virtqueue_split_read_next_desc, virtqueue_map_desc,
// virtqueue_fill/flush, virtio_split_should_notify, virtio_error) and
// drivers/vhost/vhost.c (vhost_get_vq_desc, vhost_enable_notify,
// vhost_disable_notify, vhost_add_used_and_signal_n); virtio 1.2 §2.7.
//
// The device cannot read guest memory. It reads the ring through a SHADOW: a
// descriptor table, an avail ring and the driver's idx/event fields, filled
// from the driver's data-channel records (shared/virtio/vring_frame.ts). Every
// check QEMU makes on the real ring is made on the shadow, because the records
// are exactly what a malicious guest controls. A violation calls virtioError():
// the device records the reason, sets VIRTIO_CONFIG_S_NEEDS_RESET, tells the
// driver (NEEDS_RESET record) and processes nothing more until a reset. It never
// throws on guest input.
//
// Pluggable into vhost's handle_rx: per packet `pop()` then
// `devicePutUsed(head, bytes, off, len)`; once per batch `flush()` (used idx
// and at most one interrupt, decided by event idx). When pop() finds nothing,
// `enableNotification()` and wait for onKick; it returns true when entries
// arrived meanwhile (vhost_enable_notify's re-check), then disable and go on.
// handle_tx: `pop()`, read the packet at `outData[elem.dataOff[k], + elem.len[k])`
// (the bytes the driver shipped with the descriptor), `putUsed(head, null, 0, 0)`,
// `flush()` once per batch.
import {
  VIRTIO_CONFIG_S_NEEDS_RESET,
  VRING_AVAIL_F_NO_INTERRUPT,
  VRING_DESC_F_INDIRECT,
  VRING_DESC_F_NEXT,
  VRING_DESC_F_WRITE,
  VRING_USED_F_NO_NOTIFY,
  isPowerOfTwo,
  vring_need_event,
} from "./virtio_ring.ts";
import {
  copyBytes,
  FrameWriter,
  readFrame,
  VQF_AVAIL_F_DATA,
  rd16,
  rd32,
  VQF_DESC_ENTRY_SIZE,
  VQF_REC_AVAIL,
  VQF_REC_AVAIL_IDX,
  VQF_REC_DEVICE_EVT,
  VQF_REC_DRIVER_EVT,
  VQF_REC_INTERRUPT,
  VQF_REC_KICK,
  VQF_REC_RESET,
  VQF_REC_USED_IDX,
  type FrameHandler,
} from "./vring_frame.ts";
import { EAGAIN, EINVAL, EIO, EMSGSIZE, ENOBUFS } from "../errno.ts";

/** What a queue's chains must hold (virtio-net: rx needs writable, tx readable buffers). */
export const VQ_DIR_RX = 0;
export const VQ_DIR_TX = 1;

/** A popped chain (VirtQueueElement): preallocated, reused by every pop of its queue. */
export class VirtQueueElement {
  head: number;
  inNum: number;
  outNum: number;
  /** Bytes of the writable part (what the device may write). */
  inBytes: number;
  outBytes: number;
  /** Buffers in chain order: readable ones first. */
  readonly addr: Float64Array;
  readonly len: Uint32Array;
  /**
   * Per readable buffer: offset of its bytes in the queue's `outData` (they came
   * with the descriptor), or -1 when the driver did not ship them.
   */
  readonly dataOff: Int32Array;
  constructor(num: number) {
    this.head = -1;
    this.inNum = 0;
    this.outNum = 0;
    this.inBytes = 0;
    this.outBytes = 0;
    this.addr = new Float64Array(num);
    this.len = new Uint32Array(num);
    this.dataOff = new Int32Array(num);
  }
}

/** One virtqueue of the device, as seen through its shadow. */
export class DeviceVirtqueue {
  readonly dev: VirtioDeviceSide;
  readonly index: number;
  readonly num: number;
  readonly dir: number;
  private readonly mask: number;
  // Shadow of the guest's ring (what the driver's records said).
  readonly descAddr: Float64Array;
  readonly descLen: Uint32Array;
  readonly descFlags: Uint16Array;
  readonly descNext: Uint16Array;
  readonly availRing: Uint16Array;
  /**
   * Bytes of readable buffers shipped with their descriptors (transmit
   * queues): `maxOutLen` bytes per descriptor index; `descDataLen` -1 when none.
   */
  readonly maxOutLen: number;
  readonly outData: Uint8Array;
  readonly descDataLen: Int32Array;
  // Set by reset() (the constructor calls it), as are the shadow arrays' contents.
  shadowAvailIdx!: number;
  availFlags!: number;
  usedEvent!: number;
  // Device state (VirtQueue).
  lastAvailIdx!: number;
  usedIdx!: number;
  /** Used entries filled, not yet flushed. */
  pendingUsed!: number;
  signalledUsed!: number;
  signalledUsedValid!: boolean;
  /** Used idx at the last interrupt sent (for the DRIVER_EVT re-check). */
  irqIdx!: number;
  /** An interrupt the channel refused, owed at the next flush. */
  irqPending!: boolean;
  /** An avail_event (DEVICE_EVT) the channel refused, owed at the next flush; -1 when none. */
  evtPending!: number;
  inuse!: number;
  notification!: boolean;
  usedFlags!: number;
  /** Per head: writable capacity while in flight, -1 when not popped. */
  private readonly inflightCap: Int32Array;
  readonly elem: VirtQueueElement;
  /** handle_output: called on each KICK (vhost_poll_queue of the kick). */
  onKick: ((vq: DeviceVirtqueue) => void) | null;
  // Counters.
  pops: number;
  kicksReceived: number;
  interrupts: number;
  interruptsSuppressed: number;
  recheckInterrupts: number;
  /** Packets whose bytes were copied: into a USED record (copy 1 of 2 on RX), from an AVAIL record into `outData` (copy 2 of 2 on TX). */
  copies: number;
  copiedBytes: number;
  /** Packets larger than the popped chain (dropped, chain returned with len 0). */
  tooBig: number;

  constructor(dev: VirtioDeviceSide, index: number, num: number, dir: number, maxOutLen = 0) {
    this.dev = dev;
    this.index = index;
    this.num = num;
    this.dir = dir;
    this.mask = num - 1;
    this.descAddr = new Float64Array(num);
    this.descLen = new Uint32Array(num);
    this.descFlags = new Uint16Array(num);
    this.descNext = new Uint16Array(num);
    this.availRing = new Uint16Array(num);
    this.maxOutLen = maxOutLen;
    this.outData = new Uint8Array(num * maxOutLen);
    this.descDataLen = new Int32Array(num);
    this.inflightCap = new Int32Array(num);
    this.elem = new VirtQueueElement(num);
    this.onKick = null;
    this.pops = 0;
    this.kicksReceived = 0;
    this.interrupts = 0;
    this.interruptsSuppressed = 0;
    this.recheckInterrupts = 0;
    this.copies = 0;
    this.copiedBytes = 0;
    this.tooBig = 0;
    this.reset();
  }

  /** The shadow and device state as after a device reset (virtio_queue_reset); counters are kept. */
  reset(): void {
    this.descAddr.fill(0);
    this.descLen.fill(0);
    this.descFlags.fill(0);
    this.descNext.fill(0);
    this.availRing.fill(0);
    this.descDataLen.fill(-1);
    this.shadowAvailIdx = 0;
    this.availFlags = 0;
    this.usedEvent = 0;
    this.lastAvailIdx = 0;
    this.usedIdx = 0;
    this.pendingUsed = 0;
    this.signalledUsed = 0;
    this.signalledUsedValid = false;
    this.irqIdx = 0;
    this.irqPending = false;
    this.evtPending = -1;
    this.inuse = 0;
    this.notification = true;
    this.usedFlags = 0;
    this.inflightCap.fill(-1);
  }

  /** Entries the driver published and we have not popped (0 when broken). */
  avail(): number {
    return this.dev.broken ? 0 : (this.shadowAvailIdx - this.lastAvailIdx) & 0xffff;
  }

  /**
   * virtqueue_pop() / vhost_get_vq_desc(): the next chain into `this.elem`.
   * Returns its head, or -1 when the ring is empty or the device is (now) broken.
   */
  pop(): number {
    const dev = this.dev;
    if (dev.broken) return -1;
    // virtqueue_num_heads(): the guest may not move avail idx more than a ring ahead.
    const numHeads = (this.shadowAvailIdx - this.lastAvailIdx) & 0xffff;
    if (numHeads > this.num) return dev.error2("Guest moved used index from %u to %u", this.lastAvailIdx, this.shadowAvailIdx);
    if (numHeads === 0) return -1;
    if (this.inuse >= this.num) return dev.error0("Virtqueue size exceeded");
    // virtqueue_get_head().
    const head = this.availRing[this.lastAvailIdx & this.mask]!;
    if (head >= this.num) return dev.error1("Guest says index %u is available", head);
    const el = this.elem;
    el.inNum = 0;
    el.outNum = 0;
    el.inBytes = 0;
    el.outBytes = 0;
    const memSize = dev.memSize;
    let i = head;
    let numBufs = 0;
    for (;;) {
      // More descriptors than the ring holds can only be a loop.
      if (++numBufs > this.num) return dev.error0("Looped descriptor");
      const flags = this.descFlags[i]!;
      if ((flags & VRING_DESC_F_INDIRECT) !== 0) return dev.error0("Indirect descriptors not negotiated");
      const len = this.descLen[i]!;
      const addr = this.descAddr[i]!;
      // virtqueue_map_desc(): no zero-sized buffer, and it must lie in guest memory.
      if (len === 0) return dev.error0("virtio: zero sized buffers are not allowed");
      if (addr + len > memSize) return dev.error0("virtio: bogus descriptor or out of resources");
      const n = el.inNum + el.outNum;
      if ((flags & VRING_DESC_F_WRITE) !== 0) {
        el.addr[n] = addr;
        el.len[n] = len;
        el.inNum++;
        el.inBytes += len;
      } else {
        if (el.inNum > 0) return dev.error0("Incorrect order for descriptors");
        el.addr[n] = addr;
        el.len[n] = len;
        el.dataOff[n] = this.descDataLen[i]! === len ? i * this.maxOutLen : -1;
        el.outNum++;
        el.outBytes += len;
      }
      if ((flags & VRING_DESC_F_NEXT) === 0) break;
      // virtqueue_split_read_next_desc().
      const next = this.descNext[i]!;
      if (next >= this.num) return dev.error1("Desc next is %u", next);
      i = next;
    }
    // The device's requirement on the direction (hw/net/virtio-net.c).
    if (this.dir === VQ_DIR_RX && el.inNum < 1) return dev.error0("virtio-net receive queue contains no in buffers");
    if (this.dir === VQ_DIR_TX && el.outNum < 1) return dev.error0("virtio-net header not in first element");
    this.lastAvailIdx = (this.lastAvailIdx + 1) & 0xffff;
    this.inuse++;
    this.pops++;
    this.inflightCap[head] = el.inBytes;
    el.head = head;
    return head;
  }

  /** virtqueue_unpop(): give back the chain pop() just returned (the caller could not use it). */
  unpop(head: number): void {
    if (head < 0 || this.inflightCap[head]! < 0) return;
    this.inflightCap[head] = -1;
    this.lastAvailIdx = (this.lastAvailIdx - 1) & 0xffff;
    this.inuse--;
    this.pops--;
  }

  /**
   * virtqueue_fill() of an RX chain with `len` packet bytes from `src[off..]`:
   * writes a USED record carrying them (copy 1 of 2). Returns `len`,
   * -EMSGSIZE when the chain is too small (chain returned with len 0, packet
   * to be dropped by the caller), -EAGAIN when the channel is above its bound
   * (nothing done: retry after drain), -EIO when broken, -EINVAL for a head not popped.
   */
  putUsed(head: number, src: Uint8Array | null, off: number, len: number): number {
    if (this.dev.broken) return -EIO;
    if (head < 0 || head >= this.num) return -EINVAL;
    const cap = this.inflightCap[head]!;
    if (cap < 0) return -EINVAL;
    const fits = len <= cap;
    const paylen = fits && src !== null ? len : 0;
    if (!this.dev.out.used(this.index, this.usedIdx + this.pendingUsed, head, fits ? len : 0, src, off, paylen)) return -EAGAIN;
    this.inflightCap[head] = -1;
    this.pendingUsed++;
    this.inuse--;
    if (!fits) {
      this.tooBig++;
      return -EMSGSIZE;
    }
    if (paylen > 0) {
      this.copies++;
      this.copiedBytes += paylen;
    }
    return len;
  }

  /**
   * virtqueue_flush() + virtio_notify(): publish the filled entries with one
   * USED_IDX and raise at most one interrupt, suppressed by event idx
   * (virtio_split_should_notify) or VRING_AVAIL_F_NO_INTERRUPT. Returns 1 when
   * an interrupt was sent, 0 when not, -EAGAIN under backpressure.
   */
  flushUsed(): number {
    if (this.dev.broken) return 0;
    // Records the channel refused earlier (its queue was full) go first: a lost interrupt or
    // avail_event would leave the driver waiting for a notification that never comes.
    if (this.evtPending >= 0) this.sendDeviceEvt(this.evtPending);
    if (this.irqPending && this.pendingUsed === 0) return this.interrupt() ? 1 : -EAGAIN;
    if (this.pendingUsed === 0) return 0;
    const newIdx = (this.usedIdx + this.pendingUsed) & 0xffff;
    if (!this.dev.out.simple(VQF_REC_USED_IDX, this.index, newIdx)) return -EAGAIN;
    this.usedIdx = newIdx;
    this.pendingUsed = 0;
    let notify: boolean;
    if (this.dev.eventIdx) {
      const old = this.signalledUsed;
      const v = this.signalledUsedValid;
      this.signalledUsed = newIdx;
      this.signalledUsedValid = true;
      notify = !v || vring_need_event(this.usedEvent, newIdx, old);
    } else {
      notify = (this.availFlags & VRING_AVAIL_F_NO_INTERRUPT) === 0;
    }
    if (notify || this.irqPending) return this.interrupt() ? 1 : -EAGAIN;
    this.interruptsSuppressed++;
    return 0;
  }

  /** The interrupt record; when the channel refuses it, it stays owed (irqPending) until the next flush. */
  private interrupt(): boolean {
    if (!this.dev.out.simple(VQF_REC_INTERRUPT, this.index, this.usedIdx)) {
      this.irqPending = true;
      return false;
    }
    this.irqPending = false;
    this.irqIdx = this.usedIdx;
    this.interrupts++;
    return true;
  }

  /**
   * vhost_enable_notify(): ask for kicks again (avail_event = what we have
   * seen, or clear VRING_USED_F_NO_NOTIFY), sent at once. Returns true when
   * entries are already waiting (the caller disables and goes on popping).
   */
  enableNotification(): boolean {
    if (this.dev.broken) return false;
    this.notification = true;
    this.usedFlags &= ~VRING_USED_F_NO_NOTIFY;
    this.sendDeviceEvt(this.dev.eventIdx ? this.shadowAvailIdx : this.lastAvailIdx);
    this.dev.out.flush();
    return this.avail() !== 0;
  }

  /** vhost_disable_notify(): with event idx nothing is written (avail_event stays behind); else the flag. */
  disableNotification(): void {
    this.notification = false;
    if (!this.dev.eventIdx) {
      this.usedFlags |= VRING_USED_F_NO_NOTIFY;
      this.sendDeviceEvt(this.lastAvailIdx);
    }
  }

  /** DEVICE_EVT; when the channel refuses it, the latest value stays owed (evtPending) until the next flush. */
  private sendDeviceEvt(availEvent: number): void {
    this.evtPending = this.dev.out.simple(VQF_REC_DEVICE_EVT, this.index, (availEvent & 0xffff) | (this.usedFlags << 16))
      ? -1 : availEvent & 0xffff;
  }

  /** Apply one driver record to the shadow. Returns false when the device went broken. */
  onRecord(type: number, arg: number, b: Uint8Array, body: number, bodyLen: number): boolean {
    const dev = this.dev;
    switch (type & 0xff) {
      case VQF_REC_AVAIL: {
        const withData = ((type >>> 8) & VQF_AVAIL_F_DATA) !== 0;
        const end = body + bodyLen;
        let o = body;
        while (o < end) {
          if (end - o < VQF_DESC_ENTRY_SIZE) return dev.error0("virtio: malformed avail record") >= 0;
          const index = rd16(b, o);
          if (index >= this.num) return dev.error2("Desc index is %u > %u", index, this.num - 1) >= 0;
          const flags = rd16(b, o + 4);
          const len = rd32(b, o + 8);
          this.descNext[index] = rd16(b, o + 2);
          this.descFlags[index] = flags;
          this.descLen[index] = len;
          this.descAddr[index] = rd32(b, o + 12) + rd32(b, o + 16) * 4294967296;
          this.descDataLen[index] = -1;
          o += VQF_DESC_ENTRY_SIZE;
          if (withData && (flags & VRING_DESC_F_WRITE) === 0) {
            const padded = (len + 3) & ~3;
            if (len > end - o || padded > end - o) return dev.error0("virtio: malformed avail record") >= 0;
            if (this.maxOutLen > 0) {
              if (len > this.maxOutLen) return dev.error2("virtio: buffer of %u bytes exceeds the data channel's %u", len, this.maxOutLen) >= 0;
              // Copy 2 of 2 on TX: from the frame into the descriptor's staging slot.
              copyBytes(this.outData, index * this.maxOutLen, b, o, len);
              this.descDataLen[index] = len;
              this.copies++;
              this.copiedBytes += len;
            }
            o += padded;
          }
        }
        this.availRing[arg & this.mask] = arg >>> 16;
        return true;
      }
      case VQF_REC_AVAIL_IDX:
        this.shadowAvailIdx = arg & 0xffff;
        return true;
      case VQF_REC_KICK:
        this.kicksReceived++;
        if (this.onKick !== null) this.onKick(this);
        return !dev.broken;
      case VQF_REC_DRIVER_EVT: {
        this.usedEvent = arg & 0xffff;
        this.availFlags = arg >>> 16;
        // Counterpart of the driver's kick re-check: entries published since
        // our last interrupt that the driver now asks to hear about.
        const want = dev.eventIdx
          ? vring_need_event(this.usedEvent, this.usedIdx, this.irqIdx)
          : (this.availFlags & VRING_AVAIL_F_NO_INTERRUPT) === 0 && this.irqIdx !== this.usedIdx;
        if (want && this.interrupt()) {
          this.recheckInterrupts++;
          this.signalledUsed = this.usedIdx;
          this.signalledUsedValid = true;
          dev.out.flush();
        }
        return true;
      }
      default:
        return true;
    }
  }
}

export interface VirtioDeviceOpts {
  /** Guest memory size declared at setup (vhost-user SET_MEM_TABLE): buffers must lie in [0, memSize). */
  readonly memSize: number;
  readonly eventIdx: boolean;
  readonly out: FrameWriter;
  /**
   * Queues as [size, direction, maxOutLen] (virtio-net: rx0, tx0, rx1, tx1, ...);
   * maxOutLen > 0 keeps the bytes the driver ships with readable buffers (transmit queues).
   */
  readonly queues: readonly (readonly [number, number, number?])[];
  readonly name?: string;
}

/**
 * One virtio device's data path on the host: its queues, its broken state and
 * the frame handler for its channel.
 */
export class VirtioDeviceSide implements FrameHandler {
  readonly name: string;
  /** Guest memory bytes (addresses at or beyond are bogus); a reset may bring a new size. */
  memSize: number;
  /** Device resets seen (RESET records). */
  resets: number;
  readonly eventIdx: boolean;
  readonly out: FrameWriter;
  readonly vqs: DeviceVirtqueue[];
  status: number;
  broken: boolean;
  /** virtio_error()'s message, "" while healthy. */
  reason: string;
  /** Frames from the driver (bad ones included). */
  framesIn: number;
  /** Called once per virtio_error() (trace point; cold). */
  onError: ((dev: VirtioDeviceSide, reason: string) => void) | null;

  constructor(o: VirtioDeviceOpts) {
    this.name = o.name ?? "virtio-net";
    this.memSize = o.memSize;
    this.eventIdx = o.eventIdx;
    this.out = o.out;
    this.vqs = [];
    for (let i = 0; i < o.queues.length; i++) {
      const [num, dir, maxOutLen] = o.queues[i]!;
      if (!isPowerOfTwo(num)) throw new RangeError(`Invalid queue size: ${num}`);
      this.vqs.push(new DeviceVirtqueue(this, i, num, dir, maxOutLen ?? 0));
    }
    this.status = 0;
    this.broken = false;
    this.reason = "";
    this.framesIn = 0;
    this.resets = 0;
    this.onError = null;
  }

  /** Apply one frame from the driver. Never throws; a malformed frame breaks the device. */
  receive(b: Uint8Array, off: number, len: number): void {
    this.framesIn++;
    if (readFrame(b, off, len, this) < 0 && !this.broken) this.virtioError("virtio: malformed data-channel frame");
  }

  onRecord(type: number, queue: number, arg: number, b: Uint8Array, body: number, bodyLen: number): boolean {
    if ((type & 0xff) === VQF_REC_RESET) {
      this.reset();
      return true;
    }
    if (this.broken) return true; // read on (a RESET may follow), apply nothing
    const vq = this.vqs[queue];
    if (vq === undefined) return this.error1("Invalid queue index %u", queue) >= 0;
    return vq.onRecord(type, arg, b, body, bodyLen);
  }

  /** Flush every queue's used entries and send the batch: once per vhost batch / NAPI poll. */
  flush(): number {
    let r = 0;
    for (let i = 0; i < this.vqs.length; i++) {
      const x = this.vqs[i]!.flushUsed();
      if (x < 0) r = x;
    }
    this.out.flush();
    return r;
  }

  /** Device reset (driver wrote status 0): shadows cleared, NEEDS_RESET cleared. */
  reset(): void {
    for (const vq of this.vqs) vq.reset();
    this.resets++;
    this.status = 0;
    this.broken = false;
    this.reason = "";
  }

  /**
   * virtio_error(): record why, set NEEDS_RESET, tell the driver (config
   * interrupt), stop processing. Cold path; formats its message.
   */
  virtioError(reason: string): void {
    if (this.broken) return;
    this.broken = true;
    this.reason = reason;
    this.status |= VIRTIO_CONFIG_S_NEEDS_RESET;
    this.out.needsReset(0, reason);
    this.out.flush();
    if (this.onError !== null) this.onError(this, reason);
  }

  /** virtio_error() with a printf-style message; returns -1 so pop() can `return` it. */
  error0(fmt: string): number {
    this.virtioError(fmt);
    return -1;
  }
  error1(fmt: string, a: number): number {
    this.virtioError(fmt.replace("%u", String(a)));
    return -1;
  }
  error2(fmt: string, a: number, b: number): number {
    this.virtioError(fmt.replace("%u", String(a)).replace("%u", String(b)));
    return -1;
  }
}

/**
 * The hook vhost's handle_rx calls per packet: pop a chain of the RX queue and
 * fill it with the packet. Returns bytes written; -ENOBUFS when the ring is
 * empty (the caller enables notification and waits for a kick); -EAGAIN when
 * the channel is above its bound (chain given back: retry after drain);
 * -EMSGSIZE (packet dropped, chain returned empty) or -EIO (device broken).
 */
export function devicePutUsed(vq: DeviceVirtqueue, bytes: Uint8Array, off: number, len: number): number {
  const head = vq.pop();
  if (head < 0) return vq.dev.broken ? -EIO : -ENOBUFS;
  const r = vq.putUsed(head, bytes, off, len);
  if (r === -EAGAIN) vq.unpop(head);
  return r;
}
