// Disassemblers. disasmInsn()/dumpXlated() print the kernel syntax of
// kernel/bpf/disasm.c print_bpf_insn() as `bpftool prog dump xlated` shows it
// (tools/bpf/bpftool/xlated_dumper.c); disasmData() prints the .data dialect of
// shared/bpf/isa/asm.ts (uBPF ubpf/disassembler.py style) so that it re-assembles.
// Text is built per call: this is a tool path, not a hot path.
import { EINVAL, KernelError } from "../../errno.ts";
import { assemble } from "./asm.ts";
import type { BpfInsns } from "./insn.ts";
import { ALU_OP_NAMES, JMP_OP_NAMES, bpfClass, bpfMode, bpfOp, bpfSize, bpfSrc } from "./insn_table.ts";
import {
  BPF_ABS, BPF_ADD, BPF_ALU, BPF_ALU64, BPF_AND, BPF_ATOMIC, BPF_CALL, BPF_CMPXCHG, BPF_DIV, BPF_DW, BPF_END,
  BPF_EXIT, BPF_FETCH, BPF_FUNC_NAMES, BPF_FUNC_tail_call, BPF_IMM, BPF_IND, BPF_JA, BPF_JMP, BPF_JMP32, BPF_LD,
  BPF_LDX, BPF_MEM, BPF_MEMSX, BPF_MOD, BPF_MOV, BPF_NEG, BPF_OR, BPF_PSEUDO_BTF_ID, BPF_PSEUDO_CALL, BPF_PSEUDO_FUNC,
  BPF_PSEUDO_KFUNC_CALL, BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_IDX, BPF_PSEUDO_MAP_IDX_VALUE, BPF_PSEUDO_MAP_VALUE, BPF_ST,
  BPF_STX, BPF_TO_BE, BPF_W, BPF_X, BPF_XCHG, BPF_XOR,
} from "./uapi.ts";

/** Kernel-internal opcodes that can appear in xlated programs (include/linux/filter.h, bpf.h). */
const BPF_TAIL_CALL = 0xf0; // BPF_JMP | 0xf0: rewritten bpf_tail_call, dumped as the helper call
const BPF_JCOND = 0xe0; // BPF_JMP | BPF_JCOND with src BPF_MAY_GOTO (0): may_goto
const BPF_NOSPEC = 0xc0; // BPF_ST | BPF_NOSPEC: speculation barrier
const BPF_LOAD_ACQ = 0x100;
const BPF_STORE_REL = 0x110;
const BPF_ADDR_SPACE_CAST = 1; // off of ALU64|MOV|X
const BPF_ADDR_PERCPU = -1; // off of ALU64|MOV|X

const ALU_SYM = ["+=", "-=", "*=", "/=", "|=", "&=", "<<=", ">>=", "neg", "%=", "^=", "=", "s>>=", "endian"];
const JMP_SYM = ["jmp", "==", ">", ">=", "&", "!=", "s>", "s>=", "call", "exit", "<", "<=", "s<", "s<="];
const LDST_TYPE = ["u32", "u16", "u8", "u64"];
const LDSX_TYPE = ["s32", "s16", "s8"];
const ATOMIC_NAME: Record<number, string> = { [BPF_ADD]: "add", [BPF_AND]: "and", [BPF_OR]: "or", [BPF_XOR]: "xor" };

export interface DisasmOpts {
  /**
   * How an ld_imm64 prints. "xlated" (default): bpftool's map[id:N], map[id:N][0]+OFF and
   * subprog[+N]; "log": the verifier log's plain 0x%llx of the 64-bit immediate.
   */
  style?: "xlated" | "log";
  /** Map id of a map-referencing ld_imm64 from its imm; default: the imm itself (xlated insns hold the id). */
  mapId?: (imm: number, src: number) => number;
  /**
   * Name printed for helper call `id` before "#id"; default bpf_<name> from the helper table.
   * (Real bpftool prints the kallsyms symbol and the address delta instead: see the report.)
   */
  helperName?: (id: number) => string | undefined;
  /** Name of the subprogram whose first insn is `target`; bpftool prints "call pc+N#name". */
  subprogName?: (target: number) => string | undefined;
  /**
   * bpf-to-bpf calls use the kernel's post-JIT xlated layout (off = pc-relative target,
   * imm = subprog index), as in bytes read back from a real kernel; default: imm is the
   * pc-relative target, as loaded. bpftool prints the pc-relative value either way.
   */
  jitedCalls?: boolean;
  /** Name of a kfunc (call src=2) by BTF id; default "kernel-function" as disasm.c. */
  kfuncName?: (btfId: number) => string | undefined;
  /** dumpXlated only: add bpftool's `opcodes` row of raw bytes under each insn. */
  opcodes?: boolean;
}

function hex(v: number): string {
  return "0x" + (v >>> 0).toString(16);
}

/** printf("%+d"). */
function signed(v: number): string {
  return v >= 0 ? `+${v}` : String(v);
}

function code2(code: number): string {
  return `(${code.toString(16).padStart(2, "0")})`;
}

/** The 64-bit immediate of an ld_imm64 at i (the second half reads as 0 when truncated). */
function imm64(p: BpfInsns, i: number): bigint {
  const hi = i + 1 < p.len ? p.imm[i + 1]! : 0;
  return (BigInt(hi >>> 0) << 32n) | BigInt(p.imm[i]! >>> 0);
}

/**
 * One instruction in kernel syntax, without the index: "(61) r2 = *(u32 *)(r1 +4)".
 * Undefined encodings print as disasm.c does ("BUG_ld_xx", "(null)" operators).
 * @see kernel/bpf/disasm.c print_bpf_insn(), tools/bpf/bpftool/xlated_dumper.c print_imm()/print_call()
 */
export function disasmInsn(p: BpfInsns, i: number, opts: DisasmOpts = {}): string {
  const code = p.code[i]!;
  const cls = bpfClass(code);
  switch (cls) {
    case BPF_ALU:
    case BPF_ALU64:
      return disasmAlu(p, i);
    case BPF_STX:
      return disasmStx(p, i);
    case BPF_ST: {
      const mode = bpfMode(code);
      if (mode === BPF_MEM) {
        return `${code2(code)} *(${LDST_TYPE[bpfSize(code) >> 3]} *)(r${p.dst[i]} ${signed(p.off[i]!)}) = ${p.imm[i]}`;
      }
      return mode === BPF_NOSPEC ? `${code2(code)} nospec` : `BUG_st_${code.toString(16).padStart(2, "0")}`;
    }
    case BPF_LDX: {
      const mode = bpfMode(code);
      if (mode !== BPF_MEM && mode !== BPF_MEMSX) return `BUG_ldx_${code.toString(16).padStart(2, "0")}`;
      const t = (mode === BPF_MEM ? LDST_TYPE : LDSX_TYPE)[bpfSize(code) >> 3] ?? "(null)";
      return `${code2(code)} r${p.dst[i]} = *(${t} *)(r${p.src[i]} ${signed(p.off[i]!)})`;
    }
    case BPF_LD:
      return disasmLd(p, i, opts);
    default:
      return disasmJmp(p, i, opts);
  }
}

function disasmAlu(p: BpfInsns, i: number): string {
  const code = p.code[i]!;
  const c = bpfClass(code) === BPF_ALU ? "w" : "r";
  const op = bpfOp(code);
  const dst = p.dst[i]!;
  const off = p.off[i]!;
  if (op === BPF_END) {
    if (bpfClass(code) === BPF_ALU64) return `${code2(code)} r${dst} = bswap${p.imm[i]} r${dst}`;
    return `${code2(code)} r${dst} = ${bpfSrc(code) === BPF_TO_BE ? "be" : "le"}${p.imm[i]} r${dst}`;
  }
  if (op === BPF_NEG) return `${code2(code)} ${c}${dst} = -${c}${dst}`;
  if (code === (BPF_ALU64 | BPF_MOV | BPF_X) && off === BPF_ADDR_SPACE_CAST) {
    const imm = p.imm[i]! >>> 0;
    return `${code2(code)} r${dst} = addr_space_cast(r${p.src[i]}, ${imm >>> 16}, ${imm & 0xffff})`;
  }
  if (code === (BPF_ALU64 | BPF_MOV | BPF_X) && off === BPF_ADDR_PERCPU) {
    return `${code2(code)} r${dst} = &(void __percpu *)(r${p.src[i]})`;
  }
  const isSigned = (op === BPF_DIV || op === BPF_MOD) && off === 1;
  const sym = isSigned ? (op === BPF_DIV ? "s/=" : "s%=") : ALU_SYM[op >> 4] ?? "(null)";
  if (bpfSrc(code) === BPF_X) {
    const sx = op === BPF_MOV && (off === 8 || off === 16 || off === 32) ? `(s${off})` : "";
    return `${code2(code)} ${c}${dst} ${sym} ${sx}${c}${p.src[i]}`;
  }
  return `${code2(code)} ${c}${dst} ${sym} ${p.imm[i]}`;
}

function disasmStx(p: BpfInsns, i: number): string {
  const code = p.code[i]!;
  const t = LDST_TYPE[bpfSize(code) >> 3]!;
  const dst = p.dst[i]!;
  const src = p.src[i]!;
  const at = `(r${dst} ${signed(p.off[i]!)})`;
  const mode = bpfMode(code);
  if (mode === BPF_MEM) return `${code2(code)} *(${t} *)${at} = r${src}`;
  if (mode !== BPF_ATOMIC) return `BUG_${code.toString(16).padStart(2, "0")}`;
  const imm = p.imm[i]!;
  const w = bpfSize(code) === BPF_DW ? "64" : "";
  const aluOp = imm & ~BPF_FETCH;
  if (ATOMIC_NAME[imm] !== undefined) return `${code2(code)} lock *(${t} *)${at} ${ALU_SYM[imm >> 4]} r${src}`;
  if ((imm & BPF_FETCH) !== 0 && ATOMIC_NAME[aluOp] !== undefined) {
    return `${code2(code)} r${src} = atomic${w}_fetch_${ATOMIC_NAME[aluOp]}((${t} *)${at}, r${src})`;
  }
  if (imm === BPF_CMPXCHG) return `${code2(code)} r0 = atomic${w}_cmpxchg((${t} *)${at}, r0, r${src})`;
  if (imm === BPF_XCHG) return `${code2(code)} r${src} = atomic${w}_xchg((${t} *)${at}, r${src})`;
  if (imm === BPF_LOAD_ACQ) return `${code2(code)} r${dst} = load_acquire((${t} *)(r${src} ${signed(p.off[i]!)}))`;
  if (imm === BPF_STORE_REL) return `${code2(code)} store_release((${t} *)${at}, r${src})`;
  return `BUG_${code.toString(16).padStart(2, "0")}`;
}

function disasmLd(p: BpfInsns, i: number, opts: DisasmOpts): string {
  const code = p.code[i]!;
  const mode = bpfMode(code);
  const t = LDST_TYPE[bpfSize(code) >> 3]!;
  if (mode === BPF_ABS) return `${code2(code)} r0 = *(${t} *)skb[${p.imm[i]}]`;
  if (mode === BPF_IND) return `${code2(code)} r0 = *(${t} *)skb[r${p.src[i]} + ${p.imm[i]}]`;
  if (mode !== BPF_IMM || bpfSize(code) !== BPF_DW) return `BUG_ld_${code.toString(16).padStart(2, "0")}`;
  return `${code2(code)} r${p.dst[i]} = ${ldImm64Text(p, i, opts)}`;
}

function ldImm64Text(p: BpfInsns, i: number, opts: DisasmOpts): string {
  const src = p.src[i]!;
  if (opts.style !== "log") {
    // The kernel's xlated dump turns every map reference back into MAP_FD/MAP_VALUE with the map id in imm.
    const id = (): number => (opts.mapId === undefined ? p.imm[i]! >>> 0 : opts.mapId(p.imm[i]!, src) >>> 0);
    if (src === BPF_PSEUDO_MAP_FD || src === BPF_PSEUDO_MAP_IDX) return `map[id:${id()}]`;
    if (src === BPF_PSEUDO_MAP_VALUE || src === BPF_PSEUDO_MAP_IDX_VALUE) {
      return `map[id:${id()}][0]+${i + 1 < p.len ? p.imm[i + 1]! >>> 0 : 0}`;
    }
    if (src === BPF_PSEUDO_FUNC) return `subprog[${signed(p.imm[i]!)}]`;
  }
  return "0x" + imm64(p, i).toString(16);
}

function callName(p: BpfInsns, i: number, opts: DisasmOpts): string {
  const src = p.src[i]!;
  const imm = p.imm[i]!;
  if (src === 0) {
    const name = opts.helperName?.(imm);
    if (name !== undefined) return name;
    if (imm >= 0 && imm < BPF_FUNC_NAMES.length) return "bpf_" + BPF_FUNC_NAMES[imm]!;
    return "unknown";
  }
  if (src === BPF_PSEUDO_KFUNC_CALL) return opts.kfuncName?.(imm) ?? "kernel-function";
  return "unknown";
}

function disasmJmp(p: BpfInsns, i: number, opts: DisasmOpts): string {
  const code = p.code[i]!;
  const cls = bpfClass(code);
  const op = bpfOp(code);
  const dst = p.dst[i]!;
  if (code === (BPF_JMP | BPF_TAIL_CALL)) return `(85) call bpf_tail_call#${BPF_FUNC_tail_call}`;
  if (op === BPF_CALL && cls === BPF_JMP && bpfSrc(code) === BPF_X) return `${code2(code)} callx r${dst}`;
  if (op === BPF_CALL) {
    if (p.src[i] === BPF_PSEUDO_CALL) {
      const rel = opts.jitedCalls === true ? p.off[i]! : p.imm[i]!;
      const name = opts.subprogName?.(i + 1 + rel);
      return `${code2(code)} call pc${signed(rel)}${name === undefined ? "" : "#" + name}`;
    }
    return `${code2(code)} call ${callName(p, i, opts)}#${p.imm[i]}`;
  }
  if (code === (BPF_JMP | BPF_JA)) return `${code2(code)} goto pc${signed(p.off[i]!)}`;
  if (code === (BPF_JMP | BPF_JA | BPF_X)) return `${code2(code)} gotox r${dst}`;
  if (code === (BPF_JMP | BPF_JCOND) && p.src[i] === 0) return `${code2(code)} may_goto pc${signed(p.off[i]!)}`;
  if (code === (BPF_JMP32 | BPF_JA)) return `${code2(code)} gotol pc${signed(p.imm[i]!)}`;
  if (code === (BPF_JMP | BPF_EXIT)) return `${code2(code)} exit`;
  const c = cls === BPF_JMP32 ? "w" : "r";
  const sym = JMP_SYM[op >> 4] ?? "(null)";
  const rhs = bpfSrc(code) === BPF_X ? `${c}${p.src[i]}` : hex(p.imm[i]!);
  return `${code2(code)} if ${c}${dst} ${sym} ${rhs} goto pc${signed(p.off[i]!)}`;
}

function hexBytes(p: BpfInsns, i: number): string {
  const b = [p.code[i]!, (p.dst[i]! & 0xf) | ((p.src[i]! & 0xf) << 4), p.off[i]! & 0xff, (p.off[i]! >> 8) & 0xff];
  const imm = p.imm[i]!;
  b.push(imm & 0xff, (imm >>> 8) & 0xff, (imm >>> 16) & 0xff, imm >>> 24);
  return b.map((x) => x.toString(16).padStart(2, "0")).join(" ");
}

/**
 * The program as `bpftool prog dump xlated` prints it: "   0: (b7) r0 = 2", one line per
 * insn, the second half of an ld_imm64 skipped (plus the opcodes row with opts.opcodes).
 * @see tools/bpf/bpftool/xlated_dumper.c dump_xlated_plain()
 */
export function dumpXlated(p: BpfInsns, opts: DisasmOpts = {}): string[] {
  const out: string[] = [];
  for (let i = 0; i < p.len; i++) {
    out.push(`${String(i).padStart(4)}: ${disasmInsn(p, i, opts)}`);
    const isDouble = p.code[i] === (BPF_LD | BPF_IMM | BPF_DW);
    if (opts.opcodes === true) {
      out.push(`       ${hexBytes(p, i)}${isDouble && i + 1 < p.len ? " " + hexBytes(p, i + 1) : ""}`);
    }
    if (isDouble) i++;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// .data dialect

const LDDW_KIND: Record<number, string> = {
  [BPF_PSEUDO_MAP_FD]: "map_fd", [BPF_PSEUDO_MAP_VALUE]: "map_value", [BPF_PSEUDO_BTF_ID]: "btf_id",
  [BPF_PSEUDO_FUNC]: "func", [BPF_PSEUDO_MAP_IDX]: "map_idx", [BPF_PSEUDO_MAP_IDX_VALUE]: "map_idx_value",
};
const SIZE_SFX = ["w", "h", "b", "dw"];

function dReg(r: number): string {
  return `%r${r}`;
}

function dMem(r: number, off: number): string {
  return off === 0 ? `[%r${r}]` : `[%r${r}${signed(off)}]`;
}

/** One insn in the .data dialect (best effort; disasmData() checks that it re-encodes). */
function dataInsn(p: BpfInsns, i: number): string {
  const code = p.code[i]!;
  const cls = bpfClass(code);
  const op = bpfOp(code);
  const dst = p.dst[i]!;
  const src = p.src[i]!;
  const off = p.off[i]!;
  const imm = p.imm[i]!;
  const sz = SIZE_SFX[bpfSize(code) >> 3]!;
  if (cls === BPF_ALU || cls === BPF_ALU64) {
    const sfx = cls === BPF_ALU ? "32" : "";
    if (op === BPF_END) return `${cls === BPF_ALU64 ? "bswap" : bpfSrc(code) === BPF_TO_BE ? "be" : "le"}${imm} ${dReg(dst)}`;
    if (op === BPF_NEG) return `neg${sfx} ${dReg(dst)}`;
    if (op === BPF_MOV && bpfSrc(code) === BPF_X && off !== 0) return `movsx${off}${cls === BPF_ALU ? "32" : "64"} ${dReg(dst)}, ${dReg(src)}`;
    const name = ((op === BPF_DIV || op === BPF_MOD) && off === 1 ? "s" : "") + (ALU_OP_NAMES[op] ?? "?") + sfx;
    return `${name} ${dReg(dst)}, ${bpfSrc(code) === BPF_X ? dReg(src) : hex(imm)}`;
  }
  if (cls === BPF_JMP || cls === BPF_JMP32) {
    if (code === (BPF_JMP | BPF_EXIT)) return "exit";
    if (code === (BPF_JMP | BPF_CALL | BPF_X)) return `call ${dReg(dst)}`;
    if (code === (BPF_JMP | BPF_CALL)) {
      if (src === BPF_PSEUDO_CALL) return `call local ${signed(imm)}`;
      if (src === BPF_PSEUDO_KFUNC_CALL) return `call runtime ${imm}`;
      return `call ${hex(imm)}`;
    }
    if (code === (BPF_JMP | BPF_JA)) return `ja ${signed(off)}`;
    if (code === (BPF_JMP32 | BPF_JA)) return `ja32 ${signed(imm)}`;
    const name = (JMP_OP_NAMES[op] ?? "?") + (cls === BPF_JMP32 ? "32" : "");
    return `${name} ${dReg(dst)}, ${bpfSrc(code) === BPF_X ? dReg(src) : hex(imm)}, ${signed(off)}`;
  }
  if (cls === BPF_LD) {
    if (bpfMode(code) === BPF_ABS) return `ldabs${sz} ${hex(imm)}`;
    if (bpfMode(code) === BPF_IND) return `ldind${sz} ${dReg(src)}, ${hex(imm)}`;
    const kind = LDDW_KIND[src];
    const next = i + 1 < p.len ? p.imm[i + 1]! : 0;
    if (src === BPF_PSEUDO_FUNC) return `lddw ${dReg(dst)}, func ${signed(imm)}`;
    if (kind !== undefined) {
      const withOff = src === BPF_PSEUDO_MAP_VALUE || src === BPF_PSEUDO_MAP_IDX_VALUE;
      return `lddw ${dReg(dst)}, ${kind} ${imm}${withOff ? `, ${next}` : ""}`;
    }
    return `lddw ${dReg(dst)}, 0x${imm64(p, i).toString(16)}`;
  }
  if (cls === BPF_LDX) return `ldx${bpfMode(code) === BPF_MEMSX ? "s" : ""}${sz} ${dReg(dst)}, ${dMem(src, off)}`;
  if (cls === BPF_ST) return `st${sz} ${dMem(dst, off)}, ${hex(imm)}`;
  if (bpfMode(code) === BPF_ATOMIC) {
    const s32 = bpfSize(code) === BPF_W ? "32" : "";
    const name = imm === BPF_XCHG ? "xchg" : imm === BPF_CMPXCHG ? "cmpxchg"
      : `${imm & BPF_FETCH ? "fetch " : ""}${ATOMIC_NAME[imm & ~BPF_FETCH] ?? "?"}`;
    return `lock ${name}${s32} ${dMem(dst, off)}, ${dReg(src)}`;
  }
  return `stx${sz} ${dMem(dst, off)}, ${dReg(src)}`;
}

/**
 * The program in the .data dialect, one insn per line (ld_imm64 on one line), jump
 * targets as +N/-N: assemble(disasmData(p)) reproduces p exactly.
 * @throws KernelError EINVAL when an insn has no .data spelling (unknown opcode, non-zero
 *   unused fields, a broken ld_imm64 pair), naming the insn index.
 * @see uBPF ubpf/disassembler.py
 */
export function disasmData(p: BpfInsns): string {
  const lines: string[] = [];
  const at: number[] = [];
  for (let i = 0; i < p.len; i++) {
    at.push(i);
    lines.push(dataInsn(p, i));
    if (p.code[i] === (BPF_LD | BPF_IMM | BPF_DW)) i++;
  }
  const text = lines.join("\n") + "\n";
  let back: BpfInsns | undefined;
  try {
    back = assemble(text);
  } catch (err) {
    const m = /^line (\d+): (.*)$/.exec((err as Error).message);
    const idx = m === null ? -1 : at[Number(m[1]) - 1] ?? -1;
    throw new KernelError(EINVAL, `insn ${idx}: no .data spelling for ${hexBytes(p, Math.max(idx, 0))}: ${m?.[2] ?? String(err)}`);
  }
  for (let i = 0; i < Math.max(p.len, back.len); i++) {
    if (i >= p.len || i >= back.len || p.code[i] !== back.code[i] || p.dst[i] !== back.dst[i] || p.src[i] !== back.src[i]
      || p.off[i] !== back.off[i] || p.imm[i] !== back.imm[i]) {
      throw new KernelError(EINVAL, `insn ${i}: no .data spelling for ${i < p.len ? hexBytes(p, i) : "a truncated ld_imm64"}`);
    }
  }
  return text;
}
