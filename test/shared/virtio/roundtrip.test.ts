// A guest driver and its device in two processes over the Unix socket data
// channel: 100k packets from the device (child process, vhost's handle_rx
// shape) into the guest's virtio-net queue pair (this process: guest/net's
// VirtnetQueuePair run on the channel as the guest process runs it, page_pool
// refill, NAPI poll with budget 64 from setImmediate, interrupts), with
// conservation and order; copies, kicks and interrupts per packet are printed
// for the report.
import { fork } from "node:child_process";
import { once } from "node:events";
import os from "node:os";
import path from "node:path";
import { rmSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { VhostUserChannel } from "../../../shared/virtio/vhost_user_channel.ts";
import { VIRTNET_ETHTOOL_STATS, VirtnetQueuePair } from "../../../guest/net/virtnet.ts";
import { runOnChannel } from "../../../guest/net/dataplane.ts";
import { guestBpf } from "./vq_pair.ts";

const N = 100_000;
/** The device's idea of the guest's memory (roundtrip_device.ts). */
const MEM = 4 << 20;
const CHILD = path.join(path.dirname(new URL(import.meta.url).pathname), "roundtrip_device.ts");

interface DeviceReport {
  sent: number;
  copies: number;
  interrupts: number;
  interruptsSuppressed: number;
  recheckInterrupts: number;
  kicksReceived: number;
  framesOut: number;
  framesIn: number;
  emptyRing: number;
  throttled: number;
  broken: string;
  cpuMs: number;
}

describe("guest driver <-> device across processes", () => {
  for (const eventIdx of [true, false]) {
    it(`moves ${N} packets in order with nothing lost (event idx ${eventIdx ? "on" : "off"})`, async () => {
      const sock = path.join(os.tmpdir(), `vxo-vq-rt-${process.pid}-${eventIdx ? 1 : 0}.sock`);
      rmSync(sock, { force: true });
      const child = fork(CHILD, [sock, String(N), eventIdx ? "1" : "0"], { execArgv: ["--import", "tsx"], stdio: ["ignore", "inherit", "inherit", "ipc"] });
      try {
        const [ready] = (await once(child, "message")) as [{ ready?: boolean }];
        expect(ready.ready).toBe(true);
        const report = new Promise<DeviceReport>((resolve) => child.once("message", (m) => resolve(m as DeviceReport)));
        const ch = await VhostUserChannel.connect(sock);
        const { mem, vm } = guestBpf(MEM);
        const qp = new VirtnetQueuePair({ mem, vm, sink: ch, ifindex: 2, eventIdx });
        const rxq = qp.rxvq, drv = qp.dev;
        let got = 0;
        let outOfOrder = 0;
        let badLen = 0;
        let resolveAll!: () => void;
        const all = new Promise<void>((r) => (resolveAll = r));
        qp.onNetifReceive = (m, off, len) => {
          if (len !== 64) badLen++;
          if ((m[off]! | (m[off + 1]! << 8) | (m[off + 2]! << 16) | (m[off + 3]! << 24)) !== got) outOfOrder++;
          if (++got === N) resolveAll();
        };
        runOnChannel(qp, ch);
        qp.open();
        const t0 = process.hrtime.bigint();
        const cpu0 = process.cpuUsage();
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([all, new Promise((_, rej) => (timer = setTimeout(() => rej(new Error(`deadline: ${got} of ${N} received`)), 60_000)))]);
        clearTimeout(timer);
        // The device reports when asked and after ending its side of the socket; the
        // guest compares once its socket closed, so it has seen every frame sent before.
        const closed = once(ch.socket, "close");
        child.send({ report: true });
        const d = await report;
        await closed;
        const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
        const cpu = process.cpuUsage(cpu0);
        // Conservation and order.
        expect([got, outOfOrder, badLen, d.sent, d.broken, drv.needsReset, drv.badFrames, rxq.broken]).toEqual([N, 0, 0, N, "", false, 0, false]);
        // Copies: one into the frame (device), one into the guest buffer (driver).
        expect([d.copies, rxq.copies]).toEqual([N, N]);
        expect(rxq.kicks).toBe(d.kicksReceived);
        expect(qp.stats[VIRTNET_ETHTOOL_STATS.indexOf("rx_queue_0_kicks")] + rxq.recheckKicks).toBe(rxq.kicks);
        expect(rxq.interrupts + rxq.spuriousInterrupts).toBe(d.interrupts);
        console.log(
          `[virtqueue round trip, event idx ${eventIdx ? "on" : "off"}] ${N} packets in ${wallMs.toFixed(0)} ms ` +
            `(${((N / wallMs) * 1000 / 1e6).toFixed(2)} Mpps); copies/packet ${((d.copies + rxq.copies) / N).toFixed(2)}; ` +
            `kicks ${rxq.kicks} (${(rxq.kicks / N).toFixed(4)}/packet, ${rxq.recheckKicks} re-check), interrupts ${d.interrupts} ` +
            `(${(d.interrupts / N).toFixed(4)}/packet, ${d.interruptsSuppressed} suppressed, ${d.recheckInterrupts} re-check); ` +
            `frames device->guest ${d.framesOut} (${(N / d.framesOut).toFixed(1)} packets/frame), guest->device ${d.framesIn}; ` +
            `NAPI polls ${qp.polls}, refills ${qp.refills}; empty-ring waits ${d.emptyRing}, throttled ${d.throttled}; ` +
            `CPU guest ${((cpu.user + cpu.system) / 1000).toFixed(0)} ms, device ${d.cpuMs.toFixed(0)} ms`,
        );
        ch.close();
      } finally {
        child.kill();
        rmSync(sock, { force: true });
      }
    }, 90_000);
  }
});
