// The interpreter's form of a program: every insn pre-decoded once into a
// 4-word slot of one Int32Array (kernel counterpart: the interpreter's
// jumptable dispatch in ___bpf_prog_run(), which decodes opcode, registers
// and offsets on every step; here that work is done once per program, as
// bpf_prog_select_runtime() picks prog->bpf_func once). Slot layout:
//
//   w0  op | dst*2 << 9 | src*2 << 14 | BACK (bit 19: a taken jump goes backwards)
//   w1  off; for jumps and bpf-to-bpf calls the target slot's word index (4 * pc)
//   w2  imm (shift counts already masked to the operand width)
//   w3  K-form jumps: the high half of the sign-extended imm; loads/stores: access size
//
// `op` is the BPF opcode for every insn that means what its opcode says, so
// the interpreter's switch reads like the ISA; the few forms that need a
// different handler get ops above 0xff (OP_*). Invalid insns keep an opcode
// no case handles (0 for the second half of ld_imm64) and fault when reached.
// A jump whose target lies outside the program points at a sentinel slot after
// the last insn that faults with the target's pc, so faults report exactly
// what a plain decoder would.
import type { BpfProg } from "./prog.ts";

export const SLOT = 4;
export const OP_MASK = 0xff;
export const D_SHIFT = 9;
export const S_SHIFT = 14;
export const REG_MASK = 31;
export const BACK = 1 << 19;

// Ops of the interpreter's own, numbered among the BPF opcodes no insn uses
// (ALU and ALU64 with operation 0xe0 or 0xf0), so that one dense jump table
// covers every op; a program that contains such an opcode gets op 0 there.
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
const INTERNAL_OPS = [OP_LD_MAP_LOOKUP, OP_ATOMIC_ADD64, OP_CALL_LOCAL, OP_BAD_TARGET, OP_MOVSX64, OP_MOVSX32, OP_LEA_K, OP_LEA_X, OP_LEA_K_JGT_X, 0xff];

const CLASS_LD = 0x00, CLASS_LDX = 0x01, CLASS_ST = 0x02, CLASS_STX = 0x03, CLASS_ALU = 0x04,
  CLASS_JMP = 0x05, CLASS_JMP32 = 0x06, CLASS_ALU64 = 0x07;
const LD_IMM64 = 0x18;
const SIZE_BYTES = [4, 2, 1, 8]; // BPF_W, BPF_H, BPF_B, BPF_DW by (code >> 3) & 3

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
    const rel = targetRel(p.code[i]!, p.src[i]!, p.off[i]!, p.imm[i]!);
    if (rel === null) continue;
    const t = i + rel + 1;
    if ((t < 0 || t >= n) && !badTargets.includes(t)) badTargets.push(t);
  }
  const ops = new Int32Array((n + 1 + badTargets.length) * SLOT);
  for (let k = 0; k < badTargets.length; k++) {
    ops[(n + 1 + k) * SLOT] = OP_BAD_TARGET;
    ops[(n + 1 + k) * SLOT + 1] = badTargets[k]!;
  }
  for (let i = 0; i < n; i++) {
    const c = p.code[i]!, cls = c & 0x07, x = (c & 0x08) !== 0;
    const dst = p.dst[i]!, src = p.src[i]!, off = p.off[i]!, imm = p.imm[i]!;
    let op = c, w1 = off, w2 = imm, w3 = 0, usesDst = false, usesSrc = false;
    switch (cls) {
      case CLASS_ALU64:
      case CLASS_ALU: {
        const aluOp = c & 0xf0;
        usesDst = true;
        usesSrc = x && aluOp !== 0xd0; // END ops use the K/X bit as the byte order
        if (!x && (aluOp === 0x60 || aluOp === 0x70 || aluOp === 0xc0)) w2 = imm & (cls === CLASS_ALU64 ? 63 : 31);
        if (c === 0xbf && off !== 0) op = OP_MOVSX64;
        if (c === 0xbc && off !== 0) op = OP_MOVSX32;
        break;
      }
      case CLASS_JMP:
      case CLASS_JMP32:
        if (c === 0x85) {
          if (src === 1) op = OP_CALL_LOCAL;
          else if (src !== 0) op = 0; // kfunc calls: none exist here
        } else if (c === 0x8d) usesDst = true;
        else if (targetRel(c, src, off, imm) !== null && c !== 0x05 && c !== 0x06) {
          usesDst = true;
          usesSrc = x;
          w3 = imm >> 31;
        }
        break;
      case CLASS_LDX:
      case CLASS_STX:
        usesSrc = true;
        usesDst = true;
        w3 = SIZE_BYTES[(c >> 3) & 3]!;
        break;
      case CLASS_ST:
        usesDst = true;
        w3 = SIZE_BYTES[(c >> 3) & 3]!;
        break;
      case CLASS_LD:
        usesDst = c === LD_IMM64;
        break;
    }
    if ((usesDst && dst > 10) || (usesSrc && src > 10)) op = 0; // no such register: invalid insn
    if (INTERNAL_OPS.includes(c)) op = 0;
    let back = 0;
    const rel = targetRel(c, src, off, imm);
    if (rel !== null && op !== 0) {
      const t = i + rel + 1;
      back = rel < 0 ? BACK : 0;
      w1 = t >= 0 && t < n ? t * SLOT : (n + 1 + badTargets.indexOf(t)) * SLOT;
    }
    const b = i * SLOT;
    ops[b] = op | ((dst << 1) << D_SHIFT) | ((src << 1) << S_SHIFT) | back;
    ops[b + 1] = w1;
    ops[b + 2] = w2;
    ops[b + 3] = w3;
  }
  fuse(ops, n);
  for (let i = 0; i + 2 < n; i++) {
    // r1 = map (BPF_PSEUDO_MAP_FD / MAP_IDX), then the lookup call
    const b = i * SLOT;
    if ((ops[b]! & OP_MASK) !== LD_IMM64 || p.dst[i] !== 1 || (p.src[i] !== 1 && p.src[i] !== 5)) continue;
    if ((ops[b + 2 * SLOT]! & OP_MASK) !== 0x85 || ops[b + 2 * SLOT + 2] !== 1 /* BPF_FUNC_map_lookup_elem */) continue;
    const m = prog.usedMaps.findIndex((x) => x.addr === prog.ldLo[i] && prog.ldHi[i] === 0);
    if (m < 0) continue;
    ops[b] = (ops[b]! & ~OP_MASK) | OP_LD_MAP_LOOKUP;
    ops[b + 3] = m;
  }
  for (let i = 0; i < n; i++) {
    const b = i * SLOT;
    if ((ops[b]! & OP_MASK) === 0xdb && ops[b + 2] === 0x00) ops[b] = (ops[b]! & ~OP_MASK) | OP_ATOMIC_ADD64;
  }
  return ops;
}

/** Marks the first slot of each superinstruction pattern (see OP_LEA_*). */
function fuse(ops: Int32Array, n: number): void {
  const opAt = (i: number) => ops[i * SLOT]! & OP_MASK;
  const dstAt = (i: number) => (ops[i * SLOT]! >>> D_SHIFT) & REG_MASK;
  for (let i = 0; i + 1 < n; i++) {
    if (opAt(i) !== 0xbf || dstAt(i + 1) !== dstAt(i)) continue;
    let op = 0;
    if (opAt(i + 1) === 0x07) op = i + 2 < n && opAt(i + 2) === 0x2d && dstAt(i + 2) === dstAt(i) ? OP_LEA_K_JGT_X : OP_LEA_K;
    else if (opAt(i + 1) === 0x0f) op = OP_LEA_X;
    if (op !== 0) ops[i * SLOT] = (ops[i * SLOT]! & ~OP_MASK) | op;
  }
}

/** The pc-relative displacement of a jump or bpf-to-bpf call, null for other insns. */
function targetRel(c: number, src: number, off: number, imm: number): number | null {
  const cls = c & 0x07;
  if (cls !== CLASS_JMP && cls !== CLASS_JMP32) return null;
  if (c === 0x05) return off;
  if (c === 0x06) return imm;
  if (c === 0x85) return src === 1 ? imm : null;
  const jop = c & 0xf0;
  if (jop === 0x80 || jop === 0x90 || jop === 0xe0 || jop === 0xf0) return null; // call, exit, invalid
  return off;
}

/** The pc a slot index names (sentinels name their out-of-program target). */
export function slotPc(ops: Int32Array, t: number): number {
  return (ops[t]! & OP_MASK) === OP_BAD_TARGET ? ops[t + 1]! : t / SLOT;
}
