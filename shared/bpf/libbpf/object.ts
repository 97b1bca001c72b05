// BPF object opener: from ELF bytes to map and program specs ready for
// BPF_MAP_CREATE / BPF_PROG_LOAD. Mirrors libbpf's bpf_object__open path
// (tools/lib/bpf/libbpf.c: bpf_object__elf_collect, bpf_object__add_programs,
// bpf_object__init_maps, bpf_object__collect_relos, bpf_program__record_reloc,
// bpf_object__collect_map_relos, bpf_object__reloc_code, bpf_object__relocate_data)
// plus libbpf 0.x legacy "maps" sections (bpf_object__init_user_maps).
import { E2BIG, EINVAL, ENOENT, EOPNOTSUPP, KernelError } from "../../errno.ts";
import { Btf, BTF_KIND_DATASEC, BTF_KIND_VAR, BTF_VAR_STATIC, fixupDatasecs, parseBtf, parseBtfExtLineInfo, readBtfMaps } from "./btf.ts";
import type { BtfLineInfo, BtfMapDef } from "./btf.ts";
import {
  OPEN_ERR, parseElf, readRels, relLabel, relSymbol, secLabel, sectionByName, symDisplayName,
  SHF_EXECINSTR, SHN_LORESERVE, SHT_LLVM_ADDRSIG, SHT_NOBITS, SHT_PROGBITS, SHT_REL, SHT_STRTAB, SHT_SYMTAB,
  STB_GLOBAL, STB_LOCAL, STB_WEAK, STT_FUNC, STT_NOTYPE, STT_OBJECT, STT_SECTION, STV_HIDDEN, STV_INTERNAL,
} from "./elf.ts";
import type { ElfFile, ElfSection, ElfSymbol } from "./elf.ts";
import { BPF_INSN_SZ, BpfInsns } from "../isa/insn.ts";
import type { BpfMapAttr } from "../maps/map.ts";
import {
  BPF_F_MMAPABLE, BPF_F_RDONLY_PROG, BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_ARRAY_OF_MAPS, BPF_MAP_TYPE_HASH_OF_MAPS,
  BPF_MAP_TYPE_PROG_ARRAY, BPF_MAX_SUBPROGS, BPF_OBJ_NAME_LEN, BPF_PROG_TYPE_KPROBE, BPF_PROG_TYPE_SCHED_ACT, BPF_PROG_TYPE_SCHED_CLS,
  BPF_PROG_TYPE_SOCKET_FILTER, BPF_PROG_TYPE_TRACEPOINT, BPF_PROG_TYPE_UNSPEC, BPF_PROG_TYPE_XDP,
  BPF_PSEUDO_CALL, BPF_PSEUDO_FUNC, BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_VALUE,
} from "../isa/uapi.ts";

// enum bpf_attach_type values for XDP programs (include/uapi/linux/bpf.h).
export const BPF_XDP_DEVMAP = 38;
export const BPF_XDP_CPUMAP = 39;
export const BPF_XDP = 37;

const LD_IMM64 = 0x18; // BPF_LD | BPF_IMM | BPF_DW
const JMP_CALL = 0x85; // BPF_JMP | BPF_CALL (| BPF_K)

export type GlobalSection = ".rodata" | ".data" | ".bss";

export interface BpfMapSpec {
  /** Map name: the variable name, or "<obj prefix>.rodata"-style for global data (libbpf internal_map_name). */
  name: string;
  /** BPF_MAP_CREATE attributes; attr.name is the name cut to BPF_OBJ_NAME_LEN - 1 bytes. */
  attr: BpfMapAttr;
  /** Initial value of the single element of .data/.rodata maps; null otherwise. */
  initData: Uint8Array | null;
  /** Kind of global-data map (".rodata" also for ".rodata.*" sections); null for declared maps. */
  globalSection: GlobalSection | null;
  /** ELF section the map comes from: ".maps", "maps" (legacy), ".rodata", ".data.foo"... */
  secName: string;
  /** PROG_ARRAY slots initialised in ".maps" (`__array(values, ...)`), by slot index. */
  initProgs: { index: number; progName: string }[];
  /** Map-in-map slots initialised in ".maps", by slot index. */
  initMaps: { index: number; mapName: string }[];
  /** Inner map template of a map-in-map (libbpf "<name>.inner"). */
  innerAttr: BpfMapAttr | null;
  /** LIBBPF_PIN_NONE (0) or LIBBPF_PIN_BY_NAME (1). */
  pinning: number;
  keyTypeName: string | null;
  valueTypeName: string | null;
}

export interface BpfMapReloc {
  /** First half of the ld_imm64 in the linked program. */
  insnIdx: number;
  mapIdx: number;
  /** "fd": src_reg BPF_PSEUDO_MAP_FD; "value": BPF_PSEUDO_MAP_VALUE with `off` in the second imm. */
  kind: "fd" | "value";
  off: number;
}

export interface BpfLineInfoRec extends BtfLineInfo {
  /** Instruction index in the linked program. */
  readonly insnIdx: number;
}

export interface BpfProgSpec {
  name: string;
  /** Section name without libbpf's leading "?" (see autoload). */
  secName: string;
  progType: number;
  expectedAttachType: number;
  xdpFrags: boolean;
  /** False for SEC("?...") programs, which libbpf does not load by default. */
  autoload: boolean;
  /** Main program followed by the .text subprograms it calls (transitively), calls relocated. */
  insns: BpfInsns;
  mapRelocs: BpfMapReloc[];
  /** Functions in the linked program by first insn; the main program is at 0. */
  subprogs: { name: string; insnOff: number }[];
  /** Source lines from .BTF.ext, by linked insn index (empty without .BTF.ext). */
  lineInfo: BpfLineInfoRec[];
}

export interface BpfObjectSpec {
  /** Object name: file basename up to the first '.', at most 15 bytes (libbpf obj->name). */
  name: string;
  /** "license" section text, "" when absent (libbpf accepts objects without one). */
  license: string;
  /** "version" section value, 0 when absent. */
  kernVersion: number;
  maps: BpfMapSpec[];
  progs: BpfProgSpec[];
  /** The object's BTF, when it has a valid .BTF section. */
  btf: Btf | null;
}

export interface OpenOptions {
  /** File path: used in messages and, like libbpf, to derive the object name. */
  file?: string;
  /** Object name override (libbpf bpf_object_open_opts.object_name). */
  name?: string;
}

interface Relo {
  kind: "call" | "subprog_addr" | "ld64" | "data";
  insnIdx: number;
  mapIdx: number;
  symOff: number;
}

interface RawProg {
  name: string;
  secIdx: number;
  secName: string;
  /** Offset of the first insn within the section, in insns. */
  secInsnOff: number;
  insns: BpfInsns;
  isSubprog: boolean;
  relos: Map<number, Relo>;
}

interface MapState {
  spec: BpfMapSpec;
  secIdx: number;
  secOffset: number;
  /** Global-data kind for data relocations; null for declared maps. */
  dataKind: GlobalSection | null;
  varIdx: number;
  varSize: number;
}

interface Ctx {
  elf: ElfFile;
  file: string;
  objName: string;
  license: string;
  kernVersion: number;
  textIdx: number;
  legacyMapsIdx: number;
  btfMapsIdx: number;
  btfSec: ElfSection | null;
  btfExtSec: ElfSection | null;
  dataSecs: { sec: ElfSection; kind: GlobalSection }[];
  relSecs: ElfSection[];
  progs: RawProg[];
  maps: MapState[];
  btf: Btf | null;
  btfMapsDatasecId: number;
}

function fail(msg: string, errno = EINVAL): never {
  throw new KernelError(errno, OPEN_ERR + msg);
}

/** Runs a BTF-layer step, giving its KernelError the open-error prefix. */
function step<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof KernelError && !e.message.startsWith(OPEN_ERR)) throw new KernelError(e.errno, OPEN_ERR + e.message, { cause: e });
    throw e;
  }
}

/**
 * Opens a BPF ELF object like libbpf's bpf_object__open_mem(): collects
 * programs, maps (BTF-defined, legacy "maps", global data), relocations and
 * static prog-array initialisers, and links .text subprograms into every
 * entry program. Throws KernelError: EINVAL for malformed objects, ENOENT
 * for a missing symbol table or missing BTF where maps need it, EOPNOTSUPP
 * for features libbpf refuses (static programs, unknown map fields) or vxo
 * does not model (externs).
 * @see bpf_object_open() in libbpf.c
 */
export function openObject(bytes: Uint8Array, opts: OpenOptions = {}): BpfObjectSpec {
  const file = opts.file ?? "<memory>";
  const elf = parseElf(bytes, file);
  const ctx: Ctx = {
    elf, file, objName: objectName(opts), license: "", kernVersion: 0, textIdx: 0, legacyMapsIdx: -1,
    btfMapsIdx: -1, btfSec: null, btfExtSec: null, dataSecs: [], relSecs: [], progs: [], maps: [], btf: null,
    btfMapsDatasecId: -1,
  };
  collectSections(ctx);
  initBtf(ctx);
  initLegacyMaps(ctx);
  initBtfMaps(ctx);
  initDataMaps(ctx);
  for (const rs of ctx.relSecs) {
    if (rs.info === ctx.btfMapsIdx) collectMapRelos(ctx, rs);
    else collectProgRelos(ctx, rs);
  }
  const lines = ctx.btf && ctx.btfExtSec ? parseBtfExtLineInfo(ctx.btfExtSec.data, ctx.btf) : null;
  const progs = ctx.progs.filter((p) => !p.isSubprog).map((p) => linkProgram(ctx, p, lines));
  return { name: ctx.objName, license: ctx.license, kernVersion: ctx.kernVersion, maps: ctx.maps.map((m) => m.spec), progs, btf: ctx.btf };
}

/** libbpf: basename, cut to 15 bytes, then cut at the first '.'. */
function objectName(opts: OpenOptions): string {
  if (opts.name !== undefined) return opts.name.slice(0, BPF_OBJ_NAME_LEN - 1);
  if (opts.file === undefined) return "obj";
  const base = opts.file.slice(opts.file.lastIndexOf("/") + 1).slice(0, BPF_OBJ_NAME_LEN - 1);
  const dot = base.indexOf(".");
  return dot < 0 ? base : base.slice(0, dot);
}

/** Sections libbpf never looks at (ignore_elf_section). */
function ignoredSection(s: ElfSection): boolean {
  if (s.type === SHT_STRTAB || s.type === SHT_LLVM_ADDRSIG) return true;
  if (s.type === SHT_PROGBITS && s.size === 0 && s.name === ".text") return true;
  if (s.name.startsWith(".debug_")) return true;
  if (s.name.startsWith(".rel")) {
    const t = s.name.slice(4);
    if (t.startsWith(".debug_") || t === ".BTF" || t === ".BTF.ext") return true;
  }
  return false;
}

/** @see bpf_object__elf_collect() (second pass) in libbpf.c */
function collectSections(ctx: Ctx): void {
  const { elf } = ctx;
  for (const s of elf.sections) {
    if (s.idx === 0 || ignoredSection(s)) continue;
    if (s.name === "license") {
      ctx.license = readLicense(s);
    } else if (s.name === "version") {
      if (s.size !== 4 || s.type === SHT_NOBITS) fail(`invalid kver section in ${ctx.file} (section ${secLabel(s)}, ${s.size} bytes)`);
      ctx.kernVersion = new DataView(s.data.buffer, s.data.byteOffset, 4).getUint32(0, true);
    } else if (s.name === "maps") {
      ctx.legacyMapsIdx = s.idx;
    } else if (s.name === ".maps") {
      ctx.btfMapsIdx = s.idx;
    } else if (s.name === ".BTF" || s.name === ".BTF.ext") {
      if (s.type !== SHT_PROGBITS) fail(`section ${secLabel(s)} has type ${s.type}, not SHT_PROGBITS`);
      if (s.name === ".BTF") ctx.btfSec = s;
      else ctx.btfExtSec = s;
    } else if (s.type === SHT_SYMTAB) {
      // read by parseElf
    } else if (s.type === SHT_PROGBITS && s.size > 0) {
      if (s.flags & SHF_EXECINSTR) {
        if (s.name === ".text") ctx.textIdx = s.idx;
        addPrograms(ctx, s);
      } else if (s.name === ".data" || s.name.startsWith(".data.")) {
        ctx.dataSecs.push({ sec: s, kind: ".data" });
      } else if (s.name === ".rodata" || s.name.startsWith(".rodata.")) {
        ctx.dataSecs.push({ sec: s, kind: ".rodata" });
      }
    } else if (s.type === SHT_REL) {
      if (s.entsize !== 16 || s.info >= elf.sections.length) {
        fail(`section ${secLabel(s)}: bad relocation section (sh_entsize ${s.entsize}, sh_info ${s.info}, ${elf.sections.length} sections)`);
      }
      const target = elf.sections[s.info]!;
      if ((target.flags & SHF_EXECINSTR) || s.name === ".rel.maps") ctx.relSecs.push(s);
    } else if (s.type === SHT_NOBITS && (s.name === ".bss" || s.name.startsWith(".bss."))) {
      ctx.dataSecs.push({ sec: s, kind: ".bss" });
    }
  }
  // libbpf treats the lone .text function of an object as its only program.
  const isSubprogs = ctx.progs.length > 1;
  for (const p of ctx.progs) p.isSubprog = p.secIdx === ctx.textIdx && isSubprogs;
  ctx.progs.sort((a, b) => a.secIdx - b.secIdx || a.secInsnOff - b.secInsnOff);
}

/** libbpf copies at most 63 bytes, stopping at the section end or a NUL. */
function readLicense(s: ElfSection): string {
  let out = "";
  for (let i = 0; i < s.data.length && i < 63 && s.data[i] !== 0; i++) out += String.fromCharCode(s.data[i]!);
  return out;
}

/** One program per STT_FUNC symbol of an executable section. @see bpf_object__add_programs() */
function addPrograms(ctx: Ctx, s: ElfSection): void {
  for (const sym of ctx.elf.symbols) {
    if (sym.shndx !== s.idx || sym.type !== STT_FUNC) continue;
    const off = sym.value;
    const size = sym.size;
    if (off + size > s.size) fail(`sec '${s.name}': program at offset ${off} crosses section boundary (symbol #${sym.idx} '${sym.name}', size ${size}, section ${s.size} bytes)`);
    if (s.idx !== ctx.textIdx && sym.bind === STB_LOCAL) fail(`sec '${s.name}': program '${sym.name}' is static and not supported`, EOPNOTSUPP);
    if (size === 0 || size % BPF_INSN_SZ || off % BPF_INSN_SZ) fail(`sec '${s.name}': corrupted program '${sym.name}', offset ${off}, size ${size}`);
    ctx.progs.push({
      name: sym.name, secIdx: s.idx, secName: s.name, secInsnOff: off / BPF_INSN_SZ,
      insns: BpfInsns.fromBytes(s.data, off, size), isSubprog: false, relos: new Map(),
    });
  }
}

/** Parses .BTF and fixes up DATASECs; BTF is mandatory only when ".maps" exists. @see bpf_object__init_btf() */
function initBtf(ctx: Ctx): void {
  const needsBtf = ctx.btfMapsIdx >= 0;
  if (ctx.btfSec) {
    try {
      ctx.btf = parseBtf(ctx.btfSec.data);
    } catch (e) {
      if (!(e instanceof KernelError)) throw e;
      if (needsBtf) fail(`Error loading ELF section .BTF: ${e.message}. BTF is required, but is missing or corrupted.`, e.errno);
      ctx.btf = null;
    }
  } else if (needsBtf) {
    fail("BTF is required, but is missing or corrupted (no .BTF section, needed by .maps).", ENOENT);
  }
  const btf = ctx.btf;
  if (!btf) return;
  const { elf } = ctx;
  step(() => fixupDatasecs(
    btf,
    (name) => sectionByName(elf, name)?.size ?? null,
    (name) => {
      for (const sym of elf.symbols) {
        if (sym.type !== STT_OBJECT || (sym.bind !== STB_GLOBAL && sym.bind !== STB_WEAK) || sym.name !== name) continue;
        return { value: sym.value, hidden: sym.visibility === STV_HIDDEN || sym.visibility === STV_INTERNAL };
      }
      return null;
    },
  ));
}

function attrOf(name: string, mapType: number, keySize: number, valueSize: number, maxEntries: number, mapFlags: number): BpfMapAttr {
  return { mapType, keySize, valueSize, maxEntries, mapFlags, name: name.slice(0, BPF_OBJ_NAME_LEN - 1) };
}

function addMap(ctx: Ctx, m: Omit<MapState, "spec">, spec: Partial<BpfMapSpec> & Pick<BpfMapSpec, "name" | "attr" | "secName">): void {
  ctx.maps.push({
    ...m,
    spec: {
      initData: null, globalSection: null, initProgs: [], initMaps: [], innerAttr: null, pinning: 0,
      keyTypeName: null, valueTypeName: null, ...spec,
    },
  });
}

/**
 * libbpf 0.x "maps" section: struct bpf_map_def {type, key_size, value_size,
 * max_entries, map_flags} per symbol; the record size is the section size
 * divided by the number of map symbols; bytes past the known fields must be 0.
 * @see bpf_object__init_user_maps() in libbpf v0.8
 */
function initLegacyMaps(ctx: Ctx): void {
  if (ctx.legacyMapsIdx < 0) return;
  const sec = ctx.elf.sections[ctx.legacyMapsIdx]!;
  if (sec.type === SHT_NOBITS) fail(`elf: legacy 'maps' section ${secLabel(sec)} has no data in ${ctx.file}`);
  const syms = ctx.elf.symbols.filter((s) => s.shndx === sec.idx && s.type !== STT_SECTION);
  const defSize = syms.length ? Math.floor(sec.size / syms.length) : 0;
  if (!sec.size || defSize * syms.length !== sec.size || defSize < 4) {
    fail(`elf: unable to determine legacy map definition size in ${ctx.file} (section ${secLabel(sec)}, ${sec.size} bytes, ${syms.length} map symbols)`);
  }
  const dv = new DataView(sec.data.buffer, sec.data.byteOffset, sec.data.byteLength);
  for (const sym of syms) {
    if (sym.bind === STB_LOCAL) fail(`map '${sym.name}' (legacy): static maps are not supported`, EOPNOTSUPP);
    if (sym.value + defSize > sec.size) fail(`corrupted maps section in ${ctx.file}: map "${sym.name}" at offset ${sym.value} is past the section end (${sec.size} bytes)`);
    const f = [0, 0, 0, 0, 0];
    for (let i = 0; i < 5 && (i + 1) * 4 <= defSize; i++) f[i] = dv.getUint32(sym.value + i * 4, true);
    for (let b = 20; b < defSize; b++) {
      if (sec.data[sym.value + b] !== 0) fail(`maps section in ${ctx.file}: "${sym.name}" has unrecognized, non-zero options`);
    }
    addMap(ctx, { secIdx: sec.idx, secOffset: sym.value, dataKind: null, varIdx: -1, varSize: defSize }, {
      name: sym.name, secName: "maps", attr: attrOf(sym.name, f[0]!, f[1]!, f[2]!, f[3]!, f[4]!),
    });
  }
}

function defAttr(name: string, d: BtfMapDef): BpfMapAttr {
  const a = attrOf(name, d.mapType, d.keySize, d.valueSize, d.maxEntries, d.mapFlags);
  if (d.keyTypeId) a.btfKeyTypeId = d.keyTypeId;
  if (d.valueTypeId) a.btfValueTypeId = d.valueTypeId;
  return a;
}

/** @see bpf_object__init_user_btf_maps() in libbpf.c */
function initBtfMaps(ctx: Ctx): void {
  const btf = ctx.btf;
  if (ctx.btfMapsIdx < 0 || !btf) return;
  const sec = ctx.elf.sections[ctx.btfMapsIdx]!;
  const { datasecId, maps } = step(() => readBtfMaps(btf, sec.size));
  ctx.btfMapsDatasecId = datasecId;
  for (const m of maps) {
    addMap(ctx, { secIdx: sec.idx, secOffset: m.offset, dataKind: null, varIdx: m.varIdx, varSize: m.size }, {
      name: m.name, secName: ".maps", attr: defAttr(m.name, m.def), pinning: m.def.pinning,
      innerAttr: m.def.inner ? defAttr(`${m.name}.inner`, m.def.inner) : null,
      keyTypeName: m.def.keyTypeId ? btf.typeName(m.def.keyTypeId) : null,
      valueTypeName: m.def.valueTypeId ? btf.typeName(m.def.valueTypeId) : null,
    });
  }
}

/** libbpf internal_map_name(): object-name prefix + section name, 15 bytes, sanitised. */
function internalMapName(objName: string, secName: string): string {
  let sfx = Math.max(7, secName.length);
  if (sfx >= BPF_OBJ_NAME_LEN) sfx = BPF_OBJ_NAME_LEN - 1;
  const pfx = secName.indexOf(".", 1) >= 0 ? 0 : Math.min(BPF_OBJ_NAME_LEN - sfx - 1, objName.length);
  const raw = (objName.slice(0, pfx) + secName.slice(0, sfx)).slice(0, BPF_OBJ_NAME_LEN - 1);
  return raw.replace(/[^A-Za-z0-9_.]/g, "_");
}

/** One single-element ARRAY per non-empty .data*, .rodata*, .bss* section. @see bpf_object__init_internal_map() */
function initDataMaps(ctx: Ctx): void {
  const sorted = [...ctx.dataSecs].sort((a, b) => a.sec.idx - b.sec.idx);
  for (const { sec, kind } of sorted) {
    if (sec.size === 0) continue;
    const name = internalMapName(ctx.objName, sec.name);
    let flags = kind === ".rodata" ? BPF_F_RDONLY_PROG : 0;
    const attr = attrOf(name, BPF_MAP_TYPE_ARRAY, 4, sec.size, 1, 0);
    const btf = ctx.btf;
    const valueId = btf ? btf.findByName(sec.name) : -1;
    if (btf && valueId > 0) {
      attr.btfValueTypeId = valueId;
      // mmap()able only when user space can see a variable (libbpf map_is_mmapable).
      const t = btf.types[valueId]!;
      if (t.kind === BTF_KIND_DATASEC && t.secinfos.some((v) => btf.types[v.type]!.kind === BTF_KIND_VAR && btf.types[v.type]!.linkage !== BTF_VAR_STATIC)) {
        flags |= BPF_F_MMAPABLE;
      }
    }
    attr.mapFlags = flags;
    addMap(ctx, { secIdx: sec.idx, secOffset: 0, dataKind: kind, varIdx: -1, varSize: sec.size }, {
      name, secName: sec.name, attr, globalSection: kind,
      initData: kind === ".bss" ? null : sec.data.slice(),
    });
  }
}

/** Program containing a section insn (libbpf find_prog_by_sec_insn). */
function progAt(ctx: Ctx, secIdx: number, insnIdx: number): RawProg | null {
  for (const p of ctx.progs) {
    if (p.secIdx === secIdx && insnIdx >= p.secInsnOff && insnIdx < p.secInsnOff + p.insns.len) return p;
  }
  return null;
}

function isExtern(sym: ElfSymbol): boolean {
  return sym.shndx === 0 && (sym.bind === STB_GLOBAL || sym.bind === STB_WEAK) && sym.type === STT_NOTYPE;
}

/** @see bpf_object__collect_prog_relos() in libbpf.c */
function collectProgRelos(ctx: Ctx, rs: ElfSection): void {
  const { elf } = ctx;
  const target = elf.sections[rs.info]!;
  for (const rel of readRels(elf, rs)) {
    const sym = relSymbol(elf, rs, rel);
    const where = `${relLabel(rs, rel)} (symbol #${rel.sym} '${symDisplayName(elf, sym)}')`;
    if (rel.offset % BPF_INSN_SZ || rel.offset >= target.size) {
      fail(`sec '${rs.name}': invalid offset 0x${rel.offset.toString(16)} for relo #${rel.idx}: ${where} is outside section ${secLabel(target)} (${target.size} bytes) or misaligned`);
    }
    const secInsn = rel.offset / BPF_INSN_SZ;
    const prog = progAt(ctx, target.idx, secInsn);
    if (!prog) continue; // libbpf: no function covers it (overridden weak function)
    const insnIdx = secInsn - prog.secInsnOff;
    prog.relos.set(insnIdx, recordReloc(ctx, prog, insnIdx, sym, where));
  }
}

/** Classifies one relocation. @see bpf_program__record_reloc() in libbpf.c */
function recordReloc(ctx: Ctx, prog: RawProg, insnIdx: number, sym: ElfSymbol, where: string): Relo {
  const p = prog.insns;
  const code = p.code[insnIdx]!;
  const symName = symDisplayName(ctx.elf, sym);
  const pre = `${where}: prog '${prog.name}'`;
  if (code !== JMP_CALL && code !== LD_IMM64) fail(`${pre}: invalid relo against '${symName}' for insns[${insnIdx}].code 0x${code.toString(16)}`);
  if (code === LD_IMM64 && insnIdx + 1 >= p.len) fail(`${pre}: ld_imm64 at insns[${insnIdx}] has no second half`);
  if (isExtern(sym)) fail(`${pre}: extern '${symName}' is not supported (no .kconfig/.ksyms externs in vxo)`, EOPNOTSUPP);
  const shndx = sym.shndx;
  if (code === JMP_CALL) {
    if (p.src[insnIdx] !== BPF_PSEUDO_CALL) fail(`${pre}: incorrect bpf_call opcode (src_reg ${p.src[insnIdx]})`);
    if (!shndx || shndx !== ctx.textIdx) fail(`${pre}: bad call relo against '${symName}' in section '${ctx.elf.sections[shndx]?.name ?? "<?>"}'`);
    if (sym.value % BPF_INSN_SZ) fail(`${pre}: bad call relo against '${symName}' at offset ${sym.value}`);
    return { kind: "call", insnIdx, mapIdx: -1, symOff: sym.value };
  }
  if (!shndx || shndx >= SHN_LORESERVE) {
    fail(`${pre}: invalid relo against '${symName}' in special section 0x${shndx.toString(16)}; forgot to initialize global var?..`);
  }
  const inText = shndx === ctx.textIdx && ((sym.bind === STB_LOCAL && sym.type === STT_SECTION) || (sym.bind === STB_GLOBAL && sym.type === STT_FUNC));
  if (inText) {
    if (sym.value % BPF_INSN_SZ || p.imm[insnIdx]! % BPF_INSN_SZ) fail(`${pre}: bad subprog addr relo against '${symName}' at offset ${sym.value}+${p.imm[insnIdx]}`);
    return { kind: "subprog_addr", insnIdx, mapIdx: -1, symOff: sym.value };
  }
  const secName = ctx.elf.sections[shndx]!.name;
  const data = ctx.dataSecs.find((d) => d.sec.idx === shndx);
  if (!data) {
    if (shndx !== ctx.btfMapsIdx && shndx !== ctx.legacyMapsIdx) fail(`${pre}: bad map relo against '${symName}' in section '${secName}'`);
    const mapIdx = ctx.maps.findIndex((m) => m.dataKind === null && m.secIdx === shndx && m.secOffset === sym.value);
    if (mapIdx < 0) fail(`${pre}: map relo failed to find map for section '${secName}', off ${sym.value}`);
    return { kind: "ld64", insnIdx, mapIdx, symOff: 0 };
  }
  const mapIdx = ctx.maps.findIndex((m) => m.dataKind !== null && m.secIdx === shndx);
  if (mapIdx < 0) fail(`${pre}: data relo failed to find map for section '${secName}'`);
  return { kind: "data", insnIdx, mapIdx, symOff: sym.value };
}

/** Static initialisers of PROG_ARRAY / map-in-map slots. @see bpf_object__collect_map_relos() in libbpf.c */
function collectMapRelos(ctx: Ctx, rs: ElfSection): void {
  const { elf } = ctx;
  const btf = ctx.btf;
  if (!btf || ctx.btfMapsDatasecId < 0) fail(`${secLabel(rs)}: .maps relocations without BTF map definitions`);
  for (const rel of readRels(elf, rs)) {
    const sym = relSymbol(elf, rs, rel);
    const where = `${relLabel(rs, rel)} (symbol #${rel.sym} '${sym.name}')`;
    const map = ctx.maps.find((m) => m.secIdx === ctx.btfMapsIdx && m.dataKind === null &&
      m.secOffset <= rel.offset && rel.offset + 8 <= m.secOffset + m.varSize);
    if (!map) fail(`.maps relo #${rel.idx}: cannot find map '${sym.name}' at rel->r_offset ${rel.offset}: ${where}`);
    const t = map.spec.attr.mapType;
    const isMapInMap = t === BPF_MAP_TYPE_ARRAY_OF_MAPS || t === BPF_MAP_TYPE_HASH_OF_MAPS;
    if (!isMapInMap && t !== BPF_MAP_TYPE_PROG_ARRAY) fail(`${where}: map '${map.spec.name}' should be map-in-map or prog-array`);
    const def = btf.skipModsAndTypedefs(btf.types[btf.types[ctx.btfMapsDatasecId]!.secinfos[map.varIdx]!.type]!.type).t;
    const last = def.members[def.members.length - 1];
    if (!last || last.name !== "values") fail(`${where}: map '${map.spec.name}' has no trailing 'values' member`);
    const base = map.secOffset + last.bitOffset / 8;
    if (rel.offset < base || (rel.offset - base) % 8) fail(`${where}: offset is not a 'values' slot of map '${map.spec.name}'`);
    const index = (rel.offset - base) / 8;
    if (isMapInMap) {
      if (sym.shndx !== ctx.btfMapsIdx) fail(`.maps relo #${rel.idx}: '${sym.name}' isn't a BTF-defined map: ${where}`);
      const targ = ctx.maps.find((m) => m.secIdx === ctx.btfMapsIdx && m.spec.name === sym.name);
      if (!targ) fail(`.maps relo #${rel.idx}: '${sym.name}' isn't a valid map reference: ${where}`);
      map.spec.initMaps = map.spec.initMaps.filter((s) => s.index !== index).concat({ index, mapName: sym.name }).sort((a, b) => a.index - b.index);
      continue;
    }
    const targ = ctx.progs.find((p) => !p.isSubprog && p.name === sym.name);
    if (!targ) fail(`.maps relo #${rel.idx}: '${sym.name}' isn't a valid program reference: ${where}`);
    if (targ.secIdx !== sym.shndx || targ.secInsnOff * BPF_INSN_SZ !== sym.value) fail(`.maps relo #${rel.idx}: '${sym.name}' isn't an entry-point program: ${where}`);
    map.spec.initProgs = map.spec.initProgs.filter((s) => s.index !== index).concat({ index, progName: sym.name }).sort((a, b) => a.index - b.index);
  }
}

interface Placed { prog: RawProg; off: number; copy: BpfInsns }

/**
 * Builds an entry program: appends each .text subprogram the first time it is
 * called (depth first, as libbpf does), rewrites call/ld_imm64-func imms to
 * be relative to the linked image, then applies map and global-data relocations.
 * @see bpf_object__relocate_calls(), bpf_object__reloc_code(), bpf_object__relocate_data()
 */
function linkProgram(ctx: Ctx, main: RawProg, lines: Map<string, BtfLineInfo[]> | null): BpfProgSpec {
  const placed: Placed[] = [{ prog: main, off: 0, copy: main.insns.clone() }];
  let total = main.insns.len;
  const relocCode = (pl: Placed): void => {
    const { prog, copy } = pl;
    for (let i = 0; i < copy.len; i++) {
      const isCall = copy.code[i] === JMP_CALL && copy.src[i] === BPF_PSEUDO_CALL && copy.dst[i] === 0 && copy.off[i] === 0;
      const isFunc = copy.code[i] === LD_IMM64 && (copy.src[i] === BPF_PSEUDO_FUNC || prog.relos.get(i)?.kind === "subprog_addr");
      if (!isCall && !isFunc) continue;
      const relo = prog.relos.get(i);
      if (relo && relo.kind !== "call" && relo.kind !== "subprog_addr") fail(`prog '${prog.name}': unexpected relo for insn #${i}, type ${relo.kind}`);
      let target: number;
      if (relo) target = relo.kind === "call" ? relo.symOff / BPF_INSN_SZ + copy.imm[i]! + 1 : (relo.symOff + copy.imm[i]!) / BPF_INSN_SZ;
      else if (isFunc) fail(`prog '${prog.name}': missing subprog addr relo for insn #${i}`);
      else target = prog.secInsnOff + i + copy.imm[i]! + 1;
      const sub = ctx.textIdx ? progAt(ctx, ctx.textIdx, target) : null;
      if (!sub) fail(`prog '${prog.name}': no .text section found yet sub-program call exists (insn #${i} targets .text insn ${target})`);
      if (sub.secInsnOff !== target) fail(`prog '${prog.name}': insn #${i} targets .text insn ${target}, inside subprogram '${sub.name}' (which starts at ${sub.secInsnOff})`);
      let dst = placed.find((x) => x.prog === sub);
      if (!dst) {
        // The kernel refuses more (verifier: "too many subprograms"); stopping here also bounds the recursion.
        if (placed.length >= BPF_MAX_SUBPROGS) fail(`prog '${main.name}': too many subprograms (more than ${BPF_MAX_SUBPROGS})`, E2BIG);
        dst = { prog: sub, off: total, copy: sub.insns.clone() };
        placed.push(dst);
        total += sub.insns.len;
        relocCode(dst);
      }
      copy.imm[i] = dst.off - (pl.off + i) - 1;
      if (isFunc) copy.src[i] = BPF_PSEUDO_FUNC;
    }
  };
  relocCode(placed[0]!);
  const insns = BpfInsns.concat(placed.map((x) => x.copy));
  const mapRelocs: BpfMapReloc[] = [];
  for (const pl of placed) {
    for (const r of pl.prog.relos.values()) {
      if (r.kind !== "ld64" && r.kind !== "data") continue;
      const g = pl.off + r.insnIdx;
      if (r.kind === "ld64") {
        insns.src[g] = BPF_PSEUDO_MAP_FD;
        insns.imm[g] = 0;
        mapRelocs.push({ insnIdx: g, mapIdx: r.mapIdx, kind: "fd", off: 0 });
      } else {
        const off = (insns.imm[g]! + r.symOff) | 0;
        insns.src[g] = BPF_PSEUDO_MAP_VALUE;
        insns.imm[g + 1] = off;
        insns.imm[g] = 0;
        mapRelocs.push({ insnIdx: g, mapIdx: r.mapIdx, kind: "value", off });
      }
    }
  }
  mapRelocs.sort((a, b) => a.insnIdx - b.insnIdx);
  const secName = main.secName.startsWith("?") ? main.secName.slice(1) : main.secName;
  return {
    name: main.name, secName, ...secDef(secName), autoload: !main.secName.startsWith("?"), insns, mapRelocs,
    subprogs: placed.map((x) => ({ name: x.prog.name, insnOff: x.off })),
    lineInfo: lines ? linkLines(placed, lines) : [],
  };
}

function linkLines(placed: readonly Placed[], lines: Map<string, BtfLineInfo[]>): BpfLineInfoRec[] {
  const out: BpfLineInfoRec[] = [];
  for (const pl of placed) {
    const recs = lines.get(pl.prog.secName);
    if (!recs) continue;
    for (const r of recs) {
      const secInsn = r.insnOff / BPF_INSN_SZ;
      if (r.insnOff % BPF_INSN_SZ || secInsn < pl.prog.secInsnOff || secInsn >= pl.prog.secInsnOff + pl.prog.insns.len) continue;
      out.push({ ...r, insnIdx: secInsn - pl.prog.secInsnOff + pl.off });
    }
  }
  return out.sort((a, b) => a.insnIdx - b.insnIdx);
}

/**
 * Program type for a section name: libbpf's XDP section definitions
 * ("xdp", "xdp.frags", "xdp/devmap", "xdp/cpumap", "xdp.frags/devmap|cpumap"),
 * plus the legacy names vxo accepts as XDP: any other "xdp*" name (libbpf 0.x
 * matched by prefix) and "prog" (iproute2's default). A few other classic
 * types are recognised; everything else is BPF_PROG_TYPE_UNSPEC.
 * @see section_defs[] and sec_def_matches() in libbpf.c
 */
export function secDef(secName: string): { progType: number; expectedAttachType: number; xdpFrags: boolean } {
  if (secName.startsWith("xdp") || secName === "prog") {
    const xdpFrags = secName === "xdp.frags" || secName.startsWith("xdp.frags/");
    const att = secName.endsWith("/devmap") ? BPF_XDP_DEVMAP : secName.endsWith("/cpumap") ? BPF_XDP_CPUMAP : BPF_XDP;
    return { progType: BPF_PROG_TYPE_XDP, expectedAttachType: att, xdpFrags };
  }
  const plus = (pfx: string): boolean => secName === pfx || secName.startsWith(pfx + "/");
  let progType = BPF_PROG_TYPE_UNSPEC;
  if (secName === "socket") progType = BPF_PROG_TYPE_SOCKET_FILTER;
  else if (plus("kprobe") || plus("kretprobe")) progType = BPF_PROG_TYPE_KPROBE;
  else if (secName === "tc" || secName === "classifier") progType = BPF_PROG_TYPE_SCHED_CLS;
  else if (secName === "action") progType = BPF_PROG_TYPE_SCHED_ACT;
  else if (plus("tracepoint") || plus("tp")) progType = BPF_PROG_TYPE_TRACEPOINT;
  return { progType, expectedAttachType: 0, xdpFrags: false };
}
