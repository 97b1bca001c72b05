// The tap device of one guest NIC, datapath half: drivers/net/tun.c with the
// virtio_net XDP offload RFC's changes (patches 05, 08-10 of 18).
//
// Two sides share the tfile's tx ptr_ring (host -> guest direction):
// - TunXmit, in the producer's thread: tun_net_xmit() (one skb, producer lock
//   and sk_data_ready() per packet: Case 2) and tun_xdp_xmit() (a bulk of
//   xdp_frames under one producer lock, sk_data_ready() only with
//   XDP_XMIT_FLUSH: Case 1). Entries are frame handles, tagged with
//   TUN_XDP_FLAG for xdp_frames as tun tags its ring pointers.
// - TunRecv, in the vhost thread: the RFC's tun_recvmsg(TUN_MSG_CONSUME_PKTS)
//   -> tun_consume_packets(): up to 64 entries off the ring, the offloaded
//   program on each (one runXdpBatch call), XDP_DROP returns the frame,
//   XDP_TX re-injects it into the tap's Rx path (tun_xdp_one(): the tap's own
//   Rx XDP program, the RFC's dropper), XDP_PASS entries go back to vhost for
//   the guest; XDP_REDIRECT (not handled by the RFC), XDP_ABORTED and unknown
//   actions are dropped, counted and traced (xdp:xdp_exception).
// The skb of Case 2 is the frame itself here (build_skb() around the page, no
// copy); do_xdp_generic() needs no skb_copy() or head expansion because every
// frame keeps XDP_PACKET_HEADROOM, so no payload is copied on this path.
import type { BpfMemory } from "../../shared/bpf/runtime/memory.ts";
import type { BpfVm } from "../../shared/bpf/runtime/vm.ts";
import type { BpfProg } from "../../shared/bpf/runtime/prog.ts";
import { runXdpBatch } from "../../shared/bpf/runtime/batch.ts";
import { XDP_ABORTED, XDP_DROP, XDP_MD_INGRESS_IFINDEX, XDP_MD_RX_QUEUE_INDEX, XDP_PASS, XDP_REDIRECT, XDP_TX } from "../../shared/bpf/isa/uapi.ts";
import { StatBlock } from "../../shared/sched/stats.ts";
import { PtrRing } from "../../shared/net/ptr_ring.ts";
import type { PagePool } from "../../shared/net/page_pool.ts";
import type { VhostDev } from "./vhost.ts";
import type { TraceRing } from "./trace.ts";
import type { XdpXmitDev } from "./devmap.ts";
import type { CaptureRing } from "./capture.ts";

/** Tag of xdp_frame entries in the ring (tun's TUN_XDP_FLAG, 0x1UL). */
export const TUN_XDP_FLAG = 1;
/** ndo_xdp_xmit flag: flush (and notify) after this bulk (include/net/xdp.h). */
export const XDP_XMIT_FLUSH = 1;
/** The RFC's MAX_TAP_BATCH (= VHOST_NET_BATCH): entries one TUN_MSG_CONSUME_PKTS takes. */
export const MAX_TAP_BATCH = 64;
/** Default tx_queue_len of a tun device: the tx ring's size (tun_attach: ptr_ring_init(dev->tx_queue_len)). */
export const TUN_TX_QUEUE_LEN = 1000;

/** Producer-side counters. */
export const TUN_XMIT_STATS = [
  "tx_packets", // entries produced into the ring
  "tx_dropped", // ring full: tail drop (frame returned)
  "net_xmit", // tun_net_xmit calls
  "xdp_xmit", // tun_xdp_xmit calls (bulks)
  "xdp_xmit_flush", // ... with XDP_XMIT_FLUSH
  "sk_data_ready", // wake-up attempts made (per packet in tun_net_xmit, per flush in tun_xdp_xmit)
] as const;
const X_TX_PACKETS = 0, X_TX_DROPPED = 1, X_NET_XMIT = 2, X_XDP_XMIT = 3, X_XDP_XMIT_FLUSH = 4, X_SK_DATA_READY = 5;

/** Consumer-side counters (vhost thread). */
export const TUN_RECV_STATS = [
  "consume_calls", // TUN_MSG_CONSUME_PKTS recvmsg calls
  "consumed", // entries taken off the ring
  "consume_empty", // calls that found the ring empty
  "batch_max",
  "xdp_frames", // entries that were xdp_frames (Case 1) rather than skbs (Case 2)
  "copies", // payload copies on this side (none: frames move by handle)
  // Sizes of the non-empty batches, log2 buckets: 1, 2-3, 4-7, 8-15, 16-31, 32-63, 64.
  "batch_1", "batch_2_3", "batch_4_7", "batch_8_15", "batch_16_31", "batch_32_63", "batch_64",
] as const;
export const R_CONSUME_CALLS = 0, R_CONSUMED = 1, R_CONSUME_EMPTY = 2, R_BATCH_MAX = 3, R_XDP_FRAMES = 4, R_COPIES = 5;
const R_BATCH_HIST = 6;

/** Counters of the offloaded program's runs and the tap's Rx path (written by the thread of the placement). */
export const TUN_XDP_STATS = [
  "runs", // program invocations (batches)
  "off_drop", "off_tx", "off_pass", "off_redirect", "off_aborted", "off_unknown",
  "rxp_drop", "rxp_pass", "rxp_tx", "rxp_redirect", "rxp_aborted", "rxp_unknown",
] as const;
const T_RUNS = 0, T_OFF_DROP = 1, T_OFF_TX = 2, T_OFF_PASS = 3, T_OFF_REDIRECT = 4, T_OFF_ABORTED = 5, T_OFF_UNKNOWN = 6;
const T_RXP_DROP = 7, T_RXP_PASS = 8, T_RXP_TX = 9, T_RXP_REDIRECT = 10, T_RXP_ABORTED = 11, T_RXP_UNKNOWN = 12;

/**
 * Where the offloaded program runs: the RFC's choice, tun_recvmsg() in vhost's context, or
 * one of the two it rejected, in the producer's (bh) context: tun_net_xmit() per skb,
 * tun_xdp_xmit() per bulk of xdp_frames.
 */
export const TUN_XDP_IN_RECVMSG = 0;
export const TUN_XDP_IN_NET_XMIT = 1;
export const TUN_XDP_IN_XDP_XMIT = 2;
export const TUN_XDP_PLACEMENTS = ["recvmsg", "net_xmit", "xdp_xmit"] as const;

/** The shared parts of one tun queue: its tx ring and both counter blocks. */
export interface TunShared {
  ifindex: number;
  ring: number;
  xmitStats: number;
  recvStats: number;
  xdpStats: number;
}

/** tun_attach() datapath state: allocates the ring and counters (setup time, owner thread). */
export function tunInit(mem: BpfMemory, ifindex: number, txQueueLen = TUN_TX_QUEUE_LEN): TunShared {
  return {
    ifindex, ring: PtrRing.init(mem, txQueueLen).addr,
    xmitStats: StatBlock.init(mem, TUN_XMIT_STATS).addr, recvStats: StatBlock.init(mem, TUN_RECV_STATS).addr,
    xdpStats: StatBlock.init(mem, TUN_XDP_STATS).addr,
  };
}

/** The socket wait queue entry sk_data_ready() reaches: vhost's RX poll. */
export interface TunWaiter {
  dev: VhostDev;
  id: number;
}

/**
 * The offloaded program and the tap's Rx-path program on a batch of entries, in whichever
 * thread the placement puts them (the vhost thread for recvmsg, the producer's otherwise).
 * Frames leave through `free`: the pool's recycle ring from the vhost thread, the allocating
 * thread's cache in the producer's (page_pool_recycle_direct in NAPI context).
 */
export class TunXdp {
  readonly ifindex: number;
  readonly stats: StatBlock;
  readonly #pool: PagePool;
  readonly #vm: BpfVm;
  readonly #trace: TraceRing;
  readonly #inAllocContext: boolean;
  /** The program the guest offloaded, null when none. */
  offloadProg: BpfProg | null;
  /** The tap's own Rx-path XDP program (native XDP on the tap), null when none. */
  rxProg: BpfProg | null;
  /** Capture point "tap rx": frames entering the tap's Rx path (XDP_TX of the offloaded program); null when off. */
  rxCapture: CaptureRing | null;
  readonly #ctxs: Uint32Array;
  readonly #verdicts: Uint32Array;
  readonly #tx: Uint32Array;
  /** Frames to return to the pool at the end of this batch (outside the allocating thread). */
  readonly #ret: Uint32Array;
  #nRet: number;

  constructor(mem: BpfMemory, sh: TunShared, pool: PagePool, vm: BpfVm, trace: TraceRing, inAllocContext: boolean) {
    this.ifindex = sh.ifindex;
    this.stats = StatBlock.at(mem, sh.xdpStats, TUN_XDP_STATS);
    this.#pool = pool;
    this.#vm = vm;
    this.#trace = trace;
    this.#inAllocContext = inAllocContext;
    this.offloadProg = null;
    this.rxProg = null;
    this.rxCapture = null;
    this.#ctxs = new Uint32Array(MAX_TAP_BATCH);
    this.#verdicts = new Uint32Array(MAX_TAP_BATCH);
    this.#tx = new Uint32Array(MAX_TAP_BATCH);
    this.#ret = new Uint32Array(MAX_TAP_BATCH);
    this.#nRet = 0;
  }

  #free(h: number): void {
    if (this.#inAllocContext) this.#pool.recycleDirect(h);
    else this.#ret[this.#nRet++] = h;
  }

  /** The batch's frames go back to the pool in one bulk (xdp_return_frame_bulk at the end of the batch). */
  #flushFree(): void {
    if (this.#nRet > 0) {
      this.#pool.putBulk(this.#ret, this.#nRet);
      this.#nRet = 0;
    }
  }

  /**
   * Runs the offloaded program on entries[0..n) (n <= 64; tags ignored): XDP_DROP frees the
   * frame, XDP_TX sends it into the tap's Rx path, XDP_PASS writes it (untagged) to out[0..),
   * anything else is dropped, counted and traced. Returns the number passed.
   * @see tun_consume_packets() (RFC 08/18)
   */
  run(entries: Uint32Array, n: number, out: Uint32Array): number {
    const s = this.stats.v, prog = this.offloadProg!;
    s[T_RUNS]++;
    // The program sees the frame as received on the tap (xdp.rxq = &tfile->xdp_rxq).
    const pool = this.#pool, ctxs = this.#ctxs, dv = this.#vm.mem.dv;
    for (let i = 0; i < n; i++) {
      const c = pool.ctxOf(entries[i]!);
      ctxs[i] = c;
      dv.setUint32(c + XDP_MD_INGRESS_IFINDEX, this.ifindex, true);
      dv.setUint32(c + XDP_MD_RX_QUEUE_INDEX, 0, true);
    }
    const v = this.#verdicts;
    runXdpBatch(this.#vm, prog, ctxs, n, v);
    let passed = 0, nTx = 0;
    const tx = this.#tx;
    for (let i = 0; i < n; i++) {
      const h = entries[i]! & ~TUN_XDP_FLAG;
      const act = v[i]!;
      if (act === XDP_DROP) {
        s[T_OFF_DROP]++;
        this.#free(h);
      } else if (act === XDP_PASS) {
        s[T_OFF_PASS]++;
        out[passed++] = h;
      } else if (act === XDP_TX) {
        s[T_OFF_TX]++;
        tx[nTx++] = h;
      } else {
        if (act === XDP_REDIRECT) s[T_OFF_REDIRECT]++;
        else if (act === XDP_ABORTED) s[T_OFF_ABORTED]++;
        else s[T_OFF_UNKNOWN]++;
        this.#trace.xdpException(prog.id, act, this.ifindex);
        this.#free(h);
      }
    }
    if (nTx > 0) this.tunXdpOne(tx, nTx);
    this.#flushFree();
    return passed;
  }

  /**
   * XDP_TX of the offloaded program: the frames enter the tap's Rx path, which runs the tap's
   * own XDP program on them (the RFC's dropper) as tun_xdp_one() does for each; one batch
   * call here. Without a program, or on XDP_PASS, the frame would go up the host stack
   * (not modelled yet: counted under rxp_pass and freed).
   * @see tun_xdp_one() (RFC 09/18, 10/18)
   */
  tunXdpOne(frames: Uint32Array, n: number): void {
    const s = this.stats.v, pool = this.#pool, prog = this.rxProg;
    const cap = this.rxCapture;
    if (cap !== null) for (let i = 0; i < n; i++) cap.captureXdp(pool.ctxOf(frames[i]!));
    if (prog === null) {
      for (let i = 0; i < n; i++) this.#free(frames[i]!);
      s[T_RXP_PASS] += n;
      this.#flushFree();
      return;
    }
    const ctxs = this.#ctxs, dv = this.#vm.mem.dv;
    for (let i = 0; i < n; i++) {
      const c = pool.ctxOf(frames[i]!);
      ctxs[i] = c;
      dv.setUint32(c + XDP_MD_INGRESS_IFINDEX, this.ifindex, true);
    }
    const v = this.#verdicts;
    runXdpBatch(this.#vm, prog, ctxs, n, v);
    for (let i = 0; i < n; i++) {
      const act = v[i]!;
      if (act === XDP_DROP) s[T_RXP_DROP]++;
      else if (act === XDP_PASS) s[T_RXP_PASS]++;
      else {
        // XDP_TX back out of the tap and redirects from the tap are not modelled yet: dropped, traced.
        if (act === XDP_TX) s[T_RXP_TX]++;
        else if (act === XDP_REDIRECT) s[T_RXP_REDIRECT]++;
        else if (act === XDP_ABORTED) s[T_RXP_ABORTED]++;
        else s[T_RXP_UNKNOWN]++;
        this.#trace.xdpException(prog.id, act, this.ifindex);
      }
      this.#free(frames[i]!);
    }
    this.#flushFree();
  }
}

export class TunXmit implements XdpXmitDev {
  readonly ifindex: number;
  readonly ring: PtrRing;
  readonly stats: StatBlock;
  readonly #pool: PagePool;
  /** vhost's poll on this socket (vhost_net_enable_vq added it), null when no reader is attached. */
  waiter: TunWaiter | null;
  /** TUN_XDP_IN_NET_XMIT or TUN_XDP_IN_XDP_XMIT: the offloaded program runs here (xdp set); else recvmsg. */
  placement: number;
  /** The program runner for the producer-side placements, null otherwise. */
  xdp: TunXdp | null;
  /** Capture point "tap tx": frames the tap sends towards the guest (entering the ring); null when off. */
  txCapture: CaptureRing | null;
  readonly #one: Uint32Array;
  readonly #pass: Uint32Array;

  constructor(mem: BpfMemory, sh: TunShared, pool: PagePool) {
    this.ifindex = sh.ifindex;
    this.ring = PtrRing.at(mem, sh.ring);
    this.stats = StatBlock.at(mem, sh.xmitStats, TUN_XMIT_STATS);
    this.#pool = pool;
    this.waiter = null;
    this.placement = TUN_XDP_IN_RECVMSG;
    this.xdp = null;
    this.txCapture = null;
    this.#one = new Uint32Array(1);
    this.#pass = new Uint32Array(MAX_TAP_BATCH);
  }

  #capture(h: number): void {
    this.txCapture!.captureXdp(this.#pool.ctxOf(h));
  }

  /** sock_def_readable(): wakes whoever waits on the socket. */
  skDataReady(): void {
    this.stats.v[X_SK_DATA_READY]++;
    const w = this.waiter;
    if (w !== null) w.dev.vhostPollWakeup(w.id);
  }

  /**
   * ndo_start_xmit for an skb (frame `h`): produce under the producer lock, then
   * sk_data_ready(); on a full ring the skb is dropped (tx_dropped). With the net_xmit
   * placement the offloaded program runs first, here, and only XDP_PASS goes on.
   * Returns NETDEV_TX_OK (0). @see tun_net_xmit()
   */
  tunNetXmit(h: number): number {
    const s = this.stats.v;
    s[X_NET_XMIT]++;
    const xdp = this.xdp;
    if (xdp !== null && this.placement === TUN_XDP_IN_NET_XMIT) {
      this.#one[0] = h;
      if (xdp.run(this.#one, 1, this.#one) === 0) return 0;
      h = this.#one[0]!;
    }
    // Captured before it is produced: once in the ring the consumer may recycle it at once.
    // (One producer thread: a ring that is not full now takes the entry.)
    if (this.txCapture !== null && !this.ring.isFull()) this.#capture(h);
    if (this.ring.produceLocked(h) !== 0) {
      s[X_TX_DROPPED]++;
      this.#pool.recycleDirect(h);
      return 0;
    }
    s[X_TX_PACKETS]++;
    this.skDataReady();
    return 0;
  }

  /**
   * ndo_xdp_xmit: frames[0..n) under one producer lock; frames that do not fit are returned
   * (xdp_return_frame_rx_napi) and counted; sk_data_ready() only with XDP_XMIT_FLUSH. With
   * the xdp_xmit placement the offloaded program runs on the bulk first and only XDP_PASS
   * frames are produced. Returns the number taken. @see tun_xdp_xmit(), __tun_xdp_flush_tfile()
   */
  tunXdpXmit(frames: Uint32Array, n: number, flags: number): number {
    const s = this.stats.v, ring = this.ring;
    s[X_XDP_XMIT]++;
    let src = frames, m = n;
    const xdp = this.xdp;
    if (xdp !== null && this.placement === TUN_XDP_IN_XDP_XMIT && n > 0) {
      m = xdp.run(frames, n, this.#pass);
      src = this.#pass;
    }
    let drops = 0;
    if (m > 0) {
      ring.producerLock();
      for (let i = 0; i < m; i++) {
        const h = src[i]!;
        if (this.txCapture !== null && !ring.isFull()) this.#capture(h);
        if (ring.produceNoPublish(h | TUN_XDP_FLAG) !== 0) {
          this.#pool.recycleDirect(h);
          drops++;
        }
      }
      ring.producerUnlock();
    }
    s[X_TX_PACKETS] += m - drops;
    s[X_TX_DROPPED] += drops;
    if ((flags & XDP_XMIT_FLUSH) !== 0) {
      s[X_XDP_XMIT_FLUSH]++;
      this.skDataReady();
    }
    return n - drops;
  }

  /** net_device_ops.ndo_start_xmit of the tap (a bridge port). */
  ndoStartXmit(h: number): number {
    return this.tunNetXmit(h);
  }

  /** net_device_ops.ndo_xdp_xmit of the tap. */
  ndoXdpXmit(frames: Uint32Array, n: number, flags: number): number {
    return this.tunXdpXmit(frames, n, flags);
  }
}

export class TunRecv {
  readonly ifindex: number;
  readonly ring: PtrRing;
  readonly stats: StatBlock;
  /** The program runner for the recvmsg placement (its offloadProg null for the others). */
  readonly xdp: TunXdp;
  readonly #batch: Uint32Array;

  constructor(mem: BpfMemory, sh: TunShared, pool: PagePool, vm: BpfVm, trace: TraceRing) {
    this.ifindex = sh.ifindex;
    this.ring = PtrRing.at(mem, sh.ring);
    this.stats = StatBlock.at(mem, sh.recvStats, TUN_RECV_STATS);
    this.xdp = new TunXdp(mem, sh, pool, vm, trace, false);
    this.#batch = new Uint32Array(MAX_TAP_BATCH);
  }

  /** True when the ring has an entry (tun_peek_len() != 0, for vhost's busy poll and re-arm). */
  hasData(): boolean {
    return !this.ring.isEmpty();
  }

  /**
   * tun_recvmsg(TUN_MSG_CONSUME_PKTS, num): takes up to `num` (<= 64) entries and runs the
   * offloaded program on them (recvmsg placement); writes the entries that go on to the guest
   * (XDP_PASS, or all of them without a program here) to out[0..) and returns their count.
   * @see tun_consume_packets() (RFC 08/18)
   */
  tunConsumePackets(out: Uint32Array, num: number): number {
    const s = this.stats.v, batch = this.#batch;
    s[R_CONSUME_CALLS]++;
    const n = this.ring.consumeBatched(batch, 0, num > MAX_TAP_BATCH ? MAX_TAP_BATCH : num);
    if (n === 0) {
      s[R_CONSUME_EMPTY]++;
      return 0;
    }
    if (n > s[R_BATCH_MAX]!) s[R_BATCH_MAX] = n;
    s[R_BATCH_HIST + 31 - Math.clz32(n)]++;
    let xdpFrames = 0;
    for (let i = 0; i < n; i++) xdpFrames += batch[i]! & TUN_XDP_FLAG;
    s[R_XDP_FRAMES] += xdpFrames;
    if (this.xdp.offloadProg === null) {
      for (let i = 0; i < n; i++) out[i] = batch[i]! & ~TUN_XDP_FLAG;
      s[R_CONSUMED] += n;
      return n;
    }
    const passed = this.xdp.run(batch, n, out);
    // Counted once the program's verdicts are applied: the control plane's drain waits for
    // consumed === tx_packets and then reads the fates (a first run may compile the JIT code).
    s[R_CONSUMED] += n;
    return passed;
  }
}
