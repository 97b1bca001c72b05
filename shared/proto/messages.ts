// The control-message table: every message exchanged by guest, qemu-shim,
// host and the CLI, once. Append-only: an op number is never reused or
// renumbered. The offload commands keep the virtio control virtqueue's shape
// (virtio 1.2 §5.1.6.5: class, command, command-specific data, 1-byte ack) as
// QEMU's virtio_net_handle_ctrl() sees it, in a class of our own.
//
// Layout of the XDP offload control class (VIRTIO_NET_CTRL_BPF = 0x80)
// --------------------------------------------------------------------
// The current virtio spec assigns classes 0 RX, 1 MAC, 2 VLAN, 3 ANNOUNCE,
// 4 MQ, 5 GUEST_OFFLOADS, 6 NOTF_COAL (the RFC's class 6) and 8 STATS;
// 0x80 sits far above them and leaves room for the spec to grow. A command is
//
//   struct virtio_net_ctrl_hdr { u8 class; u8 cmd; };   -> CTRL.req.class/cmd
//   command data (device-readable)                      -> CTRL.req.data (CTRL_BPF_CMDS[cmd].req)
//   virtio_net_ctrl_ack ack (device-writable)           -> CTRL.res.ack (VIRTIO_NET_OK / VIRTIO_NET_ERR)
//   struct virtio_net_ctrl_bpf_result (device-writable) -> CTRL.res.errno/message/log/data
//
// The standard ack keeps its meaning (0 OK, 1 ERR); the errno, the message and
// the verifier log travel in the result area that follows it, never encoded in
// the ack byte. Commands of the class (cmd numbers are append-only too):
//   0 MAP_CREATE   {mapType,keySize,valueSize,maxEntries,mapFlags,name[,btf,btfKeyTypeId,btfValueTypeId]} -> {handle}
//   1 MAP_FREE     {handle}
//   2 MAP_LOOKUP   {handle,key} -> {value}
//   3 MAP_UPDATE   {handle,key,value,flags}
//   4 MAP_DELETE   {handle,key}
//   5 MAP_GET_NEXT {handle,hasKey,key} -> {key}
//   6 PROG_LOAD    {name,license,insns[,btf,lineInfo,lineInfoRecSize,lineInfoCnt]} -> {handle}
//                  (ld_imm64 map refs carry map handles)
//   7 PROG_ATTACH  {handle,flags,expectedHandle}    (XDP_FLAGS_UPDATE_IF_NOEXIST/REPLACE)
//   8 PROG_DETACH  {}
//   9 PROG_FREE    {handle}
//  10 RESET        {}                                (free every host object of this device)
//  11 MAP_LOOKUP_BATCH            {handle,hasInBatch,inBatch,count,elemFlags,flags} -> {count,outBatch,keys,values}
//  12 MAP_LOOKUP_AND_DELETE_BATCH (same)
//  13 MAP_UPDATE_BATCH            {handle,keys,values,count,elemFlags,flags} -> {count,outBatch,keys,values}
//  14 MAP_DELETE_BATCH            {handle,keys,count,elemFlags,flags}        -> (same)
// The batch commands keep the kernel's BPF_MAP_*_BATCH semantics: `count` in is
// what the buffers hold, out what was done; an errno (ENOENT at the end of a
// walk, ENOSPC, E2BIG...) is acked VIRTIO_NET_ERR with the errno and still
// carries the result data (the partial count, the cursor, what was copied), as
// the kernel fills bpf_attr before it returns the error. At most
// MAX_BATCH_BYTES of keys and values travel in one command.
// A handle is guest-local with --fd-remap shim (the default) and the host's
// object id with --fd-remap guest (the RFC's behaviour).
//
// BTF/metadata to the host (an open item the RFC lists, done here): the optional trailing fields
// carry the object's BTF (the .BTF bytes the guest loaded with BPF_BTF_LOAD)
// with each map that has BTF key/value types and with a program that has line
// info. The host loads each distinct blob once per guest (a BTF object with an
// id, alive while a map or program uses it), checks the types as
// BPF_MAP_CREATE does (map_check_btf) and verifies with the line info, so its
// maps show a btf_id and its verifier log carries the source lines. Senders
// that leave the fields out get maps and programs without BTF, as before.
//
// The constants live in shared/virtio/virtio_net.ts.
import {
  VIRTIO_NET_CTRL_BPF_MAP_DELETE_BATCH, VIRTIO_NET_CTRL_BPF_MAP_LOOKUP_AND_DELETE_BATCH, VIRTIO_NET_CTRL_BPF_MAP_LOOKUP_BATCH,
  VIRTIO_NET_CTRL_BPF_MAP_UPDATE_BATCH,
} from "../virtio/virtio_net.ts";
import { VIRTIO_NET_CTRL_BPF, VIRTIO_NET_CTRL_BPF_MAP_CREATE, VIRTIO_NET_CTRL_BPF_MAP_DELETE, VIRTIO_NET_CTRL_BPF_MAP_FREE, VIRTIO_NET_CTRL_BPF_MAP_GET_NEXT, VIRTIO_NET_CTRL_BPF_MAP_LOOKUP, VIRTIO_NET_CTRL_BPF_MAP_UPDATE, VIRTIO_NET_CTRL_BPF_PROG_ATTACH, VIRTIO_NET_CTRL_BPF_PROG_DETACH, VIRTIO_NET_CTRL_BPF_PROG_FREE, VIRTIO_NET_CTRL_BPF_PROG_LOAD, VIRTIO_NET_CTRL_BPF_RESET } from "../virtio/virtio_net.ts";
import { arr, bool, bytes, none, opt, str, struct, u16, u32, u64, u8, type Infer, type Schema } from "./schema.ts";

/** Version of this table's wire format; HELLO refuses any other. 2: a frame may carry several envelopes. */
export const VXO_PROTO_VERSION = 2;
/** Set in the op of a reply envelope. */
export const REPLY_BIT = 0x8000;
/** Largest frame any endpoint accepts (ws maxPayload): a 1M-insn program plus slack. */
export const MAX_FRAME_BYTES = 9 * 1024 * 1024;
/**
 * A sender batches the envelopes it sends in one tick into frames of at most this
 * many bytes (a larger envelope goes alone) ...
 */
export const BATCH_FRAME_BYTES = 64 * 1024;
/** ... and at most this many envelopes; a receiver handles no more of one frame. */
export const MAX_FRAME_ENVELOPES = 4096;


const MAX_KEY = 512;
/** Keys plus values of one batch command (the device refuses more with E2BIG). */
export const MAX_BATCH_BYTES = 4 << 20;
const MAX_VALUE = 65536;
const MAX_INSNS_BYTES = 8 * 1_000_000;
const name16 = str(15);
const msg = str(4096);
const log = arr(str(4096), 1_000_000);

/** Offload capabilities the device advertises (what the host can run for this guest). */
export const caps = struct({
  /** Bit n set: XDP action n may be returned by an offloaded program. */
  actions: u32,
  helpers: arr(u32, 256),
  mapTypes: arr(u32, 64),
  maxInsns: u32,
});
export type OffloadCaps = Infer<typeof caps>;

/** An object's BTF (its .BTF section, 24-byte header + types + strings) and a program's line_info array. */
const MAX_BTF_BYTES = 4 << 20;
const MAX_LINE_INFO_BYTES = 4 << 20;
const mapAttr = {
  mapType: u32, keySize: u32, valueSize: u32, maxEntries: u32, mapFlags: u32, name: name16,
  btf: opt(bytes(MAX_BTF_BYTES)), btfKeyTypeId: opt(u32), btfValueTypeId: opt(u32),
};
/** A program's BTF and line info (BPF_PROG_LOAD's prog_btf_fd, line_info, line_info_rec_size, line_info_cnt). */
const progBtf = { btf: opt(bytes(MAX_BTF_BYTES)), lineInfo: opt(bytes(MAX_LINE_INFO_BYTES)), lineInfoRecSize: opt(u32), lineInfoCnt: opt(u32) };

const batchLookupReq = struct({ handle: u32, hasInBatch: bool, inBatch: bytes(MAX_KEY), count: u32, elemFlags: u32, flags: u32 });
const batchWriteReq = { handle: u32, keys: bytes(MAX_BATCH_BYTES), count: u32, elemFlags: u32, flags: u32 };
/** What every batch command answers (also beside an errno): bpf_attr.batch as the kernel leaves it. */
const batchRes = struct({ count: u32, outBatch: bytes(MAX_KEY), keys: bytes(MAX_BATCH_BYTES), values: bytes(MAX_BATCH_BYTES) });

/** Commands of class VIRTIO_NET_CTRL_BPF: cmd -> data schemas. Append-only. */
export const CTRL_BPF_CMDS = {
  [VIRTIO_NET_CTRL_BPF_MAP_CREATE]: { name: "MAP_CREATE", req: struct(mapAttr), res: struct({ handle: u32 }) },
  [VIRTIO_NET_CTRL_BPF_MAP_FREE]: { name: "MAP_FREE", req: struct({ handle: u32 }), res: none },
  [VIRTIO_NET_CTRL_BPF_MAP_LOOKUP]: { name: "MAP_LOOKUP", req: struct({ handle: u32, key: bytes(MAX_KEY) }), res: struct({ value: bytes(MAX_VALUE) }) },
  [VIRTIO_NET_CTRL_BPF_MAP_UPDATE]: {
    name: "MAP_UPDATE", req: struct({ handle: u32, key: bytes(MAX_KEY), value: bytes(MAX_VALUE), flags: u32 }), res: none,
  },
  [VIRTIO_NET_CTRL_BPF_MAP_DELETE]: { name: "MAP_DELETE", req: struct({ handle: u32, key: bytes(MAX_KEY) }), res: none },
  [VIRTIO_NET_CTRL_BPF_MAP_GET_NEXT]: {
    name: "MAP_GET_NEXT", req: struct({ handle: u32, hasKey: bool, key: bytes(MAX_KEY) }), res: struct({ key: bytes(MAX_KEY) }),
  },
  [VIRTIO_NET_CTRL_BPF_PROG_LOAD]: {
    name: "PROG_LOAD", req: struct({ name: name16, license: str(128), insns: bytes(MAX_INSNS_BYTES), ...progBtf }), res: struct({ handle: u32 }),
  },
  [VIRTIO_NET_CTRL_BPF_PROG_ATTACH]: {
    name: "PROG_ATTACH", req: struct({ handle: u32, flags: u32, expectedHandle: u32 }), res: none,
  },
  [VIRTIO_NET_CTRL_BPF_PROG_DETACH]: { name: "PROG_DETACH", req: none, res: none },
  [VIRTIO_NET_CTRL_BPF_PROG_FREE]: { name: "PROG_FREE", req: struct({ handle: u32 }), res: none },
  [VIRTIO_NET_CTRL_BPF_RESET]: { name: "RESET", req: none, res: none },
  [VIRTIO_NET_CTRL_BPF_MAP_LOOKUP_BATCH]: { name: "MAP_LOOKUP_BATCH", req: batchLookupReq, res: batchRes },
  [VIRTIO_NET_CTRL_BPF_MAP_LOOKUP_AND_DELETE_BATCH]: { name: "MAP_LOOKUP_AND_DELETE_BATCH", req: batchLookupReq, res: batchRes },
  [VIRTIO_NET_CTRL_BPF_MAP_UPDATE_BATCH]: {
    name: "MAP_UPDATE_BATCH", req: struct({ ...batchWriteReq, values: bytes(MAX_BATCH_BYTES) }), res: batchRes,
  },
  [VIRTIO_NET_CTRL_BPF_MAP_DELETE_BATCH]: { name: "MAP_DELETE_BATCH", req: struct(batchWriteReq), res: batchRes },
} as const;
export type CtrlBpfCmd = keyof typeof CTRL_BPF_CMDS;
export type CtrlReq<C extends CtrlBpfCmd> = Infer<(typeof CTRL_BPF_CMDS)[C]["req"]>;
export type CtrlRes<C extends CtrlBpfCmd> = Infer<(typeof CTRL_BPF_CMDS)[C]["res"]>;

/** Any command-specific data: shape checked against CTRL_BPF_CMDS by the device. */
const ctrlData: Schema<unknown> = { kind: "any", check: () => null };

export type Dir = "guest→shim" | "shim→guest" | "shim→host" | "cli→host" | "cli→shim" | "cli→guest" | "any";

export interface MsgDef {
  readonly op: number;
  readonly name: string;
  readonly dir: Dir;
  readonly kind: "request" | "notify";
  readonly req: Schema<unknown>;
  readonly res: Schema<unknown>;
}

const hostMap = { id: u32, key: bytes(MAX_KEY) };

/** The table. */
export const MSG = {
  HELLO: {
    op: 1, name: "HELLO", dir: "any", kind: "request",
    req: struct({ protoVersion: u16, features: u64, role: str(16), name: str(64), capBpf: bool, nics: u8 }),
    res: struct({ protoVersion: u16, features: u64, caps }),
  },
  CTRL: {
    op: 2, name: "CTRL", dir: "guest→shim", kind: "request",
    req: struct({ class: u8, cmd: u8, data: ctrlData }),
    res: struct({ ack: u8, errno: u16, message: msg, log, data: ctrlData }),
  },
  DEVICE_RESET: { op: 3, name: "DEVICE_RESET", dir: "shim→guest", kind: "notify", req: struct({ reason: msg }), res: none },
  /**
   * The driver set DRIVER_OK with its data queues (memSize: the guest memory its descriptors
   * address): the device model starts the backend (QEMU's vhost_net_start) and answers where the
   * guest's data channel connects (a Unix socket of the host: the rings' frames travel there).
   */
  VHOST_START: {
    op: 4, name: "VHOST_START", dir: "guest→shim", kind: "request", req: struct({ memSize: u32 }), res: struct({ path: str(4096) }),
  },
  HOST_MAP_CREATE: {
    op: 10, name: "HOST_MAP_CREATE", dir: "shim→host", kind: "request", req: struct({ tap: u8, ...mapAttr }), res: struct({ id: u32 }),
  },
  HOST_MAP_FREE: { op: 11, name: "HOST_MAP_FREE", dir: "shim→host", kind: "request", req: struct({ id: u32 }), res: none },
  HOST_MAP_LOOKUP: {
    op: 12, name: "HOST_MAP_LOOKUP", dir: "shim→host", kind: "request", req: struct(hostMap), res: struct({ value: bytes(MAX_VALUE) }),
  },
  HOST_MAP_UPDATE: {
    op: 13, name: "HOST_MAP_UPDATE", dir: "shim→host", kind: "request",
    req: struct({ ...hostMap, value: bytes(MAX_VALUE), flags: u32 }), res: none,
  },
  HOST_MAP_DELETE: { op: 14, name: "HOST_MAP_DELETE", dir: "shim→host", kind: "request", req: struct(hostMap), res: none },
  HOST_MAP_GET_NEXT: {
    op: 15, name: "HOST_MAP_GET_NEXT", dir: "shim→host", kind: "request",
    req: struct({ ...hostMap, hasKey: bool }), res: struct({ key: bytes(MAX_KEY) }),
  },
  HOST_PROG_LOAD: {
    op: 16, name: "HOST_PROG_LOAD", dir: "shim→host", kind: "request",
    req: struct({ tap: u8, name: name16, license: str(128), insns: bytes(MAX_INSNS_BYTES), ...progBtf }), res: struct({ id: u32 }),
  },
  HOST_PROG_ATTACH: {
    op: 17, name: "HOST_PROG_ATTACH", dir: "shim→host", kind: "request",
    req: struct({ tap: u8, id: u32, flags: u32, expectedId: u32 }), res: none,
  },
  HOST_PROG_DETACH: { op: 18, name: "HOST_PROG_DETACH", dir: "shim→host", kind: "request", req: struct({ tap: u8 }), res: none },
  HOST_PROG_FREE: { op: 19, name: "HOST_PROG_FREE", dir: "shim→host", kind: "request", req: struct({ id: u32 }), res: none },
  HOST_RESET: { op: 20, name: "HOST_RESET", dir: "shim→host", kind: "request", req: none, res: struct({ maps: u32, progs: u32 }) },
  HOST_SHOW: { op: 21, name: "HOST_SHOW", dir: "cli→host", kind: "request", req: none, res: struct({ json: str(16 << 20) }) },
  /** `vxo host pktgen`: one run into a tap's datapath (tap "" = the first); the report as JSON. */
  HOST_PKTGEN: {
    op: 22, name: "HOST_PKTGEN", dir: "cli→host", kind: "request",
    req: struct({
      dev: str(64), tap: str(64), count: u32, size: u32, ratePps: u32, flows: u32, case: u8, pcap: bytes(64 << 20),
      /** Packets sent first and not counted (the producer's code warms up); absent: none. */
      warmup: opt(u32),
    }),
    res: struct({ json: str(16 << 20) }),
  },
  /** `vxo host stats`: every tap's datapath counters (and per guest), as JSON. */
  HOST_STATS: { op: 23, name: "HOST_STATS", dir: "cli→host", kind: "request", req: none, res: struct({ json: str(16 << 20) }) },
  /** `vxo host capture`: start recording at a capture point of a tap (tap "" = the first); answered once it records. */
  HOST_CAPTURE_START: {
    op: 24, name: "HOST_CAPTURE_START", dir: "cli→host", kind: "request",
    req: struct({ tap: str(64), point: str(16), count: u32, timeoutMs: u32 }), res: struct({ id: u32, tap: str(64) }),
  },
  /** ... then wait for it to end (count or timeout): the pcap file's bytes. */
  HOST_CAPTURE_WAIT: {
    op: 25, name: "HOST_CAPTURE_WAIT", dir: "cli→host", kind: "request",
    req: struct({ id: u32 }), res: struct({ pcap: bytes(64 << 20), captured: u32, dropped: u32 }),
  },
  /** VHOST_NET_SET_BACKEND for a tap: its vhost worker runs; the path its data channel listens on. */
  HOST_VHOST_SET_BACKEND: {
    op: 26, name: "HOST_VHOST_SET_BACKEND", dir: "shim→host", kind: "request", req: struct({ tap: u8, memSize: u32 }),
    res: struct({ path: str(4096) }),
  },
  /**
   * BPF_MAP_*_BATCH (`cmd`, the bpf_cmd number) on a map of this device: bpf_map_do_batch()'s
   * answer in `errno` (0, or ENOENT at the end of a walk...) beside bpf_attr.batch as the
   * kernel leaves it, in a reply that is not itself an errno reply.
   */
  HOST_MAP_BATCH: {
    op: 27, name: "HOST_MAP_BATCH", dir: "shim→host", kind: "request",
    req: struct({
      id: u32, cmd: u32, hasInBatch: bool, inBatch: bytes(MAX_KEY), keys: bytes(MAX_BATCH_BYTES), values: bytes(MAX_BATCH_BYTES),
      count: u32, elemFlags: u32, flags: u32,
    }),
    res: struct({ errno: u16, count: u32, outBatch: bytes(MAX_KEY), keys: bytes(MAX_BATCH_BYTES), values: bytes(MAX_BATCH_BYTES) }),
  },
  MONITOR: { op: 30, name: "MONITOR", dir: "cli→shim", kind: "request", req: struct({ cmdline: str(4096) }), res: struct({ output: str(1 << 20) }) },
  EXEC: {
    op: 40, name: "EXEC", dir: "cli→guest", kind: "request",
    req: struct({ argv: arr(str(4096), 256), files: arr(struct({ path: str(4096), data: bytes(64 << 20) }), 16) }),
    res: struct({ status: u8, stdout: str(64 << 20), stderr: str(16 << 20) }),
  },
} as const satisfies Record<string, MsgDef>;

export type MsgTable = typeof MSG;
export type MsgName = keyof MsgTable;
export type Req<M extends MsgDef> = Infer<M["req"]>;
export type Res<M extends MsgDef> = Infer<M["res"]>;

/** op -> definition, built once. */
export const MSG_BY_OP: ReadonlyMap<number, MsgDef> = new Map(Object.values(MSG).map((m) => [m.op, m as MsgDef]));

/** The ops addressed to the host (host/control.ts registers exactly these). */
export const HOST_OPS: readonly number[] = Object.values(MSG)
  .filter((m) => m.dir === "shim→host" || m.dir === "cli→host")
  .map((m) => m.op);
