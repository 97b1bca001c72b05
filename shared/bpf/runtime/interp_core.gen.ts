// GENERATED from interp_core.ts by gen/interp_core.ts: do not edit. Edit interp_core.ts
// and run `npx tsx gen/generate.ts`; test/gen/generated.test.ts checks this file is up
// to date. Named constants are inlined as literals so that V8 compiles the dispatch
// switch to a jump table (see gen/interp_core.ts).
import type { BpfVm } from "./vm.ts";
import type { BpfProg } from "./prog.ts";
import { FAULT_BAD_HELPER, FAULT_BAD_INSN, FAULT_BUDGET, FAULT_CALL_DEPTH, FAULT_NONE, FAULT_READ, FAULT_UNWIND, FAULT_WRITE } from "./vm.ts";
import { res, mul64, udivmod64, sdivmod64, lsh64, rsh64, arsh64, bswap16, bswap32, ugt64, sgt64 } from "../isa/alu64.ts";
import { interpOpsOf, slotPc } from "./interp_decode.ts";
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
  R[0 /* R0_LO */] = 0; R[1 /* R0_HI */] = 0; R[2 /* R1_LO */] = r1lo; R[3 /* R1_HI */] = r1hi; R[4 /* R2_LO */] = vm.r2Init; R[5 /* R2_HI */] = 0;
  R[6 /* R3_LO */] = 0; R[7 /* R3_HI */] = 0; R[8 /* R4_LO */] = 0; R[9 /* R4_HI */] = 0; R[10 /* R5_LO */] = 0; R[11 /* R5_HI */] = 0; R[12 /* R6_LO */] = 0; R[13 /* R6_HI */] = 0;
  R[14 /* R7_LO */] = 0; R[15 /* R7_HI */] = 0; R[16 /* R8_LO */] = 0; R[17 /* R8_HI */] = 0; R[18 /* R9_LO */] = 0; R[19 /* R9_HI */] = 0;
  R[20 /* R10_LO */] = vm.stackTop; R[21 /* R10_HI */] = 0;
  vm.frameDepth = 0;
  vm.tailCallCnt = 0;
  vm.fault = FAULT_NONE;
  if (vm.prog !== prog) vm.prog = prog; // (a store only when it changes: no write barrier per run)
  vm.budget = vm.budgetInit;
  // interpExec() returns when the program ends (-1) or when another program takes over
  // (a tail call, or a return into a caller whose program differs): then at slot p of
  // vm.prog, and the registers move over to that program's array.
  let p = interpExec(vm, R, 24 /* REGS */);
  while (p >= 0) {
    const next = interpOpsOf(vm.prog!);
    for (let k = 0; k < 22 /* REG_WORDS */; k++) next[k] = R[k]!;
    R = next;
    p = interpExec(vm, R, p);
  }
  vm.regs[0] = R[0 /* R0_LO */]!;
  vm.regs[1] = R[1 /* R0_HI */]!;
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
    d = (w >>> 9 /* D_SHIFT */) & 31 /* REG_MASK */;
    // Each case ends in `continue` (next slot set) or `return`; a taken jump
    // `break`s to the common code after the switch.
    switch (w & 0xff /* OP_MASK */) {
      // ---- ALU64, immediate operand (sign-extended to 64 bits) and register operand ----
      case 0x07 /* ALU64_ADD_K */: {
        const lo = R[d]!, b = ops[p | 2]!, r = (lo + b) | 0;
        R[d] = r;
        R[d | 1] = (R[d | 1]! + (b >> 31) + ((r >>> 0) < (lo >>> 0) ? 1 : 0)) | 0;
        p = (p + 4) | 0;
        continue;
      }
      case 0x0f /* ALU64_ADD_X */: {
        s = (w >>> 14 /* S_SHIFT */) & 31 /* REG_MASK */;
        const lo = R[d]!, r = (lo + R[s]!) | 0;
        R[d] = r;
        R[d | 1] = (R[d | 1]! + R[s | 1]! + ((r >>> 0) < (lo >>> 0) ? 1 : 0)) | 0;
        p = (p + 4) | 0;
        continue;
      }
      case 0x17 /* ALU64_SUB_K */: blo = ops[p | 2]!; sub64(R, d, blo, blo >> 31); p = (p + 4) | 0; continue;
      case 0x1f /* ALU64_SUB_X */: s = (w >>> 14 /* S_SHIFT */) & 31 /* REG_MASK */; sub64(R, d, R[s]!, R[s | 1]!); p = (p + 4) | 0; continue;
      case 0x27 /* ALU64_MUL_K */: blo = ops[p | 2]!; mul64(R[d]!, R[d | 1]!, blo, blo >> 31); R[d] = res[0]!; R[d | 1] = res[1]!; p = (p + 4) | 0; continue;
      case 0x2f /* ALU64_MUL_X */: s = (w >>> 14 /* S_SHIFT */) & 31 /* REG_MASK */; mul64(R[d]!, R[d | 1]!, R[s]!, R[s | 1]!); R[d] = res[0]!; R[d | 1] = res[1]!; p = (p + 4) | 0; continue;
      case 0x37 /* ALU64_DIV_K */: blo = ops[p | 2]!; div64(R, d, blo, blo >> 31, ops[p | 1]!, 0); p = (p + 4) | 0; continue;
      case 0x3f /* ALU64_DIV_X */: s = (w >>> 14 /* S_SHIFT */) & 31 /* REG_MASK */; div64(R, d, R[s]!, R[s | 1]!, ops[p | 1]!, 0); p = (p + 4) | 0; continue;
      case 0x97 /* ALU64_MOD_K */: blo = ops[p | 2]!; div64(R, d, blo, blo >> 31, ops[p | 1]!, 1); p = (p + 4) | 0; continue;
      case 0x9f /* ALU64_MOD_X */: s = (w >>> 14 /* S_SHIFT */) & 31 /* REG_MASK */; div64(R, d, R[s]!, R[s | 1]!, ops[p | 1]!, 1); p = (p + 4) | 0; continue;
      case 0x47 /* ALU64_OR_K */: blo = ops[p | 2]!; R[d] = R[d]! | blo; R[d | 1] = R[d | 1]! | (blo >> 31); p = (p + 4) | 0; continue;
      case 0x4f /* ALU64_OR_X */: s = (w >>> 14 /* S_SHIFT */) & 31 /* REG_MASK */; R[d] = R[d]! | R[s]!; R[d | 1] = R[d | 1]! | R[s | 1]!; p = (p + 4) | 0; continue;
      case 0x57 /* ALU64_AND_K */: blo = ops[p | 2]!; R[d] = R[d]! & blo; R[d | 1] = R[d | 1]! & (blo >> 31); p = (p + 4) | 0; continue;
      case 0x5f /* ALU64_AND_X */: s = (w >>> 14 /* S_SHIFT */) & 31 /* REG_MASK */; R[d] = R[d]! & R[s]!; R[d | 1] = R[d | 1]! & R[s | 1]!; p = (p + 4) | 0; continue;
      case 0xa7 /* ALU64_XOR_K */: blo = ops[p | 2]!; R[d] = R[d]! ^ blo; R[d | 1] = R[d | 1]! ^ (blo >> 31); p = (p + 4) | 0; continue;
      case 0xaf /* ALU64_XOR_X */: s = (w >>> 14 /* S_SHIFT */) & 31 /* REG_MASK */; R[d] = R[d]! ^ R[s]!; R[d | 1] = R[d | 1]! ^ R[s | 1]!; p = (p + 4) | 0; continue;
      case 0x67 /* ALU64_LSH_K */: // count masked at decode; the common small shifts inline
        v = ops[p | 2]!;
        if (v > 0 && v < 32) {
          R[d | 1] = (R[d | 1]! << v) | (R[d]! >>> (32 - v));
          R[d] = R[d]! << v;
        } else if (v !== 0) { lsh64(R[d]!, R[d | 1]!, v); R[d] = res[0]!; R[d | 1] = res[1]!; }
        p = (p + 4) | 0;
        continue;
      case 0x6f /* ALU64_LSH_X */: lsh64(R[d]!, R[d | 1]!, R[(w >>> 14 /* S_SHIFT */) & 31 /* REG_MASK */]!); R[d] = res[0]!; R[d | 1] = res[1]!; p = (p + 4) | 0; continue;
      case 0x77 /* ALU64_RSH_K */:
        v = ops[p | 2]!;
        if (v > 0 && v < 32) {
          R[d] = (R[d]! >>> v) | (R[d | 1]! << (32 - v));
          R[d | 1] = R[d | 1]! >>> v;
        } else if (v !== 0) { rsh64(R[d]!, R[d | 1]!, v); R[d] = res[0]!; R[d | 1] = res[1]!; }
        p = (p + 4) | 0;
        continue;
      case 0x7f /* ALU64_RSH_X */: rsh64(R[d]!, R[d | 1]!, R[(w >>> 14 /* S_SHIFT */) & 31 /* REG_MASK */]!); R[d] = res[0]!; R[d | 1] = res[1]!; p = (p + 4) | 0; continue;
      case 0xc7 /* ALU64_ARSH_K */: arsh64(R[d]!, R[d | 1]!, ops[p | 2]!); R[d] = res[0]!; R[d | 1] = res[1]!; p = (p + 4) | 0; continue;
      case 0xcf /* ALU64_ARSH_X */: arsh64(R[d]!, R[d | 1]!, R[(w >>> 14 /* S_SHIFT */) & 31 /* REG_MASK */]!); R[d] = res[0]!; R[d | 1] = res[1]!; p = (p + 4) | 0; continue;
      case 0x87 /* ALU64_NEG */: { const lo = R[d]!; R[d] = -lo | 0; R[d | 1] = (~R[d | 1]! + (lo === 0 ? 1 : 0)) | 0; p = (p + 4) | 0; continue; }
      case 0xb7 /* ALU64_MOV_K */: blo = ops[p | 2]!; R[d] = blo; R[d | 1] = blo >> 31; p = (p + 4) | 0; continue;
      case 0xbf /* ALU64_MOV_X */: s = (w >>> 14 /* S_SHIFT */) & 31 /* REG_MASK */; R[d] = R[s]!; R[d | 1] = R[s | 1]!; p = (p + 4) | 0; continue;
      case 0xe7 /* OP_LEA_K */: { // rD = rS; rD += K
        s = (w >>> 14 /* S_SHIFT */) & 31 /* REG_MASK */;
        const lo = R[s]!, b = ops[(p + 6) | 0]!, r = (lo + b) | 0;
        R[d] = r;
        R[d | 1] = (R[s | 1]! + (b >> 31) + ((r >>> 0) < (lo >>> 0) ? 1 : 0)) | 0;
        p = (p + 8) | 0;
        continue;
      }
      case 0xef /* OP_LEA_X */: { // rD = rS; rD += rX (rX read after the move, so rX == rD adds rS)
        s = (w >>> 14 /* S_SHIFT */) & 31 /* REG_MASK */;
        R[d] = R[s]!;
        R[d | 1] = R[s | 1]!;
        const x = (ops[(p + 4) | 0]! >>> 14) & 31, lo = R[d]!, r = (lo + R[x]!) | 0;
        R[d] = r;
        R[d | 1] = (R[d | 1]! + R[x | 1]! + ((r >>> 0) < (lo >>> 0) ? 1 : 0)) | 0;
        p = (p + 8) | 0;
        continue;
      }
      case 0xf7 /* OP_LEA_K_JGT_X */: { // rD = rS; rD += K; if rD > rX goto T
        s = (w >>> 14 /* S_SHIFT */) & 31 /* REG_MASK */;
        const lo = R[s]!, b = ops[(p + 6) | 0]!, r = (lo + b) | 0;
        const hi = (R[s | 1]! + (b >> 31) + ((r >>> 0) < (lo >>> 0) ? 1 : 0)) | 0;
        R[d] = r;
        R[d | 1] = hi;
        w = ops[(p + 8) | 0]!;
        p = (p + 8) | 0;
        s = (w >>> 14 /* S_SHIFT */) & 31 /* REG_MASK */;
        const bh = R[s | 1]! >>> 0;
        if (hi >>> 0 > bh || (hi >>> 0 === bh && r >>> 0 > R[s]! >>> 0)) break;
        p = (p + 4) | 0;
        continue;
      }
      case 0xf4 /* OP_MOVSX64 */: { // off 8/16/32: sign-extend the low bits of src to 64 bits
        const o = ops[p | 1]!, x = R[(w >>> 14 /* S_SHIFT */) & 31 /* REG_MASK */]!;
        v = o === 8 ? (x << 24) >> 24 : o === 16 ? (x << 16) >> 16 : x;
        R[d] = v;
        R[d | 1] = v >> 31;
        p = (p + 4) | 0;
        continue;
      }
      case 0xd7 /* ALU64_END_TO_LE */: { // bswap16/32/64
        const bits = ops[p | 2]!;
        if (bits === 16) { R[d] = bswap16(R[d]!); R[d | 1] = 0; }
        else if (bits === 32) { R[d] = bswap32(R[d]!); R[d | 1] = 0; }
        else { const lo = R[d]!; R[d] = bswap32(R[d | 1]!); R[d | 1] = bswap32(lo); }
        p = (p + 4) | 0;
        continue;
      }

      // ---- ALU (32-bit; the result is zero-extended into the 64-bit register) ----
      case 0x04 /* ALU_ADD_K */: R[d] = (R[d]! + ops[p | 2]!) | 0; R[d | 1] = 0; p = (p + 4) | 0; continue;
      case 0x0c /* ALU_ADD_X */: R[d] = (R[d]! + R[(w >>> 14 /* S_SHIFT */) & 31 /* REG_MASK */]!) | 0; R[d | 1] = 0; p = (p + 4) | 0; continue;
      case 0x14 /* ALU_SUB_K */: R[d] = (R[d]! - ops[p | 2]!) | 0; R[d | 1] = 0; p = (p + 4) | 0; continue;
      case 0x1c /* ALU_SUB_X */: R[d] = (R[d]! - R[(w >>> 14 /* S_SHIFT */) & 31 /* REG_MASK */]!) | 0; R[d | 1] = 0; p = (p + 4) | 0; continue;
      case 0x24 /* ALU_MUL_K */: R[d] = Math.imul(R[d]!, ops[p | 2]!); R[d | 1] = 0; p = (p + 4) | 0; continue;
      case 0x2c /* ALU_MUL_X */: R[d] = Math.imul(R[d]!, R[(w >>> 14 /* S_SHIFT */) & 31 /* REG_MASK */]!); R[d | 1] = 0; p = (p + 4) | 0; continue;
      case 0x34 /* ALU_DIV_K */: R[d] = div32(R[d]!, ops[p | 2]!, ops[p | 1]!); R[d | 1] = 0; p = (p + 4) | 0; continue;
      case 0x3c /* ALU_DIV_X */: R[d] = div32(R[d]!, R[(w >>> 14 /* S_SHIFT */) & 31 /* REG_MASK */]!, ops[p | 1]!); R[d | 1] = 0; p = (p + 4) | 0; continue;
      case 0x94 /* ALU_MOD_K */: R[d] = mod32(R[d]!, ops[p | 2]!, ops[p | 1]!); R[d | 1] = 0; p = (p + 4) | 0; continue;
      case 0x9c /* ALU_MOD_X */: R[d] = mod32(R[d]!, R[(w >>> 14 /* S_SHIFT */) & 31 /* REG_MASK */]!, ops[p | 1]!); R[d | 1] = 0; p = (p + 4) | 0; continue;
      case 0x44 /* ALU_OR_K */: R[d] = R[d]! | ops[p | 2]!; R[d | 1] = 0; p = (p + 4) | 0; continue;
      case 0x4c /* ALU_OR_X */: R[d] = R[d]! | R[(w >>> 14 /* S_SHIFT */) & 31 /* REG_MASK */]!; R[d | 1] = 0; p = (p + 4) | 0; continue;
      case 0x54 /* ALU_AND_K */: R[d] = R[d]! & ops[p | 2]!; R[d | 1] = 0; p = (p + 4) | 0; continue;
      case 0x5c /* ALU_AND_X */: R[d] = R[d]! & R[(w >>> 14 /* S_SHIFT */) & 31 /* REG_MASK */]!; R[d | 1] = 0; p = (p + 4) | 0; continue;
      case 0xa4 /* ALU_XOR_K */: R[d] = R[d]! ^ ops[p | 2]!; R[d | 1] = 0; p = (p + 4) | 0; continue;
      case 0xac /* ALU_XOR_X */: R[d] = R[d]! ^ R[(w >>> 14 /* S_SHIFT */) & 31 /* REG_MASK */]!; R[d | 1] = 0; p = (p + 4) | 0; continue;
      case 0x64 /* ALU_LSH_K */: R[d] = R[d]! << ops[p | 2]!; R[d | 1] = 0; p = (p + 4) | 0; continue;
      case 0x6c /* ALU_LSH_X */: R[d] = R[d]! << (R[(w >>> 14 /* S_SHIFT */) & 31 /* REG_MASK */]! & 31); R[d | 1] = 0; p = (p + 4) | 0; continue;
      case 0x74 /* ALU_RSH_K */: R[d] = R[d]! >>> ops[p | 2]!; R[d | 1] = 0; p = (p + 4) | 0; continue;
      case 0x7c /* ALU_RSH_X */: R[d] = R[d]! >>> (R[(w >>> 14 /* S_SHIFT */) & 31 /* REG_MASK */]! & 31); R[d | 1] = 0; p = (p + 4) | 0; continue;
      case 0xc4 /* ALU_ARSH_K */: R[d] = R[d]! >> ops[p | 2]!; R[d | 1] = 0; p = (p + 4) | 0; continue;
      case 0xcc /* ALU_ARSH_X */: R[d] = R[d]! >> (R[(w >>> 14 /* S_SHIFT */) & 31 /* REG_MASK */]! & 31); R[d | 1] = 0; p = (p + 4) | 0; continue;
      case 0x84 /* ALU_NEG */: R[d] = -R[d]! | 0; R[d | 1] = 0; p = (p + 4) | 0; continue;
      case 0xb4 /* ALU_MOV_K */: R[d] = ops[p | 2]!; R[d | 1] = 0; p = (p + 4) | 0; continue;
      case 0xbc /* ALU_MOV_X */: R[d] = R[(w >>> 14 /* S_SHIFT */) & 31 /* REG_MASK */]!; R[d | 1] = 0; p = (p + 4) | 0; continue;
      case 0xfc /* OP_MOVSX32 */: { // off 8/16
        const o = ops[p | 1]!, x = R[(w >>> 14 /* S_SHIFT */) & 31 /* REG_MASK */]!;
        R[d] = o === 8 ? (x << 24) >> 24 : o === 16 ? (x << 16) >> 16 : x;
        R[d | 1] = 0;
        p = (p + 4) | 0;
        continue;
      }
      case 0xd4 /* ALU_END_TO_LE */: { // le16/32/64: a no-op on little-endian apart from truncation
        const bits = ops[p | 2]!;
        if (bits === 16) { R[d] = R[d]! & 0xffff; R[d | 1] = 0; }
        else if (bits === 32) R[d | 1] = 0;
        p = (p + 4) | 0;
        continue;
      }
      case 0xdc /* ALU_END_TO_BE */: { // be16/32/64
        const bits = ops[p | 2]!;
        if (bits === 16) { R[d] = bswap16(R[d]!); R[d | 1] = 0; }
        else if (bits === 32) { R[d] = bswap32(R[d]!); R[d | 1] = 0; }
        else { const lo = R[d]!; R[d] = bswap32(R[d | 1]!); R[d | 1] = bswap32(lo); }
        p = (p + 4) | 0;
        continue;
      }

      // ---- Jumps: a taken branch breaks out of the switch ----
      case 0x05 /* JMP_JA */: case 0x06 /* JMP32_JA */: break; // ja, gotol
      // 64-bit compares, K (imm sign-extended: high half in w3) and X
      case 0x15 /* JMP_JEQ_K */: if (R[d] === ops[p | 2] && R[d | 1] === ops[p | 3]) break; p = (p + 4) | 0; continue;
      case 0x1d /* JMP_JEQ_X */: s = (w >>> 14 /* S_SHIFT */) & 31 /* REG_MASK */; if (R[d] === R[s] && R[d | 1] === R[s | 1]) break; p = (p + 4) | 0; continue;
      case 0x55 /* JMP_JNE_K */: if (R[d] !== ops[p | 2] || R[d | 1] !== ops[p | 3]) break; p = (p + 4) | 0; continue;
      case 0x5d /* JMP_JNE_X */: s = (w >>> 14 /* S_SHIFT */) & 31 /* REG_MASK */; if (R[d] !== R[s] || R[d | 1] !== R[s | 1]) break; p = (p + 4) | 0; continue;
      case 0x45 /* JMP_JSET_K */: if (((R[d]! & ops[p | 2]!) | (R[d | 1]! & ops[p | 3]!)) !== 0) break; p = (p + 4) | 0; continue;
      case 0x4d /* JMP_JSET_X */: s = (w >>> 14 /* S_SHIFT */) & 31 /* REG_MASK */; if (((R[d]! & R[s]!) | (R[d | 1]! & R[s | 1]!)) !== 0) break; p = (p + 4) | 0; continue;
      case 0x25 /* JMP_JGT_K */: if (ugt64(R[d]!, R[d | 1]!, ops[p | 2]!, ops[p | 3]!)) break; p = (p + 4) | 0; continue;
      case 0x2d /* JMP_JGT_X */: { // inline: the packet bounds check
        s = (w >>> 14 /* S_SHIFT */) & 31 /* REG_MASK */;
        const ah = R[d | 1]! >>> 0, bh = R[s | 1]! >>> 0;
        if (ah > bh || (ah === bh && R[d]! >>> 0 > R[s]! >>> 0)) break;
        p = (p + 4) | 0;
        continue;
      }
      case 0x35 /* JMP_JGE_K */: if (!ugt64(ops[p | 2]!, ops[p | 3]!, R[d]!, R[d | 1]!)) break; p = (p + 4) | 0; continue;
      case 0x3d /* JMP_JGE_X */: s = (w >>> 14 /* S_SHIFT */) & 31 /* REG_MASK */; if (!ugt64(R[s]!, R[s | 1]!, R[d]!, R[d | 1]!)) break; p = (p + 4) | 0; continue;
      case 0xa5 /* JMP_JLT_K */: if (ugt64(ops[p | 2]!, ops[p | 3]!, R[d]!, R[d | 1]!)) break; p = (p + 4) | 0; continue;
      case 0xad /* JMP_JLT_X */: s = (w >>> 14 /* S_SHIFT */) & 31 /* REG_MASK */; if (ugt64(R[s]!, R[s | 1]!, R[d]!, R[d | 1]!)) break; p = (p + 4) | 0; continue;
      case 0xb5 /* JMP_JLE_K */: if (!ugt64(R[d]!, R[d | 1]!, ops[p | 2]!, ops[p | 3]!)) break; p = (p + 4) | 0; continue;
      case 0xbd /* JMP_JLE_X */: s = (w >>> 14 /* S_SHIFT */) & 31 /* REG_MASK */; if (!ugt64(R[d]!, R[d | 1]!, R[s]!, R[s | 1]!)) break; p = (p + 4) | 0; continue;
      case 0x65 /* JMP_JSGT_K */: if (sgt64(R[d]!, R[d | 1]!, ops[p | 2]!, ops[p | 3]!)) break; p = (p + 4) | 0; continue;
      case 0x6d /* JMP_JSGT_X */: s = (w >>> 14 /* S_SHIFT */) & 31 /* REG_MASK */; if (sgt64(R[d]!, R[d | 1]!, R[s]!, R[s | 1]!)) break; p = (p + 4) | 0; continue;
      case 0x75 /* JMP_JSGE_K */: if (!sgt64(ops[p | 2]!, ops[p | 3]!, R[d]!, R[d | 1]!)) break; p = (p + 4) | 0; continue;
      case 0x7d /* JMP_JSGE_X */: s = (w >>> 14 /* S_SHIFT */) & 31 /* REG_MASK */; if (!sgt64(R[s]!, R[s | 1]!, R[d]!, R[d | 1]!)) break; p = (p + 4) | 0; continue;
      case 0xc5 /* JMP_JSLT_K */: if (sgt64(ops[p | 2]!, ops[p | 3]!, R[d]!, R[d | 1]!)) break; p = (p + 4) | 0; continue;
      case 0xcd /* JMP_JSLT_X */: s = (w >>> 14 /* S_SHIFT */) & 31 /* REG_MASK */; if (sgt64(R[s]!, R[s | 1]!, R[d]!, R[d | 1]!)) break; p = (p + 4) | 0; continue;
      case 0xd5 /* JMP_JSLE_K */: if (!sgt64(R[d]!, R[d | 1]!, ops[p | 2]!, ops[p | 3]!)) break; p = (p + 4) | 0; continue;
      case 0xdd /* JMP_JSLE_X */: s = (w >>> 14 /* S_SHIFT */) & 31 /* REG_MASK */; if (!sgt64(R[d]!, R[d | 1]!, R[s]!, R[s | 1]!)) break; p = (p + 4) | 0; continue;
      // 32-bit compares on the low halves
      case 0x16 /* JMP32_JEQ_K */: if (R[d] === ops[p | 2]) break; p = (p + 4) | 0; continue;
      case 0x1e /* JMP32_JEQ_X */: if (R[d] === R[(w >>> 14 /* S_SHIFT */) & 31 /* REG_MASK */]) break; p = (p + 4) | 0; continue;
      case 0x56 /* JMP32_JNE_K */: if (R[d] !== ops[p | 2]) break; p = (p + 4) | 0; continue;
      case 0x5e /* JMP32_JNE_X */: if (R[d] !== R[(w >>> 14 /* S_SHIFT */) & 31 /* REG_MASK */]) break; p = (p + 4) | 0; continue;
      case 0x46 /* JMP32_JSET_K */: if ((R[d]! & ops[p | 2]!) !== 0) break; p = (p + 4) | 0; continue;
      case 0x4e /* JMP32_JSET_X */: if ((R[d]! & R[(w >>> 14 /* S_SHIFT */) & 31 /* REG_MASK */]!) !== 0) break; p = (p + 4) | 0; continue;
      case 0x26 /* JMP32_JGT_K */: if (R[d]! >>> 0 > ops[p | 2]! >>> 0) break; p = (p + 4) | 0; continue;
      case 0x2e /* JMP32_JGT_X */: if (R[d]! >>> 0 > R[(w >>> 14 /* S_SHIFT */) & 31 /* REG_MASK */]! >>> 0) break; p = (p + 4) | 0; continue;
      case 0x36 /* JMP32_JGE_K */: if (R[d]! >>> 0 >= ops[p | 2]! >>> 0) break; p = (p + 4) | 0; continue;
      case 0x3e /* JMP32_JGE_X */: if (R[d]! >>> 0 >= R[(w >>> 14 /* S_SHIFT */) & 31 /* REG_MASK */]! >>> 0) break; p = (p + 4) | 0; continue;
      case 0xa6 /* JMP32_JLT_K */: if (R[d]! >>> 0 < ops[p | 2]! >>> 0) break; p = (p + 4) | 0; continue;
      case 0xae /* JMP32_JLT_X */: if (R[d]! >>> 0 < R[(w >>> 14 /* S_SHIFT */) & 31 /* REG_MASK */]! >>> 0) break; p = (p + 4) | 0; continue;
      case 0xb6 /* JMP32_JLE_K */: if (R[d]! >>> 0 <= ops[p | 2]! >>> 0) break; p = (p + 4) | 0; continue;
      case 0xbe /* JMP32_JLE_X */: if (R[d]! >>> 0 <= R[(w >>> 14 /* S_SHIFT */) & 31 /* REG_MASK */]! >>> 0) break; p = (p + 4) | 0; continue;
      case 0x66 /* JMP32_JSGT_K */: if (R[d]! > ops[p | 2]!) break; p = (p + 4) | 0; continue;
      case 0x6e /* JMP32_JSGT_X */: if (R[d]! > R[(w >>> 14 /* S_SHIFT */) & 31 /* REG_MASK */]!) break; p = (p + 4) | 0; continue;
      case 0x76 /* JMP32_JSGE_K */: if (R[d]! >= ops[p | 2]!) break; p = (p + 4) | 0; continue;
      case 0x7e /* JMP32_JSGE_X */: if (R[d]! >= R[(w >>> 14 /* S_SHIFT */) & 31 /* REG_MASK */]!) break; p = (p + 4) | 0; continue;
      case 0xc6 /* JMP32_JSLT_K */: if (R[d]! < ops[p | 2]!) break; p = (p + 4) | 0; continue;
      case 0xce /* JMP32_JSLT_X */: if (R[d]! < R[(w >>> 14 /* S_SHIFT */) & 31 /* REG_MASK */]!) break; p = (p + 4) | 0; continue;
      case 0xd6 /* JMP32_JSLE_K */: if (R[d]! <= ops[p | 2]!) break; p = (p + 4) | 0; continue;
      case 0xde /* JMP32_JSLE_X */: if (R[d]! <= R[(w >>> 14 /* S_SHIFT */) & 31 /* REG_MASK */]!) break; p = (p + 4) | 0; continue;

      // ---- Calls and exit ----
      case 0xe4 /* OP_CALL_LOCAL */: { // bpf-to-bpf call: push a frame; the callee gets its own 512-byte stack slice
        if (vm.frameDepth + 1 >= 8 /* MAX_CALL_FRAMES */) return stop(vm, FAULT_CALL_DEPTH, (p - 24 /* REGS */) >> 2);
        if (--budget < 0) return stop(vm, FAULT_BUDGET, (p - 24 /* REGS */) >> 2);
        const f = vm.frameDepth;
        const sv = vm.savedRegs, base = f * 10;
        for (let k = 0; k < 10; k++) sv[base + k] = R[12 /* R6_LO */ + k]!; // r6..r10
        vm.savedPc[f] = p + 4;
        vm.savedProg[f] = vm.prog;
        vm.frameDepth = f + 1;
        R[20 /* R10_LO */] = vm.stackTop - (f + 1) * 512 /* MAX_BPF_STACK */;
        R[21 /* R10_HI */] = 0;
        p = ops[p | 1]!;
        continue;
      }
      case 0x85 /* JMP_CALL */: case 0x8d /* JMP_CALL_X */: { // helper call: BPF_CALL imm, or callx with the id in dst
        const id = (w & 0xff /* OP_MASK */) === 0x85 /* JMP_CALL */ ? ops[p | 2]! : R[d]!;
        if (id === 12 /* BPF_FUNC_tail_call */) {
          const target = vm.tailCallTarget(R[4 /* R2_LO */]!, R[5 /* R2_HI */]!, R[6 /* R3_LO */]!, vm.tailCallCnt);
          if (target !== null) {
            vm.tailCallCnt++;
            vm.prog = target;
            if (--budget < 0) return stop(vm, FAULT_BUDGET, 0);
            vm.budget = budget;
            return 24 /* REGS */;
          }
          p = (p + 4) | 0;
          continue;
        }
        const fn = id >= 0 ? vm.helpers[id] : undefined;
        if (fn === undefined) return stop(vm, FAULT_BAD_HELPER, (p - 24 /* REGS */) >> 2);
        vm.faultPc = (p - 24 /* REGS */) >> 2;
        const VR = vm.regs;
        for (let k = 0 /* R0_LO */; k <= 11 /* R5_HI */; k++) VR[k] = R[k]!; // r0..r5 for the helper
        fn(vm);
        R[0 /* R0_LO */] = VR[0 /* R0_LO */]!;
        R[1 /* R0_HI */] = VR[1 /* R0_HI */]!;
        if (vm.fault !== FAULT_NONE) {
          if (vm.fault === FAULT_UNWIND) vm.fault = FAULT_NONE;
          else vm.faultPc = (p - 24 /* REGS */) >> 2;
          return -1;
        }
        dv = vm.mem.dv;
        pLo = vm.pktLo;
        pHi = vm.pktHi;
        p = (p + 4) | 0;
        continue;
      }
      case 0x95 /* JMP_EXIT */: {
        const f = vm.frameDepth;
        if (f === 0) {
          vm.budget = budget;
          return -1;
        }
        const nf = f - 1;
        const sv = vm.savedRegs, base = nf * 10;
        for (let k = 0; k < 10; k++) R[12 /* R6_LO */ + k] = sv[base + k]!;
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
      case 0xed /* OP_LD_MAP_LOOKUP */: case 0xe5 /* OP_LD_ARRAY_LOOKUP */: { // r1 = map; (r2 set before) call bpf_map_lookup_elem
        const pr = vm.prog!, map = pr.usedMaps[ops[p | 3]!]!;
        R[d] = pr.ldLo[(p - 24 /* REGS */) >> 2]!;
        R[d | 1] = pr.ldHi[(p - 24 /* REGS */) >> 2]!;
        a = R[4 /* R2_LO */]! >>> 0;
        // Anything the helper would refuse (or another helper table) goes the plain way, to fault as it does.
        const ks = map.keySize;
        if (vm.helpers[1 /* BPF_FUNC_map_lookup_elem */] !== mapLookupElem || R[5 /* R2_HI */] !== 0 || !((a >= sLo && a + ks <= sHi) || vm.canRead(a, ks))) { p = (p + 8) | 0; continue; }
        if ((w & 0xff /* OP_MASK */) === 0xe5 /* OP_LD_ARRAY_LOOKUP */) { // inlined as array_map_gen_lookup(); the ld_imm64's second slot holds the array's layout
          v = dv.getInt32(a, true) >>> 0;
          R[0 /* R0_LO */] = v < ops[(p + 4) | 1]! >>> 0 ? ops[(p + 4) | 2]! + v * ops[(p + 4) | 3]! : 0;
        } else R[0 /* R0_LO */] = map.lookupElem(a);
        R[1 /* R0_HI */] = 0;
        p = (p + 12) | 0;
        continue;
      }
      case 0x18 /* LD_IMM_DW */: { const pr = vm.prog!; R[d] = pr.ldLo[(p - 24 /* REGS */) >> 2]!; R[d | 1] = pr.ldHi[(p - 24 /* REGS */) >> 2]!; p = (p + 8) | 0; continue; }

      // ---- Loads: dst = *(size *)(src + off); a fault names the address as src + off ----
      // (src + off below zero needs no test of its own: no region starts below the NULL guard.)
      case 0x61 /* LDX_MEM_W */:
        s = (w >>> 14 /* S_SHIFT */) & 31 /* REG_MASK */;
        a = (R[s]! >>> 0) + ops[p | 1]!;
        if (!((R[s | 1]!) === 0 && ((a >= pLo && a + 4 <= pHi) || (a >= sLo && a + 4 <= sHi) || vm.canRead(a, 4)))) return stopAt(vm, FAULT_READ, (p - 24 /* REGS */) >> 2, R[s]! + ops[p | 1]!, 4);
        R[d] = dv.getInt32(a, true); R[d | 1] = 0;
        p = (p + 4) | 0;
        continue;
      case 0x69 /* LDX_MEM_H */:
        s = (w >>> 14 /* S_SHIFT */) & 31 /* REG_MASK */;
        a = (R[s]! >>> 0) + ops[p | 1]!;
        if (!((R[s | 1]!) === 0 && ((a >= pLo && a + 2 <= pHi) || (a >= sLo && a + 2 <= sHi) || vm.canRead(a, 2)))) return stopAt(vm, FAULT_READ, (p - 24 /* REGS */) >> 2, R[s]! + ops[p | 1]!, 2);
        R[d] = dv.getUint16(a, true); R[d | 1] = 0;
        p = (p + 4) | 0;
        continue;
      case 0x71 /* LDX_MEM_B */:
        s = (w >>> 14 /* S_SHIFT */) & 31 /* REG_MASK */;
        a = (R[s]! >>> 0) + ops[p | 1]!;
        if (!((R[s | 1]!) === 0 && ((a >= pLo && a + 1 <= pHi) || (a >= sLo && a + 1 <= sHi) || vm.canRead(a, 1)))) return stopAt(vm, FAULT_READ, (p - 24 /* REGS */) >> 2, R[s]! + ops[p | 1]!, 1);
        R[d] = dv.getUint8(a); R[d | 1] = 0;
        p = (p + 4) | 0;
        continue;
      case 0x79 /* LDX_MEM_DW */:
        s = (w >>> 14 /* S_SHIFT */) & 31 /* REG_MASK */;
        a = (R[s]! >>> 0) + ops[p | 1]!;
        if (!((R[s | 1]!) === 0 && ((a >= pLo && a + 8 <= pHi) || (a >= sLo && a + 8 <= sHi) || vm.canRead(a, 8)))) return stopAt(vm, FAULT_READ, (p - 24 /* REGS */) >> 2, R[s]! + ops[p | 1]!, 8);
        R[d] = dv.getInt32(a, true); R[d | 1] = dv.getInt32(a + 4, true);
        p = (p + 4) | 0;
        continue;
      case 0x81 /* LDX_MEMSX_W */:
        s = (w >>> 14 /* S_SHIFT */) & 31 /* REG_MASK */;
        a = (R[s]! >>> 0) + ops[p | 1]!;
        if (!((R[s | 1]!) === 0 && ((a >= pLo && a + 4 <= pHi) || (a >= sLo && a + 4 <= sHi) || vm.canRead(a, 4)))) return stopAt(vm, FAULT_READ, (p - 24 /* REGS */) >> 2, R[s]! + ops[p | 1]!, 4);
        v = dv.getInt32(a, true); R[d] = v; R[d | 1] = v >> 31;
        p = (p + 4) | 0;
        continue;
      case 0x89 /* LDX_MEMSX_H */:
        s = (w >>> 14 /* S_SHIFT */) & 31 /* REG_MASK */;
        a = (R[s]! >>> 0) + ops[p | 1]!;
        if (!((R[s | 1]!) === 0 && ((a >= pLo && a + 2 <= pHi) || (a >= sLo && a + 2 <= sHi) || vm.canRead(a, 2)))) return stopAt(vm, FAULT_READ, (p - 24 /* REGS */) >> 2, R[s]! + ops[p | 1]!, 2);
        v = dv.getInt16(a, true); R[d] = v; R[d | 1] = v >> 31;
        p = (p + 4) | 0;
        continue;
      case 0x91 /* LDX_MEMSX_B */:
        s = (w >>> 14 /* S_SHIFT */) & 31 /* REG_MASK */;
        a = (R[s]! >>> 0) + ops[p | 1]!;
        if (!((R[s | 1]!) === 0 && ((a >= pLo && a + 1 <= pHi) || (a >= sLo && a + 1 <= sHi) || vm.canRead(a, 1)))) return stopAt(vm, FAULT_READ, (p - 24 /* REGS */) >> 2, R[s]! + ops[p | 1]!, 1);
        v = dv.getInt8(a); R[d] = v; R[d | 1] = v >> 31;
        p = (p + 4) | 0;
        continue;

      // ---- Stores: *(size *)(dst + off) = imm (ST) or src (STX) ----
      case 0x62 /* ST_MEM_W */:
        a = (R[d]! >>> 0) + ops[p | 1]!;
        if (!((R[d | 1]!) === 0 && ((a >= pLo && a + 4 <= pHi) || (a >= sLo && a + 4 <= sHi) || vm.canWrite(a, 4)))) return stopAt(vm, FAULT_WRITE, (p - 24 /* REGS */) >> 2, R[d]! + ops[p | 1]!, 4);
        dv.setInt32(a, ops[p | 2]!, true);
        p = (p + 4) | 0;
        continue;
      case 0x6a /* ST_MEM_H */:
        a = (R[d]! >>> 0) + ops[p | 1]!;
        if (!((R[d | 1]!) === 0 && ((a >= pLo && a + 2 <= pHi) || (a >= sLo && a + 2 <= sHi) || vm.canWrite(a, 2)))) return stopAt(vm, FAULT_WRITE, (p - 24 /* REGS */) >> 2, R[d]! + ops[p | 1]!, 2);
        dv.setInt16(a, ops[p | 2]!, true);
        p = (p + 4) | 0;
        continue;
      case 0x72 /* ST_MEM_B */:
        a = (R[d]! >>> 0) + ops[p | 1]!;
        if (!((R[d | 1]!) === 0 && ((a >= pLo && a + 1 <= pHi) || (a >= sLo && a + 1 <= sHi) || vm.canWrite(a, 1)))) return stopAt(vm, FAULT_WRITE, (p - 24 /* REGS */) >> 2, R[d]! + ops[p | 1]!, 1);
        dv.setInt8(a, ops[p | 2]!);
        p = (p + 4) | 0;
        continue;
      case 0x7a /* ST_MEM_DW */:
        a = (R[d]! >>> 0) + ops[p | 1]!;
        if (!((R[d | 1]!) === 0 && ((a >= pLo && a + 8 <= pHi) || (a >= sLo && a + 8 <= sHi) || vm.canWrite(a, 8)))) return stopAt(vm, FAULT_WRITE, (p - 24 /* REGS */) >> 2, R[d]! + ops[p | 1]!, 8);
        v = ops[p | 2]!; dv.setInt32(a, v, true); dv.setInt32(a + 4, v >> 31, true);
        p = (p + 4) | 0;
        continue;
      case 0x63 /* STX_MEM_W */:
        a = (R[d]! >>> 0) + ops[p | 1]!;
        if (!((R[d | 1]!) === 0 && ((a >= pLo && a + 4 <= pHi) || (a >= sLo && a + 4 <= sHi) || vm.canWrite(a, 4)))) return stopAt(vm, FAULT_WRITE, (p - 24 /* REGS */) >> 2, R[d]! + ops[p | 1]!, 4);
        dv.setInt32(a, R[(w >>> 14 /* S_SHIFT */) & 31 /* REG_MASK */]!, true);
        p = (p + 4) | 0;
        continue;
      case 0x6b /* STX_MEM_H */:
        a = (R[d]! >>> 0) + ops[p | 1]!;
        if (!((R[d | 1]!) === 0 && ((a >= pLo && a + 2 <= pHi) || (a >= sLo && a + 2 <= sHi) || vm.canWrite(a, 2)))) return stopAt(vm, FAULT_WRITE, (p - 24 /* REGS */) >> 2, R[d]! + ops[p | 1]!, 2);
        dv.setInt16(a, R[(w >>> 14 /* S_SHIFT */) & 31 /* REG_MASK */]!, true);
        p = (p + 4) | 0;
        continue;
      case 0x73 /* STX_MEM_B */:
        a = (R[d]! >>> 0) + ops[p | 1]!;
        if (!((R[d | 1]!) === 0 && ((a >= pLo && a + 1 <= pHi) || (a >= sLo && a + 1 <= sHi) || vm.canWrite(a, 1)))) return stopAt(vm, FAULT_WRITE, (p - 24 /* REGS */) >> 2, R[d]! + ops[p | 1]!, 1);
        dv.setInt8(a, R[(w >>> 14 /* S_SHIFT */) & 31 /* REG_MASK */]!);
        p = (p + 4) | 0;
        continue;
      case 0x7b /* STX_MEM_DW */:
        a = (R[d]! >>> 0) + ops[p | 1]!;
        if (!((R[d | 1]!) === 0 && ((a >= pLo && a + 8 <= pHi) || (a >= sLo && a + 8 <= sHi) || vm.canWrite(a, 8)))) return stopAt(vm, FAULT_WRITE, (p - 24 /* REGS */) >> 2, R[d]! + ops[p | 1]!, 8);
        s = (w >>> 14 /* S_SHIFT */) & 31 /* REG_MASK */; dv.setInt32(a, R[s]!, true); dv.setInt32(a + 4, R[s | 1]!, true);
        p = (p + 4) | 0;
        continue;

      // ---- Atomics ----
      case 0xf5 /* OP_ATOMIC_ADD64 */: { // lock *(u64 *)(dst + off) += src
        a = (R[d]! >>> 0) + ops[p | 1]!;
        if (!((R[d | 1]!) === 0 && ((a >= pLo && a + 8 <= pHi) || (a >= sLo && a + 8 <= sHi) || vm.canWrite(a, 8)))) return stopAt(vm, FAULT_WRITE, (p - 24 /* REGS */) >> 2, R[d]! + ops[p | 1]!, 8);
        s = (w >>> 14 /* S_SHIFT */) & 31 /* REG_MASK */;
        const lo = dv.getInt32(a, true), r = (lo + R[s]!) | 0;
        dv.setInt32(a, r, true);
        dv.setInt32(a + 4, (dv.getInt32(a + 4, true) + R[s | 1]! + ((r >>> 0) < (lo >>> 0) ? 1 : 0)) | 0, true);
        p = (p + 4) | 0;
        continue;
      }
      case 0xc3 /* STX_ATOMIC_W */: case 0xdb /* STX_ATOMIC_DW */: {
        const size = ops[p | 3]!;
        a = (R[d]! >>> 0) + ops[p | 1]!;
        if (!((R[d | 1]!) === 0 && ((a >= pLo && a + size <= pHi) || (a >= sLo && a + size <= sHi) || vm.canWrite(a, size)))) return stopAt(vm, FAULT_WRITE, (p - 24 /* REGS */) >> 2, R[d]! + ops[p | 1]!, size);
        if (!atomic(R, dv, a, size, (w >>> 14 /* S_SHIFT */) & 31 /* REG_MASK */, ops[p | 2]!)) return stop(vm, FAULT_BAD_INSN, (p - 24 /* REGS */) >> 2);
        p = (p + 4) | 0;
        continue;
      }

      default:
        return stop(vm, FAULT_BAD_INSN, slotPc(ops, p));
    }
    // A taken jump: budget backward ones (they are how loops run), then go.
    v = ops[p | 1]!;
    if ((w & 524288 /* BACK */) !== 0 && --budget < 0) return stop(vm, FAULT_BUDGET, slotPc(ops, v));
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
  if (op === 241 /* BPF_CMPXCHG */) {
    const eq = size === 8 ? R[0 /* R0_LO */] === oldLo && R[1 /* R0_HI */] === oldHi : R[0 /* R0_LO */] === oldLo;
    if (eq) {
      dv.setInt32(a, slo, true);
      if (size === 8) dv.setInt32(a + 4, shi, true);
    }
    R[0 /* R0_LO */] = oldLo;
    R[1 /* R0_HI */] = oldHi;
    return true;
  }
  if (op === 225 /* BPF_XCHG */) {
    nlo = slo;
    nhi = shi;
  } else {
    switch (op & ~1 /* BPF_FETCH */) {
      case 0 /* BPF_ADD */: nlo = (oldLo + slo) | 0; nhi = (oldHi + shi + ((nlo >>> 0) < (oldLo >>> 0) ? 1 : 0)) | 0; break;
      case 64 /* BPF_OR */: nlo = oldLo | slo; nhi = oldHi | shi; break;
      case 80 /* BPF_AND */: nlo = oldLo & slo; nhi = oldHi & shi; break;
      case 160 /* BPF_XOR */: nlo = oldLo ^ slo; nhi = oldHi ^ shi; break;
      default: return false;
    }
  }
  dv.setInt32(a, nlo, true);
  if (size === 8) dv.setInt32(a + 4, nhi, true);
  if ((op & 1 /* BPF_FETCH */) !== 0) {
    R[s] = oldLo;
    R[s | 1] = oldHi;
  }
  return true;
}
