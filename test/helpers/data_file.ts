// Reader for ".data" test vectors (bpf_conformance tests/*.data and uBPF tests/**).
// Counterparts: bpf_conformance lib/src/bpf_test_parser.cc and uBPF
// test_framework/testdata.py; format summary in shared/conformance/*/README.md.
// API edge: malformed files throw KernelError(EINVAL, "<file>:<line>: ...").
import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { EINVAL, KernelError } from "../../shared/errno.ts";
import { assemble } from "../../shared/bpf/isa/asm.ts";
import { BpfInsns } from "../../shared/bpf/isa/insn.ts";

/** Sections a .data file may contain, as spelled after "-- ". */
export const DATA_SECTIONS = [
  "asm", "raw", "mem", "result", "error", "error pattern", "no jit", "reload", "unload", "pyelf", "c",
  "description", "no register offset",
] as const;
export type DataSection = (typeof DATA_SECTIONS)[number];

/** One parsed vector. Absent sections are undefined (booleans false). */
export interface DataVector {
  /** Sections in file order. */
  readonly sections: readonly DataSection[];
  /** Program text in the .data dialect (comments kept; assemble() drops them). */
  readonly asm: string | undefined;
  /** Encoded instructions, one u64 per slot (opcode in the low byte). */
  readonly raw: readonly bigint[] | undefined;
  /** Input buffer passed as r1/r2. */
  readonly mem: Uint8Array | undefined;
  /** Expected r0 as u64. */
  readonly result: bigint | undefined;
  /** Exact expected error text (uBPF wording). */
  readonly error: string | undefined;
  /** Regular expression (Python re syntax, uBPF wording) the error text must match. */
  readonly errorPattern: string | undefined;
  /** Reason text of "-- no jit" ("" when none given). */
  readonly noJit: string | undefined;
  readonly reload: boolean;
  readonly unload: boolean;
  /** uBPF ELF-template edits (Python statements); informative for us. */
  readonly pyelf: string | undefined;
  readonly c: string | undefined;
  readonly description: string | undefined;
  readonly noRegisterOffset: string | undefined;
}

export interface ParseDataOpts {
  /** Folder that "@ file" includes are relative to. */
  dir?: string;
  /** Reads an included file as text; defaults to fs.readFileSync(path, "utf8"). */
  readFile?: (path: string) => string;
  /** Name used in error messages. */
  name?: string;
}

function isSection(s: string): s is DataSection {
  return (DATA_SECTIONS as readonly string[]).includes(s);
}

function stripComment(line: string): string {
  const i = line.indexOf("#");
  return (i < 0 ? line : line.slice(0, i)).trim();
}

/** Hex bytes separated by whitespace ("00 01 ff", also "0001ff"); throws on odd or non-hex tokens. */
function parseMemText(lines: readonly string[]): Uint8Array {
  const out: number[] = [];
  for (const line of lines) {
    for (const tok of stripComment(line).split(/\s+/)) {
      if (tok === "") continue;
      if (!/^(?:[0-9a-f]{2})+$/i.test(tok)) throw new Error(`invalid mem byte '${tok}'`);
      for (let i = 0; i < tok.length; i += 2) out.push(parseInt(tok.slice(i, i + 2), 16));
    }
  }
  return Uint8Array.from(out);
}

/** uBPF ".hex" hexdump: per line, text up to ':' is an address; the rest is hex digit pairs. */
export function parseHexDump(text: string): Uint8Array {
  const out: number[] = [];
  for (const line of text.split(/\r?\n/)) {
    const c = line.indexOf(":");
    const digits = (c < 0 ? line : line.slice(c + 1)).replace(/\s+/g, "");
    if (digits === "") continue;
    if (!/^(?:[0-9a-f]{2})+$/i.test(digits)) throw new Error(`invalid hexdump line '${line.trim()}'`);
    for (let i = 0; i < digits.length; i += 2) out.push(parseInt(digits.slice(i, i + 2), 16));
  }
  return Uint8Array.from(out);
}

function parseU64(tok: string): bigint {
  const m = /^(-)?(0x[0-9a-f]+|[0-9]+)$/i.exec(tok);
  if (m === null) throw new Error(`invalid number '${tok}'`);
  const v = m[1] === undefined ? BigInt(m[2]!) : -BigInt(m[2]!);
  if (v > 0xffffffffffffffffn || v < -(1n << 63n)) throw new Error(`number out of 64-bit range '${tok}'`);
  return BigInt.asUintN(64, v);
}

function tokens(lines: readonly string[]): string[] {
  return lines.flatMap((l) => stripComment(l).split(/\s+/)).filter((t) => t !== "");
}

function text(lines: readonly string[]): string {
  return lines.join("\n").trim();
}

interface RawSection {
  name: DataSection;
  include: string | undefined;
  lines: string[];
  line: number;
}

/** Splits a file into sections; lines before the first "--" header (licence comments) are dropped. */
function splitSections(src: string): RawSection[] {
  const out: RawSection[] = [];
  const lines = src.split(/\r?\n/);
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n]!;
    const t = line.trim();
    if (t.startsWith("--")) {
      const m = /^--\s*([^@]*?)\s*(?:@\s*(\S+))?\s*$/.exec(t)!;
      const name = m[1]!;
      if (!isSection(name)) throw new Error(`${n + 1}: unknown section '-- ${name}'`);
      if (out.some((s) => s.name === name)) throw new Error(`${n + 1}: duplicate section '-- ${name}'`);
      out.push({ name, include: m[2], lines: [], line: n + 1 });
    } else if (out.length > 0) {
      out[out.length - 1]!.lines.push(line);
    }
  }
  return out;
}

/**
 * Parses a .data vector. `-- asm @ f.asm` / `-- mem @ f.hex` read f relative to opts.dir
 * (a `.hex` file is a hexdump; any other mem file holds hex bytes as text).
 * @throws KernelError EINVAL "<name>:<line>: ..." on unknown or duplicate sections, bad numbers or bytes.
 * @see uBPF test_framework/testdata.py, bpf_conformance lib/src/bpf_test_parser.cc
 */
export function parseDataFile(src: string, opts: ParseDataOpts = {}): DataVector {
  const name = opts.name ?? "<data>";
  let sections: RawSection[];
  try {
    sections = splitSections(src);
  } catch (err) {
    throw new KernelError(EINVAL, `${name}:${(err as Error).message}`);
  }
  const read = opts.readFile ?? ((p: string) => readFileSync(p, "utf8"));
  const v: { -readonly [K in keyof DataVector]: DataVector[K] } = {
    sections: sections.map((s) => s.name), asm: undefined, raw: undefined, mem: undefined, result: undefined,
    error: undefined, errorPattern: undefined, noJit: undefined, reload: false, unload: false, pyelf: undefined,
    c: undefined, description: undefined, noRegisterOffset: undefined,
  };
  for (const s of sections) {
    try {
      let lines = s.lines;
      if (s.include !== undefined) lines = read(opts.dir === undefined ? s.include : join(opts.dir, s.include)).split(/\r?\n/);
      fillSection(v, s.name, lines, s.include);
    } catch (err) {
      if (err instanceof KernelError) throw err;
      throw new KernelError(EINVAL, `${name}:${s.line}: -- ${s.name}: ${(err as Error).message}`);
    }
  }
  return v;
}

function fillSection(
  v: { -readonly [K in keyof DataVector]: DataVector[K] }, name: DataSection, lines: string[], include: string | undefined,
): void {
  switch (name) {
    case "asm":
      v.asm = lines.join("\n");
      return;
    case "raw":
      v.raw = tokens(lines).map(parseU64);
      return;
    case "mem":
      v.mem = include !== undefined && include.endsWith(".hex") ? parseHexDump(lines.join("\n")) : parseMemText(lines);
      return;
    case "result": {
      const t = tokens(lines);
      if (t.length !== 1) throw new Error(`expected one value, got ${t.length}`);
      v.result = parseU64(t[0]!);
      return;
    }
    case "error":
      v.error = text(lines);
      return;
    case "error pattern":
      v.errorPattern = text(lines);
      return;
    case "no jit":
      v.noJit = text(lines);
      return;
    case "reload":
      v.reload = true;
      return;
    case "unload":
      v.unload = true;
      return;
    case "pyelf":
      v.pyelf = text(lines);
      return;
    case "c":
      v.c = text(lines);
      return;
    case "description":
      v.description = text(lines);
      return;
    case "no register offset":
      v.noRegisterOffset = text(lines);
      return;
  }
}

/** Reads and parses a .data file from disk, resolving "@ file" includes next to it. */
export function readDataFile(path: string): DataVector {
  const abs = resolve(path);
  return parseDataFile(readFileSync(abs, "utf8"), { dir: join(abs, ".."), name: abs });
}

/**
 * The program of a vector: `-- raw` when present (uBPF and bpf_conformance run raw in
 * preference to asm), else assemble(asm); undefined when it has neither.
 * @throws KernelError EINVAL from assemble().
 */
export function vectorInsns(v: DataVector, preferRaw = true): BpfInsns | undefined {
  if (v.raw !== undefined && (preferRaw || v.asm === undefined)) return rawToInsns(v.raw);
  if (v.asm !== undefined) return assemble(v.asm);
  return v.raw === undefined ? undefined : rawToInsns(v.raw);
}

/** u64 words (opcode in the low byte, little-endian struct bpf_insn) -> instructions. */
export function rawToInsns(raw: readonly bigint[]): BpfInsns {
  const bytes = new Uint8Array(raw.length * 8);
  const dv = new DataView(bytes.buffer);
  raw.forEach((w, i) => dv.setBigUint64(i * 8, w, true));
  return BpfInsns.fromBytes(bytes);
}

/** Instructions -> u64 words, the `-- raw` form. */
export function insnsToRaw(insns: BpfInsns): bigint[] {
  const bytes = insns.toBytes();
  const dv = new DataView(bytes.buffer);
  const out: bigint[] = [];
  for (let i = 0; i < insns.len; i++) out.push(dv.getBigUint64(i * 8, true));
  return out;
}

/** Every *.data file under root (recursively), as absolute paths sorted by relative path. */
export function findDataFiles(root: string): string[] {
  const abs = resolve(root);
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const ent of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, ent.name);
      if (ent.isDirectory()) walk(p);
      else if (ent.isFile() && ent.name.endsWith(".data")) out.push(p);
    }
  };
  walk(abs);
  return out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}
