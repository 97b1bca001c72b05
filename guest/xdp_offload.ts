// XDP_FLAGS_HW_MODE attach from the guest: map offload first, then the first
// verification pass in the guest kernel, the RFC's setup() (helper allowlist,
// map reference replacement), PROG_LOAD over the control queue and the attach.
// Mirrors the RFC's setup() callback and XDP_SETUP_PROG_HW in virtio_net, and
// bpf_map_offload_map_alloc() in kernel/bpf/offload.c. Nothing stays half
// created: a failure at any step frees what the steps before it made.
import type { BpfObjectSpec, BpfProgSpec } from "../shared/bpf/libbpf/object.ts";
import type { BpfMapAttr } from "../shared/bpf/maps/map.ts";
import {
  BPF_MAP_TYPE_LRU_PERCPU_HASH, BPF_MAP_TYPE_PERCPU_ARRAY, BPF_MAP_TYPE_PERCPU_HASH, BPF_PROG_TYPE_XDP, MAP_TYPE_NAMES, XDP_FLAGS_HW_MODE,
} from "../shared/bpf/isa/uapi.ts";
import { VIRTIO_NET_CTRL_BPF_MAP_CREATE, VIRTIO_NET_CTRL_BPF_MAP_FREE, VIRTIO_NET_CTRL_BPF_MAP_UPDATE, VIRTIO_NET_CTRL_BPF_PROG_ATTACH, VIRTIO_NET_CTRL_BPF_PROG_DETACH, VIRTIO_NET_CTRL_BPF_PROG_FREE, VIRTIO_NET_CTRL_BPF_PROG_LOAD } from "../shared/virtio/virtio_net.ts";
import { OFFLOADABLE_MAP_TYPES, checkGuestAllowlist, checkMapCaps, checkProgCaps, progNeeds } from "../shared/bpf/offload/caps.ts";
import { EINVAL, EOPNOTSUPP, KernelError, errnoName, strerror } from "../shared/errno.ts";
import type { VirtioNetDriver } from "./virtio_net.ts";
import { VERIFY_TIMEOUT_MS } from "../shared/proto/channel.ts";
import { ExtackError, type GuestKernel, type XdpSlot } from "./netdev.ts";

const PERCPU_TYPES = [BPF_MAP_TYPE_PERCPU_ARRAY, BPF_MAP_TYPE_PERCPU_HASH, BPF_MAP_TYPE_LRU_PERCPU_HASH];

/** Why the generic offload layer refuses a map type, or null (bpf_map_offload_map_alloc(): EINVAL). */
export function mapOffloadRefusal(attr: BpfMapAttr): string | null {
  if (OFFLOADABLE_MAP_TYPES.includes(attr.mapType)) return null;
  const t = MAP_TYPE_NAMES[attr.mapType] ?? `type ${attr.mapType}`;
  if (PERCPU_TYPES.includes(attr.mapType)) {
    return `${t} maps cannot be offloaded: a per-CPU value of a guest CPU has no counterpart on the host`;
  }
  return `${t} maps cannot be offloaded: only array and hash maps can`;
}

/** Error for the user, with the verifier log when there is one. */
function err(errno: number, message: string, log: readonly string[] = []): KernelError {
  return new KernelError(errno, message, { log });
}

async function freeDeviceMaps(drv: VirtioNetDriver, handles: readonly number[]): Promise<void> {
  for (const handle of handles) await drv.bpfCmd(VIRTIO_NET_CTRL_BPF_MAP_FREE, { handle });
}

/** Checks everything that can be checked before creating anything. Throws KernelError. */
function precheck(drv: VirtioNetDriver, spec: BpfObjectSpec, ps: BpfProgSpec): void {
  if (!drv.hasXdpOffload) {
    throw err(EOPNOTSUPP, "virtio_net: XDP offload is not supported by the device (VIRTIO_NET_F_XDP_OFFLOAD not negotiated)");
  }
  if (ps.progType !== BPF_PROG_TYPE_XDP) throw err(EINVAL, `program ${ps.name} is not an XDP program`);
  for (const ms of spec.maps) {
    const why = mapOffloadRefusal(ms.attr);
    if (why !== null) throw err(EINVAL, `Cannot offload map ${ms.name}: ${why}`);
    const c = checkMapCaps(ms.attr.mapType, drv.caps);
    if (c !== null) throw err(c.errno, `Cannot offload map ${ms.name}: ${c.message}`);
  }
  const needs = progNeeds(ps.insns);
  const a = checkGuestAllowlist(needs) ?? checkProgCaps(needs, drv.caps, ps.insns.len);
  if (a !== null) throw err(a.errno, `Cannot offload program ${ps.name}: ${a.message}`, [a.message]);
}

/**
 * Offloads program `ps` of `spec` to the device and attaches it in HW mode with `flags`.
 * Returns the guest program id. Throws KernelError (errno, message, verifier log).
 */
export async function xdpOffloadAttach(
  k: GuestKernel, drv: VirtioNetDriver, spec: BpfObjectSpec, ps: BpfProgSpec, flags: number, expectedProgId: number,
): Promise<number> {
  precheck(drv, spec, ps);
  k.eth0.checkAttach(-1, flags | XDP_FLAGS_HW_MODE, expectedProgId);
  // 1. Maps, always before the program (RFC "Map offload").
  const handles: number[] = [];
  const shadows: number[] = [];
  const undo = async () => {
    await freeDeviceMaps(drv, handles);
    for (const id of shadows) {
      k.bpf.mapFree(id);
      k.offloadedMaps.delete(id);
    }
  };
  for (const ms of spec.maps) {
    const at = ms.attr;
    const r = await drv.bpfCmd(VIRTIO_NET_CTRL_BPF_MAP_CREATE, {
      mapType: at.mapType, keySize: at.keySize, valueSize: at.valueSize, maxEntries: at.maxEntries, mapFlags: at.mapFlags, name: at.name.slice(0, 15),
    });
    if (!r.ok) {
      await undo();
      throw err(r.errno, `libbpf: map '${ms.name}': failed to create: ${strerror(r.errno)}(-${r.errno}): ${r.message}`);
    }
    handles.push(r.data.handle);
    // The guest keeps a bpf_offloaded_map: same attributes, used by the verifier; data lives on the device.
    const shadow = k.bpf.mapCreate(ms.attr);
    if (typeof shadow === "number") {
      await undo();
      throw err(-shadow, `libbpf: map '${ms.name}': failed to create: ${strerror(shadow)}(${shadow})`);
    }
    shadows.push(shadow.id);
    k.offloadedMaps.set(shadow.id, { handle: r.data.handle, map: shadow });
    if (ms.initData !== null) {
      const u = await drv.bpfCmd(VIRTIO_NET_CTRL_BPF_MAP_UPDATE, { handle: r.data.handle, key: new Uint8Array(4), value: ms.initData, flags: 0 });
      if (!u.ok) {
        await undo();
        throw err(u.errno, `libbpf: map '${ms.name}': failed to initialize: ${u.message}`);
      }
    }
  }
  // 2. First pass in the guest kernel, against the guest's view of the maps.
  // It runs on the verifier's worker thread: the guest keeps answering meanwhile, and a device reset cancels it.
  const insns = ps.insns.clone();
  for (const r of ps.mapRelocs) insns.imm[r.insnIdx] = shadows[r.mapIdx]!;
  k.log("prog_verify", { name: ps.name, insns: insns.len, pass: "guest" });
  const res = await k.bpf.progLoadAsync({
    progType: ps.progType, insns, license: spec.license, name: ps.name, subprogs: ps.subprogs, progIfindex: k.eth0.ifindex, privileged: true,
    signal: k.deviceSignal,
  });
  k.log("prog_verified", { name: ps.name, errno: res.errno, processedInsns: res.prog?.verifierStats?.processedInsns ?? null });
  if (res.prog === null) {
    await undo();
    throw err(res.errno, `libbpf: prog '${ps.name}': BPF program load failed: ${strerror(res.errno)}`, res.log);
  }
  const prog = res.prog;
  k.loadedAt.set(prog.id, new Date());
  // 3. setup(): map references carry device handles in the copy sent to the device.
  const sent = ps.insns.clone();
  for (const r of ps.mapRelocs) sent.imm[r.insnIdx] = handles[r.mapIdx]!;
  const load = await drv.bpfCmd(VIRTIO_NET_CTRL_BPF_PROG_LOAD, { name: ps.name.slice(0, 15), license: spec.license, insns: sent.toBytes() }, VERIFY_TIMEOUT_MS);
  if (!load.ok) {
    k.bpf.progFree(prog.id);
    k.loadedAt.delete(prog.id);
    await undo();
    throw err(load.errno, `libbpf: prog '${ps.name}': BPF program load failed on the device: ${load.message}`, load.log);
  }
  k.offloadedProgs.set(prog.id, load.data.handle);
  // 4. Attach (XDP_SETUP_PROG_HW); the device applies the same replace rules.
  const old = k.eth0.slots.hw;
  const expected = expectedProgId === 0 ? 0 : (k.offloadedProgs.get(expectedProgId) ?? 0);
  const att = await drv.bpfCmd(VIRTIO_NET_CTRL_BPF_PROG_ATTACH, { handle: load.data.handle, flags: flags & ~XDP_FLAGS_HW_MODE, expectedHandle: expected });
  if (!att.ok) {
    await drv.bpfCmd(VIRTIO_NET_CTRL_BPF_PROG_FREE, { handle: load.data.handle });
    k.bpf.progFree(prog.id);
    k.offloadedProgs.delete(prog.id);
    k.loadedAt.delete(prog.id);
    await undo();
    throw new ExtackError(att.errno, att.message);
  }
  k.eth0.slots.hw = { progId: prog.id, mapIds: shadows };
  if (old !== null) await releaseOffloaded(k, drv, old);
  return prog.id;
}

/** Drops the guest's references on an offloaded program and its maps (the device frees them). */
async function releaseOffloaded(k: GuestKernel, drv: VirtioNetDriver, slot: XdpSlot): Promise<void> {
  const h = k.offloadedProgs.get(slot.progId);
  if (h !== undefined) await drv.bpfCmd(VIRTIO_NET_CTRL_BPF_PROG_FREE, { handle: h });
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
