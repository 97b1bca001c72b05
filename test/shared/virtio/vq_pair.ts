// Test fixture: the guest's virtio-net queue pair (guest/net/virtnet.ts: its
// rings and page_pool in a BPF memory of its own, no program attached) and the
// host-side device, joined by loopback sinks in one process. Across processes,
// roundtrip.test.ts runs the same queue pair over a Unix socket data channel.
import { BpfMemory } from "../../../shared/bpf/runtime/memory.ts";
import { BpfVm } from "../../../shared/bpf/runtime/vm.ts";
import { XDP_HELPERS } from "../../../shared/bpf/runtime/helpers.ts";
import { FrameWriter, LoopbackSink } from "../../../shared/virtio/vring_frame.ts";
import { VirtioDeviceSide, VQ_DIR_RX, VQ_DIR_TX } from "../../../shared/virtio/vring_device.ts";
import { VIRTNET_ETHTOOL_STATS, VirtnetQueuePair } from "../../../guest/net/virtnet.ts";

export interface PairOpts {
  num?: number;
  eventIdx?: boolean;
  /** The guest's memory: exactly this many bytes, never grown (what the device is told). */
  memSize?: number;
  /** page_pool frames (receive buffers and send-queue frames); the queue pair's default if unset. */
  nbufs?: number;
  frameCapacity?: number;
  /** A guest kernel's memory and VM (a BpfKernel, to load programs into); memSize is then unused. */
  bpf?: { mem: BpfMemory; vm: BpfVm };
}

/** Bytes of the scratch area a test writes its own transmit buffers into (64 slots of 2048). */
export const SCRATCH_BYTES = 64 * 2048;

/**
 * The memory and VM of a guest kernel with no maps or programs: `bytes` exactly (shared, as
 * the guest's is, with that as its maximum, so that it never grows).
 */
export function guestBpf(bytes: number): { mem: BpfMemory; vm: BpfVm } {
  const mem = new BpfMemory(bytes, { shared: true, maxBytes: bytes });
  return { mem, vm: new BpfVm(mem, XDP_HELPERS, { mapByAddr: () => undefined }) };
}

export function makePair(o: PairOpts = {}) {
  const num = o.num ?? 256;
  const eventIdx = o.eventIdx ?? true;
  const g2d = new LoopbackSink(o.frameCapacity);
  const d2g = new LoopbackSink(o.frameCapacity);
  const { mem: bpfMem, vm } = o.bpf ?? guestBpf(o.memSize ?? 4 << 20);
  const scratch = bpfMem.alloc(SCRATCH_BYTES, 4096);
  if (scratch === 0) throw new RangeError("No room for the test's transmit buffers in guest memory");
  const qp = new VirtnetQueuePair({ mem: bpfMem, vm, sink: g2d, ifindex: 2, queueSize: num, eventIdx, poolFrames: o.nbufs });
  const memSize = qp.memSize;
  const dw = new FrameWriter(d2g);
  const dev = new VirtioDeviceSide({ memSize, eventIdx, out: dw, queues: [[num, VQ_DIR_RX], [num, VQ_DIR_TX, 2048]] });
  g2d.peer = dev;
  d2g.peer = qp.dev;
  /** ethtool -S counter `name` (VIRTNET_ETHTOOL_STATS) of the queue pair. */
  const stat = (name: (typeof VIRTNET_ETHTOOL_STATS)[number]): number => qp.stats[VIRTNET_ETHTOOL_STATS.indexOf(name)]!;
  return {
    num, memSize, qp, g2d, d2g, dw, dev, stat, scratch,
    /** The guest's memory (what the rings and buffers are in). */
    mem: qp.rxvq.mem,
    gw: qp.writer, rxq: qp.rxvq, txq: qp.txvq, drv: qp.dev, devRx: dev.vqs[0]!, devTx: dev.vqs[1]!,
  };
}
export type Pair = ReturnType<typeof makePair>;
