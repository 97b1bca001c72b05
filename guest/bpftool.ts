// `bpftool prog show|dump xlated` and `bpftool map show|dump|lookup|update|
// delete|getnext` inside the guest (tools/bpf/bpftool/main.c, prog.c, map.c):
// getopt options anywhere on the line, command and keyword prefixes, plain and
// -j JSON output, "Error: ..." messages and bpftool 7.x's exit statuses (255
// for a usage error, (-errno) & 0xff when the kernel refuses). Offloaded maps
// are answered by the device (bpf_map_offload_lookup_elem() and friends in
// kernel/bpf/offload.c); `map dump` of an offloaded map walks it with
// BPF_MAP_LOOKUP_BATCH through the device (VIRTIO_NET_CTRL_BPF_MAP_LOOKUP_BATCH):
// the same elements in the same (get_next_key) order as the element-wise walk,
// in one device command instead of one per element. Maps with BTF show their
// btf_id and print their entries through it as bpftool's btf_dumper does
// ("formatted" with -j, the pretty text view without), whether local or offloaded.
import type { BpfMap } from "../shared/bpf/maps/map.ts";
import { JsonWriter } from "../shared/bpf/bpftool/json_writer.ts";
import { doDumpBtf, type MapKvBtf } from "../shared/bpf/bpftool/btf_dumper.ts";
import type { BpfProg } from "../shared/bpf/runtime/prog.ts";
import { BPF_ANY, BPF_EXIST, BPF_MAP_TYPE_PROG_ARRAY, BPF_NOEXIST, MAP_TYPE_NAMES } from "../shared/bpf/isa/uapi.ts";
import { dumpXlated } from "../shared/bpf/isa/disasm.ts";
import {
  VIRTIO_NET_CTRL_BPF_MAP_DELETE, VIRTIO_NET_CTRL_BPF_MAP_DELETE_BATCH, VIRTIO_NET_CTRL_BPF_MAP_GET_NEXT, VIRTIO_NET_CTRL_BPF_MAP_LOOKUP,
  VIRTIO_NET_CTRL_BPF_MAP_LOOKUP_AND_DELETE_BATCH, VIRTIO_NET_CTRL_BPF_MAP_LOOKUP_BATCH, VIRTIO_NET_CTRL_BPF_MAP_UPDATE,
  VIRTIO_NET_CTRL_BPF_MAP_UPDATE_BATCH,
} from "../shared/virtio/virtio_net.ts";
import {
  BPF_MAP_DELETE_BATCH, BPF_MAP_LOOKUP_AND_DELETE_BATCH, BPF_MAP_LOOKUP_BATCH, BPF_MAP_UPDATE_BATCH,
} from "../shared/bpf/isa/uapi.ts";
import type { BpfMapBatch } from "../shared/bpf/maps/map.ts";
import { mapDoBatch } from "../shared/bpf/syscall.ts";
import { MAX_BATCH_BYTES } from "../shared/proto/messages.ts";
import { EBADF, EINVAL, ENOENT, ENOSPC, EOPNOTSUPP, EPERM, strerror } from "../shared/errno.ts";
import type { GuestKernel } from "./netdev.ts";
import type { VirtioNetDriver } from "./virtio_net.ts";
import type { ToolIo } from "./iproute.ts";

const u32Of = (b: Uint8Array): number => new DataView(b.buffer, b.byteOffset, 4).getUint32(0, true);
function u32Le(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
}

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
    if (!r.ok) return { rc: -r.errno, bytes: null };
    if (m.mapType !== BPF_MAP_TYPE_PROG_ARRAY) return { rc: 0, bytes: r.data.value };
    // The device answers with its program handle; the guest reports its own program id.
    const handle = u32Of(r.data.value);
    const id = [...this.k.offloadedProgs].find(([, h]) => h === handle)?.[0];
    return id === undefined ? { rc: -ENOENT, bytes: null } : { rc: 0, bytes: u32Le(id) };
  }

  /**
   * BPF_MAP_UPDATE_ELEM. A prog array's value is a program fd (the guest program id here): on an
   * offloaded prog array it goes to the device as that program's device handle, and a program
   * not offloaded to this device is refused with -EINVAL, as __bpf_prog_map_compatible() refuses
   * to mix device-bound and host programs.
   */
  async update(m: BpfMap, key: Uint8Array, value: Uint8Array, flags: number): Promise<number> {
    const off = this.k.offloadedMaps.get(m.id);
    if (off === undefined) return m.sysUpdate(key, value, flags);
    if (m.frozen) return -EPERM; // map_get_sys_perms(): a frozen map is read-only to syscalls, offloaded or not
    let v = value;
    if (m.mapType === BPF_MAP_TYPE_PROG_ARRAY) {
      const handle = this.k.offloadedProgs.get(u32Of(value));
      if (handle === undefined) return this.k.bpf.progs.has(u32Of(value)) ? -EINVAL : -EBADF;
      v = u32Le(handle);
    }
    const r = await this.drv.bpfCmd(VIRTIO_NET_CTRL_BPF_MAP_UPDATE, { handle: off.handle, key, value: v, flags });
    return r.ok ? 0 : -r.errno;
  }

  async delete(m: BpfMap, key: Uint8Array): Promise<number> {
    const off = this.k.offloadedMaps.get(m.id);
    if (off === undefined) return m.sysDelete(key);
    if (m.frozen) return -EPERM;
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

  /**
   * BPF_MAP_*_BATCH (`cmd`, the bpf_cmd number): local maps in the guest kernel, offloaded
   * ones through the device. Returns 0 or -errno and leaves `b` as the kernel leaves
   * bpf_attr.batch and the user buffers (count, out_batch when written, what was copied).
   */
  async batch(cmd: number, m: BpfMap, b: BpfMapBatch): Promise<number> {
    const off = this.k.offloadedMaps.get(m.id);
    if (off === undefined) return mapDoBatch(cmd, m, b);
    if (m.frozen && cmd !== BPF_MAP_LOOKUP_BATCH) return -EPERM; // bpf_map_do_batch(): the writing commands need FMODE_CAN_WRITE
    const handle = off.handle, base = { handle, count: b.count, elemFlags: b.elemFlags, flags: b.flags };
    const inb = { hasInBatch: b.inBatch !== null, inBatch: b.inBatch?.subarray(0, Math.min(b.inBatch.length, 512)) ?? NO_BYTES };
    const r = cmd === BPF_MAP_LOOKUP_BATCH ? await this.drv.bpfCmd(VIRTIO_NET_CTRL_BPF_MAP_LOOKUP_BATCH, { ...base, ...inb })
      : cmd === BPF_MAP_LOOKUP_AND_DELETE_BATCH ? await this.drv.bpfCmd(VIRTIO_NET_CTRL_BPF_MAP_LOOKUP_AND_DELETE_BATCH, { ...base, ...inb })
      : cmd === BPF_MAP_UPDATE_BATCH ? await this.drv.bpfCmd(VIRTIO_NET_CTRL_BPF_MAP_UPDATE_BATCH, { ...base, keys: b.keys, values: b.values })
      : cmd === BPF_MAP_DELETE_BATCH ? await this.drv.bpfCmd(VIRTIO_NET_CTRL_BPF_MAP_DELETE_BATCH, { ...base, keys: b.keys })
      : null;
    if (r === null) return -EINVAL;
    const d = r.ok ? r.data : r.data;
    if (d !== null) {
      b.count = d.count;
      if (d.outBatch.length > 0) {
        b.outBatch.set(d.outBatch.subarray(0, Math.min(d.outBatch.length, b.outBatch.length)));
        b.outWritten = true;
      }
      b.keys.set(d.keys.subarray(0, Math.min(d.keys.length, b.keys.length)));
      b.values.set(d.values.subarray(0, Math.min(d.values.length, b.values.length)));
    }
    return r.ok ? 0 : -r.errno;
  }
}

const NO_BYTES = new Uint8Array(0);

/** Elements one batch copied: `count` keys and values back to back. */
export interface BatchChunk {
  keys: Uint8Array;
  values: Uint8Array;
  count: number;
}

/**
 * Walks an offloaded map with BPF_MAP_LOOKUP_BATCH through the device: the elements in
 * get_next_key order, and 0 or the -errno that ended the walk early. null when the device
 * does not run the batch commands for this map (EOPNOTSUPP on the first one): the caller
 * walks element by element then.
 */
export async function offloadedMapEntries(ops: GuestMapOps, m: BpfMap): Promise<{ rc: number; chunks: BatchChunk[] } | null> {
  const ks = m.keySize, vs = m.userValueSize;
  const most = Math.max(1, Math.floor(MAX_BATCH_BYTES / (ks + vs)));
  let count = Math.min(m.maxEntries, most);
  const b: BpfMapBatch = { inBatch: null, outBatch: new Uint8Array(Math.max(4, ks)), keys: NO_BYTES, values: NO_BYTES, count: 0, elemFlags: 0, flags: 0 };
  const chunks: BatchChunk[] = [];
  for (let first = true; ; first = false) {
    b.keys = new Uint8Array(count * ks);
    b.values = new Uint8Array(count * vs);
    b.count = count;
    b.outWritten = false;
    const rc = await ops.batch(BPF_MAP_LOOKUP_BATCH, m, b);
    if (rc === -EOPNOTSUPP && first) return null;
    if (rc === -ENOSPC && b.count === 0) {
      // one bucket holds more than `count` elements
      if (count >= most) return { rc, chunks };
      count = Math.min(most, count * 2);
      continue;
    }
    if (rc !== 0 && rc !== -ENOENT && rc !== -ENOSPC) return { rc, chunks };
    if (b.count > 0) chunks.push({ keys: b.keys, values: b.values, count: b.count });
    if (rc === -ENOENT) return { rc: 0, chunks };
    b.inBatch = b.outBatch.slice();
  }
}

/** bpftool's loaded_at: strftime("%FT%T%z") in local time. */
function loadedAt(d: Date | undefined): string {
  const t = d ?? new Date(0);
  const p2 = (n: number) => String(n).padStart(2, "0");
  const off = -t.getTimezoneOffset();
  const tz = `${off >= 0 ? "+" : "-"}${p2(Math.floor(Math.abs(off) / 60))}${p2(Math.abs(off) % 60)}`;
  return `${t.getFullYear()}-${p2(t.getMonth() + 1)}-${p2(t.getDate())}T${p2(t.getHours())}:${p2(t.getMinutes())}:${p2(t.getSeconds())}${tz}`;
}

/** "00".."ff": a dump formats every byte of every element. */
const HEX2 = Array.from({ length: 256 }, (_, x) => x.toString(16).padStart(2, "0"));
/** Bytes off..off+len of b as "xx xx ..". */
function hexAt(b: Uint8Array, off: number, len: number): string {
  let s = len > 0 ? HEX2[b[off]!]! : "";
  for (let i = 1; i < len; i++) s += " " + HEX2[b[off + i]!]!;
  return s;
}
const hexb = (b: Uint8Array): string => hexAt(b, 0, b.length);
/** Bytes off..off+len of b as bpftool -j prints them. */
function jsonBytesAt(b: Uint8Array, off: number, len: number): string[] {
  const out = new Array<string>(len);
  for (let i = 0; i < len; i++) out[i] = "0x" + HEX2[b[off + i]!]!;
  return out;
}
const jsonBytes = (b: Uint8Array): string[] => jsonBytesAt(b, 0, b.length);

/** get_map_kv_btf(): the map's BTF when it has a value type (bpftool formats only those), else null. */
function mapKvBtf(k: GuestKernel, m: BpfMap): MapKvBtf | null {
  const b = k.bpf.mapBtf.get(m.id);
  return b === undefined || b.valueTypeId === 0 ? null : { btf: b.btf.btf, keyTypeId: b.keyTypeId, valueTypeId: b.valueTypeId };
}

/** A JSON value already written out (the "formatted" part, which JSON.stringify could not keep exact: u64s). */
class RawJson {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
}

/** JSON.stringify() that writes RawJson values as they are. */
function stringifyRaw(v: unknown): string {
  const raws: string[] = [];
  const s = JSON.stringify(v, (_k, x: unknown) => (x instanceof RawJson ? `\u0000raw${raws.push(x.text) - 1}` : x));
  return s.replace(/"\\u0000raw(\d+)"/g, (_m, i: string) => raws[Number(i)]!);
}

/** print_entry_json(): key and value bytes, plus "formatted" through the map's BTF. */
function entryJson(key: Uint8Array, value: Uint8Array, kv: MapKvBtf | null): Record<string, unknown> {
  const e: Record<string, unknown> = { key: jsonBytes(key), value: jsonBytes(value) };
  if (kv !== null) {
    const jw = new JsonWriter(false);
    doDumpBtf({ btf: kv.btf, jw, isPlainText: false }, kv, key, value);
    e.formatted = new RawJson(jw.text);
  }
  return e;
}

/** print_entry_plain(): one line when key and value fit in 24 bytes, names on their own lines past 16 bytes. */
function entryPlain(key: Uint8Array, value: Uint8Array, m: BpfMap): string {
  return entryPlainAt(key, 0, value, 0, m);
}

/** entryPlain() of the key at keys[koff..] and the value at values[voff..]. */
function entryPlainAt(keys: Uint8Array, koff: number, values: Uint8Array, voff: number, m: BpfMap): string {
  const breakNames = m.keySize > 16 || m.userValueSize > 16;
  const singleLine = m.keySize + m.userValueSize <= 24 && !breakNames;
  const sep = breakNames ? "\n" : " ";
  return `key:${sep}${hexAt(keys, koff, m.keySize)}${singleLine ? "  " : "\n"}value:${sep}${hexAt(values, voff, m.userValueSize)}`;
}


/** p_err(): "Error: msg" on stderr, or {"error": msg} on stdout with -j; the command then returns `status`. */
class ToolError extends Error {
  readonly status: number;
  constructor(message: string, status = 255) {
    super(message);
    this.status = status;
  }
}

/** A kernel refusal: bpftool returns libbpf's -errno, which the shell sees as (-errno) & 0xff. */
function sysError(message: string, rc: number): ToolError {
  return new ToolError(`${message}: ${strerror(rc)}`, rc & 0xff);
}

/** usage(): the object's help on stderr ("null" with -j), status 255. */
class UsageError extends Error {
  readonly usage: readonly string[];
  constructor(usage: readonly string[]) {
    super("usage");
    this.usage = usage;
  }
}

/** A failure bpftool reports with nothing printed (a name that matches no object): status 255. */
class SilentError extends Error {}

const OPTIONS_LINE = "       OPTIONS := { {-j|--json} [{-p|--pretty}] | {-d|--debug} }";
const MAIN_USAGE = [
  "Usage: bpftool [OPTIONS] OBJECT { COMMAND | help }",
  "",
  "       OBJECT := { prog | map }",
  OPTIONS_LINE,
];
const PROG_USAGE = [
  "Usage: bpftool prog { show | list } [PROG]",
  "       bpftool prog dump xlated PROG [opcodes]",
  "       bpftool prog help",
  "",
  "       PROG := { id PROG_ID | tag PROG_TAG | name PROG_NAME }",
  OPTIONS_LINE,
];
const MAP_USAGE = [
  "Usage: bpftool map { show | list }   [MAP]",
  "       bpftool map dump       MAP",
  "       bpftool map update     MAP [key DATA] [value VALUE] [UPDATE_FLAGS]",
  "       bpftool map lookup     MAP [key DATA]",
  "       bpftool map getnext    MAP [key DATA]",
  "       bpftool map delete     MAP  key DATA",
  "       bpftool map help",
  "",
  "       MAP := { id MAP_ID | name MAP_NAME }",
  "       DATA := { [hex] BYTES }",
  "       PROG := { id PROG_ID | tag PROG_TAG | name PROG_NAME }",
  "       VALUE := { DATA | PROG }",
  "       UPDATE_FLAGS := { any | exist | noexist }",
  OPTIONS_LINE,
];

/** is_prefix(): the word is a prefix of the keyword (the empty word is a prefix of every keyword). */
const isPrefix = (word: string | undefined, keyword: string): boolean => word !== undefined && keyword.startsWith(word);

/** cmd_select(): the first command of the table the word is a prefix of. */
function selectCmd<T>(table: ReadonlyArray<readonly [string, T]>, word: string): T | undefined {
  return table.find(([name]) => isPrefix(word, name))?.[1];
}

/** strtoul(3) over the whole word (leading blanks, a sign, 0x / 0 prefixes); null when characters are left over. */
function strtoul(word: string, base: 0 | 16): number | null {
  let s = word.replace(/^[ \t\n\v\f\r]+/, "");
  let neg = false;
  if (s[0] === "+" || s[0] === "-") {
    neg = s[0] === "-";
    s = s.slice(1);
  }
  let b = 10;
  if (/^0[xX][0-9a-fA-F]/.test(s)) {
    s = s.slice(2);
    b = 16;
  } else if (base === 16) b = 16;
  else if (s.startsWith("0")) b = 8;
  const d = (b === 16 ? /^[0-9a-fA-F]*/ : b === 8 ? /^[0-7]*/ : /^[0-9]*/).exec(s)![0];
  if (d.length !== s.length) return null;
  if (d.length === 0) return 0;
  const v = BigInt.asUintN(64, BigInt((b === 16 ? "0x" : b === 8 ? "0o" : "") + d));
  return Number(BigInt.asUintN(64, neg ? -v : v) & 0xffffffffn);
}

/** parse_bytes(): `n` bytes from a[i] on, after "hex" in base 16; each is strtoul()'s value cast to a byte. */
function parseBytes(a: readonly string[], i: number, n: number, what: string): [Uint8Array, number] {
  const out = new Uint8Array(n);
  let base: 0 | 16 = 0;
  if (isPrefix(a[i], "hex")) {
    base = 16;
    i++;
  }
  let j = 0;
  for (; j < n && i + j < a.length; j++) {
    const v = strtoul(a[i + j]!, base);
    if (v === null) throw new ToolError(`error parsing byte: ${a[i + j]}`);
    out[j] = v & 0xff;
  }
  if (j !== n) throw new ToolError(`${what} expected ${n} bytes got ${j}`);
  return [out, i + n];
}

interface Elem {
  key: Uint8Array | null;
  value: Uint8Array | null;
  flags: number;
}

/** parse_elem(): "key DATA", "value DATA" and an update flag, in any order, each at most once. */
function parseElem(
  a: readonly string[], i: number, m: BpfMap, want: { value: boolean; flags: boolean }, k: GuestKernel | null = null, info: string[] | null = null,
): Elem {
  const r: Elem = { key: null, value: null, flags: BPF_ANY };
  let flagsSeen = false;
  for (;;) {
    const w = a[i];
    if (w === undefined) {
      if (r.key === null || (want.value && r.value === null)) throw new ToolError(`did not find ${r.key === null ? "key" : "value"}`);
      return r;
    }
    if (isPrefix(w, "key")) {
      if (r.key !== null) throw new ToolError("duplicate key");
      [r.key, i] = parseBytes(a, i + 1, m.keySize, "key");
    } else if (isPrefix(w, "value")) {
      if (!want.value || r.value !== null) throw new ToolError(want.value ? "duplicate value" : "unnecessary value");
      if (m.mapType === BPF_MAP_TYPE_PROG_ARRAY && k !== null) {
        // map_is_map_of_progs(): the value is a PROG handle, passed as the program's fd.
        if (m.valueSize !== 4) throw new ToolError("value smaller than 4B for map of progs?");
        if (a[i + 1] === undefined || a[i + 2] === undefined) throw new ToolError("not enough value arguments for map of progs");
        if (isPrefix(a[i + 1], "id")) {
          info?.push("Warning: updating program array via MAP_ID, make sure this map is kept open",
            "         by some process or pinned otherwise update will be lost");
        }
        const ps = parseProgs(k, a, i + 1);
        if (ps.length > 1) throw new ToolError("several programs match this handle");
        if (ps.length === 0) throw new SilentError();
        r.value = new Uint8Array(4);
        new DataView(r.value.buffer).setUint32(0, ps[0]!.id, true);
        i += 3;
        continue;
      }
      [r.value, i] = parseBytes(a, i + 1, m.userValueSize, "value");
    } else if (isPrefix(w, "any") || isPrefix(w, "noexist") || isPrefix(w, "exist")) {
      if (!want.flags || flagsSeen) throw new ToolError(`flags specified multiple times: ${w}`);
      r.flags = isPrefix(w, "any") ? BPF_ANY : isPrefix(w, "noexist") ? BPF_NOEXIST : BPF_EXIST;
      flagsSeen = true;
      i++;
    } else throw new ToolError(`expected key or value, got: ${w}`);
  }
}

/** An object id as bpftool reads it (strtoul base 0, nothing left over). */
function parseId(w: string): number {
  const v = strtoul(w, 0);
  if (v === null) throw new ToolError(`can't parse ${w} as ID`);
  return v;
}

/** map_parse_fds(): every map a MAP handle names (a name may match several, or none). */
function parseMaps(k: GuestKernel, a: readonly string[], i: number): BpfMap[] {
  if (a.length - i < 2) throw new UsageError(MAP_USAGE);
  const w = a[i]!, v = a[i + 1]!;
  if (isPrefix(w, "id")) {
    const id = parseId(v);
    const m = k.bpf.maps.get(id);
    if (m === undefined) throw new ToolError(`get map by id (${id}): ${strerror(ENOENT)}`);
    return [m];
  }
  if (isPrefix(w, "name")) {
    if (v.length > 15) throw new ToolError("can't parse name");
    return [...k.bpf.maps.values()].filter((m) => m.name === v);
  }
  if (isPrefix(w, "pinned")) throw new ToolError(`bpf obj get (${v}): ${strerror(ENOENT)}`);
  throw new ToolError(`expected 'id', 'name' or 'pinned', got: '${w}'?`);
}

/** map_parse_fd(): exactly one map. */
function parseMap(k: GuestKernel, a: readonly string[], i: number): BpfMap {
  const ms = parseMaps(k, a, i);
  if (ms.length > 1) throw new ToolError("several maps match this handle");
  if (ms.length === 0) throw new SilentError();
  return ms[0]!;
}

/** prog_parse_fds(): every program a PROG handle names. */
function parseProgs(k: GuestKernel, a: readonly string[], i: number): BpfProg[] {
  if (a.length - i < 2) throw new UsageError(PROG_USAGE);
  const w = a[i]!, v = a[i + 1]!;
  const all = [...k.bpf.progs.values()];
  if (isPrefix(w, "id")) {
    const id = parseId(v);
    const p = k.bpf.progs.get(id);
    if (p === undefined) throw new ToolError(`get by id (${id}): ${strerror(ENOENT)}`);
    return [p];
  }
  if (isPrefix(w, "tag")) {
    if (!/^[0-9a-fA-F]{16}$/.test(v)) throw new ToolError("can't parse tag");
    return all.filter((p) => p.tag === v.toLowerCase());
  }
  if (isPrefix(w, "name")) {
    if (v.length > 15) throw new ToolError("can't parse name");
    return all.filter((p) => p.name === v);
  }
  if (isPrefix(w, "pinned")) throw new ToolError(`bpf obj get (${v}): ${strerror(ENOENT)}`);
  throw new ToolError(`expected 'id', 'tag', 'name' or 'pinned', got: '${w}'?`);
}

/** Runs `bpftool ARGS`. Returns the exit status bpftool 7.x gives (its return value & 0xff). */
export async function bpftoolCommand(k: GuestKernel, drv: VirtioNetDriver, argv: string[], io: ToolIo): Promise<number> {
  // getopt_long() with GNU permutation: options anywhere on the line until "--".
  const a: string[] = [];
  let json = false;
  for (let i = 0; i < argv.length; i++) {
    const w = argv[i]!;
    if (w === "--") {
      a.push(...argv.slice(i + 1));
      break;
    }
    if (!w.startsWith("-") || w === "-") {
      a.push(w);
      continue;
    }
    for (const o of w.startsWith("--") ? [w] : [...w.slice(1)].map((c) => `-${c}`)) {
      if (o === "-j" || o === "--json" || o === "-p" || o === "--pretty") json = true;
      else if (o === "-d" || o === "--debug") continue;
      else {
        const msg = `unrecognized option '${w.startsWith("--") || w.length === 2 ? w : o}'`;
        if (json) io.out.push(JSON.stringify({ error: msg }));
        else io.err.push(`Error: ${msg}`, ...MAIN_USAGE);
        return 255;
      }
    }
  }
  const usage = (u: readonly string[], status: number): number => {
    printUsage(u, json, io);
    return status;
  };
  try {
    if (a.length === 0) return usage(MAIN_USAGE, 0);
    const obj = selectCmd([["help", "help"], ["prog", "prog"], ["map", "map"]] as const, a[0]!);
    if (obj === "help") return usage(MAIN_USAGE, 0);
    if (obj === "prog") return progCmd(k, a.slice(1), json, io);
    if (obj === "map") return await mapCmd(k, new GuestMapOps(k, drv), a.slice(1), json, io);
    return usage(MAIN_USAGE, 255);
  } catch (e) {
    if (e instanceof UsageError) return usage(e.usage, 255);
    if (e instanceof SilentError) {
      if (json) io.out.push("");
      return 255;
    }
    if (!(e instanceof ToolError)) throw e;
    if (json) io.out.push(JSON.stringify({ error: e.message }));
    else io.err.push(`Error: ${e.message}`);
    return e.status;
  }
}

/** The object's help on stderr ("null" on stdout with -j). */
function printUsage(usage: readonly string[], json: boolean, io: ToolIo): void {
  if (json) io.out.push("null");
  else io.err.push(...usage);
}

/**
 * do_prog() / do_map(): the command the first word selects ("show" when there is none) and its
 * arguments; null once `help` has printed the usage. A word that selects nothing is a usage error.
 */
function selectObjectCmd<T extends string>(
  table: ReadonlyArray<readonly [string, T | "help"]>, usage: readonly string[], a: readonly string[], json: boolean, io: ToolIo,
): { verb: T | "show"; args: string[] } | null {
  const verb = a.length === 0 ? "show" : selectCmd(table, a[0]!);
  if (verb === undefined) throw new UsageError(usage);
  if (verb === "help") {
    printUsage(usage, json, io);
    return null;
  }
  return { verb, args: a.slice(1) };
}

/**
 * do_show() of prog.c and map.c: every object, or those a handle (two words) names; no match prints
 * nothing and fails. With -j a handle matching one object prints that object, anything else an array.
 */
function showObjects<T>(
  args: readonly string[], json: boolean, io: ToolIo, byHandle: (args: readonly string[]) => T[], all: () => Iterable<T>,
  toJson: (o: T) => unknown, toPlain: (o: T) => string[],
): number {
  if (args.length !== 0 && args.length !== 2) throw new ToolError(`what is '${args[0]}'?`);
  const objs = args.length === 2 ? byHandle(args) : [...all()];
  if (args.length === 2 && objs.length === 0) throw new SilentError();
  if (json) {
    const js = objs.map(toJson);
    io.out.push(JSON.stringify(args.length === 2 && js.length === 1 ? js[0] : js));
    return 0;
  }
  for (const o of objs) io.out.push(...toPlain(o));
  return 0;
}

type ProgCmd = "show" | "help" | "dump";
/** prog.c's command table order (a prefix selects the first match). */
const PROG_CMDS: ReadonlyArray<readonly [string, ProgCmd]> = [["show", "show"], ["list", "show"], ["help", "help"], ["dump", "dump"]];

/** Memlock bpftool shows for a program: its xlated bytes in whole pages. */
const progMemlock = (p: BpfProg): number => Math.ceil((p.insns.len * 8) / 4096) * 4096 || 4096;

function progJson(k: GuestKernel, p: BpfProg): Record<string, unknown> {
  const off = k.offloadedProgs.has(p.id);
  return {
    id: p.id, type: "xdp", name: p.name, tag: p.tag, gpl_compatible: p.gplCompatible,
    ...(off ? { dev: { ifindex: k.eth0.ifindex, ns_dev: 0, ns_inode: 0, ifname: k.eth0.name } } : {}),
    loaded_at: Math.floor((k.loadedAt.get(p.id)?.getTime() ?? 0) / 1000), uid: 0, bytes_xlated: p.insns.len * 8, jited: false,
    bytes_memlock: progMemlock(p), map_ids: p.usedMaps.map((m) => m.id),
    ...(k.bpf.progBtf.has(p.id) ? { btf_id: k.bpf.progBtf.get(p.id)!.id } : {}),
  };
}

function progPlain(k: GuestKernel, p: BpfProg): string[] {
  const ids = p.usedMaps.map((m) => m.id);
  return [
    `${p.id}: xdp  name ${p.name}  tag ${p.tag}${k.offloadedProgs.has(p.id) ? `  offloaded_to ${k.eth0.name}` : ""}${p.gplCompatible ? "  gpl" : ""}`,
    `\tloaded_at ${loadedAt(k.loadedAt.get(p.id))}  uid 0`,
    `\txlated ${p.insns.len * 8}B  not jited  memlock ${progMemlock(p)}B${ids.length > 0 ? `  map_ids ${ids.join(",")}` : ""}`,
    ...(k.bpf.progBtf.has(p.id) ? [`\tbtf_id ${k.bpf.progBtf.get(p.id)!.id}`] : []),
  ];
}

function progCmd(k: GuestKernel, a: string[], json: boolean, io: ToolIo): number {
  const cmd = selectObjectCmd(PROG_CMDS, PROG_USAGE, a, json, io);
  if (cmd === null) return 0;
  const { verb, args } = cmd;
  if (verb === "show") {
    return showObjects(args, json, io, (h) => parseProgs(k, h, 0), () => k.bpf.progs.values(), (p) => progJson(k, p), (p) => progPlain(k, p));
  }
  // dump xlated PROG [opcodes]
  if (args.length < 3) throw new UsageError(PROG_USAGE);
  if (!isPrefix(args[0], "xlated")) throw new ToolError(`expected 'xlated' or 'jited', got: ${args[0]}`);
  const progs = parseProgs(k, args, 1);
  if (progs.length === 0) throw new SilentError();
  if (progs.length > 1) throw new ToolError("several programs match this handle");
  const lines = dumpXlated(progs[0]!.insns, { opcodes: args.slice(3).some((w) => isPrefix(w, "opcodes")) });
  if (json) io.out.push(JSON.stringify(lines.map((l) => ({ disasm: l.replace(/^\s*\d+: /, "") }))));
  else io.out.push(...lines);
  return 0;
}

function mapJson(k: GuestKernel, m: BpfMap): Record<string, unknown> {
  const off = k.offloadedMaps.has(m.id);
  return {
    id: m.id, type: MAP_TYPE_NAMES[m.mapType] ?? String(m.mapType), name: m.name, flags: m.mapFlags,
    ...(off ? { dev: { ifindex: k.eth0.ifindex, ns_dev: 0, ns_inode: 0, ifname: k.eth0.name } } : {}),
    bytes_key: m.keySize, bytes_value: m.valueSize, max_entries: m.maxEntries, bytes_memlock: m.memBytes, frozen: m.frozen ? 1 : 0,
    ...(k.bpf.mapBtf.has(m.id) ? { btf_id: k.bpf.mapBtf.get(m.id)!.btf.id } : {}),
  };
}

const mapHeader = (k: GuestKernel, m: BpfMap): string =>
  `${m.id}: ${MAP_TYPE_NAMES[m.mapType] ?? `type ${m.mapType}`}  name ${m.name}  flags 0x${m.mapFlags.toString(16)}${k.offloadedMaps.has(m.id) ? `  offloaded_to ${k.eth0.name}` : ""}`;

type MapCmd = "show" | "help" | "dump" | "update" | "lookup" | "getnext" | "delete";
/** map.c's command table order (a prefix selects the first match). */
const MAP_CMDS: ReadonlyArray<readonly [string, MapCmd]> = [
  ["show", "show"], ["list", "show"], ["help", "help"], ["dump", "dump"], ["update", "update"], ["lookup", "lookup"], ["getnext", "getnext"], ["delete", "delete"],
];

async function mapCmd(k: GuestKernel, ops: GuestMapOps, a: string[], json: boolean, io: ToolIo): Promise<number> {
  const cmd = selectObjectCmd(MAP_CMDS, MAP_USAGE, a, json, io);
  if (cmd === null) return 0;
  const { verb, args } = cmd;
  if (verb === "show") {
    return showObjects(args, json, io, (h) => parseMaps(k, h, 0), () => k.bpf.maps.values(), (m) => mapJson(k, m), (m) => [
      mapHeader(k, m), `\tkey ${m.keySize}B  value ${m.valueSize}B  max_entries ${m.maxEntries}  memlock ${m.memBytes}B`,
      // show_map_close_plain(): btf_id and frozen share a last line
      ...(k.bpf.mapBtf.has(m.id) || m.frozen
        ? [`\t${k.bpf.mapBtf.has(m.id) ? `btf_id ${k.bpf.mapBtf.get(m.id)!.btf.id}` : ""}${m.frozen ? `${k.bpf.mapBtf.has(m.id) ? "  " : ""}frozen` : ""}`]
        : []),
    ]);
  }
  if (verb === "dump") {
    if (args.length !== 2) throw new UsageError(MAP_USAGE);
    const maps = parseMaps(k, args, 0);
    if (maps.length === 0) throw new SilentError();
    return mapDump(k, ops, maps, json, io);
  }
  if (args.length < 2) throw new UsageError(MAP_USAGE);
  const m = parseMap(k, args, 0);
  if (verb === "lookup") {
    const { key } = parseElem(args, 2, m, { value: false, flags: false });
    const r = await ops.lookup(m, key!);
    if (r.rc === -ENOENT) {
      // do_lookup(): "Not found" (null with -j), and the lookup's -ENOENT is still the command's result.
      if (json) io.out.push("null");
      else io.out.push(`key:\n${hexb(key!)}\n\nNot found`);
      return r.rc & 0xff;
    }
    if (r.rc < 0) throw sysError("lookup failed", r.rc);
    const kv = mapKvBtf(k, m);
    if (json) io.out.push(stringifyRaw(entryJson(key!, r.bytes!, kv)));
    else if (kv !== null) {
      const jw = new JsonWriter(true);
      doDumpBtf({ btf: kv.btf, jw, isPlainText: true }, kv, key!, r.bytes!);
      io.out.push(jw.text);
    } else io.out.push(entryPlain(key!, r.bytes!, m));
    return 0;
  }
  if (verb === "update") {
    // p_info() goes to stderr, and not at all with -j.
    const { key, value, flags } = parseElem(args, 2, m, { value: true, flags: true }, k, json ? null : io.err);
    const rc = await ops.update(m, key!, value!, flags);
    if (rc < 0) throw sysError("update failed", rc);
    if (json) io.out.push("null");
    return 0;
  }
  if (verb === "delete") {
    const { key } = parseElem(args, 2, m, { value: false, flags: false });
    const rc = await ops.delete(m, key!);
    if (rc < 0) throw sysError("delete failed", rc);
    if (json) io.out.push("null");
    return 0;
  }
  // getnext: without a key, the first key.
  const key = args.length > 2 ? parseElem(args, 2, m, { value: false, flags: false }).key : null;
  const r = await ops.getNext(m, key);
  if (r.rc < 0) throw sysError("can't get next key", r.rc);
  if (json) io.out.push(JSON.stringify({ key: key === null ? null : jsonBytes(key), next_key: jsonBytes(r.bytes!) }));
  else io.out.push(`${key === null ? "key: None" : `key:\n${hexb(key)}`}\nnext key:\n${hexb(r.bytes!)}`);
  return 0;
}

/**
 * map_dump(): every element in get_next_key order. A failed lookup prints the
 * element with its error and is not counted; a get_next_key failure other than
 * ENOENT ends the walk silently, "Found N elements" is still printed and the
 * errno is the status. A handle naming several maps prints each with its header.
 */
async function mapDump(k: GuestKernel, ops: GuestMapOps, maps: readonly BpfMap[], json: boolean, io: ToolIo): Promise<number> {
  const several = maps.length > 1;
  const out: unknown[] = [];
  let err = 0;
  for (let mi = 0; mi < maps.length && err === 0; mi++) {
    const m = maps[mi]!;
    const elems: unknown[] = [];
    if (!json && several) io.out.push(mapHeader(k, m));
    const kv = mapKvBtf(k, m);
    // without -j, a map with BTF prints its entries as one pretty JSON array (and no "Found N elements")
    const btfWtr = !json && kv !== null ? new JsonWriter(true) : null;
    btfWtr?.startArray();
    let found = 0;
    const batched = k.offloadedMaps.has(m.id) ? await offloadedMapEntries(ops, m) : null;
    if (batched !== null) {
      const ks = m.keySize, vs = m.userValueSize;
      for (const c of batched.chunks) {
        for (let i = 0; i < c.count; i++) {
          if (kv !== null) {
            // btf_dumper reads the element's key and value as their own buffers
            const key = c.keys.subarray(i * ks, (i + 1) * ks), value = c.values.subarray(i * vs, (i + 1) * vs);
            if (json) elems.push(entryJson(key, value, kv));
            else doDumpBtf({ btf: kv.btf, jw: btfWtr!, isPlainText: true }, kv, key, value);
          } else if (json) elems.push({ key: jsonBytesAt(c.keys, i * ks, ks), value: jsonBytesAt(c.values, i * vs, vs) });
          else io.out.push(entryPlainAt(c.keys, i * ks, c.values, i * vs, m));
        }
        found += c.count;
      }
      if (batched.rc < 0) err = batched.rc;
    }
    let next = batched !== null ? Promise.resolve<MapOp>({ rc: -ENOENT, bytes: null }) : ops.getNext(m, null);
    for (;;) {
      const n = await next;
      if (n.rc < 0) {
        if (n.rc !== -ENOENT) err = n.rc;
        break;
      }
      // bpftool's order, lookup(key) then get_next_key(key); both only read, so
      // an offloaded map gets them back to back (one round trip per element).
      const pending = ops.lookup(m, n.bytes!);
      next = ops.getNext(m, n.bytes!);
      const v = await pending;
      if (v.rc === 0) {
        found++;
        if (json) elems.push(entryJson(n.bytes!, v.bytes!, kv));
        else if (btfWtr !== null) doDumpBtf({ btf: kv!.btf, jw: btfWtr, isPlainText: true }, kv!, n.bytes!, v.bytes!);
        else io.out.push(entryPlain(n.bytes!, v.bytes!, m));
      } else if (v.rc === -ENOENT && m.mapType === BPF_MAP_TYPE_PROG_ARRAY) {
        // print_entry_error(): an empty slot of a program array is no entry, and no error either.
      } else if (json) elems.push({ key: jsonBytes(n.bytes!), value: { error: strerror(v.rc) } });
      else if (btfWtr !== null) btfWtr.interleave(entryError(n.bytes!, v.rc === -ENOENT ? "<no entry>" : strerror(v.rc), m) + "\n");
      else io.out.push(entryError(n.bytes!, v.rc === -ENOENT ? "<no entry>" : strerror(v.rc), m));
    }
    if (json) out.push(several ? { id: m.id, type: MAP_TYPE_NAMES[m.mapType] ?? m.mapType, name: m.name, flags: m.mapFlags, elements: elems } : elems);
    else if (btfWtr !== null) {
      btfWtr.endArray();
      io.out.push(btfWtr.text);
      if (mi !== maps.length - 1) io.out.push("");
    } else {
      io.out.push(`Found ${found} element${found === 1 ? "" : "s"}`);
      if (mi !== maps.length - 1) io.out.push("");
    }
  }
  if (json) io.out.push(stringifyRaw(several ? out : out[0]));
  return err & 0xff;
}

/** print_entry_error_msg(): the key, and the error in place of the value. */
function entryError(key: Uint8Array, msg: string, m: BpfMap): string {
  const breakNames = m.keySize > 16 || msg.length > 16;
  const singleLine = m.keySize + msg.length <= 24 && !breakNames;
  const sep = breakNames ? "\n" : " ";
  return `key:${sep}${hexb(key)}${singleLine ? "  " : "\n"}value:${sep}${msg}`;
}
