// `bpftool prog show|dump xlated` and `bpftool map show|dump|lookup|update|
// delete|getnext` inside the guest (tools/bpf/bpftool/prog.c, map.c): plain and
// -j JSON output, "Error: ..." messages. Offloaded maps are answered by the
// device (bpf_map_offload_lookup_elem() and friends in kernel/bpf/offload.c).
import type { BpfMap } from "../shared/bpf/maps/map.ts";
import { BPF_ANY, BPF_EXIST, BPF_NOEXIST, MAP_TYPE_NAMES } from "../shared/bpf/isa/uapi.ts";
import { dumpXlated } from "../shared/bpf/isa/disasm.ts";
import { VIRTIO_NET_CTRL_BPF_MAP_DELETE, VIRTIO_NET_CTRL_BPF_MAP_GET_NEXT, VIRTIO_NET_CTRL_BPF_MAP_LOOKUP, VIRTIO_NET_CTRL_BPF_MAP_UPDATE } from "../shared/virtio/virtio_net.ts";
import { ENOENT, strerror } from "../shared/errno.ts";
import type { GuestKernel } from "./netdev.ts";
import type { VirtioNetDriver } from "./virtio_net.ts";
import type { ToolIo } from "./iproute.ts";

/** Result of a map op: 0 / -errno, plus bytes on success. */
type MapOp = { rc: number; bytes: Uint8Array | null };

/** BPF_MAP_*_ELEM on a guest map: local maps directly, offloaded maps through the device. */
export class GuestMapOps {
  readonly k: GuestKernel;
  readonly drv: VirtioNetDriver;
  constructor(k: GuestKernel, drv: VirtioNetDriver) {
    this.k = k;
    this.drv = drv;
  }

  async lookup(m: BpfMap, key: Uint8Array): Promise<MapOp> {
    const off = this.k.offloadedMaps.get(m.id);
    if (off === undefined) {
      const v = new Uint8Array(m.userValueSize);
      const rc = m.sysLookup(key, v);
      return { rc, bytes: rc === 0 ? v : null };
    }
    const r = await this.drv.bpfCmd(VIRTIO_NET_CTRL_BPF_MAP_LOOKUP, { handle: off.handle, key });
    return r.ok ? { rc: 0, bytes: r.data.value } : { rc: -r.errno, bytes: null };
  }

  async update(m: BpfMap, key: Uint8Array, value: Uint8Array, flags: number): Promise<number> {
    const off = this.k.offloadedMaps.get(m.id);
    if (off === undefined) return m.sysUpdate(key, value, flags);
    const r = await this.drv.bpfCmd(VIRTIO_NET_CTRL_BPF_MAP_UPDATE, { handle: off.handle, key, value, flags });
    return r.ok ? 0 : -r.errno;
  }

  async delete(m: BpfMap, key: Uint8Array): Promise<number> {
    const off = this.k.offloadedMaps.get(m.id);
    if (off === undefined) return m.sysDelete(key);
    const r = await this.drv.bpfCmd(VIRTIO_NET_CTRL_BPF_MAP_DELETE, { handle: off.handle, key });
    return r.ok ? 0 : -r.errno;
  }

  async getNext(m: BpfMap, key: Uint8Array | null): Promise<MapOp> {
    const off = this.k.offloadedMaps.get(m.id);
    if (off === undefined) {
      const n = new Uint8Array(m.keySize);
      const rc = m.sysGetNextKey(key, n);
      return { rc, bytes: rc === 0 ? n : null };
    }
    const r = await this.drv.bpfCmd(VIRTIO_NET_CTRL_BPF_MAP_GET_NEXT, { handle: off.handle, hasKey: key !== null, key: key ?? new Uint8Array(0) });
    return r.ok ? { rc: 0, bytes: r.data.key } : { rc: -r.errno, bytes: null };
  }
}

class ToolError extends Error {}

/** bpftool's loaded_at: strftime("%FT%T%z") in local time. */
function loadedAt(d: Date | undefined): string {
  const t = d ?? new Date(0);
  const p2 = (n: number) => String(n).padStart(2, "0");
  const off = -t.getTimezoneOffset();
  const tz = `${off >= 0 ? "+" : "-"}${p2(Math.floor(Math.abs(off) / 60))}${p2(Math.abs(off) % 60)}`;
  return `${t.getFullYear()}-${p2(t.getMonth() + 1)}-${p2(t.getDate())}T${p2(t.getHours())}:${p2(t.getMinutes())}:${p2(t.getSeconds())}${tz}`;
}

const hexb = (b: Uint8Array): string => [...b].map((x) => x.toString(16).padStart(2, "0")).join(" ");
const jsonBytes = (b: Uint8Array): string[] => [...b].map((x) => "0x" + x.toString(16).padStart(2, "0"));

/** Parses bpftool's byte list: "0 1 0x2", or "hex 00 01 02". Consumes from `a` at `i`. */
function parseBytes(a: string[], i: number, n: number, what: string): [Uint8Array, number] {
  const out = new Uint8Array(n);
  let base = 0;
  if (a[i] === "hex") {
    base = 16;
    i++;
  }
  for (let j = 0; j < n; j++, i++) {
    const t = a[i];
    if (t === undefined) throw new ToolError(`${what} expected ${n} bytes got ${j}`);
    const v = base === 16 ? parseInt(t, 16) : Number(t);
    if (!Number.isInteger(v) || v < 0 || v > 255) throw new ToolError(`can't parse ${what} byte '${t}'`);
    out[j] = v;
  }
  return [out, i];
}

function findMap(k: GuestKernel, a: string[], i: number): [BpfMap, number] {
  if (a[i] === "id") {
    const m = k.bpf.maps.get(Number(a[i + 1]));
    if (m === undefined) throw new ToolError(`get map by id (${a[i + 1]}): No such file or directory`);
    return [m, i + 2];
  }
  if (a[i] === "name") {
    const ms = [...k.bpf.maps.values()].filter((m) => m.name === a[i + 1]);
    if (ms.length === 0) throw new ToolError(`no map with name ${a[i + 1]} found`);
    if (ms.length > 1) throw new ToolError(`several maps match this handle`);
    return [ms[0]!, i + 2];
  }
  throw new ToolError(`expected 'id', 'name' or 'pinned', got: '${a[i] ?? ""}'?`);
}

function entryPlain(key: Uint8Array, value: Uint8Array, m: BpfMap): string {
  if (m.keySize > 16 || m.userValueSize > 16) return `key:\n${hexb(key)}\nvalue:\n${hexb(value)}`;
  return `key: ${hexb(key)}  value: ${hexb(value)}`;
}

/** Runs `bpftool ARGS`. Returns the exit status (255 on error, like bpftool's -1). */
export async function bpftoolCommand(k: GuestKernel, drv: VirtioNetDriver, argv: string[], io: ToolIo): Promise<number> {
  const a = [...argv];
  let json = false;
  while (a[0]?.startsWith("-")) {
    const o = a.shift()!;
    if (o === "-j" || o === "--json" || o === "-p" || o === "--pretty") json = true;
  }
  try {
    if (a[0] === "prog") return progCmd(k, a.slice(1), json, io);
    if (a[0] === "map") return await mapCmd(k, new GuestMapOps(k, drv), a.slice(1), json, io);
    throw new ToolError(`unknown object '${a[0] ?? ""}'`);
  } catch (e) {
    if (!(e instanceof ToolError)) throw e;
    if (json) io.out.push(JSON.stringify({ error: e.message }));
    else io.err.push(`Error: ${e.message}`);
    return 255;
  }
}

function progCmd(k: GuestKernel, a: string[], json: boolean, io: ToolIo): number {
  const verb = a[0] ?? "show";
  if (verb === "show" || verb === "list") {
    let progs = [...k.bpf.progs.values()];
    if (a[1] === "id") progs = progs.filter((p) => p.id === Number(a[2]));
    if (a[1] === "id" && progs.length === 0) throw new ToolError(`get by id (${a[2]}): No such file or directory`);
    const rows = progs.map((p) => {
      const dev = k.offloadedProgs.has(p.id) ? { ifindex: k.eth0.ifindex, ns_dev: 0, ns_inode: 0, ifname: k.eth0.name } : null;
      return { p, dev, memlock: Math.ceil((p.insns.len * 8) / 4096) * 4096 || 4096 };
    });
    if (json) {
      io.out.push(JSON.stringify(rows.map(({ p, dev, memlock }) => ({
        id: p.id, type: "xdp", name: p.name, tag: p.tag, gpl_compatible: p.gplCompatible, ...(dev !== null ? { dev } : {}),
        loaded_at: Math.floor((k.loadedAt.get(p.id)?.getTime() ?? 0) / 1000), uid: 0, bytes_xlated: p.insns.len * 8, jited: false, bytes_memlock: memlock, map_ids: p.usedMaps.map((m) => m.id),
      }))));
      return 0;
    }
    for (const { p, dev, memlock } of rows) {
      io.out.push(`${p.id}: xdp  name ${p.name}  tag ${p.tag}${dev !== null ? `  offloaded_to ${dev.ifname}` : ""}${p.gplCompatible ? "  gpl" : ""}`);
      io.out.push(`\tloaded_at ${loadedAt(k.loadedAt.get(p.id))}  uid 0`);
      const ids = p.usedMaps.map((m) => m.id);
      io.out.push(`\txlated ${p.insns.len * 8}B  not jited  memlock ${memlock}B${ids.length > 0 ? `  map_ids ${ids.join(",")}` : ""}`);
    }
    return 0;
  }
  if (verb === "dump") {
    if (a[1] !== "xlated") throw new ToolError(`expected 'xlated' or 'jited', got: '${a[1] ?? ""}'?`);
    if (a[2] !== "id") throw new ToolError(`expected 'id', 'tag', 'name' or 'pinned', got: '${a[2] ?? ""}'?`);
    const p = k.bpf.progs.get(Number(a[3]));
    if (p === undefined) throw new ToolError(`get by id (${a[3]}): No such file or directory`);
    const lines = dumpXlated(p.insns, { opcodes: a.includes("opcodes") });
    if (json) io.out.push(JSON.stringify(lines.map((l) => ({ disasm: l.replace(/^\s*\d+: /, "") }))));
    else io.out.push(...lines);
    return 0;
  }
  throw new ToolError(`unknown command '${verb}'`);
}

function mapJson(k: GuestKernel, m: BpfMap): Record<string, unknown> {
  const off = k.offloadedMaps.has(m.id);
  return {
    id: m.id, type: MAP_TYPE_NAMES[m.mapType] ?? String(m.mapType), name: m.name, flags: m.mapFlags,
    ...(off ? { dev: { ifindex: k.eth0.ifindex, ns_dev: 0, ns_inode: 0, ifname: k.eth0.name } } : {}),
    bytes_key: m.keySize, bytes_value: m.valueSize, max_entries: m.maxEntries, bytes_memlock: m.memBytes, frozen: m.frozen ? 1 : 0,
  };
}

async function mapCmd(k: GuestKernel, ops: GuestMapOps, a: string[], json: boolean, io: ToolIo): Promise<number> {
  const verb = a[0] ?? "show";
  if (verb === "show" || verb === "list") {
    let maps = [...k.bpf.maps.values()];
    if (a[1] !== undefined) maps = [findMap(k, a, 1)[0]];
    if (json) {
      io.out.push(JSON.stringify(maps.map((m) => mapJson(k, m))));
      return 0;
    }
    for (const m of maps) {
      const dev = k.offloadedMaps.has(m.id) ? `  offloaded_to ${k.eth0.name}` : "";
      io.out.push(`${m.id}: ${MAP_TYPE_NAMES[m.mapType] ?? m.mapType}  name ${m.name}  flags 0x${m.mapFlags.toString(16)}${dev}`);
      io.out.push(`\tkey ${m.keySize}B  value ${m.valueSize}B  max_entries ${m.maxEntries}  memlock ${m.memBytes}B`);
    }
    return 0;
  }
  const [m, i] = findMap(k, a, 1);
  switch (verb) {
    case "dump": return mapDump(ops, m, json, io);
    case "lookup": {
      if (a[i] !== "key") throw new ToolError(`did not find key`);
      const [key] = parseBytes(a, i + 1, m.keySize, "key");
      const r = await ops.lookup(m, key);
      if (r.rc === -ENOENT) {
        if (json) io.out.push("null");
        else io.out.push(`key:\n${hexb(key)}\n\nNot found`);
        return 0;
      }
      if (r.rc < 0) throw new ToolError(`lookup failed: ${strerror(r.rc)}`);
      io.out.push(json ? JSON.stringify({ key: jsonBytes(key), value: jsonBytes(r.bytes!) }) : entryPlain(key, r.bytes!, m));
      return 0;
    }
    case "update": {
      if (a[i] !== "key") throw new ToolError(`did not find key`);
      const [key, j] = parseBytes(a, i + 1, m.keySize, "key");
      if (a[j] !== "value") throw new ToolError(`did not find value`);
      const [value, l] = parseBytes(a, j + 1, m.userValueSize, "value");
      const fw = a[l];
      const flags = fw === "exist" ? BPF_EXIST : fw === "noexist" ? BPF_NOEXIST : BPF_ANY;
      const rc = await ops.update(m, key, value, flags);
      if (rc < 0) throw new ToolError(`update failed: ${strerror(rc)}`);
      if (json) io.out.push("null");
      return 0;
    }
    case "delete": {
      if (a[i] !== "key") throw new ToolError(`did not find key`);
      const [key] = parseBytes(a, i + 1, m.keySize, "key");
      const rc = await ops.delete(m, key);
      if (rc < 0) throw new ToolError(`delete failed: ${strerror(rc)}`);
      if (json) io.out.push("null");
      return 0;
    }
    case "getnext": {
      const key = a[i] === "key" ? parseBytes(a, i + 1, m.keySize, "key")[0] : null;
      const r = await ops.getNext(m, key);
      if (r.rc < 0) throw new ToolError(`can't get next key: ${strerror(r.rc)}`);
      if (json) io.out.push(JSON.stringify({ key: key === null ? null : jsonBytes(key), next_key: jsonBytes(r.bytes!) }));
      else io.out.push(`key:\n${key === null ? "None" : hexb(key)}\nnext key:\n${hexb(r.bytes!)}`);
      return 0;
    }
  }
  throw new ToolError(`unknown command '${verb}'`);
}

async function mapDump(ops: GuestMapOps, m: BpfMap, json: boolean, io: ToolIo): Promise<number> {
  const rows: Array<[Uint8Array, Uint8Array]> = [];
  let key: Uint8Array | null = null;
  for (let guard = 0; guard <= m.maxEntries; guard++) {
    const n = await ops.getNext(m, key);
    if (n.rc === -ENOENT) break;
    if (n.rc < 0) throw new ToolError(`can't get next key: ${strerror(n.rc)}`);
    const v = await ops.lookup(m, n.bytes!);
    if (v.rc === 0) rows.push([n.bytes!, v.bytes!]);
    else if (v.rc !== -ENOENT) throw new ToolError(`can't lookup element: ${strerror(v.rc)}`);
    key = n.bytes!;
  }
  if (json) {
    io.out.push(JSON.stringify(rows.map(([k, v]) => ({ key: jsonBytes(k), value: jsonBytes(v) }))));
    return 0;
  }
  for (const [k, v] of rows) io.out.push(entryPlain(k, v, m));
  io.out.push(`Found ${rows.length} element${rows.length === 1 ? "" : "s"}`);
  return 0;
}
