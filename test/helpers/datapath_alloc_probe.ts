// Child-process probe for the no-allocation rule on the datapath: under
// `node --trace-gc`, builds the host datapath (host/net) and drives its
// producer side and its vhost side on this one thread, alternately (the
// waker only records that the worker must run), warms up, prints BEGIN,
// moves N packets, prints END. The parent counts scavenges between the
// markers. Argument 1: "case1" (NIC-B redirect -> devmap -> tun_xdp_xmit) or
// "case2" (bridge -> tun_net_xmit); 2: the offloaded program; 3: packets.
import { setupDatapath, datapathFates, readCounters } from "../../host/net/datapath.ts";
import { Producer, VhostSide } from "../../host/net/datapath_parts.ts";
import { STEP_POLL, STEP_SLEEP, REAL_CLOCK, type Waker } from "../../shared/sched/sched.ts";
import { PROGRAMS_DIR } from "./repo.ts";

const [which, obj, countArg] = process.argv.slice(2);
const count = Number(countArg ?? "2000000");
const s = setupDatapath({
  programsDir: PROGRAMS_DIR, nicProg: which === "case1" ? "xdp_redirect_map.o" : null, offloadProg: obj ?? "xdp1.o",
  rxProg: "xdp_drop.o", count,
});
const mem = s.kernel.mem, vm = s.kernel.vm;
let woken = 0;
const waker: Waker = { notify(): void { woken++; } };
const producer = new Producer(mem, s.sh, vm, { nic: s.nicProg, placement: 0, offload: null, rx: null }, waker, { size: 64, flows: 1, ratePps: 0, lineBps: 0 }, REAL_CLOCK);
const vhost = new VhostSide(mem, s.sh, vm, s.offload, s.rx, REAL_CLOCK, 0);

function move(n: number): void {
  let left = n;
  while (left > 0) {
    left -= producer.step(left < 64 ? left : 64);
    // The worker runs until it sleeps (it never polls: no busyloop timeout).
    for (;;) {
      const r = vhost.dev.step();
      if (r === STEP_SLEEP || r === STEP_POLL) break;
    }
  }
}

move(500_000);
process.stdout.write("BEGIN\n");
move(count);
process.stdout.write("END\n");
const f = datapathFates(readCounters(s.kernel, s.sh));
process.stdout.write(`FATES ${JSON.stringify(f)} WOKEN ${woken}\n`);
