// Child-process probe for the no-allocation rule on the pcap capture point:
// run under `node --trace-gc`, it warms a PcapWriter up (sink: /dev/null
// through fs.writeSync), prints BEGIN, captures N frames (64-byte and
// 1500-byte frames at moving offsets of a frame-memory buffer, the long ones
// cut to the snaplen), prints END with the writer's counters.
// V8 prints one line per scavenge, so the parent counts collections in between.
import { openSync, closeSync } from "node:fs";
import { PcapWriter } from "../../../shared/net/pcap.ts";
import { buildFrame } from "../../../shared/net/packets.ts";
import { IPPROTO_TCP, IPPROTO_UDP } from "../../../shared/net/headers.ts";

const runs = Number(process.argv[2] ?? "2000000");
const mem = new Uint8Array(1 << 16);
mem.set(buildFrame({ l3: "ipv4", l4: IPPROTO_UDP, frameLen: 64 }), 0);
mem.set(buildFrame({ l3: "ipv6", l4: IPPROTO_TCP, frameLen: 1500 }), 4096);
const fd = openSync("/dev/null", "w");
const w = new PcapWriter(fd, { snaplen: 128, precision: "ns", bufferSize: 1 << 18 });
// The time of each record comes as a datapath keeps it: nanoseconds since the
// epoch in a Float64Array slot, split into seconds and nanoseconds at the call.
const clock = new Float64Array(1);
function run(n: number): void {
  for (let i = 0; i < n; i++) {
    clock[0] = clock[0]! + 67.5;
    const t = clock[0]!;
    const sec = Math.floor(t / 1e9);
    w.capture(mem, (i & 1) * 4096, (i & 1) === 0 ? 64 : 1500, sec, t - sec * 1e9);
  }
}
clock[0] = 1_700_000_000e9;
run(200000);
process.stdout.write("BEGIN\n");
run(runs);
process.stdout.write(`END captured=${w.captured} dropped=${w.dropped} flushes=${w.flushes}\n`);
w.close();
closeSync(fd);
