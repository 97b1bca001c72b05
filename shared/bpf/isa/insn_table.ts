// One row per eBPF opcode (RFC 9669 BPF ISA, with the v4 additions): class,
// kind, operand constraints, mnemonic in the bpf_conformance/uBPF ".data"
// dialect and the minimum ISA version. Decoder, assembler, disassembler,
// structural checks, interpreter and JIT all read this table.
import {
  BPF_ADD, BPF_ALU, BPF_ALU64, BPF_AND, BPF_ARSH, BPF_ATOMIC, BPF_B, BPF_CALL, BPF_DIV, BPF_DW, BPF_END,
  BPF_EXIT, BPF_H, BPF_IMM, BPF_JA, BPF_JEQ, BPF_JGE, BPF_JGT, BPF_JLE, BPF_JLT, BPF_JMP, BPF_JMP32,
  BPF_JNE, BPF_JSET, BPF_JSGE, BPF_JSGT, BPF_JSLE, BPF_JSLT, BPF_K, BPF_LD, BPF_LDX, BPF_LSH, BPF_MEM,
  BPF_MEMSX, BPF_MOD, BPF_MOV, BPF_MUL, BPF_NEG, BPF_OR, BPF_RSH, BPF_ST, BPF_STX, BPF_SUB, BPF_W,
  BPF_X, BPF_XOR, BPF_ABS, BPF_IND,
} from "./uapi.ts";

/** What an opcode does; consumers switch on these small integers. */
export const K_ALU = 1; // 32-bit ALU
export const K_ALU64 = 2;
export const K_END = 3; // BPF_ALU|BPF_END: le/be; BPF_ALU64|BPF_END: bswap
export const K_JMP = 4; // conditional jump, 64-bit compare
export const K_JMP32 = 5; // conditional jump, 32-bit compare
export const K_JA = 6; // BPF_JMP|BPF_JA (off) and BPF_JMP32|BPF_JA (gotol, imm)
export const K_CALL = 7;
export const K_CALLX = 8;
export const K_EXIT = 9;
export const K_LD_IMM64 = 10;
export const K_LDX = 11;
export const K_LDXSX = 12;
export const K_ST = 13;
export const K_STX = 14;
export const K_ATOMIC = 15;
export const K_LD_ABS = 16; // legacy packet access (cBPF heritage)
export const K_LD_IND = 17;

export interface InsnDesc {
  readonly code: number;
  /**
   * The opcode's name as ___bpf_prog_run()'s jumptable labels it in kernel/bpf/core.c
   * (ALU64_ADD_K, JMP32_JEQ_X, LDX_MEMSX_H, STX_ATOMIC_DW, LD_IMM_DW...): the names
   * opcodes.ts exports, generated from this table.
   */
  readonly name: string;
  readonly kind: number;
  /** Mnemonic in the .data dialect ("add32", "ldxdw", "jsgt32", "lddw"...). */
  readonly mnemonic: string;
  readonly cls: number;
  /** BPF_OP for ALU/JMP classes, BPF_MODE for memory classes. */
  readonly op: number;
  readonly isX: boolean;
  /** Access size in bytes for memory kinds, 0 otherwise. */
  readonly size: number;
  /** Minimum ISA version (1..4) as counted by the conformance suite. */
  readonly isa: number;
}

const SIZE_BYTES: Record<number, number> = { [BPF_W]: 4, [BPF_H]: 2, [BPF_B]: 1, [BPF_DW]: 8 };
const SIZE_SUFFIX: Record<number, string> = { [BPF_W]: "w", [BPF_H]: "h", [BPF_B]: "b", [BPF_DW]: "dw" };

export const ALU_OP_NAMES: Record<number, string> = {
  [BPF_ADD]: "add", [BPF_SUB]: "sub", [BPF_MUL]: "mul", [BPF_DIV]: "div", [BPF_OR]: "or", [BPF_AND]: "and",
  [BPF_LSH]: "lsh", [BPF_RSH]: "rsh", [BPF_NEG]: "neg", [BPF_MOD]: "mod", [BPF_XOR]: "xor", [BPF_MOV]: "mov",
  [BPF_ARSH]: "arsh", [BPF_END]: "end",
};
export const JMP_OP_NAMES: Record<number, string> = {
  [BPF_JEQ]: "jeq", [BPF_JGT]: "jgt", [BPF_JGE]: "jge", [BPF_JSET]: "jset", [BPF_JNE]: "jne",
  [BPF_JSGT]: "jsgt", [BPF_JSGE]: "jsge", [BPF_JLT]: "jlt", [BPF_JLE]: "jle", [BPF_JSLT]: "jslt",
  [BPF_JSLE]: "jsle",
};

const CLASS_NAMES: Record<number, string> = {
  [BPF_LD]: "LD", [BPF_LDX]: "LDX", [BPF_ST]: "ST", [BPF_STX]: "STX", [BPF_ALU]: "ALU", [BPF_JMP]: "JMP",
  [BPF_JMP32]: "JMP32", [BPF_ALU64]: "ALU64",
};
const MODE_NAMES: Record<number, string> = {
  [BPF_IMM]: "IMM", [BPF_ABS]: "ABS", [BPF_IND]: "IND", [BPF_MEM]: "MEM", [BPF_MEMSX]: "MEMSX", [BPF_ATOMIC]: "ATOMIC",
};

/**
 * core.c's label for an opcode: CLASS_OP_SRC for ALU and jumps (ALU_ADD_X, JMP32_JSGT_K), CLASS_MODE_SIZE
 * for memory (LDX_MEM_W, ST_MEM_B, LD_IMM_DW); ALU_NEG, ALU_END_TO_BE, JMP_JA, JMP_CALL, JMP_EXIT as there.
 * The v4 forms core.c runs under an existing label (sdiv/smod: ALU*_DIV/MOD with off 1, movsx: ALU*_MOV_X
 * with off 8/16/32) have no opcode of their own; bswap is ALU64_END_TO_LE, gotol JMP32_JA, ldsx
 * LDX_MEMSX_*; callx (no label in core.c) is JMP_CALL_X.
 */
function kernelName(d: Omit<InsnDesc, "name">): string {
  const cls = CLASS_NAMES[d.cls]!;
  switch (d.kind) {
    case K_ALU: case K_ALU64: {
      const op = ALU_OP_NAMES[d.op]!.toUpperCase();
      return d.op === BPF_NEG ? `${cls}_${op}` : `${cls}_${op}_${d.isX ? "X" : "K"}`;
    }
    case K_JMP: case K_JMP32: return `${cls}_${JMP_OP_NAMES[d.op]!.toUpperCase()}_${d.isX ? "X" : "K"}`;
    case K_END: return `${cls}_END_${d.isX ? "TO_BE" : "TO_LE"}`;
    case K_JA: return `${cls}_JA`;
    case K_CALL: return "JMP_CALL";
    case K_CALLX: return "JMP_CALL_X";
    case K_EXIT: return "JMP_EXIT";
    default: return `${cls}_${MODE_NAMES[d.op]!}_${SIZE_SUFFIX[bpfSize(d.code)]!.toUpperCase()}`;
  }
}

export const INSN_TABLE: ReadonlyArray<InsnDesc | undefined> = buildTable();

function buildTable(): Array<InsnDesc | undefined> {
  const t: Array<InsnDesc | undefined> = new Array(256).fill(undefined);
  const put = (d: Omit<InsnDesc, "name">) => {
    t[d.code] = { ...d, name: kernelName(d) };
  };
  for (const cls of [BPF_ALU, BPF_ALU64]) {
    for (const opStr of Object.keys(ALU_OP_NAMES)) {
      const op = Number(opStr);
      for (const srcBit of [BPF_K, BPF_X]) {
        const code = cls | op | srcBit;
        const sfx = cls === BPF_ALU ? "32" : "";
        if (op === BPF_END) {
          // ALU|END|TO_LE/TO_BE: le/be (v1); ALU64|END|TO_LE: bswap (v4). ALU64|END|TO_BE is reserved.
          if (cls === BPF_ALU64 && srcBit === BPF_X) continue;
          put({ code, kind: K_END, mnemonic: cls === BPF_ALU64 ? "bswap" : srcBit ? "be" : "le", cls, op,
            isX: srcBit === BPF_X, size: 0, isa: cls === BPF_ALU64 ? 4 : 1 });
          continue;
        }
        if (op === BPF_NEG && srcBit === BPF_X) continue;
        put({ code, kind: cls === BPF_ALU ? K_ALU : K_ALU64, mnemonic: ALU_OP_NAMES[op]! + sfx, cls, op,
          isX: srcBit === BPF_X, size: 0, isa: 1 });
      }
    }
  }
  for (const cls of [BPF_JMP, BPF_JMP32]) {
    const sfx = cls === BPF_JMP32 ? "32" : "";
    for (const opStr of Object.keys(JMP_OP_NAMES)) {
      const op = Number(opStr);
      const isa = cls === BPF_JMP32 ? 3 : op === BPF_JLT || op === BPF_JLE || op === BPF_JSLT || op === BPF_JSLE ? 2 : 1;
      for (const srcBit of [BPF_K, BPF_X]) {
        put({ code: cls | op | srcBit, kind: cls === BPF_JMP ? K_JMP : K_JMP32, mnemonic: JMP_OP_NAMES[op]! + sfx,
          cls, op, isX: srcBit === BPF_X, size: 0, isa });
      }
    }
    put({ code: cls | BPF_JA, kind: K_JA, mnemonic: cls === BPF_JMP ? "ja" : "ja32", cls, op: BPF_JA, isX: false,
      size: 0, isa: cls === BPF_JMP ? 1 : 4 });
  }
  put({ code: BPF_JMP | BPF_CALL, kind: K_CALL, mnemonic: "call", cls: BPF_JMP, op: BPF_CALL, isX: false, size: 0, isa: 1 });
  put({ code: BPF_JMP | BPF_CALL | BPF_X, kind: K_CALLX, mnemonic: "callx", cls: BPF_JMP, op: BPF_CALL, isX: true, size: 0, isa: 1 });
  put({ code: BPF_JMP | BPF_EXIT, kind: K_EXIT, mnemonic: "exit", cls: BPF_JMP, op: BPF_EXIT, isX: false, size: 0, isa: 1 });
  put({ code: BPF_LD | BPF_IMM | BPF_DW, kind: K_LD_IMM64, mnemonic: "lddw", cls: BPF_LD, op: BPF_IMM, isX: false, size: 8, isa: 1 });
  for (const sz of [BPF_W, BPF_H, BPF_B]) {
    put({ code: BPF_LD | BPF_ABS | sz, kind: K_LD_ABS, mnemonic: "ldabs" + SIZE_SUFFIX[sz], cls: BPF_LD, op: BPF_ABS,
      isX: false, size: SIZE_BYTES[sz]!, isa: 1 });
    put({ code: BPF_LD | BPF_IND | sz, kind: K_LD_IND, mnemonic: "ldind" + SIZE_SUFFIX[sz], cls: BPF_LD, op: BPF_IND,
      isX: false, size: SIZE_BYTES[sz]!, isa: 1 });
  }
  for (const sz of [BPF_W, BPF_H, BPF_B, BPF_DW]) {
    const s = SIZE_SUFFIX[sz]!;
    const size = SIZE_BYTES[sz]!;
    put({ code: BPF_LDX | BPF_MEM | sz, kind: K_LDX, mnemonic: "ldx" + s, cls: BPF_LDX, op: BPF_MEM, isX: false, size, isa: 1 });
    if (sz !== BPF_DW) {
      put({ code: BPF_LDX | BPF_MEMSX | sz, kind: K_LDXSX, mnemonic: "ldxs" + s, cls: BPF_LDX, op: BPF_MEMSX, isX: false, size, isa: 4 });
    }
    put({ code: BPF_ST | BPF_MEM | sz, kind: K_ST, mnemonic: "st" + s, cls: BPF_ST, op: BPF_MEM, isX: false, size, isa: 1 });
    put({ code: BPF_STX | BPF_MEM | sz, kind: K_STX, mnemonic: "stx" + s, cls: BPF_STX, op: BPF_MEM, isX: false, size, isa: 1 });
  }
  for (const sz of [BPF_W, BPF_DW]) {
    put({ code: BPF_STX | BPF_ATOMIC | sz, kind: K_ATOMIC, mnemonic: "lock", cls: BPF_STX, op: BPF_ATOMIC, isX: false,
      size: SIZE_BYTES[sz]!, isa: 3 });
  }
  return t;
}

/**
 * Whether the insn uses dst_reg / src_reg as a register (rather than leaving the field
 * unused, or src as BPF_PSEUDO_* for calls and ld_imm64). A number above r10 in a used
 * field makes the insn invalid; engines fault it where it is reached.
 */
export function usesDstReg(d: InsnDesc): boolean {
  switch (d.kind) {
    case K_ALU: case K_ALU64: case K_END: case K_CALLX: case K_LD_IMM64: case K_JMP: case K_JMP32:
    case K_LDX: case K_LDXSX: case K_STX: case K_ATOMIC: case K_ST:
      return true;
    default:
      return false;
  }
}
export function usesSrcReg(d: InsnDesc): boolean {
  switch (d.kind) {
    case K_ALU: case K_ALU64: case K_JMP: case K_JMP32: return d.isX;
    case K_LDX: case K_LDXSX: case K_STX: case K_ATOMIC: return true;
    default: return false;
  }
}

/** BPF_CLASS(code). */
export function bpfClass(code: number): number {
  return code & 0x07;
}
/** BPF_OP(code) for ALU/JMP classes. */
export function bpfOp(code: number): number {
  return code & 0xf0;
}
/** BPF_SIZE(code) for memory classes. */
export function bpfSize(code: number): number {
  return code & 0x18;
}
/** BPF_MODE(code) for memory classes. */
export function bpfMode(code: number): number {
  return code & 0xe0;
}
/** BPF_SRC(code). */
export function bpfSrc(code: number): number {
  return code & 0x08;
}
