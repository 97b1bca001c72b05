// The host datapath of the RFC's test topology, owner side (main thread):
// lays out the shared structures in the host kernel's shared BPF memory,
// loads the programs (NIC-B's native XDP, the program offloaded to the tap,
// the tap's Rx-path dropper), starts the vhost worker thread and the producer
// ("softirq") thread, waits for the traffic to drain, stops the worker and
// gathers every stage's counters. Architecture: host/net/README.md.
import { readFileSync } from "node:fs";
import path from "node:path";
import { once } from "node:events";
import { MessageChannel, type MessagePort, type Worker } from "node:worker_threads";
import { BpfKernel } from "../../shared/bpf/syscall.ts";
import { loadObject } from "../../shared/bpf/libbpf/libbpf.ts";
import { openObject } from "../../shared/bpf/libbpf/object.ts";
import type { BpfProg } from "../../shared/bpf/runtime/prog.ts";
import { BPF_MAP_TYPE_DEVMAP } from "../../shared/bpf/isa/uapi.ts";
import { exportBpfThread } from "../../shared/bpf/thread_view.ts";
import { spawnTsWorker } from "../../shared/sched/thread_spawn.ts";
import { FutexWaker, stopTask } from "../../shared/sched/futex.ts";
import { withDeadline } from "../../shared/sched/deadline.ts";
import { TASK_INTERRUPTIBLE } from "../../shared/sched/sched.ts";
import { StatBlock } from "../../shared/sched/stats.ts";
import { EBUSY, ECANCELED, EINVAL, ETIMEDOUT, KernelError } from "../../shared/errno.ts";
import { PagePool } from "../../shared/net/page_pool.ts";
import { TraceRing, type TraceRecord } from "./trace.ts";
import { NIC_STATS, nicInit } from "./nic.ts";
import { TUN_RECV_STATS, TUN_XDP_IN_RECVMSG, TUN_XDP_PLACEMENTS, TUN_XDP_STATS, TUN_XMIT_STATS, tunInit } from "./tun.ts";
import { VhostDev, VHOST_WAKER_STATS, VHOST_WORK_CTL, VHOST_WORKER_STATS, VW_STATE, VW_STOP } from "./vhost.ts";
import { VhostNet, VHOST_NET_STATS, VHOST_TX_POOL_FRAMES, vhostVirtioQueues } from "./vhost_net.ts";
import { VhostUserRelay } from "./vhost_user.ts";
import { ShmFrameQueue } from "../../shared/virtio/shm_frame_queue.ts";
import { GUEST_THREAD_STATS, GuestThread, guestThreadInit } from "../../guest/net/virtnet_thread.ts";
import type net from "node:net";
import { DEVMAP_STATS, DevMapCpu } from "./devmap.ts";
import { BRIDGE_STATS, Bridge } from "./bridge.ts";
import { PKTGEN_STATS, pktgenInit, pktgenInitPcap, type PktgenConfig } from "./pktgen.ts";
import { CaptureFile, CaptureRing } from "./capture.ts";
import { readPcap, type PcapPacket } from "../../shared/net/pcap.ts";
import type { DatapathShared } from "./datapath_shared.ts";
import type { SoftirqThreadData } from "./softirq_worker.ts";
import type { VhostThreadData } from "./vhost_worker.ts";

export const NIC_IFINDEX = 2;
export const TAP_IFINDEX = 3;

export interface DatapathOptions {
  /** Directory of the .o files. */
  programsDir: string;
  /** NIC-B's native XDP program (Case 1: xdp_redirect_map.o, slot 0 -> the tap), null for Case 2. */
  nicProg: string | null;
  /** The program the guest offloaded to the tap (run in tun_recvmsg), null for none. */
  offloadProg: string | null;
  /** The tap's own Rx-path XDP program (the RFC's dropper of XDP_TX'ed frames), null for none. */
  rxProg: string | null;
  /** Where the offloaded program runs: "recvmsg" (the RFC's choice, default), "net_xmit" or "xdp_xmit". */
  placement?: (typeof TUN_XDP_PLACEMENTS)[number];
  count: number;
  /**
   * runDatapath(): packets sent first and not measured (0: none): every thread's code is then
   * optimised by V8, as a long pktgen run's is, and the counters are read once they drained.
   */
  warmup?: number;
  size?: number;
  flows?: number;
  ratePps?: number;
  lineBps?: number;
  busyloopTimeoutNs?: number;
  poolFrames?: number;
  /** The tap's tx_queue_len: its tx ptr_ring's size (default TUN_TX_QUEUE_LEN, 1000, what `ip tuntap add` gives). */
  txQueueLen?: number;
  timeoutMs?: number;
  /** Write nic_rx.pcap, tap_tx.pcap, tap_rx.pcap and guest_rx.pcap here. */
  captureDir?: string;
  /** Replay the packets of this pcap file instead of generating `flows` x `size`. */
  pcap?: string;
  /** NIC-B's and the tap's ifindex in the kernel (default NIC_IFINDEX, TAP_IFINDEX). */
  ifindex?: { nic: number; tap: number };
  /**
   * The guest behind the tap in runDatapath(): a guest thread in this process (default) with
   * `guestProg` as its native XDP program, or none (nothing posts receive buffers: only what
   * the offloaded program consumes leaves tun's ring).
   */
  guest?: "thread" | "none";
  /** The guest's DRV-slot XDP program (a .o in programsDir), the non-offload mode. */
  guestProg?: string | null;
}

/** The capture points and their files. */
export const CAPTURE_POINTS = ["nic_rx", "tap_tx", "tap_rx", "guest_rx"] as const;

/** Every packet's final fate; sent = dropped + tx + passed + errors. */
export interface DatapathFates {
  sent: number;
  /** XDP_DROP of the measured program (NIC-B's or the offloaded one). */
  dropped: number;
  /** XDP_TX of the offloaded program (then seen by the tap's Rx path), or of NIC-B's program. */
  tx: number;
  /** Handed on up the guest's stack (XDP_PASS of the guest's program, or every packet without one); without the guest's counters: copied into the guest. */
  passed: number;
  /**
   * Every other fate: missed at the NIC, tail drops, redirect errors, aborted/unknown actions, packets too big
   * for the guest's buffers or still waiting in vhost for a guest buffer, sent out of NIC-B by the bridge,
   * the guest program's other verdicts and XDP_TX that found the guest's send queue full.
   * (What the tap's Rx path does with XDP_TX'ed frames is under tx.)
   */
  errors: number;
}

export interface DatapathResult {
  /** Every counter at the end (warm-up included). */
  counters: Record<string, Record<string, number>>;
  /** The counters when the warm-up had drained (null without one): subCounters(counters, this) is the measured run. */
  warmupCounters: Record<string, Record<string, number>> | null;
  /** Fates of the measured packets (the warm-up's are not counted). */
  fates: DatapathFates;
  /** The offloaded program's rxcnt map (xdp1/xdp2), protocol -> count, when it has one. */
  rxcnt: Map<number, number> | null;
  trace: TraceRecord[];
  producerWallMs: number;
  /** CPU time of the producer thread during its run (ms; NaN without /proc). */
  producerCpuMs: number;
  /** From the first measured packet until the vhost worker drained the last (ms): the producer's run plus the drain. */
  wallMs: number;
  /** The vhost thread's loop counts, with its CPU time (cpuMs). */
  vhostLoop: Record<string, number>;
  /** CPU time of the guest thread (ms; 0 without one). */
  guestCpuMs: number;
}

/** The vhost-net device's view of the guest's rings (QEMU's VIRTIO_CONFIG_S_NEEDS_RESET and its message). */
export interface VirtioState {
  /** virtio_error() ran and the guest has not reset the device since. */
  broken: boolean;
  /** The last virtio_error() message. */
  reason: string;
  errors: number;
}

/** Lays out the shared structures of one datapath in `kernel`'s memory (owner thread, setup time). */
export function layoutDatapath(kernel: BpfKernel, size: number, flows: number, poolFrames: number,
  opts: { capture?: boolean; pcap?: PcapPacket[]; txQueueLen?: number; ifindex?: { nic: number; tap: number } } = {}): DatapathShared {
  const mem = kernel.mem;
  const cap = () => (opts.capture === true ? CaptureRing.init(mem).addr : 0);
  const pool = PagePool.create(mem, poolFrames);
  const dev = VhostDev.init(mem);
  return {
    memory: mem.memory, pool: pool.addr, trace: TraceRing.init(mem, 256).addr,
    nic: nicInit(mem, opts.ifindex?.nic ?? NIC_IFINDEX), tun: tunInit(mem, opts.ifindex?.tap ?? TAP_IFINDEX, opts.txQueueLen),
    vhost: { ...dev, netStats: VhostNet.initStats(mem), ctlStats: StatBlock.init(mem, VHOST_WAKER_STATS).addr },
    virtio: {
      ...vhostVirtioQueues(mem), txPool: PagePool.create(mem, VHOST_TX_POOL_FRAMES).addr,
      sendStats: StatBlock.init(mem, TUN_XDP_STATS).addr, kickStats: StatBlock.init(mem, VHOST_WAKER_STATS).addr,
    },
    devmapStats: DevMapCpu.initStats(mem), bridgeStats: Bridge.initStats(mem),
    pktgen: opts.pcap !== undefined ? pktgenInitPcap(mem, opts.pcap) : pktgenInit(mem, size, flows),
    captures: { nicRx: cap(), tapTx: cap(), tapRx: cap(), guestRx: cap() },
  };
}

/** Every counter block of a datapath, by stage (API edge). */
export function readCounters(kernel: BpfKernel, sh: DatapathShared): Record<string, Record<string, number>> {
  const m = kernel.mem;
  return {
    pktgen: StatBlock.at(m, sh.pktgen.stats, PKTGEN_STATS).read(),
    nic: StatBlock.at(m, sh.nic.stats, NIC_STATS).read(),
    devmap: StatBlock.at(m, sh.devmapStats, DEVMAP_STATS).read(),
    bridge: StatBlock.at(m, sh.bridgeStats, BRIDGE_STATS).read(),
    tun_xmit: StatBlock.at(m, sh.tun.xmitStats, TUN_XMIT_STATS).read(),
    tun_recv: StatBlock.at(m, sh.tun.recvStats, TUN_RECV_STATS).read(),
    tun_xdp: StatBlock.at(m, sh.tun.xdpStats, TUN_XDP_STATS).read(),
    vhost_wakers: StatBlock.at(m, sh.vhost.wakerStats, VHOST_WAKER_STATS).read(),
    vhost_ctl: StatBlock.at(m, sh.vhost.ctlStats, VHOST_WAKER_STATS).read(),
    vhost_worker: StatBlock.at(m, sh.vhost.workerStats, VHOST_WORKER_STATS).read(),
    vhost_net: StatBlock.at(m, sh.vhost.netStats, VHOST_NET_STATS).read(),
    tun_sendmsg: StatBlock.at(m, sh.virtio.sendStats, TUN_XDP_STATS).read(),
    vhost_kicks: StatBlock.at(m, sh.virtio.kickStats, VHOST_WAKER_STATS).read(),
  };
}

/**
 * Final fates from the counters (after the datapath drained). With a `guest` stage (the guest
 * thread's counters) the packets copied into the guest are followed through its program.
 */
/**
 * a - b for every counter: what moved between two readings (a run's counts, or the measured run's
 * after a drained warm-up). tun's batch_max stays a's (a maximum, not a count); other gauges (ring
 * indices) come out meaningless, and datapathFates() reads none.
 */
export function subCounters(a: Record<string, Record<string, number>>, b: Record<string, Record<string, number>>):
  Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  for (const [g, block] of Object.entries(a)) {
    const o: Record<string, number> = {}, bb = b[g] ?? {};
    for (const [k, v] of Object.entries(block)) o[k] = k === "batch_max" ? v : v - (bb[k] ?? 0);
    out[g] = o;
  }
  return out;
}

export function datapathFates(c: Record<string, Record<string, number>>): DatapathFates {
  const nic = c.nic!, tr = c.tun_xdp!, tx = c.tun_xmit!, br = c.bridge!, vn = c.vhost_net!, g = c.guest;
  let dropped = nic.xdp_drop! + tr.off_drop!;
  let txd = nic.xdp_tx! + tr.off_tx!;
  // Entries vhost took for the guest and has not placed yet (no guest buffer, or a broken ring),
  // and entries still in tun's ring: in flight.
  const waiting = vn.rx_buf_entries! - vn.rx_packets! - vn.rx_too_big! - vn.rx_dropped! + tx.tx_packets! - c.tun_recv!.consumed!;
  let passed = vn.rx_packets!;
  // tun_xdp_xmit's drops are counted by tun (tx_dropped) and again by the devmap (xmit_dropped): once here.
  // Bridge copies (flooding to several ports) add packets, so they are taken off the errors.
  let errors = nic.rx_missed! + nic.xdp_aborted! + nic.xdp_unknown! + nic.redirect_err! + nic.tx_packets! +
    br.dropped! + tx.tx_dropped! + tr.off_redirect! + tr.off_aborted! + tr.off_unknown! + vn.rx_too_big! +
    vn.rx_dropped! + waiting - br.copies!;
  if (g !== undefined) {
    // Copied into the guest: each packet's fate is its program's (received but not yet polled: in flight).
    const unpolled = vn.rx_packets! - g.rx_queue_0_packets!;
    dropped += g.xdp_drop!;
    txd += g.xdp_tx!;
    passed = g.xdp_pass!;
    errors += g.xdp_other! + unpolled;
  }
  return { sent: c.pktgen!.sent!, dropped, tx: txd, passed, errors };
}

function loadProg(kernel: BpfKernel, dir: string, obj: string): BpfProg {
  const file = path.join(dir, obj);
  const loaded = loadObject(kernel, openObject(readFileSync(file), { file }));
  const p = loaded.progList[0];
  if (p === undefined) throw new KernelError(EINVAL, `${obj}: no program`);
  return p;
}

/** The host kernel of one datapath with its programs loaded and its structures laid out (owner thread). */
export interface DatapathSetup {
  kernel: BpfKernel;
  sh: DatapathShared;
  nicProg: BpfProg | null;
  offload: BpfProg | null;
  rx: BpfProg | null;
}

/** Creates the host kernel (shared memory), loads the programs, fills the devmap, lays out the datapath. */
export function setupDatapath(o: DatapathOptions): DatapathSetup {
  const kernel = new BpfKernel({ sharedMemory: true });
  kernel.addNetdev(NIC_IFINDEX, "eth1");
  kernel.addNetdev(TAP_IFINDEX, "tap0");
  const nicProg = o.nicProg === null ? null : loadProg(kernel, o.programsDir, o.nicProg);
  if (nicProg !== null) {
    // The redirect target: slot 0 of the program's devmap is the tap (xdp_redirect_map_user's setup).
    for (const m of nicProg.usedMaps) {
      if (m.mapType !== BPF_MAP_TYPE_DEVMAP) continue;
      const rc = m.sysUpdate(Uint8Array.of(0, 0, 0, 0), Uint8Array.of(TAP_IFINDEX, 0, 0, 0), 0);
      if (rc !== 0) throw new KernelError(-rc, "devmap update failed");
    }
  }
  const offload = o.offloadProg === null ? null : loadProg(kernel, o.programsDir, o.offloadProg);
  const rx = o.rxProg === null ? null : loadProg(kernel, o.programsDir, o.rxProg);
  const pcap = o.pcap === undefined ? undefined : readPcap(readFileSync(o.pcap)).packets;
  const sh = layoutDatapath(kernel, o.size ?? 64, o.flows ?? 1, o.poolFrames ?? 4096, {
    capture: o.captureDir !== undefined, pcap, txQueueLen: o.txQueueLen, ifindex: o.ifindex,
  });
  return { kernel, sh, nicProg, offload, rx };
}

/** A running host datapath: the vhost worker thread up, traffic runs started on request. */
export class HostDatapath {
  readonly kernel: BpfKernel;
  readonly sh: DatapathShared;
  readonly nicProg: BpfProg | null;
  /** The offloaded program and the tap's Rx-path program currently attached. */
  offload: BpfProg | null;
  rx: BpfProg | null;
  /** TUN_XDP_IN_*. */
  readonly placement: number;
  readonly #o: DatapathOptions;
  readonly #vw: Worker;
  readonly #vMsgs: MessageLog<Record<string, unknown>>;
  readonly #vErr: Promise<never>;
  readonly #ctl: MessagePort;
  /** Control requests waiting for the worker's reply, by sequence number. */
  readonly #ctlWaiters: Map<number, (r: { ok: boolean; error?: string }) => void>;
  /** The control plane's handle on the vhost device (its own counter block). */
  readonly #ctlDev: VhostDev;
  #seq: number;
  #loop: Record<string, number> | null;
  #producer: Worker | null;
  /** The guest behind the tap: a thread of this process, or a guest process's data channel. */
  #guestThread: GuestThread | null;
  #guestThreadBlocks: { stats: number; stop: number } | null;
  #relay: VhostUserRelay | null;
  /** A guest thread ran (its counters stay readable after it stopped). */
  #guestRan = false;
  /** The guest side's handle on the vhost device (doorbells queue its handlers). */
  readonly #kickDev: VhostDev;
  /** Rejects (ECANCELED) when stop() begins: a run or a drain in progress ends with it. */
  readonly #halted: Promise<never>;
  #halt: (e: Error) => void;
  #isHalted: boolean;
  /** Open capture files by point, when capturing. */
  readonly captures: Map<string, CaptureFile>;
  /** The device end of the guest's rings: broken (virtio_error(), needs reset) and why. */
  virtio: VirtioState = { broken: false, reason: "", errors: 0 };

  private constructor(o: DatapathOptions, s: DatapathSetup, placement: number, vw: Worker, ctl: MessagePort,
    vMsgs: MessageLog<Record<string, unknown>>, vErr: Promise<never>) {
    this.kernel = s.kernel;
    this.sh = s.sh;
    this.nicProg = s.nicProg;
    this.offload = s.offload;
    this.rx = s.rx;
    this.placement = placement;
    this.#o = o;
    this.#vw = vw;
    this.#vMsgs = vMsgs;
    this.#vErr = vErr;
    this.#ctl = ctl;
    this.#ctlWaiters = new Map();
    ctl.on("message", (m: { seq: number; ok: boolean; error?: string }) => {
      const w = this.#ctlWaiters.get(m.seq);
      this.#ctlWaiters.delete(m.seq);
      w?.(m);
    });
    const i32 = new Int32Array(s.kernel.mem.memory.buffer);
    this.#ctlDev = VhostDev.at(s.kernel.mem, s.sh.vhost.addr, s.sh.vhost.ctlStats, new FutexWaker(i32, s.sh.vhost.addr >> 2), false);
    this.#seq = 0;
    this.#loop = null;
    this.#producer = null;
    this.#guestThread = null;
    this.#guestThreadBlocks = null;
    this.#relay = null;
    this.#kickDev = VhostDev.at(s.kernel.mem, s.sh.vhost.addr, s.sh.virtio.kickStats, new FutexWaker(i32, s.sh.vhost.addr >> 2), false);
    this.#halt = () => {};
    this.#isHalted = false;
    this.#halted = new Promise<never>((_, reject) => {
      this.#halt = reject;
    });
    this.#halted.catch(() => {});
    this.captures = new Map();
    if (o.captureDir !== undefined) {
      const c = s.sh.captures;
      const addrs = [c.nicRx, c.tapTx, c.tapRx, c.guestRx];
      CAPTURE_POINTS.forEach((name, i) => {
        this.captures.set(name, new CaptureFile(path.join(o.captureDir!, `${name}.pcap`), CaptureRing.at(s.kernel.mem, addrs[i]!)));
      });
    }
  }

  /** Moves captured records into their files (the control plane's side of the capture rings). */
  drainCaptures(): void {
    for (const f of this.captures.values()) f.drain();
  }

  /** Sets up the kernel and the structures and starts the vhost worker thread. */
  static start(o: DatapathOptions): Promise<HostDatapath> {
    return HostDatapath.startWith(o, setupDatapath(o));
  }

  /**
   * Starts the vhost worker thread of a datapath set up by the caller in a kernel it owns (the host
   * daemon: its BpfKernel with a shared memory, one datapath per tap; `layoutDatapath` with the tap's
   * ifindex). `o` gives the placement, timeouts, busyloop and pktgen defaults; its program names are unused.
   */
  static async startWith(o: DatapathOptions, s: DatapathSetup): Promise<HostDatapath> {
    const placement = TUN_XDP_PLACEMENTS.indexOf(o.placement ?? "recvmsg");
    if (placement < 0) throw new KernelError(EINVAL, `unknown placement ${o.placement}`);
    const inRecvmsg = placement === TUN_XDP_IN_RECVMSG;
    const tapProgs = [s.offload, s.rx].filter((p): p is BpfProg => p !== null);
    const { port1, port2 } = new MessageChannel();
    const vData: VhostThreadData = {
      sh: s.sh, image: exportBpfThread(s.kernel, inRecvmsg ? tapProgs : []), ctl: port2,
      offloadProgId: inRecvmsg ? s.offload?.id ?? 0 : 0, rxProgId: inRecvmsg ? s.rx?.id ?? 0 : 0,
      busyloopTimeoutNs: o.busyloopTimeoutNs ?? 0, cpu: 1,
    };
    const vw = spawnTsWorker(new URL("./vhost_worker.ts", import.meta.url), vData, [port2]);
    const vMsgs = new MessageLog<Record<string, unknown>>();
    const virtio: VirtioState = { broken: false, reason: "", errors: 0 };
    vw.on("message", (m: Record<string, unknown>) => {
      if (typeof m.virtioError === "string") {
        virtio.broken = true;
        virtio.reason = m.virtioError;
        virtio.errors++;
      } else if (m.virtioReset === true) {
        virtio.broken = false;
      } else {
        vMsgs.push(m);
      }
    });
    const vErr = once(vw, "error").then(([e]) => { throw e; });
    vErr.catch(() => {});
    await withDeadline(Promise.race([vMsgs.nth(0), vErr]), Date.now() + (o.timeoutMs ?? 60_000), "vhost thread start");
    const dp = new HostDatapath(o, s, placement, vw, port1, vMsgs, vErr);
    dp.virtio = virtio;
    return dp;
  }

  /** Runs `count` packets from pktgen on a producer thread; resolves when it sent them all. */
  /**
   * Sends `count` packets from a producer thread. With `warmup`, that thread first sends `warmup`
   * packets, then waits while `onWarm` runs (drain, read the counters) before the measured ones.
   */
  async pktgen(count: number, cfg: Partial<PktgenConfig> & {
    nicProg?: BpfProg | null; timeoutMs?: number; warmup?: number; onWarm?: () => Promise<void>;
  } = {}): Promise<{ wallMs: number; cpuMs: number }> {
    const o = this.#o, deadline = Date.now() + (cfg.timeoutMs ?? o.timeoutMs ?? 60_000);
    const inRecvmsg = this.placement === TUN_XDP_IN_RECVMSG;
    const tapProgs = [this.offload, this.rx].filter((p): p is BpfProg => p !== null);
    const nicProg = cfg.nicProg === undefined ? this.nicProg : cfg.nicProg;
    const pData: SoftirqThreadData = {
      sh: this.sh, image: exportBpfThread(this.kernel, [...(nicProg === null ? [] : [nicProg]), ...(inRecvmsg ? [] : tapProgs)]),
      nicProgId: nicProg?.id ?? 0, count, cpu: 0, placement: this.placement,
      warmup: cfg.warmup ?? 0, go: (cfg.warmup ?? 0) > 0 ? new SharedArrayBuffer(4) : null,
      offloadProgId: inRecvmsg ? 0 : this.offload?.id ?? 0, rxProgId: inRecvmsg ? 0 : this.rx?.id ?? 0,
      pktgen: {
        size: cfg.size ?? o.size ?? 64, flows: cfg.flows ?? o.flows ?? 1, ratePps: cfg.ratePps ?? o.ratePps ?? 0,
        lineBps: cfg.lineBps ?? o.lineBps ?? 0,
      },
    };
    const pw = spawnTsWorker(new URL("./softirq_worker.ts", import.meta.url), pData);
    this.#producer = pw;
    const pErr = once(pw, "error").then(([e]) => { throw e; });
    pErr.catch(() => {});
    // The owner thread is the consumer of the capture rings that the Workers fill; its event loop
    // cannot block in Atomics.wait, so it empties them on a 2 ms timer while the run lasts (a
    // consumer's poll, not a stand-in for a cost).
    const iv = this.captures.size > 0 ? setInterval(() => this.drainCaptures(), 2) : undefined;
    const next = async (what: string) => (await withDeadline(Promise.race([once(pw, "message"), pErr, this.#vErr, this.#halted]),
      deadline, what) as [{ wallMs: number; cpuMs: number }])[0];
    try {
      if (pData.go !== null) {
        await next("the producer thread's warm-up");
        await cfg.onWarm?.();
        const go = new Int32Array(pData.go);
        Atomics.store(go, 0, 1);
        Atomics.notify(go, 0);
      }
      return await next("the producer thread's run");
    } finally {
      clearInterval(iv);
      // Its counters are final once it reported; do not wait for its event loop to empty.
      await withDeadline(pw.terminate(), deadline, "the producer thread's exit");
      this.#producer = null;
    }
  }

  /**
   * Starts a guest thread behind the tap (virtnet_worker.ts: its own BPF kernel and memory, the
   * device's frame queues) with `prog` (a .o path) in its DRV slot, null for none. One guest at a time.
   */
  async startGuestThread(prog: string | null): Promise<void> {
    if (this.#guestThread !== null || this.#relay !== null) throw new KernelError(EBUSY, "the tap already has a guest");
    this.#guestThreadBlocks ??= guestThreadInit(this.kernel.mem);
    const b = this.#guestThreadBlocks;
    new Float64Array(this.kernel.mem.memory.buffer, b.stats, GUEST_THREAD_STATS.length).fill(0);
    this.#guestRan = true;
    this.#guestThread = await GuestThread.start(this.kernel.mem, {
      toDevice: this.sh.virtio.toDevice, toDriver: this.sh.virtio.toDriver,
      vhost: { addr: this.sh.vhost.addr }, kickStats: this.sh.virtio.kickStats, stats: b.stats, stop: b.stop, prog, ifindex: 2,
    }, this.#o.timeoutMs ?? 60_000);
  }

  /** Stops the guest thread; returns its CPU time (ms). */
  async stopGuestThread(): Promise<number> {
    const g = this.#guestThread;
    if (g === null) return 0;
    this.#guestThread = null;
    return (await g.stop(this.#o.timeoutMs ?? 60_000)).cpuMs;
  }

  /**
   * A guest process connected its data channel (`memSize`: its memory's bytes, the addresses the
   * device accepts). Frames then flow between the socket and the device's queues until it closes.
   */
  attachGuestSocket(socket: net.Socket, memSize: number): VhostUserRelay {
    if (this.#guestThread !== null || (this.#relay !== null && !this.#relay.closed)) {
      socket.destroy();
      throw new KernelError(EBUSY, "the tap already has a guest");
    }
    const relay = new VhostUserRelay(socket, ShmFrameQueue.at(this.kernel.mem.memory.buffer, this.sh.virtio.toDevice),
      ShmFrameQueue.at(this.kernel.mem.memory.buffer, this.sh.virtio.toDriver), this.#kickDev, memSize, () => {
        if (this.#relay === relay) this.#relay = null;
      });
    this.#relay = relay;
    return relay;
  }

  /** Whether a guest (thread or process) is behind the tap. */
  get hasGuest(): boolean {
    return this.#guestThread !== null || this.#relay !== null;
  }

  /**
   * New pktgen templates for the next runs (`flows` UDP packets of `size` bytes, or a pcap's packets);
   * pktgen's counter block stays. Owner thread, between runs.
   */
  setTemplates(t: { size: number; flows: number } | { pcap: PcapPacket[] }): void {
    const mem = this.kernel.mem, old = this.sh.pktgen;
    const n = "pcap" in t ? pktgenInitPcap(mem, t.pcap) : pktgenInit(mem, t.size, t.flows);
    const oldStats = StatBlock.at(mem, old.stats, PKTGEN_STATS).v;
    new Float64Array(mem.memory.buffer, n.stats, PKTGEN_STATS.length).set(oldStats);
    this.sh.pktgen = n;
  }

  /**
   * Waits until the vhost worker consumed everything tun queued and, with a guest behind the
   * tap, placed it in the guest (and, with a guest thread, until the guest polled it all and
   * vhost took back what it transmitted).
   */
  async drain(): Promise<void> {
    const m = this.kernel.mem, sh = this.sh;
    const tunX = StatBlock.at(m, sh.tun.xmitStats, TUN_XMIT_STATS);
    const tunR = StatBlock.at(m, sh.tun.recvStats, TUN_RECV_STATS);
    const vn = StatBlock.at(m, sh.vhost.netStats, VHOST_NET_STATS);
    const gs = this.#guestThreadBlocks === null ? null : StatBlock.at(m, this.#guestThreadBlocks.stats, GUEST_THREAD_STATS);
    const V = (k: string) => vn.v[VHOST_NET_STATS.indexOf(k as never)]!;
    const i32 = new Int32Array(m.memory.buffer), stateIdx = (sh.vhost.addr >> 2) + VW_STATE;
    const G = (k: string) => gs!.v[GUEST_THREAD_STATS.indexOf(k as never)]!;
    await Promise.race([waitFor(() => {
      if (this.#isHalted) return true;
      this.drainCaptures();
      // Nothing more can move: the guest's rings are broken (needs reset), or no guest is behind
      // the tap and vhost went to sleep with what it could not place. What stays is counted.
      const idle = Atomics.load(i32, stateIdx) === TASK_INTERRUPTIBLE && !this.#ctlDev.hasWork();
      if (idle && (this.virtio.broken || !this.hasGuest)) return true;
      if (tunR.v[1]! !== tunX.v[0]!) return false; // consumed === tx_packets
      if (!this.hasGuest) return true;
      if (V("rx_buf_entries") - V("rx_packets") - V("rx_too_big") - V("rx_dropped") !== 0) return false;
      if (this.#guestThread === null || gs === null) return true;
      return G("rx_queue_0_packets") === V("rx_packets") && G("xdp_tx") === V("tx_packets");
    }, Date.now() + (this.#o.timeoutMs ?? 60_000), "vhost drain"), this.#vErr, this.#halted]);
  }

  /**
   * Attaches `obj` (a .o in the programs directory; null detaches) as the offloaded program:
   * loaded into the host kernel, then handed to the thread of the placement. For recvmsg that is
   * the running vhost worker: a control work queued on it (the kernel's ioctl + vhost flush)
   * applies it between two handler runs; the producer placements take it on their next run.
   */
  async attachOffload(obj: string | null): Promise<void> {
    await this.attachOffloadProg(obj === null ? null : loadProg(this.kernel, this.#o.programsDir, obj));
  }

  /**
   * Attaches a program already loaded in the datapath's kernel (the host daemon: the one the guest
   * offloaded) as the offloaded program; null detaches. Resolves once the thread of the placement
   * runs it (recvmsg) or will on its next run (producer placements). Throws EOPNOTSUPP when one of its
   * maps cannot be reached from another thread.
   */
  async attachOffloadProg(prog: BpfProg | null): Promise<void> {
    const image = exportBpfThread(this.kernel, prog === null ? [] : [prog], 0);
    this.offload = prog;
    if (this.placement !== TUN_XDP_IN_RECVMSG) return;
    await this.#control({ op: "attach", image, offloadProgId: prog?.id ?? 0 });
  }

  /**
   * Gives the thread of the placement `progs` and the programs their tail calls reach (a prog
   * array slot is about to name one), and, on the vhost worker, waits until it applied them
   * between two handler runs: so the call is also a grace period for programs taken out of a
   * slot before it. The producer placements export the slots' programs at each run: a program
   * stored during a run is reached from the next one.
   */
  async addProgs(progs: readonly BpfProg[]): Promise<void> {
    if (this.placement !== TUN_XDP_IN_RECVMSG) return;
    await this.#control({ op: "add", image: exportBpfThread(this.kernel, progs, 0) });
  }

  /** VHOST_SET_VRING_BUSYLOOP_TIMEOUT (QEMU's poll-us) on the running worker, in ns. */
  async setBusyloopTimeout(ns: number): Promise<void> {
    await this.#control({ op: "busyloop", ns });
  }

  async #control(msg: Record<string, unknown>): Promise<void> {
    const seq = ++this.#seq;
    const reply = new Promise<{ ok: boolean; error?: string }>((resolve) => this.#ctlWaiters.set(seq, resolve));
    this.#ctl.postMessage({ ...msg, seq });
    this.#ctlDev.vhostWorkQueue(VHOST_WORK_CTL);
    let r: { ok: boolean; error?: string };
    try {
      r = await withDeadline(Promise.race([reply, this.#vErr, this.#halted]), Date.now() + (this.#o.timeoutMs ?? 60_000), `vhost control ${String(msg.op)}`);
    } finally {
      this.#ctlWaiters.delete(seq);
    }
    if (!r.ok) throw new KernelError(EINVAL, `vhost control ${String(msg.op)}: ${r.error ?? "failed"}`);
  }

  /** Every stage's counters; with a guest thread, its counters as stage `guest`. */
  counters(): Record<string, Record<string, number>> {
    const c = readCounters(this.kernel, this.sh);
    if (this.#guestThreadBlocks !== null && (this.#guestThread !== null || this.#guestRan)) {
      c.guest = StatBlock.at(this.kernel.mem, this.#guestThreadBlocks.stats, GUEST_THREAD_STATS).read();
    }
    return c;
  }

  /** The offloaded program's rxcnt map (xdp1/xdp2), protocol -> count; null without one. */
  rxcnt(): Map<number, number> | null {
    const map = this.offload?.usedMaps.find((m) => m.name === "rxcnt");
    if (map === undefined) return null;
    const out = new Map<number, number>();
    const v = new Uint8Array(map.userValueSize);
    for (let k = 0; k < map.maxEntries; k++) {
      if (map.sysLookup(Uint8Array.of(k & 0xff, k >> 8, 0, 0), v) !== 0) continue;
      const n = Number(new DataView(v.buffer).getBigUint64(0, true));
      if (n !== 0) out.set(k, n);
    }
    return out;
  }

  /** Stops the vhost worker (kthread_stop) and returns its loop counts. */
  async stop(): Promise<Record<string, number>> {
    if (this.#loop !== null) return this.#loop;
    this.#isHalted = true;
    this.#halt(new KernelError(ECANCELED, "datapath stopped"));
    const deadline = Date.now() + (this.#o.timeoutMs ?? 60_000);
    // A producer still running (the host is going away mid-run) goes first: it would wake a stopped worker.
    if (this.#producer !== null) await withDeadline(this.#producer.terminate(), deadline, "the producer thread's exit");
    await this.stopGuestThread();
    this.#relay?.close();
    const i32 = new Int32Array(this.kernel.mem.memory.buffer);
    const vdev = this.sh.vhost.addr >> 2;
    stopTask(i32, vdev + VW_STATE, vdev + VW_STOP);
    await withDeadline(Promise.race([this.#vMsgs.nth(1), this.#vErr]), deadline, "vhost thread stop");
    await withDeadline(this.#vw.terminate(), deadline, "the vhost thread's exit");
    this.#ctl.close();
    for (const f of this.captures.values()) f.close();
    this.#loop = (this.#vMsgs.items[1]!.loop ?? {}) as Record<string, number>;
    return this.#loop;
  }
}

/** Runs `count` packets through the topology on real threads and returns every counter. */
export async function runDatapath(o: DatapathOptions): Promise<DatapathResult> {
  const d = await HostDatapath.start(o);
  let p = { wallMs: 0, cpuMs: NaN }, wallMs = 0, guestCpuMs = 0;
  let loop: Record<string, number>;
  let warm: Record<string, Record<string, number>> | null = null;
  try {
    if ((o.guest ?? "thread") === "thread") {
      await d.startGuestThread(o.guestProg === undefined || o.guestProg === null ? null : path.join(o.programsDir, o.guestProg));
    }
    p = await d.pktgen(o.count, {
      warmup: o.warmup ?? 0,
      onWarm: async () => {
        await d.drain();
        warm = d.counters();
      },
    });
    const t1 = performance.now();
    await d.drain();
    // The producer's own run (not its thread's start-up), then the vhost worker's tail.
    wallMs = p.wallMs + (performance.now() - t1);
  } finally {
    guestCpuMs = await d.stopGuestThread();
    loop = await d.stop();
  }
  const counters = d.counters();
  return {
    counters, warmupCounters: warm, fates: datapathFates(warm === null ? counters : subCounters(counters, warm)), rxcnt: d.rxcnt(), trace: TraceRing.at(d.kernel.mem, d.sh.trace).read(),
    producerWallMs: p.wallMs, producerCpuMs: p.cpuMs, wallMs, vhostLoop: loop, guestCpuMs,
  };
}

/** Messages a Worker posted, in order; nth(i) resolves when message i has arrived (no polling). */
class MessageLog<T> {
  readonly items: T[] = [];
  #waiters: Array<[number, (m: T) => void]> = [];

  push(m: T): void {
    this.items.push(m);
    const ready = this.#waiters.filter(([i]) => i < this.items.length);
    this.#waiters = this.#waiters.filter(([i]) => i >= this.items.length);
    for (const [i, resolve] of ready) resolve(this.items[i]!);
  }

  nth(i: number): Promise<T> {
    if (i < this.items.length) return Promise.resolve(this.items[i]!);
    return new Promise((resolve) => this.#waiters.push([i, resolve]));
  }
}

/**
 * Polls `cond` until true; throws ETIMEDOUT after `deadline` (ms since epoch). Only drain() uses it:
 * its condition is a counter the vhost thread advances in shared memory, and the owner's event loop
 * cannot block in Atomics.wait, so it looks again every millisecond (a wait for another thread's
 * progress with a deadline, never a stand-in for a cost; Atomics.waitAsync on a word the vhost
 * worker notifies would replace it).
 */
async function waitFor(cond: () => boolean, deadline: number, what: string): Promise<void> {
  while (!cond()) {
    if (Date.now() > deadline) throw new KernelError(ETIMEDOUT, `datapath: timed out waiting for ${what}`);
    await new Promise<void>((r) => setTimeout(r, 1));
  }
}
