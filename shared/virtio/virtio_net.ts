// virtio-net constants: feature bits, the control virtqueue ack and the XDP
// offload control class, spelled as in include/uapi/linux/virtio_net.h and
// virtio_config.h (virtio 1.2 §5.1). The message table that carries the class
// is shared/proto/messages.ts; the split-ring layout is virtio_ring.ts beside it.
//
// Feature bit VIRTIO_NET_F_XDP_OFFLOAD (bit 58: in the device-specific range
// 50-127 of virtio 1.3 §6, and unused by Linux's and QEMU's virtio_net.h,
// which go 57 HASH_REPORT, 59 GUEST_HDRLEN) gates the class: without it every CTRL_BPF command is
// EOPNOTSUPP and `ip link set ... xdpoffload` fails in the guest.

/** virtio feature bits the shim offers (virtio 1.2 §5.1.3). */
export const VIRTIO_NET_F_MAC = 5;
export const VIRTIO_NET_F_STATUS = 16;
export const VIRTIO_NET_F_CTRL_VQ = 17;
export const VIRTIO_F_VERSION_1 = 32;
/** XDP offload through VIRTIO_NET_CTRL_BPF (the RFC's point for improvement "virtio can have feature bit for offloading"). */
export const VIRTIO_NET_F_XDP_OFFLOAD = 58;

export const VIRTIO_NET_OK = 0;
export const VIRTIO_NET_ERR = 1;
/** Our control class for XDP offload. */
export const VIRTIO_NET_CTRL_BPF = 0x80;
export const VIRTIO_NET_CTRL_BPF_MAP_CREATE = 0;
export const VIRTIO_NET_CTRL_BPF_MAP_FREE = 1;
export const VIRTIO_NET_CTRL_BPF_MAP_LOOKUP = 2;
export const VIRTIO_NET_CTRL_BPF_MAP_UPDATE = 3;
export const VIRTIO_NET_CTRL_BPF_MAP_DELETE = 4;
export const VIRTIO_NET_CTRL_BPF_MAP_GET_NEXT = 5;
export const VIRTIO_NET_CTRL_BPF_PROG_LOAD = 6;
export const VIRTIO_NET_CTRL_BPF_PROG_ATTACH = 7;
export const VIRTIO_NET_CTRL_BPF_PROG_DETACH = 8;
export const VIRTIO_NET_CTRL_BPF_PROG_FREE = 9;
export const VIRTIO_NET_CTRL_BPF_RESET = 10;
/** The kernel's BPF_MAP_*_BATCH commands on an offloaded map (bpf_map_do_batch() semantics). */
export const VIRTIO_NET_CTRL_BPF_MAP_LOOKUP_BATCH = 11;
export const VIRTIO_NET_CTRL_BPF_MAP_LOOKUP_AND_DELETE_BATCH = 12;
export const VIRTIO_NET_CTRL_BPF_MAP_UPDATE_BATCH = 13;
export const VIRTIO_NET_CTRL_BPF_MAP_DELETE_BATCH = 14;

/** Feature mask helper: bit n of a u64 as bigint. */
export function featureBit(n: number): bigint {
  return 1n << BigInt(n);
}
