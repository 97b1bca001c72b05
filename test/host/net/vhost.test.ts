// tun + vhost + vhost-net driven step by step on one thread with a counting
// waker (what the virtual clock will do): the wake-up protocol's counts are
// exact here, so each kernel rule is checked as a number.
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import path from "node:path";
import { BpfKernel } from "../../../shared/bpf/syscall.ts";
import { loadObject } from "../../../shared/bpf/libbpf/libbpf.ts";
import { openObject } from "../../../shared/bpf/libbpf/object.ts";
import { BpfProg } from "../../../shared/bpf/runtime/prog.ts";
import { assemble } from "../../../shared/bpf/isa/asm.ts";
import { BPF_PROG_TYPE_XDP } from "../../../shared/bpf/isa/uapi.ts";
import { buildFrame } from "../../../shared/net/packets.ts";
import { IPPROTO_UDP } from "../../../shared/net/headers.ts";
import { STEP_POLL, STEP_RAN, STEP_SLEEP, type Clock, type Waker } from "../../../shared/sched/sched.ts";
import { PagePool } from "../../../shared/net/page_pool.ts";
import { TraceRing, TRACE_XDP_EXCEPTION } from "../../../host/net/trace.ts";
import { TunRecv, TunXmit, tunInit, XDP_XMIT_FLUSH } from "../../../host/net/tun.ts";
import { VhostDev, VHOST_NET_VQ_RX } from "../../../host/net/vhost.ts";
import { VhostNet, VhostVirtio, VHOST_NET_PKT_WEIGHT, VHOST_TX_POOL_FRAMES, vhostVirtioQueues } from "../../../host/net/vhost_net.ts";
import { StatBlock } from "../../../shared/sched/stats.ts";
import { VHOST_WAKER_STATS } from "../../../host/net/vhost.ts";
import { TunXdp, TUN_XDP_STATS } from "../../../host/net/tun.ts";
import { localGuest } from "../../../guest/net/virtnet_task.ts";
import { PROGRAMS_DIR } from "../../helpers/repo.ts";

class CountingWaker implements Waker {
  n = 0;
  notify(): void {
    this.n++;
  }
}

class ManualClock implements Clock {
  t = 0;
  nowNs(): number {
    return this.t;
  }
}

const POOL = 1024;

function load(kernel: BpfKernel, obj: string): BpfProg {
  const file = path.join(PROGRAMS_DIR, obj);
  return loadObject(kernel, openObject(readFileSync(file), { file })).progList[0]!;
}

function setup(offload: string | BpfProg | null, rx: string | null, busyloopTimeoutNs = 0) {
  const kernel = new BpfKernel();
  const mem = kernel.mem;
  const pool = PagePool.create(mem, POOL);
  const trace = TraceRing.init(mem, 64);
  const tunSh = tunInit(mem, 5);
  const dev = VhostDev.init(mem);
  const netStats = VhostNet.initStats(mem);
  const vsh = {
    ...vhostVirtioQueues(mem), txPool: PagePool.create(mem, VHOST_TX_POOL_FRAMES).addr,
    sendStats: StatBlock.init(mem, TUN_XDP_STATS).addr, kickStats: StatBlock.init(mem, VHOST_WAKER_STATS).addr,
  };
  const waker = new CountingWaker();
  const clock = new ManualClock();
  // producer side
  const xmit = new TunXmit(mem, tunSh, pool);
  const devW = VhostDev.at(mem, dev.addr, dev.wakerStats, waker, false);
  xmit.waiter = { dev: devW, id: VHOST_NET_VQ_RX };
  // vhost side (its own handles on the same structs)
  const poolV = PagePool.at(mem, pool.addr);
  const recv = new TunRecv(mem, tunSh, poolV, kernel.vm, trace);
  recv.xdp.offloadProg = typeof offload === "string" ? load(kernel, offload) : offload;
  recv.xdp.rxProg = rx === null ? null : load(kernel, rx);
  const devV = VhostDev.at(mem, dev.addr, dev.workerStats, { notify() { throw new Error("worker woke itself"); } }, true);
  const txPool = PagePool.at(mem, vsh.txPool);
  const txXdp = new TunXdp(mem, { ...tunSh, xdpStats: vsh.sendStats }, txPool, kernel.vm, trace, true);
  const net = new VhostNet(mem, netStats, devV, recv, new VhostVirtio(mem, vsh, txPool, txXdp), poolV, clock, busyloopTimeoutNs);
  // The guest (its own kernel) posts its receive ring; its doorbells have their own waker.
  const guest = localGuest(mem, vsh, dev.addr, new CountingWaker(), null).task;
  const pkt = buildFrame({ l3: "ipv4", l4: IPPROTO_UDP, frameLen: 64 });
  const frame = (): number => {
    const h = pool.alloc();
    expect(h).not.toBe(0);
    pool.prepare(mem.dv, h, pkt.length, 2, 0);
    mem.u8.set(pkt, pool.dataOf(h));
    return h;
  };
  /** Runs the worker until it sleeps; returns the steps taken. */
  const runWorker = (): number => {
    let steps = 0;
    for (;;) {
      const r = devV.step();
      steps++;
      if (r === STEP_SLEEP) return steps;
      if (r === STEP_POLL) throw new Error("unexpected poll");
      expect(r).toBe(STEP_RAN);
    }
  };
  // The guest's first kick: vhost applies its ring, finds tun empty (polls it out if busy polling),
  // re-arms and sleeps. The tests count from there.
  for (;;) {
    const r = devV.step();
    if (r === STEP_SLEEP) break;
    if (r === STEP_POLL) {
      clock.t = devV.pollDeadlineNs;
      devV.pollEnd(false);
    }
  }
  for (const b of [net.stats, recv.stats, recv.xdp.stats, devW.stats, devV.stats]) b.v.fill(0);
  /** Guest and worker in turn until neither has anything to do. */
  const settle = (): void => {
    while (guest.pump() > 0) runWorker();
  };
  return { kernel, mem, pool, trace, xmit, devW, devV, recv, net, guest, waker, clock, frame, runWorker, settle };
}

/** tun_recvmsg's counters and the offloaded program's, in one object. */
function recvAndXdp(p: ReturnType<typeof setup>): Record<string, number> {
  return { ...p.recv.stats.read(), ...p.recv.xdp.stats.read() };
}

describe("vhost wake-up protocol (tun_net_xmit: sk_data_ready per packet)", () => {
  it("a worker that drains and sleeps between packets costs one real wake per packet", () => {
    const p = setup("xdp1.o", null);
    expect(p.devV.step()).toBe(STEP_SLEEP);
    for (let i = 0; i < 10; i++) {
      p.xmit.tunNetXmit(p.frame());
      p.runWorker();
    }
    const w = p.devW.stats.read();
    expect(p.waker.n).toBe(10);
    expect(w).toMatchObject({ poll_attempts: 10, wakes: 10, wake_queued: 0, wake_running: 0, poll_disarmed: 0 });
    expect(recvAndXdp(p)).toMatchObject({ consumed: 10, off_drop: 10 });
    expect(p.pool.freeCountQuiesced()).toBe(POOL);
  });

  it("packets that arrive before the woken worker runs find VHOST_WORK_QUEUED set: one wake for the lot", () => {
    const p = setup("xdp1.o", null);
    p.devV.step();
    for (let i = 0; i < 10; i++) p.xmit.tunNetXmit(p.frame());
    p.runWorker();
    expect(p.waker.n).toBe(1);
    expect(p.devW.stats.read()).toMatchObject({ wakes: 1, wake_queued: 9 });
    // one recvmsg takes all 10; xdp1 drops them, so vhost sees none and re-arms
    expect(recvAndXdp(p)).toMatchObject({ consume_calls: 1, consumed: 10, batch_max: 10, off_drop: 10 });
  });

  it("a full ring tail-drops in tun_net_xmit (tx_dropped) without a wake-up attempt", () => {
    const p = setup("xdp1.o", null);
    for (let i = 0; i < 1000; i++) p.xmit.tunNetXmit(p.frame());
    p.xmit.tunNetXmit(p.frame());
    expect(p.xmit.stats.read()).toMatchObject({ tx_packets: 1000, tx_dropped: 1, sk_data_ready: 1000 });
    p.runWorker();
    expect(p.pool.freeCountQuiesced()).toBe(POOL);
  });
});

describe("tun_xdp_xmit (devmap bulks)", () => {
  it("sk_data_ready only with XDP_XMIT_FLUSH: one wake attempt per NAPI poll, one recvmsg of 64", () => {
    const p = setup("xdp1.o", null);
    p.devV.step();
    const bulk = new Uint32Array(16);
    for (let b = 0; b < 4; b++) {
      for (let i = 0; i < 16; i++) bulk[i] = p.frame();
      expect(p.xmit.tunXdpXmit(bulk, 16, b === 3 ? XDP_XMIT_FLUSH : 0)).toBe(16);
    }
    expect(p.xmit.stats.read()).toMatchObject({ xdp_xmit: 4, xdp_xmit_flush: 1, sk_data_ready: 1, tx_packets: 64 });
    expect(p.waker.n).toBe(1);
    p.runWorker();
    expect(recvAndXdp(p)).toMatchObject({ consumed: 64, xdp_frames: 64, batch_max: 64, off_drop: 64 });
  });
});

describe("the offloaded program's verdicts in tun_consume_packets", () => {
  it("xdp2's XDP_TX re-enters the tap's Rx path, whose dropper drops it; every frame returns to the pool", () => {
    const p = setup("xdp2.o", "xdp_drop.o");
    p.devV.step();
    for (let i = 0; i < 100; i++) p.xmit.tunNetXmit(p.frame());
    p.runWorker();
    expect(recvAndXdp(p)).toMatchObject({ consumed: 100, off_tx: 100, rxp_drop: 100, off_pass: 0 });
    expect(p.pool.freeCountQuiesced()).toBe(POOL);
  });

  it("XDP_PASS goes on to the guest; VHOST_NET_PKT_WEIGHT ends a run with the poll still disarmed", () => {
    const p = setup("xdp_pass.o", null);
    p.devV.step();
    for (let i = 0; i < 300; i++) p.xmit.tunNetXmit(p.frame());
    expect(p.devV.step()).toBe(STEP_RAN); // first run: 256 packets, then requeue
    expect(p.net.stats.read()).toMatchObject({ rx_packets: VHOST_NET_PKT_WEIGHT, rx_weight_exceeded: 1 });
    p.xmit.tunNetXmit(p.frame());
    expect(p.devW.stats.read()).toMatchObject({ poll_disarmed: 1 });
    p.runWorker();
    // The guest posted 256 buffers: the rest waits in vhost until its NAPI poll refills and kicks.
    expect(p.net.stats.read()).toMatchObject({ rx_packets: 256, rx_no_buffers: 1 });
    p.settle();
    expect(p.net.stats.read()).toMatchObject({ rx_packets: 301, rx_copies: 301 });
    expect(p.guest.qp.stats[0]).toBe(301); // rx_queue_0_packets
    expect(p.pool.freeCountQuiesced()).toBe(POOL);
  });

  it("handle_rx re-arms the socket poll before its last vhost_net_signal_used(): a packet sent during the signal queues the work", () => {
    const p = setup("xdp_pass.o", null);
    p.devV.step();
    // tun_net_xmit from inside the end-of-run signal (the guest interrupt), as a producer on
    // another CPU does while vhost signals: the poll must already be back on the wait queue.
    const flush = p.net.virtio.dev.flush.bind(p.net.virtio.dev);
    let injected = 0;
    p.net.virtio.dev.flush = (): number => {
      if (injected === 0 && p.recv.stats.read().consumed === 1) {
        injected++;
        p.xmit.tunNetXmit(p.frame());
      }
      return flush();
    };
    p.xmit.tunNetXmit(p.frame());
    p.runWorker();
    expect(injected).toBe(1);
    // Found armed with the worker running: the work is queued, no wake paid, and the worker
    // runs handle_rx again before it sleeps.
    expect(p.devW.stats.read()).toMatchObject({ poll_attempts: 2, poll_disarmed: 0, wake_running: 1, wakes: 1 });
    expect(p.net.stats.read()).toMatchObject({ rx_runs: 2, rx_packets: 2 });
    p.net.virtio.dev.flush = flush;
    p.settle();
    expect(p.pool.freeCountQuiesced()).toBe(POOL);
  });

  it("unknown actions and XDP_ABORTED are dropped, counted and traced (xdp:xdp_exception)", () => {
    const prog = new BpfProg({ id: 77, name: "ret7", progType: BPF_PROG_TYPE_XDP, insns: assemble("mov %r0, 7\nexit"), usedMaps: [], gplCompatible: true });
    const p = setup(prog, null);
    p.devV.step();
    for (let i = 0; i < 3; i++) p.xmit.tunNetXmit(p.frame());
    p.runWorker();
    expect(recvAndXdp(p)).toMatchObject({ off_unknown: 3, off_drop: 0 });
    expect(p.trace.read()).toEqual(new Array(3).fill({ event: TRACE_XDP_EXCEPTION, progId: 77, action: 7, ifindex: 5 }));
    expect(p.pool.freeCountQuiesced()).toBe(POOL);
  });
});

describe("busy polling (busyloop timeout)", () => {
  it("keeps the poll disarmed while spinning: arrivals cost no wake; a timeout re-arms", () => {
    const p = setup("xdp1.o", null, 50_000);
    p.devV.step();
    p.xmit.tunNetXmit(p.frame());
    expect(p.waker.n).toBe(1);
    expect(p.devV.step()).toBe(STEP_POLL); // consumed 1, ring empty: poll
    expect(p.devV.pollCheck()).toBe(false);
    p.xmit.tunNetXmit(p.frame());
    expect(p.devW.stats.read()).toMatchObject({ poll_disarmed: 1, wakes: 1 });
    expect(p.devV.pollCheck()).toBe(true);
    p.devV.pollEnd(true);
    // The peek after the poll consumes the 2nd; xdp1 drops it, nothing for the guest: re-arm.
    expect(p.devV.step()).toBe(STEP_RAN);
    expect(p.devV.step()).toBe(STEP_SLEEP);
    p.xmit.tunNetXmit(p.frame());
    expect(p.waker.n).toBe(2);
    expect(p.devV.step()).toBe(STEP_POLL);
    p.clock.t = p.devV.pollDeadlineNs; // nothing arrives: the driver gives up at the deadline
    p.devV.pollEnd(false);
    expect(p.devV.step()).toBe(STEP_RAN);
    expect(p.devV.step()).toBe(STEP_SLEEP);
    expect(p.net.stats.read()).toMatchObject({ rx_busy_polls: 2, rx_runs: 2 });
    expect(recvAndXdp(p)).toMatchObject({ consumed: 3, off_drop: 3 });
    expect(p.devW.stats.read()).toMatchObject({ wakes: 2, poll_disarmed: 1 });
  });
});
