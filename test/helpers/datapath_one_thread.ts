// The host datapath (host/net) with its producer side and its vhost side
// driven alternately on this one thread, for the child-process probes and the
// profile (test/helpers/datapath_alloc_probe.ts, test/bench/datapath_profile.ts):
// no wakes or thread scheduling, only the code's own work.
import { setupDatapath } from "../../host/net/datapath.ts";
import { Producer, VhostSide } from "../../host/net/datapath_parts.ts";
import { STEP_POLL, STEP_SLEEP, REAL_CLOCK, type Waker } from "../../shared/sched/sched.ts";
import { PROGRAMS_DIR } from "./repo.ts";

/**
 * "case1" (NIC-B redirect -> devmap -> tun_xdp_xmit) or "case2" (bridge -> tun_net_xmit), with
 * `offloadProg` (default xdp1.o) offloaded and xdp_drop.o on the tap's Rx path; 64-byte packets
 * of one flow, no rate limit. `waker` is what the producer calls to wake the vhost worker.
 */
export function oneThreadDatapath(which: string | undefined, offloadProg: string | undefined, count: number, waker: Waker) {
  const s = setupDatapath({
    programsDir: PROGRAMS_DIR, nicProg: which === "case1" ? "xdp_redirect_map.o" : null, offloadProg: offloadProg ?? "xdp1.o",
    rxProg: "xdp_drop.o", count,
  });
  const mem = s.kernel.mem, vm = s.kernel.vm;
  const producer = new Producer(mem, s.sh, vm, { nic: s.nicProg, placement: 0, offload: null, rx: null }, waker,
    { size: 64, flows: 1, ratePps: 0, lineBps: 0 }, REAL_CLOCK);
  const vhost = new VhostSide(mem, s.sh, vm, s.offload, s.rx, REAL_CLOCK, 0);
  return { s, producer, vhost };
}

/** One run of the vhost worker: until it would sleep or poll (it never polls: no busyloop timeout). */
export function runVhost(vhost: VhostSide): void {
  for (;;) {
    const r = vhost.dev.step();
    if (r === STEP_SLEEP || r === STEP_POLL) break;
  }
}
