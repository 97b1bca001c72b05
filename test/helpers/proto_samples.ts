// One valid request body per message of the table (and per VIRTIO_NET_CTRL_BPF
// command), for round-trip, golden and fuzz tests.
import { MSG, CTRL_BPF_CMDS, type CtrlBpfCmd } from "../../shared/proto/messages.ts";
import { VIRTIO_NET_CTRL_BPF } from "../../shared/virtio/virtio_net.ts";

const key = new Uint8Array([1, 0, 0, 0]);
const value = new Uint8Array([7, 0, 0, 0, 0, 0, 0, 0]);
const insns = new Uint8Array([0xb7, 0, 0, 0, 2, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0]);
const mapAttr = { mapType: 2, keySize: 4, valueSize: 8, maxEntries: 4, mapFlags: 0, name: "m" };

/** Command data by VIRTIO_NET_CTRL_BPF command. */
export const CTRL_SAMPLES: Record<CtrlBpfCmd, unknown> = {
  0: mapAttr,
  1: { handle: 1 },
  2: { handle: 1, key },
  3: { handle: 1, key, value, flags: 0 },
  4: { handle: 1, key },
  5: { handle: 1, hasKey: false, key: new Uint8Array(0) },
  6: { name: "p", license: "GPL", insns },
  7: { handle: 1, flags: 0, expectedHandle: 0 },
  8: {},
  9: { handle: 1 },
  10: {},
  11: { handle: 1, hasInBatch: false, inBatch: new Uint8Array(0), count: 16, elemFlags: 0, flags: 0 },
  12: { handle: 1, hasInBatch: true, inBatch: new Uint8Array([3, 0, 0, 0]), count: 16, elemFlags: 0, flags: 0 },
  13: { handle: 1, keys: key, values: value, count: 1, elemFlags: 0, flags: 0 },
  14: { handle: 1, keys: key, count: 1, elemFlags: 0, flags: 0 },
};

/** Request bodies by message name. */
export const MSG_SAMPLES: Record<keyof typeof MSG, unknown> = {
  HELLO: { protoVersion: 2, features: 1n << 58n, role: "guest", name: "vm", capBpf: true, nics: 1 },
  CTRL: { class: VIRTIO_NET_CTRL_BPF, cmd: 3, data: CTRL_SAMPLES[3] },
  DEVICE_RESET: { reason: "test" },
  VHOST_START: { memSize: 1 << 24 },
  HOST_MAP_CREATE: { tap: 0, ...mapAttr },
  HOST_MAP_FREE: { id: 1 },
  HOST_MAP_LOOKUP: { id: 1, key },
  HOST_MAP_UPDATE: { id: 1, key, value, flags: 0 },
  HOST_MAP_DELETE: { id: 1, key },
  HOST_MAP_GET_NEXT: { id: 1, key, hasKey: true },
  HOST_PROG_LOAD: { tap: 0, name: "p", license: "GPL", insns },
  HOST_PROG_ATTACH: { tap: 0, id: 1, flags: 0, expectedId: 0 },
  HOST_PROG_DETACH: { tap: 0 },
  HOST_PROG_FREE: { id: 1 },
  HOST_RESET: {},
  HOST_MAP_BATCH: {
    id: 1, cmd: 24, hasInBatch: false, inBatch: new Uint8Array(0), keys: new Uint8Array(0), values: new Uint8Array(0), count: 16, elemFlags: 0, flags: 0,
  },
  HOST_SHOW: {},
  HOST_PKTGEN: { dev: "nic0", tap: "", count: 1, size: 64, ratePps: 0, flows: 1, case: 1, pcap: new Uint8Array(0) },
  HOST_STATS: {},
  HOST_CAPTURE_START: { tap: "", point: "tap-rx", count: 1, timeoutMs: 1 },
  HOST_CAPTURE_WAIT: { id: 1 },
  HOST_VHOST_SET_BACKEND: { tap: 0, memSize: 1 << 24 },
  MONITOR: { cmdline: "info status" },
  EXEC: { argv: ["ip", "link", "show"], files: [] },
};

export const CTRL_CMD_COUNT = Object.keys(CTRL_BPF_CMDS).length;
