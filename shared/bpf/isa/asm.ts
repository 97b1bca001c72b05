// Assemblers for eBPF text. assemble() reads the ".data" dialect of the
// bpf_conformance and uBPF test vectors (counterparts: bpf_conformance
// lib/src/bpf_assembler.cc, uBPF ubpf/assembler.py); assembleKernel() reads the
// syntax that kernel/bpf/disasm.c, `bpftool prog dump xlated` and
// `llvm-objdump -d` print. Encodings follow RFC 9669 and include/uapi/linux/bpf.h.
// API edge: errors throw KernelError(EINVAL, "line N: ...").
import { EINVAL, KernelError } from "../../errno.ts";
import { BpfInsns } from "./insn.ts";
import {
  INSN_TABLE, K_ALU, K_ALU64, K_EXIT, K_JA, K_JMP, K_JMP32, K_LD_ABS, K_LD_IND, K_LDX, K_LDXSX, K_ST, K_STX,
} from "./insn_table.ts";
import type { InsnDesc } from "./insn_table.ts";
import {
  BPF_ADD, BPF_AND, BPF_CMPXCHG, BPF_DW, BPF_FETCH, BPF_FUNC_NAMES, BPF_JMP, BPF_JMP32, BPF_OR, BPF_PSEUDO_BTF_ID,
  BPF_PSEUDO_CALL, BPF_PSEUDO_FUNC, BPF_PSEUDO_KFUNC_CALL, BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_IDX,
  BPF_PSEUDO_MAP_IDX_VALUE, BPF_PSEUDO_MAP_VALUE, BPF_W, BPF_XCHG, BPF_XOR,
} from "./uapi.ts";

/** Descriptors by .data mnemonic; "add" holds both the K and the X row, "lock" the W and DW rows. */
const BY_MNEMONIC: ReadonlyMap<string, readonly InsnDesc[]> = (() => {
  const m = new Map<string, InsnDesc[]>();
  for (const d of INSN_TABLE) {
    if (d === undefined) continue;
    const list = m.get(d.mnemonic);
    if (list === undefined) m.set(d.mnemonic, [d]);
    else list.push(d);
  }
  return m;
})();

const LABEL_RE = /^([A-Za-z_][\w.]*):\s*/;
const NUM_RE = /^[+-]?(0x[0-9a-f]+|[0-9]+)$/i;
const ATOMIC_OPS: Record<string, number> = {
  add: BPF_ADD, or: BPF_OR, and: BPF_AND, xor: BPF_XOR, xchg: BPF_XCHG, cmpxchg: BPF_CMPXCHG,
};
/** ld_imm64 pseudo sources of the .data extension `lddw %rN, <kind> <imm>[, <imm2>]`. */
const LDDW_PSEUDO: Record<string, number> = {
  map_fd: BPF_PSEUDO_MAP_FD, map_value: BPF_PSEUDO_MAP_VALUE, btf_id: BPF_PSEUDO_BTF_ID, func: BPF_PSEUDO_FUNC,
  map_idx: BPF_PSEUDO_MAP_IDX, map_idx_value: BPF_PSEUDO_MAP_IDX_VALUE,
};

class AsmError extends Error {}

function bad(msg: string): never {
  throw new AsmError(msg);
}

/** Parses a signed or unsigned decimal / 0x-hex literal; null when not a number. */
function parseNumber(s: string): bigint | null {
  if (!NUM_RE.test(s)) return null;
  const neg = s[0] === "-";
  const body = s[0] === "-" || s[0] === "+" ? s.slice(1) : s;
  const v = BigInt(body);
  return neg ? -v : v;
}

function isUnsignedHex(s: string): boolean {
  return /^0x/i.test(s);
}

/** A 32-bit immediate: signed decimal in s32 range, or up to 0xffffffff; stored as s32. */
function imm32(s: string): number {
  const v = parseNumber(s);
  if (v === null) bad(`invalid immediate '${s}'`);
  if (v < -0x80000000n || v > 0xffffffffn) bad(`immediate out of 32-bit range: ${s}`);
  return Number(BigInt.asIntN(32, v));
}

/** A 16-bit offset: s16, or an unsigned hex literal up to 0xffff (bpf_conformance accepts both). */
function off16(s: string): number {
  const v = parseNumber(s);
  if (v === null) bad(`invalid offset '${s}'`);
  const max = isUnsignedHex(s) ? 0xffffn : 0x7fffn;
  if (v < -0x8000n || v > max) bad(`offset out of 16-bit range: ${s}`);
  return Number(BigInt.asIntN(16, v));
}

/** A 64-bit immediate: hex up to 2^64-1, decimal in [-2^63, 2^64-1]. */
function imm64(s: string): bigint {
  const v = parseNumber(s);
  if (v === null) bad(`invalid immediate '${s}'`);
  if (v < -(1n << 63n) || v > 0xffffffffffffffffn) bad(`immediate out of 64-bit range: ${s}`);
  return BigInt.asUintN(64, v);
}

/**
 * Encoder state shared by both dialects: slots, labels and pending label fix-ups.
 * Labels name the slot index; jumps store target - pc - 1 in off (imm for ja32 and calls).
 */
class Emitter {
  readonly code: number[] = [];
  readonly dst: number[] = [];
  readonly src: number[] = [];
  readonly off: number[] = [];
  readonly imm: number[] = [];
  readonly labels = new Map<string, { pc: number; line: number }>();
  implicitExit = -1;
  readonly fixups: Array<{ pc: number; label: string; inImm: boolean; line: number }> = [];
  line = 0;

  get pc(): number {
    return this.code.length;
  }

  emit(code: number, dst: number, src: number, off: number, imm: number): number {
    this.code.push(code);
    this.dst.push(dst);
    this.src.push(src);
    this.off.push(off);
    this.imm.push(imm);
    return this.code.length - 1;
  }

  defineLabel(name: string): void {
    const prev = this.labels.get(name);
    if (prev !== undefined) bad(`duplicate label '${name}' (first defined at line ${prev.line})`);
    this.labels.set(name, { pc: this.pc, line: this.line });
  }

  /** Sets the jump field of the insn at pc from a "+N"/"-N"/"N" literal or a label. */
  target(pc: number, t: string, inImm: boolean): void {
    if (parseNumber(t) !== null) {
      if (inImm) this.imm[pc] = imm32(t);
      else this.off[pc] = off16(t);
      return;
    }
    if (!/^[A-Za-z_][\w.]*$/.test(t)) bad(`invalid jump target '${t}'`);
    this.fixups.push({ pc, label: t, inImm, line: this.line });
  }

  finish(): BpfInsns {
    for (const f of this.fixups) {
      const l = this.labels.get(f.label);
      const at = l !== undefined ? l.pc : f.label === "exit" && this.implicitExit >= 0 ? this.implicitExit : -1;
      if (at < 0) throw lineError(f.line, `undefined label '${f.label}'`);
      const delta = at - f.pc - 1;
      if (f.inImm) {
        this.imm[f.pc] = delta;
      } else {
        if (delta < -0x8000 || delta > 0x7fff) throw lineError(f.line, `jump to '${f.label}' out of 16-bit range`);
        this.off[f.pc] = delta;
      }
    }
    const p = new BpfInsns(this.pc);
    for (let i = 0; i < p.len; i++) p.set(i, this.code[i]!, this.dst[i]!, this.src[i]!, this.off[i]!, this.imm[i]!);
    return p;
  }
}

function lineError(line: number, msg: string): KernelError {
  return new KernelError(EINVAL, `line ${line}: ${msg}`);
}

/** Runs parseLine over each line, converting parse failures into KernelError with the line number. */
function assembleLines(text: string, parseLine: (e: Emitter, s: string) => void): BpfInsns {
  const e = new Emitter();
  const lines = text.split("\n");
  for (let n = 0; n < lines.length; n++) {
    e.line = n + 1;
    try {
      parseLine(e, lines[n]!);
    } catch (err) {
      if (err instanceof AsmError) throw lineError(e.line, err.message);
      throw err;
    }
  }
  return e.finish();
}

/** Finds the table row for a mnemonic, preferring the X (register) or K form. */
function desc(mnemonic: string, isX: boolean): InsnDesc {
  const list = BY_MNEMONIC.get(mnemonic);
  if (list === undefined) bad(`unknown mnemonic '${mnemonic}'`);
  const d = list.find((x) => x.isX === isX) ?? (list.length === 1 ? list[0] : undefined);
  if (d === undefined) bad(`'${mnemonic}' has no ${isX ? "register" : "immediate"} form`);
  return d;
}

// ---------------------------------------------------------------------------------------------
// .data dialect

function dataReg(s: string | undefined): number {
  const m = s === undefined ? null : /^%r(\d+)$/.exec(s);
  // %r11..%r15 encode (uBPF's negative tests use them); validity is the verifier's business.
  if (m === null || Number(m[1]) > 15) bad(`invalid register '${s ?? ""}'`);
  return Number(m[1]);
}

function isDataReg(s: string): boolean {
  return s.startsWith("%");
}

/** "[%rN]", "[%rN+off]", "[%rN-off]" -> [reg, off]. */
function dataMem(s: string | undefined): [number, number] {
  const m = s === undefined ? null : /^\[\s*(%r\d+)\s*(?:([+-])\s*(0x[0-9a-f]+|\d+)\s*)?\]$/i.exec(s);
  if (m === null) bad(`invalid memory operand '${s ?? ""}'`);
  return [dataReg(m[1]), m[2] === undefined ? 0 : off16(m[2] + m[3])];
}

function want(ops: readonly string[], n: number, mnemonic: string): void {
  if (ops.length !== n) bad(`'${mnemonic}' takes ${n} operand${n === 1 ? "" : "s"}, got ${ops.length}`);
}

function parseDataLine(e: Emitter, raw: string): void {
  let s = raw.replace(/#.*/, "").trim().replace(/;$/, "").trim();
  for (let m = LABEL_RE.exec(s); m !== null; m = LABEL_RE.exec(s)) {
    e.defineLabel(m[1]!);
    s = s.slice(m[0].length);
  }
  if (s === "") return;
  const toks = s.match(/\[[^\]]*\]|[^\s,]+/g)!;
  const mn = toks[0]!.toLowerCase();
  encodeData(e, mn, toks.slice(1));
}

function encodeData(e: Emitter, mn: string, ops: string[]): void {
  let m: RegExpExecArray | null;
  if (mn === "lock") return encodeLock(e, ops);
  if (mn === "call" || mn === "callx") return encodeDataCall(e, mn, ops);
  if (mn === "lddw") return encodeLddw(e, ops);
  if ((m = /^(le|be|bswap|swap)(\d+)$/.exec(mn)) !== null) {
    want(ops, 1, mn);
    const d = desc(m[1] === "swap" ? "bswap" : m[1]!, m[1] === "be");
    e.emit(d.code, dataReg(ops[0]), 0, 0, Number(m[2]));
    return;
  }
  if ((m = /^movsx(8|16|32)(32|64)$/.exec(mn)) !== null) {
    if (m[1] === "32" && m[2] === "32") bad(`unknown mnemonic '${mn}'`);
    want(ops, 2, mn);
    e.emit(desc(m[2] === "32" ? "mov32" : "mov", true).code, dataReg(ops[0]), dataReg(ops[1]), Number(m[1]), 0);
    return;
  }
  // sdiv/smod are div/mod with off = 1 (RFC 9669 §4.1).
  const signed = /^s(div|mod)(32)?$/.test(mn);
  const base = signed ? mn.slice(1) : mn;
  const list = BY_MNEMONIC.get(base);
  if (list === undefined) bad(`unknown mnemonic '${mn}'`);
  switch (list[0]!.kind) {
    case K_ALU:
    case K_ALU64: {
      if (base === "neg" || base === "neg32") {
        want(ops, 1, mn);
        e.emit(desc(base, false).code, dataReg(ops[0]), 0, 0, 0);
        return;
      }
      want(ops, 2, mn);
      const isX = isDataReg(ops[1]!);
      const d = desc(base, isX);
      e.emit(d.code, dataReg(ops[0]), isX ? dataReg(ops[1]) : 0, signed ? 1 : 0, isX ? 0 : imm32(ops[1]!));
      return;
    }
    case K_JMP:
    case K_JMP32: {
      want(ops, 3, mn);
      const isX = isDataReg(ops[1]!);
      const pc = e.emit(desc(base, isX).code, dataReg(ops[0]), isX ? dataReg(ops[1]) : 0, 0, isX ? 0 : imm32(ops[1]!));
      e.target(pc, ops[2]!, false);
      return;
    }
    case K_JA: {
      want(ops, 1, mn);
      const d = list[0]!;
      e.target(e.emit(d.code, 0, 0, 0, 0), ops[0]!, d.cls === BPF_JMP32);
      return;
    }
    case K_EXIT:
      want(ops, 0, mn);
      if (e.implicitExit < 0) e.implicitExit = e.pc;
      e.emit(list[0]!.code, 0, 0, 0, 0);
      return;
    case K_LDX:
    case K_LDXSX: {
      want(ops, 2, mn);
      const [r, off] = dataMem(ops[1]);
      e.emit(list[0]!.code, dataReg(ops[0]), r, off, 0);
      return;
    }
    case K_ST: {
      want(ops, 2, mn);
      const [r, off] = dataMem(ops[0]);
      e.emit(list[0]!.code, r, 0, off, imm32(ops[1]!));
      return;
    }
    case K_STX: {
      want(ops, 2, mn);
      const [r, off] = dataMem(ops[0]);
      e.emit(list[0]!.code, r, dataReg(ops[1]), off, 0);
      return;
    }
    case K_LD_ABS:
      want(ops, 1, mn);
      e.emit(list[0]!.code, 0, 0, 0, imm32(ops[0]!));
      return;
    case K_LD_IND:
      want(ops, 2, mn);
      e.emit(list[0]!.code, 0, dataReg(ops[0]), 0, imm32(ops[1]!));
      return;
    default:
      bad(`unknown mnemonic '${mn}'`);
  }
}

/** `lock [fetch] add|or|and|xor|xchg|cmpxchg[32] [%rD+off], %rS`. */
function encodeLock(e: Emitter, ops: string[]): void {
  const fetch = ops[0] === "fetch";
  const rest = fetch ? ops.slice(1) : ops;
  const m = rest.length === 3 ? /^(add|or|and|xor|xchg|cmpxchg)(32)?$/.exec(rest[0]!) : null;
  if (m === null) bad(`invalid atomic operation '${ops.join(" ")}'`);
  const size = m[2] === "32" ? BPF_W : BPF_DW;
  const d = BY_MNEMONIC.get("lock")!.find((x) => (x.code & 0x18) === size)!;
  const [r, off] = dataMem(rest[1]);
  const op = ATOMIC_OPS[m[1]!]!;
  e.emit(d.code, r, dataReg(rest[2]), off, fetch ? op | BPF_FETCH : op);
}

/** `call N`, `call %rN` (callx, register in dst), `call local T`, `call runtime N`, `call helper N`, `callx %rN`. */
function encodeDataCall(e: Emitter, mn: string, ops: string[]): void {
  const mode = ops.length === 2 ? ops[0] : mn === "callx" ? "callx" : "helper";
  const t = ops[ops.length - 1];
  if (ops.length < 1 || ops.length > 2 || t === undefined) bad(`'${mn}' takes a target`);
  if (mode === "callx" || (mode === "helper" && isDataReg(t))) {
    e.emit(desc("callx", true).code, dataReg(t), 0, 0, 0);
    return;
  }
  const code = desc("call", false).code;
  if (mode === "helper") e.emit(code, 0, 0, 0, imm32(t));
  else if (mode === "local") e.target(e.emit(code, 0, BPF_PSEUDO_CALL, 0, 0), t, true);
  else if (mode === "runtime") e.emit(code, 0, BPF_PSEUDO_KFUNC_CALL, 0, imm32(t));
  else bad(`invalid call mode '${mode ?? ""}'`);
}

/** `lddw %rN, imm64` and the extension `lddw %rN, map_fd|map_idx|btf_id N`, `map_value|map_idx_value N, OFF`, `func T`. */
function encodeLddw(e: Emitter, ops: string[]): void {
  const code = desc("lddw", false).code;
  if (ops.length === 2) {
    const v = imm64(ops[1]!);
    e.emit(code, dataReg(ops[0]), 0, 0, Number(BigInt.asIntN(32, v)));
    e.emit(0, 0, 0, 0, Number(BigInt.asIntN(32, v >> 32n)));
    return;
  }
  // Pseudo forms arrive as tokens: [%rN, kind, value, (offset)].
  const kind = ops[1];
  const src = kind === undefined ? undefined : LDDW_PSEUDO[kind];
  if (src === undefined) bad(`'lddw' takes a register and a 64-bit immediate`);
  const needsOff = src === BPF_PSEUDO_MAP_VALUE || src === BPF_PSEUDO_MAP_IDX_VALUE;
  want(ops, needsOff ? 4 : 3, `lddw ${kind!}`);
  const dst = dataReg(ops[0]);
  if (src === BPF_PSEUDO_FUNC) {
    e.target(e.emit(code, dst, src, 0, 0), ops[2]!, true);
  } else {
    e.emit(code, dst, src, 0, imm32(ops[2]!));
  }
  e.emit(0, 0, 0, 0, needsOff ? imm32(ops[3]!) : 0);
}

/**
 * Assembles the bpf_conformance/uBPF ".data" dialect: one insn per line, `#` comments,
 * `name:` labels (also before an insn on the same line), jump targets as labels or
 * +N/-N, an implicit `exit` label at the first exit, and the mnemonics of
 * shared/bpf/isa/insn_table.ts plus sdiv/smod, movsx, le/be/bswap/swap, lock and call forms.
 * Extension: `lddw %rN, map_fd N` (and map_value/map_idx/map_idx_value/btf_id/func) for
 * ld_imm64 pseudo sources.
 * @throws KernelError EINVAL "line N: ..." on malformed input.
 * @see bpf_conformance lib/src/bpf_assembler.cc, uBPF ubpf/asm_parser.py
 */
export function assemble(text: string): BpfInsns {
  return assembleLines(text, parseDataLine);
}

// ---------------------------------------------------------------------------------------------
// Kernel / bpftool / llvm-objdump syntax

const ALU_SYM: Record<string, string> = {
  "+=": "add", "-=": "sub", "*=": "mul", "/=": "div", "|=": "or", "&=": "and", "<<=": "lsh", ">>=": "rsh",
  "%=": "mod", "^=": "xor", "=": "mov", "s>>=": "arsh", "s/=": "sdiv", "s%=": "smod",
};
const JMP_SYM: Record<string, string> = {
  "==": "jeq", ">": "jgt", ">=": "jge", "&": "jset", "!=": "jne", "s>": "jsgt", "s>=": "jsge", "<": "jlt",
  "<=": "jle", "s<": "jslt", "s<=": "jsle",
};
const SIZE_BY_TYPE: Record<string, string> = { "8": "b", "16": "h", "32": "w", "64": "dw" };
const MEM = String.raw`\(r(\d+)\s*(?:([+-])\s*(0x[0-9a-f]+|\d+))?\)`;
const RE_LDX = new RegExp(String.raw`^([rw])(\d+) = \*\(([us])(8|16|32|64) \*\)${MEM}$`, "i");
const RE_STX = new RegExp(String.raw`^\*\(u(8|16|32|64) \*\)${MEM} = (?:([rw])(\d+)|([+-]?(?:0x[0-9a-f]+|\d+)))$`, "i");
const RE_XADD = new RegExp(String.raw`^lock \*\(u(32|64) \*\)${MEM} ([+|&^])= ([rw])(\d+)$`, "i");
const RE_AFETCH = new RegExp(String.raw`^([rw])(\d+) = atomic(?:64)?_(fetch_add|fetch_and|fetch_or|fetch_xor|xchg)\(\(u(32|64) \*\)${MEM}, [rw](\d+)\)$`, "i");
const RE_ACMPX = new RegExp(String.raw`^[rw]0 = atomic(?:64)?_cmpxchg\(\(u(32|64) \*\)${MEM}, [rw]0, [rw](\d+)\)$`, "i");
const RE_LLVM_X = /^([rw])(\d+) = (xchg|cmpxchg)(?:32)?_(32|64)\(r(\d+)\s*(?:([+-])\s*(0x[0-9a-f]+|\d+))?, (?:[rw]0, )?[rw](\d+)\)$/i;
const RE_JMP = /^if ([rw])(\d+) (==|!=|s?[<>]=?|&) (?:([rw])(\d+)|([+-]?(?:0x[0-9a-f]+|\d+))) goto (?:pc)?([+-]?\d+|[A-Za-z_][\w.]*)$/i;
const RE_ALU = /^([rw])(\d+) (s?>>=|<<=|s\/=|s%=|[-+*/|&%^]?=) (?:([rw])(\d+)|([+-]?(?:0x[0-9a-f]+|\d+)))( ll)?$/i;

function kReg(cls: string, n: string): number {
  const r = Number(n);
  if (r > 15) bad(`invalid register '${cls}${n}'`);
  return r;
}

function kOff(sign: string | undefined, v: string | undefined): number {
  return sign === undefined ? 0 : off16(sign + v!);
}

/** Strips bpftool/llvm-objdump decoration: "  12: (bf) ", byte columns, "<LBB0_3>" suffixes, source lines. */
function kernelStatement(e: Emitter, raw: string): string {
  let s = raw.replace(/\/\/.*/, "").trim();
  if (s === "" || s.startsWith(";") || s.startsWith("#")) return "";
  if (/\):$/.test(s) || /^[0-9a-f]+ <[^>]+>:$/i.test(s)) {
    // bpftool prints BTF function signatures; llvm-objdump prints "0000000000000080 <LBB0_3>:".
    const m = /^[0-9a-f]+ <([^>]+)>:$/i.exec(s);
    if (m !== null) e.defineLabel(m[1]!);
    return "";
  }
  if (/^(?:[0-9a-f]{2}\s+){7}[0-9a-f]{2}(?:\s+(?:[0-9a-f]{2}\s+){7}[0-9a-f]{2})?$/i.test(s)) return ""; // opcodes row
  s = s.replace(/^\d+:\s*/, "").replace(/^\([0-9a-f]{2}\)\s*/i, "");
  s = s.replace(/^(?:[0-9a-f]{2} ){7}[0-9a-f]{2}(?:\s+(?:[0-9a-f]{2} ){7}[0-9a-f]{2})?\s+/i, "");
  for (let m = LABEL_RE.exec(s); m !== null; m = LABEL_RE.exec(s)) {
    e.defineLabel(m[1]!);
    s = s.slice(m[0].length);
  }
  return s.replace(/\s*<[^>]*>$/, "").replace(/\s+/g, " ").trim();
}

function parseKernelLine(e: Emitter, raw: string): void {
  const s = kernelStatement(e, raw);
  if (s === "") return;
  if (!encodeKernelCtl(e, s) && !encodeKernelMem(e, s) && !encodeKernelAlu(e, s)) bad(`cannot parse '${s}'`);
}

/** exit, calls, gotos and conditional jumps. Returns false when s is none of these. */
function encodeKernelCtl(e: Emitter, s: string): boolean {
  let m: RegExpExecArray | null;
  if (s === "exit") {
    if (e.implicitExit < 0) e.implicitExit = e.pc;
    e.emit(desc("exit", false).code, 0, 0, 0, 0);
  } else if ((m = /^call pc([+-]\d+)(?:#.*)?$/.exec(s)) !== null) {
    e.emit(desc("call", false).code, 0, BPF_PSEUDO_CALL, 0, imm32(m[1]!));
  } else if ((m = /^callx? r(\d+)$/.exec(s)) !== null) {
    e.emit(desc("callx", true).code, kReg("r", m[1]!), 0, 0, 0);
  } else if ((m = /^call (?:kernel-function#(-?\d+))$/.exec(s)) !== null) {
    e.emit(desc("call", false).code, 0, BPF_PSEUDO_KFUNC_CALL, 0, imm32(m[1]!));
  } else if ((m = /^call (?:([\w.]+)#)?(-?\d+|0x[0-9a-f]+)$/i.exec(s)) !== null) {
    // bpftool prints "name#imm" where imm may be a kernel address delta: a known helper name wins.
    const byName = m[1] === undefined ? 0 : helperIdByName(m[1]);
    e.emit(desc("call", false).code, 0, 0, 0, byName > 0 ? byName : imm32(m[2]!));
  } else if ((m = /^call (?:bpf_)?(\w+)$/.exec(s)) !== null) {
    const id = BPF_FUNC_NAMES.indexOf(m[1]!);
    if (id <= 0) bad(`unknown helper '${m[1]!}'`);
    e.emit(desc("call", false).code, 0, 0, 0, id);
  } else if ((m = /^(goto|gotol|may_goto) (?:pc)?([+-]?\d+|[A-Za-z_][\w.]*)$/.exec(s)) !== null) {
    const isLong = m[1] === "gotol";
    // may_goto is BPF_JMP|BPF_JCOND (0xe0) with src = BPF_MAY_GOTO (0), a kernel-internal opcode.
    const code = m[1] === "may_goto" ? BPF_JMP | 0xe0 : desc(isLong ? "ja32" : "ja", false).code;
    e.target(e.emit(code, 0, 0, 0, 0), m[2]!, isLong);
  } else if ((m = RE_JMP.exec(s)) !== null) {
    const w = m[1] === "w";
    if (m[4] !== undefined && m[4] !== m[1]) bad(`mixed register widths in '${s}'`);
    const isX = m[4] !== undefined;
    const d = desc(JMP_SYM[m[3]!]! + (w ? "32" : ""), isX);
    const pc = e.emit(d.code, kReg(m[1]!, m[2]!), isX ? kReg(m[4]!, m[5]!) : 0, 0, isX ? 0 : imm32(m[6]!));
    e.target(pc, m[7]!, false);
  } else {
    return false;
  }
  return true;
}

/** Loads, stores, atomics and legacy packet loads. Returns false when s is none of these. */
function encodeKernelMem(e: Emitter, s: string): boolean {
  let m: RegExpExecArray | null;
  if ((m = RE_LDX.exec(s)) !== null) {
    if (m[3] === "s" && m[4] === "64") bad(`no sign-extending 64-bit load in '${s}'`);
    const d = desc((m[3] === "s" ? "ldxs" : "ldx") + SIZE_BY_TYPE[m[4]!]!, false);
    e.emit(d.code, kReg(m[1]!, m[2]!), kReg("r", m[5]!), kOff(m[6], m[7]), 0);
  } else if ((m = RE_STX.exec(s)) !== null) {
    const sz = SIZE_BY_TYPE[m[1]!]!;
    const off = kOff(m[3], m[4]);
    if (m[5] !== undefined) e.emit(desc("stx" + sz, false).code, kReg("r", m[2]!), kReg(m[5], m[6]!), off, 0);
    else e.emit(desc("st" + sz, false).code, kReg("r", m[2]!), 0, off, imm32(m[7]!));
  } else if ((m = RE_XADD.exec(s)) !== null) {
    const op = { "+": BPF_ADD, "|": BPF_OR, "&": BPF_AND, "^": BPF_XOR }[m[5]!]!;
    emitAtomic(e, m[1]!, m[2]!, kOff(m[3], m[4]), kReg(m[6]!, m[7]!), op);
  } else if ((m = RE_AFETCH.exec(s)) !== null) {
    const op = m[3] === "xchg" ? BPF_XCHG : ATOMIC_OPS[m[3]!.slice(6)]! | BPF_FETCH;
    if (m[2] !== m[8]) bad(`atomic fetch result must land in the source register in '${s}'`);
    emitAtomic(e, m[4]!, m[5]!, kOff(m[6], m[7]), kReg("r", m[8]!), op);
  } else if ((m = RE_ACMPX.exec(s)) !== null) {
    emitAtomic(e, m[1]!, m[2]!, kOff(m[3], m[4]), kReg("r", m[5]!), BPF_CMPXCHG);
  } else if ((m = RE_LLVM_X.exec(s)) !== null) {
    emitAtomic(e, m[4]!, m[5]!, kOff(m[6], m[7]), kReg("r", m[8]!), m[3] === "xchg" ? BPF_XCHG : BPF_CMPXCHG);
  } else if ((m = /^r0 = \*\(u(8|16|32|64) \*\)skb\[(?:r(\d+) \+ )?([+-]?(?:0x[0-9a-f]+|\d+))\]$/i.exec(s)) !== null) {
    const sz = SIZE_BY_TYPE[m[1]!]!;
    if (sz === "dw") bad(`no 64-bit legacy packet load in '${s}'`);
    if (m[2] === undefined) e.emit(desc("ldabs" + sz, false).code, 0, 0, 0, imm32(m[3]!));
    else e.emit(desc("ldind" + sz, false).code, 0, kReg("r", m[2]), 0, imm32(m[3]!));
  } else {
    return false;
  }
  return true;
}

function emitAtomic(e: Emitter, bits: string, base: string, off: number, srcReg: number, imm: number): void {
  const size = bits === "32" ? BPF_W : BPF_DW;
  const d = BY_MNEMONIC.get("lock")!.find((x) => (x.code & 0x18) === size)!;
  e.emit(d.code, kReg("r", base), srcReg, off, imm);
}

/** ALU, byte swaps, movsx, neg and ld_imm64. Returns false when s is none of these. */
function encodeKernelAlu(e: Emitter, s: string): boolean {
  let m: RegExpExecArray | null;
  if ((m = /^r(\d+) = (le|be|bswap)(\d+) r(\d+)$/.exec(s)) !== null) {
    if (m[1] !== m[4]) bad(`byte swap must be in place in '${s}'`);
    e.emit(desc(m[2]!, m[2] === "be").code, kReg("r", m[1]!), 0, 0, Number(m[3]));
  } else if ((m = /^([rw])(\d+) = -([rw])(\d+)$/.exec(s)) !== null) {
    if (m[1] !== m[3] || m[2] !== m[4]) bad(`neg must be in place in '${s}'`);
    e.emit(desc(m[1] === "w" ? "neg32" : "neg", false).code, kReg(m[1]!, m[2]!), 0, 0, 0);
  } else if ((m = /^([rw])(\d+) = \(s(8|16|32)\)([rw])(\d+)$/.exec(s)) !== null) {
    if (m[1] !== m[4] || (m[1] === "w" && m[3] === "32")) bad(`invalid sign extension '${s}'`);
    e.emit(desc(m[1] === "w" ? "mov32" : "mov", true).code, kReg(m[1]!, m[2]!), kReg(m[4]!, m[5]!), Number(m[3]), 0);
  } else if ((m = /^r(\d+) = map\[/.exec(s)) !== null) {
    bad(`map references need a map fd: use the .data form 'lddw %r${m[1]!}, map_fd N'`);
  } else if ((m = RE_ALU.exec(s)) !== null) {
    const w = m[1] === "w";
    const op = ALU_SYM[m[3]!]!;
    const dst = kReg(m[1]!, m[2]!);
    if (m[4] !== undefined) {
      if (m[4] !== m[1] || m[7] !== undefined) bad(`mixed register widths in '${s}'`);
      const signed = op === "sdiv" || op === "smod";
      const d = desc((signed ? op.slice(1) : op) + (w ? "32" : ""), true);
      e.emit(d.code, dst, kReg(m[4], m[5]!), signed ? 1 : 0, 0);
      return true;
    }
    // bpftool prints ld_imm64 as "r1 = 0x..." (hex) and mov as decimal; llvm-objdump marks ld_imm64 with "ll".
    if (op === "mov" && !w && (m[7] !== undefined || /^0x/i.test(m[6]!))) {
      const v = imm64(m[6]!);
      const code = desc("lddw", false).code;
      e.emit(code, dst, 0, 0, Number(BigInt.asIntN(32, v)));
      e.emit(0, 0, 0, 0, Number(BigInt.asIntN(32, v >> 32n)));
      return true;
    }
    if (m[7] !== undefined) bad(`'ll' needs a 64-bit register move in '${s}'`);
    const signed = op === "sdiv" || op === "smod";
    const d = desc((signed ? op.slice(1) : op) + (w ? "32" : ""), false);
    e.emit(d.code, dst, 0, signed ? 1 : 0, imm32(m[6]!));
  } else {
    return false;
  }
  return true;
}

/**
 * Assembles the syntax printed by kernel/bpf/disasm.c (verifier log), `bpftool prog dump
 * xlated` (with or without the "  12: (bf) " prefix and opcodes rows) and `llvm-objdump -d`:
 * `r0 = *(u32 *)(r1 +4)`, `if r2 > r3 goto pc+5`, `w0 += 1`, `r1 = 0x1122334455667788`,
 * `r1 = 5 ll`, `lock *(u64 *)(r1 +0) += r2`, `r0 = atomic64_fetch_add(...)`, `call bpf_xxx#N`,
 * `call pc+N`, `gotol pc+N`. Lines starting with ';' or '#' and `//` tails are comments;
 * `name:` labels and `goto name` are accepted. Map references (`map[id:N]`) are rejected.
 * @throws KernelError EINVAL "line N: ..." on malformed input.
 * @see kernel/bpf/disasm.c print_bpf_insn(), tools/bpf/bpftool/xlated_dumper.c
 */
export function assembleKernel(text: string): BpfInsns {
  return assembleLines(text, parseKernelLine);
}

/** Helper name -> id (0 when unknown), for callers that build call insns by name. */
export function helperIdByName(name: string): number {
  const id = BPF_FUNC_NAMES.indexOf(name.startsWith("bpf_") ? name.slice(4) : name);
  return id < 0 ? 0 : id;
}
