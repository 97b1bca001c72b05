// Assembly of the datapath's two sides from the shared structures, used by the
// thread entry points (softirq_worker.ts, vhost_worker.ts) and, unchanged, by
// single-thread drivers (tests, the allocation probe, the virtual clock): the
// same component objects whichever driver runs them.
import type { BpfMemory } from "../../shared/bpf/runtime/memory.ts";
import type { BpfVm } from "../../shared/bpf/runtime/vm.ts";
import type { BpfProg } from "../../shared/bpf/runtime/prog.ts";
import { REAL_CLOCK, type Clock, type Waker } from "../../shared/sched/sched.ts";
import type { DatapathShared } from "./datapath_shared.ts";
import { PagePool } from "../../shared/net/page_pool.ts";
import { TraceRing } from "./trace.ts";
import { Nic, NAPI_POLL_WEIGHT } from "./nic.ts";
import { DevMapCpu } from "./devmap.ts";
import { Bridge } from "./bridge.ts";
import { TunRecv, TunXdp, TunXmit, TUN_XDP_IN_RECVMSG } from "./tun.ts";
import { VhostDev, VHOST_NET_VQ_RX } from "./vhost.ts";
import { VhostNet, VhostVirtio } from "./vhost_net.ts";
import { Pktgen, type PktgenConfig } from "./pktgen.ts";
import { CaptureRing } from "./capture.ts";

function captureAt(mem: BpfMemory, addr: number): CaptureRing | null {
  return addr === 0 ? null : CaptureRing.at(mem, addr);
}

/** The programs of the producer side: NIC-B's, and the tap's when the placement puts them there. */
export interface ProducerProgs {
  nic: BpfProg | null;
  /** TUN_XDP_IN_*: where the offloaded program runs. */
  placement: number;
  /** The offloaded program and the tap's Rx-path program, used when placement is not recvmsg. */
  offload: BpfProg | null;
  rx: BpfProg | null;
}

/** The producer side: pktgen, NIC-B with its XDP hook, devmap bulk queues, bridge, tun's xmit side. */
export class Producer {
  readonly pool: PagePool;
  readonly nic: Nic;
  readonly devmap: DevMapCpu;
  readonly bridge: Bridge;
  readonly tun: TunXmit;
  readonly vhost: VhostDev;
  readonly pktgen: Pktgen;

  constructor(mem: BpfMemory, sh: DatapathShared, vm: BpfVm, progs: ProducerProgs, waker: Waker, cfg: PktgenConfig,
    clock: Clock) {
    const trace = TraceRing.at(mem, sh.trace);
    this.pool = PagePool.at(mem, sh.pool);
    this.nic = new Nic(mem, sh.nic, this.pool, vm, trace);
    this.nic.xdpProg = progs.nic;
    this.tun = new TunXmit(mem, sh.tun, this.pool);
    if (progs.placement !== TUN_XDP_IN_RECVMSG && progs.offload !== null) {
      // The RFC's rejected placements: the offloaded program runs in the producer's context.
      const xdp = new TunXdp(mem, sh.tun, this.pool, vm, trace, true);
      xdp.offloadProg = progs.offload;
      xdp.rxProg = progs.rx;
      xdp.rxCapture = captureAt(mem, sh.captures.tapRx);
      this.tun.xdp = xdp;
      this.tun.placement = progs.placement;
    }
    this.nic.rxCapture = captureAt(mem, sh.captures.nicRx);
    this.tun.txCapture = captureAt(mem, sh.captures.tapTx);
    this.vhost = VhostDev.at(mem, sh.vhost.addr, sh.vhost.wakerStats, waker, false);
    this.tun.waiter = { dev: this.vhost, id: VHOST_NET_VQ_RX };
    this.devmap = new DevMapCpu(mem, sh.devmapStats, this.pool);
    this.devmap.addDevice(this.tun);
    this.nic.redirect = this.devmap;
    this.bridge = new Bridge(mem, sh.bridgeStats, this.pool);
    this.bridge.addPort(this.nic);
    this.bridge.addPort(this.tun);
    this.nic.stack = this.bridge;
    this.pktgen = new Pktgen(mem, sh.pktgen, cfg, clock);
  }

  /** Up to `n` (<= 64) packets onto the wire (fewer when a rate spaces them), then one NAPI poll. Returns how many were sent. */
  step(n: number): number {
    const k = this.pktgen.xmit(this.nic, n);
    this.nic.napiPoll(NAPI_POLL_WEIGHT);
    return k;
  }

  /** Sends `count` packets with a NAPI poll after each burst (64 at full rate), then polls NIC-B's ring empty. */
  run(count: number): void {
    let left = count;
    while (left > 0) left -= this.step(left < NAPI_POLL_WEIGHT ? left : NAPI_POLL_WEIGHT);
    while (!this.nic.rxRing.isEmpty()) this.nic.napiPoll(NAPI_POLL_WEIGHT);
    // This thread's alloc cache goes back to the pool for the next run.
    this.pool.flushCache();
  }
}

export function buildProducer(mem: BpfMemory, sh: DatapathShared, vm: BpfVm, progs: ProducerProgs,
  mkWaker: (i32: Int32Array, stateIdx: number) => Waker, cfg: PktgenConfig, clock: Clock = REAL_CLOCK): Producer {
  const i32 = new Int32Array(mem.memory.buffer);
  return new Producer(mem, sh, vm, progs, mkWaker(i32, (sh.vhost.addr >> 2)), cfg, clock);
}

/**
 * The vhost side: the worker's VhostDev, vhost-net's handlers, tun's consume side, the device end
 * of the guest's virtqueues.
 * `offloadProg`/`rxProg` are the programs run in tun_recvmsg (null unless that is the placement).
 */
export class VhostSide {
  readonly dev: VhostDev;
  readonly net: VhostNet;
  readonly tun: TunRecv;
  readonly virtio: VhostVirtio;

  constructor(mem: BpfMemory, sh: DatapathShared, vm: BpfVm, offloadProg: BpfProg | null, rxProg: BpfProg | null,
    clock: Clock, busyloopTimeoutNs: number) {
    const pool = PagePool.at(mem, sh.pool);
    const trace = TraceRing.at(mem, sh.trace);
    // The worker never wakes itself: its own requeues find it running.
    this.dev = VhostDev.at(mem, sh.vhost.addr, sh.vhost.workerStats, NO_WAKER, true);
    this.tun = new TunRecv(mem, sh.tun, pool, vm, trace);
    this.tun.xdp.offloadProg = offloadProg;
    this.tun.xdp.rxProg = rxProg;
    if (offloadProg !== null || rxProg !== null) this.tun.xdp.rxCapture = captureAt(mem, sh.captures.tapRx);
    // tun_sendmsg's path into the tap's Rx program, with vhost's own pages (it allocates and frees them).
    const txPool = PagePool.at(mem, sh.virtio.txPool);
    const txXdp = new TunXdp(mem, { ...sh.tun, xdpStats: sh.virtio.sendStats }, txPool, vm, trace, true);
    txXdp.rxProg = rxProg;
    txXdp.rxCapture = captureAt(mem, sh.captures.tapRx);
    this.virtio = new VhostVirtio(mem, sh.virtio, txPool, txXdp);
    this.net = new VhostNet(mem, sh.vhost.netStats, this.dev, this.tun, this.virtio, pool, clock, busyloopTimeoutNs);
    this.net.guestCapture = captureAt(mem, sh.captures.guestRx);
  }
}

const NO_WAKER: Waker = { notify(): void {} };
