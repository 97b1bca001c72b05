// The datapath's own components (host/net/datapath_parts.ts: the producer
// side and the vhost side the threads run) driven by the virtual clock
// (shared/sched/virtual.ts) instead of threads: with every step free, only
// the wake latency and the arrival times decide, and the wake-up mechanism's
// outcome is exact. This is the seam the performance model will use.
import { describe, expect, it } from "vitest";
import { setupDatapath, readCounters, datapathFates } from "../../../host/net/datapath.ts";
import { Producer, VhostSide } from "../../../host/net/datapath_parts.ts";
import { VirtualScheduler, VirtualWaker } from "../../../shared/sched/virtual.ts";
import { TUN_XDP_IN_NET_XMIT, TUN_XDP_IN_RECVMSG, TUN_XDP_IN_XDP_XMIT } from "../../../host/net/tun.ts";
import { PROGRAMS_DIR } from "../../helpers/repo.ts";
import { localGuest } from "../../../guest/net/virtnet_task.ts";

/** `packets` arrivals, one NAPI poll of `burst` packets every `gapNs`, worker wake latency `latencyNs`. */
function simulate(nicProg: string | null, packets: number, burst: number, gapNs: number, latencyNs: number,
  offloadProg = "xdp1.o", placement = TUN_XDP_IN_RECVMSG, busyloopTimeoutNs = 0) {
  const s = setupDatapath({ programsDir: PROGRAMS_DIR, nicProg, offloadProg, rxProg: "xdp_drop.o", count: packets });
  const sched = new VirtualScheduler();
  const waker = new VirtualWaker(sched, latencyNs);
  const cfg = { size: 64, flows: 1, ratePps: 0, lineBps: 0 };
  const inRecvmsg = placement === TUN_XDP_IN_RECVMSG;
  const producer = new Producer(s.kernel.mem, s.sh, s.kernel.vm, { nic: s.nicProg, placement, offload: s.offload, rx: s.rx },
    waker, cfg, sched.clock);
  const vhost = new VhostSide(s.kernel.mem, s.sh, s.kernel.vm, inRecvmsg ? s.offload : null, inRecvmsg ? s.rx : null, sched.clock, busyloopTimeoutNs);
  waker.task = vhost.dev;
  vhost.dev.step(); // the worker starts and goes to sleep
  // The guest posts its 256 receive buffers; its kick (own counters) makes vhost apply them before traffic starts.
  const guest = localGuest(s.kernel.mem, s.sh.virtio, s.sh.vhost.addr, waker, null).task;
  // The guest's vCPU runs whenever vhost sends it a frame (used entries, an interrupt), at no cost here.
  vhost.virtio.outbound.onPublish = () => sched.at(sched.clock.nowNs(), () => guest.pump());
  const t0 = 1_000_000;
  sched.runUntil(t0);
  for (let i = 0; i * burst < packets; i++) sched.at(t0 + i * gapNs, () => producer.step(burst));
  sched.runUntil(Number.MAX_SAFE_INTEGER);
  const c = readCounters(s.kernel, s.sh);
  return { c, fates: datapathFates(c) };
}

describe("the datapath on the virtual clock", () => {
  it("Case 2, worker faster than arrivals: exactly one wake per packet", () => {
    const { c, fates } = simulate(null, 200, 1, 1000, 300);
    expect(fates.sent).toBe(200);
    expect(fates.dropped).toBe(200);
    expect(c.vhost_wakers).toMatchObject({ poll_attempts: 200, wakes: 200, wake_queued: 0, poll_disarmed: 0 });
    expect(c.tun_recv!.batch_max).toBe(1);
  });

  it("Case 2, wake latency 2.5x the gap: arrivals while the work is queued cost no wake; batches of 3", () => {
    const { c, fates } = simulate(null, 300, 1, 1000, 2500);
    expect(fates.dropped).toBe(300);
    // A wake at t, the worker runs at t + 2.5 gaps and finds 3 packets (t, t+1, t+2).
    expect(c.vhost_wakers!.wakes).toBe(100);
    expect(c.vhost_wakers!.wake_queued).toBe(200);
    expect(c.tun_recv!.batch_max).toBe(3);
    expect(c.tun_recv).toMatchObject({ batch_1: 0, batch_2_3: 100, batch_4_7: 0 });
  });

  it("Case 1: one wake attempt per NAPI poll of 64 (flush), so wakes per packet stay below 1/64", () => {
    const { c, fates } = simulate("xdp_redirect_map.o", 64 * 50, 64, 1000, 300);
    expect(fates.dropped).toBe(64 * 50);
    expect(c.tun_xmit!.sk_data_ready).toBe(50);
    expect(c.vhost_wakers!.wakes).toBe(50);
    expect(c.tun_recv!.batch_max).toBe(64);
    expect(c.tun_recv).toMatchObject({ batch_64: 50, batch_32_63: 0, batch_1: 0 });
  });

  it("the three placements give the same verdicts; only recvmsg makes vhost run the program (and pay the wakes in Case 2)", () => {
    for (const prog of ["xdp1.o", "xdp2.o"]) {
      const recv2 = simulate(null, 300, 1, 1000, 300, prog, TUN_XDP_IN_RECVMSG);
      const net2 = simulate(null, 300, 1, 1000, 300, prog, TUN_XDP_IN_NET_XMIT);
      const recv1 = simulate("xdp_redirect_map.o", 640, 64, 1000, 300, prog, TUN_XDP_IN_RECVMSG);
      const xdp1 = simulate("xdp_redirect_map.o", 640, 64, 1000, 300, prog, TUN_XDP_IN_XDP_XMIT);
      for (const r of [net2, recv1, xdp1]) {
        expect(r.c.tun_xdp!.off_drop! / r.fates.sent, prog).toBe(recv2.c.tun_xdp!.off_drop! / recv2.fates.sent);
        expect(r.c.tun_xdp!.off_tx! / r.fates.sent, prog).toBe(recv2.c.tun_xdp!.off_tx! / recv2.fates.sent);
        expect(r.c.tun_xdp!.rxp_drop, prog).toBe(r.c.tun_xdp!.off_tx);
      }
      // Case 2: with the program in tun_net_xmit nothing is produced, so nothing wakes vhost.
      expect(recv2.c.vhost_wakers!.wakes).toBe(300);
      expect(net2.c.tun_xmit!.sk_data_ready).toBe(0);
      expect(net2.c.vhost_wakers!.wakes).toBe(0);
      expect(net2.c.tun_recv!.consumed).toBe(0);
      // Case 1: tun_xdp_xmit still flushes (sk_data_ready per poll) but vhost finds nothing.
      expect(xdp1.c.tun_xmit!.sk_data_ready).toBe(recv1.c.tun_xmit!.sk_data_ready);
      expect(xdp1.c.tun_recv!.consumed).toBe(0);
      expect(recv1.c.tun_recv!.consumed).toBe(640);
    }
  });

  it("busy polling: a poll longer than the gap catches arrivals without a wake; a shorter one times out and re-arms", () => {
    // Packets that go on to the guest: one wake starts the worker, then every arrival lands in a poll.
    const pass = simulate(null, 200, 1, 1000, 300, "xdp_pass.o", TUN_XDP_IN_RECVMSG, 5000);
    expect(pass.fates.passed).toBe(200);
    expect(pass.c.vhost_net!.rx_copies).toBe(200);
    expect(pass.c.vhost_wakers!.wakes).toBe(1);
    expect(pass.c.vhost_wakers!.poll_disarmed).toBe(199);
    // The offloaded program drops everything: the peek after a successful poll finds nothing for the
    // guest, so handle_rx re-arms and sleeps (one poll per peek, as vhost_net_rx_peek_head_len does):
    // every other packet pays a wake.
    const long = simulate(null, 200, 1, 1000, 300, "xdp1.o", TUN_XDP_IN_RECVMSG, 5000);
    expect(long.fates.dropped).toBe(200);
    expect(long.c.vhost_wakers!.wakes).toBe(100);
    expect(long.c.vhost_wakers!.poll_disarmed).toBe(100);
    const short = simulate(null, 200, 1, 1000, 300, "xdp1.o", TUN_XDP_IN_RECVMSG, 500);
    expect(short.fates.dropped).toBe(200);
    // Each poll ends before the next arrival: re-armed, so every packet pays a wake again.
    expect(short.c.vhost_wakers!.wakes).toBe(200);
    // One poll per packet, and one in the run the guest's first kick started (before the traffic).
    expect(short.c.vhost_net!.rx_busy_polls).toBe(201);
  });
});
