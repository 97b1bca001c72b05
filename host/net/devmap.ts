// XDP_REDIRECT into a devmap, datapath half: kernel/bpf/devmap.c (the map
// itself is shared/bpf/maps/devmap.ts) and xdp_do_redirect()/xdp_do_flush()
// of net/core/filter.c. Per producer CPU (here: per thread) and per target
// device, a bulk queue of DEV_MAP_BULK_SIZE frames: bq_enqueue() sends a full
// queue with ndo_xdp_xmit(flags 0), and __dev_flush() at the end of each NAPI
// poll sends every queue on the flush list with XDP_XMIT_FLUSH. The target's
// ndo_xdp_xmit here is tun_xdp_xmit().
import type { BpfMemory } from "../../shared/bpf/runtime/memory.ts";
import { XDP_CTX_REDIRECT } from "../../shared/bpf/runtime/vm.ts";
import { StatBlock } from "../../shared/sched/stats.ts";
import { XDP_XMIT_FLUSH } from "./tun.ts";
import type { PagePool } from "../../shared/net/page_pool.ts";

/** DEV_MAP_BULK_SIZE (XDP_BULK_QUEUE_SIZE): frames per bulk. */
export const DEV_MAP_BULK_SIZE = 16;

/** A device that can take xdp_frames (net_device_ops.ndo_xdp_xmit). */
export interface XdpXmitDev {
  readonly ifindex: number;
  /** Sends frames[0..n) (handles); returns how many it took (the rest it returned itself). */
  ndoXdpXmit(frames: Uint32Array, n: number, flags: number): number;
}

export const DEVMAP_STATS = [
  "enqueued", // frames put on a bulk queue
  "xmit_bulk_full", // ndo_xdp_xmit calls because a queue was full (no flush flag)
  "xmit_flush", // ndo_xdp_xmit calls from __dev_flush (XDP_XMIT_FLUSH)
  "xmit_dropped", // frames the target did not take
  "redirect_err", // xdp_do_redirect() to an unknown device: frame dropped
] as const;
const D_ENQUEUED = 0, D_BULK_FULL = 1, D_FLUSH = 2, D_DROPPED = 3, D_REDIRECT_ERR = 4;

/** struct xdp_dev_bulk_queue. */
class XdpDevBulkQueue {
  readonly q: Uint32Array;
  count: number;
  readonly dev: XdpXmitDev;
  onFlushList: boolean;
  constructor(dev: XdpXmitDev) {
    this.q = new Uint32Array(DEV_MAP_BULK_SIZE);
    this.count = 0;
    this.dev = dev;
    this.onFlushList = false;
  }
}

/** One CPU's redirect state: the devices it can reach, their bulk queues, the flush list. */
export class DevMapCpu {
  readonly stats: StatBlock;
  readonly #bqs: Map<number, XdpDevBulkQueue>;
  readonly #flushList: XdpDevBulkQueue[];
  #flushCount: number;
  readonly #pool: PagePool;
  readonly #mem: BpfMemory;
  #lastBq: XdpDevBulkQueue | null;
  /** Frames enqueued since the last flush (added to the shared counter by devFlush()). */
  #enqueued: number;

  constructor(mem: BpfMemory, statsAddr: number, pool: PagePool) {
    this.stats = StatBlock.at(mem, statsAddr, DEVMAP_STATS);
    this.#bqs = new Map();
    this.#flushList = [];
    this.#flushCount = 0;
    this.#pool = pool;
    this.#mem = mem;
    this.#lastBq = null;
    this.#enqueued = 0;
  }

  static initStats(mem: BpfMemory): number {
    return StatBlock.init(mem, DEVMAP_STATS).addr;
  }

  /** Makes `dev` reachable from this CPU (its per-CPU bulk queue, allocated at setup). */
  addDevice(dev: XdpXmitDev): void {
    this.#bqs.set(dev.ifindex, new XdpDevBulkQueue(dev));
    this.#flushList.length = this.#bqs.size;
  }

  /**
   * After XDP_REDIRECT: the target the program chose (bpf_redirect_map() left it in the
   * context) gets the frame. Returns 0, or -1 when the target is unknown (frame dropped).
   * @see xdp_do_redirect(), dev_map_enqueue()
   */
  xdpDoRedirect(h: number, ctx: number): number {
    // mem.dv, not a cached view: the owner may have grown the memory since this side was built.
    const ifindex = this.#mem.dv.getUint32(ctx + XDP_CTX_REDIRECT, true);
    // The last target's queue, without a lookup (a NAPI poll mostly redirects to one device).
    let bq = this.#lastBq;
    if (bq === null || bq.dev.ifindex !== ifindex) {
      const found = this.#bqs.get(ifindex);
      if (found === undefined) {
        this.stats.v[D_REDIRECT_ERR]++;
        this.#pool.recycleDirect(h);
        return -1;
      }
      bq = this.#lastBq = found;
    }
    this.bqEnqueue(bq, h);
    return 0;
  }

  /** @see bq_enqueue() */
  bqEnqueue(bq: XdpDevBulkQueue, h: number): void {
    if (bq.count === DEV_MAP_BULK_SIZE) {
      this.stats.v[D_BULK_FULL]++;
      this.bqXmitAll(bq, 0);
    }
    bq.q[bq.count++] = h;
    this.#enqueued++;
    if (!bq.onFlushList) {
      bq.onFlushList = true;
      this.#flushList[this.#flushCount++] = bq;
    }
  }

  /** @see bq_xmit_all() */
  bqXmitAll(bq: XdpDevBulkQueue, flags: number): void {
    const n = bq.count;
    if (n === 0) return;
    const sent = bq.dev.ndoXdpXmit(bq.q, n, flags);
    this.stats.v[D_DROPPED] += n - sent;
    bq.count = 0;
  }

  /** End of a NAPI poll: every queue on the flush list goes out with XDP_XMIT_FLUSH. @see __dev_flush() */
  devFlush(): void {
    this.stats.v[D_ENQUEUED] += this.#enqueued;
    this.#enqueued = 0;
    const list = this.#flushList;
    for (let i = 0; i < this.#flushCount; i++) {
      const bq = list[i]!;
      this.stats.v[D_FLUSH]++;
      this.bqXmitAll(bq, XDP_XMIT_FLUSH);
      bq.onFlushList = false;
    }
    this.#flushCount = 0;
  }
}
