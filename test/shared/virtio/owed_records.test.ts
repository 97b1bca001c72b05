// A device whose data channel refuses a record (its frame queue full) must not
// lose a notification: an interrupt or an avail_event it could not write is
// owed and goes out with the next flush, or the driver waits forever for a
// notification that never comes (seen as a stalled guest under load before).
import { describe, expect, it } from "vitest";
import { FrameWriter, type FrameBuf, type FrameSink } from "../../../shared/virtio/vring_frame.ts";
import { LoopbackSink } from "../../../shared/virtio/vring_frame.ts";
import { VringDriver, VirtioDriverDevice } from "../../../shared/virtio/vring_driver.ts";
import { VirtioDeviceSide, VQ_DIR_RX, devicePutUsed } from "../../../shared/virtio/vring_device.ts";

/** A loopback that can be told to refuse buffers (acquire() null), as a full frame queue does. */
class GatedSink implements FrameSink {
  refuse = false;
  readonly inner: LoopbackSink;
  constructor(inner: LoopbackSink) {
    this.inner = inner;
  }
  acquire(): FrameBuf | null {
    return this.refuse ? null : this.inner.acquire();
  }
  submit(fb: FrameBuf): void {
    this.inner.submit(fb);
  }
}

function pair() {
  const g2d = new LoopbackSink(), d2gInner = new LoopbackSink(), d2g = new GatedSink(d2gInner);
  const mem = new Uint8Array(1 << 20);
  const gw = new FrameWriter(g2d);
  const rxq = new VringDriver({ index: 0, num: 16, mem, base: 0, eventIdx: true, out: gw });
  const drv = new VirtioDriverDevice(gw, [rxq]);
  const dev = new VirtioDeviceSide({ memSize: mem.length, eventIdx: true, out: new FrameWriter(d2g), queues: [[16, VQ_DIR_RX]] });
  g2d.peer = dev;
  d2gInner.peer = drv;
  let irqs = 0;
  rxq.callback = () => irqs++;
  for (let i = 0; i < 8; i++) rxq.add_inbuf(0x8000 + i * 2048, 2048, i);
  rxq.kick();
  rxq.enable_cb();
  return { rxq, dev, d2g, vq: dev.vqs[0]!, irqs: () => irqs };
}

describe("notifications the channel refused are owed, not lost", () => {
  it("an interrupt refused at flush goes out with the next flush", () => {
    const p = pair();
    const pkt = new Uint8Array(64).fill(7);
    expect(devicePutUsed(p.vq, pkt, 0, 64)).toBe(64);
    p.dev.out.flush(); // the USED record is out
    p.d2g.refuse = true;
    expect(p.vq.flushUsed()).toBeLessThan(0); // USED_IDX refused: nothing published, nothing lost
    p.d2g.refuse = false;
    expect(p.vq.flushUsed()).toBe(1);
    p.dev.out.flush();
    expect(p.irqs()).toBe(1);
    expect(p.rxq.get_buf()).toBe(0);
  });

  it("an interrupt refused after the used index went out is owed until the next flush", () => {
    const p = pair();
    const pkt = new Uint8Array(64).fill(7);
    expect(devicePutUsed(p.vq, pkt, 0, 64)).toBe(64);
    p.dev.out.flush();
    // The channel takes USED_IDX, then refuses the buffer the interrupt record needs.
    const out = p.dev.out;
    const simple = out.simple.bind(out);
    let n = 0;
    out.simple = (type, q, arg) => (n++ === 0 ? (p.d2g.refuse = false, simple(type, q, arg)) : (p.d2g.refuse = true, out.flush(), simple(type, q, arg)));
    expect(p.vq.flushUsed()).toBeLessThan(0);
    expect(p.vq.irqPending).toBe(true);
    out.simple = simple;
    p.d2g.refuse = false;
    p.dev.out.flush();
    expect(p.irqs()).toBe(0); // the used index arrived, the interrupt did not
    expect(p.dev.flush()).toBe(0);
    expect(p.irqs()).toBe(1);
    expect(p.vq.irqPending).toBe(false);
  });
});
