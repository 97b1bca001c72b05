// The data channel (VhostUserChannel): frames split across socket reads are
// reassembled, whole ones delivered in place; a producer is stopped above the
// bound and resumed on drain over a real Unix socket; garbage from the peer
// closes the channel. And the frame reader survives any mutation of a frame.
import { EventEmitter } from "node:events";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { rmSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { VhostUserChannel } from "../../../shared/virtio/vhost_user_channel.ts";
import { FrameBuf, FrameWriter, readFrame, VQF_REC_USED, type FrameHandler, type FrameSink } from "../../../shared/virtio/vring_frame.ts";
import { mulberry32 } from "../../helpers/prng.ts";
import { makePair } from "./vq_pair.ts";

/** Frames of `n` USED records each carrying its number, concatenated. */
function frames(count: number, n: number): Uint8Array {
  const parts: Uint8Array[] = [];
  const sink: FrameSink = {
    acquire: () => new FrameBuf(1 << 16),
    submit: (fb) => void parts.push(fb.u8.slice(0, fb.len)),
  };
  const w = new FrameWriter(sink);
  const pkt = new Uint8Array(64);
  let seq = 0;
  for (let f = 0; f < count; f++) {
    for (let i = 0; i < n; i++) {
      new DataView(pkt.buffer).setUint32(0, seq, true);
      w.used(0, seq, seq & 255, 64, pkt, 0, 64);
      seq++;
    }
    w.flush();
  }
  return Buffer.concat(parts);
}

class Seq implements FrameHandler {
  next = 0;
  bad = 0;
  onRecord(type: number, _q: number, _arg: number, b: Uint8Array, body: number): boolean {
    if (type !== VQF_REC_USED) return true;
    const v = b[body + 12]! | (b[body + 13]! << 8) | (b[body + 14]! << 16) | (b[body + 15]! << 24);
    if (v !== this.next) this.bad++;
    this.next++;
    return true;
  }
}

/** A stand-in socket: what the channel uses of net.Socket. */
class FakeSocket extends EventEmitter {
  writableLength = 0;
  written: Uint8Array[] = [];
  destroyed = false;
  write(b: Uint8Array, cb: () => void): boolean {
    this.written.push(Uint8Array.from(b));
    cb();
    return true;
  }
  destroy(): void {
    this.destroyed = true;
  }
}

describe("VhostUserChannel", () => {
  it("reassembles frames split at every possible point and delivers whole ones in place", () => {
    const bytes = frames(5, 7);
    for (const step of [1, 3, 7, 16, 100, 333, bytes.length]) {
      const s = new FakeSocket();
      const ch = new VhostUserChannel(s as unknown as net.Socket, { frameCapacity: 4096 });
      const seq = new Seq();
      let nframes = 0;
      ch.onFrame = (b, o, l) => {
        nframes++;
        expect(readFrame(b, o, l, seq)).toBe(0);
      };
      for (let o = 0; o < bytes.length; o += step) s.emit("data", bytes.subarray(o, Math.min(o + step, bytes.length)));
      expect([nframes, seq.next, seq.bad]).toEqual([5, 35, 0]);
      if (step === bytes.length) expect(ch.reassembledBytes).toBe(0);
    }
  });

  it("closes on bytes that are not a frame", () => {
    const s = new FakeSocket();
    const ch = new VhostUserChannel(s as unknown as net.Socket);
    let why = "";
    ch.onBad = (w) => (why = w);
    s.emit("data", new Uint8Array(64).fill(0x41));
    expect([why, s.destroyed, ch.closed]).toEqual(["Bad frame header from peer", true, true]);
  });

  it("stops the producer above its bound and resumes it on drain, over a Unix socket, losing nothing", async () => {
    const sock = path.join(os.tmpdir(), `vxo-vq-ch-${process.pid}.sock`);
    rmSync(sock, { force: true });
    let server!: VhostUserChannel;
    let accept!: () => void;
    const accepted = new Promise<void>((r) => (accept = r));
    const srv = await VhostUserChannel.listen(sock, (c) => {
      server = c;
      accept();
    }, { frameCapacity: 8192, poolSize: 4, highWaterBytes: 16384 });
    const client = await VhostUserChannel.connect(sock);
    await accepted;
    const seq = new Seq();
    const N = 20000;
    const done = new Promise<void>((resolve) => {
      client.onFrame = (b, o, l) => {
        readFrame(b, o, l, seq);
        if (seq.next >= N) resolve();
      };
    });
    const w = new FrameWriter(server);
    const pkt = new Uint8Array(64);
    const pdv = new DataView(pkt.buffer);
    let sent = 0;
    let stops = 0;
    let resumes = 0;
    const pump = (): void => {
      while (sent < N) {
        pdv.setUint32(0, sent, true);
        if (!w.used(0, sent, 0, 64, pkt, 0, 64)) {
          stops++;
          return; // resumed by onDrain
        }
        sent++;
        if (sent % 64 === 0) w.flush();
      }
      w.flush();
    };
    server.onDrain = () => {
      resumes++;
      pump();
    };
    pump();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([done, new Promise((_, rej) => (timer = setTimeout(() => rej(new Error(`deadline: ${seq.next} of ${N}`)), 30_000)))]);
    clearTimeout(timer);
    expect([seq.next, seq.bad]).toEqual([N, 0]);
    expect(stops).toBeGreaterThan(0);
    expect(resumes).toBe(stops);
    expect(server.throttled).toBe(stops);
    client.close();
    server.close();
    srv.close();
    rmSync(sock, { force: true });
  });
});

describe("frame reader and device under mutated frames", () => {
  it("never throws; a mutated frame either applies or breaks the device with a reason", () => {
    const rnd = mulberry32(11);
    // A valid driver frame: 8 buffers, avail idx, kick.
    const cap: Uint8Array[] = [];
    const sink: FrameSink = { acquire: () => new FrameBuf(1 << 16), submit: (fb) => void cap.push(fb.u8.slice(0, fb.len)) };
    const w = new FrameWriter(sink);
    for (let i = 0; i < 8; i++) {
      let o = w.beginAvail(0, i, i, 1);
      o = w.availDesc(o, i, 0, 2, 2048, 0x10000 + i * 2048, 0);
    }
    w.simple(2, 0, 8);
    w.simple(3, 0, 8);
    w.flush();
    const good = cap[0]!;
    let broken = 0;
    for (let iter = 0; iter < 3000; iter++) {
      const p = makePair({ memSize: 1 << 18, nbufs: 8, frameCapacity: 8192 });
      p.devRx.onKick = (vq) => {
        while (vq.pop() >= 0);
      };
      const f = Uint8Array.from(good);
      const flips = 1 + Math.floor(rnd() * 4);
      for (let k = 0; k < flips; k++) f[Math.floor(rnd() * f.length)] = Math.floor(rnd() * 256);
      const len = rnd() < 0.1 ? Math.floor(rnd() * f.length) : f.length;
      expect(() => p.dev.receive(f, 0, len)).not.toThrow();
      if (p.dev.broken) {
        broken++;
        expect(p.dev.reason).not.toBe("");
      }
    }
    expect(broken).toBeGreaterThan(100);
  });
});
