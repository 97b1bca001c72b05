// Structural checks every loader runs before anything executes: opcode and
// operand validity (the kernel's per-class reserved-field checks in
// do_check()/check_*), ld_imm64 pairs (resolve_pseudo_ldimm64), subprogram
// boundaries and jump ranges (check_subprogs). The verifier adds the CFG walk
// and abstract interpretation on top. Messages follow kernel/bpf/verifier.c.
import type { BpfInsns } from "../isa/insn.ts";
import {
  INSN_TABLE, K_ALU, K_ALU64, K_ATOMIC, K_CALL, K_CALLX, K_END, K_EXIT, K_JA, K_JMP, K_JMP32, K_LD_ABS,
  K_LD_IMM64, K_LD_IND, K_LDX, K_LDXSX, K_ST, K_STX,
} from "../isa/insn_table.ts";
import { E2BIG, EINVAL } from "../../errno.ts";
import {
  BPF_COMPLEXITY_LIMIT_INSNS, BPF_DIV, BPF_MOD, BPF_MOV, BPF_PSEUDO_CALL, BPF_PSEUDO_FUNC, BPF_PSEUDO_KFUNC_CALL,
  BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_IDX, BPF_PSEUDO_MAP_IDX_VALUE, BPF_PSEUDO_MAP_VALUE, BPF_PSEUDO_BTF_ID,
  BPF_ADD, BPF_AND, BPF_OR, BPF_XOR, BPF_FETCH, BPF_XCHG, BPF_CMPXCHG, BPF_ALU64,
} from "../isa/uapi.ts";

export interface CheckError {
  errno: number;
  pc: number;
  message: string;
}

export interface CheckOptions {
  /** Maximum program length (BPF_COMPLEXITY_LIMIT_INSNS privileged, BPF_MAXINSNS otherwise). */
  maxInsns?: number;
  /** Accept ld_imm64 pseudo sources (map fd/value...): true after a loader resolved them. */
  allowPseudoLdImm64?: boolean;
}

/** Subprogram start offsets (main at 0) derived from pseudo calls, sorted. */
export function findSubprogs(p: BpfInsns): number[] {
  const starts = new Set<number>([0]);
  for (let i = 0; i < p.len; i++) {
    if (p.code[i] === 0x85 && p.src[i] === BPF_PSEUDO_CALL) starts.add(i + p.imm[i]! + 1);
    if (p.code[i] === 0x18 && p.src[i] === BPF_PSEUDO_FUNC) starts.add(i + p.imm[i]! + 1);
  }
  return [...starts].sort((a, b) => a - b);
}

const err = (errno: number, pc: number, message: string): CheckError => ({ errno, pc, message });

/**
 * Returns null when the program is structurally sound, else the first error, in
 * the kernel's order: subprogram discovery (add_subprog_and_kfunc), jump ranges
 * and subprogram ends (check_subprogs), then per-insn fields and ld_imm64 pairs
 * (resolve_pseudo_ldimm64 and the reserved-field checks of do_check).
 */
export function checkStructure(p: BpfInsns, opts: CheckOptions = {}): CheckError | null {
  const max = opts.maxInsns ?? BPF_COMPLEXITY_LIMIT_INSNS;
  if (p.len === 0) return err(EINVAL, 0, "empty program");
  if (p.len > max) return err(E2BIG, 0, `program of ${p.len} insns exceeds the limit of ${max}`);
  for (let i = 0; i < p.len; i++) {
    const isCall = p.code[i] === 0x85 && p.src[i] === BPF_PSEUDO_CALL;
    const isFunc = p.code[i] === 0x18 && p.src[i] === BPF_PSEUDO_FUNC;
    if (!isCall && !isFunc) continue;
    const t = i + p.imm[i]! + 1;
    if (t < 0 || t >= p.len) return err(EINVAL, i, "call to invalid destination");
  }
  const subs = findSubprogs(p);
  for (let k = 0; k < subs.length; k++) {
    const start = subs[k]!, end = k + 1 < subs.length ? subs[k + 1]! : p.len;
    for (let i = start; i < end; i++) {
      const code = p.code[i]!, cls = code & 0x07, op = code & 0xf0;
      if ((cls === 0x05 || cls === 0x06) && op !== 0x90 && op !== 0x80) {
        const t = i + 1 + (code === 0x06 ? p.imm[i]! : p.off[i]!);
        if (t < start || t >= end) return err(EINVAL, i, `jump out of range from insn ${i} to ${t}`);
      }
      if (i === end - 1 && code !== 0x95 && code !== 0x05 && code !== 0x06) {
        return err(EINVAL, i, "last insn is not an exit or jmp");
      }
    }
  }
  const isLdHi = new Uint8Array(p.len);
  for (let i = 0; i < p.len; i++) {
    if (isLdHi[i]) continue;
    const e = checkInsn(p, i, opts);
    if (e !== null) return e;
    if (p.code[i] === 0x18) isLdHi[i + 1] = 1;
  }
  for (const s of subs) if (isLdHi[s]) return err(EINVAL, s, `function call into the middle of ldimm64 insn ${s - 1}`);
  for (let i = 0; i < p.len; i++) {
    const code = p.code[i]!, cls = code & 0x07, op = code & 0xf0;
    if (isLdHi[i] || (cls !== 0x05 && cls !== 0x06) || op === 0x90 || op === 0x80) continue;
    const t = i + 1 + (code === 0x06 ? p.imm[i]! : p.off[i]!);
    if (isLdHi[t]) return err(EINVAL, i, `jump into the middle of ldimm64 insn ${t - 1}`);
  }
  return null;
}

function checkInsn(p: BpfInsns, i: number, opts: CheckOptions): CheckError | null {
  const code = p.code[i]!, dst = p.dst[i]!, src = p.src[i]!, off = p.off[i]!, imm = p.imm[i]!;
  const d = INSN_TABLE[code];
  if (d === undefined) return err(EINVAL, i, `unknown opcode ${hex2(code)}`);
  if (dst > 10) return err(EINVAL, i, `R${dst} is invalid`);
  if (src > 10 && d.kind !== K_LD_IMM64 && d.kind !== K_CALL) return err(EINVAL, i, `R${src} is invalid`);
  switch (d.kind) {
    case K_ALU:
    case K_ALU64: {
      // The kernel names MOV and NEG; every other ALU/ALU64 op reports "BPF_ALU" (check_alu_op).
      const is64 = d.kind === K_ALU64;
      const op = d.op;
      if (op === BPF_MOV) {
        const okOff = off === 0 || off === 8 || off === 16 || (is64 && off === 32);
        if ((d.isX && (imm !== 0 || !okOff)) || (!d.isX && (src !== 0 || off !== 0))) {
          return err(EINVAL, i, "BPF_MOV uses reserved fields");
        }
      } else if (op === 0x80) {
        if (src !== 0 || off !== 0 || imm !== 0) return err(EINVAL, i, "BPF_NEG uses reserved fields");
      } else if (op === BPF_DIV || op === BPF_MOD) {
        // (division by a zero immediate is the verifier's "div by zero", not a structural error)
        if ((off !== 0 && off !== 1) || (d.isX ? imm !== 0 : src !== 0)) return err(EINVAL, i, "BPF_ALU uses reserved fields");
      } else {
        // (out-of-range constant shifts are the verifier's "invalid shift", not structural)
        if (off !== 0 || (d.isX ? imm !== 0 : src !== 0)) return err(EINVAL, i, "BPF_ALU uses reserved fields");
      }
      return null;
    }
    case K_END:
      if (src !== 0 || off !== 0 || (imm !== 16 && imm !== 32 && imm !== 64) || (d.cls === BPF_ALU64 && d.isX)) {
        return err(EINVAL, i, "BPF_END uses reserved fields");
      }
      return null;
    case K_JMP:
    case K_JMP32:
      if (d.isX ? imm !== 0 : src !== 0) return err(EINVAL, i, `BPF_JMP/JMP32 uses reserved fields`);
      return null;
    case K_JA:
      if (code === 0x05 ? src !== 0 || imm !== 0 || dst !== 0 : src !== 0 || off !== 0 || dst !== 0) {
        return err(EINVAL, i, "BPF_JA uses reserved fields");
      }
      return null;
    case K_CALL:
      if (off !== 0 || dst !== 0 || (src !== 0 && src !== BPF_PSEUDO_CALL && src !== BPF_PSEUDO_KFUNC_CALL)) {
        return err(EINVAL, i, "BPF_CALL uses reserved fields");
      }
      return null;
    case K_CALLX:
      if (off !== 0 || src !== 0 || imm !== 0) return err(EINVAL, i, "BPF_CALL uses reserved fields");
      return null;
    case K_EXIT:
      if (src !== 0 || dst !== 0 || off !== 0 || imm !== 0) return err(EINVAL, i, "BPF_EXIT uses reserved fields");
      return null;
    case K_LD_IMM64: {
      if (i + 1 >= p.len) return err(EINVAL, i, "invalid bpf_ld_imm64 insn");
      // (a truncated pair at the very end is already "last insn is not an exit or jmp")
      if (off !== 0) return err(EINVAL, i, "invalid bpf_ld_imm64 insn");
      if (p.code[i + 1] !== 0 || p.dst[i + 1] !== 0 || p.src[i + 1] !== 0 || p.off[i + 1] !== 0) {
        return err(EINVAL, i, "invalid bpf_ld_imm64 insn");
      }
      if (src === 0) return null;
      const known = src === BPF_PSEUDO_MAP_FD || src === BPF_PSEUDO_MAP_VALUE || src === BPF_PSEUDO_MAP_IDX ||
        src === BPF_PSEUDO_MAP_IDX_VALUE || src === BPF_PSEUDO_BTF_ID || src === BPF_PSEUDO_FUNC;
      if (!known) return err(EINVAL, i, "unrecognized bpf_ld_imm64 insn");
      if (!opts.allowPseudoLdImm64 && src !== BPF_PSEUDO_FUNC) {
        return err(EINVAL, i, "unresolved map reference in ld_imm64 (load the program through an object loader)");
      }
      return null;
    }
    case K_LDX:
    case K_LDXSX:
      if (imm !== 0) return err(EINVAL, i, "BPF_LDX uses reserved fields");
      return null;
    case K_ST:
      if (src !== 0) return err(EINVAL, i, "BPF_ST uses reserved fields");
      return null;
    case K_STX:
      if (imm !== 0) return err(EINVAL, i, "BPF_STX uses reserved fields");
      return null;
    case K_ATOMIC: {
      const ok = imm === BPF_ADD || imm === (BPF_ADD | BPF_FETCH) || imm === BPF_AND || imm === (BPF_AND | BPF_FETCH) ||
        imm === BPF_OR || imm === (BPF_OR | BPF_FETCH) || imm === BPF_XOR || imm === (BPF_XOR | BPF_FETCH) ||
        imm === BPF_XCHG || imm === BPF_CMPXCHG;
      if (!ok) return err(EINVAL, i, `BPF_ATOMIC uses invalid atomic opcode ${hex2(imm)}`);
      return null;
    }
    case K_LD_ABS:
    case K_LD_IND:
      return null; // allowed structurally; program types that lack skb reject them in the verifier
    default:
      return err(EINVAL, i, `unknown opcode ${hex2(code)}`);
  }
}

function hex2(n: number): string {
  return (n >>> 0).toString(16).padStart(2, "0");
}
