// `npx tsx test/bench/datapath_profile.ts case1|case2 xdp1.o|xdp2.o [N]`: the
// datapath's producer side and vhost side driven alternately on this one
// thread (test/helpers/datapath_one_thread.ts, as the allocation probe), each side timed
// apart: ns per packet of the producer (pktgen, NIC-B, devmap or bridge,
// tun's xmit) and of the vhost worker (handle_rx, tun_recvmsg, the offloaded
// program, the tap's Rx path). Run under `node --cpu-prof --import tsx` for
// a profile. No wakes or thread scheduling: the cost of the code itself.
import type { Waker } from "../../shared/sched/sched.ts";
import { oneThreadDatapath, runVhost } from "../helpers/datapath_one_thread.ts";

const [which, obj, countArg] = process.argv.slice(2);
const count = Number(countArg ?? "3000000");
const waker: Waker = { notify(): void {} };
const { producer, vhost } = oneThreadDatapath(which, obj, count, waker);

let tProd = 0, tVhost = 0;
function move(n: number, burst: number): void {
  let left = n;
  while (left > 0) {
    const t0 = performance.now();
    // Several NAPI polls per vhost run, as the threads interleave (the ring fills between runs).
    for (let b = 0; b < burst && left > 0; b++) left -= producer.step(left < 64 ? left : 64);
    const t1 = performance.now();
    runVhost(vhost);
    tProd += t1 - t0;
    tVhost += performance.now() - t1;
  }
}
move(500_000, 8);
tProd = tVhost = 0;
move(count, 8);
console.log(`${which} ${obj}: producer ${(tProd * 1e6 / count).toFixed(1)} ns/pkt, vhost ${(tVhost * 1e6 / count).toFixed(1)} ns/pkt`);
