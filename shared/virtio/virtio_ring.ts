// Split virtqueue layout: constants and geometry of include/uapi/linux/virtio_ring.h
// (virtio 1.2 §2.7). No behaviour: the driver side is shared/virtio/vring_driver.ts
// (drivers/virtio/virtio_ring.c), the device side shared/virtio/vring_device.ts
// (QEMU hw/virtio/virtio.c, drivers/vhost/vhost.c).
//
//   struct vring_desc       { __le64 addr; __le32 len; __le16 flags; __le16 next; }   16 bytes
//   struct vring_avail      { __le16 flags; __le16 idx; __le16 ring[num]; __le16 used_event; }   6 + 2*num
//   struct vring_used_elem  { __le32 id; __le32 len; }                                 8 bytes
//   struct vring_used       { __le16 flags; __le16 idx; vring_used_elem ring[num]; __le16 avail_event; }  6 + 8*num
//
// All ring indices are free-running u16 counters; a slot is `idx & (num - 1)`
// (num is a power of two for split rings, virtio 1.2 §2.7), distances are
// `(a - b) & 0xffff`.

/** This marks a buffer as continuing via the next field. */
export const VRING_DESC_F_NEXT = 1;
/** This marks a buffer as write-only (otherwise read-only). */
export const VRING_DESC_F_WRITE = 2;
/** This means the buffer contains a list of buffer descriptors. */
export const VRING_DESC_F_INDIRECT = 4;

/** The device uses this in used->flags to advise the driver: don't kick me when you add a buffer. */
export const VRING_USED_F_NO_NOTIFY = 1;
/** The driver uses this in avail->flags to advise the device: don't interrupt me when you consume a buffer. */
export const VRING_AVAIL_F_NO_INTERRUPT = 1;

/** Feature bits (virtio_ring.h / virtio_config.h). */
export const VIRTIO_RING_F_INDIRECT_DESC = 28;
export const VIRTIO_RING_F_EVENT_IDX = 29;

/** Device status bit set by virtio_error() (virtio_config.h). */
export const VIRTIO_CONFIG_S_NEEDS_RESET = 0x40;

/** Largest split queue (virtio 1.2 §2.7: Queue Size is at most 32768). */
export const VIRTQUEUE_MAX_SIZE = 32768;

export const VRING_DESC_SIZE = 16;
export const VRING_DESC_ADDR = 0;
export const VRING_DESC_LEN = 8;
export const VRING_DESC_FLAGS = 12;
export const VRING_DESC_NEXT = 14;

export const VRING_AVAIL_FLAGS = 0;
export const VRING_AVAIL_IDX = 2;
export const VRING_AVAIL_RING = 4;

export const VRING_USED_FLAGS = 0;
export const VRING_USED_IDX = 2;
export const VRING_USED_RING = 4;
export const VRING_USED_ELEM_SIZE = 8;

/** Alignment of the used ring in the legacy layout (VIRTIO_PCI_VRING_ALIGN). */
export const VRING_USED_ALIGN_SIZE = 4;
export const VIRTIO_PCI_VRING_ALIGN = 4096;

/** Bytes of the descriptor table. */
export function vring_desc_size(num: number): number {
  return VRING_DESC_SIZE * num;
}
/** Bytes of the avail ring including used_event. */
export function vring_avail_size(num: number): number {
  return 6 + 2 * num;
}
/** Bytes of the used ring including avail_event. */
export function vring_used_size(num: number): number {
  return 6 + VRING_USED_ELEM_SIZE * num;
}

/** Offset of used_event inside the avail ring (vring_used_event(): avail->ring[num]). */
export function vring_used_event_off(num: number): number {
  return VRING_AVAIL_RING + 2 * num;
}
/** Offset of avail_event inside the used ring (vring_avail_event(): &used->ring[num]). */
export function vring_avail_event_off(num: number): number {
  return VRING_USED_RING + VRING_USED_ELEM_SIZE * num;
}

/** Guest addresses of one split ring laid out contiguously (vring_init()). */
export interface VringLayout {
  readonly num: number;
  readonly desc: number;
  readonly avail: number;
  readonly used: number;
  /** Total bytes from desc to the end of the used ring. */
  readonly size: number;
}

function alignUp(x: number, align: number): number {
  return Math.ceil(x / align) * align;
}

/**
 * vring_init(): desc at `base`, avail right after it, used at the next
 * `align` boundary (4096 legacy, 4 for virtio 1.x split rings placed together).
 */
export function vring_init(num: number, base: number, align: number = VIRTIO_PCI_VRING_ALIGN): VringLayout {
  if (!isPowerOfTwo(num) || num > VIRTQUEUE_MAX_SIZE) throw new RangeError(`Invalid queue size: ${num}`);
  const desc = base;
  const avail = desc + vring_desc_size(num);
  const used = alignUp(avail + vring_avail_size(num), align);
  return { num, desc, avail, used, size: used + vring_used_size(num) - base };
}

/** vring_size(): bytes of a ring of `num` entries with the used ring aligned to `align`. */
export function vring_size(num: number, align: number = VIRTIO_PCI_VRING_ALIGN): number {
  return alignUp(vring_desc_size(num) + vring_avail_size(num), align) + vring_used_size(num);
}

export function isPowerOfTwo(n: number): boolean {
  return n > 0 && (n & (n - 1)) === 0;
}

/** u16 wrap. */
export function u16(x: number): number {
  return x & 0xffff;
}
/** `a - b` on free-running u16 indices. */
export function u16_sub(a: number, b: number): number {
  return (a - b) & 0xffff;
}

/**
 * vring_need_event(): the other side asked to be notified once `event_idx`
 * is passed; we moved the index from `old` to `new_idx`. True when
 * event_idx lies in [old, new_idx). All u16.
 */
export function vring_need_event(event_idx: number, new_idx: number, old: number): boolean {
  return ((new_idx - event_idx - 1) & 0xffff) < ((new_idx - old) & 0xffff);
}
