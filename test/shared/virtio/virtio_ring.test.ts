// Split-ring semantics: layout against hand-computed offsets (virtio 1.2 §2.7,
// Linux vring_size()), the bytes the driver writes into its own memory and
// ships, u16 wrap, event-idx suppression of kicks and interrupts, and the
// refill policy of the guest's virtio-net queue pair (guest/net/virtnet.ts).
import { describe, expect, it } from "vitest";
import {
  VRING_DESC_F_NEXT,
  VRING_DESC_F_WRITE,
  vring_init,
  vring_need_event,
  vring_size,
  vring_avail_event_off,
  vring_used_event_off,
  u16_sub,
} from "../../../shared/virtio/virtio_ring.ts";
import { FrameWriter, LoopbackSink, readFrame, VQF_REC_AVAIL, rd16, rd32 } from "../../../shared/virtio/vring_frame.ts";
import { VringDriver } from "../../../shared/virtio/vring_driver.ts";
import { devicePutUsed } from "../../../shared/virtio/vring_device.ts";
import { EAGAIN, ENOBUFS, ENOSPC } from "../../../shared/errno.ts";
import { makePair, type Pair } from "./vq_pair.ts";

const PKT = new Uint8Array(64).map((_, i) => i);

/** Device delivers `n` packets (each tagged with its sequence number in bytes 0..3), one flush per packet or per batch. */
function deliver(p: Pair, n: number, seq0: number, flushEach: boolean): number {
  let done = 0;
  for (let i = 0; i < n; i++) {
    new DataView(PKT.buffer).setUint32(0, seq0 + i, true);
    const r = devicePutUsed(p.devRx, PKT, 0, PKT.length);
    if (r < 0) break;
    done++;
    if (flushEach) p.dev.flush();
  }
  p.dev.flush();
  return done;
}

describe("layout", () => {
  it("matches vring_size() of Linux for 256 entries, legacy 4096 alignment", () => {
    // desc 16*256 = 4096; avail 6 + 2*256 = 518 -> used at 8192; used 6 + 8*256 = 2054.
    const l = vring_init(256, 0, 4096);
    expect([l.desc, l.avail, l.used, l.size]).toEqual([0, 4096, 8192, 10246]);
    expect(vring_size(256, 4096)).toBe(10246);
    expect(vring_used_event_off(256)).toBe(4 + 512);
    expect(vring_avail_event_off(256)).toBe(4 + 2048);
  });
  it("packs a 4-entry ring with 4-byte alignment", () => {
    // desc 64; avail at 64, 6 + 8 = 14 -> 78 -> used at 80; used 6 + 32 = 38 -> size 118.
    const l = vring_init(4, 0x1000, 4);
    expect([l.desc, l.avail, l.used, l.size]).toEqual([0x1000, 0x1040, 0x1050, 118]);
    expect(() => vring_init(6, 0)).toThrow(/Invalid queue size/);
  });
  it("vring_need_event() and u16 distance across the wrap", () => {
    expect(vring_need_event(5, 6, 5)).toBe(true);
    expect(vring_need_event(5, 5, 4)).toBe(false);
    expect(vring_need_event(5, 7, 6)).toBe(false);
    expect(vring_need_event(0xffff, 1, 0xfffe)).toBe(true);
    expect(vring_need_event(0, 1, 0xffff)).toBe(true);
    expect(vring_need_event(2, 1, 0xffff)).toBe(false);
    expect(u16_sub(3, 0xfffe)).toBe(5);
  });
});

describe("driver writes the ring into its own memory and ships it", () => {
  it("descriptor table, avail ring and the AVAIL record", () => {
    const sink = new LoopbackSink();
    const frames: Uint8Array[] = [];
    sink.peer = {
      onRecord(type, queue, arg, b, body, len) {
        frames.push(Uint8Array.from([type, queue, ...new Uint8Array(new Uint32Array([arg]).buffer), ...b.subarray(body, body + len)]));
        return true;
      },
    };
    const mem = new Uint8Array(0x10000);
    const vq = new VringDriver({ index: 3, num: 8, mem, base: 0, eventIdx: true, out: new FrameWriter(sink) });
    const dv = new DataView(mem.buffer);
    expect(vq.add_inbuf(0x1000, 1500, 7)).toBe(0);
    expect(vq.add([0x2000, 0x3000, 0x4000], [10, 20, 30], 2, 1, 9)).toBe(0);
    // desc[0]: addr 0x1000, len 1500, WRITE, no NEXT.
    expect([dv.getUint32(0, true), dv.getUint32(8, true), dv.getUint16(12, true)]).toEqual([0x1000, 1500, VRING_DESC_F_WRITE]);
    // desc[1..3]: readable, readable, writable; chained 1 -> 2 -> 3.
    expect([dv.getUint16(16 + 12, true), dv.getUint16(16 + 14, true)]).toEqual([VRING_DESC_F_NEXT, 2]);
    expect([dv.getUint16(32 + 12, true), dv.getUint16(32 + 14, true)]).toEqual([VRING_DESC_F_NEXT, 3]);
    expect(dv.getUint16(48 + 12, true)).toBe(VRING_DESC_F_WRITE);
    // avail at 128: flags 0, idx 2, ring[0] = 0, ring[1] = 1.
    expect([dv.getUint16(128, true), dv.getUint16(130, true), dv.getUint16(132, true), dv.getUint16(134, true)]).toEqual([0, 2, 0, 1]);
    expect(vq.numFree).toBe(4);
    expect(vq.kick()).toBe(true); // avail_event 0 lies in [0, 2)
    // Records: AVAIL(q3, pos 0, head 0, 1 desc), AVAIL(pos 1, head 1, 3 descs), AVAIL_IDX 2, KICK 2.
    expect(frames.map((f) => f[0])).toEqual([VQF_REC_AVAIL, VQF_REC_AVAIL, 2, 3]);
    const a = frames[1]!;
    expect(a[1]).toBe(3);
    expect(rd32(a, 2)).toBe(1 | (1 << 16));
    expect(a.length - 6).toBe(3 * 20);
    // Second entry: index 2, next 3, flags NEXT, len 20, addr 0x3000.
    expect([rd16(a, 6 + 20), rd16(a, 6 + 22), rd16(a, 6 + 24), rd32(a, 6 + 28), rd32(a, 6 + 32)]).toEqual([2, 3, VRING_DESC_F_NEXT, 20, 0x3000]);
    expect(rd32(frames[2]!, 2)).toBe(2);
  });

  it("-ENOSPC when full, -EAGAIN under channel backpressure with nothing written", () => {
    const p = makePair({ num: 4 });
    for (let i = 0; i < 4; i++) expect(p.rxq.add_inbuf(p.scratch + i * 2048, 2048, i)).toBe(0);
    expect(p.rxq.add_inbuf(p.scratch, 2048, 9)).toBe(-ENOSPC);
    const q = makePair({ num: 4 });
    q.gw.flush();
    q.g2d.open = false;
    expect(q.rxq.add_inbuf(q.scratch, 2048, 0)).toBe(-EAGAIN);
    expect([q.rxq.numFree, q.rxq.availIdxShadow]).toEqual([4, 0]);
  });

  it("indices wrap at 65536 with conservation and order (4-entry ring, 70000 packets)", () => {
    const p = makePair({ num: 4, nbufs: 4 });
    let got = 0;
    let bad = 0;
    p.qp.onNetifReceive = (mem, off, len) => {
      if (len !== 64 || new DataView(mem.buffer).getUint32(off, true) !== got) bad++;
      got++;
    };
    p.qp.tryFillRecv();
    let sent = 0;
    while (sent < 70000) {
      sent += deliver(p, 4, sent, false);
      p.qp.poll(64);
    }
    expect([got, bad, p.d2g.bad, p.g2d.bad]).toEqual([70000, 0, 0, 0]);
    expect(p.devRx.lastAvailIdx).toBe(70000 & 0xffff);
    expect(p.devRx.shadowAvailIdx).toBe((70000 + 4) & 0xffff); // the last poll refilled
    expect(new DataView(p.mem.buffer).getUint16(p.rxq.layout.used + 2, true)).toBe(70000 & 0xffff);
  });
});

describe("event idx notification suppression", () => {
  it("a burst of N adds, each followed by a kick call, gives 1 kick with event idx and N without", () => {
    const N = 32;
    for (const eventIdx of [true, false]) {
      const p = makePair({ num: 64, eventIdx });
      for (let i = 0; i < N; i++) {
        expect(p.txq.add_outbuf(p.scratch + i * 64, 64, i)).toBe(0);
        p.txq.kick();
      }
      expect([eventIdx, p.txq.kicks, p.devTx.kicksReceived]).toEqual([eventIdx, eventIdx ? 1 : N, eventIdx ? 1 : N]);
    }
  });

  it("the device re-enabling notification asks for exactly one more kick; a disabled device (flags mode) gets none", () => {
    const p = makePair({ num: 64, eventIdx: true });
    for (let i = 0; i < 8; i++) p.txq.add_outbuf(p.scratch + i * 64, 64, i);
    p.txq.kick();
    while (p.devTx.pop() >= 0);
    // Still "running" (notifications left as they were): next burst does not kick.
    for (let i = 0; i < 8; i++) p.txq.add_outbuf(p.scratch + i * 64, 64, i);
    p.txq.kick();
    expect(p.txq.kicks).toBe(1);
    while (p.devTx.pop() >= 0);
    expect(p.devTx.enableNotification()).toBe(false);
    for (let i = 0; i < 8; i++) {
      p.txq.add_outbuf(p.scratch + i * 64, 64, i);
      p.txq.kick();
    }
    expect([p.txq.kicks, p.devTx.kicksReceived]).toEqual([2, 2]);

    const f = makePair({ num: 64, eventIdx: false });
    f.devTx.disableNotification();
    f.dev.flush();
    for (let i = 0; i < 8; i++) {
      f.txq.add_outbuf(f.scratch + i * 64, 64, i);
      f.txq.kick();
    }
    expect(f.txq.kicks).toBe(0);
    // Re-enabling: the driver's re-check kicks once for what it published meanwhile.
    f.devTx.enableNotification();
    expect([f.txq.kicks, f.txq.recheckKicks]).toEqual([1, 1]);
  });

  it("the driver re-check kicks when avail_event moves into entries published without a kick", () => {
    const p = makePair({ num: 64, eventIdx: true });
    p.txq.add_outbuf(p.scratch, 64, 0);
    p.txq.kick(); // kick 1 (avail_event 0)
    // The device pops, then enables; meanwhile (same instant in message terms) the driver published more.
    p.devTx.pop();
    p.g2d.open = true;
    p.txq.add_outbuf(p.scratch, 64, 1);
    p.txq.kick(); // avail_event still 0: no kick
    expect(p.txq.kicks).toBe(1);
    // The device only saw idx 1 when it enabled notification... simulate by enabling with its shadow at 1.
    p.devTx.shadowAvailIdx = 1;
    p.devTx.enableNotification(); // avail_event = 1 lies in [kicked 1, published 2)
    expect([p.txq.kicks, p.txq.recheckKicks, p.devTx.kicksReceived]).toEqual([2, 1, 2]);
  });

  it("N used entries flushed one by one raise 1 interrupt while NAPI runs; re-enabling the callback asks for the next", () => {
    const p = makePair({ num: 256, eventIdx: true });
    p.qp.tryFillRecv();
    expect(p.stat("rx_queue_0_kicks")).toBe(1);
    expect(deliver(p, 40, 0, true)).toBe(40);
    expect([p.devRx.interrupts, p.devRx.interruptsSuppressed, p.rxq.interrupts, p.qp.napiScheduled]).toEqual([1, 39, 1, true]);
    expect(p.qp.poll(64)).toBe(40);
    expect(p.qp.napiScheduled).toBe(false);
    expect(deliver(p, 10, 40, true)).toBe(10);
    expect(p.devRx.interrupts).toBe(2);

    const f = makePair({ num: 256, eventIdx: false });
    f.qp.tryFillRecv();
    deliver(f, 40, 0, true);
    // Flags mode: the callback set VRING_AVAIL_F_NO_INTERRUPT, the device honours it after it learns it.
    expect(f.devRx.interrupts).toBe(1);
  });
});

describe("virtio-net refill policy (virtnet_receive since Linux 5.4)", () => {
  it("refill once num_free > min(64, 256)/2, one kick per fill", () => {
    const p = makePair({ num: 256 });
    p.qp.tryFillRecv();
    expect([p.rxq.numFree, p.stat("rx_queue_0_kicks"), p.rxq.kicks]).toEqual([0, 1, 1]);
    deliver(p, 32, 0, false);
    p.qp.poll(64);
    expect([p.rxq.numFree, p.qp.refills]).toEqual([32, 1]); // 32 is not > 32
    // NAPI completed and enabled the device to kick; the next delivery runs ahead of it.
    p.devRx.enableNotification();
    deliver(p, 1, 32, false);
    p.qp.poll(64);
    expect([p.rxq.numFree, p.qp.refills, p.stat("rx_queue_0_kicks")]).toEqual([0, 2, 2]);
  });
  it("a smaller budget lowers the threshold to budget/2; a ring smaller than the budget refills past half of it", () => {
    const p = makePair({ num: 256 });
    p.qp.tryFillRecv();
    deliver(p, 8, 0, false);
    p.qp.poll(16);
    expect([p.rxq.numFree, p.qp.refills]).toEqual([8, 1]); // 8 is not > 16/2
    deliver(p, 1, 8, false);
    p.qp.poll(16);
    expect([p.rxq.numFree, p.qp.refills]).toEqual([0, 2]);
    const s = makePair({ num: 8 });
    s.qp.tryFillRecv();
    deliver(s, 4, 0, false);
    s.qp.poll(64);
    expect([s.rxq.numFree, s.qp.refills]).toEqual([4, 1]); // 4 is not > min(64, 8)/2
    deliver(s, 1, 4, false);
    s.qp.poll(64);
    expect([s.rxq.numFree, s.qp.refills]).toEqual([0, 2]);
  });
  it("an empty ring gives -ENOBUFS to the device; out of pages is counted as refill OOM", () => {
    const p = makePair({ num: 16, nbufs: 8 });
    p.qp.tryFillRecv();
    expect([p.rxq.numFree, p.qp.refillOom]).toEqual([8, 1]);
    expect(deliver(p, 20, 0, false)).toBe(8);
    expect(devicePutUsed(p.devRx, PKT, 0, 64)).toBe(-ENOBUFS);
  });
});

describe("transmit queue: packet bytes travel with their descriptors", () => {
  it("5000 packets of 60..1514 bytes reach the device intact, in order, 1 copy each side; completions free the ring", () => {
    const p = makePair({ num: 64 });
    const dv = new DataView(p.mem.buffer);
    let seen = 0;
    let bad = 0;
    let sent = 0;
    const sizeOf = (i: number) => 60 + ((i * 37) % 1455);
    p.devTx.onKick = (vq) => {
      for (let head = vq.pop(); head >= 0; head = vq.pop()) {
        const el = vq.elem;
        const off = el.dataOff[0]!;
        const len = el.len[0]!;
        if (off < 0 || len !== sizeOf(seen) || new DataView(vq.outData.buffer).getUint32(off, true) !== seen || vq.outData[off + len - 1] !== (seen & 0xff)) bad++;
        seen++;
        vq.putUsed(head, null, 0, 0);
      }
      vq.dev.flush();
      vq.enableNotification();
    };
    let completed = 0;
    while (sent < 5000) {
      // Fill what the ring takes, one kick per burst (xmit_more), then reap completions.
      while (sent < 5000 && p.txq.numFree > 0) {
        const slot = sent % 64;
        const a = p.scratch + slot * 2048;
        const len = sizeOf(sent);
        dv.setUint32(a, sent, true);
        p.mem[a + len - 1] = sent & 0xff;
        expect(p.txq.add_outbuf(a, len, slot)).toBe(0);
        sent++;
      }
      p.txq.kick();
      while (p.txq.get_buf() >= 0) completed++;
    }
    expect([seen, bad, completed, p.txq.copies, p.devTx.copies, p.dev.broken]).toEqual([5000, 0, 5000, 5000, 5000, false]);
  });
});
