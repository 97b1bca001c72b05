// bpf_check() of kernel/bpf/verifier.c: the verifier's entry point — CFG
// pass, offload prepare, do_check over every path, the combined stack depth
// check, offload finalize and dead-code hooks, the statistics line
// (print_verification_stats) and the insn aux data the engines use.
import { E2BIG, EACCES, EINVAL, EPERM } from "../../errno.ts";
import type { BpfInsns } from "../isa/insn.ts";
import type { BpfMapInfo } from "../maps/map.ts";
import type { InsnAux } from "../runtime/prog.ts";
import { checkStructure, findSubprogs } from "./structural.ts";
import { disasmInsn } from "../isa/disasm.ts";
import { INSN_TABLE, K_JMP, K_JMP32 } from "../isa/insn_table.ts";
import { BPF_COMPLEXITY_LIMIT_INSNS, BPF_FUNC_tail_call, BPF_PSEUDO_CALL, BPF_JMP, BPF_JA } from "../isa/uapi.ts";

/** BPF_MAX_SUBPROGS. */
const BPF_MAX_SUBPROGS = 256;
import { Env, type VerifierOpts } from "./env.ts";
import { checkCfg, computeLiveness, liveStr } from "./cfg.ts";
import { QUIET_WALK_ABORTED, doCheck } from "./do_check.ts";
import { BPF_LOG_LEVEL1, BPF_LOG_LEVEL2, BPF_LOG_STATS } from "./log.ts";
import { MAX_BPF_STACK, MAX_CALL_FRAMES } from "./stack.ts";
import { VerifierEnvView, type BpfProgOffloadOps } from "../offload/offload.ts";
import { checkBtfLine } from "./linfo.ts";

export type { BpfProgOffloadOps, OffloadInsn } from "../offload/offload.ts";
export { VerifierEnvView } from "../offload/offload.ts";
export { BPF_LOG_LEVEL1, BPF_LOG_LEVEL2, BPF_LOG_STATS };

export type { VerifierOpts } from "./env.ts";

export interface VerifierResult {
  /** 0 accepted, else EACCES/EINVAL/E2BIG/... as the kernel returns. */
  errno: number;
  /** Log lines in the kernel's wording, ending with the "processed N insns ..." line. */
  log: string[];
  processedInsns: number;
  totalStates: number;
  peakStates: number;
  /** Verifier facts per insn, set when accepted. */
  insnAux: InsnAux | null;
}

/** check_max_stack_depth(): the deepest chain of bpf-to-bpf calls fits in 512 bytes. */
function checkMaxStackDepth(env: Env): number {
  const p = env.insns;
  const starts = env.subprogStarts;
  const depthOf = (sp: number): number => {
    const d = env.subprogStackDepth[sp] ?? 0;
    return Math.ceil(d / 16) * 16;
  };
  const walk = (sp: number, frame: number, total: number): number => {
    const t = total + depthOf(sp);
    if (t > MAX_BPF_STACK) return env.fail(EACCES, `combined stack size of ${frame + 1} calls is ${t}. Too large`);
    if (frame + 1 >= MAX_CALL_FRAMES) return 0;
    const end = sp + 1 < starts.length ? starts[sp + 1]! : p.len;
    for (let i = starts[sp]!; i < end; i++) {
      if (p.code[i] !== (BPF_JMP | 0x80) || p.src[i] !== BPF_PSEUDO_CALL || !env.seen[i]) continue;
      const e = walk(env.subprogOf(i + 1 + p.imm[i]!), frame + 1, t);
      if (e < 0) return e;
    }
    return 0;
  };
  return walk(0, 0, 0);
}

/** Offload dead-code hooks: one-sided conditional jumps become gotos, unreachable insns are removed. */
function offloadDeadCode(env: Env, view: VerifierEnvView, ops: BpfProgOffloadOps): number {
  const p = env.insns;
  if (ops.replaceInsn !== undefined) {
    for (let i = 0; i < p.len; i++) {
      const d = INSN_TABLE[p.code[i]!];
      if (!env.seen[i] || d === undefined || (d.kind !== K_JMP && d.kind !== K_JMP32)) continue;
      const s = env.jmpSeen[i]!;
      if (s === 3 || s === 0) continue;
      const off = s === 2 ? p.off[i]! : 0;
      const r = ops.replaceInsn(view, i, { code: BPF_JMP | BPF_JA, dst: 0, src: 0, off, imm: 0 });
      if (r < 0) return r;
    }
  }
  if (ops.removeInsns !== undefined) {
    for (let i = p.len - 1; i >= 0;) {
      if (env.seen[i] || (i > 0 && p.code[i - 1] === 0x18 && env.seen[i - 1])) {
        i--;
        continue;
      }
      let j = i;
      while (j - 1 >= 0 && !env.seen[j - 1] && !(j - 2 >= 0 && p.code[j - 2] === 0x18 && env.seen[j - 2])) j--;
      const r = ops.removeInsns(view, j, i - j + 1);
      if (r < 0) return r;
      i = j - 1;
    }
  }
  return 0;
}

/** Level-2 preamble: "func#N @off" and the "Live regs before insn" listing. */
function printLiveRegs(env: Env): void {
  const p = env.insns;
  for (let k = 0; k < env.subprogStarts.length; k++) env.log.line(`func#${k} @${env.subprogStarts[k]}`);
  env.log.line("Live regs before insn:");
  for (let i = 0; i < p.len; i++) {
    if (i > 0 && p.code[i - 1] === 0x18) continue;
    env.log.line(`${String(i).padStart(7)}: ${liveStr(env.liveIn[i]!)} ${disasmInsn(p, i, { style: "log" })}`);
  }
}

/**
 * bpf_check(): verifies `insns` (map references already resolved; `maps(pc)` gives the map an
 * ld_imm64 at pc refers to). Never throws for any input; returns errno and the kernel-style log.
 */
export function bpfCheck(insns: BpfInsns, maps: (pc: number) => BpfMapInfo | undefined, opts: VerifierOpts): VerifierResult {
  const t0 = process.hrtime.bigint();
  // At log level 1 an accepted program's log keeps only the statistics: walk without formatting
  // the per-insn lines first, and again with them only when the program is rejected (the walk is
  // deterministic; device hooks may keep state between their calls, so offloaded loads walk once).
  // The quiet walk gives up after QUIET_WALK_LIMIT insns: a walk that long is paid once, logged,
  // so a program heading for the 1M-insn budget is not walked twice.
  if ((opts.logLevel & BPF_LOG_LEVEL2) === 0 && (opts.logLevel & BPF_LOG_LEVEL1) !== 0 && (opts.offload ?? null) === null) {
    const quiet = bpfCheckPass(insns, maps, { ...opts, logLevel: opts.logLevel & ~BPF_LOG_LEVEL1 }, t0, QUIET_WALK_LIMIT);
    if (quiet !== null && quiet.errno === 0) return quiet;
  }
  return bpfCheckPass(insns, maps, opts, t0, 0)!;
}

/** Processed insns after which the quiet first walk of a log level 1 load gives up (see bpfCheck()). */
export const QUIET_WALK_LIMIT = 1 << 16;

/**
 * One walk of bpf_check(). `quietLimit` > 0: a log level 1 load walked without its log (an
 * accepted program's log is the statistics), given up (null) once it processed more insns.
 */
function bpfCheckPass(insns: BpfInsns, maps: (pc: number) => BpfMapInfo | undefined, opts: VerifierOpts, t0: bigint,
  quietLimit: number): VerifierResult | null {
  const quietAccept = quietLimit > 0;
  const env = new Env(insns, maps, opts);
  if (quietAccept) env.insnLimit = quietLimit;
  const view = new VerifierEnvView(env);
  const result = (errno: number): VerifierResult => {
    if (errno === 0 && env.log.enabled && !env.log.level2) env.log.clear();
    const lines = env.log.enabled ? env.log.lines : errno === 0 && quietAccept ? [] : [...env.errLines];
    const extra: string[] = [];
    if ((opts.logLevel & BPF_LOG_STATS) !== 0) {
      extra.push(`verification time ${Number((process.hrtime.bigint() - t0) / 1000n)} usec`);
      extra.push(`stack depth ${env.subprogStarts.map((_, k) => env.subprogStackDepth[k] ?? 0).join("+")}`);
    }
    extra.push(`processed ${env.insnProcessed} insns (limit ${BPF_COMPLEXITY_LIMIT_INSNS}) max_states_per_insn ` +
      `${env.maxStatesPerInsn} total_states ${env.totalStates} peak_states ${env.peakStates} mark_read 0`);
    if (env.joinNext && lines.length > 0) lines[lines.length - 1] += extra.shift()!;
    lines.push(...extra);
    let insnAux: InsnAux | null = null;
    if (errno === 0) {
      const proven = new Uint8Array(insns.len);
      for (let i = 0; i < insns.len; i++) if (env.seen[i] && env.accessKind[i]) proven[i] = 1;
      insnAux = { accessKind: env.accessKind, accessProven: proven, seen: env.seen };
    }
    return { errno, log: lines, processedInsns: env.insnProcessed, totalStates: env.totalStates, peakStates: env.peakStates, insnAux };
  };
  try {
    // structural checks first (opcodes, reserved fields, ld_imm64 pairs, jump ranges), so any input is safe here
    const s = checkStructure(insns, { maxInsns: BPF_COMPLEXITY_LIMIT_INSNS, allowPseudoLdImm64: true });
    if (s !== null) return result(-env.fail(s.errno, s.message));
    env.subprogStarts = findSubprogs(insns).filter((s) => s >= 0 && s < insns.len);
    env.subprogStackDepth = env.subprogStarts.map(() => 0);
    if (env.subprogStarts.length > 1 && !env.bpfCapable) {
      return result(-env.fail(EPERM, "loading/calling other bpf or kernel functions are allowed for CAP_BPF and CAP_SYS_ADMIN"));
    }
    if (env.subprogStarts.length > BPF_MAX_SUBPROGS) return result(-env.fail(E2BIG, "too many subprograms"));
    const le = checkBtfLine(env, opts.lineInfo);
    if (le < 0) return result(-le);
    for (let i = 0; i < insns.len; i++) {
      if (insns.code[i] === (BPF_JMP | 0x80) && insns.src[i] === 0 && insns.imm[i] === BPF_FUNC_tail_call && env.subprogOf(i) > 0) {
        return result(-env.fail(EINVAL, "tail_call is not allowed in subprogs without BTF"));
      }
    }
    let e = checkCfg(env);
    if (e < 0) return result(-e);
    computeLiveness(env);
    if (env.log.level2) printLiveRegs(env);
    const ops = opts.offload ?? null;
    if (ops?.prepare !== undefined && (e = ops.prepare(view)) < 0) return result(-e);
    e = doCheck(env, view);
    if (e === QUIET_WALK_ABORTED) return null;
    if (e < 0) return result(-e);
    if ((e = checkMaxStackDepth(env)) < 0) return result(-e);
    if (ops !== null) {
      if (ops.finalize !== undefined && (e = ops.finalize(view)) < 0) return result(-e);
      if ((e = offloadDeadCode(env, view, ops)) < 0) return result(-e);
    }
    return result(0);
  } catch (err) {
    // a verifier bug must not take the loader down: report it like the kernel's verifier_bug()
    env.verbose(`verifier bug: ${(err as Error).message}`);
    return result(EINVAL);
  }
}
