// Child-process probe for the no-allocation rule on the datapath: under
// `node --trace-gc`, builds the host datapath (host/net) and drives its
// producer side and its vhost side on this one thread, alternately (the
// waker only records that the worker must run), warms up, prints BEGIN,
// moves N packets, prints END. The parent counts scavenges between the
// markers. Argument 1: "case1" (NIC-B redirect -> devmap -> tun_xdp_xmit) or
// "case2" (bridge -> tun_net_xmit); 2: the offloaded program; 3: packets.
import { datapathFates, readCounters } from "../../host/net/datapath.ts";
import type { Waker } from "../../shared/sched/sched.ts";
import { oneThreadDatapath, runVhost } from "./datapath_one_thread.ts";

const [which, obj, countArg] = process.argv.slice(2);
const count = Number(countArg ?? "2000000");
let woken = 0;
const waker: Waker = { notify(): void { woken++; } };
const { s, producer, vhost } = oneThreadDatapath(which, obj, count, waker);

function move(n: number): void {
  let left = n;
  while (left > 0) {
    left -= producer.step(left < 64 ? left : 64);
    runVhost(vhost);
  }
}

move(500_000);
process.stdout.write("BEGIN\n");
move(count);
process.stdout.write("END\n");
const f = datapathFates(readCounters(s.kernel, s.sh));
process.stdout.write(`FATES ${JSON.stringify(f)} WOKEN ${woken}\n`);
