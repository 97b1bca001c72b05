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
import { PagePool } from "../../../host/net/page_pool.ts";
import { TraceRing, TRACE_XDP_EXCEPTION } from "../../../host/net/trace.ts";
import { TunRecv, TunXmit, tunInit, XDP_XMIT_FLUSH } from "../../../host/net/tun.ts";
import { VhostDev, VHOST_NET_VQ_RX } from "../../../host/net/vhost.ts";
import { VhostNet, VHOST_NET_PKT_WEIGHT } from "../../../host/net/vhost_net.ts";
import { GuestStub, guestStubInit } from "../../../host/net/guest_stub.ts";
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
  const guestSh = guestStubInit(mem, 512);
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
  const guest = new GuestStub(mem, guestSh, poolV, false);
  const guestC = new GuestStub(mem, guestSh, poolV, true);
  const net = new VhostNet(mem, netStats, devV, recv, guest, clock, busyloopTimeoutNs);
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
  return { kernel, mem, pool, trace, xmit, devW, devV, recv, net, guestC, waker, clock, frame, runWorker };
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
    expect(p.net.stats.read()).toMatchObject({ rx_packets: 301 });
    expect(p.guestC.poll(1000)).toBe(301);
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
