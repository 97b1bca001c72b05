// Data-channel frames of split virtqueues across processes: the vhost-user idea
// (subprojects/libvhost-user, docs/interop/vhost-user.rst) without shared memory.
// Guest memory belongs to the guest process, so the device cannot read the ring:
// the driver ships what it writes into the ring (descriptor table entries and
// avail slots, avail idx, used_event/flags) and the device ships what it would
// write into guest memory (used elements with the packet bytes, used idx,
// avail_event/flags). Notifications travel as their own records (kick = the
// doorbell write, interrupt = the MSI-X vector) so suppression is visible.
//
// One binary frame carries many records; it is flushed once per batch (a NAPI
// poll on the guest side, a vhost batch on the device side). Everything is
// little endian and 4-byte aligned:
//
//   frame header (16 B): magic u32 'VQF1', total_len u32, nrec u16, flags u16, seq u32
//   record header (12 B): type u8, pad u8, queue u16, rec_len u32 (incl. header, 4-aligned), arg u32
//
//   AVAIL        g->d  arg = avail position (u16) | head << 16; body ndesc × 20 B
//                      {index u16, next u16, flags u16, pad u16, len u32, addr_lo u32, addr_hi u32}:
//                      the chain's table entries as the driver wrote them (resolved by the driver).
//                      With record flag VQF_AVAIL_F_DATA (transmit queues) each readable entry is
//                      followed by its buffer's `len` bytes, padded to 4: the device cannot read
//                      guest memory, so what it must read travels with the descriptor (copy 1 of 2 on TX)
//   AVAIL_IDX    g->d  arg = avail->idx
//   KICK         g->d  arg = avail->idx the kick was decided on (virtqueue_notify)
//   DRIVER_EVT   g->d  arg = used_event | avail->flags << 16
//   USED         d->g  arg = used position; body {id u32, len u32, paylen u32} + paylen bytes, padded
//   USED_IDX     d->g  arg = used->idx
//   INTERRUPT    d->g  arg = used->idx the interrupt was decided on (vring_interrupt)
//   DEVICE_EVT   d->g  arg = avail_event | used->flags << 16
//   NEEDS_RESET  d->g  arg = reason byte length; body = UTF-8 reason (config interrupt after virtio_error())
//   RESET        g->d  device reset (status 0), clears NEEDS_RESET
//
// Copies per packet on RX: the device writes the packet into a USED record (1);
// the guest copies it from the frame into its buffer (1). The writer and the
// reader allocate nothing per record: records go straight into a preallocated
// FrameBuf through its DataView; the reader decodes with byte arithmetic on
// whatever Uint8Array the transport hands it.

export const VQF_MAGIC = 0x31465156; // "VQF1" little endian
export const VQF_HDR_SIZE = 16;
export const VQF_REC_HDR_SIZE = 12;
export const VQF_DESC_ENTRY_SIZE = 20;
export const VQF_USED_BODY_SIZE = 12;

export const VQF_OFF_MAGIC = 0;
export const VQF_OFF_LEN = 4;
export const VQF_OFF_NREC = 8;
export const VQF_OFF_FLAGS = 10;
export const VQF_OFF_SEQ = 12;

export const VQF_REC_AVAIL = 1;
export const VQF_REC_AVAIL_IDX = 2;
export const VQF_REC_KICK = 3;
export const VQF_REC_DRIVER_EVT = 4;
export const VQF_REC_USED = 5;
export const VQF_REC_USED_IDX = 6;
export const VQF_REC_INTERRUPT = 7;
export const VQF_REC_DEVICE_EVT = 8;
export const VQF_REC_NEEDS_RESET = 9;
export const VQF_REC_RESET = 10;

/** Record flag of AVAIL: readable buffers' bytes follow their entries. */
export const VQF_AVAIL_F_DATA = 1;

/** Default frame capacity: 64 × (64-byte packet + 24 B record) fits many times over. */
export const VQF_DEFAULT_CAPACITY = 256 * 1024;

export function rd16(b: Uint8Array, o: number): number {
  return b[o]! | (b[o + 1]! << 8);
}
export function rd32(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
}

/**
 * Copy `n` bytes without creating a view (subarray() allocates). Short packets
 * dominate; a byte loop is as fast as set() below a few hundred bytes.
 */
export function copyBytes(dst: Uint8Array, dstOff: number, src: Uint8Array, srcOff: number, n: number): void {
  for (let i = 0; i < n; i++) dst[dstOff + i] = src[srcOff + i]!;
}

/** A preallocated frame buffer with its DataView; transports own a pool of them. */
export class FrameBuf {
  readonly u8: Uint8Array;
  readonly dv: DataView;
  len: number;
  constructor(capacity: number = VQF_DEFAULT_CAPACITY, u8?: Uint8Array) {
    this.u8 = u8 ?? new Uint8Array(capacity);
    this.dv = new DataView(this.u8.buffer, this.u8.byteOffset, this.u8.byteLength);
    this.len = 0;
  }
}

/** Where a writer gets its buffers and sends them (the channel, or a loopback in tests). */
export interface FrameSink {
  /** A free buffer, or null when the transport is above its bound (backpressure). */
  acquire(): FrameBuf | null;
  /** Send `fb.u8[0, fb.len)`; the buffer returns to the sink's pool when written. */
  submit(fb: FrameBuf): void;
}

/**
 * Builds frames record by record into buffers from a FrameSink. `reserve()`
 * before each record; it flushes a full buffer and acquires the next one, and
 * returns false under backpressure (nothing written, caller retries after drain).
 */
export class FrameWriter {
  readonly sink: FrameSink;
  private fb: FrameBuf | null;
  private nrec: number;
  private seq: number;
  /** Frames sent, records written, payload bytes copied into records. */
  frames: number;
  records: number;
  payloadBytes: number;

  constructor(sink: FrameSink) {
    this.sink = sink;
    this.fb = null;
    this.nrec = 0;
    this.seq = 0;
    this.frames = 0;
    this.records = 0;
    this.payloadBytes = 0;
  }

  /** Records pending in the current frame. */
  get pending(): number {
    return this.nrec;
  }

  /** Make room for a record of `bytes` (header included). Returns the buffer or null. */
  private reserve(bytes: number): FrameBuf | null {
    let fb = this.fb;
    if (fb !== null && fb.len + bytes > fb.u8.byteLength) {
      this.flush();
      fb = null;
    }
    if (fb === null) {
      fb = this.sink.acquire();
      if (fb === null) return null;
      if (bytes + VQF_HDR_SIZE > fb.u8.byteLength) return null;
      this.fb = fb;
      fb.len = VQF_HDR_SIZE;
      this.nrec = 0;
    }
    return fb;
  }

  private header(fb: FrameBuf, type: number, queue: number, recLen: number, arg: number, flags = 0): number {
    const o = fb.len;
    const dv = fb.dv;
    dv.setUint8(o, type);
    dv.setUint8(o + 1, flags);
    dv.setUint16(o + 2, queue, true);
    dv.setUint32(o + 4, recLen, true);
    dv.setUint32(o + 8, arg >>> 0, true);
    fb.len = o + recLen;
    this.nrec++;
    this.records++;
    return o + VQF_REC_HDR_SIZE;
  }

  /** A record with only its argument (AVAIL_IDX, KICK, DRIVER_EVT, USED_IDX, INTERRUPT, DEVICE_EVT, RESET). */
  simple(type: number, queue: number, arg: number): boolean {
    const fb = this.reserve(VQF_REC_HDR_SIZE);
    if (fb === null) return false;
    this.header(fb, type, queue, VQF_REC_HDR_SIZE, arg);
    return true;
  }

  /**
   * Start an AVAIL record of `ndesc` entries; fill them with availDesc(). Returns
   * the offset of the first entry, or -1 under backpressure.
   */
  beginAvail(queue: number, availPos: number, head: number, ndesc: number, dataBytes = -1): number {
    const len = VQF_REC_HDR_SIZE + ndesc * VQF_DESC_ENTRY_SIZE + (dataBytes > 0 ? dataBytes : 0);
    const fb = this.reserve(len);
    if (fb === null) return -1;
    const arg = (availPos & 0xffff) | ((head & 0xffff) << 16);
    return this.header(fb, VQF_REC_AVAIL, queue, len, arg, dataBytes >= 0 ? VQF_AVAIL_F_DATA : 0);
  }

  /**
   * The bytes of a readable buffer after its entry (VQF_AVAIL_F_DATA records):
   * the driver's one copy of a transmitted packet. Returns the next offset (4-aligned).
   */
  availData(off: number, src: Uint8Array, srcOff: number, len: number): number {
    copyBytes(this.fb!.u8, off, src, srcOff, len);
    this.payloadBytes += len;
    return off + ((len + 3) & ~3);
  }

  /** Write one descriptor entry of an AVAIL record at `off`; returns the next offset. */
  availDesc(off: number, index: number, next: number, flags: number, len: number, addrLo: number, addrHi: number): number {
    const dv = this.fb!.dv;
    dv.setUint16(off, index, true);
    dv.setUint16(off + 2, next, true);
    dv.setUint16(off + 4, flags, true);
    dv.setUint16(off + 6, 0, true);
    dv.setUint32(off + 8, len >>> 0, true);
    dv.setUint32(off + 12, addrLo >>> 0, true);
    dv.setUint32(off + 16, addrHi >>> 0, true);
    return off + VQF_DESC_ENTRY_SIZE;
  }

  /**
   * A USED record carrying `paylen` bytes of `src` from `srcOff`: the device's
   * one copy of the packet (into the frame). Returns false under backpressure.
   */
  used(queue: number, usedPos: number, id: number, len: number, src: Uint8Array | null, srcOff: number, paylen: number): boolean {
    const recLen = (VQF_REC_HDR_SIZE + VQF_USED_BODY_SIZE + paylen + 3) & ~3;
    const fb = this.reserve(recLen);
    if (fb === null) return false;
    const o = this.header(fb, VQF_REC_USED, queue, recLen, usedPos & 0xffff);
    const dv = fb.dv;
    dv.setUint32(o, id >>> 0, true);
    dv.setUint32(o + 4, len >>> 0, true);
    dv.setUint32(o + 8, paylen >>> 0, true);
    if (paylen > 0 && src !== null) {
      // Copy 1 of 2: packet bytes into the frame record.
      copyBytes(fb.u8, o + VQF_USED_BODY_SIZE, src, srcOff, paylen);
      this.payloadBytes += paylen;
    }
    return true;
  }

  /** NEEDS_RESET with its reason (cold path: virtio_error()). */
  needsReset(queue: number, reason: string): boolean {
    const bytes = new TextEncoder().encode(reason);
    const recLen = (VQF_REC_HDR_SIZE + bytes.length + 3) & ~3;
    const fb = this.reserve(recLen);
    if (fb === null) return false;
    const o = this.header(fb, VQF_REC_NEEDS_RESET, queue, recLen, bytes.length);
    fb.u8.set(bytes, o);
    return true;
  }

  /** Seal the current frame and hand it to the sink (once per batch). No-op when empty. */
  flush(): void {
    const fb = this.fb;
    if (fb === null) return;
    this.fb = null;
    if (this.nrec === 0) {
      // Acquired but unused: send nothing, but the sink still owns the buffer; give it back empty.
      fb.len = 0;
      this.sink.submit(fb);
      return;
    }
    const dv = fb.dv;
    dv.setUint32(VQF_OFF_MAGIC, VQF_MAGIC, true);
    dv.setUint32(VQF_OFF_LEN, fb.len, true);
    dv.setUint16(VQF_OFF_NREC, this.nrec, true);
    dv.setUint16(VQF_OFF_FLAGS, 0, true);
    dv.setUint32(VQF_OFF_SEQ, this.seq, true);
    this.seq = (this.seq + 1) >>> 0;
    this.nrec = 0;
    this.frames++;
    this.sink.submit(fb);
  }
}

/** Per-record callbacks of a frame reader (implemented by the driver or the device side). */
export interface FrameHandler {
  /**
   * One record: `type` is the record type with its flags byte in bits 8-15
   * (mask with 0xff for the type), `b[body, body + bodyLen)` its body. Returns false to stop
   * reading the frame (the handler marked itself broken).
   */
  onRecord(type: number, queue: number, arg: number, b: Uint8Array, body: number, bodyLen: number): boolean;
}

/**
 * Walk the records of one frame at `b[off, off + len)`. Returns 0, or -1 when
 * the frame is malformed (bad magic or length, record overrunning the frame),
 * which the caller treats as the peer's fault. Never throws on any input.
 */
export function readFrame(b: Uint8Array, off: number, len: number, h: FrameHandler): number {
  if (len < VQF_HDR_SIZE || off + len > b.length) return -1;
  if (rd32(b, off + VQF_OFF_MAGIC) !== VQF_MAGIC || rd32(b, off + VQF_OFF_LEN) !== len) return -1;
  const nrec = rd16(b, off + VQF_OFF_NREC);
  const end = off + len;
  let o = off + VQF_HDR_SIZE;
  for (let i = 0; i < nrec; i++) {
    if (o + VQF_REC_HDR_SIZE > end) return -1;
    const recLen = rd32(b, o + 4);
    if (recLen < VQF_REC_HDR_SIZE || (recLen & 3) !== 0 || o + recLen > end) return -1;
    if (!h.onRecord(b[o]! | (b[o + 1]! << 8), rd16(b, o + 2), rd32(b, o + 8), b, o + VQF_REC_HDR_SIZE, recLen - VQF_REC_HDR_SIZE)) return 0;
    o += recLen;
  }
  return o === end ? 0 : -1;
}

/**
 * A sink that delivers frames to a reader in the same process (tests and the
 * virtual clock's driver): a pool of buffers and a FIFO, delivered in order;
 * a frame submitted while a delivery is running (the peer answering from
 * inside a record) is queued and delivered by the outer loop, so nothing
 * recurses unboundedly and no buffer is rewritten while being read.
 */
export class LoopbackSink implements FrameSink {
  private readonly pool: FrameBuf[];
  private readonly free: FrameBuf[];
  private readonly fifo: (FrameBuf | null)[];
  private head: number;
  private count: number;
  private delivering: boolean;
  peer: FrameHandler | null;
  /** Malformed frames seen. */
  bad: number;
  frames: number;
  bytes: number;
  /** When false, acquire() returns null (tests of backpressure). */
  open: boolean;
  constructor(capacity: number = VQF_DEFAULT_CAPACITY, nbufs = 8) {
    this.pool = [];
    for (let i = 0; i < nbufs; i++) this.pool.push(new FrameBuf(capacity));
    this.free = this.pool.slice();
    this.fifo = new Array<FrameBuf | null>(nbufs).fill(null);
    this.head = 0;
    this.count = 0;
    this.delivering = false;
    this.peer = null;
    this.bad = 0;
    this.frames = 0;
    this.bytes = 0;
    this.open = true;
  }
  acquire(): FrameBuf | null {
    if (!this.open) return null;
    return this.free.pop() ?? null;
  }
  submit(fb: FrameBuf): void {
    if (fb.len === 0 || this.peer === null) {
      this.free.push(fb);
      return;
    }
    this.fifo[(this.head + this.count) % this.fifo.length] = fb;
    this.count++;
    if (this.delivering) return;
    this.delivering = true;
    while (this.count > 0) {
      const f = this.fifo[this.head]!;
      this.fifo[this.head] = null;
      this.head = (this.head + 1) % this.fifo.length;
      this.count--;
      this.frames++;
      this.bytes += f.len;
      if (readFrame(f.u8, 0, f.len, this.peer) < 0) this.bad++;
      this.free.push(f);
    }
    this.delivering = false;
  }
}
