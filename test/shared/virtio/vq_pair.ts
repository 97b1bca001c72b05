// Test fixture: one guest-side virtio-net RX queue (VringDriver + VirtnetRx in
// its own memory) and its host-side device, joined by loopback sinks in one
// process. The cross-process variant is roundtrip_child.ts.
import { FrameWriter, LoopbackSink } from "../../../shared/virtio/vring_frame.ts";
import { VringDriver, VirtioDriverDevice } from "../../../shared/virtio/vring_driver.ts";
import { VirtioDeviceSide, VQ_DIR_RX, VQ_DIR_TX } from "../../../shared/virtio/vring_device.ts";
import { VirtnetRx } from "../../../shared/virtio/virtnet_rx.ts";

export interface PairOpts {
  num?: number;
  eventIdx?: boolean;
  memSize?: number;
  nbufs?: number;
  bufSize?: number;
  refill?: "budget" | "half-ring";
  frameCapacity?: number;
}

export const BUF_BASE = 0x10000;

export function makePair(o: PairOpts = {}) {
  const num = o.num ?? 256;
  const memSize = o.memSize ?? 4 << 20;
  const eventIdx = o.eventIdx ?? true;
  const g2d = new LoopbackSink(o.frameCapacity);
  const d2g = new LoopbackSink(o.frameCapacity);
  const gw = new FrameWriter(g2d);
  const dw = new FrameWriter(d2g);
  const mem = new Uint8Array(memSize);
  const rxq = new VringDriver({ index: 0, num, mem, base: 0, eventIdx, out: gw });
  const txq = new VringDriver({ index: 1, num, mem, base: 0x8000, eventIdx, out: gw, outData: true });
  const drv = new VirtioDriverDevice(gw, [rxq, txq]);
  const dev = new VirtioDeviceSide({ memSize, eventIdx, out: dw, queues: [[num, VQ_DIR_RX], [num, VQ_DIR_TX, 2048]] });
  g2d.peer = dev;
  d2g.peer = drv;
  const rx = new VirtnetRx({ vq: rxq, bufBase: BUF_BASE, bufSize: o.bufSize ?? 2048, nbufs: o.nbufs ?? num * 2, refill: o.refill });
  return { num, mem, memSize, g2d, d2g, gw, dw, rxq, txq, drv, dev, rx, devRx: dev.vqs[0]!, devTx: dev.vqs[1]! };
}
export type Pair = ReturnType<typeof makePair>;
