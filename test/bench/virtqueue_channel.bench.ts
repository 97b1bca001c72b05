// Data-channel transport benchmark (not CI-gating): which carrier for the
// virtqueue frames of shared/virtio/vring_frame.ts between two processes. The
// sender (this process, the device's role) writes batches of 64 USED records
// of 64-byte packets, one frame per batch, through
//   uds: a Unix domain stream socket (node:net), the frame header as length prefix;
//   ws:  one binary WebSocket message per batch (ws, perMessageDeflate off, client->server masked);
// the receiver (a child process, the guest's role) walks every record with
// readFrame() and touches the packet bytes. Both sides stop producing when the
// socket holds more than 1 MiB (socket.writableLength / ws.bufferedAmount) and
// resume on drain. Prints packets/s and CPU time per process for both.
// Usage: npm run bench:vqchan [-- packets=1000000 batch=64 size=64]
import { spawn } from "node:child_process";
import { rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { WebSocket, WebSocketServer } from "ws";
import { FrameWriter, readFrame, type FrameHandler, VQF_REC_USED } from "../../shared/virtio/vring_frame.ts";
import { VhostUserChannel } from "../../shared/virtio/vhost_user_channel.ts";
import { numberSetting } from "../helpers/script_args.ts";

const PACKETS = numberSetting("packets", 1_000_000);
const BATCH = numberSetting("batch", 64);
const SIZE = numberSetting("size", 64);
const HIGH_WATER = 1 << 20;
const SELF = fileURLToPath(import.meta.url);

/** Receiver: counts packets and sums a byte of each (so the bytes are read). */
class Counter implements FrameHandler {
  packets = 0;
  sum = 0;
  onRecord(type: number, _q: number, _arg: number, b: Uint8Array, body: number, bodyLen: number): boolean {
    if (type === VQF_REC_USED && bodyLen >= 12) {
      this.packets++;
      this.sum = (this.sum + b[body + 12]!) | 0;
    }
    return true;
  }
}

function cpuMsOf(u: NodeJS.CpuUsage): number {
  return (u.user + u.system) / 1000;
}

async function child(kind: string, where: string): Promise<void> {
  const c = new Counter();
  const t0 = process.cpuUsage();
  const finish = () => {
    process.stdout.write(JSON.stringify({ packets: c.packets, cpuMs: cpuMsOf(process.cpuUsage(t0)) }) + "\n");
    process.exit(0);
  };
  if (kind === "uds") {
    const ch = await VhostUserChannel.connect(where);
    ch.onFrame = (b, off, len) => {
      readFrame(b, off, len, c);
      if (c.packets >= PACKETS) finish();
    };
  } else {
    const ws = new WebSocket(where, { perMessageDeflate: false, maxPayload: 1 << 20 });
    ws.binaryType = "nodebuffer";
    ws.on("message", (data: Buffer) => {
      readFrame(data, 0, data.length, c);
      if (c.packets >= PACKETS) finish();
    });
  }
}

/** Fill one frame with BATCH records through `w`; returns false under backpressure. */
function produce(w: FrameWriter, pkt: Uint8Array, seq: number): void {
  for (let i = 0; i < BATCH; i++) w.used(0, seq + i, i, SIZE, pkt, 0, SIZE);
  w.flush();
}

async function runOne(kind: "uds" | "ws"): Promise<{ kind: string; pps: number; senderCpuMs: number; receiverCpuMs: number; wallMs: number }> {
  const pkt = new Uint8Array(SIZE).fill(0xab);
  const sockPath = path.join(os.tmpdir(), `vxo-vqchan-${process.pid}.sock`);
  rmSync(sockPath, { force: true });
  let sent = 0;
  let kid: ReturnType<typeof spawn>;
  let result: Promise<{ packets: number; cpuMs: number }>;
  const startChild = (where: string) => {
    kid = spawn(process.execPath, [...process.execArgv, SELF, "child", kind, where, `packets=${PACKETS}`, `batch=${BATCH}`, `size=${SIZE}`], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    result = new Promise((resolve, reject) => {
      let out = "";
      kid.stdout!.on("data", (d) => (out += d));
      kid.on("exit", (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`receiver exited ${code}`))));
    });
  };
  let t0 = 0n;
  let cpu0 = process.cpuUsage();
  if (kind === "uds") {
    const ch = await new Promise<VhostUserChannel>((resolve) => {
      void VhostUserChannel.listen(sockPath, resolve, { highWaterBytes: HIGH_WATER }).then(() => startChild(sockPath));
    });
    const w = new FrameWriter(ch);
    t0 = process.hrtime.bigint();
    cpu0 = process.cpuUsage();
    await new Promise<void>((resolve) => {
      const pump = () => {
        while (sent < PACKETS && ch.writable) {
          produce(w, pkt, sent);
          sent += BATCH;
        }
        if (sent >= PACKETS) resolve();
      };
      ch.onDrain = pump;
      pump();
    });
  } else {
    const wss = new WebSocketServer({ port: 0, host: "127.0.0.1", perMessageDeflate: false, maxPayload: 1 << 20 });
    await new Promise((r) => wss.once("listening", r));
    const port = (wss.address() as net.AddressInfo).port;
    const conn = new Promise<WebSocket>((r) => wss.once("connection", r));
    startChild(`ws://127.0.0.1:${port}`);
    const ws = await conn;
    // The same writer and frame buffers; ws copies nothing when the frame is sent whole
    // (it writes header + payload with writev), so the buffer is reusable after the callback.
    const bufs = Array.from({ length: 16 }, () => Buffer.allocUnsafeSlow(256 * 1024));
    const { FrameBuf } = await import("../../shared/virtio/vring_frame.ts");
    const fbs = bufs.map((b) => new FrameBuf(b.length, b));
    const free = fbs.slice();
    let waiting: (() => void) | null = null;
    const w = new FrameWriter({
      acquire: () => (ws.bufferedAmount > HIGH_WATER ? null : (free.pop() ?? null)),
      submit: (fb) => {
        if (fb.len === 0) return void free.push(fb);
        ws.send((fb.u8 as Buffer).subarray(0, fb.len), { binary: true }, () => {
          free.push(fb);
          if (waiting !== null) {
            const f = waiting;
            waiting = null;
            setImmediate(f);
          }
        });
      },
    });
    t0 = process.hrtime.bigint();
    cpu0 = process.cpuUsage();
    await new Promise<void>((resolve) => {
      const pump = () => {
        while (sent < PACKETS && free.length > 0 && ws.bufferedAmount <= HIGH_WATER) {
          produce(w, pkt, sent);
          sent += BATCH;
        }
        if (sent >= PACKETS) resolve();
        else waiting = pump;
      };
      pump();
    });
  }
  const r = await result!;
  rmSync(sockPath, { force: true });
  const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const senderCpuMs = cpuMsOf(process.cpuUsage(cpu0));
  if (r.packets < PACKETS) throw new Error(`${kind}: receiver saw ${r.packets} of ${PACKETS}`);
  return { kind, pps: Math.round((PACKETS / wallMs) * 1000), senderCpuMs: Math.round(senderCpuMs), receiverCpuMs: Math.round(r.cpuMs), wallMs: Math.round(wallMs) };
}

if (process.argv[2] === "child") {
  await child(process.argv[3]!, process.argv[4]!);
} else {
  console.log(`virtqueue channel: ${PACKETS} packets of ${SIZE} B in batches of ${BATCH} (one frame per batch), one way, ${os.cpus().length} cores`);
  const rows = [];
  for (const kind of ["uds", "ws", "uds", "ws"] as const) rows.push(await runOne(kind));
  for (const r of rows)
    console.log(
      `${r.kind.padEnd(4)} ${(r.pps / 1e6).toFixed(2)} Mpps  wall ${r.wallMs} ms  CPU sender ${r.senderCpuMs} ms, receiver ${r.receiverCpuMs} ms  (${((r.senderCpuMs + r.receiverCpuMs) * 1e6 / PACKETS / 1000).toFixed(2)} us CPU/packet)`,
    );
  console.log(JSON.stringify(rows));
  process.exit(0);
}
