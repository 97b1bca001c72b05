// Child-process probe for the no-allocation rule on the virtqueue datapath:
// run under `node --trace-gc`, it moves packets device -> frame -> the guest's
// virtio-net receive queue in one process (loopback sinks: codec, shadow ring,
// driver ring, page_pool pages, NAPI poll, refill, event idx, the packets up
// the stack) and as many guest -> device on the TX queue (bytes
// shipped with the descriptors, staged by the device, completions reaped),
// warms up, prints BEGIN, moves N packets each way, prints END. The parent
// counts scavenges between the markers.
// Usage: node --trace-gc --import tsx alloc_probe_vring.ts [packets] [eventIdx 0|1]
import { devicePutUsed } from "../../../shared/virtio/vring_device.ts";
import { makePair } from "./vq_pair.ts";

const runs = Number(process.argv[2] ?? "2000000");
const p = makePair({ num: 256, nbufs: 512, eventIdx: process.argv[3] !== "0" });
const pkt = new Uint8Array(64).fill(7);
let sum = 0;
p.qp.onNetifReceive = (m, off, len) => {
  sum = (sum + m[off]! + len) | 0;
};
p.qp.tryFillRecv();
const TX_BASE = p.scratch;
let txSeen = 0;
p.devTx.onKick = (vq) => {
  for (let head = vq.pop(); head >= 0; head = vq.pop()) {
    txSeen += vq.outData[vq.elem.dataOff[0]!]! & 1;
    vq.putUsed(head, null, 0, 0);
  }
  vq.dev.flush();
  vq.enableNotification();
};

function transmit(n: number): void {
  const q = p.txq;
  for (let i = 0; i < n; i++) {
    while (q.get_buf() >= 0);
    if (q.add_outbuf(TX_BASE + (i & 63) * 128, 64, i & 63) < 0) break;
  }
  q.kick();
}

function move(n: number): void {
  let left = n;
  while (left > 0) {
    let k = 0;
    // One vhost batch: up to 64 packets, one flush.
    for (; k < 64 && k < left; k++) if (devicePutUsed(p.devRx, pkt, 0, 64) < 0) break;
    p.dev.flush();
    left -= k;
    // One NAPI poll (it refills and re-arms); the device re-enables when the ring ran dry.
    p.qp.poll(64);
    if (k === 0) p.devRx.enableNotification();
    transmit(k);
  }
}

move(200_000);
process.stdout.write("BEGIN\n");
move(runs);
process.stdout.write(`END ${sum} ${p.stat("rx_queue_0_packets")} ${p.devTx.copies} ${txSeen}\n`);
