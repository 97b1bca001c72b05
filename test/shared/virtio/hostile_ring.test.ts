// Hostile rings: a guest that writes whatever it likes into the records the
// device reads its ring from. Each shape must mark that device broken (needs
// reset) with QEMU's reason, make it process nothing more until a reset, never
// throw; another device (another queue pair) keeps moving packets meanwhile.
import { describe, expect, it } from "vitest";
import { VRING_DESC_F_NEXT, VRING_DESC_F_WRITE, VIRTIO_CONFIG_S_NEEDS_RESET, VRING_DESC_F_INDIRECT } from "../../../shared/virtio/virtio_ring.ts";
import { FrameBuf, FrameWriter, VQF_REC_AVAIL_IDX, VQF_REC_KICK, type FrameSink } from "../../../shared/virtio/vring_frame.ts";
import { devicePutUsed, VirtioDeviceSide } from "../../../shared/virtio/vring_device.ts";
import { makePair, type Pair } from "./vq_pair.ts";

/** A sink that keeps the last frame's bytes (the hostile guest's output). */
class CaptureSink implements FrameSink {
  readonly fb = new FrameBuf(1 << 16);
  last = new Uint8Array(0);
  acquire(): FrameBuf {
    return this.fb;
  }
  submit(fb: FrameBuf): void {
    this.last = fb.u8.slice(0, fb.len);
  }
}

type Desc = [index: number, next: number, flags: number, len: number, addr: number, addrHi?: number];

/** One frame: an AVAIL record per chain (queue q), the avail idx, a kick. */
function hostileFrame(q: number, chains: { pos: number; head: number; descs: Desc[]; data?: number }[], availIdx: number): Uint8Array {
  const sink = new CaptureSink();
  const w = new FrameWriter(sink);
  const bytes = new Uint8Array(1 << 14);
  for (const c of chains) {
    // `data`: bytes shipped after each readable entry (VQF_AVAIL_F_DATA), whatever its len says.
    const padded = c.data === undefined ? -1 : ((c.data + 3) & ~3) * c.descs.filter((d) => (d[2] & W) === 0).length;
    let o = w.beginAvail(q, c.pos, c.head, c.descs.length, padded);
    for (const [index, next, flags, len, addr, hi] of c.descs) {
      o = w.availDesc(o, index, next, flags, len, addr, hi ?? 0);
      if (c.data !== undefined && (flags & W) === 0) o = w.availData(o, bytes, 0, c.data);
    }
  }
  w.simple(VQF_REC_AVAIL_IDX, q, availIdx);
  w.simple(VQF_REC_KICK, q, availIdx);
  w.flush();
  return sink.last;
}

const W = VRING_DESC_F_WRITE;
/** Where the hostile descriptors point: inside the guest's memory (never written: the device breaks first). */
const BUF_BASE = 0x10000;
const N = VRING_DESC_F_NEXT;
const MEM = 4 << 20;

/**
 * One chain at avail position 0 of queue `q` (default 0, the receive queue), head `head`
 * (default 0), published with avail idx `availIdx` (default 1); `mangle` then spoils the frame.
 */
interface Shape {
  name: string;
  q?: number;
  head?: number;
  descs: Desc[];
  data?: number;
  availIdx?: number;
  mangle?: (frame: Uint8Array) => void;
  reason: string;
}

function shapeFrame(s: Shape): Uint8Array {
  const f = hostileFrame(s.q ?? 0, [{ pos: 0, head: s.head ?? 0, descs: s.descs, data: s.data }], s.availIdx ?? 1);
  s.mangle?.(f);
  return f;
}

const SHAPES: Shape[] = [
  { name: "descriptor loop (0 -> 1 -> 0)", descs: [[0, 1, W | N, 64, BUF_BASE], [1, 0, W | N, 64, BUF_BASE]], reason: "Looped descriptor" },
  { name: "self loop", head: 5, descs: [[5, 5, W | N, 64, BUF_BASE]], reason: "Looped descriptor" },
  { name: "head index out of range", head: 300, descs: [[0, 0, W, 64, BUF_BASE]], reason: "Guest says index 300 is available" },
  { name: "next index out of range", descs: [[0, 256, W | N, 64, BUF_BASE]], reason: "Desc next is 256" },
  { name: "descriptor table index out of range in the record", descs: [[4000, 0, W, 64, BUF_BASE]], reason: "Desc index is 4000 > 255" },
  { name: "address past the guest's declared memory", descs: [[0, 0, W, 64, MEM - 10]], reason: "virtio: bogus descriptor or out of resources" },
  { name: "address above 4 GiB", descs: [[0, 0, W, 64, 0, 1]], reason: "virtio: bogus descriptor or out of resources" },
  { name: "zero length", descs: [[0, 0, W, 0, BUF_BASE]], reason: "virtio: zero sized buffers are not allowed" },
  { name: "avail idx running more than a ring ahead", descs: [[0, 0, W, 64, BUF_BASE]], availIdx: 257, reason: "Guest moved used index from 0 to 257" },
  { name: "readable descriptor on the receive queue", descs: [[0, 0, 0, 64, BUF_BASE]], reason: "virtio-net receive queue contains no in buffers" },
  { name: "write-only descriptor on the transmit queue", q: 1, descs: [[0, 0, W, 64, BUF_BASE]], reason: "virtio-net header not in first element" },
  { name: "transmit data shorter than its descriptor's len", q: 1, descs: [[0, 0, 0, 64, BUF_BASE]], data: 16, reason: "virtio: malformed avail record" },
  { name: "transmit buffer larger than the channel's per-descriptor slot", q: 1, descs: [[0, 0, 0, 4000, BUF_BASE]], data: 4000, reason: "virtio: buffer of 4000 bytes exceeds the data channel's 2048" },
  { name: "readable after writable", descs: [[0, 1, W | N, 64, BUF_BASE], [1, 0, 0, 64, BUF_BASE]], reason: "Incorrect order for descriptors" },
  { name: "indirect descriptor not negotiated", descs: [[0, 0, VRING_DESC_F_INDIRECT, 64, BUF_BASE]], reason: "Indirect descriptors not negotiated" },
  {
    name: "garbage instead of a frame",
    descs: [[0, 0, W, 64, BUF_BASE]],
    mangle: (f) => {
      f[20] = 0xff; // record length now overruns the frame
      f[21] = 0xff;
    },
    reason: "virtio: malformed data-channel frame",
  },
];

/**
 * The device puts `n` packets of 64 bytes on the receive queue (the driver has filled it) and
 * flushes; the driver polls until NAPI is done. Returns the packets the driver received.
 */
function deliver(p: Pair, n: number): number {
  const pkt = new Uint8Array(64);
  let got = 0;
  p.qp.onNetifReceive = () => got++;
  for (let i = 0; i < n; i++) expect(devicePutUsed(p.devRx, pkt, 0, 64)).toBe(64);
  p.dev.flush();
  while (p.qp.napiScheduled) p.qp.poll(64);
  return got;
}

describe("hostile rings mark the device broken with QEMU's reason; the other device keeps running", () => {
  for (const s of SHAPES) {
    it(s.name, () => {
      const bad = makePair({ memSize: MEM });
      const good = makePair({ memSize: MEM });
      let errors = 0;
      bad.dev.onError = () => errors++;
      const q = s.q ?? 0;
      // The device pops on each kick, as handle_rx / handle_tx would.
      bad.dev.vqs[q]!.onKick = (vq) => {
        while (vq.pop() >= 0);
      };
      good.qp.tryFillRecv();
      const pkt = new Uint8Array(64);

      const f = shapeFrame(s);
      expect(() => bad.dev.receive(f, 0, f.length)).not.toThrow();
      expect(bad.dev.broken).toBe(true);
      expect(bad.dev.reason).toBe(s.reason);
      expect(bad.dev.status & VIRTIO_CONFIG_S_NEEDS_RESET).toBe(VIRTIO_CONFIG_S_NEEDS_RESET);
      expect([bad.drv.needsReset, bad.drv.reason]).toEqual([true, s.reason]);
      expect(errors).toBe(1);

      // Broken: a valid frame afterwards is not processed, nothing is popped or written.
      const ok = hostileFrame(0, [{ pos: 0, head: 0, descs: [[0, 0, W, 2048, BUF_BASE]] }], 1);
      bad.dev.receive(ok, 0, ok.length);
      expect(bad.dev.vqs[0]!.pop()).toBe(-1);
      expect(devicePutUsed(bad.devRx, pkt, 0, 64)).toBeLessThan(0);
      expect(errors).toBe(1);

      // The other device moves its packets.
      expect([deliver(good, 100), good.dev.broken]).toEqual([100, false]);

      // Reset brings the broken device back.
      bad.dev.vqs[q]!.onKick = null;
      bad.drv.reset();
      expect([bad.dev.broken, bad.dev.reason, bad.dev.status]).toEqual([false, "", 0]);
      bad.qp.tryFillRecv();
      expect(deliver(bad, 10)).toBe(10);
    });
  }

  it("a device is never confused by records for a queue it does not have", () => {
    const d = makePair({ memSize: MEM });
    const f = hostileFrame(7, [{ pos: 0, head: 0, descs: [[0, 0, W, 64, BUF_BASE]] }], 1);
    d.dev.receive(f, 0, f.length);
    expect([d.dev.broken, d.dev.reason]).toEqual([true, "Invalid queue index 7"]);
    expect(d.dev instanceof VirtioDeviceSide).toBe(true);
  });
});
