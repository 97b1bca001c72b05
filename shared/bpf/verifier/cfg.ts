// check_cfg() of kernel/bpf/verifier.c: depth-first walk of the control flow
// graph (fall-through first, like the kernel) that rejects back-edges for
// unprivileged programs and unreachable instructions, and marks pruning
// points (branch targets, conditional jumps, insns after calls). Also the
// register liveness that compute_live_registers() prints at log level 2 and
// that state pruning uses to ignore dead registers.
import { EINVAL } from "../../errno.ts";
import type { BpfInsns } from "../isa/insn.ts";
import { INSN_TABLE, K_CALL, K_EXIT, K_JA, K_JMP, K_JMP32, K_LD_IMM64, K_ALU, K_ALU64, K_END, K_LDX, K_LDXSX, K_ST, K_STX, K_ATOMIC } from "../isa/insn_table.ts";
import { BPF_PSEUDO_CALL, BPF_MOV, BPF_CMPXCHG, BPF_FETCH, BPF_X } from "../isa/uapi.ts";
import type { Env } from "./env.ts";
import { verboseLinfo } from "./linfo.ts";

const DISCOVERED = 1;
const EXPLORED = 2;

function jaTarget(p: BpfInsns, i: number): number {
  return i + 1 + (p.code[i] === 0x06 ? p.imm[i]! : p.off[i]!);
}

/**
 * Successors of every insn, fall-through first: insn i has cnt[i] of them (0-2), s0[i] then s1[i]
 * (out-of-range targets included: check_cfg() reports them).
 */
interface Successors {
  cnt: Uint8Array;
  s0: Int32Array;
  s1: Int32Array;
}

function successorsOf(p: BpfInsns): Successors {
  const n = p.len;
  const cnt = new Uint8Array(n), s0 = new Int32Array(n), s1 = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const d = INSN_TABLE[p.code[i]!];
    if (d === undefined) continue; // the second half of an ld_imm64 (no walk reaches it)
    let c = 1, a = i + 1, b = 0;
    switch (d.kind) {
      case K_EXIT:
        c = 0;
        break;
      case K_JA:
        a = jaTarget(p, i);
        break;
      case K_JMP:
      case K_JMP32:
        c = 2;
        b = i + 1 + p.off[i]!;
        break;
      case K_LD_IMM64:
        a = i + 2;
        break;
      case K_CALL:
        if (p.src[i] === BPF_PSEUDO_CALL) {
          c = 2;
          b = i + 1 + p.imm[i]!;
        }
        break;
    }
    cnt[i] = c;
    s0[i] = a;
    s1[i] = b;
  }
  return { cnt, s0, s1 };
}

/** check_cfg(). Returns 0 or -errno (logged). */
export function checkCfg(env: Env): number {
  const p = env.insns;
  const n = p.len;
  const state = new Uint8Array(n);
  const isLdHi = new Uint8Array(n);
  for (let i = 0; i < n; i++) if (p.code[i] === 0x18 && i + 1 < n) isLdHi[++i] = 1;
  // explicit DFS stack of (insn, next successor index)
  const stack: number[] = [0];
  const next: number[] = [0];
  const { cnt, s0, s1 } = successorsOf(p);
  state[0] = DISCOVERED;
  while (stack.length > 0) {
    const t = stack[stack.length - 1]!;
    const k = next[next.length - 1]!;
    if (k >= cnt[t]!) {
      state[t] = EXPLORED;
      stack.pop();
      next.pop();
      continue;
    }
    next[next.length - 1] = k + 1;
    const w = k === 0 ? s0[t]! : s1[t]!;
    const d = INSN_TABLE[p.code[t]!]!;
    const isBranchEdge = (d.kind === K_JMP || d.kind === K_JMP32) ? k === 1 : d.kind === K_JA;
    if (w < 0 || w >= n) {
      verboseLinfo(env, t, `${t}: `);
      return env.fail(EINVAL, `jump out of range from insn ${t} to ${w}`);
    }
    if (isBranchEdge || (d.kind === K_CALL && k === 1)) env.prunePoint[w] = env.jmpPoint[w] = 1;
    if (d.kind === K_JMP || d.kind === K_JMP32) env.prunePoint[t] = 1;
    if (d.kind === K_CALL && k === 0) env.prunePoint[w] = env.jmpPoint[w] = 1;
    if (state[w] === 0) {
      state[w] = DISCOVERED;
      stack.push(w);
      next.push(0);
    } else if (state[w] === DISCOVERED) {
      if (!env.bpfCapable) {
        verboseLinfo(env, t, `${t}: `);
        verboseLinfo(env, w, `${w}: `);
        return env.fail(EINVAL, `back-edge from insn ${t} to ${w}`);
      }
      env.prunePoint[w] = 1;
    }
  }
  for (let i = 0; i < n; i++) {
    if (isLdHi[i]) continue;
    if (state[i] !== EXPLORED) return env.fail(EINVAL, `unreachable insn ${i}`);
  }
  return 0;
}

const useDefOf = (use: number, def: number): number => use | (def << 16);

/**
 * Registers an insn reads (bit mask) and writes, as `read | written << 16`. A helper call reads
 * only its parameters (get_call_summary()).
 */
function useDef(env: Env, p: BpfInsns, i: number): number {
  const d = INSN_TABLE[p.code[i]!];
  if (d === undefined) return useDefOf(0, 0);
  const dst = 1 << p.dst[i]!, src = 1 << p.src[i]!;
  switch (d.kind) {
    case K_ALU:
    case K_ALU64:
      if (d.op === BPF_MOV) return useDefOf(d.isX ? src : 0, dst);
      return useDefOf(dst | (d.isX ? src : 0), dst);
    case K_END:
      return useDefOf(dst, dst);
    case K_LDX:
    case K_LDXSX:
      return useDefOf(src, dst);
    case K_ST:
      return useDefOf(dst, 0);
    case K_STX:
      return useDefOf(dst | src, 0);
    case K_ATOMIC: {
      const imm = p.imm[i]!;
      if (imm === BPF_CMPXCHG) return useDefOf(dst | src | 1, 1);
      return useDefOf(dst | src, (imm & BPF_FETCH) ? src : 0);
    }
    case K_JMP:
    case K_JMP32:
      return useDefOf(dst | ((p.code[i]! & BPF_X) ? src : 0), 0);
    case K_CALL: {
      const proto = p.src[i] === 0 ? env.opts.helperProtos.get(p.imm[i]!) : undefined;
      if (proto === undefined) return useDefOf(0x3e, 0x3f);
      let n = 0;
      while (n < 5 && (proto.args[n] ?? 0) !== 0) n++;
      return useDefOf(((1 << (n + 1)) - 1) & ~1, 0x3f);
    }
    case K_EXIT:
      return useDefOf(1, 0);
    case K_JA:
      return useDefOf(0, 0);
    case K_LD_IMM64:
      return useDefOf(0, dst);
    default:
      return useDefOf(0x7ff, 0);
  }
}

/** compute_live_registers(): liveIn[i] = registers read on some path from i before being written. */
export function computeLiveness(env: Env): void {
  const p = env.insns;
  const n = p.len;
  const use = new Uint16Array(n), def = new Uint16Array(n);
  const { cnt, s0, s1 } = successorsOf(p);
  for (let i = 0; i < n; i++) {
    if (i > 0 && p.code[i - 1] === 0x18) {
      cnt[i] = 0;
      continue;
    }
    const ud = useDef(env, p, i);
    use[i] = ud & 0xffff;
    def[i] = ud >>> 16;
    // a bpf-to-bpf call continues at i+1 for liveness; the callee is its own region
    if (INSN_TABLE[p.code[i]!]?.kind === K_CALL && p.src[i] === BPF_PSEUDO_CALL) cnt[i] = 1;
    // targets outside the program (check_cfg() rejected them) count for nothing
    if (cnt[i] === 2 && (s1[i]! < 0 || s1[i]! >= n)) cnt[i] = 1;
    if (cnt[i]! >= 1 && (s0[i]! < 0 || s0[i]! >= n)) {
      cnt[i]!--;
      s0[i] = s1[i]!;
    }
  }
  const live = env.liveIn;
  let changed = true;
  while (changed) {
    changed = false;
    for (let i = n - 1; i >= 0; i--) {
      const c = cnt[i]!;
      const out = c === 0 ? 0 : c === 1 ? live[s0[i]!]! : live[s0[i]!]! | live[s1[i]!]!;
      const v = (use[i]! | (out & ~def[i]!)) & 0x7ff;
      if (v !== live[i]) {
        live[i] = v;
        changed = true;
      }
    }
  }
}

/** The "Live regs before insn" column: ".1........" style, R0..R9. */
export function liveStr(mask: number): string {
  let s = "";
  for (let r = 0; r < 10; r++) s += mask & (1 << r) ? String(r) : ".";
  return s;
}
