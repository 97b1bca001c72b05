// The guest's virtio-net datapath for one queue pair: drivers/net/virtio_net.c's
// receive_queue and send_queue with native XDP (the non-offload mode of the
// RFC's tables: `ip link set dev eth0 xdpdrv obj prog.o`).
//
// - Receive buffers are pages of a page_pool in the guest kernel's BPF memory
//   (what the XDP program reads), posted with XDP_PACKET_HEADROOM in front as
//   virtio_net does when XDP is set (add_recvbuf_small with VIRTIO_XDP_HEADROOM).
// - virtnet_poll(): up to `budget` used buffers, the program over the batch
//   (runXdpBatch), then per verdict: XDP_DROP recycles the page, XDP_PASS goes
//   up the stack (counted, handed to onNetifReceive when set, and recycled:
//   the guest stack is not modelled),
//   XDP_TX queues the page on the send queue (virtnet_xdp_xmit: old completions
//   reclaimed first, __virtnet_xdp_xmit_one adds the buffer), anything else is
//   dropped and counted. The send queue is kicked once per poll (the
//   `xdp_xmit & VIRTIO_XDP_TX` block at the end of virtnet_poll), then refill
//   and NAPI completion with the callback re-armed.
// - Refill (virtnet_receive() since Linux 5.4, "virtio-net: lower min ring
//   num_free for efficiency"): after a poll with `budget`, try_fill_recv() runs
//   when num_free > min(budget, ring size) / 2, and fills until the ring or the
//   pool is empty with one kick for the lot: budget 64 on a 256-entry ring
//   refills once 33 or more entries are free. Older kernels waited for half
//   the ring (num_free > size / 2); that rule is not modelled.
// - The send queue never takes interrupts (its callback stays disabled, as for
//   XDP send queues): completed buffers are reclaimed on the next transmit.
//   With one queue pair, XDP_TX shares the one send queue (what virtio_net
//   does since 5.13 when there are not enough queues for one XDP queue per CPU).
// - No virtio_net_hdr: the device negotiates no offloads, so the header would
//   be constant; buffers carry the frame only.
//
// Counters are `ethtool -S` names of the RFC-era driver (rx_queue_0_*,
// tx_queue_0_*). Hot path: nothing allocated, nothing thrown.
import type { BpfMemory } from "../../shared/bpf/runtime/memory.ts";
import type { BpfVm } from "../../shared/bpf/runtime/vm.ts";
import type { BpfProg } from "../../shared/bpf/runtime/prog.ts";
import { runXdpBatch } from "../../shared/bpf/runtime/batch.ts";
import { XDP_FRAME_SZ } from "../../shared/bpf/runtime/xdp.ts";
import { XDP_DROP, XDP_MD_DATA, XDP_MD_DATA_END, XDP_PACKET_HEADROOM, XDP_PASS, XDP_REDIRECT, XDP_TX } from "../../shared/bpf/isa/uapi.ts";
import { PagePool } from "../../shared/net/page_pool.ts";
import { VringDriver, VirtioDriverDevice } from "../../shared/virtio/vring_driver.ts";
import { FrameWriter, type FrameSink } from "../../shared/virtio/vring_frame.ts";
import { vring_size } from "../../shared/virtio/virtio_ring.ts";

/** NAPI_POLL_WEIGHT. */
export const VIRTNET_NAPI_WEIGHT = 64;
/** QEMU's default rx_queue_size / tx_queue_size. */
export const VIRTNET_QUEUE_SIZE = 256;
/** Room after the packet for skb_shared_info (SKB_DATA_ALIGN(sizeof(struct skb_shared_info)) on x86-64). */
const SKB_SHINFO = 320;
/** A receive buffer: the page after the headroom and before the shared info. */
export const VIRTNET_RX_BUF_LEN = XDP_FRAME_SZ - XDP_PACKET_HEADROOM - SKB_SHINFO;

/** `ethtool -S eth0` of the RFC-era virtio_net, in its order. */
export const VIRTNET_ETHTOOL_STATS = [
  "rx_queue_0_packets", "rx_queue_0_bytes", "rx_queue_0_drops", "rx_queue_0_xdp_packets", "rx_queue_0_xdp_tx",
  "rx_queue_0_xdp_redirects", "rx_queue_0_xdp_drops", "rx_queue_0_kicks",
  "tx_queue_0_packets", "tx_queue_0_bytes", "tx_queue_0_xdp_tx", "tx_queue_0_xdp_tx_drops", "tx_queue_0_kicks",
  "tx_queue_0_tx_timeouts",
] as const;
const RX_PACKETS = 0, RX_BYTES = 1, RX_DROPS = 2, RX_XDP_PACKETS = 3, RX_XDP_TX = 4, RX_XDP_REDIRECTS = 5, RX_XDP_DROPS = 6;
const RX_KICKS = 7, TX_PACKETS = 8, TX_BYTES = 9, TX_XDP_TX = 10, TX_XDP_TX_DROPS = 11, TX_KICKS = 12;

export interface VirtnetOpts {
  /** The guest kernel's BPF memory (shared, so that views survive its growth). */
  readonly mem: BpfMemory;
  readonly vm: BpfVm;
  /** Where the driver's frames go (the data channel, or a shared-memory queue). */
  readonly sink: FrameSink;
  readonly ifindex: number;
  readonly queueSize?: number;
  readonly eventIdx?: boolean;
  /** Pages for receive buffers and frames in flight on the send queue. */
  readonly poolFrames?: number;
}

export class VirtnetQueuePair {
  readonly mem: BpfMemory;
  readonly pool: PagePool;
  readonly writer: FrameWriter;
  readonly rxvq: VringDriver;
  readonly txvq: VringDriver;
  /** The driver's end of the data channel: frames from the device go to receive(). */
  readonly dev: VirtioDriverDevice;
  readonly ifindex: number;
  /** The program of the DRV slot (native XDP), null for none. */
  xdpProg: BpfProg | null;
  /** ethtool -S counters, VIRTNET_ETHTOOL_STATS order. */
  readonly stats: Float64Array;
  /** XDP_ABORTED and unknown actions (trace_xdp_exception), counted apart from drops. */
  xdpExceptions: number;
  /**
   * Fates of received packets: [XDP_DROP, XDP_PASS (or no program), XDP_TX queued on the send
   * queue, anything else (redirect, aborted, unknown, XDP_TX that found the send queue full)].
   */
  readonly xdpVerdicts: Float64Array;
  /** Send-queue buffers the device completed (free_old_xmit). */
  txCompleted: number;
  /** Polls run, and polls that used their whole budget. */
  polls: number;
  pollsFull: number;
  /** try_fill_recv() runs and those that ran out of pages. */
  refills: number;
  refillOom: number;
  napiScheduled: boolean;
  /** napi_schedule(): the owner runs poll() soon (setImmediate in a process, a step in a thread). */
  onNapiSchedule: (() => void) | null;
  /**
   * napi_gro_receive(): a packet the program passed (or with no program) goes up the guest's
   * stack as `mem[off, off + len)`, valid only during the call. Null: counted and recycled only.
   */
  onNetifReceive: ((mem: Uint8Array, off: number, len: number) => void) | null;
  /** The device reported NEEDS_RESET (virtio_error() on its side). */
  onNeedsReset: ((reason: string) => void) | null;
  readonly #vm: BpfVm;
  readonly #ctxs: Uint32Array;
  readonly #hs: Uint32Array;
  readonly #verdicts: Uint32Array;
  readonly #u32: Uint32Array;

  constructor(o: VirtnetOpts) {
    const num = o.queueSize ?? VIRTNET_QUEUE_SIZE;
    const eventIdx = o.eventIdx ?? true;
    this.mem = o.mem;
    this.#vm = o.vm;
    this.ifindex = o.ifindex;
    this.pool = PagePool.create(o.mem, o.poolFrames ?? 2 * num + 2 * VIRTNET_NAPI_WEIGHT);
    this.writer = new FrameWriter(o.sink);
    const ringBytes = vring_size(num, 4096);
    const rxBase = o.mem.alloc(ringBytes, 4096), txBase = o.mem.alloc(ringBytes, 4096);
    const u8 = new Uint8Array(o.mem.memory.buffer);
    this.rxvq = new VringDriver({ index: 0, num, mem: u8, base: rxBase, eventIdx, out: this.writer });
    this.txvq = new VringDriver({ index: 1, num, mem: u8, base: txBase, eventIdx, out: this.writer, outData: true });
    this.dev = new VirtioDriverDevice(this.writer, [this.rxvq, this.txvq]);
    this.xdpProg = null;
    this.stats = new Float64Array(VIRTNET_ETHTOOL_STATS.length);
    this.xdpExceptions = 0;
    this.xdpVerdicts = new Float64Array(4);
    this.txCompleted = 0;
    this.polls = 0;
    this.pollsFull = 0;
    this.refills = 0;
    this.refillOom = 0;
    this.napiScheduled = false;
    this.onNapiSchedule = null;
    this.onNetifReceive = null;
    this.onNeedsReset = null;
    this.#ctxs = new Uint32Array(VIRTNET_NAPI_WEIGHT);
    this.#hs = new Uint32Array(VIRTNET_NAPI_WEIGHT);
    this.#verdicts = new Uint32Array(VIRTNET_NAPI_WEIGHT);
    this.#u32 = new Uint32Array(o.mem.memory.buffer);
    // skb_recv_done(): the interrupt disables further callbacks and schedules NAPI.
    this.rxvq.callback = (vq) => {
      vq.disable_cb();
      this.#schedule();
    };
    this.dev.onNeedsReset = (reason) => this.onNeedsReset?.(reason);
  }

  /** Guest memory the device may address (its bounds check). */
  get memSize(): number {
    return this.rxvq.mem.byteLength;
  }

  #schedule(): void {
    if (this.napiScheduled) return;
    this.napiScheduled = true;
    if (this.onNapiSchedule !== null) this.onNapiSchedule();
  }

  /**
   * virtnet_open() on a fresh device: reset (status 0: both sides start from empty rings),
   * the send queue's callback off, receive buffers posted with one kick.
   */
  open(): void {
    this.dev.reset();
    this.pool.flushCache();
    this.txvq.disable_cb();
    this.tryFillRecv();
  }

  /** Frames from the device (USED, USED_IDX, INTERRUPT, DEVICE_EVT, NEEDS_RESET). */
  receive(b: Uint8Array, off: number, len: number): void {
    this.dev.receive(b, off, len);
  }

  /** try_fill_recv(): post pages until the ring or the pool is empty, one kick for the lot. */
  tryFillRecv(): boolean {
    const vq = this.rxvq, pool = this.pool;
    let oom = false;
    this.refills++;
    while (vq.numFree > 0) {
      const h = pool.alloc();
      if (h === 0) {
        oom = true;
        break;
      }
      const r = vq.add_inbuf(pool.dataOf(h), VIRTNET_RX_BUF_LEN, (h - pool.frameBase) >>> 12);
      if (r < 0) {
        pool.recycleDirect(h);
        oom = true;
        break;
      }
    }
    if (vq.kick_prepare()) {
      vq.notify();
      this.stats[RX_KICKS]++;
    }
    vq.out.flush();
    if (oom) this.refillOom++;
    return !oom;
  }

  /** The packet of xdp_md `ctx` (data and data_end as the program left them) up the stack. */
  #netifReceive(ctx: number): void {
    const c = ctx >> 2, u32 = this.#u32;
    const data = u32[c + (XDP_MD_DATA >> 2)]!;
    this.onNetifReceive!(this.rxvq.mem, data, u32[c + (XDP_MD_DATA_END >> 2)]! - data);
  }

  /** free_old_xmit(): send-queue buffers the device completed go back to the pool. */
  #freeOldXmit(): void {
    const vq = this.txvq, pool = this.pool;
    for (;;) {
      const token = vq.get_buf();
      if (token < 0) return;
      this.txCompleted++;
      pool.recycleDirect(pool.frameBase + token * XDP_FRAME_SZ);
    }
  }

  /**
   * virtnet_poll(): receive up to `budget` packets, run the DRV-slot program over them, act on
   * the verdicts, kick the send queue once if anything was XDP_TX'ed, refill, complete NAPI
   * under budget. Returns the packets received.
   */
  poll(budget: number = VIRTNET_NAPI_WEIGHT): number {
    const vq = this.rxvq, pool = this.pool, s = this.stats, hs = this.#hs, u32 = this.#u32;
    if (budget > VIRTNET_NAPI_WEIGHT) budget = VIRTNET_NAPI_WEIGHT;
    this.polls++;
    let n = 0;
    while (n < budget) {
      const token = vq.get_buf();
      if (token < 0) break;
      const h = pool.frameBase + token * XDP_FRAME_SZ;
      const len = vq.lastLen;
      pool.prepareU32(h, len, this.ifindex, 0);
      hs[n++] = h;
      s[RX_PACKETS]++;
      s[RX_BYTES] += len;
    }
    let xdpTx = 0;
    const prog = this.xdpProg, fate = this.xdpVerdicts;
    if (n > 0 && prog !== null) {
      const ctxs = this.#ctxs, v = this.#verdicts;
      for (let i = 0; i < n; i++) ctxs[i] = pool.ctxOf(hs[i]!);
      runXdpBatch(this.#vm, prog, ctxs, n, v);
      s[RX_XDP_PACKETS] += n;
      for (let i = 0; i < n; i++) {
        const h = hs[i]!, act = v[i]!;
        if (act === XDP_PASS) {
          fate[1]++;
          if (this.onNetifReceive !== null) this.#netifReceive(ctxs[i]!);
          pool.recycleDirect(h);
        } else if (act === XDP_TX) {
          s[RX_XDP_TX]++;
          if (xdpTx === 0) this.#freeOldXmit();
          const c = ctxs[i]! >> 2;
          const data = u32[c + (XDP_MD_DATA >> 2)]!, end = u32[c + (XDP_MD_DATA_END >> 2)]!;
          s[TX_XDP_TX]++;
          if (this.txvq.add_outbuf(data, end - data, (h - pool.frameBase) >>> 12) < 0) {
            s[TX_XDP_TX_DROPS]++;
            s[RX_XDP_DROPS]++;
            fate[3]++;
            pool.recycleDirect(h);
          } else {
            fate[2]++;
            s[TX_PACKETS]++;
            s[TX_BYTES] += end - data;
            xdpTx++;
          }
        } else {
          if (act === XDP_DROP) {
            s[RX_XDP_DROPS]++;
            fate[0]++;
          } else {
            fate[3]++;
            // No devmap or cpumap behind a guest NIC here: a redirect fails like one to nowhere.
            if (act === XDP_REDIRECT) s[RX_XDP_REDIRECTS]++;
            else this.xdpExceptions++;
            s[RX_XDP_DROPS]++;
          }
          s[RX_DROPS]++;
          pool.recycleDirect(h);
        }
      }
    } else {
      fate[1] += n;
      const up = this.onNetifReceive !== null;
      for (let i = 0; i < n; i++) {
        if (up) this.#netifReceive(pool.ctxOf(hs[i]!));
        pool.recycleDirect(hs[i]!);
      }
    }
    if (xdpTx > 0) {
      // The XDP send queue: one kick for the poll's transmits.
      if (this.txvq.kick_prepare()) {
        this.txvq.notify();
        s[TX_KICKS]++;
      }
    }
    const lim = budget < vq.num ? budget : vq.num;
    if (vq.numFree > lim >>> 1) this.tryFillRecv();
    if (n < budget) {
      // napi_complete_done() + virtqueue_napi_complete().
      this.napiScheduled = false;
      if (!vq.enable_cb()) {
        vq.disable_cb();
        this.#schedule();
      }
    } else {
      this.pollsFull++;
    }
    this.writer.flush();
    return n;
  }

  /** ethtool -S: name -> value. */
  ethtoolStats(): Array<[string, number]> {
    return VIRTNET_ETHTOOL_STATS.map((k, i) => [k, this.stats[i]!]);
  }
}

