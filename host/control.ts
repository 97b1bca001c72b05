// Host control handlers: exactly one per op addressed to the host in
// shared/proto/messages.ts. The part of QEMU's RFC offload code that calls
// libbpf on the host (bpf_create_map / bpf_prog_load / tap attach), with the
// host kernel's second verification pass and netdevsim-style ownership.
import type { Channel } from "../shared/proto/channel.ts";
import { MAX_BATCH_BYTES, MSG, VXO_PROTO_VERSION, type OffloadCaps } from "../shared/proto/messages.ts";
import { VIRTIO_NET_F_XDP_OFFLOAD, featureBit } from "../shared/virtio/virtio_net.ts";
import { checkMapCaps, checkProgCaps, progNeeds } from "../shared/bpf/offload/caps.ts";
import { BpfInsns, BPF_INSN_SZ } from "../shared/bpf/isa/insn.ts";
import { BPF_MAP_LOOKUP_AND_DELETE_BATCH, BPF_MAP_LOOKUP_BATCH, BPF_PROG_TYPE_XDP } from "../shared/bpf/isa/uapi.ts";
import { mapDoBatch } from "../shared/bpf/syscall.ts";
import type { BpfMap, BpfMapBatch } from "../shared/bpf/maps/map.ts";
import { E2BIG, EBADF, EINVAL, ENODEV, ENOENT, ENOSPC, EOPNOTSUPP, EPERM, EPROTO, KernelError, errnoName, strerror } from "../shared/errno.ts";
import type { HostSession, OffloadState } from "./offload_state.ts";
import type { Tap } from "./tap.ts";
import { hostShowJson } from "./show.ts";
import { findTap, type TapDatapaths } from "./tap_datapath.ts";
import { ProgArrayMap } from "../shared/bpf/maps/prog_array.ts";
import type { BpfProg } from "../shared/bpf/runtime/prog.ts";
import type { LogFn } from "../shared/runtime_dir.ts";
import type { BtfObject } from "../shared/bpf/syscall.ts";
import { createHash } from "node:crypto";


export interface HostConfig {
  caps: OffloadCaps;
  log: LogFn;
  /** The taps' datapaths (the `vxo host` daemon); without it taps are attach points only. */
  datapaths?: TapDatapaths;
}

/** The device name `vxo host pktgen --dev` accepts: NIC-A, pktgen's port onto the wire to NIC-B. */
export const PKTGEN_DEV = "nic0";

function session(ch: Channel): HostSession {
  const s = ch.owner as HostSession | null;
  if (s === null) throw new KernelError(EPROTO, "Cannot handle request: HELLO has not been exchanged on this connection");
  return s;
}

function tapOf(s: HostSession, tap: number): Tap {
  const t = s.taps[tap];
  if (t === undefined) throw new KernelError(ENODEV, `Cannot find tap for NIC ${tap} of guest ${s.guest}`);
  return t;
}

function needCapBpf(s: HostSession, what: string): void {
  if (!s.capBpf) throw new KernelError(EPERM, `Cannot ${what}: ${strerror(EPERM)}: the device model lacks CAP_BPF`);
}

function mapOf(st: OffloadState, s: HostSession, id: number) {
  const i = st.ownedMap(s, id);
  const m = i === undefined ? undefined : st.kernel.maps.get(id);
  if (m === undefined) throw new KernelError(EBADF, `Cannot use map ${id}: ${strerror(EBADF)}: not a map of this device`);
  return m;
}

function check(rc: number, what: string): void {
  if (rc < 0) throw new KernelError(-rc, `Cannot ${what}: ${strerror(rc)} (${errnoName(rc)})`);
}

/** Per guest session: the BTF object loaded for each distinct blob it sent (sha-1 -> BTF id). */
const sessionBtfs = new WeakMap<HostSession, Map<string, number>>();

/**
 * BPF_BTF_LOAD of a guest's BTF blob, once per distinct blob and guest: a
 * blob sent again (the object's other maps, its program) gets the same BTF
 * object while a map or program of the guest still holds it. Returns a
 * reference for the caller to drop (btfPut) once its map or program exists.
 * Throws KernelError (EINVAL: malformed BTF).
 */
function guestBtf(st: OffloadState, s: HostSession, data: Uint8Array, what: string): BtfObject {
  let ids = sessionBtfs.get(s);
  if (ids === undefined) sessionBtfs.set(s, (ids = new Map()));
  const key = createHash("sha1").update(data).digest("hex");
  const id = ids.get(key);
  const known = id === undefined ? undefined : st.kernel.btfs.get(id);
  if (known !== undefined && Buffer.compare(Buffer.from(known.data), Buffer.from(data)) === 0) {
    st.kernel.btfGet(known.id);
    return known;
  }
  const o = st.kernel.btfLoad(data);
  if (typeof o === "number") throw new KernelError(-o, `Cannot ${what}: BTF is invalid: ${strerror(o)} (${errnoName(o)})`);
  ids.set(key, o.id);
  return o;
}

/** Registers the host's handlers on one connection. */
export function registerHostHandlers(ch: Channel, st: OffloadState, cfg: HostConfig): void {
  ch.handle(MSG.HELLO, (req) => {
    if (ch.owner !== null) throw new KernelError(EPROTO, "Cannot handle HELLO: already negotiated");
    if (req.protoVersion !== VXO_PROTO_VERSION) {
      throw new KernelError(EPROTO, `Cannot negotiate: protocol version ${req.protoVersion}, host speaks ${VXO_PROTO_VERSION}`);
    }
    const offered = featureBit(VIRTIO_NET_F_XDP_OFFLOAD);
    if (req.role === "cli") return { protoVersion: VXO_PROTO_VERSION, features: 0n, caps: cfg.caps };
    const s = st.openSession(req.name, req.capBpf, Math.max(1, Math.min(req.nics, 8)), cfg.caps);
    ch.owner = s;
    cfg.log("session_open", { guest: s.guest, session: s.id, taps: s.taps.map((t) => t.name), capBpf: s.capBpf });
    ch.onClose(() => {
      const close = () => {
        const n = st.resetSession(s, true);
        cfg.log("session_close", { guest: s.guest, session: s.id, freedMaps: n.maps, freedProgs: n.progs });
      };
      // The taps' datapaths stop first: their threads run the session's programs and reach its maps.
      const dps = cfg.datapaths;
      if (dps === undefined || !s.taps.some((t) => dps.has(t))) close();
      else void Promise.all(s.taps.map((t) => dps.stop(t))).finally(close);
    });
    return { protoVersion: VXO_PROTO_VERSION, features: BigInt(req.features) & offered, caps: cfg.caps };
  });

  ch.handle(MSG.HOST_MAP_CREATE, (req) => {
    const s = session(ch);
    const tap = tapOf(s, req.tap);
    needCapBpf(s, `create map ${req.name}`);
    const r = checkMapCaps(req.mapType, s.caps);
    if (r !== null) throw new KernelError(r.errno, `Cannot create map ${req.name}: ${r.message}`);
    const withBtf = req.btf !== undefined && req.btf.length > 0 && ((req.btfKeyTypeId ?? 0) !== 0 || (req.btfValueTypeId ?? 0) !== 0);
    const btf = withBtf ? guestBtf(st, s, req.btf!, `create map ${req.name}`) : null;
    const m = st.kernel.mapCreate({
      mapType: req.mapType, keySize: req.keySize, valueSize: req.valueSize, maxEntries: req.maxEntries,
      mapFlags: req.mapFlags, name: req.name, mapIfindex: tap.ifindex, // bound to the tap (map_ifindex)
      ...(btf === null ? {} : { btfFd: btf.id, btfKeyTypeId: req.btfKeyTypeId ?? 0, btfValueTypeId: req.btfValueTypeId ?? 0 }),
    });
    if (btf !== null) st.kernel.btfPut(btf.id); // the map holds its own reference
    if (typeof m === "number") check(m, `create map ${req.name}`);
    const id = (m as { id: number }).id;
    st.addMap(s, tap, id);
    cfg.log("map_create", { guest: s.guest, id, name: req.name, tap: tap.name });
    return { id };
  });

  ch.handle(MSG.HOST_MAP_FREE, (req) => {
    const s = session(ch);
    mapOf(st, s, req.id);
    st.putMap(req.id);
    return {};
  });

  ch.handle(MSG.HOST_MAP_LOOKUP, (req) => {
    const m = mapOf(st, session(ch), req.id);
    if (req.key.length !== m.keySize) throw new KernelError(EINVAL, `Cannot look up: key has ${req.key.length} bytes, map key_size ${m.keySize}`);
    const value = new Uint8Array(m.userValueSize);
    check(m.sysLookup(req.key, value), "look up element");
    return { value };
  });

  ch.handle(MSG.HOST_MAP_UPDATE, async (req) => {
    const s = session(ch);
    const m = mapOf(st, s, req.id);
    if (req.key.length !== m.keySize || req.value.length !== m.userValueSize) {
      throw new KernelError(EINVAL, `Cannot update: key/value of ${req.key.length}/${req.value.length} bytes, map has ${m.keySize}/${m.userValueSize}`);
    }
    if (m instanceof ProgArrayMap) return progArrayUpdate(st, s, cfg, m, req.key, req.value, req.flags);
    check(m.sysUpdate(req.key, req.value, req.flags), "update element");
    return {};
  });

  ch.handle(MSG.HOST_MAP_DELETE, async (req) => {
    const s = session(ch);
    const m = mapOf(st, s, req.id);
    if (req.key.length !== m.keySize) throw new KernelError(EINVAL, `Cannot delete: key has ${req.key.length} bytes, map key_size ${m.keySize}`);
    if (m instanceof ProgArrayMap) return progArrayUpdate(st, s, cfg, m, req.key, null, 0);
    check(m.sysDelete(req.key), "delete element");
    return {};
  });

  ch.handle(MSG.HOST_MAP_GET_NEXT, (req) => {
    const m = mapOf(st, session(ch), req.id);
    if (req.hasKey && req.key.length !== m.keySize) throw new KernelError(EINVAL, `Cannot get next key: key has ${req.key.length} bytes, map key_size ${m.keySize}`);
    const next = new Uint8Array(m.keySize);
    check(m.sysGetNextKey(req.hasKey ? req.key : null, next), "get next key");
    return { key: next };
  });

  ch.handle(MSG.HOST_MAP_BATCH, (req) => mapBatch(mapOf(st, session(ch), req.id), req));

  ch.handle(MSG.HOST_PROG_LOAD, (req) => progLoad(st, session(ch), req, cfg));

  ch.handle(MSG.HOST_PROG_ATTACH, (req) => {
    const s = session(ch);
    const tap = tapOf(s, req.tap);
    const pi = st.ownedProg(s, req.id);
    if (pi === undefined) throw new KernelError(EBADF, `Cannot attach program ${req.id}: ${strerror(EBADF)}: not a program of this device`);
    if (pi.tap !== tap) throw new KernelError(EINVAL, "Program bound to different device");
    if (req.expectedId !== 0 && st.ownedProg(s, req.expectedId) === undefined) {
      throw new KernelError(EBADF, `Cannot attach: expected program ${req.expectedId}: ${strerror(EBADF)}`);
    }
    tap.checkAttach(req.id, req.flags, req.expectedId);
    return attach(st, cfg, s, tap, req.id);
  });

  ch.handle(MSG.HOST_PROG_DETACH, async (req) => {
    const s = session(ch);
    const tap = tapOf(s, req.tap);
    // The datapath lets go of the program before the slot's reference goes.
    await cfg.datapaths?.attach(tap, null);
    st.setTapProg(tap, 0);
    cfg.log("xdp_detach", { guest: s.guest, tap: tap.name });
    return {};
  });

  ch.handle(MSG.HOST_PROG_FREE, (req) => {
    const s = session(ch);
    if (st.ownedProg(s, req.id) === undefined) throw new KernelError(EBADF, `Cannot free program ${req.id}: ${strerror(EBADF)}`);
    st.putProg(req.id);
    return {};
  });

  ch.handle(MSG.HOST_RESET, async () => {
    const s = session(ch);
    // A reset device's taps lose their datapaths (restarted at the next attach or traffic).
    const dps = cfg.datapaths;
    if (dps !== undefined) await Promise.all(s.taps.map((t) => dps.stop(t)));
    const n = st.resetSession(s, false);
    cfg.log("session_reset", { guest: s.guest, freedMaps: n.maps, freedProgs: n.progs });
    return n;
  });

  ch.handle(MSG.HOST_SHOW, () => ({ json: JSON.stringify(hostShowJson(st)) }));

  ch.handle(MSG.HOST_PKTGEN, async (req) => {
    const dps = needDatapaths(cfg);
    if (req.dev !== PKTGEN_DEV) throw new KernelError(ENODEV, `Cannot find device "${req.dev}"`);
    if (req.count === 0) throw new KernelError(EINVAL, "pktgen: count must be at least 1");
    const tap = findTap(st.taps, req.tap);
    cfg.log("pktgen_start", { tap: tap.name, count: req.count, size: req.size, case: req.case, ratePps: req.ratePps, flows: req.flows });
    const r = await dps.pktgen(tap, {
      count: req.count, size: req.size, ratePps: req.ratePps, flows: req.flows, case: req.case,
      pcap: req.pcap.length === 0 ? null : req.pcap, warmup: req.warmup ?? 0,
    });
    cfg.log("pktgen_done", { tap: tap.name, sent: r.fates.sent, usec: r.usec, xdpMpps: r.xdpMpps });
    return { json: JSON.stringify(r) };
  });

  ch.handle(MSG.HOST_VHOST_SET_BACKEND, async (req) => {
    const s = session(ch);
    const tap = tapOf(s, req.tap);
    const path = await needDatapaths(cfg).vhostBackend(tap, req.memSize);
    cfg.log("vhost_backend", { guest: s.guest, tap: tap.name, path });
    return { path };
  });

  ch.handle(MSG.HOST_STATS, async () => ({ json: JSON.stringify(await needDatapaths(cfg).stats(st.taps)) }));

  // Captures started on this connection end with it.
  const captures = new Set<number>();
  ch.onClose(() => {
    for (const id of captures) cfg.datapaths?.captureStop(id);
  });
  ch.handle(MSG.HOST_CAPTURE_START, async (req) => {
    const dps = needDatapaths(cfg);
    const tap = findTap(st.taps, req.tap);
    if (req.count === 0) throw new KernelError(EINVAL, "capture: count must be at least 1");
    const id = await dps.captureStart(tap, req.point, req.count, req.timeoutMs === 0 ? 0x7fffffff : req.timeoutMs);
    captures.add(id);
    cfg.log("capture_start", { tap: tap.name, point: req.point, count: req.count, id });
    return { id, tap: tap.name };
  });
  ch.handle(MSG.HOST_CAPTURE_WAIT, async (req) => {
    const r = await needDatapaths(cfg).captureWait(req.id);
    captures.delete(req.id);
    return r;
  });
}

/**
 * BPF_MAP_UPDATE_ELEM (value: a host program id, null: BPF_MAP_DELETE_ELEM) on an offloaded prog
 * array. The program must be one of this guest's (EBADF otherwise, as for an fd it does not hold);
 * the map checks it is bound to the same tap and of the owner's type (EINVAL). The tap's vhost
 * thread gets the program before the slot names it, and the program the slot held stays alive
 * until the thread has passed a point between two handler runs (the kernel's RCU grace period).
 */
async function progArrayUpdate(
  st: OffloadState, s: HostSession, cfg: HostConfig, m: ProgArrayMap, key: Uint8Array, value: Uint8Array | null, flags: number,
): Promise<Record<string, never>> {
  const tap = st.mapInfo.get(m.id)!.tap;
  const k = st.kernel;
  let prog: BpfProg | undefined;
  if (value !== null) {
    const id = new DataView(value.buffer, value.byteOffset, 4).getUint32(0, true);
    prog = st.ownedProg(s, id) === undefined ? undefined : k.progs.get(id);
    if (prog === undefined) throw new KernelError(EBADF, `Cannot update prog array ${m.id}: program ${id}: ${strerror(EBADF)}: not a program of this device`);
    if (!m.progCompatible(prog)) {
      const why = prog.ifindex !== m.mapIfindex ? "offload device mismatch between prog and prog array" : "program type differs from the prog array's owner";
      throw new KernelError(EINVAL, `Cannot update prog array ${m.id} with program ${id}: ${strerror(EINVAL)}: ${why}`);
    }
    await cfg.datapaths?.addProgs(tap, [prog]);
    if (st.ownedProg(s, id) === undefined) throw new KernelError(EBADF, `Cannot update prog array ${m.id}: program ${id} was freed meanwhile`);
  }
  const oldId = key.length === 4 ? m.progIdAt(new DataView(key.buffer, key.byteOffset, 4).getUint32(0, true)) : 0;
  const old = oldId === 0 ? undefined : k.progs.get(oldId);
  if (old !== undefined) k.progGet(old); // held through the grace period
  try {
    check(value === null ? m.sysDelete(key) : m.sysUpdate(key, value, flags), value === null ? "delete element" : "update element");
    if (old !== undefined) await cfg.datapaths?.addProgs(tap, []);
  } finally {
    if (old !== undefined) k.progPut(old);
  }
  cfg.log(value === null ? "prog_array_delete" : "prog_array_update", { guest: s.guest, map: m.id, prog: prog?.id ?? 0, old: oldId });
  return {};
}

const NO_BYTES = new Uint8Array(0);

type MapBatchReq = {
  cmd: number; hasInBatch: boolean; inBatch: Uint8Array; keys: Uint8Array; values: Uint8Array; count: number; elemFlags: number; flags: number;
};

/**
 * HOST_MAP_BATCH: bpf_map_do_batch() on the map with buffers of the request's count. The
 * answer carries the op's errno beside what the kernel leaves in bpf_attr: the count, out_batch
 * when the op wrote it, and the keys and values a lookup copied (none for an errno before any).
 */
function mapBatch(m: BpfMap, req: MapBatchReq) {
  const ks = m.keySize, vs = m.userValueSize;
  const lookup = req.cmd === BPF_MAP_LOOKUP_BATCH || req.cmd === BPF_MAP_LOOKUP_AND_DELETE_BATCH;
  if (lookup && req.count * (ks + vs) > MAX_BATCH_BYTES) {
    throw new KernelError(E2BIG, `Cannot run a batch of ${req.count} elements: ${req.count * (ks + vs)} bytes of keys and values, the device carries at most ${MAX_BATCH_BYTES}`);
  }
  const b: BpfMapBatch = {
    inBatch: req.hasInBatch ? req.inBatch : null,
    outBatch: new Uint8Array(Math.max(4, ks)),
    keys: lookup ? new Uint8Array(req.count * ks) : req.keys,
    values: lookup ? new Uint8Array(req.count * vs) : req.values,
    count: req.count, elemFlags: req.elemFlags, flags: req.flags,
  };
  const rc = mapDoBatch(req.cmd, m, b);
  // What a lookup copied: its count with 0, the end of a walk (ENOENT) or a bucket that did not fit (ENOSPC).
  const copied = lookup && (rc === 0 || rc === -ENOENT || rc === -ENOSPC) ? Math.min(b.count, req.count) : 0;
  return {
    errno: rc === 0 ? 0 : -rc, count: b.count, outBatch: b.outWritten === true ? b.outBatch : NO_BYTES,
    keys: copied === 0 ? NO_BYTES : b.keys.subarray(0, copied * ks), values: copied === 0 ? NO_BYTES : b.values.subarray(0, copied * vs),
  };
}

function needDatapaths(cfg: HostConfig): TapDatapaths {
  if (cfg.datapaths === undefined) throw new KernelError(EOPNOTSUPP, "this host runs no datapath");
  return cfg.datapaths;
}

/** HOST_PROG_ATTACH after its checks: the tap's datapath runs the program, then the slot holds it. */
async function attach(st: OffloadState, cfg: HostConfig, s: HostSession, tap: Tap, id: number): Promise<Record<string, never>> {
  const prog = st.kernel.progs.get(id);
  if (cfg.datapaths !== undefined && prog !== undefined) {
    // Same slot again (a REPLACE with itself) needs nothing of the datapath.
    if (tap.progId !== id) await cfg.datapaths.attach(tap, prog);
  }
  if (st.ownedProg(s, id) === undefined) {
    // freed (session reset or closed) while the datapath took it: take it back out
    if (st.taps.includes(tap)) await cfg.datapaths?.attach(tap, null);
    else await cfg.datapaths?.stop(tap);
    throw new KernelError(EBADF, `Cannot attach program ${id}: ${strerror(EBADF)}: not a program of this device`);
  }
  st.setTapProg(tap, id);
  cfg.log("xdp_attach", { guest: s.guest, tap: tap.name, prog: id });
  return {};
}

type ProgLoadReq = {
  tap: number; name: string; license: string; insns: Uint8Array; btf?: Uint8Array; lineInfo?: Uint8Array; lineInfoRecSize?: number; lineInfoCnt?: number;
};

/**
 * Second pass on the host: capabilities, BPF_PROG_LOAD with owned maps only, device binding.
 * The verifier runs on a worker thread, one load per session at a time; the session's reset
 * or close cancels it (ECANCELED), so a guest that skipped its own first pass cannot hold the
 * host's control plane.
 */
async function progLoad(st: OffloadState, s: HostSession, req: ProgLoadReq, cfg: HostConfig): Promise<{ id: number }> {
  const signal = s.loadSignal;
  const tap = tapOf(s, req.tap);
  needCapBpf(s, `load program ${req.name}`);
  if (req.insns.length === 0 || req.insns.length % BPF_INSN_SZ !== 0) {
    throw new KernelError(EINVAL, `Cannot load program ${req.name}: ${req.insns.length} bytes is not a whole number of insns`);
  }
  const insns = BpfInsns.fromBytes(req.insns);
  const r = checkProgCaps(progNeeds(insns), s.caps, insns.len);
  if (r !== null) throw new KernelError(r.errno, `Cannot load program ${req.name}: ${r.message}`, { log: [r.message] });
  // The program's BTF with its line info (the host's log then carries the source lines).
  const btf = req.btf !== undefined && req.btf.length > 0 && (req.lineInfoCnt ?? 0) !== 0 ? guestBtf(st, s, req.btf, `load program ${req.name}`) : null;
  const btfAttr = btf === null ? {} : {
    progBtfFd: btf.id, lineInfo: req.lineInfo ?? new Uint8Array(0), lineInfoRecSize: req.lineInfoRecSize ?? 0, lineInfoCnt: req.lineInfoCnt ?? 0,
  };
  // Maps of other guests (or of nobody) do not resolve: the program sees EBADF as for a bad fd.
  let res: Awaited<ReturnType<typeof st.kernel.progLoadAsync>>;
  try {
    res = await s.serializeLoad(async () => {
      const t0 = Date.now();
      cfg.log("prog_verify", { guest: s.guest, name: req.name, tap: tap.name, insns: insns.len });
      const r = await st.kernel.progLoadAsync({
        progType: BPF_PROG_TYPE_XDP, insns, license: req.license, name: req.name, progIfindex: tap.ifindex, privileged: true,
        mapFd: (id) => (st.ownedMap(s, id) === undefined ? undefined : st.kernel.maps.get(id)), signal, ...btfAttr,
      });
      cfg.log("prog_verified", { guest: s.guest, name: req.name, errno: r.errno, ms: Date.now() - t0 });
      return r;
    });
  } finally {
    if (btf !== null) st.kernel.btfPut(btf.id); // the program holds its own reference
  }
  if (res.prog === null) {
    throw new KernelError(res.errno, `Cannot load program ${req.name} on the host: ${res.message}`, { log: res.log });
  }
  const prog = res.prog;
  for (const m of prog.usedMaps) {
    if (st.mapInfo.get(m.id)?.tap !== tap) {
      st.kernel.progFree(prog.id);
      const msg = "offload device mismatch between prog and map";
      throw new KernelError(EINVAL, `Cannot load program ${req.name} on the host: ${msg}`, { log: [msg] });
    }
  }
  st.addProg(s, tap, prog.id, prog.usedMaps.map((m) => m.id));
  cfg.log("prog_load", { guest: s.guest, id: prog.id, name: prog.name, tap: tap.name, insns: insns.len });
  return { id: prog.id };
}
