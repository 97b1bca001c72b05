// ALU, byte-swap, division and jump-condition emitters of the eBPF -> wasm
// compiler (the arithmetic half of arch/x86/net/bpf_jit_comp.c do_jit()).
// Semantics are the reference interpreter's (RFC 9669 §4): 32-bit results are
// zero-extended, shifts are masked, division by zero gives 0, modulo by zero
// keeps dst, INT_MIN / -1 wraps (wasm would trap: handled before the divide).
import { BLOCK_VOID, OP, type WasmBuf } from "./wasm_emit.ts";
import {
  BPF_ADD, BPF_ALU64, BPF_AND, BPF_ARSH, BPF_DIV, BPF_JEQ, BPF_JGE, BPF_JGT, BPF_JLE, BPF_JLT, BPF_JMP32, BPF_JNE,
  BPF_JSET, BPF_JSGE, BPF_JSGT, BPF_JSLE, BPF_JSLT, BPF_LSH, BPF_MOD, BPF_MOV, BPF_MUL, BPF_NEG, BPF_OR, BPF_RSH,
  BPF_SUB, BPF_XOR,
} from "../isa/uapi.ts";
import { ALU_END_TO_LE } from "../isa/opcodes.ts";
import { L_T, L_T32, L_T32B } from "./jit_layout.ts";

/** Binary ALU op on i64: dst = dst op operand. */
function alu64(b: WasmBuf, d: number, op: number, isX: boolean, s: number, imm: number): void {
  b.get(d);
  if (isX) b.get(s);
  else b.i64s(imm);
  b.op(op).set(d);
}

/** Pushes the 32-bit operand (low half of src, or imm). */
function opnd32(b: WasmBuf, isX: boolean, s: number, imm: number): void {
  if (isX) b.get(s).op(OP.i32_wrap_i64);
  else b.i32(imm);
}

function alu32(b: WasmBuf, d: number, op: number, isX: boolean, s: number, imm: number): void {
  b.get(d).op(OP.i32_wrap_i64);
  opnd32(b, isX, s, imm);
  b.op(op).op(OP.i64_extend_i32_u).set(d);
}

function bswap32(b: WasmBuf): void {
  // value on stack (i32) -> byte-swapped i32
  b.tee(L_T32).i32(0xff00ff00 | 0).op(OP.i32_and).i32(8).op(OP.i32_rotl);
  b.get(L_T32).i32(0x00ff00ff).op(OP.i32_and).i32(8).op(OP.i32_rotr).op(OP.i32_or);
}

function bswap64(b: WasmBuf, d: number): void {
  b.get(d).op(OP.i32_wrap_i64);
  bswap32(b);
  b.op(OP.i64_extend_i32_u).i64s(32).op(OP.i64_shl).set(L_T);
  b.get(d).i64s(32).op(OP.i64_shr_u).op(OP.i32_wrap_i64);
  bswap32(b);
  b.op(OP.i64_extend_i32_u).get(L_T).op(OP.i64_or).set(d);
}

function bswap16(b: WasmBuf, d: number): void {
  b.get(d).op(OP.i32_wrap_i64).tee(L_T32).i32(0xff).op(OP.i32_and).i32(8).op(OP.i32_shl);
  b.get(L_T32).i32(8).op(OP.i32_shr_u).i32(0xff).op(OP.i32_and).op(OP.i32_or).op(OP.i64_extend_i32_u).set(d);
}

function div64(b: WasmBuf, d: number, isX: boolean, s: number, imm: number, signed: boolean, mod: boolean): void {
  if (!isX) {
    if (imm === 0) {
      if (!mod) b.i64s(0).set(d);
      return;
    }
    if (signed && imm === -1) {
      if (mod) b.i64s(0).set(d);
      else b.i64s(0).get(d).op(OP.i64_sub).set(d);
      return;
    }
    b.get(d).i64s(imm).op(signed ? (mod ? OP.i64_rem_s : OP.i64_div_s) : (mod ? OP.i64_rem_u : OP.i64_div_u)).set(d);
    return;
  }
  // divisor zero: div -> 0, mod -> unchanged; signed -1: div -> -dst, mod -> 0
  b.get(s).op(OP.i64_eqz).u8(OP.if).u8(BLOCK_VOID);
  if (!mod) b.i64s(0).set(d);
  b.u8(OP.else);
  if (signed) {
    b.get(s).i64s(-1).op(OP.i64_eq).u8(OP.if).u8(BLOCK_VOID);
    if (mod) b.i64s(0).set(d);
    else b.i64s(0).get(d).op(OP.i64_sub).set(d);
    b.u8(OP.else);
    b.get(d).get(s).op(mod ? OP.i64_rem_s : OP.i64_div_s).set(d);
    b.op(OP.end);
  } else b.get(d).get(s).op(mod ? OP.i64_rem_u : OP.i64_div_u).set(d);
  b.op(OP.end);
}

function div32(b: WasmBuf, d: number, isX: boolean, s: number, imm: number, signed: boolean, mod: boolean): void {
  // y in L_T32B, x in L_T32
  b.get(d).op(OP.i32_wrap_i64).set(L_T32);
  opnd32(b, isX, s, imm);
  b.set(L_T32B);
  b.get(L_T32B).op(OP.i32_eqz).u8(OP.if).u8(BLOCK_VOID);
  if (!mod) b.i32(0).set(L_T32);
  b.u8(OP.else);
  if (signed) {
    b.get(L_T32B).i32(-1).op(OP.i32_eq).u8(OP.if).u8(BLOCK_VOID);
    if (mod) b.i32(0).set(L_T32);
    else b.i32(0).get(L_T32).op(OP.i32_sub).set(L_T32);
    b.u8(OP.else);
    b.get(L_T32).get(L_T32B).op(mod ? OP.i32_rem_s : OP.i32_div_s).set(L_T32);
    b.op(OP.end);
  } else b.get(L_T32).get(L_T32B).op(mod ? OP.i32_rem_u : OP.i32_div_u).set(L_T32);
  b.op(OP.end);
  b.get(L_T32).op(OP.i64_extend_i32_u).set(d);
}

/** Emits an ALU or ALU64 insn operating on register locals. */
export function emitAlu(b: WasmBuf, c: number, cls: number, op: number, isX: boolean, d: number, s: number, off: number, imm: number): void {
  if (cls === BPF_ALU64) {
    switch (op) {
      case BPF_ADD: alu64(b, d, OP.i64_add, isX, s, imm); break;
      case BPF_SUB: alu64(b, d, OP.i64_sub, isX, s, imm); break;
      case BPF_MUL: alu64(b, d, OP.i64_mul, isX, s, imm); break;
      case BPF_DIV: div64(b, d, isX, s, imm, off === 1, false); break;
      case BPF_MOD: div64(b, d, isX, s, imm, off === 1, true); break;
      case BPF_OR: alu64(b, d, OP.i64_or, isX, s, imm); break;
      case BPF_AND: alu64(b, d, OP.i64_and, isX, s, imm); break;
      case BPF_XOR: alu64(b, d, OP.i64_xor, isX, s, imm); break;
      case BPF_LSH: alu64(b, d, OP.i64_shl, isX, s, imm); break;
      case BPF_RSH: alu64(b, d, OP.i64_shr_u, isX, s, imm); break;
      case BPF_ARSH: alu64(b, d, OP.i64_shr_s, isX, s, imm); break;
      case BPF_NEG: b.i64s(0).get(d).op(OP.i64_sub).set(d); break;
      case BPF_MOV:
        if (!isX) b.i64s(imm).set(d);
        else {
          b.get(s);
          if (off === 8) b.op(OP.i64_extend8_s);
          else if (off === 16) b.op(OP.i64_extend16_s);
          else if (off !== 0) b.op(OP.i64_extend32_s);
          b.set(d);
        }
        break;
      default: // BPF_END: ALU64_END_TO_LE, bswap
        if (imm === 16) bswap16(b, d);
        else if (imm === 32) {
          b.get(d).op(OP.i32_wrap_i64);
          bswap32(b);
          b.op(OP.i64_extend_i32_u).set(d);
        } else bswap64(b, d);
    }
  } else {
    switch (op) {
      case BPF_ADD: alu32(b, d, OP.i32_add, isX, s, imm); break;
      case BPF_SUB: alu32(b, d, OP.i32_sub, isX, s, imm); break;
      case BPF_MUL: alu32(b, d, OP.i32_mul, isX, s, imm); break;
      case BPF_DIV: div32(b, d, isX, s, imm, off === 1, false); break;
      case BPF_MOD: div32(b, d, isX, s, imm, off === 1, true); break;
      case BPF_OR: alu32(b, d, OP.i32_or, isX, s, imm); break;
      case BPF_AND: alu32(b, d, OP.i32_and, isX, s, imm); break;
      case BPF_XOR: alu32(b, d, OP.i32_xor, isX, s, imm); break;
      case BPF_LSH: alu32(b, d, OP.i32_shl, isX, s, imm); break;
      case BPF_RSH: alu32(b, d, OP.i32_shr_u, isX, s, imm); break;
      case BPF_ARSH: alu32(b, d, OP.i32_shr_s, isX, s, imm); break;
      case BPF_NEG: b.i32(0).get(d).op(OP.i32_wrap_i64).op(OP.i32_sub).op(OP.i64_extend_i32_u).set(d); break;
      case BPF_MOV:
        if (!isX) b.i64u(imm).set(d);
        else {
          b.get(s).op(OP.i32_wrap_i64);
          if (off === 8) b.op(OP.i32_extend8_s);
          else if (off === 16) b.op(OP.i32_extend16_s);
          b.op(OP.i64_extend_i32_u).set(d);
        }
        break;
      default:
        if (c === ALU_END_TO_LE) {
          if (imm === 16) b.get(d).i64s(0xffff).op(OP.i64_and).set(d);
          else if (imm === 32) b.get(d).i64u(0xffffffff).op(OP.i64_and).set(d);
        } else if (imm === 16) bswap16(b, d);
        else if (imm === 32) {
          b.get(d).op(OP.i32_wrap_i64);
          bswap32(b);
          b.op(OP.i64_extend_i32_u).set(d);
        } else bswap64(b, d);
    }
  }
}

/** Pushes the i32 truth value of a conditional jump's comparison. */
export function emitCond(b: WasmBuf, cls: number, op: number, isX: boolean, d: number, s: number, imm: number): void {
  const w = cls === BPF_JMP32;
  b.get(d);
  if (w) b.op(OP.i32_wrap_i64);
  if (isX) {
    b.get(s);
    if (w) b.op(OP.i32_wrap_i64);
  } else if (w) b.i32(imm);
  else b.i64s(imm);
  if (op === BPF_JSET) {
    if (w) b.op(OP.i32_and);
    else b.op(OP.i64_and).op(OP.i64_eqz).op(OP.i32_eqz);
  } else b.op(w ? CMP32[op]! : CMP64[op]!);
}

/** The wasm comparison of each conditional jump (BPF_JSET aside), on i64 and on i32 (BPF_JMP32). */
const CMP64: Partial<Record<number, number>> = {
  [BPF_JEQ]: OP.i64_eq, [BPF_JNE]: OP.i64_ne, [BPF_JGT]: OP.i64_gt_u, [BPF_JGE]: OP.i64_ge_u, [BPF_JLT]: OP.i64_lt_u,
  [BPF_JLE]: OP.i64_le_u, [BPF_JSGT]: OP.i64_gt_s, [BPF_JSGE]: OP.i64_ge_s, [BPF_JSLT]: OP.i64_lt_s, [BPF_JSLE]: OP.i64_le_s,
};
const CMP32: Partial<Record<number, number>> = {
  [BPF_JEQ]: OP.i32_eq, [BPF_JNE]: OP.i32_ne, [BPF_JGT]: OP.i32_gt_u, [BPF_JGE]: OP.i32_ge_u, [BPF_JLT]: OP.i32_lt_u,
  [BPF_JLE]: OP.i32_le_u, [BPF_JSGT]: OP.i32_gt_s, [BPF_JSGE]: OP.i32_ge_s, [BPF_JSLT]: OP.i32_lt_s, [BPF_JSLE]: OP.i32_le_s,
};
