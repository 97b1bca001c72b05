// The interpreter's form of a program: every insn pre-decoded once into a
// 4-word slot of one Int32Array, after the register file it runs on (REGS
// below). Kernel counterpart: the interpreter's jumptable dispatch in
// ___bpf_prog_run(), which decodes opcode, registers and offsets on every
// step; here that work is done once per program, as bpf_prog_select_runtime()
// picks prog->bpf_func once. Slot layout:
//
//   w0  op | dst*2 << 9 | src*2 << 14 | BACK (bit 19: a taken jump goes backwards)
//   w1  off; for jumps and bpf-to-bpf calls the target slot's word index (REGS + 4 * pc)
//   w2  imm (shift counts already masked to the operand width)
//   w3  K-form jumps: the high half of the sign-extended imm; loads/stores: access size
//
// `op` is the BPF opcode for every insn that means what its opcode says, so
// the interpreter's switch reads like the ISA; the few forms that need a
// different handler get op numbers of their own (OP_*). Insns the opcode table
// does not know, and invalid ones, get op 0 (as does the second half of
// ld_imm64) and fault when reached. A jump whose target lies outside the
// program points at a sentinel slot after the last insn that faults with the
// target's pc, so faults report exactly what a plain decoder would.
import type { BpfProg } from "./prog.ts";
import {
  INSN_TABLE, K_ALU, K_ALU64, K_ATOMIC, K_CALL, K_CALLX, K_END, K_JA, K_JMP, K_JMP32, K_LD_IMM64, K_LDX,
  K_LDXSX, K_ST, K_STX, usesDstReg, usesSrcReg, type InsnDesc,
} from "../isa/insn_table.ts";
import { hasGenLookup } from "../maps/array_map.ts";
import {
  BPF_ADD, BPF_ALU64, BPF_ARSH, BPF_FUNC_map_lookup_elem, BPF_LSH, BPF_PSEUDO_CALL, BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_IDX,
  BPF_RSH,
} from "../isa/uapi.ts";
import {
  ALU64_ADD_K, ALU64_ADD_X, ALU64_MOV_X, ALU_MOV_X, JMP_CALL, JMP_JA, JMP_JGT_X, LD_IMM_DW, STX_ATOMIC_DW,
} from "../isa/opcodes.ts";

export const SLOT = 4;
/**
 * Words 0..21 of the array are the interpreter's register file while the program runs
 * (r0..r10 as lo/hi pairs, the layout of BpfVm.regs; 22..23 pad), so that registers and
 * slots share one typed array; the slot of pc i starts at word REGS + SLOT * i.
 */
export const REGS = 24;
// The register file's words: r at [2r] (low half) and [2r + 1] (high half), as in BpfVm.regs.
export const R0_LO = 0;
export const R0_HI = 1;
export const R1_LO = 2;
export const R1_HI = 3;
export const R2_LO = 4;
export const R2_HI = 5;
export const R3_LO = 6;
export const R3_HI = 7;
export const R4_LO = 8;
export const R4_HI = 9;
export const R5_LO = 10;
export const R5_HI = 11;
export const R6_LO = 12;
export const R6_HI = 13;
export const R7_LO = 14;
export const R7_HI = 15;
export const R8_LO = 16;
export const R8_HI = 17;
export const R9_LO = 18;
export const R9_HI = 19;
export const R10_LO = 20;
export const R10_HI = 21;
/** Words of the register file (r0..r10). */
export const REG_WORDS = 22;
/** Word index of pc's slot. */
export const slotOf = (pc: number): number => REGS + pc * SLOT;
export const OP_MASK = 0xff;
export const D_SHIFT = 9;
export const S_SHIFT = 14;
export const REG_MASK = 31;
export const BACK = 1 << 19;

// Ops of the interpreter's own, numbered among the BPF opcodes no insn uses
// (ALU and ALU64 with operation 0xe0 or 0xf0, absent from INSN_TABLE), so that
// one dense jump table covers every op.
/** bpf-to-bpf call (BPF_CALL with src_reg BPF_PSEUDO_CALL); w1 = callee slot. */
export const OP_CALL_LOCAL = 0xe4;
/** Sentinel: a jump landed outside the program; w1 = the target pc. */
export const OP_BAD_TARGET = 0xec;
/** ALU64 MOV X with off 8/16/32 (movsx). */
export const OP_MOVSX64 = 0xf4;
/** ALU MOV X with off 8/16 (movsx, 32-bit). */
export const OP_MOVSX32 = 0xfc;
// Superinstructions: the first slot of a pair or triple clang emits for pointer
// arithmetic runs all of it in one dispatch. Only the first slot's op changes;
// the slots it covers keep their own ops, so a jump into the middle still works.
/** `rD = rS; rD += K` (slots i, i+1). */
export const OP_LEA_K = 0xe7;
/** `rD = rS; rD += rX` (slots i, i+1). */
export const OP_LEA_X = 0xef;
/** `rD = rS; rD += K; if rD > rX goto T` (slots i..i+2): the packet bounds check. */
export const OP_LEA_K_JGT_X = 0xf7;
/**
 * `r1 = map; call bpf_map_lookup_elem` (slots i..i+2): the helper's work done in place,
 * as the kernel's do_misc_fixups() turns the call into a direct map_lookup_elem call.
 * w3 = the map's index in prog.usedMaps. Falls back to the plain ld_imm64 when the
 * VM's helper table has another function at that id.
 */
export const OP_LD_MAP_LOOKUP = 0xed;
/** `lock *(u64 *)(rD + off) += rS` (BPF_ATOMIC | BPF_DW, imm BPF_ADD): counters in map values. */
export const OP_ATOMIC_ADD64 = 0xf5;
/**
 * OP_LD_MAP_LOOKUP on a plain BPF_MAP_TYPE_ARRAY, inlined as array_map_gen_lookup()
 * does it: index = *(u32 *)key, value = index < max_entries ? values + index * stride : NULL.
 * The ld_imm64's second slot (op 0, never run) holds max_entries, the value area's
 * start and the entry stride in its w1..w3; w3 of the first slot is the map's index.
 */
export const OP_LD_ARRAY_LOOKUP = 0xe5;

/** The program's pre-decoded slots, decoded on first use and kept on the program. */
export function interpOpsOf(prog: BpfProg): Int32Array {
  return prog.interpOps ?? (prog.interpOps = interpDecode(prog));
}

/** Decodes `prog` into interpreter slots (see the file comment). */
export function interpDecode(prog: BpfProg): Int32Array {
  const p = prog.insns, n = p.len;
  // Slot n is invalid (falling off the end faults at pc n); sentinels follow it.
  const badTargets: number[] = [];
  for (let i = 0; i < n; i++) {
    const rel = targetRel(INSN_TABLE[p.code[i]!], p.src[i]!, p.off[i]!, p.imm[i]!);
    if (rel === null) continue;
    const t = i + rel + 1;
    if ((t < 0 || t >= n) && !badTargets.includes(t)) badTargets.push(t);
  }
  const ops = new Int32Array(slotOf(n + 1 + badTargets.length));
  for (let k = 0; k < badTargets.length; k++) {
    ops[slotOf(n + 1 + k)] = OP_BAD_TARGET;
    ops[slotOf(n + 1 + k) + 1] = badTargets[k]!;
  }
  for (let i = 0; i < n; i++) {
    const c = p.code[i]!, desc = INSN_TABLE[c];
    const dst = p.dst[i]!, src = p.src[i]!, off = p.off[i]!, imm = p.imm[i]!;
    let op = desc === undefined ? 0 : c, w1 = off, w2 = imm, w3 = 0;
    switch (desc?.kind) {
      case K_ALU:
      case K_ALU64:
        if (!desc.isX && (desc.op === BPF_LSH || desc.op === BPF_RSH || desc.op === BPF_ARSH)) w2 = imm & (desc.cls === BPF_ALU64 ? 63 : 31);
        if (c === ALU64_MOV_X && off !== 0) op = OP_MOVSX64;
        if (c === ALU_MOV_X && off !== 0) op = OP_MOVSX32;
        break;
      case K_JMP:
      case K_JMP32:
        w3 = imm >> 31;
        break;
      case K_CALL:
        if (src === BPF_PSEUDO_CALL) op = OP_CALL_LOCAL;
        else if (src !== 0) op = 0; // kfunc calls: none exist here
        break;
      case K_LDX:
      case K_LDXSX:
      case K_STX:
      case K_ATOMIC:
      case K_ST:
        w3 = desc.size;
        break;
    }
    // no such register: invalid insn
    if (desc !== undefined && ((usesDstReg(desc) && dst > 10) || (usesSrcReg(desc) && src > 10))) op = 0;
    let back = 0;
    const rel = targetRel(desc, src, off, imm);
    if (rel !== null && op !== 0) {
      const t = i + rel + 1;
      back = rel < 0 ? BACK : 0;
      w1 = t >= 0 && t < n ? slotOf(t) : slotOf(n + 1 + badTargets.indexOf(t));
    }
    const b = slotOf(i);
    ops[b] = op | ((dst << 1) << D_SHIFT) | ((src << 1) << S_SHIFT) | back;
    ops[b + 1] = w1;
    ops[b + 2] = w2;
    ops[b + 3] = w3;
  }
  fuse(prog, ops, n);
  return ops;
}

/** Marks the first slot of each superinstruction and fixup pattern (see OP_LEA_* and below). */
function fuse(prog: BpfProg, ops: Int32Array, n: number): void {
  const opAt = (i: number) => ops[slotOf(i)]! & OP_MASK;
  const dstAt = (i: number) => (ops[slotOf(i)]! >>> D_SHIFT) & REG_MASK;
  const p = prog.insns;
  for (let i = 0; i < n; i++) {
    const a = opAt(i), b = i + 1 < n ? opAt(i + 1) : 0;
    let op = 0, w3 = ops[slotOf(i) + 3]!;
    if (a === ALU64_MOV_X && dstAt(i + 1) === dstAt(i)) {
      if (b === ALU64_ADD_K) op = i + 2 < n && opAt(i + 2) === JMP_JGT_X && dstAt(i + 2) === dstAt(i) ? OP_LEA_K_JGT_X : OP_LEA_K;
      else if (b === ALU64_ADD_X) op = OP_LEA_X;
    } else if (a === LD_IMM_DW && p.dst[i] === 1 && (p.src[i] === BPF_PSEUDO_MAP_FD || p.src[i] === BPF_PSEUDO_MAP_IDX) &&
      i + 2 < n && opAt(i + 2) === JMP_CALL && ops[slotOf(i + 2) + 2] === BPF_FUNC_map_lookup_elem) {
      w3 = prog.usedMaps.findIndex((m) => m.addr === prog.ldLo[i] && prog.ldHi[i] === 0);
      const m = w3 >= 0 ? prog.usedMaps[w3] : undefined;
      if (hasGenLookup(m)) {
        op = OP_LD_ARRAY_LOOKUP;
        ops[slotOf(i + 1) + 1] = m.maxEntries;
        ops[slotOf(i + 1) + 2] = m.valuesStart;
        ops[slotOf(i + 1) + 3] = m.entryStride;
      } else if (m !== undefined) op = OP_LD_MAP_LOOKUP;
    } else if (a === STX_ATOMIC_DW && ops[slotOf(i) + 2] === BPF_ADD) op = OP_ATOMIC_ADD64;
    if (op === 0) continue;
    ops[slotOf(i)] = (ops[slotOf(i)]! & ~OP_MASK) | op;
    ops[slotOf(i) + 3] = w3;
  }
}

/** The pc-relative displacement of a jump or bpf-to-bpf call, null for other insns. */
function targetRel(desc: InsnDesc | undefined, src: number, off: number, imm: number): number | null {
  switch (desc?.kind) {
    case K_JA: return desc.code === JMP_JA ? off : imm;
    case K_JMP:
    case K_JMP32: return off;
    case K_CALL: return src === BPF_PSEUDO_CALL ? imm : null;
    default: return null;
  }
}

/** The pc a slot index names (sentinels name their out-of-program target). */
export function slotPc(ops: Int32Array, t: number): number {
  return (ops[t]! & OP_MASK) === OP_BAD_TARGET ? ops[t + 1]! : (t - REGS) / SLOT;
}
