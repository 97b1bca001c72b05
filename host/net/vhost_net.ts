// vhost-net's virtqueue handlers on the vhost worker: drivers/vhost/net.c,
// with the RFC's change that vhost reaches the tap's ring only through
// tun_recvmsg(TUN_MSG_CONSUME_PKTS, VHOST_NET_BATCH) (patch 05/18:
// vhost_net_buf_produce()).
//
// handle_rx(): disarm the socket poll (vhost_net_disable_vq) and the RX
// queue's notifications, then loop: peek the next entry from the vhost_net_buf
// (refilled 64 at a time through recvmsg, where the offloaded program runs),
// busy-poll once when empty and a busyloop timeout is set, take a guest
// receive buffer (get_rx_bufs: when the guest posted none, re-enable its kicks
// and stop with the entry kept and the socket poll left disarmed: the guest's
// refill kick restarts us), copy the packet into it (the USED record: copy 1 of
// 2), signal used every VHOST_NET_BATCH (vhost_net_signal_used), stop after
// VHOST_NET_PKT_WEIGHT packets and requeue; when the ring is empty re-arm the
// poll (vhost_net_enable_vq), which requeues at once if data arrived meanwhile.
//
// handle_tx(): the guest's transmit queue (its XDP_TX in the non-offload mode):
// each chain's bytes (which travelled with the descriptor) are copied into a
// page of vhost's own pool (copy 2 of 2; vhost_net_build_xdp) and handed in
// batches to tun_sendmsg(TUN_MSG_PTR) -> tun_xdp_one(): the tap's Rx path and
// its XDP program (the RFC's dropper). Same weights; one worker for both.
//
// The guest's ring reaches this thread as data-channel frames in a
// shared-memory queue (shared/virtio/shm_frame_queue.ts), applied to the
// device's shadow (shared/virtio/vring_device.ts) at the start of each handler
// and before each decision that depends on it; a malformed ring breaks the
// device (virtio_error()) and the handlers stop touching it until a reset.
import type { BpfMemory } from "../../shared/bpf/runtime/memory.ts";
import { STEP_POLL, type Clock } from "../../shared/sched/sched.ts";
import { StatBlock } from "../../shared/sched/stats.ts";
import { XDP_MD_DATA, XDP_MD_DATA_END } from "../../shared/bpf/isa/uapi.ts";
import type { PagePool } from "../../shared/net/page_pool.ts";
import { ShmFrameQueue } from "../../shared/virtio/shm_frame_queue.ts";
import { FrameWriter } from "../../shared/virtio/vring_frame.ts";
import { VirtioDeviceSide, VQ_DIR_RX, VQ_DIR_TX, type DeviceVirtqueue } from "../../shared/virtio/vring_device.ts";
import { EAGAIN, EMSGSIZE } from "../../shared/errno.ts";
import { VHOST_NET_VQ_EVT, VHOST_NET_VQ_RX, VHOST_NET_VQ_TX, type VhostDev } from "./vhost.ts";
import type { TunRecv, TunXdp } from "./tun.ts";
import type { CaptureRing } from "./capture.ts";

/** VHOST_NET_BATCH: entries vhost_net_buf_produce() asks for, and used entries between two signals. */
export const VHOST_NET_BATCH = 64;
/** VHOST_NET_PKT_WEIGHT: packets one handler run may process before requeueing. */
export const VHOST_NET_PKT_WEIGHT = 256;
/** Queue size of both virtqueues (QEMU's rx_queue_size / tx_queue_size default). */
export const VHOST_NET_QUEUE_SIZE = 256;
/** Largest frame the guest may transmit (an MTU-sized frame with room to spare). */
export const VHOST_NET_TX_MAX = 2048;

export const VHOST_NET_STATS = [
  "rx_runs", // handle_rx() runs (resumptions after a busy poll not counted)
  "rx_packets", // packets copied into guest buffers
  "rx_buf_produce", // vhost_net_buf_produce() calls (recvmsg of up to 64)
  "rx_buf_empty", // ... that returned nothing (ring empty, or everything dropped/sent back by the program)
  "rx_weight_exceeded", // runs ended by VHOST_NET_PKT_WEIGHT (work requeued, poll left disarmed)
  "rx_enable_requeue", // re-arms that found data and requeued the work at once
  "rx_busy_polls", // busy polls requested (busyloop timeout set)
  "rx_busyloop_intr", // polls ended by other queued work (RX work requeued instead of re-armed)
  "tx_runs", // handle_tx() runs
  "rx_no_buffers", // runs stopped because the guest had posted no receive buffer (kicks re-enabled)
  "rx_chan_full", // runs stopped because the data channel's frame queue was full (resumed on release)
  "rx_too_big", // packets larger than the guest's buffer (dropped, chain returned empty)
  "rx_dropped", // packets the device could not place (putUsed failed otherwise)
  "rx_copies", // packet copies into USED records (copy 1 of 2 on RX)
  "rx_signals", // interrupts raised towards the guest (after event idx suppression)
  "rx_signals_suppressed",
  "tx_packets", // chains taken from the guest's transmit queue
  "tx_copies", // packet copies out of the transmit records into host pages (copy 2 of 2 on TX)
  "tx_no_pages", // chains returned because vhost's page pool was empty
  "tx_weight_exceeded",
  "kicks", // frames from the guest carrying a kick (counted by the relay, here for the record)
  "frames_in", // data-channel frames applied
  "frames_out", // data-channel frames sent
  "virtio_errors", // virtio_error() calls (device marked broken, needs reset)
  "resets", // device resets from the guest
  "rx_buf_entries", // entries recvmsg handed to vhost for the guest (XDP_PASS, or all without a program there)
  "evt_runs", // ring-event works run (the guest's used_event / flags changes applied while idle)
  // The RX virtqueue's indices as the device last left them (a register dump, for debugging a stall).
  "rxvq_avail_idx", "rxvq_last_avail_idx", "rxvq_used_idx", "rxvq_pending_used", "rxvq_used_event", "rxvq_irq_idx",
  "rxvq_signalled_used", "rxvq_notification", "rxvq_recheck_irqs", "pending_rx",
  "tx_staging_copies", // transmit records' bytes copied into the device's staging slots when applied
] as const;
const N_RX_RUNS = 0, N_RX_PACKETS = 1, N_RX_BUF_PRODUCE = 2, N_RX_BUF_EMPTY = 3, N_RX_WEIGHT = 4, N_RX_ENABLE_REQUEUE = 5;
const N_RX_BUSY_POLLS = 6, N_RX_BUSYLOOP_INTR = 7, N_TX_RUNS = 8, N_RX_NO_BUFFERS = 9, N_RX_CHAN_FULL = 10;
const N_RX_TOO_BIG = 11, N_RX_DROPPED = 12, N_RX_COPIES = 13, N_RX_SIGNALS = 14, N_RX_SIGNALS_SUPPRESSED = 15;
const N_TX_PACKETS = 16, N_TX_COPIES = 17, N_TX_NO_PAGES = 18, N_TX_WEIGHT = 19, N_FRAMES_IN = 21, N_FRAMES_OUT = 22;
const N_VIRTIO_ERRORS = 23, N_RESETS = 24, N_RX_BUF_ENTRIES = 25, N_EVT_RUNS = 26, N_RXVQ = 27, N_TX_STAGING = 37;

/** The shared parts of one vhost-net device's guest side (owner thread lays them out). */
export interface VhostVirtioShared {
  /** Frames from the driver (guest) to the device, and from the device to the driver. */
  toDevice: number;
  toDriver: number;
  /** vhost's own pages for frames the guest transmits. */
  txPool: number;
  /** Counters of the tap's Rx path as tun_sendmsg reaches it (TUN_XDP_STATS names, rxp_*). */
  sendStats: number;
  /** Waker-side counters of the guest's doorbells (kicks queueing vhost's handlers). */
  kickStats: number;
}

export const VQF_QUEUE_SLOTS = 16;
export const VQF_QUEUE_CAPACITY = 64 * 1024;

/** Lays out the two frame queues (setup time, owner thread). */
export function vhostVirtioQueues(mem: BpfMemory): { toDevice: number; toDriver: number } {
  const bytes = ShmFrameQueue.bytes(VQF_QUEUE_SLOTS, VQF_QUEUE_CAPACITY);
  const a = mem.alloc(bytes, 64), b = mem.alloc(bytes, 64);
  ShmFrameQueue.init(mem.memory.buffer, a, VQF_QUEUE_SLOTS, VQF_QUEUE_CAPACITY);
  ShmFrameQueue.init(mem.memory.buffer, b, VQF_QUEUE_SLOTS, VQF_QUEUE_CAPACITY);
  return { toDevice: a, toDriver: b };
}

/** The device end of the guest's two virtqueues as the vhost thread sees them. */
export class VhostVirtio {
  readonly inbound: ShmFrameQueue;
  readonly outbound: ShmFrameQueue;
  readonly dev: VirtioDeviceSide;
  readonly rxvq: DeviceVirtqueue;
  readonly txvq: DeviceVirtqueue;
  /** tun_sendmsg's pages and its path into the tap's Rx-path program. */
  readonly txPool: PagePool;
  readonly txXdp: TunXdp;

  constructor(mem: BpfMemory, sh: VhostVirtioShared, txPool: PagePool, txXdp: TunXdp) {
    this.inbound = ShmFrameQueue.at(mem.memory.buffer, sh.toDevice);
    this.outbound = ShmFrameQueue.at(mem.memory.buffer, sh.toDriver);
    this.dev = new VirtioDeviceSide({
      memSize: this.inbound.userWord, eventIdx: true, out: new FrameWriter(this.outbound), name: "vhost-net",
      queues: [[VHOST_NET_QUEUE_SIZE, VQ_DIR_RX], [VHOST_NET_QUEUE_SIZE, VQ_DIR_TX, VHOST_NET_TX_MAX]],
    });
    this.rxvq = this.dev.vqs[0]!;
    this.txvq = this.dev.vqs[1]!;
    this.txPool = txPool;
    this.txXdp = txXdp;
  }
}

export class VhostNet {
  readonly dev: VhostDev;
  readonly tun: TunRecv;
  readonly virtio: VhostVirtio;
  readonly stats: StatBlock;
  readonly #clock: Clock;
  readonly #pool: PagePool;
  readonly #u8: Uint8Array;
  readonly #u32: Uint32Array;
  /** Busy-poll time when the RX ring is empty (VHOST_SET_VRING_BUSYLOOP_TIMEOUT, QEMU's poll-us), ns; 0: off. */
  busyloopTimeoutNs: number;
  /** Capture point "guest rx": frames copied into the guest; null when off. */
  guestCapture: CaptureRing | null;
  /** Called once per virtio_error() with its reason (cold; the thread reports it to the control plane). */
  onVirtioError: ((reason: string) => void) | null;
  /** Called when the guest resets a broken device (cold). */
  onVirtioReset: (() => void) | null;
  /** vhost_net_buf: entries recvmsg handed back, [head, tail). */
  readonly #rxq: Uint32Array;
  #head: number;
  #tail: number;
  #recvPkts: number;
  /** A busy poll is in progress for the current handler run. */
  #polling: boolean;
  /** The current peek already busy-polled (vhost_net_rx_peek_head_len polls once). */
  #polled: boolean;
  #busyloopIntr: boolean;
  /** Frames copied into the guest, returned to the pool in one bulk per signal. */
  readonly #ret: Uint32Array;
  #nRet: number;
  readonly #txFrames: Uint32Array;

  constructor(mem: BpfMemory, statsAddr: number, dev: VhostDev, tun: TunRecv, virtio: VhostVirtio, pool: PagePool, clock: Clock,
    busyloopTimeoutNs = 0) {
    this.dev = dev;
    this.tun = tun;
    this.virtio = virtio;
    this.stats = StatBlock.at(mem, statsAddr, VHOST_NET_STATS);
    this.#clock = clock;
    this.#pool = pool;
    this.#u8 = new Uint8Array(mem.memory.buffer);
    this.#u32 = new Uint32Array(mem.memory.buffer);
    this.busyloopTimeoutNs = busyloopTimeoutNs;
    this.guestCapture = null;
    this.onVirtioError = null;
    this.onVirtioReset = null;
    this.#rxq = new Uint32Array(VHOST_NET_BATCH);
    this.#head = 0;
    this.#tail = 0;
    this.#recvPkts = 0;
    this.#polling = false;
    this.#polled = false;
    this.#busyloopIntr = false;
    this.#ret = new Uint32Array(VHOST_NET_BATCH);
    this.#nRet = 0;
    this.#txFrames = new Uint32Array(VHOST_NET_BATCH);
    virtio.dev.onError = (_d, reason) => {
      this.stats.v[N_VIRTIO_ERRORS]++;
      if (this.onVirtioError !== null) this.onVirtioError(reason);
    };
    dev.setWork(VHOST_NET_VQ_RX, () => this.handleRx());
    dev.setWork(VHOST_NET_VQ_TX, () => this.handleTx());
    dev.setWork(VHOST_NET_VQ_EVT, () => this.handleEvt());
    dev.pollSource = () => tun.hasData();
  }

  /** Counter block for a VhostNet (setup time, owner thread). */
  static initStats(mem: BpfMemory): number {
    return StatBlock.init(mem, VHOST_NET_STATS).addr;
  }

  /**
   * Applies the driver's frames that arrived (what the guest wrote into its rings since we
   * last looked). A release the relay waited for rings its doorbell.
   */
  applyInbound(): void {
    const q = this.virtio.inbound, vdev = this.virtio.dev;
    for (;;) {
      const fb = q.peek();
      if (fb === null) return;
      const resets = vdev.resets, wasBroken = vdev.broken;
      vdev.receive(fb.u8, 0, fb.len);
      if (vdev.resets !== resets) {
        this.stats.v[N_RESETS]++;
        if (wasBroken && this.onVirtioReset !== null) this.onVirtioReset();
        // The guest's memory as it announced it at this reset (the relay wrote it).
        vdev.memSize = q.userWord > 0 ? q.userWord : vdev.memSize;
      }
      this.stats.v[N_FRAMES_IN]++;
      if (q.release()) this.virtio.outbound.ring();
    }
  }

  /** The ring-event work (VHOST_NET_VQ_EVT): the guest's frames applied; an interrupt the new used_event asks for goes out. */
  handleEvt(): number {
    this.stats.v[N_EVT_RUNS]++;
    this.applyInbound();
    this.#signalUsed();
    return 0;
  }

  /** vhost_net_signal_used(): used idx and at most one interrupt; the frame goes out. */
  #signalUsed(): void {
    const vq = this.virtio.rxvq, s = this.stats.v;
    const before = vq.interrupts, supp = vq.interruptsSuppressed;
    this.virtio.dev.flush();
    s[N_FRAMES_OUT] = this.virtio.outbound.published;
    s[N_RX_SIGNALS] += vq.interrupts - before;
    s[N_RX_SIGNALS_SUPPRESSED] += vq.interruptsSuppressed - supp;
    s[N_RXVQ] = vq.shadowAvailIdx;
    s[N_RXVQ + 1] = vq.lastAvailIdx;
    s[N_RXVQ + 2] = vq.usedIdx;
    s[N_RXVQ + 3] = vq.pendingUsed;
    s[N_RXVQ + 4] = vq.usedEvent;
    s[N_RXVQ + 5] = vq.irqIdx;
    s[N_RXVQ + 6] = vq.signalledUsed;
    s[N_RXVQ + 7] = vq.notification ? 1 : 0;
    s[N_RXVQ + 8] = vq.recheckInterrupts;
    s[N_RXVQ + 9] = this.#tail - this.#head;
    this.#flushRet();
  }

  #flushRet(): void {
    if (this.#nRet > 0) {
      this.#pool.putBulk(this.#ret, this.#nRet);
      this.#nRet = 0;
    }
  }

  /** The next entry for the guest, 0 when none. @see vhost_net_buf_peek(), vhost_net_buf_produce() */
  #peek(): number {
    if (this.#head < this.#tail) return this.#rxq[this.#head]!;
    const s = this.stats.v;
    s[N_RX_BUF_PRODUCE]++;
    this.#head = 0;
    this.#tail = this.tun.tunConsumePackets(this.#rxq, VHOST_NET_BATCH);
    if (this.#tail === 0) {
      s[N_RX_BUF_EMPTY]++;
      return 0;
    }
    s[N_RX_BUF_ENTRIES] += this.#tail;
    return this.#rxq[0]!;
  }

  /** Entries consumed from tun and not yet handed to the guest (kept across runs, as vhost_net_buf). */
  get pendingRx(): number {
    return this.#tail - this.#head;
  }

  /**
   * One packet into the guest: a receive buffer, the copy, the used entry. Returns 1 when
   * done (or dropped for good), 0 when the guest has no buffer (kicks re-enabled, stop),
   * -1 when the channel is full (stop; resumed on release).
   * @see get_rx_bufs(), sock->ops->recvmsg() into the iov, vhost_add_used()
   */
  #toGuest(h: number): number {
    const vq = this.virtio.rxvq, s = this.stats.v;
    const c = this.#pool.ctxOf(h) >> 2, u32 = this.#u32;
    const data = u32[c + (XDP_MD_DATA >> 2)]!, len = u32[c + (XDP_MD_DATA_END >> 2)]! - data;
    for (;;) {
      // A broken device (needs reset) takes nothing: the entry waits in vhost_net_buf and tun's
      // ring fills behind it (tail drops), until the guest resets the device.
      if (vq.dev.broken) return 0;
      let head = vq.pop();
      if (head < 0) {
        this.applyInbound();
        head = vq.pop();
      }
      if (head < 0) {
        if (vq.dev.broken) return 0;
        // vhost_enable_notify(): entries that arrived meanwhile mean go on.
        if (vq.enableNotification()) {
          vq.disableNotification();
          continue;
        }
        s[N_RX_NO_BUFFERS]++;
        return 0;
      }
      if (this.guestCapture !== null) this.guestCapture.captureXdp(c << 2);
      const r = vq.putUsed(head, this.#u8, data, len);
      if (r === -EAGAIN) {
        // The refused acquire() marked us waiting: the consumer's release requeues this work.
        vq.unpop(head);
        s[N_RX_CHAN_FULL]++;
        return -1;
      }
      if (r === -EMSGSIZE) s[N_RX_TOO_BIG]++;
      else if (r >= 0) {
        s[N_RX_PACKETS]++;
        s[N_RX_COPIES]++;
      } else s[N_RX_DROPPED]++;
      return 1;
    }
  }

  /** The RX work. Returns 0, or STEP_POLL to busy-poll (then it is called again to go on). @see handle_rx() */
  handleRx(): number {
    const s = this.stats.v, dev = this.dev;
    if (this.#polling) {
      // Back from vhost_net_busy_poll(): peek again, once.
      this.#polling = false;
      this.#polled = true;
      this.#busyloopIntr = !this.tun.hasData() && dev.hasWork();
    } else {
      s[N_RX_RUNS]++;
      this.applyInbound();
      if (this.virtio.dev.broken) return 0;
      dev.pollDisarm(VHOST_NET_VQ_RX);
      this.virtio.rxvq.disableNotification();
      this.#recvPkts = 0;
      this.#polled = false;
      this.#busyloopIntr = false;
    }
    let sinceSignal = 0;
    for (;;) {
      const h = this.#peek();
      if (h === 0) {
        if (this.busyloopTimeoutNs > 0 && !this.#polled && !this.#busyloopIntr) {
          if (sinceSignal > 0) this.#signalUsed();
          this.#polling = true;
          s[N_RX_BUSY_POLLS]++;
          dev.pollDeadlineNs = this.#clock.nowNs() + this.busyloopTimeoutNs;
          return STEP_POLL;
        }
        break;
      }
      this.#polled = false;
      const r = this.#toGuest(h);
      if (r <= 0) {
        // No guest buffer (its refill kick requeues us) or no room on the channel (its release
        // does): the entry stays in vhost_net_buf, the socket poll stays disarmed.
        this.#signalUsed();
        return 0;
      }
      this.#head++;
      this.#ret[this.#nRet++] = h;
      if (++sinceSignal >= VHOST_NET_BATCH) {
        this.#signalUsed();
        sinceSignal = 0;
      }
      if (++this.#recvPkts >= VHOST_NET_PKT_WEIGHT) {
        // vhost_exceeds_weight(): requeue, poll stays disarmed.
        s[N_RX_WEIGHT]++;
        this.#signalUsed();
        dev.vhostWorkQueue(VHOST_NET_VQ_RX);
        return 0;
      }
    }
    // As handle_rx() ends: requeue (busy poll interrupted) or re-arm the socket poll, and only
    // then vhost_net_signal_used(): a producer that comes during the signal finds the poll armed.
    if (this.#busyloopIntr) {
      s[N_RX_BUSYLOOP_INTR]++;
      dev.vhostWorkQueue(VHOST_NET_VQ_RX);
    } else {
      dev.pollArm(VHOST_NET_VQ_RX);
      if (this.tun.hasData()) {
        s[N_RX_ENABLE_REQUEUE]++;
        dev.vhostWorkQueue(VHOST_NET_VQ_RX);
      }
    }
    this.#signalUsed();
    return 0;
  }

  /**
   * The TX work: the guest's transmit chains into vhost's pages, through tun_sendmsg to the
   * tap's Rx path in batches of up to 64; the used entries go back once per batch.
   * @see handle_tx_copy(), vhost_net_build_xdp(), vhost_tx_batch(), tun_sendmsg(TUN_MSG_PTR)
   */
  handleTx(): number {
    const s = this.stats.v, v = this.virtio, vq = v.txvq, pool = v.txPool, u8 = this.#u8;
    s[N_TX_RUNS]++;
    this.applyInbound();
    if (v.dev.broken) return 0;
    vq.disableNotification();
    const frames = this.#txFrames, el = vq.elem, out = vq.outData;
    let n = 0, sent = 0;
    for (;;) {
      let head = vq.pop();
      if (head < 0) {
        if (v.dev.broken) break;
        this.applyInbound();
        head = vq.pop();
      }
      if (head < 0) {
        if (v.dev.broken) break;
        if (vq.enableNotification()) {
          vq.disableNotification();
          continue;
        }
        break;
      }
      const h = pool.alloc();
      if (h === 0) {
        vq.unpop(head);
        s[N_TX_NO_PAGES]++;
        break;
      }
      // One readable buffer per packet (the driver's XDP_TX layout); its bytes came with the record.
      let len = 0;
      const dst = pool.dataOf(h);
      for (let k = 0; k < el.outNum; k++) {
        const off = el.dataOff[k]!, l = el.len[k]!;
        if (off < 0 || len + l > VHOST_NET_TX_MAX) continue;
        for (let j = 0; j < l; j++) u8[dst + len + j] = out[off + j]!;
        len += l;
      }
      pool.prepareU32(h, len, v.txXdp.ifindex, 0);
      s[N_TX_COPIES]++;
      s[N_TX_PACKETS]++;
      vq.putUsed(head, null, 0, 0);
      frames[n++] = h;
      if (n === VHOST_NET_BATCH) {
        v.txXdp.tunXdpOne(frames, n);
        this.#txFlush();
        n = 0;
      }
      if (++sent >= VHOST_NET_PKT_WEIGHT) {
        s[N_TX_WEIGHT]++;
        if (n > 0) v.txXdp.tunXdpOne(frames, n);
        this.#txFlush();
        this.dev.vhostWorkQueue(VHOST_NET_VQ_TX);
        return 0;
      }
    }
    if (n > 0) v.txXdp.tunXdpOne(frames, n);
    this.#txFlush();
    return 0;
  }

  #txFlush(): void {
    this.virtio.dev.flush();
    this.stats.v[N_TX_STAGING] = this.virtio.txvq.copies;
    this.stats.v[N_FRAMES_OUT] = this.virtio.outbound.published;
  }
}

/** Frames vhost's TX pool needs: a queue's worth in flight plus a batch. */
export const VHOST_TX_POOL_FRAMES = VHOST_NET_QUEUE_SIZE + 2 * VHOST_NET_BATCH;
