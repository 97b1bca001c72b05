// Child-process probe for the no-allocation rule on the virtqueue datapath:
// run under `node --trace-gc`, it moves packets device -> frame -> guest RX
// queue in one process (loopback sinks: codec, shadow ring, driver ring, NAPI
// poll, refill, event idx), warms up, prints BEGIN, moves N packets, prints
// END. The parent counts scavenges between the markers.
// Usage: node --trace-gc --import tsx alloc_probe_vring.ts [packets] [eventIdx 0|1]
import { devicePutUsed } from "../../../shared/virtio/vring_device.ts";
import { makePair } from "./vq_pair.ts";

const runs = Number(process.argv[2] ?? "2000000");
const p = makePair({ num: 256, nbufs: 512, eventIdx: process.argv[3] !== "0" });
const pkt = new Uint8Array(64).fill(7);
let sum = 0;
p.rx.onPacket = (m, off, len) => {
  sum = (sum + m[off]! + len) | 0;
};
p.rx.try_fill_recv();

function move(n: number): void {
  let left = n;
  while (left > 0) {
    let k = 0;
    // One vhost batch: up to 64 packets, one flush.
    for (; k < 64 && k < left; k++) if (devicePutUsed(p.devRx, pkt, 0, 64) < 0) break;
    p.dev.flush();
    left -= k;
    // One NAPI poll (it refills and re-arms); the device re-enables when the ring ran dry.
    p.rx.poll(64);
    if (k === 0) p.devRx.enableNotification();
  }
}

move(200_000);
process.stdout.write("BEGIN\n");
move(runs);
process.stdout.write(`END ${sum} ${p.rx.packets}\n`);
