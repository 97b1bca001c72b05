// The performance model: a discrete-event simulation in virtual time that
// drives the datapath's own components (host/net: pktgen, NIC NAPI with native
// XDP, devmap bulk 16 + flush, bridge, tun_net_xmit / tun_xdp_xmit / the RFC's
// 64-entry consume with the offloaded program, the vhost worker with its
// armed/disarmed poll, wake protocol and busy poll; the guest's RX and XDP send
// virtqueues from shared/virtio: VirtnetRx, VringDriver, VirtioDeviceSide,
// connected in-process by loopback sinks) and charges each step a cost from a
// cost profile (profile.ts). Verdicts come from really running xdp1/xdp2 (the
// offloaded copy in the host's BpfKernel, the guest's copy in a guest
// BpfKernel). Nothing decides the tables but those components and the costs:
// whether a producer pays a wake is the VhostDev's own CAS on the worker's
// state, batch sizes are what tun_consume_packets finds in the ring at the
// consumer's virtual time, and so on.
//
// Time. Every task (the softirq producer of each guest's NIC queue, each vhost
// worker, each guest vCPU's NAPI) runs on a CPU of the placement; a CPU runs
// one task at a time. Task effects on shared state happen at exact virtual
// times:
// - The producer runs a NAPI poll (pktgen's due frames, then napiPoll(64))
//   in one go, but the tap's ndo_xdp_xmit / ndo_start_xmit calls it makes are
//   deferred into a chain of events, each at the time the per-frame work
//   before it ends (c_nic_redirect per redirected frame, c_p per frame through
//   the bridge), followed by what the call itself cost (c_sdr, or C_wake when
//   the VhostDev reported a paid wake; the program when the hook places it in
//   the producer). The bridge and the devmap keep their own order and state;
//   only the tap's side effects are placed in time.
// - The vhost worker runs its loop (VhostDev.step) with a local clock; before
//   each access to shared state (disarm/arm of the RX poll, tun_consume_packets,
//   the ring check, the used-ring flush, the next loop iteration) it runs every
//   event up to its local time (the producers' effects, guest polls), so it
//   sees exactly what had arrived by then. Costs between those points are
//   charged from the components' counters (consumed entries, xdp_frames vs
//   skbs, program verdicts) and from the model's own delivery and TX hooks.
// - The guest NAPI poll runs in one go at its event time (interrupt + L_irq);
//   its XDP send queue kick is an event at the end of the poll.
// Busy polling: a worker that returns STEP_POLL keeps its CPU and is resumed
// at the first event after which VhostDev.pollCheck() holds, or at its deadline.
import { readFileSync } from "node:fs";
import path from "node:path";
import { BpfKernel } from "../../shared/bpf/syscall.ts";
import { loadObject } from "../../shared/bpf/libbpf/libbpf.ts";
import { openObject } from "../../shared/bpf/libbpf/object.ts";
import type { BpfProg } from "../../shared/bpf/runtime/prog.ts";
import { XdpFrame, runXdp, xdpVerdict } from "../../shared/bpf/runtime/xdp.ts";
import { XDP_DROP, XDP_MD_DATA, XDP_MD_DATA_END, XDP_PASS, XDP_TX } from "../../shared/bpf/isa/uapi.ts";
import { STEP_POLL, STEP_SLEEP, type Clock, type Waker } from "../../shared/sched/sched.ts";
import { VirtualScheduler } from "../../shared/sched/virtual.ts";
import { StatBlock } from "../../shared/sched/stats.ts";
import { setupDatapath, readCounters, datapathFates, TAP_IFINDEX, type DatapathSetup } from "../../host/net/datapath.ts";
import { Producer, VhostSide } from "../../host/net/datapath_parts.ts";
import { NAPI_POLL_WEIGHT } from "../../host/net/nic.ts";
import { PagePool } from "../../host/net/page_pool.ts";
import { TUN_XDP_IN_NET_XMIT, TUN_XDP_IN_RECVMSG, TUN_XDP_IN_XDP_XMIT, TUN_XDP_STATS, MAX_TAP_BATCH } from "../../host/net/tun.ts";
import { VhostDev, VHOST_NET_VQ_RX, VHOST_NET_VQ_TX, VHOST_WAKER_STATS, S_WAKES } from "../../host/net/vhost.ts";
import { VHOST_NET_BATCH, VHOST_NET_PKT_WEIGHT } from "../../host/net/vhost_net.ts";
import { FrameWriter, LoopbackSink } from "../../shared/virtio/vring_frame.ts";
import { VringDriver, VirtioDriverDevice } from "../../shared/virtio/vring_driver.ts";
import { VirtioDeviceSide, VQ_DIR_RX, VQ_DIR_TX, devicePutUsed, type DeviceVirtqueue } from "../../shared/virtio/vring_device.ts";
import { VirtnetRx } from "../../shared/virtio/virtnet_rx.ts";
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
    start(t);
  }

  release(t: number): void {
    this.busy = false;
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
      if (kind === OP_XDP_XMIT) this.#xmitXdp(this.opFrames[k]!, n, this.opFlags[k]!);
      else this.#xmitSkb(this.opFrames[k]![0]!);
      let cost = 0;
      const sdr = tun.stats.v[this.#sdrIdx]! - sdr0;
      if (sdr > 0) cost += this.waker.paid ? c.C_wake + (sdr - 1) * c.c_sdr : sdr * c.c_sdr;
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

/** One guest's vhost worker (RX and TX work on one thread) with the model's cost hooks. */
class VhostTask {
  readonly side: VhostSide;
  readonly dev: VhostDev;
  /** Local clock of the current run. */
  t = 0;
  running = false;
  pollId = 0;
  readonly #txPool: PagePool;
  readonly #txBatch: Uint32Array;
  readonly #pool: PagePool;
  #pendingUsed = 0;
  guestRingFull = 0;
  txAllocFail = 0;
  readonly #consumedIdx: number;
  readonly #xdpFramesIdx: number;
  readonly #offIdx: number[];
  readonly #offTxIdx: number;
  readonly #rxpIdx: number[];
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
    this.#pool = PagePool.at(mem, s.sh.pool);
    this.#txPool = PagePool.at(mem, s.sh.pool);
    this.#txBatch = new Uint32Array(MAX_TAP_BATCH);
    const tun = this.side.tun, dev = this.dev;
    this.#recvStats = tun.stats;
    this.#xdpStats = tun.xdp.stats;
    this.#consumedIdx = idx(tun.stats.names, "consumed");
    this.#xdpFramesIdx = idx(tun.stats.names, "xdp_frames");
    const xn = tun.xdp.stats.names;
    this.#offIdx = ["off_drop", "off_tx", "off_pass", "off_redirect", "off_aborted", "off_unknown"].map((n) => idx(xn, n));
    this.#offTxIdx = idx(xn, "off_tx");
    this.#rxpIdx = ["rxp_drop", "rxp_pass", "rxp_tx", "rxp_redirect", "rxp_aborted", "rxp_unknown"].map((n) => idx(xn, n));
    // Cost hooks: each wraps the component's own method on this instance (behaviour unchanged),
    // first bringing the rest of the world up to this worker's local time.
    const consume = tun.tunConsumePackets.bind(tun);
    tun.tunConsumePackets = (out: Uint32Array, num: number): number => this.#consume(consume, out, num);
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
    const net = this.side.net;
    dev.setWork(VHOST_NET_VQ_RX, () => {
      const r = net.handleRx();
      // vhost_net_signal_used() before a busy poll and at the end of the run.
      this.flushGuestRx();
      return r;
    });
    if (sim.o.mode === "non_offload") {
      this.side.guest.deliver = (h: number): void => this.#deliver(h);
      dev.setWork(VHOST_NET_VQ_TX, () => this.#handleTx());
    }
  }

  /** Runs every event up to this worker's local time (the world catches up before a shared access). */
  sync(): void {
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
    const n = orig(out, Math.min(num, this.sim.o.vhostBatch));
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

  /** vhost handle_rx's per-packet delivery to the guest: copy into a popped RX chain (tun_put_user_xdp). */
  #deliver(h: number): void {
    const mem = this.g.setup.kernel.mem, dv = mem.dv, ctx = this.#pool.ctxOf(h);
    const data = dv.getUint32(ctx + XDP_MD_DATA, true), len = dv.getUint32(ctx + XDP_MD_DATA_END, true) - data;
    const r = devicePutUsed(this.g.guest!.devRx, mem.u8, data, len);
    this.#pool.put(h);
    this.charge(this.sim.c.c_rx);
    if (r < 0) {
      // No buffer posted by the guest: the frame is dropped (counted), as the stub's ring_full.
      this.guestRingFull++;
      return;
    }
    // vhost_net_signal_used() once more than VHOST_NET_BATCH heads are pending.
    if (++this.#pendingUsed > VHOST_NET_BATCH) this.flushGuestRx();
  }

  /** Used-ring update of the RX queue and, when event idx asks for it, the interrupt (c_signal). */
  flushGuestRx(): void {
    const gp = this.g.guest;
    if (gp === null || this.#pendingUsed === 0) return;
    this.#pendingUsed = 0;
    this.sync();
    this.sim.now = this.t;
    const r = gp.devRx.flushUsed();
    gp.dev.flush();
    if (r === 1) this.charge(this.sim.c.c_signal);
  }

  /** handle_tx of the guest's XDP send queue: pop, copy into a host frame, submit to tun in batches (tap Rx XDP). */
  #handleTx(): number {
    const sim = this.sim, c = sim.c, gp = this.g.guest!, q = gp.devTx, batch = this.#txBatch;
    const mem = this.g.setup.kernel.mem;
    this.side.net.handleTx();
    this.sync();
    q.disableNotification();
    const max = Math.min(sim.o.vhostBatch, MAX_TAP_BATCH);
    let k = 0, done = 0;
    const submit = (): void => {
      if (k > 0) {
        this.charge(c.F_tx);
        this.side.tun.xdp.tunXdpOne(batch, k);
        k = 0;
      }
      this.sync();
      sim.now = this.t;
      if (q.flushUsed() === 1) this.charge(c.c_signal);
      gp.dev.flush();
    };
    for (;;) {
      const head = q.pop();
      if (head < 0) {
        submit();
        if (q.enableNotification()) {
          q.disableNotification();
          continue;
        }
        return 0;
      }
      const el = q.elem, off = el.dataOff[0]!, len = el.len[0]!;
      const h = off >= 0 ? this.#txPool.alloc() : 0;
      if (h === 0) {
        this.txAllocFail++;
      } else {
        mem.u8.set(q.outData.subarray(off, off + len), this.#txPool.dataOf(h));
        this.#txPool.prepareU32(h, len, TAP_IFINDEX, 0);
        batch[k++] = h;
      }
      q.putUsed(head, null, 0, 0);
      this.charge(c.c_tx);
      if (k === max) submit();
      if (++done >= VHOST_NET_PKT_WEIGHT) {
        submit();
        this.dev.vhostWorkQueue(VHOST_NET_VQ_TX);
        return 0;
      }
    }
  }
}

/** The guest: virtio-net RX queue + XDP send queue (shared/virtio) and its own kernel running the program. */
class GuestTask {
  readonly mem = new Uint8Array(4 << 20);
  readonly rxq: VringDriver;
  readonly txq: VringDriver;
  readonly dev: VirtioDeviceSide;
  readonly devRx: DeviceVirtqueue;
  readonly devTx: DeviceVirtqueue;
  readonly rx: VirtnetRx;
  readonly kernel: BpfKernel;
  readonly prog: BpfProg;
  readonly frame: XdpFrame;
  /** Guest-side VhostDev handle: the kick's vhost_poll_wakeup pays a wake when the worker sleeps. */
  readonly kickDev: VhostDev;
  readonly kickWaker: ModelWaker;
  t = 0;
  pollScheduled = false;
  txQueued = 0;
  drop = 0;
  tx = 0;
  pass = 0;
  other = 0;
  txRingFull = 0;
  kicks = 0;

  readonly sim: Sim;
  readonly g: GuestPath;
  readonly cpu: Cpu;

  constructor(sim: Sim, g: GuestPath, cpu: Cpu) {
    this.sim = sim;
    this.g = g;
    this.cpu = cpu;
    const num = 256;
    const g2d = new LoopbackSink(), d2g = new LoopbackSink();
    const gw = new FrameWriter(g2d), dw = new FrameWriter(d2g);
    this.rxq = new VringDriver({ index: 0, num, mem: this.mem, base: 0, eventIdx: true, out: gw });
    this.txq = new VringDriver({ index: 1, num, mem: this.mem, base: 0x8000, eventIdx: true, out: gw, outData: true });
    const drv = new VirtioDriverDevice(gw, [this.rxq, this.txq]);
    this.dev = new VirtioDeviceSide({ memSize: this.mem.length, eventIdx: true, out: dw, queues: [[num, VQ_DIR_RX], [num, VQ_DIR_TX, 2048]] });
    g2d.peer = this.dev;
    d2g.peer = drv;
    this.devRx = this.dev.vqs[0]!;
    this.devTx = this.dev.vqs[1]!;
    this.rx = new VirtnetRx({ vq: this.rxq, bufBase: 0x10000, bufSize: 2048, nbufs: 2 * num });
    this.kernel = new BpfKernel();
    const file = path.join(sim.o.programsDir, `${sim.o.program}.o`);
    this.prog = loadObject(this.kernel, openObject(readFileSync(file), { file })).progList[0]!;
    this.frame = new XdpFrame(this.kernel.vm);
    const s = g.setup;
    this.kickWaker = new ModelWaker(sim, () => g.vhost);
    this.kickDev = VhostDev.at(s.kernel.mem, s.sh.vhost.addr, StatBlock.init(s.kernel.mem, VHOST_WAKER_STATS).addr, this.kickWaker, false);
    // The XDP send queue takes no TX interrupts; its buffers are reclaimed before adding.
    this.txq.disable_cb();
    this.devTx.onKick = () => this.kickDev.vhostWorkQueue(VHOST_NET_VQ_TX);
    this.rx.onPacket = (m, off, len) => this.#onPacket(m, off, len);
    this.rx.onNapiSchedule = () => this.#schedule(this.sim.now + this.sim.c.L_irq);
    this.rx.try_fill_recv();
  }

  #schedule(at: number): void {
    if (this.pollScheduled) return;
    this.pollScheduled = true;
    this.sim.at(at, () => this.cpu.acquire(this.sim.now, (t) => this.#poll(t)));
  }

  /** virtnet_poll() at `t` (CPU held): receive up to 64 with XDP, refill, kick the XDP send queue. */
  #poll(t: number): void {
    const sim = this.sim, c = sim.c;
    this.pollScheduled = false;
    this.t = t;
    sim.now = t;
    this.txQueued = 0;
    // Re-scheduling from inside the poll (more used entries) happens at the poll's end.
    const saved = this.rx.onNapiSchedule;
    let again = false;
    this.rx.onNapiSchedule = () => {
      again = true;
    };
    this.rx.poll(NAPI_POLL_WEIGHT);
    this.rx.onNapiSchedule = saved;
    void again;
    const end = (tEnd: number): void => {
      this.cpu.release(tEnd);
      // Budget used up, or entries arrived while completing: NAPI stays scheduled.
      if (this.rx.napiScheduled) this.#schedule(tEnd);
    };
    if (this.txQueued > 0) {
      // The XDP send queue's kick once per poll, when kick_prepare says so, at the end of the poll.
      sim.at(this.t, () => {
        const kick = this.txq.kick_prepare();
        this.kickWaker.paid = false;
        let cost = 0;
        if (kick) {
          this.kicks++;
          this.txq.notify();
        }
        this.txq.out.flush();
        if (kick) cost += c.c_kick + (this.kickWaker.paid ? c.C_wake : 0);
        end(sim.now + cost);
      });
    } else {
      end(this.t);
    }
  }

  /** netif_receive of one buffer: the guest's XDP program on it; XDP_TX goes to the XDP send queue. */
  #onPacket(m: Uint8Array, off: number, len: number): void {
    const c = this.sim.c, vm = this.kernel.vm, f = this.frame;
    this.t += c.c_g_pkt;
    vm.mem.u8.set(m.subarray(off, off + len), f.dataAddr());
    f.prepare(vm, len, 2, 0);
    const act = xdpVerdict(runXdp(vm, this.prog, f));
    if (act === XDP_TX) {
      this.tx++;
      this.t += c.c_g_tx;
      const data = f.data(vm), dlen = f.dataEnd(vm) - data;
      m.set(vm.mem.u8.subarray(data, data + dlen), off);
      // free_old_xmit(): reclaim what vhost completed.
      while (this.txq.get_buf() >= 0) { /* reclaimed */ }
      if (this.txq.add_outbuf(off, dlen, 0) < 0) this.txRingFull++;
      else this.txQueued++;
    } else if (act === XDP_DROP) this.drop++;
    else if (act === XDP_PASS) this.pass++;
    else this.other++;
    this.g.verdicts.add(this.t, 1);
  }
}

/** Everything of one guest: its host datapath (own tap, vhost), its tasks, its guest. */
class GuestPath {
  readonly setup: DatapathSetup;
  readonly producer: ProducerTask;
  readonly vhost: VhostTask;
  readonly guest: GuestTask | null;
  readonly verdicts = new VerdictLog();
  readonly vhostSide: VhostSide;

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
    this.vhostSide = this.vhost.side;
    this.dev0Step();
    if (!offload) this.guest = new GuestTask(sim, this, sim.cpu(pl.vcpu + 2 * index));
    this.producer = new ProducerTask(sim, this, sim.cpu(pl.softirq), { nic: s.nicProg, placement, offload: s.offload, rx: s.rx });
  }

  /** The worker starts and goes to sleep (its first loop finds no work). */
  private dev0Step(): void {
    this.vhost.dev.step();
  }
}

export interface GuestResult {
  mpps: number;
  counters: Record<string, Record<string, number>>;
  sent: number;
  dropped: number;
  tx: number;
  passed: number;
  errors: number;
  wakes: number;
  ringPackets: number;
  copies: number;
  processed: number;
  consumed: number;
  batches: number;
  guest?: { drop: number; tx: number; pass: number; other: number; txRingFull: number; kicks: number; interrupts: number; kickWakes: number };
}

export interface SimResult {
  mpps: number;
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
    return { mpps, perGuest, virtualNs: this.now, events: this.sched.events };
  }

  #result(p: GuestPath): GuestResult {
    const c = readCounters(p.setup.kernel, p.setup.sh);
    const f = datapathFates(c);
    const v = p.vhost, g = p.guest;
    let { dropped, tx, passed, errors } = f;
    errors += v.guestRingFull + v.txAllocFail;
    let copies = 0;
    let guest: GuestResult["guest"];
    if (g !== null) {
      dropped += g.drop;
      tx += g.tx;
      passed += g.pass;
      errors += g.other;
      copies = g.devRx.copies;
      const kw = g.kickDev.stats.v[S_WAKES]!;
      guest = { drop: g.drop, tx: g.tx, pass: g.pass, other: g.other, txRingFull: g.txRingFull, kicks: g.kicks, interrupts: g.devRx.interrupts, kickWakes: kw };
    }
    const tr = c.tun_recv!;
    return {
      mpps: steadyRate([p.verdicts]) * 1e3, counters: c, sent: f.sent, dropped, tx, passed, errors,
      wakes: c.vhost_wakers!.wakes!, ringPackets: c.tun_xmit!.tx_packets!, copies, processed: p.verdicts.total,
      consumed: tr.consumed!, batches: tr.consume_calls! - tr.consume_empty!, guest,
    };
  }
}
