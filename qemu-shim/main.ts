// `vxo qemu` process entry: the device model for one guest's virtio-net.
// Connects to the host (as QEMU opens its tap and calls into the host
// kernel), accepts the guest driver and monitor clients on one listener, and
// reconnects to the host when that connection drops (chardev reconnect=).
import { connect, listen, type Channel, type Listener } from "../shared/proto/channel.ts";
import { MSG, VXO_PROTO_VERSION, type OffloadCaps } from "../shared/proto/messages.ts";
import { VIRTIO_NET_F_XDP_OFFLOAD, featureBit } from "../shared/virtio/virtio_net.ts";
import { KernelError } from "../shared/errno.ts";
import { type RunningProc, announceListening, jsonLog, runUntilSignal } from "../shared/runtime_dir.ts";
import { MigrationState } from "./migration.ts";
import { OffloadDevice } from "./offload.ts";
import type { FdRemap } from "./fd_remap.ts";
import type { OffloadQuotas } from "./quota.ts";
import { VirtioNetDevice } from "./virtio_net.ts";
import { attachMonitor } from "./monitor.ts";

export interface QemuOptions extends OffloadQuotas {
  host: string;
  listen: string;
  name: string;
  xdpOffload: boolean;
  fdRemap: FdRemap;
  capBpf: boolean;
  onlyMigratable: boolean;
}

const RECONNECT_MS = 250;

async function helloHost(o: QemuOptions): Promise<{ ch: Channel; caps: OffloadCaps }> {
  const ch = await connect(o.host);
  const r = await ch.request(MSG.HELLO, {
    protoVersion: VXO_PROTO_VERSION, features: featureBit(VIRTIO_NET_F_XDP_OFFLOAD), role: "qemu", name: o.name, capBpf: o.capBpf, nics: 1,
  });
  if (!r.ok) {
    ch.close();
    throw new KernelError(r.errno, `Cannot negotiate with host ${o.host}: ${r.message}`);
  }
  return { ch, caps: r.body.caps };
}

export interface RunningQemu extends RunningProc {
  readonly dev: VirtioNetDevice;
}

/** Starts the device model; prints `listening URL` once the host is connected. */
export async function startQemu(o: QemuOptions): Promise<RunningQemu> {
  const log = jsonLog("qemu");
  const first = await helloHost(o);
  const offload = new OffloadDevice(o.fdRemap, o, new MigrationState(o.onlyMigratable));
  const dev = new VirtioNetDevice(offload, o.xdpOffload, first.caps, log);
  let stopping = false;
  let timer: NodeJS.Timeout | null = null;
  const adoptHost = (ch: Channel) => {
    offload.host = ch;
    ch.onClose(() => {
      if (stopping) return;
      log("host_lost", { host: o.host });
      offload.hostLost();
      if (dev.guest !== null) dev.guest.notify(MSG.DEVICE_RESET, { reason: "host connection lost" });
      timer = setTimeout(retry, RECONNECT_MS);
    });
  };
  const retry = () => {
    timer = null;
    helloHost(o).then(
      ({ ch }) => {
        if (stopping) return ch.close();
        log("host_reconnected", { host: o.host });
        adoptHost(ch);
      },
      () => {
        if (!stopping) timer = setTimeout(retry, RECONNECT_MS);
      },
    );
  };
  adoptHost(first.ch);
  const l: Listener = await listen(o.listen, (ch) => {
    dev.attachChannel(ch);
    attachMonitor(ch, dev, o.name);
  });
  const unregister = announceListening("qemu", o.name, l.url, log, { host: o.host, fdRemap: o.fdRemap, xdpOffload: o.xdpOffload });
  return {
    url: l.url,
    dev,
    stop: async () => {
      stopping = true;
      if (timer !== null) clearTimeout(timer);
      unregister();
      await offload.reset();
      offload.host?.close();
      await l.close();
      log("exit", {});
    },
  };
}

/** Runs until SIGTERM/SIGINT. */
export function runQemu(o: QemuOptions): Promise<number> {
  return runUntilSignal(startQemu(o));
}
