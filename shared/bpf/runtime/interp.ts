// Reference interpreter: the oracle every faster engine is checked against.
// Mirrors ___bpf_prog_run() in kernel/bpf/core.c (one dispatch on the opcode
// per insn, registers as lo/hi pairs in the words before the slots) and uBPF's
// ubpf_exec_ex(), on the pre-decoded slots of interp_decode.ts (opcode,
// registers, jump targets and access sizes decoded once per program). Every
// memory access is bounds-checked against the regions the program may touch
// (defence in depth behind the verifier). Nothing in the run loop allocates
// or throws: faults are recorded on the VM.
import type { BpfProg } from "./prog.ts";
import {
  BpfVm, FAULT_BAD_HELPER, FAULT_BAD_INSN, FAULT_BUDGET, FAULT_CALL_DEPTH, FAULT_NONE, FAULT_READ,
  FAULT_UNWIND, FAULT_WRITE,
} from "./vm.ts";
import { res, mul64, udivmod64, sdivmod64, lsh64, rsh64, arsh64, bswap16, bswap32, ugt64, sgt64 } from "../isa/alu64.ts";
import { BPF_FUNC_tail_call, MAX_BPF_STACK, MAX_CALL_FRAMES, MAX_TAIL_CALL_CNT } from "../isa/uapi.ts";
import { interpOpsOf, slotPc, BACK, REGS } from "./interp_decode.ts";
import { mapLookupElem } from "./helpers.ts";

const R10 = 20; // index of r10's low half in the register file

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
  R[0] = 0; R[1] = 0; R[2] = r1lo; R[3] = r1hi; R[4] = vm.r2Init; R[5] = 0; R[6] = 0; R[7] = 0;
  R[8] = 0; R[9] = 0; R[10] = 0; R[11] = 0; R[12] = 0; R[13] = 0; R[14] = 0; R[15] = 0;
  R[16] = 0; R[17] = 0; R[18] = 0; R[19] = 0; R[R10] = vm.stackTop; R[R10 + 1] = 0;
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
    for (let k = 0; k < 22; k++) next[k] = R[k]!;
    R = next;
    p = interpExec(vm, R, p);
  }
  vm.regs[0] = R[0]!;
  vm.regs[1] = R[1]!;
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
    d = (w >>> 9) & 31;
    // Each case ends in `continue` (next slot set) or `return`; a taken jump
    // `break`s to the common code after the switch.
    switch (w & 0xff) {
      // ---- ALU64, immediate operand (sign-extended to 64 bits) and register operand ----
      case 0x07: { // ADD K
        const lo = R[d]!, b = ops[p | 2]!, r = (lo + b) | 0;
        R[d] = r;
        R[d | 1] = (R[d | 1]! + (b >> 31) + ((r >>> 0) < (lo >>> 0) ? 1 : 0)) | 0;
        p = (p + 4) | 0;
        continue;
      }
      case 0x0f: { // ADD X
        s = (w >>> 14) & 31;
        const lo = R[d]!, r = (lo + R[s]!) | 0;
        R[d] = r;
        R[d | 1] = (R[d | 1]! + R[s | 1]! + ((r >>> 0) < (lo >>> 0) ? 1 : 0)) | 0;
        p = (p + 4) | 0;
        continue;
      }
      case 0x17: blo = ops[p | 2]!; sub64(R, d, blo, blo >> 31); p = (p + 4) | 0; continue;
      case 0x1f: s = (w >>> 14) & 31; sub64(R, d, R[s]!, R[s | 1]!); p = (p + 4) | 0; continue;
      case 0x27: blo = ops[p | 2]!; mul64(R[d]!, R[d | 1]!, blo, blo >> 31); R[d] = res[0]!; R[d | 1] = res[1]!; p = (p + 4) | 0; continue;
      case 0x2f: s = (w >>> 14) & 31; mul64(R[d]!, R[d | 1]!, R[s]!, R[s | 1]!); R[d] = res[0]!; R[d | 1] = res[1]!; p = (p + 4) | 0; continue;
      case 0x37: blo = ops[p | 2]!; div64(R, d, blo, blo >> 31, ops[p | 1]!, 0); p = (p + 4) | 0; continue;
      case 0x3f: s = (w >>> 14) & 31; div64(R, d, R[s]!, R[s | 1]!, ops[p | 1]!, 0); p = (p + 4) | 0; continue;
      case 0x97: blo = ops[p | 2]!; div64(R, d, blo, blo >> 31, ops[p | 1]!, 1); p = (p + 4) | 0; continue;
      case 0x9f: s = (w >>> 14) & 31; div64(R, d, R[s]!, R[s | 1]!, ops[p | 1]!, 1); p = (p + 4) | 0; continue;
      case 0x47: blo = ops[p | 2]!; R[d] = R[d]! | blo; R[d | 1] = R[d | 1]! | (blo >> 31); p = (p + 4) | 0; continue;
      case 0x4f: s = (w >>> 14) & 31; R[d] = R[d]! | R[s]!; R[d | 1] = R[d | 1]! | R[s | 1]!; p = (p + 4) | 0; continue;
      case 0x57: blo = ops[p | 2]!; R[d] = R[d]! & blo; R[d | 1] = R[d | 1]! & (blo >> 31); p = (p + 4) | 0; continue;
      case 0x5f: s = (w >>> 14) & 31; R[d] = R[d]! & R[s]!; R[d | 1] = R[d | 1]! & R[s | 1]!; p = (p + 4) | 0; continue;
      case 0xa7: blo = ops[p | 2]!; R[d] = R[d]! ^ blo; R[d | 1] = R[d | 1]! ^ (blo >> 31); p = (p + 4) | 0; continue;
      case 0xaf: s = (w >>> 14) & 31; R[d] = R[d]! ^ R[s]!; R[d | 1] = R[d | 1]! ^ R[s | 1]!; p = (p + 4) | 0; continue;
      case 0x67: // LSH K (count masked at decode); the common small shifts inline
        v = ops[p | 2]!;
        if (v > 0 && v < 32) {
          R[d | 1] = (R[d | 1]! << v) | (R[d]! >>> (32 - v));
          R[d] = R[d]! << v;
        } else if (v !== 0) { lsh64(R[d]!, R[d | 1]!, v); R[d] = res[0]!; R[d | 1] = res[1]!; }
        p = (p + 4) | 0;
        continue;
      case 0x6f: lsh64(R[d]!, R[d | 1]!, R[(w >>> 14) & 31]!); R[d] = res[0]!; R[d | 1] = res[1]!; p = (p + 4) | 0; continue;
      case 0x77: // RSH K
        v = ops[p | 2]!;
        if (v > 0 && v < 32) {
          R[d] = (R[d]! >>> v) | (R[d | 1]! << (32 - v));
          R[d | 1] = R[d | 1]! >>> v;
        } else if (v !== 0) { rsh64(R[d]!, R[d | 1]!, v); R[d] = res[0]!; R[d | 1] = res[1]!; }
        p = (p + 4) | 0;
        continue;
      case 0x7f: rsh64(R[d]!, R[d | 1]!, R[(w >>> 14) & 31]!); R[d] = res[0]!; R[d | 1] = res[1]!; p = (p + 4) | 0; continue;
      case 0xc7: arsh64(R[d]!, R[d | 1]!, ops[p | 2]!); R[d] = res[0]!; R[d | 1] = res[1]!; p = (p + 4) | 0; continue;
      case 0xcf: arsh64(R[d]!, R[d | 1]!, R[(w >>> 14) & 31]!); R[d] = res[0]!; R[d | 1] = res[1]!; p = (p + 4) | 0; continue;
      case 0x87: { const lo = R[d]!; R[d] = -lo | 0; R[d | 1] = (~R[d | 1]! + (lo === 0 ? 1 : 0)) | 0; p = (p + 4) | 0; continue; }
      case 0xb7: blo = ops[p | 2]!; R[d] = blo; R[d | 1] = blo >> 31; p = (p + 4) | 0; continue; // MOV K
      case 0xbf: s = (w >>> 14) & 31; R[d] = R[s]!; R[d | 1] = R[s | 1]!; p = (p + 4) | 0; continue; // MOV X
      case 0xe7: { // OP_LEA_K: rD = rS; rD += K
        s = (w >>> 14) & 31;
        const lo = R[s]!, b = ops[(p + 6) | 0]!, r = (lo + b) | 0;
        R[d] = r;
        R[d | 1] = (R[s | 1]! + (b >> 31) + ((r >>> 0) < (lo >>> 0) ? 1 : 0)) | 0;
        p = (p + 8) | 0;
        continue;
      }
      case 0xef: { // OP_LEA_X: rD = rS; rD += rX (rX read after the move, so rX == rD adds rS)
        s = (w >>> 14) & 31;
        R[d] = R[s]!;
        R[d | 1] = R[s | 1]!;
        const x = (ops[(p + 4) | 0]! >>> 14) & 31, lo = R[d]!, r = (lo + R[x]!) | 0;
        R[d] = r;
        R[d | 1] = (R[d | 1]! + R[x | 1]! + ((r >>> 0) < (lo >>> 0) ? 1 : 0)) | 0;
        p = (p + 8) | 0;
        continue;
      }
      case 0xf7: { // OP_LEA_K_JGT_X: rD = rS; rD += K; if rD > rX goto T
        s = (w >>> 14) & 31;
        const lo = R[s]!, b = ops[(p + 6) | 0]!, r = (lo + b) | 0;
        const hi = (R[s | 1]! + (b >> 31) + ((r >>> 0) < (lo >>> 0) ? 1 : 0)) | 0;
        R[d] = r;
        R[d | 1] = hi;
        w = ops[(p + 8) | 0]!;
        p = (p + 8) | 0;
        s = (w >>> 14) & 31;
        const bh = R[s | 1]! >>> 0;
        if (hi >>> 0 > bh || (hi >>> 0 === bh && r >>> 0 > R[s]! >>> 0)) break;
        p = (p + 4) | 0;
        continue;
      }
      case 0xf4: { // OP_MOVSX64 (off 8/16/32): sign-extend the low bits of src to 64 bits
        const o = ops[p | 1]!, x = R[(w >>> 14) & 31]!;
        v = o === 8 ? (x << 24) >> 24 : o === 16 ? (x << 16) >> 16 : x;
        R[d] = v;
        R[d | 1] = v >> 31;
        p = (p + 4) | 0;
        continue;
      }
      case 0xd7: { // bswap16/32/64 (ALU64 | END | TO_LE)
        const bits = ops[p | 2]!;
        if (bits === 16) { R[d] = bswap16(R[d]!); R[d | 1] = 0; }
        else if (bits === 32) { R[d] = bswap32(R[d]!); R[d | 1] = 0; }
        else { const lo = R[d]!; R[d] = bswap32(R[d | 1]!); R[d | 1] = bswap32(lo); }
        p = (p + 4) | 0;
        continue;
      }

      // ---- ALU (32-bit; the result is zero-extended into the 64-bit register) ----
      case 0x04: R[d] = (R[d]! + ops[p | 2]!) | 0; R[d | 1] = 0; p = (p + 4) | 0; continue;
      case 0x0c: R[d] = (R[d]! + R[(w >>> 14) & 31]!) | 0; R[d | 1] = 0; p = (p + 4) | 0; continue;
      case 0x14: R[d] = (R[d]! - ops[p | 2]!) | 0; R[d | 1] = 0; p = (p + 4) | 0; continue;
      case 0x1c: R[d] = (R[d]! - R[(w >>> 14) & 31]!) | 0; R[d | 1] = 0; p = (p + 4) | 0; continue;
      case 0x24: R[d] = Math.imul(R[d]!, ops[p | 2]!); R[d | 1] = 0; p = (p + 4) | 0; continue;
      case 0x2c: R[d] = Math.imul(R[d]!, R[(w >>> 14) & 31]!); R[d | 1] = 0; p = (p + 4) | 0; continue;
      case 0x34: R[d] = div32(R[d]!, ops[p | 2]!, ops[p | 1]!); R[d | 1] = 0; p = (p + 4) | 0; continue;
      case 0x3c: R[d] = div32(R[d]!, R[(w >>> 14) & 31]!, ops[p | 1]!); R[d | 1] = 0; p = (p + 4) | 0; continue;
      case 0x94: R[d] = mod32(R[d]!, ops[p | 2]!, ops[p | 1]!); R[d | 1] = 0; p = (p + 4) | 0; continue;
      case 0x9c: R[d] = mod32(R[d]!, R[(w >>> 14) & 31]!, ops[p | 1]!); R[d | 1] = 0; p = (p + 4) | 0; continue;
      case 0x44: R[d] = R[d]! | ops[p | 2]!; R[d | 1] = 0; p = (p + 4) | 0; continue;
      case 0x4c: R[d] = R[d]! | R[(w >>> 14) & 31]!; R[d | 1] = 0; p = (p + 4) | 0; continue;
      case 0x54: R[d] = R[d]! & ops[p | 2]!; R[d | 1] = 0; p = (p + 4) | 0; continue;
      case 0x5c: R[d] = R[d]! & R[(w >>> 14) & 31]!; R[d | 1] = 0; p = (p + 4) | 0; continue;
      case 0xa4: R[d] = R[d]! ^ ops[p | 2]!; R[d | 1] = 0; p = (p + 4) | 0; continue;
      case 0xac: R[d] = R[d]! ^ R[(w >>> 14) & 31]!; R[d | 1] = 0; p = (p + 4) | 0; continue;
      case 0x64: R[d] = R[d]! << ops[p | 2]!; R[d | 1] = 0; p = (p + 4) | 0; continue;
      case 0x6c: R[d] = R[d]! << (R[(w >>> 14) & 31]! & 31); R[d | 1] = 0; p = (p + 4) | 0; continue;
      case 0x74: R[d] = R[d]! >>> ops[p | 2]!; R[d | 1] = 0; p = (p + 4) | 0; continue;
      case 0x7c: R[d] = R[d]! >>> (R[(w >>> 14) & 31]! & 31); R[d | 1] = 0; p = (p + 4) | 0; continue;
      case 0xc4: R[d] = R[d]! >> ops[p | 2]!; R[d | 1] = 0; p = (p + 4) | 0; continue;
      case 0xcc: R[d] = R[d]! >> (R[(w >>> 14) & 31]! & 31); R[d | 1] = 0; p = (p + 4) | 0; continue;
      case 0x84: R[d] = -R[d]! | 0; R[d | 1] = 0; p = (p + 4) | 0; continue;
      case 0xb4: R[d] = ops[p | 2]!; R[d | 1] = 0; p = (p + 4) | 0; continue;
      case 0xbc: R[d] = R[(w >>> 14) & 31]!; R[d | 1] = 0; p = (p + 4) | 0; continue;
      case 0xfc: { // OP_MOVSX32 (off 8/16)
        const o = ops[p | 1]!, x = R[(w >>> 14) & 31]!;
        R[d] = o === 8 ? (x << 24) >> 24 : o === 16 ? (x << 16) >> 16 : x;
        R[d | 1] = 0;
        p = (p + 4) | 0;
        continue;
      }
      case 0xd4: { // le16/32/64: a no-op on little-endian apart from truncation
        const bits = ops[p | 2]!;
        if (bits === 16) { R[d] = R[d]! & 0xffff; R[d | 1] = 0; }
        else if (bits === 32) R[d | 1] = 0;
        p = (p + 4) | 0;
        continue;
      }
      case 0xdc: { // be16/32/64
        const bits = ops[p | 2]!;
        if (bits === 16) { R[d] = bswap16(R[d]!); R[d | 1] = 0; }
        else if (bits === 32) { R[d] = bswap32(R[d]!); R[d | 1] = 0; }
        else { const lo = R[d]!; R[d] = bswap32(R[d | 1]!); R[d | 1] = bswap32(lo); }
        p = (p + 4) | 0;
        continue;
      }

      // ---- Jumps: a taken branch breaks out of the switch ----
      case 0x05: case 0x06: break; // JA, JA32 (gotol)
      // 64-bit compares, K (imm sign-extended: high half in w3) and X
      case 0x15: if (R[d] === ops[p | 2] && R[d | 1] === ops[p | 3]) break; p = (p + 4) | 0; continue;
      case 0x1d: s = (w >>> 14) & 31; if (R[d] === R[s] && R[d | 1] === R[s | 1]) break; p = (p + 4) | 0; continue;
      case 0x55: if (R[d] !== ops[p | 2] || R[d | 1] !== ops[p | 3]) break; p = (p + 4) | 0; continue;
      case 0x5d: s = (w >>> 14) & 31; if (R[d] !== R[s] || R[d | 1] !== R[s | 1]) break; p = (p + 4) | 0; continue;
      case 0x45: if (((R[d]! & ops[p | 2]!) | (R[d | 1]! & ops[p | 3]!)) !== 0) break; p = (p + 4) | 0; continue;
      case 0x4d: s = (w >>> 14) & 31; if (((R[d]! & R[s]!) | (R[d | 1]! & R[s | 1]!)) !== 0) break; p = (p + 4) | 0; continue;
      case 0x25: if (ugt64(R[d]!, R[d | 1]!, ops[p | 2]!, ops[p | 3]!)) break; p = (p + 4) | 0; continue; // JGT
      case 0x2d: { // JGT X, inline: the packet bounds check
        s = (w >>> 14) & 31;
        const ah = R[d | 1]! >>> 0, bh = R[s | 1]! >>> 0;
        if (ah > bh || (ah === bh && R[d]! >>> 0 > R[s]! >>> 0)) break;
        p = (p + 4) | 0;
        continue;
      }
      case 0x35: if (!ugt64(ops[p | 2]!, ops[p | 3]!, R[d]!, R[d | 1]!)) break; p = (p + 4) | 0; continue; // JGE
      case 0x3d: s = (w >>> 14) & 31; if (!ugt64(R[s]!, R[s | 1]!, R[d]!, R[d | 1]!)) break; p = (p + 4) | 0; continue;
      case 0xa5: if (ugt64(ops[p | 2]!, ops[p | 3]!, R[d]!, R[d | 1]!)) break; p = (p + 4) | 0; continue; // JLT
      case 0xad: s = (w >>> 14) & 31; if (ugt64(R[s]!, R[s | 1]!, R[d]!, R[d | 1]!)) break; p = (p + 4) | 0; continue;
      case 0xb5: if (!ugt64(R[d]!, R[d | 1]!, ops[p | 2]!, ops[p | 3]!)) break; p = (p + 4) | 0; continue; // JLE
      case 0xbd: s = (w >>> 14) & 31; if (!ugt64(R[d]!, R[d | 1]!, R[s]!, R[s | 1]!)) break; p = (p + 4) | 0; continue;
      case 0x65: if (sgt64(R[d]!, R[d | 1]!, ops[p | 2]!, ops[p | 3]!)) break; p = (p + 4) | 0; continue; // JSGT
      case 0x6d: s = (w >>> 14) & 31; if (sgt64(R[d]!, R[d | 1]!, R[s]!, R[s | 1]!)) break; p = (p + 4) | 0; continue;
      case 0x75: if (!sgt64(ops[p | 2]!, ops[p | 3]!, R[d]!, R[d | 1]!)) break; p = (p + 4) | 0; continue; // JSGE
      case 0x7d: s = (w >>> 14) & 31; if (!sgt64(R[s]!, R[s | 1]!, R[d]!, R[d | 1]!)) break; p = (p + 4) | 0; continue;
      case 0xc5: if (sgt64(ops[p | 2]!, ops[p | 3]!, R[d]!, R[d | 1]!)) break; p = (p + 4) | 0; continue; // JSLT
      case 0xcd: s = (w >>> 14) & 31; if (sgt64(R[s]!, R[s | 1]!, R[d]!, R[d | 1]!)) break; p = (p + 4) | 0; continue;
      case 0xd5: if (!sgt64(R[d]!, R[d | 1]!, ops[p | 2]!, ops[p | 3]!)) break; p = (p + 4) | 0; continue; // JSLE
      case 0xdd: s = (w >>> 14) & 31; if (!sgt64(R[d]!, R[d | 1]!, R[s]!, R[s | 1]!)) break; p = (p + 4) | 0; continue;
      // 32-bit compares on the low halves
      case 0x16: if (R[d] === ops[p | 2]) break; p = (p + 4) | 0; continue;
      case 0x1e: if (R[d] === R[(w >>> 14) & 31]) break; p = (p + 4) | 0; continue;
      case 0x56: if (R[d] !== ops[p | 2]) break; p = (p + 4) | 0; continue;
      case 0x5e: if (R[d] !== R[(w >>> 14) & 31]) break; p = (p + 4) | 0; continue;
      case 0x46: if ((R[d]! & ops[p | 2]!) !== 0) break; p = (p + 4) | 0; continue;
      case 0x4e: if ((R[d]! & R[(w >>> 14) & 31]!) !== 0) break; p = (p + 4) | 0; continue;
      case 0x26: if (R[d]! >>> 0 > ops[p | 2]! >>> 0) break; p = (p + 4) | 0; continue;
      case 0x2e: if (R[d]! >>> 0 > R[(w >>> 14) & 31]! >>> 0) break; p = (p + 4) | 0; continue;
      case 0x36: if (R[d]! >>> 0 >= ops[p | 2]! >>> 0) break; p = (p + 4) | 0; continue;
      case 0x3e: if (R[d]! >>> 0 >= R[(w >>> 14) & 31]! >>> 0) break; p = (p + 4) | 0; continue;
      case 0xa6: if (R[d]! >>> 0 < ops[p | 2]! >>> 0) break; p = (p + 4) | 0; continue;
      case 0xae: if (R[d]! >>> 0 < R[(w >>> 14) & 31]! >>> 0) break; p = (p + 4) | 0; continue;
      case 0xb6: if (R[d]! >>> 0 <= ops[p | 2]! >>> 0) break; p = (p + 4) | 0; continue;
      case 0xbe: if (R[d]! >>> 0 <= R[(w >>> 14) & 31]! >>> 0) break; p = (p + 4) | 0; continue;
      case 0x66: if (R[d]! > ops[p | 2]!) break; p = (p + 4) | 0; continue;
      case 0x6e: if (R[d]! > R[(w >>> 14) & 31]!) break; p = (p + 4) | 0; continue;
      case 0x76: if (R[d]! >= ops[p | 2]!) break; p = (p + 4) | 0; continue;
      case 0x7e: if (R[d]! >= R[(w >>> 14) & 31]!) break; p = (p + 4) | 0; continue;
      case 0xc6: if (R[d]! < ops[p | 2]!) break; p = (p + 4) | 0; continue;
      case 0xce: if (R[d]! < R[(w >>> 14) & 31]!) break; p = (p + 4) | 0; continue;
      case 0xd6: if (R[d]! <= ops[p | 2]!) break; p = (p + 4) | 0; continue;
      case 0xde: if (R[d]! <= R[(w >>> 14) & 31]!) break; p = (p + 4) | 0; continue;

      // ---- Calls and exit ----
      case 0xe4: { // OP_CALL_LOCAL: bpf-to-bpf call: push a frame; the callee gets its own 512-byte stack slice
        if (vm.frameDepth + 1 >= MAX_CALL_FRAMES) return stop(vm, FAULT_CALL_DEPTH, (p - REGS) >> 2);
        if (--budget < 0) return stop(vm, FAULT_BUDGET, (p - REGS) >> 2);
        const f = vm.frameDepth;
        const sv = vm.savedRegs, base = f * 10;
        for (let k = 0; k < 10; k++) sv[base + k] = R[12 + k]!; // r6..r10
        vm.savedPc[f] = p + 4;
        vm.savedProg[f] = vm.prog;
        vm.frameDepth = f + 1;
        R[R10] = vm.stackTop - (f + 1) * MAX_BPF_STACK;
        R[R10 + 1] = 0;
        p = ops[p | 1]!;
        continue;
      }
      case 0x85: case 0x8d: { // helper call: BPF_CALL imm, or callx with the id in dst
        const id = (w & 0xff) === 0x85 ? ops[p | 2]! : R[d]!;
        if (id === BPF_FUNC_tail_call) {
          const target = tailCallTarget(vm, R);
          if (target !== null) {
            vm.tailCallCnt++;
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
        for (let k = 0; k < 12; k++) VR[k] = R[k]!; // r0..r5 for the helper
        fn(vm);
        R[0] = VR[0]!;
        R[1] = VR[1]!;
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
      case 0x95: { // exit
        const f = vm.frameDepth;
        if (f === 0) {
          vm.budget = budget;
          return -1;
        }
        const nf = f - 1;
        const sv = vm.savedRegs, base = nf * 10;
        for (let k = 0; k < 10; k++) R[12 + k] = sv[base + k]!;
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
      case 0xed: case 0xe5: { // OP_LD_MAP_LOOKUP / OP_LD_ARRAY_LOOKUP: r1 = map; (r2 set before) call bpf_map_lookup_elem
        const pr = vm.prog!, map = pr.usedMaps[ops[p | 3]!]!;
        R[d] = pr.ldLo[(p - REGS) >> 2]!;
        R[d | 1] = pr.ldHi[(p - REGS) >> 2]!;
        a = R[4]! >>> 0;
        // Anything the helper would refuse (or another helper table) goes the plain way, to fault as it does.
        const ks = map.keySize;
        if (vm.helpers[1] !== mapLookupElem || R[5] !== 0 || !((a >= sLo && a + ks <= sHi) || vm.canRead(a, ks))) { p = (p + 8) | 0; continue; }
        if ((w & 0xff) === 0xe5) { // inlined as array_map_gen_lookup(); the ld_imm64's second slot holds the array's layout
          v = dv.getInt32(a, true) >>> 0;
          R[0] = v < ops[(p + 4) | 1]! >>> 0 ? ops[(p + 4) | 2]! + v * ops[(p + 4) | 3]! : 0;
        } else R[0] = map.lookupElem(a);
        R[1] = 0;
        p = (p + 12) | 0;
        continue;
      }
      case 0x18: { const pr = vm.prog!; R[d] = pr.ldLo[(p - REGS) >> 2]!; R[d | 1] = pr.ldHi[(p - REGS) >> 2]!; p = (p + 8) | 0; continue; }

      // ---- Loads: dst = *(size *)(src + off); a fault names the address as src + off ----
      // (src + off below zero needs no test of its own: no region starts below the NULL guard.)
      case 0x61: // LDX W
        s = (w >>> 14) & 31;
        a = (R[s]! >>> 0) + ops[p | 1]!;
        if (R[s | 1] !== 0 || !((a >= pLo && a + 4 <= pHi) || (a >= sLo && a + 4 <= sHi) || vm.canRead(a, 4))) return stopAt(vm, FAULT_READ, (p - REGS) >> 2, R[s]! + ops[p | 1]!, 4);
        R[d] = dv.getInt32(a, true); R[d | 1] = 0;
        p = (p + 4) | 0;
        continue;
      case 0x69: // LDX H
        s = (w >>> 14) & 31;
        a = (R[s]! >>> 0) + ops[p | 1]!;
        if (R[s | 1] !== 0 || !((a >= pLo && a + 2 <= pHi) || (a >= sLo && a + 2 <= sHi) || vm.canRead(a, 2))) return stopAt(vm, FAULT_READ, (p - REGS) >> 2, R[s]! + ops[p | 1]!, 2);
        R[d] = dv.getUint16(a, true); R[d | 1] = 0;
        p = (p + 4) | 0;
        continue;
      case 0x71: // LDX B
        s = (w >>> 14) & 31;
        a = (R[s]! >>> 0) + ops[p | 1]!;
        if (R[s | 1] !== 0 || !((a >= pLo && a + 1 <= pHi) || (a >= sLo && a + 1 <= sHi) || vm.canRead(a, 1))) return stopAt(vm, FAULT_READ, (p - REGS) >> 2, R[s]! + ops[p | 1]!, 1);
        R[d] = dv.getUint8(a); R[d | 1] = 0;
        p = (p + 4) | 0;
        continue;
      case 0x79: // LDX DW
        s = (w >>> 14) & 31;
        a = (R[s]! >>> 0) + ops[p | 1]!;
        if (R[s | 1] !== 0 || !((a >= pLo && a + 8 <= pHi) || (a >= sLo && a + 8 <= sHi) || vm.canRead(a, 8))) return stopAt(vm, FAULT_READ, (p - REGS) >> 2, R[s]! + ops[p | 1]!, 8);
        R[d] = dv.getInt32(a, true); R[d | 1] = dv.getInt32(a + 4, true);
        p = (p + 4) | 0;
        continue;
      case 0x81: // LDX W, sign-extending
        s = (w >>> 14) & 31;
        a = (R[s]! >>> 0) + ops[p | 1]!;
        if (R[s | 1] !== 0 || !((a >= pLo && a + 4 <= pHi) || (a >= sLo && a + 4 <= sHi) || vm.canRead(a, 4))) return stopAt(vm, FAULT_READ, (p - REGS) >> 2, R[s]! + ops[p | 1]!, 4);
        v = dv.getInt32(a, true); R[d] = v; R[d | 1] = v >> 31;
        p = (p + 4) | 0;
        continue;
      case 0x89: // LDX H, sign-extending
        s = (w >>> 14) & 31;
        a = (R[s]! >>> 0) + ops[p | 1]!;
        if (R[s | 1] !== 0 || !((a >= pLo && a + 2 <= pHi) || (a >= sLo && a + 2 <= sHi) || vm.canRead(a, 2))) return stopAt(vm, FAULT_READ, (p - REGS) >> 2, R[s]! + ops[p | 1]!, 2);
        v = dv.getInt16(a, true); R[d] = v; R[d | 1] = v >> 31;
        p = (p + 4) | 0;
        continue;
      case 0x91: // LDX B, sign-extending
        s = (w >>> 14) & 31;
        a = (R[s]! >>> 0) + ops[p | 1]!;
        if (R[s | 1] !== 0 || !((a >= pLo && a + 1 <= pHi) || (a >= sLo && a + 1 <= sHi) || vm.canRead(a, 1))) return stopAt(vm, FAULT_READ, (p - REGS) >> 2, R[s]! + ops[p | 1]!, 1);
        v = dv.getInt8(a); R[d] = v; R[d | 1] = v >> 31;
        p = (p + 4) | 0;
        continue;

      // ---- Stores: *(size *)(dst + off) = imm (ST) or src (STX) ----
      case 0x62: // ST W
        a = (R[d]! >>> 0) + ops[p | 1]!;
        if (R[d | 1] !== 0 || !((a >= pLo && a + 4 <= pHi) || (a >= sLo && a + 4 <= sHi) || vm.canWrite(a, 4))) return stopAt(vm, FAULT_WRITE, (p - REGS) >> 2, R[d]! + ops[p | 1]!, 4);
        dv.setInt32(a, ops[p | 2]!, true);
        p = (p + 4) | 0;
        continue;
      case 0x6a: // ST H
        a = (R[d]! >>> 0) + ops[p | 1]!;
        if (R[d | 1] !== 0 || !((a >= pLo && a + 2 <= pHi) || (a >= sLo && a + 2 <= sHi) || vm.canWrite(a, 2))) return stopAt(vm, FAULT_WRITE, (p - REGS) >> 2, R[d]! + ops[p | 1]!, 2);
        dv.setInt16(a, ops[p | 2]!, true);
        p = (p + 4) | 0;
        continue;
      case 0x72: // ST B
        a = (R[d]! >>> 0) + ops[p | 1]!;
        if (R[d | 1] !== 0 || !((a >= pLo && a + 1 <= pHi) || (a >= sLo && a + 1 <= sHi) || vm.canWrite(a, 1))) return stopAt(vm, FAULT_WRITE, (p - REGS) >> 2, R[d]! + ops[p | 1]!, 1);
        dv.setInt8(a, ops[p | 2]!);
        p = (p + 4) | 0;
        continue;
      case 0x7a: // ST DW
        a = (R[d]! >>> 0) + ops[p | 1]!;
        if (R[d | 1] !== 0 || !((a >= pLo && a + 8 <= pHi) || (a >= sLo && a + 8 <= sHi) || vm.canWrite(a, 8))) return stopAt(vm, FAULT_WRITE, (p - REGS) >> 2, R[d]! + ops[p | 1]!, 8);
        v = ops[p | 2]!; dv.setInt32(a, v, true); dv.setInt32(a + 4, v >> 31, true);
        p = (p + 4) | 0;
        continue;
      case 0x63: // STX W
        a = (R[d]! >>> 0) + ops[p | 1]!;
        if (R[d | 1] !== 0 || !((a >= pLo && a + 4 <= pHi) || (a >= sLo && a + 4 <= sHi) || vm.canWrite(a, 4))) return stopAt(vm, FAULT_WRITE, (p - REGS) >> 2, R[d]! + ops[p | 1]!, 4);
        dv.setInt32(a, R[(w >>> 14) & 31]!, true);
        p = (p + 4) | 0;
        continue;
      case 0x6b: // STX H
        a = (R[d]! >>> 0) + ops[p | 1]!;
        if (R[d | 1] !== 0 || !((a >= pLo && a + 2 <= pHi) || (a >= sLo && a + 2 <= sHi) || vm.canWrite(a, 2))) return stopAt(vm, FAULT_WRITE, (p - REGS) >> 2, R[d]! + ops[p | 1]!, 2);
        dv.setInt16(a, R[(w >>> 14) & 31]!, true);
        p = (p + 4) | 0;
        continue;
      case 0x73: // STX B
        a = (R[d]! >>> 0) + ops[p | 1]!;
        if (R[d | 1] !== 0 || !((a >= pLo && a + 1 <= pHi) || (a >= sLo && a + 1 <= sHi) || vm.canWrite(a, 1))) return stopAt(vm, FAULT_WRITE, (p - REGS) >> 2, R[d]! + ops[p | 1]!, 1);
        dv.setInt8(a, R[(w >>> 14) & 31]!);
        p = (p + 4) | 0;
        continue;
      case 0x7b: // STX DW
        a = (R[d]! >>> 0) + ops[p | 1]!;
        if (R[d | 1] !== 0 || !((a >= pLo && a + 8 <= pHi) || (a >= sLo && a + 8 <= sHi) || vm.canWrite(a, 8))) return stopAt(vm, FAULT_WRITE, (p - REGS) >> 2, R[d]! + ops[p | 1]!, 8);
        s = (w >>> 14) & 31; dv.setInt32(a, R[s]!, true); dv.setInt32(a + 4, R[s | 1]!, true);
        p = (p + 4) | 0;
        continue;

      // ---- Atomics ----
      case 0xf5: { // OP_ATOMIC_ADD64: lock *(u64 *)(dst + off) += src
        a = (R[d]! >>> 0) + ops[p | 1]!;
        if (R[d | 1] !== 0 || !((a >= pLo && a + 8 <= pHi) || (a >= sLo && a + 8 <= sHi) || vm.canWrite(a, 8))) return stopAt(vm, FAULT_WRITE, (p - REGS) >> 2, R[d]! + ops[p | 1]!, 8);
        s = (w >>> 14) & 31;
        const lo = dv.getInt32(a, true), r = (lo + R[s]!) | 0;
        dv.setInt32(a, r, true);
        dv.setInt32(a + 4, (dv.getInt32(a + 4, true) + R[s | 1]! + ((r >>> 0) < (lo >>> 0) ? 1 : 0)) | 0, true);
        p = (p + 4) | 0;
        continue;
      }
      case 0xc3: case 0xdb: {
        const size = ops[p | 3]!;
        a = (R[d]! >>> 0) + ops[p | 1]!;
        if (R[d | 1] !== 0 || !vm.canWrite(a, size)) return stopAt(vm, FAULT_WRITE, (p - REGS) >> 2, R[d]! + ops[p | 1]!, size);
        if (!atomic(R, dv, a, size, (w >>> 14) & 31, ops[p | 2]!)) return stop(vm, FAULT_BAD_INSN, (p - REGS) >> 2);
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
  switch (op & ~1) {
    case 0x00: { nlo = (oldLo + slo) | 0; nhi = (oldHi + shi + ((nlo >>> 0) < (oldLo >>> 0) ? 1 : 0)) | 0; break; }
    case 0x40: nlo = oldLo | slo; nhi = oldHi | shi; break;
    case 0x50: nlo = oldLo & slo; nhi = oldHi & shi; break;
    case 0xa0: nlo = oldLo ^ slo; nhi = oldHi ^ shi; break;
    case 0xe0: if (op !== 0xe1) return false; nlo = slo; nhi = shi; break;
    case 0xf0: {
      if (op !== 0xf1) return false;
      const eq = size === 8 ? R[0] === oldLo && R[1] === oldHi : R[0] === oldLo;
      if (eq) {
        dv.setInt32(a, slo, true);
        if (size === 8) dv.setInt32(a + 4, shi, true);
      }
      R[0] = oldLo;
      R[1] = oldHi;
      return true;
    }
    default: return false;
  }
  dv.setInt32(a, nlo, true);
  if (size === 8) dv.setInt32(a + 4, nhi, true);
  if ((op & 1) !== 0) {
    R[s] = oldLo;
    R[s | 1] = oldHi;
  }
  return true;
}

/** bpf_tail_call(ctx, prog_array, index): the next program, or null to fall through. */
function tailCallTarget(vm: BpfVm, R: Int32Array): BpfProg | null {
  if (R[5] !== 0) return null;
  const map = vm.env.mapByAddr(R[4]! >>> 0) as { progAt?: (i: number) => unknown; maxEntries: number } | undefined;
  if (map === undefined || map.progAt === undefined) return null;
  const index = R[6]! >>> 0;
  if (index >= map.maxEntries) return null;
  if (vm.tailCallCnt >= MAX_TAIL_CALL_CNT) return null;
  return (map.progAt(index) as BpfProg | null) ?? null;
}
