// Device semantics of one virtio-net NIC as far as the control plane goes:
// feature offer and negotiation with the driver, the control virtqueue
// dispatch by class with the 1-byte ack (VIRTIO_NET_OK/ERR), device reset.
// Mirrors QEMU hw/net/virtio-net.c (virtio_net_get_features(),
// virtio_net_handle_ctrl()); virtio 1.2 §5.1.6.5.
import type { Channel } from "../shared/proto/channel.ts";
import { MSG, VXO_PROTO_VERSION, type OffloadCaps } from "../shared/proto/messages.ts";
import { VIRTIO_F_VERSION_1, VIRTIO_NET_CTRL_BPF, VIRTIO_NET_ERR, VIRTIO_NET_F_CTRL_VQ, VIRTIO_NET_F_MAC, VIRTIO_NET_F_STATUS, VIRTIO_NET_F_XDP_OFFLOAD, VIRTIO_NET_OK, featureBit } from "../shared/virtio/virtio_net.ts";
import { EBUSY, ENOTCONN, EOPNOTSUPP, EPROTO, KernelError } from "../shared/errno.ts";
import type { OffloadDevice } from "./offload.ts";
import type { LogFn } from "../shared/runtime_dir.ts";


/** The virtio-net device model of one guest. */
export class VirtioNetDevice {
  readonly offload: OffloadDevice;
  readonly hostFeatures: bigint;
  readonly log: LogFn;
  /** Driver connection (the guest), null when none. */
  guest: Channel | null;
  guestName: string;
  guestFeatures: bigint;
  /** Capabilities the host advertised (relayed to the guest). */
  caps: OffloadCaps;
  ctrlCount: number;

  constructor(offload: OffloadDevice, xdpOffload: boolean, caps: OffloadCaps, log: LogFn) {
    this.offload = offload;
    let f = featureBit(VIRTIO_NET_F_MAC) | featureBit(VIRTIO_NET_F_STATUS) | featureBit(VIRTIO_NET_F_CTRL_VQ) | featureBit(VIRTIO_F_VERSION_1);
    if (xdpOffload) f |= featureBit(VIRTIO_NET_F_XDP_OFFLOAD);
    this.hostFeatures = f;
    this.log = log;
    this.guest = null;
    this.guestName = "";
    this.guestFeatures = 0n;
    this.caps = caps;
    this.ctrlCount = 0;
  }

  get hasOffload(): boolean {
    return (this.guestFeatures & featureBit(VIRTIO_NET_F_XDP_OFFLOAD)) !== 0n;
  }

  /** Registers the driver-facing handlers on a connection (guest HELLO and CTRL). */
  attachChannel(ch: Channel): void {
    ch.handle(MSG.HELLO, (req) => {
      if (req.protoVersion !== VXO_PROTO_VERSION) {
        throw new KernelError(EPROTO, `Cannot negotiate: protocol version ${req.protoVersion}, device speaks ${VXO_PROTO_VERSION}`);
      }
      if (req.role !== "guest") return { protoVersion: VXO_PROTO_VERSION, features: this.hostFeatures, caps: this.caps };
      if (this.guest === ch) throw new KernelError(EPROTO, "Cannot handle HELLO: features already negotiated (reset the device first)");
      if (this.guest !== null) throw new KernelError(EBUSY, "Cannot attach driver: the device already has one");
      // The driver acks a subset of what we offer (VIRTIO_CONFIG_S_FEATURES_OK).
      this.guestFeatures = BigInt(req.features) & this.hostFeatures;
      this.guest = ch;
      this.guestName = req.name;
      ch.owner = this;
      this.log("driver_ok", { guest: req.name, features: "0x" + this.guestFeatures.toString(16) });
      ch.onClose(() => void this.#driverGone(ch));
      return { protoVersion: VXO_PROTO_VERSION, features: this.guestFeatures, caps: this.caps };
    });
    ch.handle(MSG.CTRL, (req) => this.#ctrl(ch, req.class, req.cmd, req.data));
    ch.handle(MSG.VHOST_START, async (req) => {
      if (ch !== this.guest) throw new KernelError(EPROTO, "Cannot start the data queues: driver has not negotiated features");
      const host = this.offload.host;
      if (host === null) throw new KernelError(ENOTCONN, "Cannot start vhost: no host connection");
      const r = await host.request(MSG.HOST_VHOST_SET_BACKEND, { tap: 0, memSize: req.memSize });
      if (!r.ok) throw new KernelError(r.errno, `vhost backend: ${r.message}`);
      this.log("vhost_start", { guest: this.guestName, path: r.body.path });
      return { path: r.body.path };
    });
  }

  async #ctrl(ch: Channel, cls: number, cmd: number, data: unknown) {
    this.ctrlCount++;
    const err = (errno: number, message: string, log: string[] = [], data: unknown = {}) => ({ ack: VIRTIO_NET_ERR, errno, message, log, data });
    if (ch !== this.guest) return err(EPROTO, "Cannot run control command: driver has not negotiated features");
    if (cls !== VIRTIO_NET_CTRL_BPF) return err(EOPNOTSUPP, `Control class ${cls} is not supported by this device model`);
    if (!this.hasOffload) return err(EOPNOTSUPP, "Cannot run VIRTIO_NET_CTRL_BPF command: VIRTIO_NET_F_XDP_OFFLOAD not negotiated");
    const r = await this.offload.command(cmd, data);
    if (!r.ok) {
      // A batch walk's ENOENT at the end is its normal answer, not worth a log line.
      if (r.data === undefined) this.log("ctrl_err", { cmd, errno: r.errno, message: r.message });
      return err(r.errno, r.message, r.log, r.data ?? {});
    }
    return { ack: VIRTIO_NET_OK, errno: 0, message: "", log: [], data: r.data };
  }

  async #driverGone(ch: Channel): Promise<void> {
    if (this.guest !== ch) return;
    this.guest = null;
    this.guestFeatures = 0n;
    this.log("driver_gone", { guest: this.guestName });
    this.guestName = "";
    await this.offload.reset();
  }

  /** system_reset: frees every offloaded object and tells the driver its device was reset. */
  async systemReset(reason: string): Promise<void> {
    await this.offload.reset();
    if (this.guest !== null) this.guest.notify(MSG.DEVICE_RESET, { reason });
  }
}
