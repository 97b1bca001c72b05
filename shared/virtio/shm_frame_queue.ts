// A queue of data-channel frames (vring_frame.ts) in shared memory, between two
// threads of one process: the vhost worker and whoever moves its frames (the host's
// main thread relaying to and from the guest's socket, or a guest thread in the
// same process). It is the FrameSink of the producing side's FrameWriter, so a
// frame is written once, in place, by the thread that builds it: no copy between
// threads (the copy a socket makes is the transport's, as a vhost-user backend's
// ring lives in memory QEMU and the guest share).
//
// Layout at `addr` (4-byte words): head (frames the consumer released), tail
// (frames the producer published), slots, capacity, doorbell (bumped and
// notified on every publish and every release the other side waits for), then
// `slots` frame lengths, then the slots' bytes (`capacity` each).
// One producer and one consumer; the producer publishes a frame with one
// Atomics.store of tail (the release), the consumer reads it with one
// Atomics.load (the acquire), as ptr_ring.ts does.
import { FrameBuf } from "./vring_frame.ts";

const Q_HEAD = 0, Q_TAIL = 1, Q_SLOTS = 2, Q_CAP = 3, Q_BELL = 4, Q_PROD_WAITS = 5, Q_CONS_WAITS = 6, Q_USER = 7;
const Q_HDR_WORDS = 8;

export interface ShmMem {
  readonly buffer: ArrayBufferLike;
}

export class ShmFrameQueue {
  readonly addr: number;
  readonly slots: number;
  readonly capacity: number;
  readonly #i32: Int32Array;
  readonly #w: number;
  readonly #lens: number;
  readonly #bufs: FrameBuf[];
  /** Frames published / consumed by this handle (this side's counters). */
  published: number;
  consumed: number;
  /** acquire() refused: all slots in flight. */
  full: number;
  /** Called after a frame was published (the producer's notification of the consumer). */
  onPublish: (() => void) | null;

  private constructor(buffer: ArrayBufferLike, addr: number) {
    this.#i32 = new Int32Array(buffer);
    this.#w = addr >> 2;
    this.addr = addr;
    this.slots = this.#i32[this.#w + Q_SLOTS]!;
    this.capacity = this.#i32[this.#w + Q_CAP]!;
    this.#lens = this.#w + Q_HDR_WORDS;
    const data = addr + (Q_HDR_WORDS + this.slots) * 4;
    this.#bufs = [];
    for (let i = 0; i < this.slots; i++) {
      this.#bufs.push(new FrameBuf(this.capacity, new Uint8Array(buffer, data + i * this.capacity, this.capacity)));
    }
    this.published = 0;
    this.consumed = 0;
    this.full = 0;
    this.onPublish = null;
  }

  /** Bytes a queue of `slots` frames of `capacity` bytes takes (capacity a multiple of 4). */
  static bytes(slots: number, capacity: number): number {
    return (Q_HDR_WORDS + slots) * 4 + slots * capacity;
  }

  /** Lays out an empty queue at `addr` (setup time, before any other thread uses it). */
  static init(buffer: ArrayBufferLike, addr: number, slots: number, capacity: number): ShmFrameQueue {
    if ((addr & 3) !== 0 || (capacity & 3) !== 0 || slots < 1) throw new RangeError("ShmFrameQueue: bad geometry");
    const i32 = new Int32Array(buffer), w = addr >> 2;
    i32.fill(0, w, w + Q_HDR_WORDS + slots);
    i32[w + Q_SLOTS] = slots;
    i32[w + Q_CAP] = capacity;
    return new ShmFrameQueue(buffer, addr);
  }

  /** This thread's handle on the queue at `addr`. */
  static at(buffer: ArrayBufferLike, addr: number): ShmFrameQueue {
    return new ShmFrameQueue(buffer, addr);
  }

  // ---- producer side (FrameSink) ----

  /**
   * The next free slot's buffer, or null when every slot is in flight. A refusal marks the
   * producer as waiting, so that the consumer's next release() reports it (and the producer is
   * resumed): whatever the producer could not write, a record or a frame, it writes then.
   */
  acquire(): FrameBuf | null {
    const i32 = this.#i32, w = this.#w;
    const tail = i32[w + Q_TAIL]!;
    if (((tail - Atomics.load(i32, w + Q_HEAD)) | 0) >= this.slots) {
      Atomics.store(i32, w + Q_PROD_WAITS, 1);
      // A release between the test and the mark did not see the mark: look again.
      if (((tail - Atomics.load(i32, w + Q_HEAD)) | 0) >= this.slots) {
        this.full++;
        return null;
      }
    }
    const fb = this.#bufs[(tail >>> 0) % this.slots]!;
    fb.len = 0;
    return fb;
  }

  /** Publishes the frame acquire() returned (an empty one is dropped: the slot stays free). */
  submit(fb: FrameBuf): void {
    if (fb.len === 0) return;
    const i32 = this.#i32, w = this.#w;
    const tail = i32[w + Q_TAIL]!;
    i32[this.#lens + (tail >>> 0) % this.slots] = fb.len;
    Atomics.store(i32, w + Q_TAIL, (tail + 1) | 0);
    this.published++;
    this.ring();
    if (this.onPublish !== null) this.onPublish();
  }

  // ---- consumer side ----

  /** Frames published and not yet released. */
  pending(): number {
    const i32 = this.#i32, w = this.#w;
    return (Atomics.load(i32, w + Q_TAIL) - i32[w + Q_HEAD]!) | 0;
  }

  /** The oldest unreleased frame's buffer (its bytes are `u8[0, len)`), or null when none. */
  peek(): FrameBuf | null {
    const i32 = this.#i32, w = this.#w;
    const head = i32[w + Q_HEAD]!;
    if (head === Atomics.load(i32, w + Q_TAIL)) return null;
    const slot = (head >>> 0) % this.slots;
    const fb = this.#bufs[slot]!;
    fb.len = i32[this.#lens + slot]!;
    return fb;
  }

  /**
   * The frame `k` places after the oldest unreleased one (k < pending()): a consumer
   * that releases later (a socket write completing) walks ahead with it.
   */
  peekAt(k: number): FrameBuf {
    const head = this.#i32[this.#w + Q_HEAD]!;
    const slot = ((head + k) >>> 0) % this.slots;
    const fb = this.#bufs[slot]!;
    fb.len = this.#i32[this.#lens + slot]!;
    return fb;
  }

  /**
   * Releases the oldest frame. Returns true when the producer had found the queue full and
   * waits for this (the caller then resumes it: vhost's requeue, the other side's doorbell).
   */
  release(): boolean {
    const i32 = this.#i32, w = this.#w;
    Atomics.store(i32, w + Q_HEAD, (i32[w + Q_HEAD]! + 1) | 0);
    this.consumed++;
    return Atomics.load(i32, w + Q_PROD_WAITS) !== 0 && Atomics.exchange(i32, w + Q_PROD_WAITS, 0) !== 0;
  }

  /** A word the two sides agree on out of band (vhost: the guest memory size announced at connect). */
  get userWord(): number {
    return Atomics.load(this.#i32, this.#w + Q_USER) >>> 0;
  }
  set userWord(v: number) {
    Atomics.store(this.#i32, this.#w + Q_USER, v | 0);
  }

  // ---- doorbell ----

  /** Index of the doorbell word in `words` (Atomics.wait / waitAsync on it). */
  get bellIdx(): number {
    return this.#w + Q_BELL;
  }
  get words(): Int32Array {
    return this.#i32;
  }

  /** Bumps the doorbell and wakes a thread waiting on it (only when one said it waits). */
  ring(): void {
    const i32 = this.#i32, w = this.#w;
    Atomics.add(i32, w + Q_BELL, 1);
    if (Atomics.load(i32, w + Q_CONS_WAITS) !== 0) Atomics.notify(i32, w + Q_BELL);
  }

  /** The doorbell's value now: wait on it only if still equal (the futex protocol). */
  bell(): number {
    return Atomics.load(this.#i32, this.#w + Q_BELL);
  }

  /** Declares that a thread waits on the doorbell (ring() then notifies). */
  setWaiting(on: boolean): void {
    Atomics.store(this.#i32, this.#w + Q_CONS_WAITS, on ? 1 : 0);
  }
}
