// The performance model: a discrete-event simulation in virtual time that
// drives the datapath's own components and charges each step a cost from a
// cost profile (profile.ts):
// - host/net (host/net/datapath_parts.ts Producer and VhostSide, as the
//   datapath's threads build them): pktgen, NIC NAPI with native XDP, devmap
//   bulk 16 + flush, bridge, tun_net_xmit / tun_xdp_xmit, the vhost worker
//   (VhostDev: armed/disarmed poll, wake protocol, busy poll) running
//   vhost-net's own handle_rx (the RFC's 64-entry tun_recvmsg consume with the
//   offloaded program, guest receive buffers from the RX virtqueue, a USED
//   record per packet, vhost_net_signal_used per 64 and per run), handle_tx
//   (the guest's transmits copied into vhost's pages -> tun_xdp_one into the
//   tap's Rx-path program) and its ring-event work;
// - the guest (guest/net/virtnet_task.ts localGuest(): VirtnetGuestTask over
//   VirtnetQueuePair, virtio_net's receive/send queues with the program in the
//   DRV slot of its own BpfKernel, XDP_TX kicked once per poll, refill) as the
//   vCPU task on its own CPU;
// - frames between the two through the datapath's shared-memory frame queues.
// Verdicts come from really running xdp1/xdp2 (the offloaded copy in the
// host's BpfKernel, the guest's copy in the guest's). Nothing decides the
// tables but those components and the costs: whether a producer pays a wake is
// the VhostDev's own CAS on the worker's state, batch sizes are what
// tun_consume_packets finds in the ring at the consumer's virtual time, how
// many packets a handle_rx run or a NAPI poll handles, when the guest is
// interrupted and when it kicks are the components' own decisions.
//
// Time. Every task (the softirq producer of each guest's NIC queue, each vhost
// worker, each guest vCPU) runs on a CPU of the placement; a CPU runs one task
// at a time. Task effects on shared state happen at exact virtual times:
// - The producer runs a NAPI poll (pktgen's due frames, then napiPoll(64))
//   in one go, but the tap's ndo_xdp_xmit / ndo_start_xmit calls it makes are
//   deferred into a chain of events, each at the time the per-frame work
//   before it ends (c_nic_redirect per redirected frame, c_p per frame through
//   the bridge), followed by what the call itself cost (c_sdr, or C_wake when
//   the VhostDev reported a paid wake, plus c_wq when it found the poll armed
//   but the work queued or the worker running; the program when the hook
//   places it in the producer). The bridge and the devmap keep their own order and state;
//   only the tap's side effects are placed in time.
// - The vhost worker runs its loop (VhostDev.step) with a local clock; before
//   each access to shared state (disarm/arm of the RX poll, tun_consume_packets,
//   the ring check, the used-ring flush towards the guest, the next loop
//   iteration) it charges the work since the last such point from vhost-net's
//   counters and runs every event up to its local time (the producers'
//   effects, guest steps), so it sees exactly what had arrived by then.
// - The guest vCPU steps (VirtnetGuestTask.step) at an interrupt + L_irq and
//   while NAPI stays scheduled; its doorbells ring at the end of the step (see
//   GuestVcpu for the transport).
// Busy polling: a worker that returns STEP_POLL keeps its CPU and is resumed
// at the first event after which VhostDev.pollCheck() holds, or at its deadline.
import path from "node:path";
import type { BpfKernel } from "../../shared/bpf/syscall.ts";
import type { BpfProg } from "../../shared/bpf/runtime/prog.ts";
import { STEP_POLL, STEP_SLEEP, type Clock, type Waker } from "../../shared/sched/sched.ts";
import { VirtualScheduler } from "../../shared/sched/virtual.ts";
import { StatBlock } from "../../shared/sched/stats.ts";
import type { ShmFrameQueue } from "../../shared/virtio/shm_frame_queue.ts";
import { setupDatapath, readCounters, datapathFates, type DatapathSetup } from "../../host/net/datapath.ts";
import { Producer, VhostSide } from "../../host/net/datapath_parts.ts";
import { NAPI_POLL_WEIGHT } from "../../host/net/nic.ts";
import { TUN_XDP_IN_NET_XMIT, TUN_XDP_IN_RECVMSG, TUN_XDP_IN_XDP_XMIT, TUN_XDP_STATS, MAX_TAP_BATCH } from "../../host/net/tun.ts";
import { VhostDev, VHOST_NET_VQ_EVT, S_WAKE_QUEUED, S_WAKE_RUNNING } from "../../host/net/vhost.ts";
import { localGuest, type VirtnetGuestTask } from "../../guest/net/virtnet_task.ts";
import { VIRTNET_ETHTOOL_STATS, type VirtnetQueuePair } from "../../guest/net/virtnet.ts";
import type { Costs, Profile } from "./profile.ts";

export interface SimOptions {
  case: 1 | 2;
  program: "xdp1" | "xdp2";
  mode: "offload" | "non_offload";
  packets: number;
  hook: "recvmsg" | "net_xmit" | "xdp_xmit";
  busyPollUs: number;
  vhostBatch: number;
  guests: number;
  programsDir: string;
}

// Counter indices of the components' StatBlocks (names in host/net; looked up once).
function idx(names: readonly string[], n: string): number {
  const i = names.indexOf(n);
  if (i < 0) throw new Error(`no counter ${n}`);
  return i;
}

/** A CPU of the placement: one task at a time, the others queue (FIFO). */
class Cpu {
  busy = false;
  freeAt = 0;
  /** Time the CPU was held (utilisation over the run), and when the current holder took it. */
  busyNs = 0;
  #since = 0;
  readonly waiters: Array<() => void> = [];
  readonly sim: Sim;
  readonly id: number;
  constructor(sim: Sim, id: number) {
    this.sim = sim;
    this.id = id;
  }

  /** Runs `start(t)` when the CPU is free at or after `t`; the task calls release() when done. */
  acquire(t: number, start: (t: number) => void): void {
    if (this.busy) {
      this.waiters.push(() => this.acquire(this.sim.now, start));
      return;
    }
    if (this.freeAt > t) {
      this.sim.at(this.freeAt, () => this.acquire(this.freeAt, start));
      return;
    }
    this.busy = true;
    this.#since = t;
    start(t);
  }

  release(t: number): void {
    this.busy = false;
    this.busyNs += t - this.#since;
    this.freeAt = t;
    const w = this.waiters.shift();
    if (w !== undefined) this.sim.at(t, w);
  }
}

/** Times at which the measured program gave verdicts (for the rate over the steady part of the run). */
class VerdictLog {
  t: number[] = [];
  n: number[] = [];
  total = 0;
  add(t: number, n: number): void {
    if (n <= 0) return;
    this.total += n;
    this.t.push(t);
    this.n.push(this.total);
  }
}

/** Rate (per ns) between the 10% and 90% points of the verdicts of `logs` merged. */
export function steadyRate(logs: VerdictLog[]): number {
  const ev: Array<[number, number]> = [];
  for (const l of logs) {
    let prev = 0;
    for (let i = 0; i < l.t.length; i++) {
      ev.push([l.t[i]!, l.n[i]! - prev]);
      prev = l.n[i]!;
    }
  }
  ev.sort((a, b) => a[0] - b[0]);
  let total = 0;
  for (const e of ev) total += e[1];
  if (total < 2 || ev.length < 2) return 0;
  const lo = 0.1 * total, hi = 0.9 * total;
  let cum = 0, tLo = NaN, nLo = 0, tHi = NaN, nHi = 0;
  for (const [t, n] of ev) {
    cum += n;
    if (Number.isNaN(tLo) && cum >= lo) {
      tLo = t;
      nLo = cum;
    }
    if (cum >= hi) {
      tHi = t;
      nHi = cum;
      break;
    }
  }
  if (!(tHi > tLo)) {
    // Everything at (nearly) one instant: fall back to the whole span.
    const span = ev[ev.length - 1]![0] - ev[0]![0];
    return span > 0 ? total / span : 0;
  }
  return (nHi - nLo) / (tHi - tLo);
}

/** wake_up_process() delivery in the model: the worker runs L_wake later, on its CPU. */
class ModelWaker implements Waker {
  /** Set by notify(): the waker that called vhostWorkQueue paid a wake. */
  paid = false;
  readonly sim: Sim;
  readonly worker: () => VhostTask;
  constructor(sim: Sim, worker: () => VhostTask) {
    this.sim = sim;
    this.worker = worker;
  }
  notify(): void {
    this.paid = true;
    const w = this.worker();
    this.sim.at(this.sim.now + this.sim.c.L_wake, () => w.wake());
  }
}

/** A1: 10GbE line rate for 64-byte frames (seed 004), the generator's ceiling whatever G_cap says. */
export const LINE_RATE_MPPS = 14.88;

/** Kinds of deferred tap calls. */
const OP_XDP_XMIT = 0;
const OP_NET_XMIT = 1;

/** The softirq side of one guest's NIC queue: pktgen, NAPI poll, and the tap's deferred effects. */
class ProducerTask {
  readonly producer: Producer;
  readonly waker: ModelWaker;
  readonly gapNs: number;
  readonly total: number;
  t0 = 0;
  // Deferred tap calls of the current NAPI poll: kind, frames, flags, per-frame work before it.
  readonly opKind: number[] = [];
  readonly opFrames: Uint32Array[] = [];
  readonly opN: number[] = [];
  readonly opFlags: number[] = [];
  opCount = 0;
  readonly #xmitXdp: (f: Uint32Array, n: number, flags: number) => number;
  readonly #xmitSkb: (h: number) => number;
  readonly #sentIdx: number;
  readonly #sdrIdx: number;
  readonly #offIdx: number[];
  readonly #offTxIdx: number;
  readonly #nicRedirIdx: number;
  readonly #nicPassIdx: number;
  readonly #xdpStats: StatBlock;
  readonly #wakerStats: StatBlock;
  readonly #hookRuns: boolean;

  readonly sim: Sim;
  readonly g: GuestPath;
  readonly cpu: Cpu;

  constructor(sim: Sim, g: GuestPath, cpu: Cpu, progs: ConstructorParameters<typeof Producer>[3]) {
    this.sim = sim;
    this.g = g;
    this.cpu = cpu;
    const s = g.setup;
    this.waker = new ModelWaker(sim, () => g.vhost);
    this.total = Math.floor(sim.o.packets / sim.o.guests) + (g.index < sim.o.packets % sim.o.guests ? 1 : 0);
    // The generator's departures are the model's (G_cap, at most the 10G line rate A1, split over the
    // guests' queues); pktgen sends back to back what the model says is due.
    const ratePps = (Math.min(sim.c.G_cap, LINE_RATE_MPPS) * 1e6) / sim.o.guests;
    this.gapNs = 1e9 / ratePps;
    this.producer = new Producer(s.kernel.mem, s.sh, s.kernel.vm, progs, this.waker,
      { size: 64, flows: 1, ratePps: 0, lineBps: 0 }, sim.clock);
    const tun = this.producer.tun;
    this.#xmitXdp = tun.ndoXdpXmit.bind(tun);
    this.#xmitSkb = tun.ndoStartXmit.bind(tun);
    this.#hookRuns = progs.placement !== TUN_XDP_IN_RECVMSG && progs.offload !== null;
    // The tap's calls are recorded here and run at their time (see the header).
    tun.ndoXdpXmit = (frames: Uint32Array, n: number, flags: number): number => {
      const k = this.#op(OP_XDP_XMIT, n, flags);
      this.opFrames[k]!.set(frames.subarray(0, n));
      return n;
    };
    tun.ndoStartXmit = (h: number): number => {
      const k = this.#op(OP_NET_XMIT, 1, 0);
      this.opFrames[k]![0] = h;
      return 0;
    };
    const sv = this.producer.pktgen.stats.names;
    this.#sentIdx = idx(sv, "sent");
    this.#sdrIdx = idx(tun.stats.names, "sk_data_ready");
    this.#wakerStats = this.producer.vhost.stats;
    this.#xdpStats = StatBlock.at(s.kernel.mem, s.sh.tun.xdpStats, TUN_XDP_STATS);
    const xn = this.#xdpStats.names;
    this.#offIdx = ["off_drop", "off_tx", "off_pass", "off_redirect", "off_aborted", "off_unknown"].map((n) => idx(xn, n));
    this.#offTxIdx = idx(xn, "off_tx");
    this.#nicRedirIdx = idx(this.producer.nic.stats.names, "xdp_redirect");
    this.#nicPassIdx = idx(this.producer.nic.stats.names, "xdp_pass");
  }

  #op(kind: number, n: number, flags: number): number {
    const k = this.opCount++;
    if (k === this.opKind.length) {
      this.opKind.push(0);
      this.opN.push(0);
      this.opFlags.push(0);
      this.opFrames.push(new Uint32Array(MAX_TAP_BATCH));
    }
    this.opKind[k] = kind;
    this.opN[k] = n;
    this.opFlags[k] = flags;
    return k;
  }

  get sent(): number {
    return this.producer.pktgen.stats.v[this.#sentIdx]!;
  }

  start(): void {
    this.t0 = 0;
    this.sim.at(0, () => this.cpu.acquire(this.sim.now, (t) => this.#poll(t)));
  }

  /** One NAPI poll at `t` (CPU held): due frames onto the wire, napiPoll(64), then the deferred tap calls. */
  #poll(t: number): void {
    const sim = this.sim, c = sim.c, nic = this.producer.nic;
    sim.now = t;
    const due = Math.min(this.total, Math.floor((t - this.t0) / this.gapNs + 1e-9) + 1);
    const sent = this.sent;
    // Everything due goes on the wire; what NIC-B has no room for is missed (rx_missed), as at line rate.
    if (due > sent) this.producer.pktgen.xmit(nic, due - sent);
    if (nic.rxRing.isEmpty()) {
      this.cpu.release(t);
      if (this.sent < this.total) {
        const next = this.t0 + this.sent * this.gapNs;
        sim.at(next, () => this.cpu.acquire(sim.now, (tt) => this.#poll(tt)));
      } else {
        this.producer.pool.flushCache();
      }
      return;
    }
    const ns = nic.stats.v;
    const r0 = ns[this.#nicRedirIdx]!, p0 = ns[this.#nicPassIdx]!;
    this.opCount = 0;
    const n = nic.napiPoll(NAPI_POLL_WEIGHT);
    const redir = ns[this.#nicRedirIdx]! - r0, pass = ns[this.#nicPassIdx]! - p0;
    // Work of frames that reached no tap call (other verdicts at the NIC) is charged first.
    const rest = (n - redir - pass) * c.c_nic_redirect;
    this.#runOp(0, t + (rest > 0 ? rest : 0));
  }

  /** The deferred tap call `k` at its time: the per-frame work before it, the call, what the call cost. */
  #runOp(k: number, t: number): void {
    const sim = this.sim, c = sim.c;
    if (k >= this.opCount) {
      // The poll is over: the next one at once (frames waiting) or at the next departure.
      this.cpu.release(t);
      if (this.sent < this.total || !this.producer.nic.rxRing.isEmpty()) {
        const next = Math.max(t, this.t0 + this.sent * this.gapNs);
        sim.at(next, () => this.cpu.acquire(sim.now, (tt) => this.#poll(tt)));
      } else {
        this.producer.pool.flushCache();
      }
      return;
    }
    const kind = this.opKind[k]!, n = this.opN[k]!;
    const pre = kind === OP_XDP_XMIT ? n * c.c_nic_redirect : c.c_p;
    sim.at(t + pre, () => {
      const tun = this.producer.tun, xs = this.#xdpStats.v;
      const sdr0 = tun.stats.v[this.#sdrIdx]!;
      let off0 = 0;
      for (const i of this.#offIdx) off0 += xs[i]!;
      const tx0 = xs[this.#offTxIdx]!;
      this.waker.paid = false;
      const ws = this.#wakerStats.v, armed0 = ws[S_WAKE_QUEUED]! + ws[S_WAKE_RUNNING]!;
      if (kind === OP_XDP_XMIT) this.#xmitXdp(this.opFrames[k]!, n, this.opFlags[k]!);
      else this.#xmitSkb(this.opFrames[k]![0]!);
      let cost = 0;
      const sdr = tun.stats.v[this.#sdrIdx]! - sdr0;
      if (sdr > 0) cost += this.waker.paid ? c.C_wake + (sdr - 1) * c.c_sdr : sdr * c.c_sdr;
      // Found the poll armed but paid no wake (queued, or the worker running): the wait-queue path.
      cost += (ws[S_WAKE_QUEUED]! + ws[S_WAKE_RUNNING]! - armed0) * c.c_wq;
      if (this.#hookRuns) {
        let off = 0;
        for (const i of this.#offIdx) off += xs[i]!;
        off -= off0;
        cost += off * (kind === OP_XDP_XMIT ? c.c_off : c.c_gxdp) + (xs[this.#offTxIdx]! - tx0) * c.c_inject;
        this.g.verdicts.add(sim.now + cost, off);
      }
      this.#runOp(k + 1, sim.now + cost);
    });
  }
}

// The guest's ethtool -S counters the vCPU's steps are charged from.
const RX_PACKETS = VIRTNET_ETHTOOL_STATS.indexOf("rx_queue_0_packets");
const RX_XDP_PACKETS = VIRTNET_ETHTOOL_STATS.indexOf("rx_queue_0_xdp_packets");
const RX_XDP_TX = VIRTNET_ETHTOOL_STATS.indexOf("rx_queue_0_xdp_tx");

/** Counters of vhost-net whose work is charged after the fact (see VhostTask.settle). */
const VN_SETTLED = ["rx_copies", "rx_signals", "tx_copies"] as const;

/**
 * One guest's vhost worker: the datapath's own VhostSide (VhostDev, VhostNet's handle_rx /
 * handle_tx / ring-event work, tun's consume side, the device end of the guest's virtqueues)
 * run by the model on its CPU. The model wraps, on these instances only, the methods at which
 * the worker touches shared state (tun's consume and poll check, the socket poll's disarm and
 * arm, the used-ring flush towards the guest, tun_sendmsg's batch): each first charges what the
 * worker did since the last such point, read from vhost-net's own counters, then brings the rest
 * of the world up to the worker's local time, then calls the component's method unchanged.
 */
class VhostTask {
  readonly side: VhostSide;
  readonly dev: VhostDev;
  /** Local clock of the current run. */
  t = 0;
  running = false;
  pollId = 0;
  /** tun_sendmsg batches (tunXdpOne calls of handle_tx) not charged yet. */
  #txBatches = 0;
  readonly #vn: StatBlock;
  readonly #vnIdx: number[];
  readonly #vnSeen: Float64Array;
  readonly #consumedIdx: number;
  readonly #xdpFramesIdx: number;
  readonly #offIdx: number[];
  readonly #offTxIdx: number;
  readonly #recvStats: StatBlock;
  readonly #xdpStats: StatBlock;

  readonly sim: Sim;
  readonly g: GuestPath;
  readonly cpu: Cpu;

  constructor(sim: Sim, g: GuestPath, cpu: Cpu, offload: BpfProg | null, rx: BpfProg | null) {
    this.sim = sim;
    this.g = g;
    this.cpu = cpu;
    const s = g.setup, mem = s.kernel.mem;
    const busyNs = sim.o.busyPollUs * 1000;
    this.side = new VhostSide(mem, s.sh, s.kernel.vm, offload, rx, sim.clock, busyNs);
    this.dev = this.side.dev;
    const tun = this.side.tun, dev = this.dev, net = this.side.net, virtio = this.side.virtio;
    this.#recvStats = tun.stats;
    this.#xdpStats = tun.xdp.stats;
    this.#consumedIdx = idx(tun.stats.names, "consumed");
    this.#xdpFramesIdx = idx(tun.stats.names, "xdp_frames");
    const xn = tun.xdp.stats.names;
    this.#offIdx = ["off_drop", "off_tx", "off_pass", "off_redirect", "off_aborted", "off_unknown"].map((n) => idx(xn, n));
    this.#offTxIdx = idx(xn, "off_tx");
    this.#vn = net.stats;
    this.#vnIdx = VN_SETTLED.map((n) => idx(net.stats.names, n));
    this.#vnSeen = new Float64Array(VN_SETTLED.length);
    // vhost_net_buf_produce() batch size (VHOST_NET_BATCH, the option vhostBatch; tun takes at most 64).
    const consume = tun.tunConsumePackets.bind(tun);
    tun.tunConsumePackets = (out: Uint32Array, num: number): number => this.#consume(consume, out, Math.min(num, this.sim.o.vhostBatch));
    const hasData = tun.hasData.bind(tun);
    tun.hasData = (): boolean => {
      if (this.running) this.sync();
      return hasData();
    };
    const arm = dev.pollArm.bind(dev), disarm = dev.pollDisarm.bind(dev);
    dev.pollArm = (id: number): void => {
      this.sync();
      arm(id);
    };
    dev.pollDisarm = (id: number): void => {
      this.sync();
      disarm(id);
    };
    // The used ring's update and the interrupt (vhost_net_signal_used, handle_tx's flush) at the local time.
    const flush = virtio.dev.flush.bind(virtio.dev);
    virtio.dev.flush = (): number => {
      if (this.running) this.sync();
      return flush();
    };
    const txOne = virtio.txXdp.tunXdpOne.bind(virtio.txXdp);
    // handle_tx submits up to VHOST_NET_BATCH (64) at a time; a smaller vhostBatch is charged as the
    // batches it would have made (F_tx each), the submit itself left to the component.
    const txBatch = Math.min(sim.o.vhostBatch, MAX_TAP_BATCH);
    virtio.txXdp.tunXdpOne = (frames: Uint32Array, n: number): void => {
      this.#txBatches += Math.ceil(n / txBatch);
      txOne(frames, n);
    };
  }

  /**
   * Charges the work vhost-net's counters show since the last call: c_rx per packet copied into a
   * guest receive buffer (rx_copies), c_signal per interrupt raised towards the guest (rx_signals,
   * after event-idx suppression), c_tx per transmit chain copied out of the guest (tx_copies) and
   * F_tx per batch handed to tun_sendmsg.
   */
  settle(): void {
    const c = this.sim.c, v = this.#vn.v, seen = this.#vnSeen, ix = this.#vnIdx;
    const d0 = v[ix[0]!]! - seen[0]!, d1 = v[ix[1]!]! - seen[1]!, d2 = v[ix[2]!]! - seen[2]!;
    if (d0 === 0 && d1 === 0 && d2 === 0 && this.#txBatches === 0) return;
    seen[0] = v[ix[0]!]!;
    seen[1] = v[ix[1]!]!;
    seen[2] = v[ix[2]!]!;
    this.t += d0 * c.c_rx + d1 * c.c_signal + d2 * c.c_tx + this.#txBatches * c.F_tx;
    this.#txBatches = 0;
  }

  /** Settles the charges, then runs every event up to this worker's local time (the world catches up before a shared access). */
  sync(): void {
    this.settle();
    this.sim.syncTo(this.t);
  }

  charge(ns: number): void {
    this.t += ns;
  }

  /** A paid wake arrived (L_wake after it): run when the CPU is free. */
  wake(): void {
    this.cpu.acquire(this.sim.now, (t) => this.run(t));
  }

  /** The worker loop from `t` (CPU held) until it sleeps (CPU released) or busy-polls (CPU kept). */
  run(t: number): void {
    this.t = t;
    this.running = true;
    this.sim.enter(this);
    for (;;) {
      this.sync();
      const r = this.dev.step();
      this.settle();
      if (r === STEP_SLEEP) break;
      if (r === STEP_POLL) {
        this.running = false;
        this.sim.leave(this);
        this.sim.startPoll(this);
        return;
      }
      if (this.cpu.waiters.length > 0) {
        // Another task waits for this CPU (shared placement): vhost_worker's cond_resched between
        // works lets it run; the worker stays TASK_RUNNING and continues after it.
        this.running = false;
        this.sim.leave(this);
        this.cpu.release(this.t);
        const sim = this.sim;
        sim.at(this.t, () => this.cpu.acquire(sim.now, (tt) => this.run(tt)));
        return;
      }
    }
    this.running = false;
    this.sim.leave(this);
    this.sim.now = this.t;
    this.cpu.release(this.t);
  }

  /** tun_recvmsg(TUN_MSG_CONSUME_PKTS) at the local time, charged by what it did. */
  #consume(orig: (out: Uint32Array, num: number) => number, out: Uint32Array, num: number): number {
    const c = this.sim.c, rs = this.#recvStats.v, xs = this.#xdpStats.v;
    this.sync();
    const cons0 = rs[this.#consumedIdx]!, fr0 = rs[this.#xdpFramesIdx]!;
    let off0 = 0;
    for (const i of this.#offIdx) off0 += xs[i]!;
    const tx0 = xs[this.#offTxIdx]!;
    const n = orig(out, num);
    const consumed = rs[this.#consumedIdx]! - cons0;
    if (consumed === 0) return n;
    const frames = rs[this.#xdpFramesIdx]! - fr0;
    let off = 0;
    for (const i of this.#offIdx) off += xs[i]!;
    off -= off0;
    // One vhost_net_buf_produce() batch: its fixed cost, then the program on each entry.
    this.charge(c.F_rx);
    if (off > 0) {
      this.charge(frames * c.c_off + (consumed - frames) * c.c_gxdp + (xs[this.#offTxIdx]! - tx0) * c.c_inject);
      this.g.verdicts.add(this.t, off);
    }
    return n;
  }
}

/**
 * The guest's vCPU: the datapath's own guest (guest/net/virtnet_task.ts localGuest(): its
 * VirtnetQueuePair with the program in the DRV slot of its own BpfKernel) stepped on its CPU.
 *
 * Transport. The kernel's guest and vhost share the rings in guest memory; here they exchange
 * frames through the two shared-memory frame queues, and the model makes them behave as that
 * memory: the guest's frames are applied to vhost's device when the guest publishes them
 * (VhostNet.applyInbound), and a step of the guest applies every frame vhost published before
 * it. So the ring-event doorbell (VHOST_NET_VQ_EVT, which stands for the device reading a
 * used_event it has not seen yet) has nothing left to carry and is not rung; the RX and TX
 * doorbells (ioeventfd exits) are, at the end of the step that rang them.
 *
 * Time. An interrupt in vhost's frames schedules a step L_irq after it was raised; a NAPI poll
 * that stays scheduled (budget used, or entries found at completion) schedules the next step at
 * its end. A step costs c_g_irq per interrupt taken, c_g_poll per NAPI poll, c_g_pkt per packet
 * through the program and c_g_tx per XDP_TX (the guest's own counters), then c_kick per doorbell
 * (+ C_wake when it woke the worker).
 */
class GuestVcpu {
  readonly task: VirtnetGuestTask;
  readonly qp: VirtnetQueuePair;
  readonly kernel: BpfKernel;
  readonly kickWaker: ModelWaker;
  readonly #toDriver: ShmFrameQueue;
  /** Device-side interrupts (both queues) already turned into a step. */
  #irqSeen = 0;
  /** Time of the pending step, or -1; its generation (a later schedule replaces an earlier one). */
  #stepAt = -1;
  #stepGen = 0;
  #inStep = false;
  /** Doorbells rung during the current step (work ids), replayed at its end. */
  readonly #kicks: number[] = [];
  readonly #kick: (id: number) => boolean;
  kicks = 0;
  steps = 0;

  readonly sim: Sim;
  readonly g: GuestPath;
  readonly cpu: Cpu;

  constructor(sim: Sim, g: GuestPath, cpu: Cpu) {
    this.sim = sim;
    this.g = g;
    this.cpu = cpu;
    const s = g.setup, virtio = g.vhost.side.virtio, net = g.vhost.side.net;
    this.kickWaker = new ModelWaker(sim, () => g.vhost);
    const file = path.join(sim.o.programsDir, `${sim.o.program}.o`);
    const lg = localGuest(s.kernel.mem, s.sh.virtio, s.sh.vhost.addr, this.kickWaker, file);
    this.task = lg.task;
    this.qp = lg.task.qp;
    this.kernel = lg.kernel;
    this.#toDriver = lg.task.toDriver;
    const kd = lg.task.kickDev;
    this.#kick = kd.vhostWorkQueue.bind(kd);
    kd.vhostWorkQueue = (id: number): boolean => {
      if (id === VHOST_NET_VQ_EVT) return false;
      if (this.#inStep) {
        this.#kicks.push(id);
        return false;
      }
      return this.#ring(id);
    };
    // The guest's writes reach the device as they are made (shared guest memory).
    lg.sink.q.onPublish = () => net.applyInbound();
    virtio.outbound.onPublish = () => this.#devicePublished();
  }

  #ring(id: number): boolean {
    this.kickWaker.paid = false;
    this.kicks++;
    this.#kick(id);
    return this.kickWaker.paid;
  }

  /** vhost published a frame (at its local time when running): an interrupt in it reaches the vCPU L_irq later. */
  #devicePublished(): void {
    const sim = this.sim, virtio = this.g.vhost.side.virtio;
    // The clock reads the publisher's time: vhost syncs before its flush, a guest step sets it.
    const t = sim.now;
    const irq = virtio.rxvq.interrupts + virtio.txvq.interrupts;
    if (irq !== this.#irqSeen) {
      this.#irqSeen = irq;
      this.#schedule(t + sim.c.L_irq);
    } else if (this.#toDriver.pending() >= this.#toDriver.slots - 2) {
      // Frames without an interrupt wait for the next step; a queue about to fill is applied now.
      this.#schedule(t);
    }
  }

  #schedule(at: number): void {
    if (this.#stepAt >= 0 && this.#stepAt <= at) return;
    this.#stepAt = at;
    const gen = ++this.#stepGen;
    this.sim.at(at, () => {
      if (gen !== this.#stepGen) return;
      this.cpu.acquire(this.sim.now, (t) => this.#step(t));
    });
  }

  /** One VirtnetGuestTask.step() at `t` (CPU held), charged from the guest's counters. */
  #step(t: number): void {
    const sim = this.sim, c = sim.c, qp = this.qp, st = qp.stats;
    this.#stepAt = -1;
    sim.now = t;
    this.steps++;
    const irq0 = qp.rxvq.interrupts + qp.txvq.interrupts, polls0 = qp.polls;
    const pk0 = st[RX_XDP_PACKETS]!, rx0 = st[RX_PACKETS]!, tx0 = st[RX_XDP_TX]!;
    this.#inStep = true;
    this.task.step();
    this.#inStep = false;
    const irqs = qp.rxvq.interrupts + qp.txvq.interrupts - irq0, polls = qp.polls - polls0;
    const rx = st[RX_PACKETS]! - rx0, xtx = st[RX_XDP_TX]! - tx0;
    const work = irqs * c.c_g_irq + polls * c.c_g_poll + rx * c.c_g_pkt + xtx * c.c_g_tx;
    this.g.verdicts.add(t + work, st[RX_XDP_PACKETS]! - pk0);
    const end = (te: number): void => {
      this.cpu.release(te);
      if (qp.napiScheduled) this.#schedule(te);
    };
    if (this.#kicks.length === 0) {
      end(t + work);
      return;
    }
    // The doorbells at the end of the poll (virtnet_poll's XDP send-queue kick, try_fill_recv's kick).
    sim.at(t + work, () => {
      let cost = 0;
      for (const id of this.#kicks) cost += c.c_kick + (this.#ring(id) ? c.C_wake : 0);
      this.#kicks.length = 0;
      end(sim.now + cost);
    });
  }

  /** The guest's counters in the shape datapathFates() reads (guest thread's names). */
  counters(): Record<string, number> {
    const qp = this.qp, v = qp.xdpVerdicts;
    return {
      rx_queue_0_packets: qp.stats[RX_PACKETS]!, xdp_drop: v[0]!, xdp_pass: v[1]!, xdp_tx: v[2]!, xdp_other: v[3]!,
      napi_polls: qp.polls, interrupts: qp.rxvq.interrupts, kicks: this.kicks, rx_copies: qp.rxvq.copies,
      tx_completed: qp.txCompleted, steps: this.steps,
    };
  }
}

/** Everything of one guest: its host datapath (own tap, vhost), its tasks, its guest. */
class GuestPath {
  readonly setup: DatapathSetup;
  readonly producer: ProducerTask;
  readonly vhost: VhostTask;
  readonly guest: GuestVcpu | null;
  readonly verdicts = new VerdictLog();

  readonly sim: Sim;
  readonly index: number;

  constructor(sim: Sim, index: number) {
    this.sim = sim;
    this.index = index;
    const o = sim.o;
    const offload = o.mode === "offload";
    const placement = !offload ? TUN_XDP_IN_RECVMSG
      : o.hook === "net_xmit" ? TUN_XDP_IN_NET_XMIT : o.hook === "xdp_xmit" ? TUN_XDP_IN_XDP_XMIT : TUN_XDP_IN_RECVMSG;
    const inRecvmsg = placement === TUN_XDP_IN_RECVMSG;
    this.setup = setupDatapath({
      programsDir: o.programsDir, nicProg: o.case === 1 ? "xdp_redirect_map.o" : null,
      offloadProg: offload ? `${o.program}.o` : null, rxProg: "xdp_drop.o", count: 0,
      placement: (["recvmsg", "net_xmit", "xdp_xmit"] as const)[placement],
    });
    const s = this.setup;
    const pl = sim.placement;
    this.guest = null;
    this.vhost = new VhostTask(sim, this, sim.cpu(pl.vhost + 2 * index), inRecvmsg ? s.offload : null, inRecvmsg || !offload ? s.rx : null);
    // The worker starts and goes to sleep (its first loop finds no work).
    this.vhost.dev.step();
    // The guest posts its receive buffers at once (virtnet_open); its kick starts the worker, which applies them.
    if (!offload) this.guest = new GuestVcpu(sim, this, sim.cpu(pl.vcpu + 2 * index));
    this.producer = new ProducerTask(sim, this, sim.cpu(pl.softirq), { nic: s.nicProg, placement, offload: s.offload, rx: s.rx });
  }
}

export interface GuestResult {
  mpps: number;
  /** The components' counters (readCounters; `guest` from the guest's queue pair). */
  counters: Record<string, Record<string, number>>;
  sent: number;
  dropped: number;
  tx: number;
  passed: number;
  errors: number;
  /** Wakes the producer paid (vhost_wakers) and the guest's doorbells paid (vhost_kicks). */
  wakes: number;
  kickWakes: number;
  ringPackets: number;
  /** Packet copies across the guest boundary: vhost_net rx_copies (into the guest) + tx_copies (out of it). */
  copies: number;
  processed: number;
  consumed: number;
  batches: number;
}

export interface SimResult {
  mpps: number;
  /** Time each CPU of the placement was held, by CPU number (a busy poll holds it). */
  cpuBusyNs: Record<number, number>;
  perGuest: GuestResult[];
  virtualNs: number;
  events: number;
}

export class Sim {
  readonly sched = new VirtualScheduler();
  now = 0;
  readonly clock: Clock;
  readonly c: Costs;
  readonly placement: Profile["placement"];
  readonly #cpus = new Map<number, Cpu>();
  readonly #pollers = new Map<VhostTask, number>();
  readonly #running: VhostTask[] = [];
  #pollSeq = 0;
  readonly paths: GuestPath[] = [];

  readonly o: SimOptions;

  constructor(o: SimOptions, profile: Profile) {
    this.o = o;
    this.c = profile.costs;
    this.placement = profile.placement;
    const self = this;
    this.clock = { nowNs(): number { return self.now; } };
    for (let i = 0; i < o.guests; i++) this.paths.push(new GuestPath(this, i));
  }

  cpu(id: number): Cpu {
    let c = this.#cpus.get(id);
    if (c === undefined) {
      c = new Cpu(this, id);
      this.#cpus.set(id, c);
    }
    return c;
  }

  /** Runs `fn` at virtual time `t`; afterwards, busy pollers that now see work resume. */
  at(t: number, fn: () => void): void {
    this.sched.at(t, () => {
      this.now = t;
      fn();
      this.#checkPolls();
    });
  }

  /**
   * Runs every event up to `t` (the running worker's local time), then the clock reads `t`. A
   * worker started from inside another worker's catch-up (another guest, woken meanwhile) may not
   * run the world past the outer worker's time: its view is then up to that time only.
   */
  syncTo(t: number): void {
    const st = this.#running;
    let lim = t;
    for (let i = 0; i < st.length - 1; i++) if (st[i]!.t < lim) lim = st[i]!.t;
    this.sched.runUntil(lim);
    this.now = t;
  }

  enter(w: VhostTask): void {
    this.#running.push(w);
  }

  leave(w: VhostTask): void {
    const i = this.#running.lastIndexOf(w);
    if (i >= 0) this.#running.splice(i, 1);
  }

  startPoll(w: VhostTask): void {
    const id = ++this.#pollSeq;
    w.pollId = id;
    this.#pollers.set(w, id);
    const deadline = Math.max(w.t, w.dev.pollDeadlineNs);
    this.at(deadline, () => {
      if (this.#pollers.get(w) !== id) return;
      this.#pollers.delete(w);
      w.dev.pollEnd(false);
      w.run(this.now);
    });
  }

  #checkPolls(): void {
    if (this.#pollers.size === 0) return;
    for (const [w, id] of [...this.#pollers]) {
      if (this.#pollers.get(w) !== id || !w.dev.pollCheck()) continue;
      this.#pollers.delete(w);
      w.dev.pollEnd(true);
      w.run(Math.max(this.now, w.t));
    }
  }

  run(): SimResult {
    for (const p of this.paths) p.producer.start();
    this.sched.runUntil(Number.MAX_SAFE_INTEGER);
    const perGuest = this.paths.map((p) => this.#result(p));
    const mpps = steadyRate(this.paths.map((p) => p.verdicts)) * 1e3;
    const cpuBusyNs: Record<number, number> = {};
    for (const [id, c] of this.#cpus) cpuBusyNs[id] = c.busyNs;
    return { mpps, cpuBusyNs, perGuest, virtualNs: this.now, events: this.sched.events };
  }

  #result(p: GuestPath): GuestResult {
    const c = readCounters(p.setup.kernel, p.setup.sh);
    if (p.guest !== null) c.guest = p.guest.counters();
    const f = datapathFates(c);
    const vn = c.vhost_net!, tr = c.tun_recv!;
    // The copy into the guest seen from both ends: vhost's USED record and the guest's receive.
    if (p.guest !== null && c.guest!.rx_copies !== vn.rx_copies) {
      throw new Error(`model: guest received ${c.guest!.rx_copies} copies, vhost made ${vn.rx_copies}`);
    }
    return {
      mpps: steadyRate([p.verdicts]) * 1e3, counters: c, sent: f.sent, dropped: f.dropped, tx: f.tx, passed: f.passed,
      errors: f.errors, wakes: c.vhost_wakers!.wakes!, kickWakes: c.vhost_kicks!.wakes!, ringPackets: c.tun_xmit!.tx_packets!,
      copies: vn.rx_copies! + vn.tx_copies!, processed: p.verdicts.total, consumed: tr.consumed!, batches: tr.consume_calls! - tr.consume_empty!,
    };
  }
}
