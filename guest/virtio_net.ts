// Driver side of the virtio-net control path: feature negotiation with the
// device and control-virtqueue commands (virtnet_send_command() in
// drivers/net/virtio_net.c): class + command + data out, ack + result in.
import { connect, type Channel } from "../shared/proto/channel.ts";
import { CTRL_BPF_CMDS, MSG, VXO_PROTO_VERSION, type CtrlBpfCmd, type CtrlReq, type CtrlRes, type OffloadCaps } from "../shared/proto/messages.ts";
import { VIRTIO_NET_CTRL_BPF, VIRTIO_NET_F_XDP_OFFLOAD, VIRTIO_NET_OK, featureBit } from "../shared/virtio/virtio_net.ts";
import { none, validate, type Schema } from "../shared/proto/schema.ts";
import { EIO, EPROTO, KernelError } from "../shared/errno.ts";

/**
 * Result of one control command: the data, or errno/message/log from the result area, with
 * the data a failed batch command still carries (null for any other failure).
 */
export type CtrlResult<T> = { ok: true; data: T } | { ok: false; errno: number; message: string; log: string[]; data: T | null };

/** Features the driver understands (VIRTIO_NET_F_* it would ack). */
const DRIVER_FEATURES = (1n << 64n) - 1n;

export class VirtioNetDriver {
  readonly ch: Channel;
  readonly features: bigint;
  readonly caps: OffloadCaps;

  constructor(ch: Channel, features: bigint, caps: OffloadCaps) {
    this.ch = ch;
    this.features = features;
    this.caps = caps;
  }

  /** Connects and negotiates (ACKNOWLEDGE -> DRIVER -> FEATURES_OK -> DRIVER_OK). */
  static async probe(url: string, name: string): Promise<VirtioNetDriver> {
    const ch = await connect(url);
    const r = await ch.request(MSG.HELLO, { protoVersion: VXO_PROTO_VERSION, features: DRIVER_FEATURES, role: "guest", name, capBpf: true, nics: 1 });
    if (!r.ok) {
      ch.close();
      throw new KernelError(r.errno, `Cannot probe virtio-net device at ${url}: ${r.message}`);
    }
    return new VirtioNetDriver(ch, BigInt(r.body.features), r.body.caps);
  }

  /** VIRTIO_NET_F_XDP_OFFLOAD negotiated. */
  get hasXdpOffload(): boolean {
    return (this.features & featureBit(VIRTIO_NET_F_XDP_OFFLOAD)) !== 0n;
  }

  /** Sends one VIRTIO_NET_CTRL_BPF command and waits (at most timeoutMs) for its ack. Never throws. */
  async bpfCmd<C extends CtrlBpfCmd>(cmd: C, data: CtrlReq<C>, timeoutMs?: number): Promise<CtrlResult<CtrlRes<C>>> {
    const r = await this.ch.request(MSG.CTRL, { class: VIRTIO_NET_CTRL_BPF, cmd, data }, timeoutMs);
    if (!r.ok) return { ok: false, errno: r.errno, message: r.message, log: r.log, data: null };
    const b = r.body;
    const res = CTRL_BPF_CMDS[cmd].res as Schema<unknown>;
    if (b.ack !== VIRTIO_NET_OK) {
      const partial = res !== none && validate(res, b.data) === null ? (b.data as CtrlRes<C>) : null;
      return { ok: false, errno: b.errno === 0 ? EIO : b.errno, message: b.message, log: b.log, data: partial };
    }
    const bad = validate(res, b.data);
    if (bad !== null) return { ok: false, errno: EPROTO, message: `Malformed ${CTRL_BPF_CMDS[cmd].name} result: ${bad}`, log: [], data: null };
    return { ok: true, data: b.data as CtrlRes<C> };
  }
}
