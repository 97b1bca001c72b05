// The reference interpreter: ___bpf_prog_run() in kernel/bpf/core.c (one
// dispatch per insn on the opcode, case labels named as its jumptable's:
// ALU64_ADD_K, JMP32_JEQ_X, LDX_MEM_W...) and uBPF's ubpf_exec_ex(), on the
// pre-decoded slots of interp_decode.ts, with registers as lo/hi int32 pairs in
// the words before the slots. Every memory access is bounds-checked against the
// regions the program may touch (defence in depth behind the verifier). Nothing
// here allocates or throws: faults are recorded on the VM.
//
// This file is the source: read and edit it. What runs is interp_core.gen.ts
// (interp.ts exports its interpRun), generated from this file by
// gen/interp_core.ts (`npx tsx gen/generate.ts`): every opcode and register
// name replaced by its number, because V8 compiles a switch to a jump table
// only when its case labels are number literals (named labels measured ~10x
// slower on xdp1/xdp2), and canLoad()/canStore() expanded at each access.
// test/gen/generated.test.ts checks that the generated file is up to date.
import type { BpfVm } from "./vm.ts";
import type { BpfProg } from "./prog.ts";
import { FAULT_BAD_HELPER, FAULT_BAD_INSN, FAULT_BUDGET, FAULT_CALL_DEPTH, FAULT_NONE, FAULT_READ, FAULT_UNWIND, FAULT_WRITE } from "./vm.ts";
import { res, mul64, udivmod64, sdivmod64, lsh64, rsh64, arsh64, bswap16, bswap32, ugt64, sgt64 } from "../isa/alu64.ts";
import {
  BPF_ADD, BPF_AND, BPF_CMPXCHG, BPF_FETCH, BPF_FUNC_map_lookup_elem, BPF_FUNC_tail_call, BPF_OR, BPF_XCHG, BPF_XOR,
  MAX_BPF_STACK, MAX_CALL_FRAMES,
} from "../isa/uapi.ts";
import {
  interpOpsOf, slotPc, BACK, D_SHIFT, OP_MASK, REG_MASK, REGS, S_SHIFT, OP_ATOMIC_ADD64, OP_CALL_LOCAL, OP_LD_ARRAY_LOOKUP,
  OP_LD_MAP_LOOKUP, OP_LEA_K, OP_LEA_K_JGT_X, OP_LEA_X, OP_MOVSX32, OP_MOVSX64, REG_WORDS, R0_LO, R0_HI, R1_LO, R1_HI,
  R2_LO, R2_HI, R3_LO, R3_HI, R4_LO, R4_HI, R5_LO, R5_HI, R6_LO, R6_HI, R7_LO, R7_HI, R8_LO, R8_HI, R9_LO, R9_HI, R10_LO,
  R10_HI,
} from "./interp_decode.ts";
import {
  ALU64_ADD_K, ALU64_ADD_X, ALU64_AND_K, ALU64_AND_X, ALU64_ARSH_K, ALU64_ARSH_X, ALU64_DIV_K, ALU64_DIV_X,
  ALU64_END_TO_LE, ALU64_LSH_K, ALU64_LSH_X, ALU64_MOD_K, ALU64_MOD_X, ALU64_MOV_K, ALU64_MOV_X, ALU64_MUL_K,
  ALU64_MUL_X, ALU64_NEG, ALU64_OR_K, ALU64_OR_X, ALU64_RSH_K, ALU64_RSH_X, ALU64_SUB_K, ALU64_SUB_X, ALU64_XOR_K,
  ALU64_XOR_X, ALU_ADD_K, ALU_ADD_X, ALU_AND_K, ALU_AND_X, ALU_ARSH_K, ALU_ARSH_X, ALU_DIV_K, ALU_DIV_X,
  ALU_END_TO_BE, ALU_END_TO_LE, ALU_LSH_K, ALU_LSH_X, ALU_MOD_K, ALU_MOD_X, ALU_MOV_K, ALU_MOV_X, ALU_MUL_K,
  ALU_MUL_X, ALU_NEG, ALU_OR_K, ALU_OR_X, ALU_RSH_K, ALU_RSH_X, ALU_SUB_K, ALU_SUB_X, ALU_XOR_K, ALU_XOR_X, JMP32_JA,
  JMP32_JEQ_K, JMP32_JEQ_X, JMP32_JGE_K, JMP32_JGE_X, JMP32_JGT_K, JMP32_JGT_X, JMP32_JLE_K, JMP32_JLE_X,
  JMP32_JLT_K, JMP32_JLT_X, JMP32_JNE_K, JMP32_JNE_X, JMP32_JSET_K, JMP32_JSET_X, JMP32_JSGE_K, JMP32_JSGE_X,
  JMP32_JSGT_K, JMP32_JSGT_X, JMP32_JSLE_K, JMP32_JSLE_X, JMP32_JSLT_K, JMP32_JSLT_X, JMP_CALL, JMP_CALL_X, JMP_EXIT,
  JMP_JA, JMP_JEQ_K, JMP_JEQ_X, JMP_JGE_K, JMP_JGE_X, JMP_JGT_K, JMP_JGT_X, JMP_JLE_K, JMP_JLE_X, JMP_JLT_K,
  JMP_JLT_X, JMP_JNE_K, JMP_JNE_X, JMP_JSET_K, JMP_JSET_X, JMP_JSGE_K, JMP_JSGE_X, JMP_JSGT_K, JMP_JSGT_X,
  JMP_JSLE_K, JMP_JSLE_X, JMP_JSLT_K, JMP_JSLT_X, LDX_MEMSX_B, LDX_MEMSX_H, LDX_MEMSX_W, LDX_MEM_B, LDX_MEM_DW,
  LDX_MEM_H, LDX_MEM_W, LD_IMM_DW, STX_ATOMIC_DW, STX_ATOMIC_W, STX_MEM_B, STX_MEM_DW, STX_MEM_H, STX_MEM_W,
  ST_MEM_B, ST_MEM_DW, ST_MEM_H, ST_MEM_W,
} from "../isa/opcodes.ts";
import { mapLookupElem } from "./helpers.ts";

/**
 * Runs `prog` with r1 = (r1lo, r1hi). Returns FAULT_NONE with r0 in vm.regs[0..1],
 * or a FAULT_* kind with vm.faultPc/faultAddr set. The caller sets up regions
 * (context, packet, map values) on the VM beforehand.
 *
 * While the program runs its registers live in the first words of its decoded
 * array (interp_decode.ts, REGS), beside the slots; helpers see r0..r5 in
 * vm.regs, copied out before each call (as the JIT does), and r0 is copied
 * to vm.regs at the end. So one program is never run from inside its own run
 * (nothing does: helpers do not run programs).
 */
export function interpRun(vm: BpfVm, prog: BpfProg, r1lo: number, r1hi: number): number {
  let R = interpOpsOf(prog);
  // Every register starts at zero (as ___bpf_prog_run()'s regs[] = {}), so that even an
  // unverified program that reads one before writing it sees the same value on every engine.
  R[R0_LO] = 0; R[R0_HI] = 0; R[R1_LO] = r1lo; R[R1_HI] = r1hi; R[R2_LO] = vm.r2Init; R[R2_HI] = 0;
  R[R3_LO] = 0; R[R3_HI] = 0; R[R4_LO] = 0; R[R4_HI] = 0; R[R5_LO] = 0; R[R5_HI] = 0; R[R6_LO] = 0; R[R6_HI] = 0;
  R[R7_LO] = 0; R[R7_HI] = 0; R[R8_LO] = 0; R[R8_HI] = 0; R[R9_LO] = 0; R[R9_HI] = 0;
  R[R10_LO] = vm.stackTop; R[R10_HI] = 0;
  vm.frameDepth = 0;
  vm.tailCallCnt = 0;
  vm.fault = FAULT_NONE;
  if (vm.prog !== prog) vm.prog = prog; // (a store only when it changes: no write barrier per run)
  vm.budget = vm.budgetInit;
  // interpExec() returns when the program ends (-1) or when another program takes over
  // (a tail call, or a return into a caller whose program differs): then at slot p of
  // vm.prog, and the registers move over to that program's array.
  let p = interpExec(vm, R, REGS);
  while (p >= 0) {
    const next = interpOpsOf(vm.prog!);
    for (let k = 0; k < REG_WORDS; k++) next[k] = R[k]!;
    R = next;
    p = interpExec(vm, R, p);
  }
  vm.regs[0] = R[R0_LO]!;
  vm.regs[1] = R[R0_HI]!;
  return vm.fault;
}

/** Runs vm.prog's slots `ops` (its registers in ops[0..21]) from word index p; see interpRun(). */
function interpExec(vm: BpfVm, ops: Int32Array, p0: number): number {
  const R = ops; // the register file: words 0..21 (REGS)
  let p = p0 | 0; // word index of the current slot: REGS + 4 * pc
  let budget = vm.budget;
  let dv = vm.mem.dv;
  // The packet and stack bounds, in locals: checked inline before the full region search
  // (this function is too large for the optimiser to inline vm.canRead() at every access).
  let pLo = vm.pktLo, pHi = vm.pktHi;
  const sLo = vm.stackBase, sHi = vm.stackTop;
  let w = 0, d = 0, s = 0, a = 0, v = 0, blo = 0;

  for (;;) {
    w = ops[p]!;
    d = (w >>> D_SHIFT) & REG_MASK;
    // Each case ends in `continue` (next slot set) or `return`; a taken jump
    // `break`s to the common code after the switch.
    switch (w & OP_MASK) {
      // ---- ALU64, immediate operand (sign-extended to 64 bits) and register operand ----
      case ALU64_ADD_K: {
        const lo = R[d]!, b = ops[p | 2]!, r = (lo + b) | 0;
        R[d] = r;
        R[d | 1] = (R[d | 1]! + (b >> 31) + ((r >>> 0) < (lo >>> 0) ? 1 : 0)) | 0;
        p = (p + 4) | 0;
        continue;
      }
      case ALU64_ADD_X: {
        s = (w >>> S_SHIFT) & REG_MASK;
        const lo = R[d]!, r = (lo + R[s]!) | 0;
        R[d] = r;
        R[d | 1] = (R[d | 1]! + R[s | 1]! + ((r >>> 0) < (lo >>> 0) ? 1 : 0)) | 0;
        p = (p + 4) | 0;
        continue;
      }
      case ALU64_SUB_K: blo = ops[p | 2]!; sub64(R, d, blo, blo >> 31); p = (p + 4) | 0; continue;
      case ALU64_SUB_X: s = (w >>> S_SHIFT) & REG_MASK; sub64(R, d, R[s]!, R[s | 1]!); p = (p + 4) | 0; continue;
      case ALU64_MUL_K: blo = ops[p | 2]!; mul64(R[d]!, R[d | 1]!, blo, blo >> 31); R[d] = res[0]!; R[d | 1] = res[1]!; p = (p + 4) | 0; continue;
      case ALU64_MUL_X: s = (w >>> S_SHIFT) & REG_MASK; mul64(R[d]!, R[d | 1]!, R[s]!, R[s | 1]!); R[d] = res[0]!; R[d | 1] = res[1]!; p = (p + 4) | 0; continue;
      case ALU64_DIV_K: blo = ops[p | 2]!; div64(R, d, blo, blo >> 31, ops[p | 1]!, 0); p = (p + 4) | 0; continue;
      case ALU64_DIV_X: s = (w >>> S_SHIFT) & REG_MASK; div64(R, d, R[s]!, R[s | 1]!, ops[p | 1]!, 0); p = (p + 4) | 0; continue;
      case ALU64_MOD_K: blo = ops[p | 2]!; div64(R, d, blo, blo >> 31, ops[p | 1]!, 1); p = (p + 4) | 0; continue;
      case ALU64_MOD_X: s = (w >>> S_SHIFT) & REG_MASK; div64(R, d, R[s]!, R[s | 1]!, ops[p | 1]!, 1); p = (p + 4) | 0; continue;
      case ALU64_OR_K: blo = ops[p | 2]!; R[d] = R[d]! | blo; R[d | 1] = R[d | 1]! | (blo >> 31); p = (p + 4) | 0; continue;
      case ALU64_OR_X: s = (w >>> S_SHIFT) & REG_MASK; R[d] = R[d]! | R[s]!; R[d | 1] = R[d | 1]! | R[s | 1]!; p = (p + 4) | 0; continue;
      case ALU64_AND_K: blo = ops[p | 2]!; R[d] = R[d]! & blo; R[d | 1] = R[d | 1]! & (blo >> 31); p = (p + 4) | 0; continue;
      case ALU64_AND_X: s = (w >>> S_SHIFT) & REG_MASK; R[d] = R[d]! & R[s]!; R[d | 1] = R[d | 1]! & R[s | 1]!; p = (p + 4) | 0; continue;
      case ALU64_XOR_K: blo = ops[p | 2]!; R[d] = R[d]! ^ blo; R[d | 1] = R[d | 1]! ^ (blo >> 31); p = (p + 4) | 0; continue;
      case ALU64_XOR_X: s = (w >>> S_SHIFT) & REG_MASK; R[d] = R[d]! ^ R[s]!; R[d | 1] = R[d | 1]! ^ R[s | 1]!; p = (p + 4) | 0; continue;
      case ALU64_LSH_K: // count masked at decode; the common small shifts inline
        v = ops[p | 2]!;
        if (v > 0 && v < 32) {
          R[d | 1] = (R[d | 1]! << v) | (R[d]! >>> (32 - v));
          R[d] = R[d]! << v;
        } else if (v !== 0) { lsh64(R[d]!, R[d | 1]!, v); R[d] = res[0]!; R[d | 1] = res[1]!; }
        p = (p + 4) | 0;
        continue;
      case ALU64_LSH_X: lsh64(R[d]!, R[d | 1]!, R[(w >>> S_SHIFT) & REG_MASK]!); R[d] = res[0]!; R[d | 1] = res[1]!; p = (p + 4) | 0; continue;
      case ALU64_RSH_K:
        v = ops[p | 2]!;
        if (v > 0 && v < 32) {
          R[d] = (R[d]! >>> v) | (R[d | 1]! << (32 - v));
          R[d | 1] = R[d | 1]! >>> v;
        } else if (v !== 0) { rsh64(R[d]!, R[d | 1]!, v); R[d] = res[0]!; R[d | 1] = res[1]!; }
        p = (p + 4) | 0;
        continue;
      case ALU64_RSH_X: rsh64(R[d]!, R[d | 1]!, R[(w >>> S_SHIFT) & REG_MASK]!); R[d] = res[0]!; R[d | 1] = res[1]!; p = (p + 4) | 0; continue;
      case ALU64_ARSH_K: arsh64(R[d]!, R[d | 1]!, ops[p | 2]!); R[d] = res[0]!; R[d | 1] = res[1]!; p = (p + 4) | 0; continue;
      case ALU64_ARSH_X: arsh64(R[d]!, R[d | 1]!, R[(w >>> S_SHIFT) & REG_MASK]!); R[d] = res[0]!; R[d | 1] = res[1]!; p = (p + 4) | 0; continue;
      case ALU64_NEG: { const lo = R[d]!; R[d] = -lo | 0; R[d | 1] = (~R[d | 1]! + (lo === 0 ? 1 : 0)) | 0; p = (p + 4) | 0; continue; }
      case ALU64_MOV_K: blo = ops[p | 2]!; R[d] = blo; R[d | 1] = blo >> 31; p = (p + 4) | 0; continue;
      case ALU64_MOV_X: s = (w >>> S_SHIFT) & REG_MASK; R[d] = R[s]!; R[d | 1] = R[s | 1]!; p = (p + 4) | 0; continue;
      case OP_LEA_K: { // rD = rS; rD += K
        s = (w >>> S_SHIFT) & REG_MASK;
        const lo = R[s]!, b = ops[(p + 6) | 0]!, r = (lo + b) | 0;
        R[d] = r;
        R[d | 1] = (R[s | 1]! + (b >> 31) + ((r >>> 0) < (lo >>> 0) ? 1 : 0)) | 0;
        p = (p + 8) | 0;
        continue;
      }
      case OP_LEA_X: { // rD = rS; rD += rX (rX read after the move, so rX == rD adds rS)
        s = (w >>> S_SHIFT) & REG_MASK;
        R[d] = R[s]!;
        R[d | 1] = R[s | 1]!;
        const x = (ops[(p + 4) | 0]! >>> 14) & 31, lo = R[d]!, r = (lo + R[x]!) | 0;
        R[d] = r;
        R[d | 1] = (R[d | 1]! + R[x | 1]! + ((r >>> 0) < (lo >>> 0) ? 1 : 0)) | 0;
        p = (p + 8) | 0;
        continue;
      }
      case OP_LEA_K_JGT_X: { // rD = rS; rD += K; if rD > rX goto T
        s = (w >>> S_SHIFT) & REG_MASK;
        const lo = R[s]!, b = ops[(p + 6) | 0]!, r = (lo + b) | 0;
        const hi = (R[s | 1]! + (b >> 31) + ((r >>> 0) < (lo >>> 0) ? 1 : 0)) | 0;
        R[d] = r;
        R[d | 1] = hi;
        w = ops[(p + 8) | 0]!;
        p = (p + 8) | 0;
        s = (w >>> S_SHIFT) & REG_MASK;
        const bh = R[s | 1]! >>> 0;
        if (hi >>> 0 > bh || (hi >>> 0 === bh && r >>> 0 > R[s]! >>> 0)) break;
        p = (p + 4) | 0;
        continue;
      }
      case OP_MOVSX64: { // off 8/16/32: sign-extend the low bits of src to 64 bits
        const o = ops[p | 1]!, x = R[(w >>> S_SHIFT) & REG_MASK]!;
        v = o === 8 ? (x << 24) >> 24 : o === 16 ? (x << 16) >> 16 : x;
        R[d] = v;
        R[d | 1] = v >> 31;
        p = (p + 4) | 0;
        continue;
      }
      case ALU64_END_TO_LE: { // bswap16/32/64
        const bits = ops[p | 2]!;
        if (bits === 16) { R[d] = bswap16(R[d]!); R[d | 1] = 0; }
        else if (bits === 32) { R[d] = bswap32(R[d]!); R[d | 1] = 0; }
        else { const lo = R[d]!; R[d] = bswap32(R[d | 1]!); R[d | 1] = bswap32(lo); }
        p = (p + 4) | 0;
        continue;
      }

      // ---- ALU (32-bit; the result is zero-extended into the 64-bit register) ----
      case ALU_ADD_K: R[d] = (R[d]! + ops[p | 2]!) | 0; R[d | 1] = 0; p = (p + 4) | 0; continue;
      case ALU_ADD_X: R[d] = (R[d]! + R[(w >>> S_SHIFT) & REG_MASK]!) | 0; R[d | 1] = 0; p = (p + 4) | 0; continue;
      case ALU_SUB_K: R[d] = (R[d]! - ops[p | 2]!) | 0; R[d | 1] = 0; p = (p + 4) | 0; continue;
      case ALU_SUB_X: R[d] = (R[d]! - R[(w >>> S_SHIFT) & REG_MASK]!) | 0; R[d | 1] = 0; p = (p + 4) | 0; continue;
      case ALU_MUL_K: R[d] = Math.imul(R[d]!, ops[p | 2]!); R[d | 1] = 0; p = (p + 4) | 0; continue;
      case ALU_MUL_X: R[d] = Math.imul(R[d]!, R[(w >>> S_SHIFT) & REG_MASK]!); R[d | 1] = 0; p = (p + 4) | 0; continue;
      case ALU_DIV_K: R[d] = div32(R[d]!, ops[p | 2]!, ops[p | 1]!); R[d | 1] = 0; p = (p + 4) | 0; continue;
      case ALU_DIV_X: R[d] = div32(R[d]!, R[(w >>> S_SHIFT) & REG_MASK]!, ops[p | 1]!); R[d | 1] = 0; p = (p + 4) | 0; continue;
      case ALU_MOD_K: R[d] = mod32(R[d]!, ops[p | 2]!, ops[p | 1]!); R[d | 1] = 0; p = (p + 4) | 0; continue;
      case ALU_MOD_X: R[d] = mod32(R[d]!, R[(w >>> S_SHIFT) & REG_MASK]!, ops[p | 1]!); R[d | 1] = 0; p = (p + 4) | 0; continue;
      case ALU_OR_K: R[d] = R[d]! | ops[p | 2]!; R[d | 1] = 0; p = (p + 4) | 0; continue;
      case ALU_OR_X: R[d] = R[d]! | R[(w >>> S_SHIFT) & REG_MASK]!; R[d | 1] = 0; p = (p + 4) | 0; continue;
      case ALU_AND_K: R[d] = R[d]! & ops[p | 2]!; R[d | 1] = 0; p = (p + 4) | 0; continue;
      case ALU_AND_X: R[d] = R[d]! & R[(w >>> S_SHIFT) & REG_MASK]!; R[d | 1] = 0; p = (p + 4) | 0; continue;
      case ALU_XOR_K: R[d] = R[d]! ^ ops[p | 2]!; R[d | 1] = 0; p = (p + 4) | 0; continue;
      case ALU_XOR_X: R[d] = R[d]! ^ R[(w >>> S_SHIFT) & REG_MASK]!; R[d | 1] = 0; p = (p + 4) | 0; continue;
      case ALU_LSH_K: R[d] = R[d]! << ops[p | 2]!; R[d | 1] = 0; p = (p + 4) | 0; continue;
      case ALU_LSH_X: R[d] = R[d]! << (R[(w >>> S_SHIFT) & REG_MASK]! & 31); R[d | 1] = 0; p = (p + 4) | 0; continue;
      case ALU_RSH_K: R[d] = R[d]! >>> ops[p | 2]!; R[d | 1] = 0; p = (p + 4) | 0; continue;
      case ALU_RSH_X: R[d] = R[d]! >>> (R[(w >>> S_SHIFT) & REG_MASK]! & 31); R[d | 1] = 0; p = (p + 4) | 0; continue;
      case ALU_ARSH_K: R[d] = R[d]! >> ops[p | 2]!; R[d | 1] = 0; p = (p + 4) | 0; continue;
      case ALU_ARSH_X: R[d] = R[d]! >> (R[(w >>> S_SHIFT) & REG_MASK]! & 31); R[d | 1] = 0; p = (p + 4) | 0; continue;
      case ALU_NEG: R[d] = -R[d]! | 0; R[d | 1] = 0; p = (p + 4) | 0; continue;
      case ALU_MOV_K: R[d] = ops[p | 2]!; R[d | 1] = 0; p = (p + 4) | 0; continue;
      case ALU_MOV_X: R[d] = R[(w >>> S_SHIFT) & REG_MASK]!; R[d | 1] = 0; p = (p + 4) | 0; continue;
      case OP_MOVSX32: { // off 8/16
        const o = ops[p | 1]!, x = R[(w >>> S_SHIFT) & REG_MASK]!;
        R[d] = o === 8 ? (x << 24) >> 24 : o === 16 ? (x << 16) >> 16 : x;
        R[d | 1] = 0;
        p = (p + 4) | 0;
        continue;
      }
      case ALU_END_TO_LE: { // le16/32/64: a no-op on little-endian apart from truncation
        const bits = ops[p | 2]!;
        if (bits === 16) { R[d] = R[d]! & 0xffff; R[d | 1] = 0; }
        else if (bits === 32) R[d | 1] = 0;
        p = (p + 4) | 0;
        continue;
      }
      case ALU_END_TO_BE: { // be16/32/64
        const bits = ops[p | 2]!;
        if (bits === 16) { R[d] = bswap16(R[d]!); R[d | 1] = 0; }
        else if (bits === 32) { R[d] = bswap32(R[d]!); R[d | 1] = 0; }
        else { const lo = R[d]!; R[d] = bswap32(R[d | 1]!); R[d | 1] = bswap32(lo); }
        p = (p + 4) | 0;
        continue;
      }

      // ---- Jumps: a taken branch breaks out of the switch ----
      case JMP_JA: case JMP32_JA: break; // ja, gotol
      // 64-bit compares, K (imm sign-extended: high half in w3) and X
      case JMP_JEQ_K: if (R[d] === ops[p | 2] && R[d | 1] === ops[p | 3]) break; p = (p + 4) | 0; continue;
      case JMP_JEQ_X: s = (w >>> S_SHIFT) & REG_MASK; if (R[d] === R[s] && R[d | 1] === R[s | 1]) break; p = (p + 4) | 0; continue;
      case JMP_JNE_K: if (R[d] !== ops[p | 2] || R[d | 1] !== ops[p | 3]) break; p = (p + 4) | 0; continue;
      case JMP_JNE_X: s = (w >>> S_SHIFT) & REG_MASK; if (R[d] !== R[s] || R[d | 1] !== R[s | 1]) break; p = (p + 4) | 0; continue;
      case JMP_JSET_K: if (((R[d]! & ops[p | 2]!) | (R[d | 1]! & ops[p | 3]!)) !== 0) break; p = (p + 4) | 0; continue;
      case JMP_JSET_X: s = (w >>> S_SHIFT) & REG_MASK; if (((R[d]! & R[s]!) | (R[d | 1]! & R[s | 1]!)) !== 0) break; p = (p + 4) | 0; continue;
      case JMP_JGT_K: if (ugt64(R[d]!, R[d | 1]!, ops[p | 2]!, ops[p | 3]!)) break; p = (p + 4) | 0; continue;
      case JMP_JGT_X: { // inline: the packet bounds check
        s = (w >>> S_SHIFT) & REG_MASK;
        const ah = R[d | 1]! >>> 0, bh = R[s | 1]! >>> 0;
        if (ah > bh || (ah === bh && R[d]! >>> 0 > R[s]! >>> 0)) break;
        p = (p + 4) | 0;
        continue;
      }
      case JMP_JGE_K: if (!ugt64(ops[p | 2]!, ops[p | 3]!, R[d]!, R[d | 1]!)) break; p = (p + 4) | 0; continue;
      case JMP_JGE_X: s = (w >>> S_SHIFT) & REG_MASK; if (!ugt64(R[s]!, R[s | 1]!, R[d]!, R[d | 1]!)) break; p = (p + 4) | 0; continue;
      case JMP_JLT_K: if (ugt64(ops[p | 2]!, ops[p | 3]!, R[d]!, R[d | 1]!)) break; p = (p + 4) | 0; continue;
      case JMP_JLT_X: s = (w >>> S_SHIFT) & REG_MASK; if (ugt64(R[s]!, R[s | 1]!, R[d]!, R[d | 1]!)) break; p = (p + 4) | 0; continue;
      case JMP_JLE_K: if (!ugt64(R[d]!, R[d | 1]!, ops[p | 2]!, ops[p | 3]!)) break; p = (p + 4) | 0; continue;
      case JMP_JLE_X: s = (w >>> S_SHIFT) & REG_MASK; if (!ugt64(R[d]!, R[d | 1]!, R[s]!, R[s | 1]!)) break; p = (p + 4) | 0; continue;
      case JMP_JSGT_K: if (sgt64(R[d]!, R[d | 1]!, ops[p | 2]!, ops[p | 3]!)) break; p = (p + 4) | 0; continue;
      case JMP_JSGT_X: s = (w >>> S_SHIFT) & REG_MASK; if (sgt64(R[d]!, R[d | 1]!, R[s]!, R[s | 1]!)) break; p = (p + 4) | 0; continue;
      case JMP_JSGE_K: if (!sgt64(ops[p | 2]!, ops[p | 3]!, R[d]!, R[d | 1]!)) break; p = (p + 4) | 0; continue;
      case JMP_JSGE_X: s = (w >>> S_SHIFT) & REG_MASK; if (!sgt64(R[s]!, R[s | 1]!, R[d]!, R[d | 1]!)) break; p = (p + 4) | 0; continue;
      case JMP_JSLT_K: if (sgt64(ops[p | 2]!, ops[p | 3]!, R[d]!, R[d | 1]!)) break; p = (p + 4) | 0; continue;
      case JMP_JSLT_X: s = (w >>> S_SHIFT) & REG_MASK; if (sgt64(R[s]!, R[s | 1]!, R[d]!, R[d | 1]!)) break; p = (p + 4) | 0; continue;
      case JMP_JSLE_K: if (!sgt64(R[d]!, R[d | 1]!, ops[p | 2]!, ops[p | 3]!)) break; p = (p + 4) | 0; continue;
      case JMP_JSLE_X: s = (w >>> S_SHIFT) & REG_MASK; if (!sgt64(R[d]!, R[d | 1]!, R[s]!, R[s | 1]!)) break; p = (p + 4) | 0; continue;
      // 32-bit compares on the low halves
      case JMP32_JEQ_K: if (R[d] === ops[p | 2]) break; p = (p + 4) | 0; continue;
      case JMP32_JEQ_X: if (R[d] === R[(w >>> S_SHIFT) & REG_MASK]) break; p = (p + 4) | 0; continue;
      case JMP32_JNE_K: if (R[d] !== ops[p | 2]) break; p = (p + 4) | 0; continue;
      case JMP32_JNE_X: if (R[d] !== R[(w >>> S_SHIFT) & REG_MASK]) break; p = (p + 4) | 0; continue;
      case JMP32_JSET_K: if ((R[d]! & ops[p | 2]!) !== 0) break; p = (p + 4) | 0; continue;
      case JMP32_JSET_X: if ((R[d]! & R[(w >>> S_SHIFT) & REG_MASK]!) !== 0) break; p = (p + 4) | 0; continue;
      case JMP32_JGT_K: if (R[d]! >>> 0 > ops[p | 2]! >>> 0) break; p = (p + 4) | 0; continue;
      case JMP32_JGT_X: if (R[d]! >>> 0 > R[(w >>> S_SHIFT) & REG_MASK]! >>> 0) break; p = (p + 4) | 0; continue;
      case JMP32_JGE_K: if (R[d]! >>> 0 >= ops[p | 2]! >>> 0) break; p = (p + 4) | 0; continue;
      case JMP32_JGE_X: if (R[d]! >>> 0 >= R[(w >>> S_SHIFT) & REG_MASK]! >>> 0) break; p = (p + 4) | 0; continue;
      case JMP32_JLT_K: if (R[d]! >>> 0 < ops[p | 2]! >>> 0) break; p = (p + 4) | 0; continue;
      case JMP32_JLT_X: if (R[d]! >>> 0 < R[(w >>> S_SHIFT) & REG_MASK]! >>> 0) break; p = (p + 4) | 0; continue;
      case JMP32_JLE_K: if (R[d]! >>> 0 <= ops[p | 2]! >>> 0) break; p = (p + 4) | 0; continue;
      case JMP32_JLE_X: if (R[d]! >>> 0 <= R[(w >>> S_SHIFT) & REG_MASK]! >>> 0) break; p = (p + 4) | 0; continue;
      case JMP32_JSGT_K: if (R[d]! > ops[p | 2]!) break; p = (p + 4) | 0; continue;
      case JMP32_JSGT_X: if (R[d]! > R[(w >>> S_SHIFT) & REG_MASK]!) break; p = (p + 4) | 0; continue;
      case JMP32_JSGE_K: if (R[d]! >= ops[p | 2]!) break; p = (p + 4) | 0; continue;
      case JMP32_JSGE_X: if (R[d]! >= R[(w >>> S_SHIFT) & REG_MASK]!) break; p = (p + 4) | 0; continue;
      case JMP32_JSLT_K: if (R[d]! < ops[p | 2]!) break; p = (p + 4) | 0; continue;
      case JMP32_JSLT_X: if (R[d]! < R[(w >>> S_SHIFT) & REG_MASK]!) break; p = (p + 4) | 0; continue;
      case JMP32_JSLE_K: if (R[d]! <= ops[p | 2]!) break; p = (p + 4) | 0; continue;
      case JMP32_JSLE_X: if (R[d]! <= R[(w >>> S_SHIFT) & REG_MASK]!) break; p = (p + 4) | 0; continue;

      // ---- Calls and exit ----
      case OP_CALL_LOCAL: { // bpf-to-bpf call: push a frame; the callee gets its own 512-byte stack slice
        if (vm.frameDepth + 1 >= MAX_CALL_FRAMES) return stop(vm, FAULT_CALL_DEPTH, (p - REGS) >> 2);
        if (--budget < 0) return stop(vm, FAULT_BUDGET, (p - REGS) >> 2);
        const f = vm.frameDepth;
        const sv = vm.savedRegs, base = f * 10;
        for (let k = 0; k < 10; k++) sv[base + k] = R[R6_LO + k]!; // r6..r10
        vm.savedPc[f] = p + 4;
        vm.savedProg[f] = vm.prog;
        vm.frameDepth = f + 1;
        R[R10_LO] = vm.stackTop - (f + 1) * MAX_BPF_STACK;
        R[R10_HI] = 0;
        p = ops[p | 1]!;
        continue;
      }
      case JMP_CALL: case JMP_CALL_X: { // helper call: BPF_CALL imm, or callx with the id in dst
        const id = (w & OP_MASK) === JMP_CALL ? ops[p | 2]! : R[d]!;
        if (id === BPF_FUNC_tail_call) {
          const target = vm.tailCallTarget(R[R2_LO]!, R[R2_HI]!, R[R3_LO]!);
          if (target !== null) {
            vm.prog = target;
            if (--budget < 0) return stop(vm, FAULT_BUDGET, 0);
            vm.budget = budget;
            return REGS;
          }
          p = (p + 4) | 0;
          continue;
        }
        const fn = id >= 0 ? vm.helpers[id] : undefined;
        if (fn === undefined) return stop(vm, FAULT_BAD_HELPER, (p - REGS) >> 2);
        vm.faultPc = (p - REGS) >> 2;
        const VR = vm.regs;
        for (let k = R0_LO; k <= R5_HI; k++) VR[k] = R[k]!; // r0..r5 for the helper
        fn(vm);
        R[R0_LO] = VR[R0_LO]!;
        R[R0_HI] = VR[R0_HI]!;
        if (vm.fault !== FAULT_NONE) {
          if (vm.fault === FAULT_UNWIND) vm.fault = FAULT_NONE;
          else vm.faultPc = (p - REGS) >> 2;
          return -1;
        }
        dv = vm.mem.dv;
        pLo = vm.pktLo;
        pHi = vm.pktHi;
        p = (p + 4) | 0;
        continue;
      }
      case JMP_EXIT: {
        const f = vm.frameDepth;
        if (f === 0) {
          vm.budget = budget;
          return -1;
        }
        const nf = f - 1;
        const sv = vm.savedRegs, base = nf * 10;
        for (let k = 0; k < 10; k++) R[R6_LO + k] = sv[base + k]!;
        p = vm.savedPc[nf]!;
        const caller = vm.savedProg[nf]!;
        vm.savedProg[nf] = null;
        vm.frameDepth = nf;
        if (caller !== vm.prog) {
          // a tail call inside the callee replaced its program; resume the caller's
          vm.prog = caller;
          vm.budget = budget;
          return p;
        }
        continue;
      }

      // ---- ld_imm64 (value resolved at load time) ----
      case OP_LD_MAP_LOOKUP: case OP_LD_ARRAY_LOOKUP: { // r1 = map; (r2 set before) call bpf_map_lookup_elem
        const pr = vm.prog!, map = pr.usedMaps[ops[p | 3]!]!;
        R[d] = pr.ldLo[(p - REGS) >> 2]!;
        R[d | 1] = pr.ldHi[(p - REGS) >> 2]!;
        a = R[R2_LO]! >>> 0;
        // Anything the helper would refuse (or another helper table) goes the plain way, to fault as it does.
        const ks = map.keySize;
        if (vm.helpers[BPF_FUNC_map_lookup_elem] !== mapLookupElem || R[R2_HI] !== 0 || !((a >= sLo && a + ks <= sHi) || vm.canRead(a, ks))) { p = (p + 8) | 0; continue; }
        if ((w & OP_MASK) === OP_LD_ARRAY_LOOKUP) { // inlined as array_map_gen_lookup(); the ld_imm64's second slot holds the array's layout
          v = dv.getInt32(a, true) >>> 0;
          R[R0_LO] = v < ops[(p + 4) | 1]! >>> 0 ? ops[(p + 4) | 2]! + v * ops[(p + 4) | 3]! : 0;
        } else R[R0_LO] = map.lookupElem(a);
        R[R0_HI] = 0;
        p = (p + 12) | 0;
        continue;
      }
      case LD_IMM_DW: { const pr = vm.prog!; R[d] = pr.ldLo[(p - REGS) >> 2]!; R[d | 1] = pr.ldHi[(p - REGS) >> 2]!; p = (p + 8) | 0; continue; }

      // ---- Loads: dst = *(size *)(src + off); a fault names the address as src + off ----
      // (src + off below zero needs no test of its own: no region starts below the NULL guard.)
      case LDX_MEM_W:
        s = (w >>> S_SHIFT) & REG_MASK;
        a = (R[s]! >>> 0) + ops[p | 1]!;
        if (!canLoad(vm, R[s | 1]!, a, 4, pLo, pHi, sLo, sHi)) return stopAt(vm, FAULT_READ, (p - REGS) >> 2, R[s]! + ops[p | 1]!, 4);
        R[d] = dv.getInt32(a, true); R[d | 1] = 0;
        p = (p + 4) | 0;
        continue;
      case LDX_MEM_H:
        s = (w >>> S_SHIFT) & REG_MASK;
        a = (R[s]! >>> 0) + ops[p | 1]!;
        if (!canLoad(vm, R[s | 1]!, a, 2, pLo, pHi, sLo, sHi)) return stopAt(vm, FAULT_READ, (p - REGS) >> 2, R[s]! + ops[p | 1]!, 2);
        R[d] = dv.getUint16(a, true); R[d | 1] = 0;
        p = (p + 4) | 0;
        continue;
      case LDX_MEM_B:
        s = (w >>> S_SHIFT) & REG_MASK;
        a = (R[s]! >>> 0) + ops[p | 1]!;
        if (!canLoad(vm, R[s | 1]!, a, 1, pLo, pHi, sLo, sHi)) return stopAt(vm, FAULT_READ, (p - REGS) >> 2, R[s]! + ops[p | 1]!, 1);
        R[d] = dv.getUint8(a); R[d | 1] = 0;
        p = (p + 4) | 0;
        continue;
      case LDX_MEM_DW:
        s = (w >>> S_SHIFT) & REG_MASK;
        a = (R[s]! >>> 0) + ops[p | 1]!;
        if (!canLoad(vm, R[s | 1]!, a, 8, pLo, pHi, sLo, sHi)) return stopAt(vm, FAULT_READ, (p - REGS) >> 2, R[s]! + ops[p | 1]!, 8);
        R[d] = dv.getInt32(a, true); R[d | 1] = dv.getInt32(a + 4, true);
        p = (p + 4) | 0;
        continue;
      case LDX_MEMSX_W:
        s = (w >>> S_SHIFT) & REG_MASK;
        a = (R[s]! >>> 0) + ops[p | 1]!;
        if (!canLoad(vm, R[s | 1]!, a, 4, pLo, pHi, sLo, sHi)) return stopAt(vm, FAULT_READ, (p - REGS) >> 2, R[s]! + ops[p | 1]!, 4);
        v = dv.getInt32(a, true); R[d] = v; R[d | 1] = v >> 31;
        p = (p + 4) | 0;
        continue;
      case LDX_MEMSX_H:
        s = (w >>> S_SHIFT) & REG_MASK;
        a = (R[s]! >>> 0) + ops[p | 1]!;
        if (!canLoad(vm, R[s | 1]!, a, 2, pLo, pHi, sLo, sHi)) return stopAt(vm, FAULT_READ, (p - REGS) >> 2, R[s]! + ops[p | 1]!, 2);
        v = dv.getInt16(a, true); R[d] = v; R[d | 1] = v >> 31;
        p = (p + 4) | 0;
        continue;
      case LDX_MEMSX_B:
        s = (w >>> S_SHIFT) & REG_MASK;
        a = (R[s]! >>> 0) + ops[p | 1]!;
        if (!canLoad(vm, R[s | 1]!, a, 1, pLo, pHi, sLo, sHi)) return stopAt(vm, FAULT_READ, (p - REGS) >> 2, R[s]! + ops[p | 1]!, 1);
        v = dv.getInt8(a); R[d] = v; R[d | 1] = v >> 31;
        p = (p + 4) | 0;
        continue;

      // ---- Stores: *(size *)(dst + off) = imm (ST) or src (STX) ----
      case ST_MEM_W:
        a = (R[d]! >>> 0) + ops[p | 1]!;
        if (!canStore(vm, R[d | 1]!, a, 4, pLo, pHi, sLo, sHi)) return stopAt(vm, FAULT_WRITE, (p - REGS) >> 2, R[d]! + ops[p | 1]!, 4);
        dv.setInt32(a, ops[p | 2]!, true);
        p = (p + 4) | 0;
        continue;
      case ST_MEM_H:
        a = (R[d]! >>> 0) + ops[p | 1]!;
        if (!canStore(vm, R[d | 1]!, a, 2, pLo, pHi, sLo, sHi)) return stopAt(vm, FAULT_WRITE, (p - REGS) >> 2, R[d]! + ops[p | 1]!, 2);
        dv.setInt16(a, ops[p | 2]!, true);
        p = (p + 4) | 0;
        continue;
      case ST_MEM_B:
        a = (R[d]! >>> 0) + ops[p | 1]!;
        if (!canStore(vm, R[d | 1]!, a, 1, pLo, pHi, sLo, sHi)) return stopAt(vm, FAULT_WRITE, (p - REGS) >> 2, R[d]! + ops[p | 1]!, 1);
        dv.setInt8(a, ops[p | 2]!);
        p = (p + 4) | 0;
        continue;
      case ST_MEM_DW:
        a = (R[d]! >>> 0) + ops[p | 1]!;
        if (!canStore(vm, R[d | 1]!, a, 8, pLo, pHi, sLo, sHi)) return stopAt(vm, FAULT_WRITE, (p - REGS) >> 2, R[d]! + ops[p | 1]!, 8);
        v = ops[p | 2]!; dv.setInt32(a, v, true); dv.setInt32(a + 4, v >> 31, true);
        p = (p + 4) | 0;
        continue;
      case STX_MEM_W:
        a = (R[d]! >>> 0) + ops[p | 1]!;
        if (!canStore(vm, R[d | 1]!, a, 4, pLo, pHi, sLo, sHi)) return stopAt(vm, FAULT_WRITE, (p - REGS) >> 2, R[d]! + ops[p | 1]!, 4);
        dv.setInt32(a, R[(w >>> S_SHIFT) & REG_MASK]!, true);
        p = (p + 4) | 0;
        continue;
      case STX_MEM_H:
        a = (R[d]! >>> 0) + ops[p | 1]!;
        if (!canStore(vm, R[d | 1]!, a, 2, pLo, pHi, sLo, sHi)) return stopAt(vm, FAULT_WRITE, (p - REGS) >> 2, R[d]! + ops[p | 1]!, 2);
        dv.setInt16(a, R[(w >>> S_SHIFT) & REG_MASK]!, true);
        p = (p + 4) | 0;
        continue;
      case STX_MEM_B:
        a = (R[d]! >>> 0) + ops[p | 1]!;
        if (!canStore(vm, R[d | 1]!, a, 1, pLo, pHi, sLo, sHi)) return stopAt(vm, FAULT_WRITE, (p - REGS) >> 2, R[d]! + ops[p | 1]!, 1);
        dv.setInt8(a, R[(w >>> S_SHIFT) & REG_MASK]!);
        p = (p + 4) | 0;
        continue;
      case STX_MEM_DW:
        a = (R[d]! >>> 0) + ops[p | 1]!;
        if (!canStore(vm, R[d | 1]!, a, 8, pLo, pHi, sLo, sHi)) return stopAt(vm, FAULT_WRITE, (p - REGS) >> 2, R[d]! + ops[p | 1]!, 8);
        s = (w >>> S_SHIFT) & REG_MASK; dv.setInt32(a, R[s]!, true); dv.setInt32(a + 4, R[s | 1]!, true);
        p = (p + 4) | 0;
        continue;

      // ---- Atomics ----
      case OP_ATOMIC_ADD64: { // lock *(u64 *)(dst + off) += src
        a = (R[d]! >>> 0) + ops[p | 1]!;
        if (!canStore(vm, R[d | 1]!, a, 8, pLo, pHi, sLo, sHi)) return stopAt(vm, FAULT_WRITE, (p - REGS) >> 2, R[d]! + ops[p | 1]!, 8);
        s = (w >>> S_SHIFT) & REG_MASK;
        const lo = dv.getInt32(a, true), r = (lo + R[s]!) | 0;
        dv.setInt32(a, r, true);
        dv.setInt32(a + 4, (dv.getInt32(a + 4, true) + R[s | 1]! + ((r >>> 0) < (lo >>> 0) ? 1 : 0)) | 0, true);
        p = (p + 4) | 0;
        continue;
      }
      case STX_ATOMIC_W: case STX_ATOMIC_DW: {
        const size = ops[p | 3]!;
        a = (R[d]! >>> 0) + ops[p | 1]!;
        if (!canStore(vm, R[d | 1]!, a, size, pLo, pHi, sLo, sHi)) return stopAt(vm, FAULT_WRITE, (p - REGS) >> 2, R[d]! + ops[p | 1]!, size);
        if (!atomic(R, dv, a, size, (w >>> S_SHIFT) & REG_MASK, ops[p | 2]!)) return stop(vm, FAULT_BAD_INSN, (p - REGS) >> 2);
        p = (p + 4) | 0;
        continue;
      }

      default:
        return stop(vm, FAULT_BAD_INSN, slotPc(ops, p));
    }
    // A taken jump: budget backward ones (they are how loops run), then go.
    v = ops[p | 1]!;
    if ((w & BACK) !== 0 && --budget < 0) return stop(vm, FAULT_BUDGET, slotPc(ops, v));
    p = v;
  }
}

/** Records a fault at pc; returns -1 (the program ends). */
function stop(vm: BpfVm, kind: number, pc: number): number {
  vm.fault = kind;
  vm.faultPc = pc;
  return -1;
}

function stopAt(vm: BpfVm, kind: number, pc: number, addr: number, size: number): number {
  vm.fault = kind;
  vm.faultPc = pc;
  vm.faultAddr = addr;
  vm.faultSize = size;
  return -1;
}

/**
 * The bounds check before a load: [a, a + n) lies in the packet or the stack (bounds in the
 * caller's locals: the common cases, tested inline once this is inlined) or in another region
 * vm.canRead() knows; `hi` is the base register's high word (a pointer has none).
 */
function canLoad(vm: BpfVm, hi: number, a: number, n: number, pLo: number, pHi: number, sLo: number, sHi: number): boolean {
  return hi === 0 && ((a >= pLo && a + n <= pHi) || (a >= sLo && a + n <= sHi) || vm.canRead(a, n));
}

/** canLoad() before a store: vm.canWrite() for the other regions. */
function canStore(vm: BpfVm, hi: number, a: number, n: number, pLo: number, pHi: number, sLo: number, sHi: number): boolean {
  return hi === 0 && ((a >= pLo && a + n <= pHi) || (a >= sLo && a + n <= sHi) || vm.canWrite(a, n));
}

function sub64(R: Int32Array, d: number, blo: number, bhi: number): void {
  const lo = R[d]!;
  R[d] = (lo - blo) | 0;
  R[d | 1] = (R[d | 1]! - bhi - (lo >>> 0 < blo >>> 0 ? 1 : 0)) | 0;
}

/** BPF_DIV / BPF_MOD (which = 0 / 1) on 64 bits; off = 1 selects the signed form. */
function div64(R: Int32Array, d: number, blo: number, bhi: number, off: number, which: number): void {
  if (blo === 0 && bhi === 0) {
    if (which === 0) {
      R[d] = 0;
      R[d | 1] = 0;
    }
    return; // modulo by zero leaves dst unchanged
  }
  if (off === 1) sdivmod64(R[d]!, R[d | 1]!, blo, bhi, which);
  else udivmod64(R[d]!, R[d | 1]!, blo, bhi, which);
  R[d] = res[0]!;
  R[d | 1] = res[1]!;
}

function div32(x: number, y: number, off: number): number {
  if (y === 0) return 0;
  if (off === 1) {
    if (x === -0x80000000 && y === -1) return x;
    return (x / y) | 0;
  }
  return ((x >>> 0) / (y >>> 0)) | 0;
}

function mod32(x: number, y: number, off: number): number {
  if (y === 0) return x;
  if (off === 1) return x % y | 0;
  return ((x >>> 0) % (y >>> 0)) | 0;
}

/** BPF_ATOMIC: add/or/and/xor [fetch], xchg, cmpxchg. Returns false for an invalid imm. */
function atomic(R: Int32Array, dv: DataView, a: number, size: number, s: number, op: number): boolean {
  const oldLo = dv.getInt32(a, true);
  const oldHi = size === 8 ? dv.getInt32(a + 4, true) : 0;
  const slo = R[s]!, shi = size === 8 ? R[s | 1]! : 0;
  let nlo = 0, nhi = 0;
  if (op === BPF_CMPXCHG) {
    const eq = size === 8 ? R[R0_LO] === oldLo && R[R0_HI] === oldHi : R[R0_LO] === oldLo;
    if (eq) {
      dv.setInt32(a, slo, true);
      if (size === 8) dv.setInt32(a + 4, shi, true);
    }
    R[R0_LO] = oldLo;
    R[R0_HI] = oldHi;
    return true;
  }
  if (op === BPF_XCHG) {
    nlo = slo;
    nhi = shi;
  } else {
    switch (op & ~BPF_FETCH) {
      case BPF_ADD: nlo = (oldLo + slo) | 0; nhi = (oldHi + shi + ((nlo >>> 0) < (oldLo >>> 0) ? 1 : 0)) | 0; break;
      case BPF_OR: nlo = oldLo | slo; nhi = oldHi | shi; break;
      case BPF_AND: nlo = oldLo & slo; nhi = oldHi & shi; break;
      case BPF_XOR: nlo = oldLo ^ slo; nhi = oldHi ^ shi; break;
      default: return false;
    }
  }
  dv.setInt32(a, nlo, true);
  if (size === 8) dv.setInt32(a + 4, nhi, true);
  if ((op & BPF_FETCH) !== 0) {
    R[s] = oldLo;
    R[s | 1] = oldHi;
  }
  return true;
}
