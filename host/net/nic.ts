// The physical NIC that receives the generator's traffic (NIC-B in the RFC's
// topology): a driver's RX side with a native XDP hook and a NAPI poll of
// budget 64 (e.g. ixgbe_poll -> ixgbe_clean_rx_irq -> ixgbe_run_xdp). Frames
// arriving from the wire are written into buffers of the NIC's page_pool
// (the DMA: one counted copy of the bytes the wire carries) and queued on its
// RX descriptor ring; napiPoll() takes up to `budget` of them, runs the XDP
// program over the batch (runXdpBatch) and acts on each verdict: XDP_DROP
// recycles the buffer, XDP_TX sends it back on the wire, XDP_REDIRECT goes to
// xdp_do_redirect() (devmap bulk queues), XDP_PASS goes up the stack (here
// the bridge), anything else is dropped, counted and traced; at the end of
// the poll xdp_do_flush() sends the bulk queues.
import type { BpfMemory } from "../../shared/bpf/runtime/memory.ts";
import type { BpfVm } from "../../shared/bpf/runtime/vm.ts";
import type { BpfProg } from "../../shared/bpf/runtime/prog.ts";
import { runXdpBatch } from "../../shared/bpf/runtime/batch.ts";
import { XDP_ABORTED, XDP_DROP, XDP_PASS, XDP_REDIRECT, XDP_TX } from "../../shared/bpf/isa/uapi.ts";
import { StatBlock } from "../../shared/sched/stats.ts";
import { PtrRing } from "../../shared/net/ptr_ring.ts";
import type { PagePool } from "../../shared/net/page_pool.ts";
import type { DevMapCpu } from "./devmap.ts";
import type { TraceRing } from "./trace.ts";
import type { CaptureRing } from "./capture.ts";

/** NAPI_POLL_WEIGHT. */
export const NAPI_POLL_WEIGHT = 64;
/** RX descriptors of the NIC (ixgbe's default ring size). */
export const NIC_RX_RING_SIZE = 512;

export const NIC_STATS = [
  "rx_packets", // frames the wire delivered into a buffer
  "rx_missed", // frames lost on arrival: no free buffer or ring full (rx_missed_errors)
  "dma_copies", // bytes written into buffers by the "DMA", in frames
  "napi_polls",
  "xdp_drop", "xdp_tx", "xdp_pass", "xdp_redirect", "xdp_aborted", "xdp_unknown",
  "redirect_err",
  "tx_packets", // frames the stack sent out of this NIC (ndo_start_xmit: back on the wire)
] as const;
const N_RX = 0, N_MISSED = 1, N_DMA = 2, N_POLLS = 3, N_DROP = 4, N_TX = 5, N_PASS = 6, N_REDIRECT = 7, N_ABORTED = 8;
const N_UNKNOWN = 9, N_REDIRECT_ERR = 10, N_TX_PACKETS = 11;

/** Where XDP_PASS frames go (netif_receive_skb: the bridge port's rx handler here). */
export interface NetifReceive {
  netifReceiveSkb(h: number, ifindex: number): void;
}

export interface NicShared {
  ifindex: number;
  rxRing: number;
  stats: number;
}

export function nicInit(mem: BpfMemory, ifindex: number, ringSize = NIC_RX_RING_SIZE): NicShared {
  return { ifindex, rxRing: PtrRing.init(mem, ringSize).addr, stats: StatBlock.init(mem, NIC_STATS).addr };
}

export class Nic {
  readonly ifindex: number;
  readonly rxRing: PtrRing;
  readonly stats: StatBlock;
  readonly pool: PagePool;
  readonly #vm: BpfVm;
  readonly #trace: TraceRing;
  /** Native XDP program (ip link set dev ... xdpdrv), null when none. */
  xdpProg: BpfProg | null;
  redirect: DevMapCpu | null;
  stack: NetifReceive | null;
  /** Capture point "NIC rx": frames as they arrive from the wire, before XDP; null when off. */
  rxCapture: CaptureRing | null;
  readonly #handles: Uint32Array;
  readonly #ctxs: Uint32Array;
  readonly #verdicts: Uint32Array;
  /** Counts of the burst in progress (wireReceive), added to the shared counters by wireFlush(). */
  #burstRx = 0;
  #burstMissed = 0;
  #burstDma = 0;

  constructor(mem: BpfMemory, sh: NicShared, pool: PagePool, vm: BpfVm, trace: TraceRing) {
    this.ifindex = sh.ifindex;
    this.rxRing = PtrRing.at(mem, sh.rxRing);
    this.stats = StatBlock.at(mem, sh.stats, NIC_STATS);
    this.pool = pool;
    this.#vm = vm;
    this.#trace = trace;
    this.xdpProg = null;
    this.redirect = null;
    this.stack = null;
    this.rxCapture = null;
    this.#handles = new Uint32Array(NAPI_POLL_WEIGHT);
    this.#ctxs = new Uint32Array(NAPI_POLL_WEIGHT);
    this.#verdicts = new Uint32Array(NAPI_POLL_WEIGHT);
  }

  /**
   * A frame arrives from the wire: the `len` bytes at `srcAddr` (the sender's buffer in the
   * same memory) are written into a free buffer and queued for the next poll. Returns 0, or
   * -1 when it was missed (no buffer, or the RX ring full).
   */
  wireReceive(srcAddr: number, len: number): number {
    const pool = this.pool;
    const h = pool.alloc();
    if (h === 0) {
      this.#burstMissed++;
      return -1;
    }
    pool.dmaCopy(pool.dataOf(h), srcAddr, len);
    this.#burstDma++;
    if (this.rxCapture !== null) this.rxCapture.capture(pool.dataOf(h), len);
    pool.prepareU32(h, len, this.ifindex, 0);
    // The descriptor becomes visible to the poll with the burst: wireFlush().
    if (this.rxRing.produceNoPublish(h) !== 0) {
      this.#burstMissed++;
      pool.recycleDirect(h);
      return -1;
    }
    this.#burstRx++;
    return 0;
  }

  /** End of a burst from the wire: its descriptors become visible to napiPoll(), its counts to readers. */
  wireFlush(): void {
    this.rxRing.publish();
    const s = this.stats.v;
    s[N_RX] += this.#burstRx;
    s[N_MISSED] += this.#burstMissed;
    s[N_DMA] += this.#burstDma;
    this.#burstRx = this.#burstMissed = this.#burstDma = 0;
  }

  /** One NAPI poll: up to `budget` frames through XDP and on. Returns the frames processed. */
  napiPoll(budget: number): number {
    const s = this.stats.v, pool = this.pool, hs = this.#handles;
    const n = this.rxRing.consumeBatched(hs, 0, budget > NAPI_POLL_WEIGHT ? NAPI_POLL_WEIGHT : budget);
    s[N_POLLS]++;
    if (n === 0) return 0;
    const prog = this.xdpProg;
    if (prog === null) {
      for (let i = 0; i < n; i++) this.#pass(hs[i]!);
      return n;
    }
    const ctxs = this.#ctxs, v = this.#verdicts;
    for (let i = 0; i < n; i++) ctxs[i] = pool.ctxOf(hs[i]!);
    runXdpBatch(this.#vm, prog, ctxs, n, v);
    const redirect = this.redirect;
    let drop = 0, redir = 0;
    for (let i = 0; i < n; i++) {
      const h = hs[i]!, act = v[i]!;
      if (act === XDP_REDIRECT) {
        redir++;
        if (redirect === null || redirect.xdpDoRedirect(h, ctxs[i]!) !== 0) {
          s[N_REDIRECT_ERR]++;
          if (redirect === null) pool.recycleDirect(h);
          this.#trace.xdpException(prog.id, act, this.ifindex);
        }
      } else if (act === XDP_DROP) {
        drop++;
        pool.recycleDirect(h);
      } else if (act === XDP_PASS) {
        this.#pass(h);
      } else if (act === XDP_TX) {
        // Back out on the wire towards NIC-A (whose receive side is not modelled).
        s[N_TX]++;
        pool.recycleDirect(h);
      } else {
        if (act === XDP_ABORTED) s[N_ABORTED]++;
        else s[N_UNKNOWN]++;
        this.#trace.xdpException(prog.id, act, this.ifindex);
        pool.recycleDirect(h);
      }
    }
    s[N_DROP] += drop;
    s[N_REDIRECT] += redir;
    // xdp_do_flush(): the devmap bulk queues go out once per poll.
    if (redirect !== null) redirect.devFlush();
    return n;
  }

  /** ndo_start_xmit: the frame leaves on the wire (towards NIC-A, not modelled). */
  ndoStartXmit(h: number): number {
    this.stats.v[N_TX_PACKETS]++;
    this.pool.recycleDirect(h);
    return 0;
  }

  #pass(h: number): void {
    this.stats.v[N_PASS]++;
    const st = this.stack;
    if (st === null) this.pool.recycleDirect(h);
    else st.netifReceiveSkb(h, this.ifindex);
  }
}
