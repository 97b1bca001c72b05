// Child process of roundtrip.test.ts: the host's side of one virtio-net device
// (the vhost role) on a Unix socket data channel. Its handle_rx has vhost's
// shape: notifications off while running, a flush per 64 packets (one batch),
// requeue after a weight of 256, and on an empty ring enable notification,
// re-check, and wait for the guest's kick. It sends `total` 64-byte packets
// numbered 0.. in their first 4 bytes and reports its counters over IPC.
// Usage: node --import tsx roundtrip_device.ts SOCKET TOTAL EVENT_IDX(0|1)
import { VhostUserChannel } from "../../../shared/virtio/vhost_user_channel.ts";
import { FrameWriter } from "../../../shared/virtio/vring_frame.ts";
import { devicePutUsed, VirtioDeviceSide, VQ_DIR_RX, VQ_DIR_TX } from "../../../shared/virtio/vring_device.ts";
import { EAGAIN, ENOBUFS } from "../../../shared/errno.ts";

const [sockPath, totalArg, eventArg] = process.argv.slice(2);
const total = Number(totalArg);
const eventIdx = eventArg === "1";
const MEM = 4 << 20;
const BATCH = 64;
const WEIGHT = 256;

function start(ch: VhostUserChannel): void {
  const out = new FrameWriter(ch);
  const dev = new VirtioDeviceSide({ memSize: MEM, eventIdx, out, queues: [[256, VQ_DIR_RX], [256, VQ_DIR_TX]] });
  ch.onFrame = (b, o, l) => dev.receive(b, o, l);
  const vq = dev.vqs[0]!;
  const pkt = new Uint8Array(64).fill(0x5a);
  const pdv = new DataView(pkt.buffer);
  let sent = 0;
  let queued = false;
  let emptyRing = 0;
  let throttled = 0;
  let runs = 0;
  const schedule = (): void => {
    if (queued) return;
    queued = true;
    setImmediate(handleRx);
  };
  const handleRx = (): void => {
    queued = false;
    runs++;
    if (dev.broken || sent >= total) return;
    vq.disableNotification();
    let n = 0;
    while (sent < total) {
      pdv.setUint32(0, sent, true);
      const r = devicePutUsed(vq, pkt, 0, pkt.length);
      if (r === -ENOBUFS) {
        emptyRing++;
        dev.flush();
        if (vq.enableNotification()) {
          vq.disableNotification();
          continue;
        }
        return; // wait for the kick
      }
      if (r === -EAGAIN) {
        throttled++;
        dev.flush();
        return; // wait for drain
      }
      if (r < 0) break;
      sent++;
      if (++n % BATCH === 0) {
        dev.flush();
        if (n >= WEIGHT) {
          schedule();
          return;
        }
      }
    }
    dev.flush();
  };
  // The counters go to the test when it asks, after it received every packet:
  // from then on incoming frames are ignored (so no re-check interrupt follows
  // the report), and the report leaves once the socket has ended, i.e. after
  // every frame sent before it, so both sides count the same notifications.
  process.on("message", (m: { report?: boolean }) => {
    if (m.report !== true) return;
    ch.onFrame = null;
    dev.flush();
    const cpu = process.cpuUsage();
    const report = {
      sent,
      copies: vq.copies,
      interrupts: vq.interrupts,
      interruptsSuppressed: vq.interruptsSuppressed,
      recheckInterrupts: vq.recheckInterrupts,
      kicksReceived: vq.kicksReceived,
      framesOut: ch.framesOut,
      framesIn: ch.framesIn,
      reassembledBytes: ch.reassembledBytes,
      emptyRing,
      throttled,
      runs,
      broken: dev.reason,
      cpuMs: (cpu.user + cpu.system) / 1000,
    };
    ch.socket.end(() => process.send!(report));
  });
  vq.onKick = schedule;
  ch.onDrain = schedule;
}

await VhostUserChannel.listen(sockPath!, start);
process.send!({ ready: true });
