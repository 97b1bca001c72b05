// The guest end of a vhost-net device as the host process sees it: what KVM's
// ioeventfd and irqfd and QEMU's vhost-user plumbing do between a guest and
// the vhost worker. The guest's frames arrive in the device's shared-memory
// queue (shm_frame_queue.ts); a frame that carries a KICK record for a queue is
// the guest's doorbell write, and queues that queue's handler on the vhost
// worker (vhost_poll_queue on the kick eventfd: always armed, unlike the
// socket poll, because suppression is the driver's business through event
// idx). A RESET queues both. Frames without a kick wait until vhost looks.
//
// Two carriers:
// - KickSink: the FrameSink of a guest that lives in this process (a guest
//   thread: tests, benches, the model's real-thread twin). Writes frames in
//   place into the queue; when the queue is full it lets vhost run and waits
//   on the other queue's doorbell, as a vCPU whose doorbell write stalls.
// - VhostUserRelay: a guest in another process, over a Unix socket
//   (vhost_user_channel.ts): frames from the socket are copied into the queue
//   (the socket's copy: a transport copy, not one of the datapath's), frames
//   vhost wrote are written to the socket from the queue in place and released
//   when the write completes. The relay runs on the host's main thread and
//   sleeps in Atomics.waitAsync on the outbound doorbell.
import net from "node:net";
import { FrameBuf, readFrame, VQF_REC_DRIVER_EVT, VQF_REC_KICK, VQF_REC_RESET, type FrameHandler, type FrameSink } from "../../shared/virtio/vring_frame.ts";
import { ShmFrameQueue } from "../../shared/virtio/shm_frame_queue.ts";
import { VhostUserChannel } from "../../shared/virtio/vhost_user_channel.ts";
import { VHOST_NET_VQ_EVT, VHOST_NET_VQ_RX, VHOST_NET_VQ_TX, type VhostDev } from "./vhost.ts";

/** Bits of frameKicks(): the queues a frame kicks, and a reset. */
export const KICK_RX = 1, KICK_TX = 2, KICK_RESET = 4, KICK_EVT = 8;

class KickScan implements FrameHandler {
  bits = 0;
  onRecord(type: number, queue: number): boolean {
    const t = type & 0xff;
    if (t === VQF_REC_KICK) this.bits |= queue === 0 ? KICK_RX : queue === 1 ? KICK_TX : 0;
    else if (t === VQF_REC_RESET) this.bits |= KICK_RESET | KICK_RX | KICK_TX;
    else if (t === VQF_REC_DRIVER_EVT) this.bits |= KICK_EVT;
    return true;
  }
}
const scan = new KickScan();

/** The doorbells in a driver frame (KICK_* bits); a malformed frame kicks both so vhost sees it and breaks the device. */
export function frameKicks(b: Uint8Array, off: number, len: number): number {
  scan.bits = 0;
  if (readFrame(b, off, len, scan) < 0) return KICK_RX | KICK_TX;
  return scan.bits;
}

/** Queues vhost's handlers for the doorbells in `bits`. */
export function kickVhost(dev: VhostDev, bits: number): void {
  if ((bits & KICK_RX) !== 0) dev.vhostWorkQueue(VHOST_NET_VQ_RX);
  if ((bits & KICK_TX) !== 0) dev.vhostWorkQueue(VHOST_NET_VQ_TX);
  else if ((bits & (KICK_EVT | KICK_RX)) === KICK_EVT) dev.vhostWorkQueue(VHOST_NET_VQ_EVT);
}

/** FrameSink of an in-process guest: frames go into `toDevice` in place; their kicks queue vhost's handlers. */
export class KickSink implements FrameSink {
  readonly q: ShmFrameQueue;
  readonly other: ShmFrameQueue;
  readonly dev: VhostDev;
  /** Frames that carried a doorbell, and times acquire() had to wait for vhost. */
  kicks: number;
  stalls: number;
  /** Set by the owner to give up waiting (the thread is stopping). */
  stopped: () => boolean;

  constructor(toDevice: ShmFrameQueue, toDriver: ShmFrameQueue, dev: VhostDev) {
    this.q = toDevice;
    this.other = toDriver;
    this.dev = dev;
    this.kicks = 0;
    this.stalls = 0;
    this.stopped = () => false;
  }

  acquire(): FrameBuf | null {
    for (;;) {
      const fb = this.q.acquire();
      if (fb !== null || this.stopped()) return fb;
      // Full: vhost has not applied our frames. Make it run (its handlers apply them first) and wait
      // for the release, which rings the doorbell of the queue towards us.
      this.stalls++;
      const bell = this.other.bell();
      this.other.setWaiting(true);
      kickVhost(this.dev, KICK_TX);
      if (this.q.pending() >= this.q.slots) Atomics.wait(this.other.words, this.other.bellIdx, bell, 100);
      this.other.setWaiting(false);
    }
  }

  submit(fb: FrameBuf): void {
    if (fb.len === 0) return;
    const bits = frameKicks(fb.u8, 0, fb.len);
    this.q.submit(fb);
    if (bits !== 0) {
      this.kicks++;
      kickVhost(this.dev, bits);
    }
  }
}

export interface RelayStats {
  framesIn: number;
  framesOut: number;
  bytesIn: number;
  bytesOut: number;
  kicks: number;
  /** Frames from the socket held back while the device's queue was full. */
  held: number;
  badFrames: number;
}

/**
 * One guest connection of a vhost-net device: relays frames between the guest's socket and the
 * device's two shared-memory queues on this (the host's main) thread.
 */
export class VhostUserRelay {
  readonly chan: VhostUserChannel;
  readonly toDevice: ShmFrameQueue;
  readonly toDriver: ShmFrameQueue;
  readonly dev: VhostDev;
  readonly stats: RelayStats;
  /** Frames of the socket not yet in the queue (the queue was full), copied. */
  readonly #held: Uint8Array[];
  /** toDriver frames handed to the socket and not yet written (released in order on completion). */
  #sending: number;
  #closed: boolean;
  readonly #onClose: () => void;

  constructor(socket: net.Socket, toDevice: ShmFrameQueue, toDriver: ShmFrameQueue, dev: VhostDev, memSize: number, onClose: () => void) {
    this.toDevice = toDevice;
    this.toDriver = toDriver;
    this.dev = dev;
    this.stats = { framesIn: 0, framesOut: 0, bytesIn: 0, bytesOut: 0, kicks: 0, held: 0, badFrames: 0 };
    this.#held = [];
    this.#sending = 0;
    this.#closed = false;
    this.#onClose = onClose;
    toDevice.userWord = memSize;
    this.chan = new VhostUserChannel(socket, { frameCapacity: toDevice.capacity, poolSize: 1 });
    this.chan.onFrame = (b, off, len) => this.#fromGuest(b, off, len);
    this.chan.onBad = () => {
      // Not a frame at all: the peer is not speaking the protocol. The device learns it as a
      // malformed frame (virtio_error) when vhost applies this stand-in.
      this.stats.badFrames++;
      this.#fromGuest(BAD_FRAME, 0, BAD_FRAME.length);
    };
    socket.on("close", () => this.close());
    socket.on("error", () => this.close());
    void this.#pumpOut();
  }

  /** A frame from the guest: into the device's queue (copied), its doorbells rung. */
  #fromGuest(b: Uint8Array, off: number, len: number): void {
    this.stats.framesIn++;
    this.stats.bytesIn += len;
    if (this.#held.length > 0 || !this.#put(b, off, len)) {
      this.#held.push(b.slice(off, off + len));
      this.stats.held++;
      if (this.#held.length === 1) this.chan.socket.pause();
    }
  }

  #put(b: Uint8Array, off: number, len: number): boolean {
    const q = this.toDevice;
    if (len > q.capacity) {
      // Larger than any frame the device takes: what a malformed ring would be.
      this.stats.badFrames++;
      return this.#put(BAD_FRAME, 0, BAD_FRAME.length);
    }
    const fb = q.acquire(); // a refusal marks us waiting: vhost's release rings our doorbell
    if (fb === null) return false;
    fb.u8.set(b.subarray(off, off + len), 0);
    fb.len = len;
    const bits = frameKicks(fb.u8, 0, len);
    q.submit(fb);
    if (bits !== 0) {
      this.stats.kicks++;
      kickVhost(this.dev, bits);
    }
    return true;
  }

  /** Moves held frames into the queue once vhost released room; resumes the socket when all went. */
  #flushHeld(): void {
    while (this.#held.length > 0) {
      const f = this.#held[0]!;
      if (!this.#put(f, 0, f.length)) {
        kickVhost(this.dev, KICK_TX);
        return;
      }
      this.#held.shift();
    }
    this.chan.socket.resume();
  }

  /**
   * Waits on the outbound doorbell (vhost rings it for each frame it publishes and when it
   * releases room we waited for), sends what vhost published, moves held frames in.
   */
  async #pumpOut(): Promise<void> {
    const q = this.toDriver;
    while (!this.#closed) {
      q.setWaiting(true);
      const bell = q.bell();
      this.#sendPublished();
      if (this.#held.length > 0) this.#flushHeld();
      // Returns at once ("not-equal") when vhost rang after we read the bell.
      const w = waitAsync(q.words, q.bellIdx, bell);
      if (w.async) await w.value;
    }
    q.setWaiting(false);
  }

  #sendPublished(): void {
    const q = this.toDriver;
    const pending = q.pending();
    while (this.#sending < pending && !this.#closed) {
      const fb = q.peekAt(this.#sending);
      this.#sending++;
      this.stats.framesOut++;
      this.stats.bytesOut += fb.len;
      this.chan.socket.write(Buffer.from(fb.u8.buffer, fb.u8.byteOffset, fb.len), () => this.#written());
    }
  }

  #written(): void {
    this.#sending--;
    // vhost stopped on a full queue: this release lets its RX work go on.
    if (this.toDriver.release()) kickVhost(this.dev, KICK_RX | KICK_TX);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.toDriver.ring();
    this.chan.socket.destroy();
    this.#onClose();
  }

  get closed(): boolean {
    return this.#closed;
  }
}

/** Atomics.waitAsync (Node >= 16; typed in lib es2024, newer than this project's target). */
const waitAsync = (Atomics as unknown as {
  waitAsync(a: Int32Array, i: number, v: number, t?: number): { async: boolean; value: Promise<string> | string };
}).waitAsync;

/** A frame that fails readFrame(): the device's verdict on a peer that sent garbage. */
const BAD_FRAME = new Uint8Array(16);
