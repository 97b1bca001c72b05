// ELF64 relocatable-object reader for BPF objects. Mirrors the ELF layer of
// libbpf's bpf_object__open (tools/lib/bpf/libbpf.c: bpf_object__elf_init,
// bpf_object__elf_collect, elf_sym_by_idx, elf_rel_by_idx) with libelf's
// bounds checks done by hand: every offset and size is validated against the
// file before it is read, and every failure is a KernelError(EINVAL) naming
// the header field, section or symbol at fault. Layouts: System V gABI,
// include/uapi/linux/elf.h.
import { EINVAL, ENOENT, KernelError } from "../../errno.ts";

export const ELFCLASS64 = 2;
export const ELFDATA2LSB = 1;
export const EV_CURRENT = 1;
export const ET_REL = 1;
export const EM_NONE = 0;
export const EM_BPF = 247;

export const SHT_NULL = 0;
export const SHT_PROGBITS = 1;
export const SHT_SYMTAB = 2;
export const SHT_STRTAB = 3;
export const SHT_RELA = 4;
export const SHT_NOBITS = 8;
export const SHT_REL = 9;
export const SHT_LLVM_ADDRSIG = 0x6fff4c03;

export const SHF_WRITE = 0x1;
export const SHF_ALLOC = 0x2;
export const SHF_EXECINSTR = 0x4;

export const SHN_UNDEF = 0;
export const SHN_LORESERVE = 0xff00;
export const SHN_ABS = 0xfff1;
export const SHN_COMMON = 0xfff2;
export const SHN_XINDEX = 0xffff;

export const STB_LOCAL = 0;
export const STB_GLOBAL = 1;
export const STB_WEAK = 2;
export const STT_NOTYPE = 0;
export const STT_OBJECT = 1;
export const STT_FUNC = 2;
export const STT_SECTION = 3;
export const STT_FILE = 4;
export const STV_DEFAULT = 0;
export const STV_INTERNAL = 1;
export const STV_HIDDEN = 2;

// Relocation types of the BPF backend (llvm/BinaryFormat/ELFRelocs/BPF.def).
export const R_BPF_NONE = 0;
export const R_BPF_64_64 = 1;
export const R_BPF_64_ABS64 = 2;
export const R_BPF_64_ABS32 = 3;
export const R_BPF_64_NODYLD32 = 4;
export const R_BPF_64_32 = 10;

export const ELF64_EHDR_SIZE = 64;
export const ELF64_SHDR_SIZE = 64;
export const ELF64_SYM_SIZE = 24;
export const ELF64_REL_SIZE = 16;

/** Prefix of every open error, as bpftool would report the failed open. */
export const OPEN_ERR = "Cannot open BPF object: ";

/** A section header with its name and a view of its bytes. */
export interface ElfSection {
  readonly idx: number;
  readonly name: string;
  readonly type: number;
  readonly flags: number;
  readonly offset: number;
  /** sh_size; for SHT_NOBITS this is the size in memory, not in the file. */
  readonly size: number;
  readonly link: number;
  readonly info: number;
  readonly entsize: number;
  /** The section's bytes in the file (empty for SHT_NOBITS). A view, not a copy. */
  readonly data: Uint8Array;
}

/** An Elf64_Sym with its name resolved and st_info/st_other split. */
export interface ElfSymbol {
  readonly idx: number;
  readonly name: string;
  readonly value: number;
  readonly size: number;
  readonly type: number;
  readonly bind: number;
  readonly visibility: number;
  readonly shndx: number;
  readonly nameOff: number;
}

/** An Elf64_Rel entry: r_offset, ELF64_R_SYM and ELF64_R_TYPE of r_info, and its index. */
export interface ElfRel {
  readonly idx: number;
  readonly offset: number;
  readonly sym: number;
  readonly type: number;
}

/** A parsed object: sections (index 0 is the null section) and the one symbol table. */
export interface ElfFile {
  readonly bytes: Uint8Array;
  readonly machine: number;
  readonly sections: readonly ElfSection[];
  readonly shstrndx: number;
  readonly symtabIdx: number;
  readonly strtabIdx: number;
  readonly symbols: readonly ElfSymbol[];
}

function fail(msg: string): never {
  throw new KernelError(EINVAL, OPEN_ERR + msg);
}

function hex(n: number): string {
  return "0x" + n.toString(16);
}

/** Section label used in messages: `7 (.relxdp)`. */
export function secLabel(s: ElfSection): string {
  return `${s.idx} (${s.name})`;
}

/** Reads a little-endian u64 as a Number (exact below 2^53, merely huge above). */
function u64(dv: DataView, off: number): number {
  return dv.getUint32(off + 4, true) * 0x1_0000_0000 + dv.getUint32(off, true);
}

/** NUL-terminated string at `off` inside `tab`; null when out of range or unterminated. */
export function cstrAt(tab: Uint8Array, off: number): string | null {
  if (off < 0 || off >= tab.length) return null;
  let end = off;
  while (end < tab.length && tab[end] !== 0) end++;
  if (end >= tab.length) return null;
  let s = "";
  for (let i = off; i < end; i++) s += String.fromCharCode(tab[i]!);
  return s;
}

interface RawShdr {
  name: number; type: number; flags: number; offset: number; size: number;
  link: number; info: number; entsize: number;
}

function readShdr(dv: DataView, at: number): RawShdr {
  return {
    name: dv.getUint32(at, true),
    type: dv.getUint32(at + 4, true),
    flags: u64(dv, at + 8),
    offset: u64(dv, at + 24),
    size: u64(dv, at + 32),
    link: dv.getUint32(at + 40, true),
    info: dv.getUint32(at + 44, true),
    entsize: u64(dv, at + 56),
  };
}

function checkIdent(b: Uint8Array, file: string): void {
  if (b.length < 4 || b[0] !== 0x7f || b[1] !== 0x45 || b[2] !== 0x4c || b[3] !== 0x46) {
    fail(`elf: '${file}' is not a proper ELF object (no ELF magic, ${b.length} bytes)`);
  }
  if (b.length < ELF64_EHDR_SIZE) fail(`elf: '${file}' is truncated: the ELF header needs ${ELF64_EHDR_SIZE} bytes, the file has ${b.length}`);
  if (b[4] !== ELFCLASS64) fail(`elf: '${file}' is not a 64-bit ELF object (EI_CLASS ${b[4]})`);
  if (b[5] !== ELFDATA2LSB) fail(`elf: endianness mismatch in ${file} (EI_DATA ${b[5]}, expected little endian)`);
  if (b[6] !== EV_CURRENT) fail(`elf: '${file}' has unsupported EI_VERSION ${b[6]}`);
}

/**
 * Parses the ELF header, section headers, section names and the symbol table.
 * Throws KernelError(EINVAL) for anything malformed, KernelError(ENOENT) when
 * there is no symbol table (libbpf: "stripped object file?").
 * @see bpf_object__elf_init, bpf_object__elf_collect (first pass) in libbpf.c
 */
export function parseElf(bytes: Uint8Array, file = "<memory>"): ElfFile {
  checkIdent(bytes, file);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const type = dv.getUint16(16, true);
  const machine = dv.getUint16(18, true);
  const version = dv.getUint32(20, true);
  if (type !== ET_REL || (machine !== EM_NONE && machine !== EM_BPF)) {
    fail(`elf: ${file} is not a valid eBPF object file (e_type ${type}, e_machine ${machine}; want ET_REL and EM_BPF)`);
  }
  if (version !== EV_CURRENT) fail(`elf: ${file} has unsupported e_version ${version}`);
  const shoff = u64(dv, 40);
  const shentsize = dv.getUint16(58, true);
  let shnum = dv.getUint16(60, true);
  let shstrndx = dv.getUint16(62, true);
  if (shoff === 0) fail(`elf: ${file} has no section header table (e_shoff 0)`);
  if (shentsize !== ELF64_SHDR_SIZE) fail(`elf: e_shentsize ${shentsize} is not ${ELF64_SHDR_SIZE} in ${file}`);
  if (shoff + ELF64_SHDR_SIZE > bytes.length) {
    fail(`elf: section header table at e_shoff ${hex(shoff)} is past the end of the file (${bytes.length} bytes)`);
  }
  // Extended numbering: section 0 carries the real count and string-table index.
  const sh0 = readShdr(dv, shoff);
  if (shnum === 0) shnum = sh0.size;
  if (shstrndx === SHN_XINDEX) shstrndx = sh0.link;
  if (shnum === 0) fail(`elf: ${file} has no sections`);
  if (shoff + shnum * ELF64_SHDR_SIZE > bytes.length) {
    fail(`elf: section header table (e_shoff ${hex(shoff)}, ${shnum} entries) is past the end of the file (${bytes.length} bytes)`);
  }
  if (shstrndx === SHN_UNDEF || shstrndx >= shnum) {
    fail(`elf: e_shstrndx ${shstrndx} is out of range (${shnum} sections) in ${file}`);
  }
  const raw: RawShdr[] = [];
  for (let i = 0; i < shnum; i++) raw.push(readShdr(dv, shoff + i * ELF64_SHDR_SIZE));
  const strSh = raw[shstrndx]!;
  if (strSh.type !== SHT_STRTAB) fail(`elf: e_shstrndx ${shstrndx} names a section of type ${strSh.type}, not SHT_STRTAB`);
  checkExtent(bytes, shstrndx, "section name table", strSh);
  const shstrtab = bytes.subarray(strSh.offset, strSh.offset + strSh.size);

  const sections: ElfSection[] = [];
  for (let i = 0; i < shnum; i++) {
    const r = raw[i]!;
    let name = "";
    if (i !== 0) {
      const n = cstrAt(shstrtab, r.name);
      if (n === null) fail(`elf: section ${i} name offset ${hex(r.name)} is outside the section name table (${strSh.size} bytes)`);
      name = n;
      if (r.type !== SHT_NOBITS && r.type !== SHT_NULL) checkExtent(bytes, i, name, r);
    }
    const data = i === 0 || r.type === SHT_NOBITS || r.type === SHT_NULL
      ? new Uint8Array(0) : bytes.subarray(r.offset, r.offset + r.size);
    sections.push({
      idx: i, name, type: r.type, flags: r.flags, offset: r.offset, size: r.size,
      link: r.link, info: r.info, entsize: r.entsize, data,
    });
  }
  const { symtabIdx, strtabIdx, symbols } = readSymbols(sections, file);
  return { bytes, machine, sections, shstrndx, symtabIdx, strtabIdx, symbols };
}

function checkExtent(bytes: Uint8Array, idx: number, name: string, r: RawShdr): void {
  if (r.offset > bytes.length || r.size > bytes.length || r.offset + r.size > bytes.length) {
    fail(`section ${idx} (${name}) offset ${hex(r.offset)} size ${hex(r.size)} is past the end of the file (${bytes.length} bytes)`);
  }
}

function readSymbols(sections: readonly ElfSection[], file: string): {
  symtabIdx: number; strtabIdx: number; symbols: ElfSymbol[];
} {
  let symtab: ElfSection | null = null;
  for (const s of sections) {
    if (s.type !== SHT_SYMTAB) continue;
    if (symtab) fail(`elf: multiple symbol tables in ${file} (sections ${symtab.idx} and ${s.idx})`);
    symtab = s;
  }
  if (!symtab) throw new KernelError(ENOENT, `${OPEN_ERR}elf: couldn't find symbol table in ${file}, stripped object file?`);
  if (symtab.entsize !== ELF64_SYM_SIZE || symtab.size % ELF64_SYM_SIZE !== 0) {
    fail(`section ${secLabel(symtab)}: symbol table entsize ${symtab.entsize} size ${hex(symtab.size)} is not a whole number of ${ELF64_SYM_SIZE}-byte symbols`);
  }
  const strtabIdx = symtab.link;
  if (strtabIdx === 0 || strtabIdx >= sections.length || sections[strtabIdx]!.type !== SHT_STRTAB) {
    fail(`elf: symbol strings section missing or invalid in ${file} (section ${secLabel(symtab)} sh_link ${strtabIdx})`);
  }
  const strtab = sections[strtabIdx]!.data;
  const d = symtab.data;
  const dv = new DataView(d.buffer, d.byteOffset, d.byteLength);
  const n = d.length / ELF64_SYM_SIZE;
  const symbols: ElfSymbol[] = [];
  for (let i = 0; i < n; i++) {
    const o = i * ELF64_SYM_SIZE;
    const nameOff = dv.getUint32(o, true);
    const info = dv.getUint8(o + 4);
    const other = dv.getUint8(o + 5);
    const shndx = dv.getUint16(o + 6, true);
    const name = nameOff === 0 ? "" : cstrAt(strtab, nameOff);
    if (name === null) {
      fail(`elf: symbol #${i} name offset ${hex(nameOff)} is outside the string table (section ${strtabIdx}, ${strtab.length} bytes)`);
    }
    symbols.push({
      idx: i, name, value: u64(dv, o + 8), size: u64(dv, o + 16),
      type: info & 0xf, bind: info >> 4, visibility: other & 0x3, shndx, nameOff,
    });
  }
  return { symtabIdx: symtab.idx, strtabIdx, symbols };
}

/**
 * Relocation entries of an SHT_REL section, after libbpf's format checks
 * (sh_entsize == 16, target section index in range). Symbol indices are not
 * resolved here; see relSymbol().
 * @see bpf_object__elf_collect (SHT_REL branch), elf_rel_by_idx
 */
export function readRels(elf: ElfFile, sec: ElfSection): ElfRel[] {
  if (sec.entsize !== ELF64_REL_SIZE || sec.size % ELF64_REL_SIZE !== 0) {
    fail(`section ${secLabel(sec)}: relocation entsize ${sec.entsize} size ${hex(sec.size)} is not a whole number of ${ELF64_REL_SIZE}-byte entries`);
  }
  if (sec.info === 0 || sec.info >= elf.sections.length) {
    fail(`section ${secLabel(sec)}: relocations target section ${sec.info}, which does not exist (${elf.sections.length} sections)`);
  }
  const d = sec.data;
  const dv = new DataView(d.buffer, d.byteOffset, d.byteLength);
  const out: ElfRel[] = [];
  for (let i = 0; i < d.length / ELF64_REL_SIZE; i++) {
    const o = i * ELF64_REL_SIZE;
    out.push({ idx: i, offset: u64(dv, o), type: dv.getUint32(o + 8, true), sym: dv.getUint32(o + 12, true) });
  }
  return out;
}

/** Relocation label used in messages: `relocation #3 in section 5 (.relxdp) at offset 0x40`. */
export function relLabel(sec: ElfSection, rel: ElfRel): string {
  return `relocation #${rel.idx} in section ${secLabel(sec)} at offset ${hex(rel.offset)}`;
}

/**
 * The symbol a relocation refers to, checked like libbpf's
 * bpf_object__collect_prog_relos: the index must exist and the symbol's
 * section index must be a real section or a reserved one (SHN_ABS...).
 */
export function relSymbol(elf: ElfFile, sec: ElfSection, rel: ElfRel): ElfSymbol {
  const sym = elf.symbols[rel.sym];
  if (!sym) fail(`${relLabel(sec, rel)}: symbol #${rel.sym} not found (${elf.symbols.length} symbols)`);
  if (sym.shndx >= elf.sections.length && sym.shndx < SHN_LORESERVE) {
    fail(`${relLabel(sec, rel)}: corrupted symbol #${rel.sym} '${sym.name}' pointing to invalid section #${sym.shndx}`);
  }
  return sym;
}

/**
 * Display name of a symbol: section symbols carry no name, so libbpf uses the
 * name of the section they stand for.
 */
export function symDisplayName(elf: ElfFile, sym: ElfSymbol): string {
  if (sym.type === STT_SECTION && sym.nameOff === 0) {
    const s = elf.sections[sym.shndx];
    return s ? s.name : "<?>";
  }
  return sym.name;
}

/** First section with this name, or null. */
export function sectionByName(elf: ElfFile, name: string): ElfSection | null {
  for (const s of elf.sections) if (s.idx !== 0 && s.name === name) return s;
  return null;
}
