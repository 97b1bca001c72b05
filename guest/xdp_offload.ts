// XDP_FLAGS_HW_MODE attach from the guest: map offload first, then for every
// program of the object the first verification pass in the guest kernel, the
// RFC's setup() (helper allowlist, map reference replacement) and PROG_LOAD
// over the control queue, then libbpf's static prog array slots, and the attach.
// Mirrors the RFC's setup() callback and XDP_SETUP_PROG_HW in virtio_net, and
// bpf_map_offload_map_alloc() in kernel/bpf/offload.c. Nothing stays half
// created: a failure at any step frees what the steps before it made. The
// object's BTF goes with its maps and programs (the RFC's "BTF/metadata to the
// host" item of its to-do list, done here): the guest loads it for its own view of the maps and its first
// passes, and the device gets the same bytes in MAP_CREATE and in the PROG_LOAD
// of every program sent (the host loads one BTF object per guest blob).
import type { BpfObjectSpec, BpfProgSpec } from "../shared/bpf/libbpf/object.ts";
import type { BpfMapAttr } from "../shared/bpf/maps/map.ts";
import type { BtfObject } from "../shared/bpf/syscall.ts";
import {
  BPF_MAP_TYPE_LRU_PERCPU_HASH, BPF_MAP_TYPE_PERCPU_ARRAY, BPF_MAP_TYPE_PERCPU_HASH, BPF_MAP_TYPE_PROG_ARRAY, BPF_PROG_TYPE_XDP, MAP_TYPE_NAMES, XDP_FLAGS_HW_MODE,
} from "../shared/bpf/isa/uapi.ts";
import { VIRTIO_NET_CTRL_BPF_MAP_CREATE, VIRTIO_NET_CTRL_BPF_MAP_FREE, VIRTIO_NET_CTRL_BPF_MAP_UPDATE, VIRTIO_NET_CTRL_BPF_PROG_ATTACH, VIRTIO_NET_CTRL_BPF_PROG_DETACH, VIRTIO_NET_CTRL_BPF_PROG_FREE, VIRTIO_NET_CTRL_BPF_PROG_LOAD } from "../shared/virtio/virtio_net.ts";
import { OFFLOADABLE_MAP_TYPES, checkGuestAllowlist, checkMapCaps, checkProgCaps, progNeeds } from "../shared/bpf/offload/caps.ts";
import { EINVAL, EOPNOTSUPP, KernelError, errnoName, strerror } from "../shared/errno.ts";
import type { VirtioNetDriver } from "./virtio_net.ts";
import { VERIFY_TIMEOUT_MS } from "../shared/proto/channel.ts";
import { ExtackError, type GuestKernel, type XdpSlot } from "./netdev.ts";
import { loadObjectBtf, progBtfAttr } from "../shared/bpf/libbpf/libbpf.ts";

const PERCPU_TYPES = [BPF_MAP_TYPE_PERCPU_ARRAY, BPF_MAP_TYPE_PERCPU_HASH, BPF_MAP_TYPE_LRU_PERCPU_HASH];

/** Why the generic offload layer refuses a map type, or null (bpf_map_offload_map_alloc(): EINVAL). */
export function mapOffloadRefusal(attr: BpfMapAttr): string | null {
  if (OFFLOADABLE_MAP_TYPES.includes(attr.mapType)) return null;
  const t = MAP_TYPE_NAMES[attr.mapType] ?? `type ${attr.mapType}`;
  if (PERCPU_TYPES.includes(attr.mapType)) {
    return `${t} maps cannot be offloaded: a per-CPU value of a guest CPU has no counterpart on the host`;
  }
  return `${t} maps cannot be offloaded: only array, hash and prog_array maps can`;
}

/** Error for the user, with the verifier log when there is one. */
function err(errno: number, message: string, log: readonly string[] = []): KernelError {
  return new KernelError(errno, message, { log });
}

async function freeDeviceMaps(drv: VirtioNetDriver, handles: readonly number[]): Promise<void> {
  for (const handle of handles) await drv.bpfCmd(VIRTIO_NET_CTRL_BPF_MAP_FREE, { handle });
}

/**
 * The programs that go to the device with `ps`, the attached one first: with a prog array in the
 * object, all of its programs (libbpf loads every program of an object, and a tail call may reach
 * any of them through the array, which takes only programs of its device); otherwise `ps` alone.
 */
function offloadedProgSpecs(spec: BpfObjectSpec, ps: BpfProgSpec): BpfProgSpec[] {
  if (!spec.maps.some((ms) => ms.attr.mapType === BPF_MAP_TYPE_PROG_ARRAY)) return [ps];
  return [ps, ...spec.progs.filter((q) => q !== ps)];
}

/** Checks everything that can be checked before creating anything. Throws KernelError. */
function precheck(drv: VirtioNetDriver, spec: BpfObjectSpec, progs: readonly BpfProgSpec[]): void {
  if (!drv.hasXdpOffload) {
    throw err(EOPNOTSUPP, "virtio_net: XDP offload is not supported by the device (VIRTIO_NET_F_XDP_OFFLOAD not negotiated)");
  }
  for (const q of progs) if (q.progType !== BPF_PROG_TYPE_XDP) throw err(EINVAL, `program ${q.name} is not an XDP program`);
  for (const ms of spec.maps) {
    const why = mapOffloadRefusal(ms.attr);
    if (why !== null) throw err(EINVAL, `Cannot offload map ${ms.name}: ${why}`);
    const c = checkMapCaps(ms.attr.mapType, drv.caps);
    if (c !== null) throw err(c.errno, `Cannot offload map ${ms.name}: ${c.message}`);
  }
  for (const q of progs) {
    const needs = progNeeds(q.insns);
    const a = checkGuestAllowlist(needs) ?? checkProgCaps(needs, drv.caps, q.insns.len);
    if (a !== null) throw err(a.errno, `Cannot offload program ${q.name}: ${a.message}`, [a.message]);
  }
}

/** What an offload in progress made, so that a failure frees all of it. */
interface Made {
  mapHandles: number[];
  shadows: number[];
  /** Guest program id -> device handle. */
  progs: Array<[number, number]>;
}

async function undoMade(k: GuestKernel, drv: VirtioNetDriver, made: Made): Promise<void> {
  for (const [id, handle] of made.progs) {
    if (handle !== 0) await drv.bpfCmd(VIRTIO_NET_CTRL_BPF_PROG_FREE, { handle });
    k.bpf.progFree(id);
    k.offloadedProgs.delete(id);
    k.loadedAt.delete(id);
  }
  await freeDeviceMaps(drv, made.mapHandles);
  for (const id of made.shadows) {
    k.bpf.mapFree(id);
    k.offloadedMaps.delete(id);
  }
}

/** Step 1: the object's maps on the device (RFC "Map offload"), each with a guest shadow bound to eth0. */
async function offloadMaps(k: GuestKernel, drv: VirtioNetDriver, spec: BpfObjectSpec, btf: BtfObject | null, made: Made): Promise<void> {
  for (const ms of spec.maps) {
    const at = ms.attr;
    const typed = btf !== null && ((at.btfKeyTypeId ?? 0) !== 0 || (at.btfValueTypeId ?? 0) !== 0);
    const r = await drv.bpfCmd(VIRTIO_NET_CTRL_BPF_MAP_CREATE, {
      mapType: at.mapType, keySize: at.keySize, valueSize: at.valueSize, maxEntries: at.maxEntries, mapFlags: at.mapFlags, name: at.name.slice(0, 15),
      ...(typed ? { btf: btf.data, btfKeyTypeId: at.btfKeyTypeId ?? 0, btfValueTypeId: at.btfValueTypeId ?? 0 } : {}),
    });
    if (!r.ok) throw err(r.errno, `libbpf: map '${ms.name}': failed to create: ${strerror(r.errno)}(-${r.errno}): ${r.message}`);
    made.mapHandles.push(r.data.handle);
    // The guest keeps a bpf_offloaded_map: same attributes, bound to eth0 (map_ifindex), used by the verifier; data lives on the device.
    const shadow = k.bpf.mapCreate({ ...ms.attr, mapIfindex: k.eth0.ifindex, ...(btf === null ? {} : { btfFd: btf.id }) });
    if (typeof shadow === "number") throw err(-shadow, `libbpf: map '${ms.name}': failed to create: ${strerror(shadow)}(${shadow})`);
    made.shadows.push(shadow.id);
    k.offloadedMaps.set(shadow.id, { handle: r.data.handle, map: shadow });
    if (ms.initData !== null) {
      const u = await drv.bpfCmd(VIRTIO_NET_CTRL_BPF_MAP_UPDATE, { handle: r.data.handle, key: new Uint8Array(4), value: ms.initData, flags: 0 });
      if (!u.ok) throw err(u.errno, `libbpf: map '${ms.name}': failed to initialize: ${u.message}`);
    }
    // libbpf freezes .rodata after filling it (bpf_map_freeze): the guest's syscalls may no longer write it
    if (ms.globalSection === ".rodata") shadow.frozen = true;
  }
}

/**
 * Steps 2-3 for one program: first pass in the guest kernel, setup(), PROG_LOAD on the device,
 * both with the object's BTF and the program's line info. Returns the guest id.
 */
async function offloadProg(
  k: GuestKernel, drv: VirtioNetDriver, spec: BpfObjectSpec, ps: BpfProgSpec, btf: BtfObject | null, made: Made,
): Promise<number> {
  // It runs on the verifier's worker thread: the guest keeps answering meanwhile, and a device reset cancels it.
  const insns = ps.insns.clone();
  for (const r of ps.mapRelocs) insns.imm[r.insnIdx] = made.shadows[r.mapIdx]!;
  k.log("prog_verify", { name: ps.name, insns: insns.len, pass: "guest" });
  const lines = progBtfAttr(btf, ps);
  const res = await k.bpf.progLoadAsync({
    progType: ps.progType, insns, license: spec.license, name: ps.name, subprogs: ps.subprogs, progIfindex: k.eth0.ifindex, privileged: true,
    signal: k.deviceSignal, ...lines,
  });
  k.log("prog_verified", { name: ps.name, errno: res.errno, processedInsns: res.prog?.verifierStats?.processedInsns ?? null });
  if (res.prog === null) throw err(res.errno, `libbpf: prog '${ps.name}': BPF program load failed: ${strerror(res.errno)}`, res.log);
  const prog = res.prog;
  made.progs.push([prog.id, 0]);
  k.loadedAt.set(prog.id, new Date());
  // setup(): map references carry device handles in the copy sent to the device.
  const sent = ps.insns.clone();
  for (const r of ps.mapRelocs) sent.imm[r.insnIdx] = made.mapHandles[r.mapIdx]!;
  const load = await drv.bpfCmd(VIRTIO_NET_CTRL_BPF_PROG_LOAD, {
    name: ps.name.slice(0, 15), license: spec.license, insns: sent.toBytes(),
    ...(btf !== null && lines.lineInfo !== undefined
      ? { btf: btf.data, lineInfo: lines.lineInfo, lineInfoRecSize: lines.lineInfoRecSize!, lineInfoCnt: lines.lineInfoCnt! } : {}),
  }, VERIFY_TIMEOUT_MS);
  if (!load.ok) throw err(load.errno, `libbpf: prog '${ps.name}': BPF program load failed on the device: ${load.message}`, load.log);
  made.progs[made.progs.length - 1]![1] = load.data.handle;
  k.offloadedProgs.set(prog.id, load.data.handle);
  return prog.id;
}

/** libbpf's static prog array slots (`__array(values, ...)` in ".maps"): device program handles as values. */
async function fillProgArrays(drv: VirtioNetDriver, spec: BpfObjectSpec, made: Made, byName: Map<string, number>): Promise<void> {
  for (let i = 0; i < spec.maps.length; i++) {
    const ms = spec.maps[i]!;
    for (const init of ms.initProgs) {
      const handle = byName.get(init.progName);
      if (handle === undefined) continue;
      const key = new Uint8Array(4), value = new Uint8Array(4);
      new DataView(key.buffer).setUint32(0, init.index, true);
      new DataView(value.buffer).setUint32(0, handle, true);
      const u = await drv.bpfCmd(VIRTIO_NET_CTRL_BPF_MAP_UPDATE, { handle: made.mapHandles[i]!, key, value, flags: 0 });
      if (!u.ok) throw err(u.errno, `libbpf: map '${ms.name}': failed to initialize slot [${init.index}] = ${init.progName}: ${u.message}`);
    }
  }
}

/**
 * Offloads the object of program `ps` to the device (its maps, then every program, each
 * verified in the guest and again on the host and bound to the device, then libbpf's static
 * prog array slots) and attaches `ps` in HW mode with `flags`. Returns the guest program id.
 * Throws KernelError (errno, message, verifier log); nothing stays half created.
 */
export async function xdpOffloadAttach(
  k: GuestKernel, drv: VirtioNetDriver, spec: BpfObjectSpec, ps: BpfProgSpec, flags: number, expectedProgId: number,
): Promise<number> {
  const specs = offloadedProgSpecs(spec, ps);
  precheck(drv, spec, specs);
  k.eth0.checkAttach(-1, flags | XDP_FLAGS_HW_MODE, expectedProgId);
  // 0. The object's BTF in the guest kernel (libbpf's obj->btf fd, closed when the offload is done).
  const btf = loadObjectBtf(k.bpf, spec);
  try {
    return await offloadWithBtf(k, drv, spec, specs, flags, expectedProgId, btf);
  } finally {
    if (btf !== null) k.bpf.btfPut(btf.id);
  }
}

async function offloadWithBtf(
  k: GuestKernel, drv: VirtioNetDriver, spec: BpfObjectSpec, specs: readonly BpfProgSpec[], flags: number, expectedProgId: number,
  btf: BtfObject | null,
): Promise<number> {
  const made: Made = { mapHandles: [], shadows: [], progs: [] };
  try {
    await offloadMaps(k, drv, spec, btf, made);
    const byName = new Map<string, number>();
    for (const q of specs) {
      const id = await offloadProg(k, drv, spec, q, btf, made);
      byName.set(q.name, k.offloadedProgs.get(id)!);
    }
    await fillProgArrays(drv, spec, made, byName);
  } catch (e) {
    await undoMade(k, drv, made);
    throw e;
  }
  const [progId, handle] = made.progs[0]!;
  // 4. Attach (XDP_SETUP_PROG_HW); the device applies the same replace rules.
  const old = k.eth0.slots.hw;
  const expected = expectedProgId === 0 ? 0 : (k.offloadedProgs.get(expectedProgId) ?? 0);
  const att = await drv.bpfCmd(VIRTIO_NET_CTRL_BPF_PROG_ATTACH, { handle, flags: flags & ~XDP_FLAGS_HW_MODE, expectedHandle: expected });
  if (!att.ok) {
    await undoMade(k, drv, made);
    throw new ExtackError(att.errno, att.message);
  }
  k.eth0.slots.hw = { progId, mapIds: made.shadows, peerProgIds: made.progs.slice(1).map(([id]) => id) };
  if (old !== null) await releaseOffloaded(k, drv, old);
  return progId;
}

/** Drops the guest's references on an offloaded program, its peers and its maps (the device frees them). */
async function releaseOffloaded(k: GuestKernel, drv: VirtioNetDriver, slot: XdpSlot): Promise<void> {
  for (const id of [slot.progId, ...(slot.peerProgIds ?? [])]) {
    const h = k.offloadedProgs.get(id);
    if (h !== undefined) await drv.bpfCmd(VIRTIO_NET_CTRL_BPF_PROG_FREE, { handle: h });
  }
  const mh: number[] = [];
  for (const id of slot.mapIds) {
    const m = k.offloadedMaps.get(id);
    if (m !== undefined) mh.push(m.handle);
  }
  await freeDeviceMaps(drv, mh);
  k.freeLocal(slot);
}

/** `xdpoffload off`: detaches and frees the offloaded program. Throws KernelError. */
export async function xdpOffloadDetach(k: GuestKernel, drv: VirtioNetDriver): Promise<void> {
  const slot = k.eth0.slots.hw;
  if (slot === null) return;
  const r = await drv.bpfCmd(VIRTIO_NET_CTRL_BPF_PROG_DETACH, {});
  if (!r.ok) throw err(r.errno, `Cannot detach offloaded program: ${r.message} (${errnoName(r.errno)})`);
  k.eth0.slots.hw = null;
  await releaseOffloaded(k, drv, slot);
}

/** The device was reset (or lost its host): every offloaded object is gone, loads in flight stop. */
export function offloadDeviceReset(k: GuestKernel): void {
  k.deviceReset();
  const slot = k.eth0.slots.hw;
  k.eth0.slots.hw = null;
  if (slot !== null) k.freeLocal(slot);
}
