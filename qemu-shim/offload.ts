// The XDP-offload control class (VIRTIO_NET_CTRL_BPF) of the device model:
// checks each command, applies the DoS quotas the RFC asked for (maps, map
// bytes, insns, command rate), remaps guest handles to host objects (an RFC
// point for improvement: the guest never learns a host fd) and relays to the
// host. The QEMU counterpart is the RFC's offload command handling in
// hw/net/virtio-net.c (virtio_net_handle_ctrl() for its class).
import type { Channel, Reply } from "../shared/proto/channel.ts";
import { CTRL_BPF_CMDS, MSG, type CtrlBpfCmd } from "../shared/proto/messages.ts";
import { VIRTIO_NET_CTRL_BPF_MAP_CREATE, VIRTIO_NET_CTRL_BPF_MAP_DELETE, VIRTIO_NET_CTRL_BPF_MAP_FREE, VIRTIO_NET_CTRL_BPF_MAP_GET_NEXT, VIRTIO_NET_CTRL_BPF_MAP_LOOKUP, VIRTIO_NET_CTRL_BPF_MAP_UPDATE, VIRTIO_NET_CTRL_BPF_PROG_ATTACH, VIRTIO_NET_CTRL_BPF_PROG_DETACH, VIRTIO_NET_CTRL_BPF_PROG_FREE, VIRTIO_NET_CTRL_BPF_PROG_LOAD, VIRTIO_NET_CTRL_BPF_RESET } from "../shared/virtio/virtio_net.ts";
import { validate, type Schema } from "../shared/proto/schema.ts";
import { BpfInsns, BPF_INSN_SZ } from "../shared/bpf/isa/insn.ts";
import { BPF_MAP_TYPE_ARRAY, BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_VALUE } from "../shared/bpf/isa/uapi.ts";
import { E2BIG, EAGAIN, EBADF, EINVAL, ENOSPC, ENOTCONN, EOPNOTSUPP, KernelError } from "../shared/errno.ts";
import type { MigrationState } from "./migration.ts";

export type FdRemap = "shim" | "guest";

export interface OffloadQuotas {
  maxMaps: number;
  maxMapBytes: number;
  maxInsns: number;
  /** Control commands per second (token bucket), 0 for no limit. */
  maxCmdsPerSec: number;
}

/** What a command returns inside the ack's result area. */
export type CtrlOutcome = { ok: true; data: unknown } | { ok: false; errno: number; message: string; log: string[] };

/** The reason QEMU-style `migrate` prints while objects are offloaded. */
export const OFFLOAD_BLOCKER =
  "virtio-net: XDP offload is active: programs and maps offloaded to the host kernel cannot be migrated";

/** Host-memory estimate of a map, as the quota charges it (values rounded to 8 bytes, hash element overhead). */
export function mapChargeBytes(mapType: number, keySize: number, valueSize: number, maxEntries: number): number {
  const v = Math.ceil(valueSize / 8) * 8;
  if (mapType === BPF_MAP_TYPE_ARRAY) return v * maxEntries;
  return (Math.ceil(keySize / 8) * 8 + v + 48) * maxEntries;
}

interface MapEntry {
  hostId: number;
  bytes: number;
}

const fail = (errno: number, message: string, log: string[] = []): CtrlOutcome => ({ ok: false, errno, message, log });

function fromReply<T>(r: Reply<T>, map: (b: T) => unknown): CtrlOutcome {
  return r.ok ? { ok: true, data: map(r.body) } : { ok: false, errno: r.errno, message: r.message, log: r.log };
}

/** Offload state of one virtio-net device (one guest NIC, tap 0 on the host). */
export class OffloadDevice {
  readonly remap: FdRemap;
  readonly quotas: OffloadQuotas;
  readonly migration: MigrationState;
  host: Channel | null;
  /** Guest handle -> host object (with --fd-remap guest, handle = host id). */
  readonly maps: Map<number, MapEntry>;
  readonly progs: Map<number, number>;
  mapBytes: number;
  attachedHandle: number;
  #nextHandle: number;
  /** Bumped by reset/host loss: replies to commands sent before it must not repopulate the tables. */
  #generation: number;
  #tokens: number;
  #tokensAtMs: number;

  constructor(remap: FdRemap, quotas: OffloadQuotas, migration: MigrationState) {
    this.remap = remap;
    this.quotas = quotas;
    this.migration = migration;
    this.host = null;
    this.maps = new Map();
    this.progs = new Map();
    this.mapBytes = 0;
    this.attachedHandle = 0;
    this.#nextHandle = 1;
    this.#generation = 0;
    this.#tokens = quotas.maxCmdsPerSec;
    this.#tokensAtMs = Date.now();
  }

  /** True while the device holds host objects (the migration blocker is up). */
  get isActive(): boolean {
    return this.maps.size > 0 || this.progs.size > 0;
  }

  #takeToken(): boolean {
    const r = this.quotas.maxCmdsPerSec;
    if (r <= 0) return true;
    const now = Date.now();
    this.#tokens = Math.min(r, this.#tokens + ((now - this.#tokensAtMs) * r) / 1000);
    this.#tokensAtMs = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  #updateBlocker(): void {
    if (!this.isActive) this.migration.delBlocker(OFFLOAD_BLOCKER);
  }

  /** Checks the command data and runs it. Never throws. */
  async command(cmd: number, data: unknown): Promise<CtrlOutcome> {
    const def = (CTRL_BPF_CMDS as Record<number, { name: string; req: Schema<unknown> } | undefined>)[cmd];
    if (def === undefined) return fail(EOPNOTSUPP, `Unknown VIRTIO_NET_CTRL_BPF command ${cmd}`);
    const bad = validate(def.req, data);
    if (bad !== null) return fail(EINVAL, `Cannot decode VIRTIO_NET_CTRL_BPF_${def.name}: ${bad.replace(/field /, "field data.")}`);
    if (!this.#takeToken()) {
      return fail(EAGAIN, `Cannot run VIRTIO_NET_CTRL_BPF_${def.name}: over the device's limit of ${this.quotas.maxCmdsPerSec} commands/s`);
    }
    const host = this.host;
    if (host === null || !host.isOpen) return fail(ENOTCONN, "Cannot reach the host: control channel is down");
    try {
      return await this.#run(host, cmd as CtrlBpfCmd, data as Record<string, unknown>);
    } catch (e) {
      if (e instanceof KernelError) return fail(e.errno, e.message, [...(e.log ?? [])]);
      throw e;
    }
  }

  #mapHandle(h: number): MapEntry {
    const m = this.remap === "shim" ? this.maps.get(h) : { hostId: h, bytes: 0 };
    if (m === undefined) throw new KernelError(EBADF, `fd ${h} is not pointing to valid bpf_map`);
    return m;
  }

  #progHost(h: number): number {
    if (this.remap === "guest") return h;
    const id = this.progs.get(h);
    if (id === undefined) throw new KernelError(EBADF, `Cannot use program handle ${h}: Bad file descriptor`);
    return id;
  }

  #newHandle(hostId: number): number {
    return this.remap === "guest" ? hostId : this.#nextHandle++;
  }

  async #run(host: Channel, cmd: CtrlBpfCmd, d: Record<string, unknown>): Promise<CtrlOutcome> {
    switch (cmd) {
      case VIRTIO_NET_CTRL_BPF_MAP_CREATE: return this.#mapCreate(host, d as never);
      case VIRTIO_NET_CTRL_BPF_MAP_FREE: {
        const h = d.handle as number;
        const m = this.#mapHandle(h);
        const r = await host.request(MSG.HOST_MAP_FREE, { id: m.hostId });
        if (r.ok) this.#dropMap(h);
        return fromReply(r, () => ({}));
      }
      case VIRTIO_NET_CTRL_BPF_MAP_LOOKUP: {
        const m = this.#mapHandle(d.handle as number);
        return fromReply(await host.request(MSG.HOST_MAP_LOOKUP, { id: m.hostId, key: d.key as Uint8Array }), (b) => b);
      }
      case VIRTIO_NET_CTRL_BPF_MAP_UPDATE: {
        const m = this.#mapHandle(d.handle as number);
        const req = { id: m.hostId, key: d.key as Uint8Array, value: d.value as Uint8Array, flags: d.flags as number };
        return fromReply(await host.request(MSG.HOST_MAP_UPDATE, req), () => ({}));
      }
      case VIRTIO_NET_CTRL_BPF_MAP_DELETE: {
        const m = this.#mapHandle(d.handle as number);
        return fromReply(await host.request(MSG.HOST_MAP_DELETE, { id: m.hostId, key: d.key as Uint8Array }), () => ({}));
      }
      case VIRTIO_NET_CTRL_BPF_MAP_GET_NEXT: {
        const m = this.#mapHandle(d.handle as number);
        const req = { id: m.hostId, key: d.key as Uint8Array, hasKey: d.hasKey as boolean };
        return fromReply(await host.request(MSG.HOST_MAP_GET_NEXT, req), (b) => b);
      }
      case VIRTIO_NET_CTRL_BPF_PROG_LOAD: return this.#progLoad(host, d as never);
      case VIRTIO_NET_CTRL_BPF_PROG_ATTACH: {
        const h = d.handle as number, exp = d.expectedHandle as number;
        const req = { tap: 0, id: this.#progHost(h), flags: d.flags as number, expectedId: exp === 0 ? 0 : this.#progHost(exp) };
        const r = await host.request(MSG.HOST_PROG_ATTACH, req);
        if (r.ok) this.attachedHandle = h;
        return fromReply(r, () => ({}));
      }
      case VIRTIO_NET_CTRL_BPF_PROG_DETACH: {
        const r = await host.request(MSG.HOST_PROG_DETACH, { tap: 0 });
        if (r.ok) this.attachedHandle = 0;
        return fromReply(r, () => ({}));
      }
      case VIRTIO_NET_CTRL_BPF_PROG_FREE: {
        const h = d.handle as number;
        const r = await host.request(MSG.HOST_PROG_FREE, { id: this.#progHost(h) });
        if (r.ok) {
          this.progs.delete(h);
          this.#updateBlocker();
        }
        return fromReply(r, () => ({}));
      }
      case VIRTIO_NET_CTRL_BPF_RESET: {
        await this.reset();
        return { ok: true, data: {} };
      }
    }
    return fail(EOPNOTSUPP, `Unknown VIRTIO_NET_CTRL_BPF command ${cmd}`);
  }

  #dropMap(h: number): void {
    const m = this.maps.get(h);
    if (m === undefined) return;
    this.mapBytes -= m.bytes;
    this.maps.delete(h);
    this.#updateBlocker();
  }

  async #mapCreate(
    host: Channel, d: { mapType: number; keySize: number; valueSize: number; maxEntries: number; mapFlags: number; name: string },
  ): Promise<CtrlOutcome> {
    const q = this.quotas;
    if (this.maps.size >= q.maxMaps) {
      return fail(ENOSPC, `Cannot create map ${d.name}: device quota of ${q.maxMaps} offloaded maps reached`);
    }
    const bytes = mapChargeBytes(d.mapType, d.keySize, d.valueSize, d.maxEntries);
    if (this.mapBytes + bytes > q.maxMapBytes) {
      return fail(ENOSPC, `Cannot create map ${d.name}: ${bytes} bytes would exceed the device quota of ${q.maxMapBytes} map bytes (${this.mapBytes} in use)`);
    }
    const blocked = this.migration.addBlocker(OFFLOAD_BLOCKER);
    if (blocked !== null) return fail(blocked.errno, `Cannot offload map ${d.name}: ${blocked.message}`);
    const gen = this.#generation;
    const r = await host.request(MSG.HOST_MAP_CREATE, { tap: 0, ...d });
    if (gen !== this.#generation) return fail(ENOTCONN, `Cannot create map ${d.name}: the device was reset meanwhile`);
    if (!r.ok) {
      this.#updateBlocker();
      return { ok: false, errno: r.errno, message: r.message, log: r.log };
    }
    const handle = this.#newHandle(r.body.id);
    this.maps.set(handle, { hostId: r.body.id, bytes });
    this.mapBytes += bytes;
    return { ok: true, data: { handle } };
  }

  async #progLoad(host: Channel, d: { name: string; license: string; insns: Uint8Array }): Promise<CtrlOutcome> {
    const n = d.insns.length / BPF_INSN_SZ;
    if (n > this.quotas.maxInsns) {
      return fail(E2BIG, `Cannot load program ${d.name}: ${Math.floor(n)} insns exceed the device limit of ${this.quotas.maxInsns}`);
    }
    let insns = d.insns;
    if (this.remap === "shim" && d.insns.length % BPF_INSN_SZ === 0) {
      // Map references carry guest handles: rewrite them to host ids (the RFC did this in the guest).
      const p = BpfInsns.fromBytes(d.insns);
      for (let i = 0; i + 1 < p.len; i++) {
        if (p.code[i] !== 0x18) continue;
        if (p.src[i] === BPF_PSEUDO_MAP_FD || p.src[i] === BPF_PSEUDO_MAP_VALUE) p.imm[i] = this.#mapHandle(p.imm[i]!).hostId;
        i++;
      }
      insns = p.toBytes();
    }
    const blocked = this.migration.addBlocker(OFFLOAD_BLOCKER);
    if (blocked !== null) return fail(blocked.errno, `Cannot offload program ${d.name}: ${blocked.message}`);
    const gen = this.#generation;
    const r = await host.request(MSG.HOST_PROG_LOAD, { tap: 0, name: d.name, license: d.license, insns });
    if (gen !== this.#generation) return fail(ENOTCONN, `Cannot load program ${d.name}: the device was reset meanwhile`);
    if (!r.ok) {
      this.#updateBlocker();
      return { ok: false, errno: r.errno, message: r.message, log: r.log };
    }
    const handle = this.#newHandle(r.body.id);
    this.progs.set(handle, r.body.id);
    return { ok: true, data: { handle } };
  }

  /** Frees every host object of this device (guest reset/exit); keeps the host session. */
  async reset(): Promise<void> {
    this.#generation++;
    this.maps.clear();
    this.progs.clear();
    this.mapBytes = 0;
    this.attachedHandle = 0;
    this.#nextHandle = 1;
    this.#updateBlocker();
    if (this.host !== null && this.host.isOpen) await this.host.request(MSG.HOST_RESET, {});
  }

  /** Host connection lost: the host freed everything; forget our tables. */
  hostLost(): void {
    this.#generation++;
    this.host = null;
    this.maps.clear();
    this.progs.clear();
    this.mapBytes = 0;
    this.attachedHandle = 0;
    this.#updateBlocker();
  }
}
