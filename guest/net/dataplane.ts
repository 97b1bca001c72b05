// eth0's data queues in the guest process: after the control-path probe the
// driver sets DRIVER_OK with its queues, the device model (the shim) starts
// the host's vhost backend (VHOST_START -> HOST_VHOST_SET_BACKEND) and answers
// where the data channel listens; the guest connects and runs its receive and
// send queues (virtnet.ts) over it. NAPI runs from setImmediate, as softirq
// work after the interrupt that scheduled it.
import { VirtnetQueuePair } from "./virtnet.ts";
import { VhostUserChannel } from "../../shared/virtio/vhost_user_channel.ts";
import type { FrameBuf, FrameSink } from "../../shared/virtio/vring_frame.ts";
import { MSG } from "../../shared/proto/messages.ts";
import { KernelError } from "../../shared/errno.ts";
import type { VirtioNetDriver } from "../virtio_net.ts";
import type { GuestKernel } from "../netdev.ts";
import type { LogFn } from "../../shared/runtime_dir.ts";

/** The channel once connected (the queues exist before it does; nothing is sent before). */
class DeferredSink implements FrameSink {
  chan: VhostUserChannel | null = null;
  acquire(): FrameBuf | null {
    return this.chan === null ? null : this.chan.acquire();
  }
  submit(fb: FrameBuf): void {
    this.chan?.submit(fb);
  }
}

export interface Dataplane {
  qp: VirtnetQueuePair;
  chan: VhostUserChannel;
  close(): void;
}

/** Starts eth0's data queues; throws KernelError when the device model or host cannot. */
export async function startDataplane(k: GuestKernel, drv: VirtioNetDriver, log: LogFn): Promise<Dataplane> {
  // The rings and pages first: the guest memory the descriptors address is the memory as it is then.
  const sink = new DeferredSink();
  const qp = new VirtnetQueuePair({ mem: k.bpf.mem, vm: k.bpf.vm, sink, ifindex: k.eth0.ifindex });
  const r = await drv.ch.request(MSG.VHOST_START, { memSize: qp.memSize });
  if (!r.ok) throw new KernelError(r.errno, `Cannot start the data queues: ${r.message}`);
  const chan = await VhostUserChannel.connect(r.body.path, { poolSize: 64, highWaterBytes: 16 << 20 });
  sink.chan = chan;
  runOnChannel(qp, chan);
  chan.onBad = (why) => log("dataplane_bad_frame", { why });
  qp.onNeedsReset = (reason) => log("virtio_net_needs_reset", { reason });
  k.datapath = qp;
  k.syncDatapathXdp();
  qp.open();
  log("dataplane_up", { path: r.body.path, memSize: qp.memSize });
  return {
    qp, chan,
    close: () => {
      k.datapath = null;
      chan.socket.destroy();
    },
  };
}

/**
 * Runs `qp` over `chan` in this process: the device's frames go to receive(), NAPI polls from
 * setImmediate while it stays scheduled, and when the channel refused a buffer (its socket far
 * behind) the queue refills and kicks again once it drained, so that no kick stays lost.
 */
export function runOnChannel(qp: VirtnetQueuePair, chan: VhostUserChannel): void {
  chan.onFrame = (b, off, len) => qp.receive(b, off, len);
  chan.onDrain = () => qp.tryFillRecv();
  let pending = false;
  const napi = (): void => {
    pending = false;
    qp.poll();
    if (qp.napiScheduled && !pending) {
      pending = true;
      setImmediate(napi);
    }
  };
  qp.onNapiSchedule = () => {
    if (pending) return;
    pending = true;
    setImmediate(napi);
  };
}
