// bpftool's BTF data dumper (tools/bpf/bpftool/btf_dumper.c
// btf_dumper_type()): a map key or value printed through its BTF type as
// JSON, as `bpftool map dump|lookup` print BTF-typed maps ("formatted" with
// -j, the pretty text view without): ints by encoding and width, bitfields
// and 128-bit ints in hex, char arrays holding a C string as strings, enums
// by name, structs/unions as objects, DATASECs as their section's variables.
// Kinds bpftool cannot print come out as bpftool prints them
// ("(unsupported-kind", "(fwd-kind-invalid)").
import {
  BTF_KIND_ARRAY, BTF_KIND_CONST, BTF_KIND_DATASEC, BTF_KIND_ENUM, BTF_KIND_ENUM64, BTF_KIND_FWD, BTF_KIND_INT, BTF_KIND_PTR,
  BTF_KIND_RESTRICT, BTF_KIND_STRUCT, BTF_KIND_TYPEDEF, BTF_KIND_TYPE_TAG, BTF_KIND_UNION, BTF_KIND_UNKN, BTF_KIND_VAR,
  BTF_KIND_VOLATILE, BTF_MAX_RESOLVE_DEPTH, type Btf, type BtfType,
} from "../libbpf/btf.ts";
import type { JsonWriter } from "./json_writer.ts";

const BTF_INT_SIGNED = 1;
const BTF_INT_CHAR = 2;
const BTF_INT_BOOL = 4;

/** struct btf_dumper: the BTF, the writer, and plain text (bpftool's text view) or JSON. */
export interface BtfDumper {
  readonly btf: Btf;
  readonly jw: JsonWriter;
  readonly isPlainText: boolean;
}

/** Little-endian unsigned integer of `n` bytes at `off` (missing bytes read as 0). */
function readUint(data: Uint8Array, off: number, n: number): bigint {
  let v = 0n;
  for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(data[off + i] ?? 0);
  return v;
}

/** btf_int128_print(): hex, quoted in JSON. */
function int128Print(d: BtfDumper, v: bigint): void {
  const s = "0x" + v.toString(16);
  d.jw.raw(d.isPlainText ? s : `"${s}"`);
}

/** btf_dumper_bitfield(): `nrBits` bits from bit `bitOff` of the bytes at `off`. */
function bitfield(d: BtfDumper, nrBits: number, bitOff: number, data: Uint8Array, off: number): void {
  const bytes = Math.ceil((bitOff + nrBits) / 8);
  const v = (readUint(data, off, Math.min(bytes, 16)) >> BigInt(bitOff)) & ((1n << BigInt(nrBits)) - 1n);
  int128Print(d, v);
}

/** isprint() in the C locale. */
const isprint = (c: number): boolean => c >= 0x20 && c < 0x7f;

function dumpInt(d: BtfDumper, t: BtfType, bitOff: number, data: Uint8Array, off: number): number {
  const bits = t.intBits;
  if (bitOff || t.intOffset || bits % 8) {
    const total = bitOff + t.intOffset;
    bitfield(d, bits, total & 7, data, off + (total >> 3));
    return 0;
  }
  if (bits === 128) {
    int128Print(d, readUint(data, off, 16));
    return 0;
  }
  const u = (n: number): bigint => readUint(data, off, n);
  switch (t.intEncoding) {
    case 0:
      if (bits === 64 || bits === 32 || bits === 16 || bits === 8) d.jw.raw(u(bits / 8).toString());
      else bitfield(d, bits, 0, data, off);
      return 0;
    case BTF_INT_SIGNED:
      if (bits === 64 || bits === 32 || bits === 16 || bits === 8) d.jw.raw(BigInt.asIntN(bits, u(bits / 8)).toString());
      else bitfield(d, bits, 0, data, off);
      return 0;
    case BTF_INT_CHAR: {
      const c = data[off] ?? 0;
      if (isprint(c)) d.jw.raw(`"${String.fromCharCode(c)}"`);
      else if (d.isPlainText) d.jw.raw("0x" + c.toString(16));
      else d.jw.raw(`"\\u00${c.toString(16).padStart(2, "0")}"`);
      return 0;
    }
    case BTF_INT_BOOL:
      d.jw.bool(u(4) !== 0n); // bpftool reads an int there
      return 0;
    default:
      return -22;
  }
}

/** btf__resolve_type(): through typedefs, modifiers and VARs. */
function resolveType(btf: Btf, id: number): number {
  for (let depth = 0; depth < BTF_MAX_RESOLVE_DEPTH; depth++) {
    const t = btf.typeById(id);
    if (t === null) return -22;
    if (id === 0) return 0;
    const k = t.kind;
    if (k !== BTF_KIND_TYPEDEF && k !== BTF_KIND_VOLATILE && k !== BTF_KIND_CONST && k !== BTF_KIND_RESTRICT &&
        k !== BTF_KIND_TYPE_TAG && k !== BTF_KIND_VAR) return id;
    id = t.type;
  }
  return -22;
}

/** is_str_array(): a char array holding a NUL-terminated printable string. */
function isStrArray(btf: Btf, t: BtfType, data: Uint8Array, off: number): boolean {
  if (!t.arrayNelems) return false;
  let e = btf.typeById(t.arrayType);
  for (let depth = 0; e !== null && depth < BTF_MAX_RESOLVE_DEPTH && (e.kind === BTF_KIND_VOLATILE || e.kind === BTF_KIND_CONST ||
    e.kind === BTF_KIND_RESTRICT || e.kind === BTF_KIND_TYPE_TAG); depth++) e = btf.typeById(e.type);
  if (e === null || e.kind !== BTF_KIND_INT || e.size !== 1) return false;
  if (e.intEncoding !== BTF_INT_CHAR && e.name !== "char") return false;
  for (let i = 0; i < t.arrayNelems; i++) {
    const c = (data[off + i] ?? 0) << 24 >> 24; // char is signed on x86
    if (c === 0) return true;
    if (c <= 0x1f || c >= 0x7f) return false;
  }
  return false;
}

function cString(data: Uint8Array, off: number): string {
  let s = "";
  for (let i = off; i < data.length && data[i] !== 0; i++) s += String.fromCharCode(data[i]!);
  return s;
}

function doType(d: BtfDumper, id: number, bitOff: number, data: Uint8Array, off: number): number {
  const t = d.btf.typeById(id);
  if (t === null) return -22;
  switch (t.kind) {
    case BTF_KIND_INT:
      return dumpInt(d, t, bitOff, data, off);
    case BTF_KIND_STRUCT:
    case BTF_KIND_UNION: {
      d.jw.startObject();
      let ret = 0;
      for (const m of t.members) {
        d.jw.name(m.name);
        const mo = off + (m.bitOffset >> 3);
        if (m.bitfieldSize) bitfield(d, m.bitfieldSize, m.bitOffset & 7, data, mo);
        else if ((ret = doType(d, m.type, m.bitOffset & 7, data, mo)) !== 0) break;
      }
      d.jw.endObject();
      return ret;
    }
    case BTF_KIND_ARRAY: {
      if (isStrArray(d.btf, t, data, off)) {
        d.jw.string(cString(data, off));
        return 0;
      }
      const es = d.btf.resolveSize(t.arrayType);
      if (es < 0) return es;
      d.jw.startArray();
      let ret = 0;
      for (let i = 0; i < t.arrayNelems; i++) if ((ret = doType(d, t.arrayType, 0, data, off + i * es)) !== 0) break;
      d.jw.endArray();
      return ret;
    }
    case BTF_KIND_ENUM: {
      if (t.size !== 1 && t.size !== 2 && t.size !== 4 && t.size !== 8) return -22;
      const v = BigInt.asIntN(t.size * 8, readUint(data, off, t.size));
      const e = t.enumValues.find((x) => BigInt.asIntN(32, x.value) === v); // struct btf_enum's val is an s32
      if (e !== undefined) d.jw.string(e.name);
      else d.jw.raw(v.toString());
      return 0;
    }
    case BTF_KIND_ENUM64: {
      const v = readUint(data, off, 8);
      const e = t.enumValues.find((x) => BigInt.asUintN(64, x.value) === v);
      if (e !== undefined) d.jw.string(e.name);
      else d.jw.raw(BigInt.asIntN(64, v).toString());
      return 0;
    }
    case BTF_KIND_PTR: {
      const v = readUint(data, off, 8);
      if (!d.isPlainText) d.jw.raw(v.toString());
      else d.jw.raw(v === 0n ? "(nil)" : "0x" + v.toString(16)); // printf's %p
      return 0;
    }
    case BTF_KIND_UNKN:
      d.jw.raw("(unknown)");
      return 0;
    case BTF_KIND_FWD:
      d.jw.raw("(fwd-kind-invalid)");
      return -22;
    case BTF_KIND_TYPEDEF:
    case BTF_KIND_VOLATILE:
    case BTF_KIND_CONST:
    case BTF_KIND_RESTRICT: {
      const r = resolveType(d.btf, id);
      return r < 0 ? r : doType(d, r, bitOff, data, off);
    }
    case BTF_KIND_VAR: {
      d.jw.startObject();
      d.jw.name(t.name);
      const ret = doType(d, t.type, bitOff, data, off);
      d.jw.endObject();
      return ret;
    }
    case BTF_KIND_DATASEC: {
      d.jw.startObject();
      d.jw.name(t.name);
      d.jw.startArray();
      let ret = 0;
      for (const v of t.secinfos) if ((ret = doType(d, v.type, 0, data, off + v.offset)) !== 0) break;
      d.jw.endArray();
      d.jw.endObject();
      return ret;
    }
    default:
      d.jw.raw("(unsupported-kind");
      return -22;
  }
}

/** btf_dumper_type(): the value of type `id` at `data`. Returns 0 or -errno (what was written stays). */
export function btfDumperType(d: BtfDumper, id: number, data: Uint8Array): number {
  return doType(d, id, 0, data, 0);
}

/** The BTF of a map, as bpftool's map commands use it (struct bpf_map_info's btf fields). */
export interface MapKvBtf {
  readonly btf: Btf;
  readonly keyTypeId: number;
  readonly valueTypeId: number;
}

/**
 * do_dump_btf() of map.c: one entry as {"key": ..., "value": ...} (no "key"
 * when the map has no key type). Returns 0 or -errno.
 */
export function doDumpBtf(d: BtfDumper, m: MapKvBtf, key: Uint8Array, value: Uint8Array): number {
  d.jw.startObject();
  let ret = 0;
  if (m.keyTypeId !== 0) {
    d.jw.name("key");
    ret = btfDumperType(d, m.keyTypeId, key);
  }
  if (ret === 0) {
    d.jw.name("value");
    ret = btfDumperType(d, m.valueTypeId, value);
  }
  d.jw.endObject();
  return ret;
}
