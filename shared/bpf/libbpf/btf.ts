// BTF and BTF.ext readers for BPF objects. Mirrors libbpf's tools/lib/bpf/btf.c
// (btf__new: header, type and string section checks; btf__resolve_size;
// skip_mods_and_typedefs) and btf.c's btf_ext__new for line info; layouts per
// include/uapi/linux/btf.h and Documentation/bpf/btf.rst. Also the loader
// side of BTF: DATASEC fix-up from the ELF symbol table (libbpf.c
// btf_fixup_datasec) and the decoder of BTF-defined maps,
// `struct { __uint(...); __type(...); } name SEC(".maps")` (libbpf.c
// parse_btf_map_def, bpf_object__init_user_btf_map).
import { E2BIG, EINVAL, ENOENT, EOPNOTSUPP, KernelError } from "../../errno.ts";
import { cstrAt } from "./elf.ts";
import { BPF_MAP_TYPE_ARRAY_OF_MAPS, BPF_MAP_TYPE_HASH_OF_MAPS, BPF_MAP_TYPE_PROG_ARRAY, BPF_MAP_TYPE_UNSPEC } from "../isa/uapi.ts";

export const BTF_MAGIC = 0xeb9f;
export const BTF_VERSION = 1;
export const BTF_HDR_SIZE = 24;
export const BTF_MAX_RESOLVE_DEPTH = 32;

export const BTF_KIND_UNKN = 0;
export const BTF_KIND_INT = 1;
export const BTF_KIND_PTR = 2;
export const BTF_KIND_ARRAY = 3;
export const BTF_KIND_STRUCT = 4;
export const BTF_KIND_UNION = 5;
export const BTF_KIND_ENUM = 6;
export const BTF_KIND_FWD = 7;
export const BTF_KIND_TYPEDEF = 8;
export const BTF_KIND_VOLATILE = 9;
export const BTF_KIND_CONST = 10;
export const BTF_KIND_RESTRICT = 11;
export const BTF_KIND_FUNC = 12;
export const BTF_KIND_FUNC_PROTO = 13;
export const BTF_KIND_VAR = 14;
export const BTF_KIND_DATASEC = 15;
export const BTF_KIND_FLOAT = 16;
export const BTF_KIND_DECL_TAG = 17;
export const BTF_KIND_TYPE_TAG = 18;
export const BTF_KIND_ENUM64 = 19;
export const BTF_KIND_MAX = 19;

// VAR linkage (enum btf_var_linkage) and FUNC linkage (enum btf_func_linkage, in vlen).
export const BTF_VAR_STATIC = 0;
export const BTF_VAR_GLOBAL_ALLOCATED = 1;
export const BTF_VAR_GLOBAL_EXTERN = 2;
export const BTF_FUNC_STATIC = 0;
export const BTF_FUNC_GLOBAL = 1;
export const BTF_FUNC_EXTERN = 2;

const KIND_NAMES = [
  "void", "int", "ptr", "array", "struct", "union", "enum", "fwd", "typedef", "volatile",
  "const", "restrict", "func", "func_proto", "var", "datasec", "float", "decl_tag", "type_tag", "enum64",
];

/** libbpf's btf_kind_str(): "struct", "ptr"... ("unknown" past the table). */
export function btfKindStr(kind: number): string {
  return KIND_NAMES[kind] ?? "unknown";
}

export interface BtfMember { name: string; type: number; bitOffset: number; bitfieldSize: number }
export interface BtfParam { name: string; type: number }
export interface BtfEnumVal { name: string; value: bigint }
export interface BtfVarSecinfo { type: number; offset: number; size: number }

/** One decoded type record. Fields not used by a kind keep their zero value. */
export interface BtfType {
  readonly id: number;
  readonly kind: number;
  readonly name: string;
  readonly vlen: number;
  readonly kflag: boolean;
  /** size for INT/STRUCT/UNION/ENUM/ENUM64/DATASEC/FLOAT, else 0. */
  readonly size: number;
  /** referenced type for PTR/TYPEDEF/modifiers/FUNC/VAR/DECL_TAG/TYPE_TAG, return type for FUNC_PROTO. */
  readonly type: number;
  readonly intEncoding: number;
  readonly intOffset: number;
  readonly intBits: number;
  readonly arrayType: number;
  readonly arrayIndexType: number;
  readonly arrayNelems: number;
  readonly members: readonly BtfMember[];
  readonly params: readonly BtfParam[];
  readonly enumValues: readonly BtfEnumVal[];
  /** VAR linkage (FUNC linkage is vlen); loaders demote hidden globals to static. */
  linkage: number;
  /** DATASEC entries; mutable because loaders fix up offsets and sizes (btf_fixup_datasec). */
  secinfos: BtfVarSecinfo[];
  /** DATASEC size after fix-up. */
  datasecSize: number;
  readonly componentIdx: number;
}

const VOID: BtfType = {
  id: 0, kind: BTF_KIND_UNKN, name: "", vlen: 0, kflag: false, size: 0, type: 0,
  intEncoding: 0, intOffset: 0, intBits: 0, arrayType: 0, arrayIndexType: 0, arrayNelems: 0,
  members: [], params: [], enumValues: [], linkage: 0, secinfos: [], datasecSize: 0, componentIdx: 0,
};

function fail(msg: string): never {
  throw new KernelError(EINVAL, msg);
}

/** Kinds whose record holds a size rather than a type reference. */
function hasSize(kind: number): boolean {
  return kind === BTF_KIND_INT || kind === BTF_KIND_STRUCT || kind === BTF_KIND_UNION || kind === BTF_KIND_ENUM ||
    kind === BTF_KIND_ENUM64 || kind === BTF_KIND_DATASEC || kind === BTF_KIND_FLOAT;
}

/** Bytes that follow the 12-byte common header for a kind with `vlen` entries; -1 for unknown kinds. */
function extraLen(kind: number, vlen: number): number {
  switch (kind) {
    case BTF_KIND_INT: case BTF_KIND_VAR: case BTF_KIND_DECL_TAG: return 4;
    case BTF_KIND_ARRAY: return 12;
    case BTF_KIND_STRUCT: case BTF_KIND_UNION: case BTF_KIND_DATASEC: return 12 * vlen;
    case BTF_KIND_ENUM: case BTF_KIND_FUNC_PROTO: return 8 * vlen;
    case BTF_KIND_ENUM64: return 12 * vlen;
    case BTF_KIND_PTR: case BTF_KIND_FWD: case BTF_KIND_TYPEDEF: case BTF_KIND_VOLATILE: case BTF_KIND_CONST:
    case BTF_KIND_RESTRICT: case BTF_KIND_FUNC: case BTF_KIND_FLOAT: case BTF_KIND_TYPE_TAG: return 0;
    default: return -1;
  }
}

/** A parsed .BTF section: type table (index = type id, 0 = void) and string table. */
export class Btf {
  readonly types: BtfType[];
  readonly strings: Uint8Array;
  /** The section as parsed (null when built otherwise), and each type's record offset in it. */
  readonly raw: Uint8Array | null;
  readonly typeOffs: readonly number[];
  constructor(types: BtfType[], strings: Uint8Array, raw: Uint8Array | null = null, typeOffs: readonly number[] = []) {
    this.types = types;
    this.strings = strings;
    this.raw = raw;
    this.typeOffs = typeOffs;
  }

  /**
   * The bytes to hand to BPF_BTF_LOAD: the parsed section with the loader's
   * fix-ups written back (DATASEC sizes, sorted var offsets, hidden globals
   * made static), as libbpf loads obj->btf after btf_fixup_datasec().
   * @see btf__raw_data()
   */
  rawData(): Uint8Array {
    if (this.raw === null) throw new KernelError(EINVAL, "BTF has no raw data");
    const out = this.raw.slice();
    const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
    for (let id = 1; id < this.types.length; id++) {
      const t = this.types[id]!, at = this.typeOffs[id]!;
      if (t.kind === BTF_KIND_DATASEC) {
        dv.setUint32(at + 8, t.datasecSize, true);
        t.secinfos.forEach((v, i) => {
          dv.setUint32(at + 12 + i * 12, v.type, true);
          dv.setUint32(at + 16 + i * 12, v.offset, true);
          dv.setUint32(at + 20 + i * 12, v.size, true);
        });
      } else if (t.kind === BTF_KIND_VAR) {
        dv.setUint32(at + 12, t.linkage, true);
      }
    }
    return out;
  }

  /** Number of types including void (libbpf btf__type_cnt). */
  get typeCnt(): number {
    return this.types.length;
  }

  /** Type by id, or null when out of range. */
  typeById(id: number): BtfType | null {
    return id >= 0 && id < this.types.length ? this.types[id]! : null;
  }

  /** String at an offset in the string section, or null (libbpf btf__name_by_offset). */
  str(off: number): string | null {
    return cstrAt(this.strings, off);
  }

  /** First type with this name (any kind), or -1 (libbpf btf__find_by_name). */
  findByName(name: string): number {
    for (let i = 1; i < this.types.length; i++) if (this.types[i]!.name === name) return i;
    return -1;
  }

  /** First type with this name and kind, or -1 (libbpf btf__find_by_name_kind). */
  findByNameKind(name: string, kind: number): number {
    for (let i = 1; i < this.types.length; i++) {
      const t = this.types[i]!;
      if (t.kind === kind && t.name === name) return i;
    }
    return -1;
  }

  /**
   * Follows typedefs and CONST/VOLATILE/RESTRICT/TYPE_TAG modifiers; returns
   * the first other type (void when the chain is broken or too long).
   * @see skip_mods_and_typedefs() in libbpf.c
   */
  skipModsAndTypedefs(id: number): { t: BtfType; id: number } {
    let cur = id;
    for (let depth = 0; depth < BTF_MAX_RESOLVE_DEPTH; depth++) {
      const t = this.typeById(cur);
      if (!t) return { t: VOID, id: 0 };
      if (!isModOrTypedef(t.kind)) return { t, id: cur };
      cur = t.type;
    }
    return { t: VOID, id: 0 };
  }

  /**
   * Size in bytes of a type, through typedefs, modifiers, VARs and arrays.
   * Returns the size or -EINVAL (void, FWD, FUNC, loops) / -E2BIG (overflow).
   * @see btf__resolve_size() in btf.c
   */
  resolveSize(id: number): number {
    let nelems = 1;
    let cur = id;
    for (let depth = 0; depth < BTF_MAX_RESOLVE_DEPTH; depth++) {
      const t = this.typeById(cur);
      if (!t || t.kind === BTF_KIND_UNKN) return -EINVAL;
      let size = -1;
      switch (t.kind) {
        case BTF_KIND_INT: case BTF_KIND_STRUCT: case BTF_KIND_UNION: case BTF_KIND_ENUM:
        case BTF_KIND_DATASEC: case BTF_KIND_FLOAT: case BTF_KIND_ENUM64:
          size = t.kind === BTF_KIND_DATASEC ? t.datasecSize : t.size;
          break;
        case BTF_KIND_PTR:
          size = 8; // BPF-targeted BTF: 8-byte pointers, as libbpf enforces
          break;
        case BTF_KIND_TYPEDEF: case BTF_KIND_VOLATILE: case BTF_KIND_CONST: case BTF_KIND_RESTRICT:
        case BTF_KIND_VAR: case BTF_KIND_DECL_TAG: case BTF_KIND_TYPE_TAG:
          cur = t.type;
          continue;
        case BTF_KIND_ARRAY:
          if (t.arrayNelems && nelems > 0xffff_ffff / t.arrayNelems) return -E2BIG;
          nelems *= t.arrayNelems;
          cur = t.arrayType;
          continue;
        default:
          return -EINVAL;
      }
      if (nelems && size > 0xffff_ffff / nelems) return -E2BIG;
      return nelems * size;
    }
    return -EINVAL;
  }

  /** C-like spelling of a type for display: "__u32", "struct flow_key", "char[4]", "void *". */
  typeName(id: number, depth = 0): string {
    const t = this.typeById(id);
    if (!t || depth > BTF_MAX_RESOLVE_DEPTH) return "?";
    const anon = t.name || "(anon)";
    switch (t.kind) {
      case BTF_KIND_UNKN: return "void";
      case BTF_KIND_STRUCT: return `struct ${anon}`;
      case BTF_KIND_UNION: return `union ${anon}`;
      case BTF_KIND_ENUM: case BTF_KIND_ENUM64: return `enum ${anon}`;
      case BTF_KIND_FWD: return `${t.kflag ? "union" : "struct"} ${anon}`;
      case BTF_KIND_PTR: return `${this.typeName(t.type, depth + 1)} *`;
      case BTF_KIND_CONST: return `const ${this.typeName(t.type, depth + 1)}`;
      case BTF_KIND_VOLATILE: return `volatile ${this.typeName(t.type, depth + 1)}`;
      case BTF_KIND_RESTRICT: return `restrict ${this.typeName(t.type, depth + 1)}`;
      case BTF_KIND_TYPE_TAG: return this.typeName(t.type, depth + 1);
      case BTF_KIND_ARRAY: return `${this.typeName(t.arrayType, depth + 1)}[${t.arrayNelems}]`;
      case BTF_KIND_FUNC_PROTO: return `${this.typeName(t.type, depth + 1)} (*)(...)`;
      default: return anon;
    }
  }
}

function isModOrTypedef(kind: number): boolean {
  return kind === BTF_KIND_TYPEDEF || kind === BTF_KIND_VOLATILE || kind === BTF_KIND_CONST ||
    kind === BTF_KIND_RESTRICT || kind === BTF_KIND_TYPE_TAG;
}

/**
 * Parses a .BTF section. Throws KernelError(EINVAL) with a message naming
 * the header field or type id that is malformed.
 * @see btf__new(), btf_parse_hdr(), btf_parse_str_sec(), btf_parse_type_sec(), btf_validate_type()
 */
export function parseBtf(data: Uint8Array): Btf {
  if (data.length < BTF_HDR_SIZE) fail(`BTF header is truncated (${data.length} bytes)`);
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const magic = dv.getUint16(0, true);
  if (magic !== BTF_MAGIC) fail(`Invalid BTF magic: 0x${magic.toString(16)}`);
  const version = dv.getUint8(2);
  if (version !== BTF_VERSION) fail(`Unsupported BTF version: ${version}`);
  const hdrLen = dv.getUint32(4, true);
  if (hdrLen < BTF_HDR_SIZE || hdrLen > data.length) fail(`BTF header length ${hdrLen} is invalid (${data.length} bytes of BTF)`);
  const typeOff = dv.getUint32(8, true);
  const typeLen = dv.getUint32(12, true);
  const strOff = dv.getUint32(16, true);
  const strLen = dv.getUint32(20, true);
  const meta = data.length - hdrLen;
  if (strOff + strLen > meta) fail(`Invalid BTF total size: string section ends at ${strOff + strLen}, data has ${meta} bytes`);
  if (typeOff + typeLen > strOff) fail(`Invalid BTF data sections layout: type section ${typeOff}+${typeLen}, string section at ${strOff}`);
  if (typeOff % 4 !== 0) fail(`BTF type section is not aligned to 4 bytes (offset ${typeOff})`);
  const strings = data.subarray(hdrLen + strOff, hdrLen + strOff + strLen);
  if (strLen === 0 || strings[0] !== 0 || strings[strLen - 1] !== 0) fail("Invalid BTF string section");
  const types: BtfType[] = [VOID];
  const typeOffs: number[] = [0];
  const tdv = new DataView(data.buffer, data.byteOffset + hdrLen + typeOff, typeLen);
  let at = 0;
  while (at < typeLen) {
    const id = types.length;
    if (at + 12 > typeLen) fail(`BTF type [${id}] is truncated at type section offset ${at}`);
    const info = tdv.getUint32(at + 4, true);
    const kind = (info >>> 24) & 0x1f;
    const vlen = info & 0xffff;
    const extra = extraLen(kind, vlen);
    if (extra < 0) fail(`Unsupported BTF_KIND:${kind} (type [${id}])`);
    if (at + 12 + extra > typeLen) fail(`BTF type [${id}] (${btfKindStr(kind)}, vlen ${vlen}) runs past the type section`);
    types.push(decodeType(tdv, at, id, strings));
    typeOffs.push(hdrLen + typeOff + at);
    at += 12 + extra;
  }
  const btf = new Btf(types, strings, data, typeOffs);
  for (const t of types) validateRefs(btf, t);
  return btf;
}

function name(strings: Uint8Array, off: number, id: number): string {
  const s = cstrAt(strings, off);
  if (s === null) fail(`BTF type [${id}]: invalid name offset ${off}`);
  return s;
}

function decodeType(dv: DataView, at: number, id: number, strings: Uint8Array): BtfType {
  const info = dv.getUint32(at + 4, true);
  const kind = (info >>> 24) & 0x1f;
  const vlen = info & 0xffff;
  const sizeOrType = dv.getUint32(at + 8, true);
  const x = at + 12;
  const t = {
    ...VOID, id, kind, vlen, kflag: (info >>> 31) === 1, name: name(strings, dv.getUint32(at, true), id),
    size: hasSize(kind) ? sizeOrType : 0, type: hasSize(kind) ? 0 : sizeOrType,
    members: [] as BtfMember[], params: [] as BtfParam[], enumValues: [] as BtfEnumVal[], secinfos: [] as BtfVarSecinfo[],
  };
  switch (kind) {
    case BTF_KIND_INT: {
      const e = dv.getUint32(x, true);
      return { ...t, intEncoding: (e >>> 24) & 0xf, intOffset: (e >>> 16) & 0xff, intBits: e & 0xff };
    }
    case BTF_KIND_ARRAY:
      return { ...t, arrayType: dv.getUint32(x, true), arrayIndexType: dv.getUint32(x + 4, true), arrayNelems: dv.getUint32(x + 8, true) };
    case BTF_KIND_STRUCT: case BTF_KIND_UNION:
      for (let i = 0; i < vlen; i++) {
        const o = x + i * 12;
        const off = dv.getUint32(o + 8, true);
        t.members.push({
          name: name(strings, dv.getUint32(o, true), id), type: dv.getUint32(o + 4, true),
          bitOffset: t.kflag ? off & 0xffffff : off, bitfieldSize: t.kflag ? off >>> 24 : 0,
        });
      }
      return t;
    case BTF_KIND_ENUM:
      for (let i = 0; i < vlen; i++) {
        const o = x + i * 8;
        const v = t.kflag ? BigInt(dv.getInt32(o + 4, true)) : BigInt(dv.getUint32(o + 4, true));
        t.enumValues.push({ name: name(strings, dv.getUint32(o, true), id), value: v });
      }
      return t;
    case BTF_KIND_ENUM64:
      for (let i = 0; i < vlen; i++) {
        const o = x + i * 12;
        const raw = (BigInt(dv.getUint32(o + 8, true)) << 32n) | BigInt(dv.getUint32(o + 4, true));
        t.enumValues.push({ name: name(strings, dv.getUint32(o, true), id), value: t.kflag ? BigInt.asIntN(64, raw) : raw });
      }
      return t;
    case BTF_KIND_FUNC_PROTO:
      for (let i = 0; i < vlen; i++) {
        const o = x + i * 8;
        t.params.push({ name: name(strings, dv.getUint32(o, true), id), type: dv.getUint32(o + 4, true) });
      }
      return t;
    case BTF_KIND_VAR:
      return { ...t, linkage: dv.getUint32(x, true) };
    case BTF_KIND_DATASEC:
      for (let i = 0; i < vlen; i++) {
        const o = x + i * 12;
        t.secinfos.push({ type: dv.getUint32(o, true), offset: dv.getUint32(o + 4, true), size: dv.getUint32(o + 8, true) });
      }
      return { ...t, datasecSize: sizeOrType };
    case BTF_KIND_DECL_TAG:
      return { ...t, componentIdx: dv.getInt32(x, true) };
    default:
      return t;
  }
}

/** Every referenced type id must exist (libbpf btf_validate_type / btf_validate_id). */
function validateRefs(btf: Btf, t: BtfType): void {
  const n = btf.typeCnt;
  const check = (ref: number, what: string): void => {
    if (ref >= n) fail(`BTF type [${t.id}] (${btfKindStr(t.kind)}): ${what} type id ${ref} is out of range (${n} types)`);
  };
  switch (t.kind) {
    case BTF_KIND_PTR: case BTF_KIND_TYPEDEF: case BTF_KIND_VOLATILE: case BTF_KIND_CONST: case BTF_KIND_RESTRICT:
    case BTF_KIND_VAR: case BTF_KIND_DECL_TAG: case BTF_KIND_TYPE_TAG: case BTF_KIND_FUNC_PROTO:
      check(t.type, "referenced");
      break;
    case BTF_KIND_FUNC:
      check(t.type, "prototype");
      if (btf.types[t.type]!.kind !== BTF_KIND_FUNC_PROTO) fail(`BTF type [${t.id}] (func '${t.name}'): type [${t.type}] is not a func_proto`);
      break;
    case BTF_KIND_ARRAY:
      check(t.arrayType, "element");
      check(t.arrayIndexType, "index");
      break;
    default:
      break;
  }
  for (const m of t.members) check(m.type, `member '${m.name}'`);
  for (const p of t.params) check(p.type, `parameter '${p.name}'`);
  for (const v of t.secinfos) check(v.type, "variable");
}

export interface BtfLineInfo {
  /** Byte offset of the instruction within its ELF section. */
  readonly insnOff: number;
  /** String offsets of the file name and the line (struct bpf_line_info's file_name_off, line_off). */
  readonly fileNameOff: number;
  readonly lineOff: number;
  readonly fileName: string;
  /** The source line's text, as clang records it. */
  readonly line: string;
  readonly lineNum: number;
  readonly lineCol: number;
}

/**
 * Line info from .BTF.ext, by ELF section name. Like libbpf, a malformed
 * .BTF.ext is not fatal: returns null and the object opens without it.
 * @see btf_ext__new(), btf_ext_setup_line_info() in btf.c
 */
export function parseBtfExtLineInfo(data: Uint8Array, btf: Btf): Map<string, BtfLineInfo[]> | null {
  if (data.length < 24) return null;
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (dv.getUint16(0, true) !== BTF_MAGIC || dv.getUint8(2) !== BTF_VERSION) return null;
  const hdrLen = dv.getUint32(4, true);
  if (hdrLen < 24 || hdrLen > data.length) return null;
  const off = dv.getUint32(16, true);
  const len = dv.getUint32(20, true);
  const start = hdrLen + off;
  if (len === 0) return new Map();
  if (len < 4 || start + len > data.length || off % 4 !== 0) return null;
  const recSize = dv.getUint32(start, true);
  if (recSize < 16 || recSize % 4 !== 0) return null;
  const out = new Map<string, BtfLineInfo[]>();
  let at = start + 4;
  const end = start + len;
  while (at < end) {
    if (at + 8 > end) return null;
    const secName = btf.str(dv.getUint32(at, true));
    const num = dv.getUint32(at + 4, true);
    at += 8;
    if (secName === null || num === 0 || num > (end - at) / recSize) return null;
    const recs: BtfLineInfo[] = [];
    for (let i = 0; i < num; i++, at += recSize) {
      const lineCol = dv.getUint32(at + 12, true);
      recs.push({
        insnOff: dv.getUint32(at, true), fileNameOff: dv.getUint32(at + 4, true), lineOff: dv.getUint32(at + 8, true),
        fileName: btf.str(dv.getUint32(at + 4, true)) ?? "",
        line: btf.str(dv.getUint32(at + 8, true)) ?? "",
        lineNum: lineCol >>> 10,
        lineCol: lineCol & 0x3ff,
      });
    }
    out.set(secName, recs);
  }
  return out;
}

/**
 * Fills in what clang leaves as zero in DATASECs: the section size (from the
 * ELF section) and each global VAR's offset (from its ELF symbol), marks
 * hidden globals static, and sorts the entries by offset. `secSize` returns
 * null when the ELF section does not exist; `varSym` null when no
 * global/weak OBJECT symbol has that name.
 * Throws KernelError(ENOENT/EINVAL) like libbpf, which fails the open.
 * @see btf_fixup_datasec() in libbpf.c
 */
export function fixupDatasecs(
  btf: Btf,
  secSize: (name: string) => number | null,
  varSym: (name: string) => { value: number; hidden: boolean } | null,
): void {
  for (const t of btf.types) {
    if (t.kind !== BTF_KIND_DATASEC) continue;
    if (t.name !== ".kconfig" && t.name !== ".ksyms") {
      let fixOffsets = false;
      if (t.datasecSize === 0) {
        const size = secSize(t.name);
        if (!size) throw new KernelError(ENOENT, `sec '${t.name}': failed to determine size from ELF: size ${size ?? 0}`);
        t.datasecSize = size;
        fixOffsets = true;
      }
      for (const vsi of t.secinfos) {
        const v = btf.types[vsi.type]!;
        if (v.kind !== BTF_KIND_VAR) throw new KernelError(EINVAL, `sec '${t.name}': unexpected non-VAR type [${vsi.type}] found`);
        if (v.linkage === BTF_VAR_STATIC || v.linkage === BTF_VAR_GLOBAL_EXTERN) continue;
        const sym = varSym(v.name);
        if (!sym) throw new KernelError(ENOENT, `sec '${t.name}': failed to find ELF symbol for VAR '${v.name}'`);
        if (fixOffsets) vsi.offset = sym.value;
        if (sym.hidden) v.linkage = BTF_VAR_STATIC;
      }
    }
    t.secinfos.sort((a, b) => a.offset - b.offset);
  }
}

/** A decoded BTF map definition (struct btf_map_def in libbpf). */
export interface BtfMapDef {
  mapType: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  mapFlags: number;
  numaNode: number;
  mapExtra: number;
  pinning: number;
  keyTypeId: number;
  valueTypeId: number;
  /** `__array(values, ...)` was present (prog-array or map-in-map). */
  hasValues: boolean;
  /** Inner map definition of a map-in-map. */
  inner: BtfMapDef | null;
}

export const LIBBPF_PIN_NONE = 0;
export const LIBBPF_PIN_BY_NAME = 1;

function mapErr(errno: number, msg: string): never {
  throw new KernelError(errno, msg);
}

/** `__uint(name, N)` is `int (*name)[N]`: N is the array's element count. */
function mapFieldInt(btf: Btf, mapName: string, m: BtfMember): number {
  const t = btf.skipModsAndTypedefs(m.type).t;
  if (t.kind !== BTF_KIND_PTR) mapErr(EINVAL, `map '${mapName}': attr '${m.name}': expected PTR, got ${btfKindStr(t.kind)}.`);
  const arr = btf.typeById(t.type);
  if (!arr) mapErr(EINVAL, `map '${mapName}': attr '${m.name}': type [${t.type}] not found.`);
  if (arr.kind !== BTF_KIND_ARRAY) mapErr(EINVAL, `map '${mapName}': attr '${m.name}': expected ARRAY, got ${btfKindStr(arr.kind)}.`);
  return arr.arrayNelems;
}

/** `__type(name, T)` is `T *name`: returns T's id and size. */
function mapFieldType(btf: Btf, mapName: string, m: BtfMember, what: "key" | "value"): { id: number; size: number } {
  const t = btf.typeById(m.type);
  if (!t) mapErr(EINVAL, `map '${mapName}': ${what} type [${m.type}] not found.`);
  if (t.kind !== BTF_KIND_PTR) mapErr(EINVAL, `map '${mapName}': ${what} spec is not PTR: ${btfKindStr(t.kind)}.`);
  const size = btf.resolveSize(t.type);
  if (size < 0) mapErr(-size, `map '${mapName}': can't determine ${what} size for type [${t.type}]: ${size}.`);
  return { id: t.type, size };
}

function setSize(mapName: string, what: "key" | "value", cur: number, sz: number): number {
  if (cur && cur !== sz) mapErr(EINVAL, `map '${mapName}': conflicting ${what} size ${cur} != ${sz}.`);
  return sz;
}

/**
 * Decodes the members of a map definition struct. Unknown members are an
 * error when `strict` (EOPNOTSUPP; libbpf's -ENOTSUP), ignored otherwise.
 * Throws KernelError with libbpf's message for every malformed member.
 * @see parse_btf_map_def() in libbpf.c
 */
export function parseBtfMapDef(btf: Btf, mapName: string, def: BtfType, strict: boolean, isInner = false): BtfMapDef {
  const d: BtfMapDef = {
    mapType: BPF_MAP_TYPE_UNSPEC, keySize: 0, valueSize: 0, maxEntries: 0, mapFlags: 0, numaNode: 0,
    mapExtra: 0, pinning: LIBBPF_PIN_NONE, keyTypeId: 0, valueTypeId: 0, hasValues: false, inner: null,
  };
  def.members.forEach((m, i) => {
    switch (m.name) {
      case "type": d.mapType = mapFieldInt(btf, mapName, m); break;
      case "max_entries": d.maxEntries = mapFieldInt(btf, mapName, m); break;
      case "map_flags": d.mapFlags = mapFieldInt(btf, mapName, m); break;
      case "numa_node": d.numaNode = mapFieldInt(btf, mapName, m); break;
      case "map_extra": d.mapExtra = mapFieldInt(btf, mapName, m); break;
      case "key_size": d.keySize = setSize(mapName, "key", d.keySize, mapFieldInt(btf, mapName, m)); break;
      case "value_size": d.valueSize = setSize(mapName, "value", d.valueSize, mapFieldInt(btf, mapName, m)); break;
      case "key": {
        const k = mapFieldType(btf, mapName, m, "key");
        d.keySize = setSize(mapName, "key", d.keySize, k.size);
        d.keyTypeId = k.id;
        break;
      }
      case "value": {
        const v = mapFieldType(btf, mapName, m, "value");
        d.valueSize = setSize(mapName, "value", d.valueSize, v.size);
        d.valueTypeId = v.id;
        break;
      }
      case "values": parseValues(btf, mapName, d, m, i === def.members.length - 1, strict, isInner); break;
      case "pinning": {
        if (isInner) mapErr(EINVAL, `map '${mapName}': inner def can't be pinned.`);
        const v = mapFieldInt(btf, mapName, m);
        if (v !== LIBBPF_PIN_NONE && v !== LIBBPF_PIN_BY_NAME) mapErr(EINVAL, `map '${mapName}': invalid pinning value ${v}.`);
        d.pinning = v;
        break;
      }
      default:
        if (strict) mapErr(EOPNOTSUPP, `map '${mapName}': unknown field '${m.name}'.`);
    }
  });
  if (d.mapType === BPF_MAP_TYPE_UNSPEC) mapErr(EINVAL, `map '${mapName}': map type isn't specified.`);
  return d;
}

/** `__array(values, T)`: a zero-length array of pointers to a map def (map-in-map) or a func proto (prog-array). */
function parseValues(btf: Btf, mapName: string, d: BtfMapDef, m: BtfMember, isLast: boolean, strict: boolean, isInner: boolean): void {
  const isMapInMap = d.mapType === BPF_MAP_TYPE_ARRAY_OF_MAPS || d.mapType === BPF_MAP_TYPE_HASH_OF_MAPS;
  const isProgArray = d.mapType === BPF_MAP_TYPE_PROG_ARRAY;
  const desc = isMapInMap ? "map-in-map inner" : "prog-array value";
  if (isInner) mapErr(EOPNOTSUPP, `map '${mapName}': multi-level inner maps not supported.`);
  if (!isLast) mapErr(EINVAL, `map '${mapName}': '${m.name}' member should be last.`);
  if (!isMapInMap && !isProgArray) mapErr(EOPNOTSUPP, `map '${mapName}': should be map-in-map or prog-array.`);
  if (d.valueSize && d.valueSize !== 4) mapErr(EINVAL, `map '${mapName}': conflicting value size ${d.valueSize} != 4.`);
  d.valueSize = 4;
  const arr = btf.typeById(m.type);
  if (!arr) mapErr(EINVAL, `map '${mapName}': ${desc} type [${m.type}] not found.`);
  if (arr.kind !== BTF_KIND_ARRAY || arr.arrayNelems) mapErr(EINVAL, `map '${mapName}': ${desc} spec is not a zero-sized array.`);
  const ptr = btf.skipModsAndTypedefs(arr.arrayType).t;
  if (ptr.kind !== BTF_KIND_PTR) mapErr(EINVAL, `map '${mapName}': ${desc} def is of unexpected kind ${btfKindStr(ptr.kind)}.`);
  const target = btf.skipModsAndTypedefs(ptr.type).t;
  d.hasValues = true;
  if (isProgArray) {
    if (target.kind !== BTF_KIND_FUNC_PROTO) mapErr(EINVAL, `map '${mapName}': prog-array value def is of unexpected kind ${btfKindStr(target.kind)}.`);
    return;
  }
  if (target.kind !== BTF_KIND_STRUCT) mapErr(EINVAL, `map '${mapName}': map-in-map inner def is of unexpected kind ${btfKindStr(target.kind)}.`);
  d.inner = parseBtfMapDef(btf, `${mapName}.inner`, target, strict, true);
}

/** One variable of DATASEC ".maps" decoded as a map definition. */
export interface BtfMapVar {
  readonly name: string;
  /** Index of the VAR within the DATASEC (libbpf map->btf_var_idx). */
  readonly varIdx: number;
  readonly offset: number;
  readonly size: number;
  readonly def: BtfMapDef;
}

/**
 * Reads every map of DATASEC ".maps" (already fixed up by fixupDatasecs).
 * `secLen` is the size of the ELF ".maps" section.
 * Throws KernelError with libbpf's messages (ENOENT when the DATASEC is missing).
 * @see bpf_object__init_user_btf_maps(), bpf_object__init_user_btf_map() in libbpf.c
 */
export function readBtfMaps(btf: Btf, secLen: number, strict = true): { datasecId: number; maps: BtfMapVar[] } {
  const datasecId = btf.findByNameKind(".maps", BTF_KIND_DATASEC);
  if (datasecId < 0) throw new KernelError(ENOENT, "DATASEC '.maps' not found.");
  const sec = btf.types[datasecId]!;
  const maps: BtfMapVar[] = [];
  sec.secinfos.forEach((vi, varIdx) => {
    const v = btf.types[vi.type]!;
    if (!v.name) mapErr(EINVAL, `map #${varIdx}: empty name.`);
    if (vi.offset + vi.size > secLen) mapErr(EINVAL, `map '${v.name}' BTF data is corrupted.`);
    if (v.kind !== BTF_KIND_VAR) mapErr(EINVAL, `map '${v.name}': unexpected var kind ${btfKindStr(v.kind)}.`);
    if (v.linkage !== BTF_VAR_GLOBAL_ALLOCATED) {
      const l = v.linkage === BTF_VAR_STATIC ? "static" : v.linkage === BTF_VAR_GLOBAL_EXTERN ? "extern" : "unknown";
      mapErr(EOPNOTSUPP, `map '${v.name}': unsupported map linkage ${l}.`);
    }
    const def = btf.skipModsAndTypedefs(v.type).t;
    if (def.kind !== BTF_KIND_STRUCT) mapErr(EINVAL, `map '${v.name}': unexpected def kind ${btfKindStr(def.kind)}.`);
    if (def.size > vi.size) mapErr(EINVAL, `map '${v.name}': invalid def size.`);
    maps.push({ name: v.name, varIdx, offset: vi.offset, size: vi.size, def: parseBtfMapDef(btf, v.name, def, strict) });
  });
  return { datasecId, maps };
}
