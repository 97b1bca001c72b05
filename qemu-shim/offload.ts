// The XDP-offload control class (VIRTIO_NET_CTRL_BPF) of the device model:
// decodes and dispatches each command, charges the quotas (quota.ts), maps
// guest handles to host objects (fd_remap.ts), keeps the migration blocker up
// while the host holds objects (migration.ts) and relays to the host. The QEMU
// counterpart is the RFC's offload command handling in hw/net/virtio-net.c
// (virtio_net_handle_ctrl() for its class).
import { VERIFY_TIMEOUT_MS, type Channel, type Reply } from "../shared/proto/channel.ts";
import { CTRL_BPF_CMDS, MSG, type CtrlBpfCmd } from "../shared/proto/messages.ts";
import {
  VIRTIO_NET_CTRL_BPF_MAP_DELETE_BATCH, VIRTIO_NET_CTRL_BPF_MAP_LOOKUP_AND_DELETE_BATCH, VIRTIO_NET_CTRL_BPF_MAP_LOOKUP_BATCH,
  VIRTIO_NET_CTRL_BPF_MAP_UPDATE_BATCH,
} from "../shared/virtio/virtio_net.ts";
import {
  BPF_MAP_DELETE_BATCH, BPF_MAP_LOOKUP_AND_DELETE_BATCH, BPF_MAP_LOOKUP_BATCH, BPF_MAP_UPDATE_BATCH,
} from "../shared/bpf/isa/uapi.ts";
import { VIRTIO_NET_CTRL_BPF_MAP_CREATE, VIRTIO_NET_CTRL_BPF_MAP_DELETE, VIRTIO_NET_CTRL_BPF_MAP_FREE, VIRTIO_NET_CTRL_BPF_MAP_GET_NEXT, VIRTIO_NET_CTRL_BPF_MAP_LOOKUP, VIRTIO_NET_CTRL_BPF_MAP_UPDATE, VIRTIO_NET_CTRL_BPF_PROG_ATTACH, VIRTIO_NET_CTRL_BPF_PROG_DETACH, VIRTIO_NET_CTRL_BPF_PROG_FREE, VIRTIO_NET_CTRL_BPF_PROG_LOAD, VIRTIO_NET_CTRL_BPF_RESET } from "../shared/virtio/virtio_net.ts";
import { validate, type Schema } from "../shared/proto/schema.ts";
import { BPF_INSN_SZ } from "../shared/bpf/isa/insn.ts";
import { E2BIG, EAGAIN, EINVAL, ENOSPC, ENOTCONN, EOPNOTSUPP, KernelError, strerror } from "../shared/errno.ts";
import type { MigrationState } from "./migration.ts";
import { FdTable, type FdRemap } from "./fd_remap.ts";
import { CmdRateLimit, mapChargeBytes, type OffloadQuotas } from "./quota.ts";

/**
 * What a command returns inside the ack's result area. A failed batch command still
 * carries its data (the kernel fills bpf_attr.batch before it returns the errno).
 */
export type CtrlOutcome = { ok: true; data: unknown } | { ok: false; errno: number; message: string; log: string[]; data?: unknown };

/** VIRTIO_NET_CTRL_BPF_MAP_*_BATCH -> the bpf_cmd the host runs. */
const BATCH_CMDS: Readonly<Record<number, number>> = {
  [VIRTIO_NET_CTRL_BPF_MAP_LOOKUP_BATCH]: BPF_MAP_LOOKUP_BATCH,
  [VIRTIO_NET_CTRL_BPF_MAP_LOOKUP_AND_DELETE_BATCH]: BPF_MAP_LOOKUP_AND_DELETE_BATCH,
  [VIRTIO_NET_CTRL_BPF_MAP_UPDATE_BATCH]: BPF_MAP_UPDATE_BATCH,
  [VIRTIO_NET_CTRL_BPF_MAP_DELETE_BATCH]: BPF_MAP_DELETE_BATCH,
};
const NO_BYTES = new Uint8Array(0);

/** The reason QEMU-style `migrate` prints while objects are offloaded. */
export const OFFLOAD_BLOCKER =
  "virtio-net: XDP offload is active: programs and maps offloaded to the host kernel cannot be migrated";

const fail = (errno: number, message: string, log: string[] = []): CtrlOutcome => ({ ok: false, errno, message, log });

function fromReply<T>(r: Reply<T>, map: (b: T) => unknown): CtrlOutcome {
  return r.ok ? { ok: true, data: map(r.body) } : { ok: false, errno: r.errno, message: r.message, log: r.log };
}

/** Offload state of one virtio-net device (one guest NIC, tap 0 on the host). */
export class OffloadDevice {
  readonly quotas: OffloadQuotas;
  readonly migration: MigrationState;
  host: Channel | null;
  readonly fds: FdTable;
  mapBytes: number;
  attachedHandle: number;
  /** Bumped by reset/host loss: replies to commands sent before it must not repopulate the tables. */
  #generation: number;
  readonly #rate: CmdRateLimit;

  constructor(remap: FdRemap, quotas: OffloadQuotas, migration: MigrationState) {
    this.quotas = quotas;
    this.migration = migration;
    this.host = null;
    this.fds = new FdTable(remap);
    this.mapBytes = 0;
    this.attachedHandle = 0;
    this.#generation = 0;
    this.#rate = new CmdRateLimit(quotas.maxCmdsPerSec);
  }

  get remap(): FdRemap {
    return this.fds.mode;
  }

  /** True while the device holds host objects (the migration blocker is up). */
  get isActive(): boolean {
    return this.fds.maps.size > 0 || this.fds.progs.size > 0;
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
    if (!this.#rate.take()) {
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

  async #run(host: Channel, cmd: CtrlBpfCmd, d: Record<string, unknown>): Promise<CtrlOutcome> {
    switch (cmd) {
      case VIRTIO_NET_CTRL_BPF_MAP_CREATE: return this.#mapCreate(host, d as never);
      case VIRTIO_NET_CTRL_BPF_MAP_FREE: {
        const h = d.handle as number;
        const m = this.fds.map(h);
        const r = await host.request(MSG.HOST_MAP_FREE, { id: m.hostId });
        if (r.ok) this.#dropMap(h);
        return fromReply(r, () => ({}));
      }
      case VIRTIO_NET_CTRL_BPF_MAP_LOOKUP: {
        const m = this.fds.map(d.handle as number);
        const r = await host.request(MSG.HOST_MAP_LOOKUP, { id: m.hostId, key: d.key as Uint8Array });
        return fromReply(r, (b) => ({ value: this.fds.valueToGuest(m, b.value) }));
      }
      case VIRTIO_NET_CTRL_BPF_MAP_UPDATE: {
        const m = this.fds.map(d.handle as number);
        // A prog array's value is a program handle: the host takes its host id.
        const req = { id: m.hostId, key: d.key as Uint8Array, value: this.fds.valueToHost(m, d.value as Uint8Array), flags: d.flags as number };
        return fromReply(await host.request(MSG.HOST_MAP_UPDATE, req), () => ({}));
      }
      case VIRTIO_NET_CTRL_BPF_MAP_DELETE: {
        const m = this.fds.map(d.handle as number);
        return fromReply(await host.request(MSG.HOST_MAP_DELETE, { id: m.hostId, key: d.key as Uint8Array }), () => ({}));
      }
      case VIRTIO_NET_CTRL_BPF_MAP_GET_NEXT: {
        const m = this.fds.map(d.handle as number);
        const req = { id: m.hostId, key: d.key as Uint8Array, hasKey: d.hasKey as boolean };
        return fromReply(await host.request(MSG.HOST_MAP_GET_NEXT, req), (b) => b);
      }
      case VIRTIO_NET_CTRL_BPF_PROG_LOAD: return this.#progLoad(host, d as never);
      case VIRTIO_NET_CTRL_BPF_PROG_ATTACH: {
        const h = d.handle as number, exp = d.expectedHandle as number;
        const req = { tap: 0, id: this.fds.progHostId(h), flags: d.flags as number, expectedId: exp === 0 ? 0 : this.fds.progHostId(exp) };
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
        const r = await host.request(MSG.HOST_PROG_FREE, { id: this.fds.progHostId(h) });
        if (r.ok) {
          this.fds.progs.delete(h);
          this.#updateBlocker();
        }
        return fromReply(r, () => ({}));
      }
      case VIRTIO_NET_CTRL_BPF_RESET: {
        await this.reset();
        return { ok: true, data: {} };
      }
      case VIRTIO_NET_CTRL_BPF_MAP_LOOKUP_BATCH:
      case VIRTIO_NET_CTRL_BPF_MAP_LOOKUP_AND_DELETE_BATCH:
      case VIRTIO_NET_CTRL_BPF_MAP_UPDATE_BATCH:
      case VIRTIO_NET_CTRL_BPF_MAP_DELETE_BATCH: {
        const m = this.fds.map(d.handle as number);
        const req = {
          id: m.hostId, cmd: BATCH_CMDS[cmd]!, hasInBatch: (d.hasInBatch as boolean | undefined) ?? false,
          inBatch: (d.inBatch as Uint8Array | undefined) ?? NO_BYTES, keys: (d.keys as Uint8Array | undefined) ?? NO_BYTES,
          values: (d.values as Uint8Array | undefined) ?? NO_BYTES, count: d.count as number, elemFlags: d.elemFlags as number, flags: d.flags as number,
        };
        const r = await host.request(MSG.HOST_MAP_BATCH, req);
        if (!r.ok) return { ok: false, errno: r.errno, message: r.message, log: r.log };
        const { errno, ...data } = r.body;
        if (errno === 0) return { ok: true, data };
        return { ok: false, errno, message: `VIRTIO_NET_CTRL_BPF_${CTRL_BPF_CMDS[cmd].name}: ${strerror(-errno)}`, log: [], data };
      }
    }
    return fail(EOPNOTSUPP, `Unknown VIRTIO_NET_CTRL_BPF command ${cmd}`);
  }

  #dropMap(h: number): void {
    const m = this.fds.maps.get(h);
    if (m === undefined) return;
    this.mapBytes -= m.bytes;
    this.fds.maps.delete(h);
    this.#updateBlocker();
  }

  async #mapCreate(
    host: Channel, d: { mapType: number; keySize: number; valueSize: number; maxEntries: number; mapFlags: number; name: string },
  ): Promise<CtrlOutcome> {
    const q = this.quotas;
    if (this.fds.maps.size >= q.maxMaps) {
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
    const handle = this.fds.newHandle(r.body.id);
    this.fds.maps.set(handle, { hostId: r.body.id, bytes, mapType: d.mapType });
    this.mapBytes += bytes;
    return { ok: true, data: { handle } };
  }

  async #progLoad(host: Channel, d: {
    name: string; license: string; insns: Uint8Array; btf?: Uint8Array; lineInfo?: Uint8Array; lineInfoRecSize?: number; lineInfoCnt?: number;
  }): Promise<CtrlOutcome> {
    const n = d.insns.length / BPF_INSN_SZ;
    if (n > this.quotas.maxInsns) {
      return fail(E2BIG, `Cannot load program ${d.name}: ${Math.floor(n)} insns exceed the device limit of ${this.quotas.maxInsns}`);
    }
    // Map references carry guest handles: rewrite them to host ids (the RFC did this in the guest).
    const insns = this.fds.remapInsns(d.insns);
    const blocked = this.migration.addBlocker(OFFLOAD_BLOCKER);
    if (blocked !== null) return fail(blocked.errno, `Cannot offload program ${d.name}: ${blocked.message}`);
    const gen = this.#generation;
    // the program's BTF and line info go to the host as the guest gave them
    const btf = d.btf === undefined ? {} : { btf: d.btf, lineInfo: d.lineInfo, lineInfoRecSize: d.lineInfoRecSize, lineInfoCnt: d.lineInfoCnt };
    const r = await host.request(MSG.HOST_PROG_LOAD, { tap: 0, name: d.name, license: d.license, insns, ...btf }, VERIFY_TIMEOUT_MS);
    if (gen !== this.#generation) return fail(ENOTCONN, `Cannot load program ${d.name}: the device was reset meanwhile`);
    if (!r.ok) {
      this.#updateBlocker();
      return { ok: false, errno: r.errno, message: r.message, log: r.log };
    }
    const handle = this.fds.newHandle(r.body.id);
    this.fds.progs.set(handle, r.body.id);
    return { ok: true, data: { handle } };
  }

  /** Frees every host object of this device (guest reset/exit); keeps the host session. */
  async reset(): Promise<void> {
    this.#generation++;
    this.fds.clear();
    this.mapBytes = 0;
    this.attachedHandle = 0;
    this.#updateBlocker();
    if (this.host !== null && this.host.isOpen) await this.host.request(MSG.HOST_RESET, {});
  }

  /** Host connection lost: the host freed everything; forget our tables. */
  hostLost(): void {
    this.#generation++;
    this.host = null;
    this.fds.clear();
    this.mapBytes = 0;
    this.attachedHandle = 0;
    this.#updateBlocker();
  }
}
