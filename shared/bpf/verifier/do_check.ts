// do_check() of kernel/bpf/verifier.c: the abstract-interpretation walk over
// every path, one insn at a time, with the pending-branch stack
// (push_stack/pop_stack), checkpoints and pruning (is_state_visited,
// states_equal/regsafe/stacksafe), infinite-loop detection, the complexity
// limits, per-insn log lines and the offload insn hook.
import { E2BIG, EACCES, EINVAL } from "../../errno.ts";
import { disasmInsn } from "../isa/disasm.ts";
import {
  INSN_TABLE, K_ALU, K_ALU64, K_ATOMIC, K_CALL, K_CALLX, K_END, K_EXIT, K_JA, K_JMP, K_JMP32, K_LD_ABS, K_LD_IMM64,
  K_LD_IND, K_LDX, K_LDXSX, K_ST, K_STX,
} from "../isa/insn_table.ts";
import {
  BPF_CMPXCHG, BPF_COMPLEXITY_LIMIT_INSNS, BPF_FETCH, BPF_JEQ, BPF_JNE, BPF_PSEUDO_CALL, BPF_PSEUDO_FUNC,
  BPF_PSEUDO_KFUNC_CALL, BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_VALUE, BPF_X,
} from "../isa/uapi.ts";
import type { Env } from "./env.ts";
import { DST_OP, DST_OP_NO_MARK, SRC_OP } from "./env.ts";
import { checkAluOp } from "./alu.ts";
import { BPF_READ, BPF_WRITE, checkMemAccess } from "./mem.ts";
import { isBranchTaken, markPtrOrNull, regSetMinMax, syncLinkedRegs, tryMatchPktPointers } from "./branches.ts";
import { checkFuncCall, checkHelperCall, checkReturnCode, prepareFuncExit } from "./calls.ts";
import {
  CONST_PTR_TO_MAP, PTR_MAYBE_NULL, PTR_TO_CTX, PTR_TO_MAP_VALUE, PTR_TO_PACKET, PTR_TO_PACKET_META, Reg, SCALAR_VALUE,
  NOT_INIT, isPktPointer, markPtr, markScalarConst, markUnknown, regIsConstZero, regTypeStr, S64_MIN, S64_MAX,
} from "./reg_state.ts";
import { BPF_REG_SIZE, type FuncState, STACK_INVALID, STACK_MISC, STACK_SPILL, STACK_ZERO, type VerState } from "./stack.ts";
import { tnumIn } from "./tnum.ts";
import { StackLiveness } from "./stack_liveness.ts";
import { HIST_STRIDE, collectLinkedRegs, markAllScalarsImprecise, markChainPrecision, propagatePrecision, pushJmpHistory } from "./precision.ts";
import type { VerifierEnvView } from "../offload/offload.ts";
import { verboseLinfo } from "./linfo.ts";

/** BPF_COMPLEXITY_LIMIT_JMP_SEQ: pending branches at once. */
export const BPF_COMPLEXITY_LIMIT_JMP_SEQ = 8192;
/** BPF_COMPLEXITY_LIMIT_STATES: checkpoints per insn an unprivileged program may add to. */
const BPF_COMPLEXITY_LIMIT_STATES = 64;

const DONE = -0x10000;
/** doCheck() of a quiet walk that reached Env.insnLimit below the budget (bpfCheck() walks again, logged). */
export const QUIET_WALK_ABORTED = -0x10001;

/** The full current-frame state as print_verifier_state(print_all) shows it. */
function fullState(env: Env): string {
  return env.frame.print(-1, null);
}

function printInsnState(env: Env, i: number): void {
  if (env.scratchedRegs === 0 && env.scratchedSlots === 0n) return;
  const s = env.frame.print(env.scratchedRegs, env.scratchedSlots);
  env.scratchedRegs = 0;
  env.scratchedSlots = 0n;
  if (env.resumeAfterRewind) {
    env.resumeAfterRewind = false;
    env.log.append(` ${i}:${s}`);
    return;
  }
  env.log.insnState(i, s);
}

/** update_branch_counts(): a path ended; release its hold on the checkpoints above it. */
function pathDone(env: Env): void {
  releaseFrom(env, env.cur.parent);
}

/** Decrements branch counts up the parent chain; a checkpoint with none left is fully explored and may prune. */
function releaseFrom(env: Env, p: VerState | null): void {
  while (p !== null) {
    p.branches--;
    if (p.branches > 0) break;
    if (p.evicted) env.curStates--; // maybe_free_verifier_state()
    p = p.parent;
  }
}

/** pop_stack(): next pending branch, or DONE. */
function popPath(env: Env): number {
  pathDone(env);
  const e = env.stack.pop();
  if (e === undefined) return DONE;
  env.stackLive!.update();
  env.cur = e.st;
  env.insnIdx = e.insnIdx;
  env.prevInsnIdx = e.prevInsnIdx;
  if (env.log.enabled && !env.log.level2) {
    env.log.rewind(e.logPos);
    env.resumeAfterRewind = true;
  } else {
    env.doPrintState = true;
  }
  env.scratchAll();
  return e.insnIdx;
}

/** push_stack(): queue the other side of a branch. */
function pushPath(env: Env, insnIdx: number, prevInsnIdx: number): VerState | null {
  const st = env.cur.clone();
  env.stack.push({ st, insnIdx, prevInsnIdx, logPos: env.log.pos });
  if (env.cur.parent !== null) env.cur.parent.branches++;
  if (env.stack.length > BPF_COMPLEXITY_LIMIT_JMP_SEQ) {
    env.verbose(`The sequence of ${env.stack.length} jumps is too complex.`);
    return null;
  }
  return st;
}

/** Drops the branch pushed last (it proved infeasible). */
function dropPushed(env: Env): void {
  const e = env.stack.pop()!;
  releaseFrom(env, e.st.parent);
}

function checkIds(a: number, b: number, m: Map<number, number>, rev: Map<number, number>): boolean {
  if ((a === 0) !== (b === 0)) return false;
  if (a === 0) return true;
  const x = m.get(a);
  if (x !== undefined) return x === b;
  if (rev.has(b)) return false;
  m.set(a, b);
  rev.set(b, a);
  return true;
}

function rangeWithin(o: Reg, c: Reg): boolean {
  return o.umin <= c.umin && o.umax >= c.umax && o.smin <= c.smin && o.smax >= c.smax &&
    o.u32min <= c.u32min && o.u32max >= c.u32max && o.s32min <= c.s32min && o.s32max >= c.s32max;
}

/** tnum_in(o->var_off, c->var_off); identical tnums (the usual case) without building either. */
function varOffIn(o: Reg, c: Reg): boolean {
  if (o.vm === c.vm && o.vv === c.vv) return (o.vv & o.vm) === 0n;
  return tnumIn(o.varOff, c.varOff);
}

function regsExact(o: Reg, c: Reg): boolean {
  return o.type === c.type && o.off === c.off && o.id === c.id && o.range === c.range && o.map === c.map &&
    o.frameno === c.frameno && o.vv === c.vv && o.vm === c.vm && o.umin === c.umin && o.umax === c.umax &&
    o.smin === c.smin && o.smax === c.smax && o.u32min === c.u32min && o.u32max === c.u32max &&
    o.s32min === c.s32min && o.s32max === c.s32max;
}

/** Generator of temporary ids for unlinked scalars in one states_equal() run. */
const tmpIds = { n: 1 };

/**
 * regsafe(): every value `c` may hold was already proven safe from `o`. `anyPrecision`: an
 * imprecise scalar of `o` accepts any scalar (privileged programs; unprivileged ones keep
 * every scalar precise).
 */
function regsafe(o: Reg, c: Reg, m: Map<number, number>, rev: Map<number, number>, anyPrecision: boolean): boolean {
  if (o.type === NOT_INIT) return true;
  if (c.type === NOT_INIT) return false;
  if (o.type !== c.type) return false;
  if (o.type === SCALAR_VALUE) {
    if (anyPrecision && !o.precise) return true;
    // check_scalar_ids(): linked scalars must stay linked the same way (id 0 counts as a fresh unique id)
    const oid = o.id !== 0 ? o.id : -(m.size + rev.size + 1) - tmpIds.n++;
    const cid = c.id !== 0 ? c.id : -(m.size + rev.size + 1) - tmpIds.n++;
    return rangeWithin(o, c) && varOffIn(o, c) && checkIds(oid, cid, m, rev);
  }
  const bt = o.type & 0xff;
  if (bt === PTR_TO_MAP_VALUE) {
    return o.off === c.off && o.map === c.map && rangeWithin(o, c) && varOffIn(o, c) &&
      checkIds(o.id, c.id, m, rev);
  }
  if (isPktPointer(o.type)) {
    if (o.range !== c.range && (o.range < 0 || c.range < 0)) return false;
    if (o.range > c.range) return false;
    if (o.off !== c.off) return false;
    return checkIds(o.id, c.id, m, rev) && rangeWithin(o, c) && varOffIn(o, c);
  }
  return o.off === c.off && o.map === c.map && o.frameno === c.frameno && o.vv === c.vv && o.vm === c.vm &&
    o.range === c.range && checkIds(o.id, c.id, m, rev);
}

/** The slot as a scalar register for comparison (scalar_reg_for_stack): a 64-bit scalar spill, or all misc bytes as an unknown scalar. */
function scalarForStack(env: Env, f: FuncState, spi: number): Reg | null {
  const b = spi * BPF_REG_SIZE;
  if (f.slotType[b] === STACK_SPILL && f.spilled[spi]!.type === SCALAR_VALUE) return f.spilled[spi]!;
  for (let j = 0; j < BPF_REG_SIZE; j++) {
    const t = f.slotType[b + j]!;
    if (t === STACK_MISC || (t === STACK_INVALID && env.allowUninitStack)) continue;
    return null;
  }
  return UNBOUND_REG;
}

/** An unknown imprecise scalar (what a load from all-misc stack bytes gives). */
const UNBOUND_REG = new Reg();
markUnknown(UNBOUND_REG);

/** stacksafe(). */
function stacksafe(env: Env, o: FuncState, c: FuncState, m: Map<number, number>, rev: Map<number, number>): boolean {
  for (let k = 0; k < o.allocatedStack; k++) {
    const ot = o.slotType[k]!;
    if (ot === STACK_INVALID) continue;
    if (env.allowUninitStack && ot === STACK_MISC) continue;
    if (k >= c.allocatedStack) return false;
    const spi = k >> 3;
    const oReg = scalarForStack(env, o, spi);
    if (oReg !== null) {
      const cReg = scalarForStack(env, c, spi);
      if (cReg !== null) {
        if (!regsafe(oReg, cReg, m, rev, env.bpfCapable)) return false;
        k = spi * BPF_REG_SIZE + BPF_REG_SIZE - 1;
        continue;
      }
    }
    const ct = c.slotType[k]!;
    if (ot === STACK_MISC && ct === STACK_ZERO) continue;
    if (ot !== ct) return false;
    if (k % BPF_REG_SIZE !== BPF_REG_SIZE - 1) continue;
    if (ot === STACK_SPILL) {
      if (!regsafe(o.spilled[spi]!, c.spilled[spi]!, m, rev, env.bpfCapable)) return false;
    }
  }
  return true;
}

const idMap = new Map<number, number>(), idMapRev = new Map<number, number>();

/** states_equal(): `cur` at insn i is covered by the explored `old`. */
function statesEqual(env: Env, old: VerState, cur: VerState, i: number): boolean {
  if (old.curframe !== cur.curframe) return false;
  const m = idMap, rev = idMapRev; // the id correspondence (env->idmap_scratch), reset per comparison
  if (m.size !== 0) m.clear();
  if (rev.size !== 0) rev.clear();
  for (let f = 0; f <= cur.curframe; f++) {
    const of = old.frames[f]!, cf = cur.frames[f]!;
    if (of.callsite !== cf.callsite) return false;
    const live = f === cur.curframe ? env.liveIn[i]! | 0x400 : 0x7ff;
    for (let r = 0; r <= 10; r++) {
      if ((live & (1 << r)) === 0) continue;
      if (!regsafe(of.regs[r]!, cf.regs[r]!, m, rev, env.bpfCapable)) return false;
    }
    if (!stacksafe(env, of, cf, m, rev)) return false;
  }
  return true;
}

function statesExact(old: VerState, cur: VerState): boolean {
  if (old.curframe !== cur.curframe) return false;
  for (let f = 0; f <= cur.curframe; f++) {
    const of = old.frames[f]!, cf = cur.frames[f]!;
    if (of.callsite !== cf.callsite) return false;
    for (let r = 0; r <= 10; r++) if (!regsExact(of.regs[r]!, cf.regs[r]!)) return false;
    for (let k = 0; k < of.slotType.length; k++) if (of.slotType[k] !== cf.slotType[k]) return false;
    for (let s = 0; s < of.spilled.length; s++) {
      const a = of.spilled[s], b = cf.spilled[s];
      if ((a === null) !== (b === null)) return false;
      if (a !== null && b !== null && !regsExact(a, b)) return false;
    }
  }
  return true;
}

/** states_maybe_looping(): the current frame's registers are bit for bit those of `old`. */
function statesMaybeLooping(old: VerState, cur: VerState): boolean {
  if (old.curframe !== cur.curframe) return false;
  const a = old.cur.regs, b = cur.cur.regs;
  for (let r = 0; r <= 10; r++) if (!regsExact(a[r]!, b[r]!)) return false;
  return true;
}

/**
 * is_state_visited(): 1 when pruned, 0 to go on, -errno for an infinite loop. The states at an
 * insn are checked newest first; one that keeps missing is dropped (miss_cnt > hit_cnt * 3 + 3).
 */
function isStateVisited(env: Env, i: number): number {
  const cur = env.cur;
  const forceNew = cur.hist.length > 40 * HIST_STRIDE; // bound the jump history
  let addNew = forceNew || (env.jmpsProcessed - env.prevJmpsProcessed >= 2 && env.insnProcessed - env.prevInsnProcessed >= 8);
  let list = env.stateList[i];
  let cnt = 0;
  if (list !== undefined) {
    for (let k = list.length - 1; k >= 0; k--) {
      const sl = list[k]!;
      cnt++;
      if (sl.branches > 0) {
        // still being explored: only an exact repeat matters (an infinite loop)
        if (statesMaybeLooping(sl, cur) && statesExact(sl, cur)) {
          verboseLinfo(env, i, "; ");
          env.verbose(`infinite loop detected at insn ${i}`);
          env.verbose(`cur state:${fullState(env)}`);
          env.verbose(`old state:${sl.cur.print(-1, null)}`);
          return -EINVAL;
        }
        // inside a loop: new checkpoints rarely help, add them sparsely
        if (!forceNew && env.jmpsProcessed - env.prevJmpsProcessed < 20 && env.insnProcessed - env.prevInsnProcessed < 100) addNew = false;
      } else {
        env.stackLive!.clean(env, sl, i);
        if (statesEqual(env, sl, cur, i)) {
          sl.hitCnt++;
          // what the pruning state relied on must be precise along this path's checkpoints too
          if (env.jmpPoint[i]) pushJmpHistory(env, 0, -1);
          propagatePrecision(env, sl, cur, i);
          return 1;
        }
      }
      if (addNew) sl.missCnt++;
      if (sl.missCnt > sl.hitCnt * 3 + 3) {
        // dropped from the list; a checkpoint still being explored stays counted until its paths end
        list.splice(k, 1);
        if (sl.branches === 0) env.curStates--;
        else sl.evicted = true;
      }
    }
  }
  if (cnt > env.maxStatesPerInsn) env.maxStatesPerInsn = cnt;
  if (!env.bpfCapable && cnt > BPF_COMPLEXITY_LIMIT_STATES) return 0;
  if (!addNew) return 0;
  env.totalStates++;
  env.curStates++;
  if (env.curStates > env.peakStates) env.peakStates = env.curStates;
  env.prevJmpsProcessed = env.jmpsProcessed;
  env.prevInsnProcessed = env.insnProcessed;
  // forget precision the ancestors needed: children mark what they need (mark_all_scalars_imprecise)
  if (env.bpfCapable) markAllScalarsImprecise(cur);
  const snap = cur.clone();
  snap.isCheckpoint = true;
  snap.branches = 1;
  snap.parent = cur.parent;
  snap.insnIdx = i;
  snap.lastInsnIdx = env.prevInsnIdx;
  snap.hist = cur.hist;
  cur.hist = [];
  cur.firstInsnIdx = i;
  cur.parent = snap;
  if (list === undefined) env.stateList[i] = list = [];
  list.push(snap);
  return 0;
}

/** check_cond_jmp_op(): next insn of the current path, or DONE when it is infeasible, or -errno. */
function checkCondJmp(env: Env, i: number): number {
  const p = env.insns;
  const code = p.code[i]!;
  const op = code & 0xf0;
  const is32 = (code & 0x07) === 0x06;
  const isX = (code & BPF_X) !== 0;
  const dstNo = p.dst[i]!, srcNo = p.src[i]!;
  const target = i + 1 + p.off[i]!;
  let e: number;
  if (isX) {
    if ((e = env.checkRegArg(srcNo, SRC_OP)) < 0) return e;
    if (env.isPointerValue(srcNo)) return env.fail(EACCES, `R${srcNo} pointer comparison prohibited`);
  }
  if ((e = env.checkRegArg(dstNo, SRC_OP)) < 0) return e;
  const dst = env.regs[dstNo]!;
  let src: Reg;
  if (isX) src = env.regs[srcNo]!;
  else {
    src = new Reg();
    markScalarConst(src, is32 ? BigInt(p.imm[i]! >>> 0) : BigInt(p.imm[i]!));
  }
  const nullCheck = !is32 && (op === BPF_JEQ || op === BPF_JNE) && (dst.type & PTR_MAYBE_NULL) !== 0 && regIsConstZero(src);
  if (!env.allowPtrLeaks && dst.type !== SCALAR_VALUE && !nullCheck && !(isX && src.type !== SCALAR_VALUE)) {
    return env.fail(EACCES, `R${dstNo} pointer comparison prohibited`);
  }
  const pred = isBranchTaken(dst, src, op, is32);
  if (pred >= 0) {
    // the branch was decided by these values: they must be exact in the checkpoints above
    if (dst.type === SCALAR_VALUE) markChainPrecision(env, dstNo);
    if (isX && src.type === SCALAR_VALUE) markChainPrecision(env, srcNo);
  }
  if (pred === 1) {
    env.jmpSeen[i]! |= 2;
    return target;
  }
  if (pred === 0) {
    env.jmpSeen[i]! |= 1;
    return i + 1;
  }
  // scalars sharing an id are bounded together: backtracking needs them as one set
  const ids: number[] = [];
  if (isX && src.type === SCALAR_VALUE && src.id !== 0) ids.push(src.id);
  if (dst.type === SCALAR_VALUE && dst.id !== 0) ids.push(dst.id);
  if (ids.length > 0) {
    const linked = collectLinkedRegs(env, env.cur, ids);
    if (linked >= 0) pushJmpHistory(env, 0, linked);
  }
  const other = pushPath(env, target, i);
  if (other === null) return -E2BIG; // push_stack() failure: -E2BIG since 6.18.44 (-EFAULT before)
  env.jmpSeen[i]! |= 3;
  const oregs = other.cur.regs, regs = env.regs;
  if (dst.type === SCALAR_VALUE && src.type === SCALAR_VALUE) {
    const tsrc = isX ? oregs[srcNo]! : src.clone();
    const fsrc = isX ? regs[srcNo]! : src.clone();
    const [tOk, fOk] = regSetMinMax(oregs[dstNo]!, tsrc, regs[dstNo]!, fsrc, op, is32);
    syncLinkedRegs(other, oregs[dstNo]!);
    syncLinkedRegs(env.cur, regs[dstNo]!);
    if (isX) {
      syncLinkedRegs(other, oregs[srcNo]!);
      syncLinkedRegs(env.cur, regs[srcNo]!);
    }
    if (!tOk) {
      dropPushed(env);
      env.jmpSeen[i] = (env.jmpSeen[i]! & ~2) | 0;
    }
    if (!fOk) return DONE;
  } else if (nullCheck) {
    const id = dst.id;
    markPtrOrNull(other, id, op === BPF_JEQ);
    markPtrOrNull(env.cur, id, op !== BPF_JEQ);
  } else if (!is32 && isX) {
    tryMatchPktPointers(other, env.cur, dstNo, srcNo, op);
  }
  return i + 1;
}

/** ld_imm64: constants and map references. */
function checkLdImm(env: Env, i: number): number {
  const p = env.insns;
  const dstNo = p.dst[i]!;
  let e: number;
  if ((e = env.checkRegArg(dstNo, DST_OP)) < 0) return e;
  const d = env.regs[dstNo]!;
  const src = p.src[i]!;
  if (src === 0) {
    const v = (BigInt(p.imm[i + 1]! >>> 0) << 32n) | BigInt(p.imm[i]! >>> 0);
    markScalarConst(d, v);
    return 0;
  }
  if (src === BPF_PSEUDO_FUNC) return env.fail(EINVAL, "callbacks are not allowed in this program type");
  const map = env.mapAt(i);
  if (map === undefined) return env.fail(EINVAL, `invalid bpf_ld_imm64 insn`);
  if (src === BPF_PSEUDO_MAP_FD) {
    markPtr(d, CONST_PTR_TO_MAP);
    d.map = map;
    return 0;
  }
  if (src === BPF_PSEUDO_MAP_VALUE) {
    markPtr(d, PTR_TO_MAP_VALUE, p.imm[i + 1]!);
    d.map = map;
    return 0;
  }
  return env.fail(EINVAL, "unrecognized bpf_ld_imm64 insn");
}

/** Loads, stores and atomics. */
function checkLdSt(env: Env, i: number, kind: number, size: number): number {
  const p = env.insns;
  const dstNo = p.dst[i]!, srcNo = p.src[i]!, off = p.off[i]!;
  let e: number;
  switch (kind) {
    case K_LDX:
    case K_LDXSX: {
      if ((e = env.checkRegArg(srcNo, SRC_OP)) < 0) return e;
      if ((e = env.checkRegArg(dstNo, DST_OP_NO_MARK)) < 0) return e;
      if ((e = checkMemAccess(env, srcNo, off, size, BPF_READ, dstNo)) < 0) return e;
      if (kind === K_LDXSX) {
        const d = env.regs[dstNo]!;
        if (d.type === SCALAR_VALUE && d.vm === 0n) markScalarConst(d, BigInt.asIntN(size * 8, d.vv));
        else {
          const half = 1n << BigInt(size * 8 - 1);
          markScalarConst(d, 0n);
          d.vm = (1n << 64n) - 1n;
          d.smin = -half;
          d.smax = half - 1n;
          d.umin = 0n;
          d.umax = (1n << 64n) - 1n;
          d.s32min = -0x80000000;
          d.s32max = 0x7fffffff;
          d.u32min = 0;
          d.u32max = 0xffffffff;
          void S64_MIN;
          void S64_MAX;
        }
      }
      return 0;
    }
    case K_STX: {
      if ((e = env.checkRegArg(srcNo, SRC_OP)) < 0) return e;
      if ((e = env.checkRegArg(dstNo, SRC_OP)) < 0) return e;
      return checkMemAccess(env, dstNo, off, size, BPF_WRITE, srcNo);
    }
    case K_ST: {
      if ((e = env.checkRegArg(dstNo, SRC_OP)) < 0) return e;
      return checkMemAccess(env, dstNo, off, size, BPF_WRITE, -1, true, p.imm[i]!);
    }
    default: {
      // BPF_ATOMIC
      const imm = p.imm[i]!;
      if ((e = env.checkRegArg(srcNo, SRC_OP)) < 0) return e;
      if ((e = env.checkRegArg(dstNo, SRC_OP)) < 0) return e;
      if (imm === BPF_CMPXCHG && (e = env.checkRegArg(0, SRC_OP)) < 0) return e;
      if (env.isPointerValue(srcNo)) return env.fail(EACCES, `R${srcNo} leaks addr into mem`);
      const d = env.regs[dstNo]!;
      if (d.type === PTR_TO_CTX || d.type === PTR_TO_PACKET || d.type === PTR_TO_PACKET_META) {
        return env.fail(EACCES, `BPF_ATOMIC stores into R${dstNo} ${regTypeStr(d.type)} is not allowed`);
      }
      const loadReg = imm === BPF_CMPXCHG ? 0 : (imm & BPF_FETCH) ? srcNo : -1;
      if ((e = checkMemAccess(env, dstNo, off, size, BPF_READ, loadReg)) < 0) return e;
      if (loadReg >= 0 && !env.allowPtrLeaks && env.regs[loadReg]!.type !== SCALAR_VALUE) {
        return env.fail(EACCES, `R${loadReg} leaks addr into mem`);
      }
      return checkMemAccess(env, dstNo, off, size, BPF_WRITE, -1);
    }
  }
}

/** do_check(): 0 when every path is safe, else -errno (logged). */
export function doCheck(env: Env, view: VerifierEnvView): number {
  const p = env.insns;
  const offload = env.opts.offload ?? null;
  env.scratchAll();
  const live = (env.stackLive = new StackLiveness(env));
  const insnText: Array<string | undefined> = env.log.enabled ? new Array<string | undefined>(p.len) : [];
  for (;;) {
    const i = env.insnIdx;
    if (++env.insnProcessed > env.insnLimit) {
      if (env.insnLimit < BPF_COMPLEXITY_LIMIT_INSNS) return QUIET_WALK_ABORTED;
      return env.fail(E2BIG, `BPF program is too large. Processed ${env.insnProcessed} insn`);
    }
    env.seen[i] = 1;
    env.curHistInsn = -1;
    let next: number;
    if (env.prunePoint[i]) {
      const v = isStateVisited(env, i);
      if (v < 0) return v;
      if (v === 1) {
        if (env.log.level2) {
          if (env.doPrintState) {
            env.log.line("");
            env.log.line(`from ${env.prevInsnIdx} to ${i}: safe`);
          } else {
            env.log.line(`${i}: safe`);
          }
        }
        next = popPath(env);
        if (next === DONE) return 0;
        continue;
      }
    }
    if (env.jmpPoint[i]) pushJmpHistory(env, 0, -1);
    if (env.log.level2 && env.doPrintState) {
      env.log.line("");
      env.log.line(`from ${env.prevInsnIdx} to ${i}:${fullState(env)}`);
    }
    env.doPrintState = false;
    if (env.log.enabled) {
      printInsnState(env, i);
      // an insn's text never changes during the walk: format it once
      let text = insnText[i];
      if (text === undefined) insnText[i] = text = disasmInsn(p, i, { style: "log" });
      verboseLinfo(env, i, "; ");
      env.log.insn(i, text);
    }
    env.scratchedRegs = 0;
    env.scratchedSlots = 0n;
    if (offload?.insnHook !== undefined) {
      const r = offload.insnHook(view, i, env.prevInsnIdx);
      if (r < 0) return r;
    }
    const d = INSN_TABLE[p.code[i]!]!;
    const inMain = env.cur.curframe === 0;
    let e = 0;
    next = i + 1;
    switch (d.kind) {
      case K_ALU:
      case K_ALU64:
      case K_END:
        e = checkAluOp(env, i);
        break;
      case K_LDX:
      case K_LDXSX:
      case K_ST:
      case K_STX:
      case K_ATOMIC:
        e = checkLdSt(env, i, d.kind, d.size);
        break;
      case K_LD_IMM64:
        e = checkLdImm(env, i);
        next = i + 2;
        break;
      case K_LD_ABS:
      case K_LD_IND:
        e = env.fail(EINVAL, "BPF_LD_[ABS|IND] instructions not allowed for this program type");
        break;
      case K_CALLX:
        e = env.fail(EINVAL, "unknown opcode 8d");
        break;
      case K_CALL:
        env.jmpsProcessed++;
        if (p.src[i] === BPF_PSEUDO_CALL) {
          const target = i + 1 + p.imm[i]!;
          e = checkFuncCall(env, i, target);
          next = target;
        } else if (p.src[i] === BPF_PSEUDO_KFUNC_CALL) {
          e = env.fail(EINVAL, "calling kernel functions are not allowed in non-JITed programs");
        } else {
          e = checkHelperCall(env, i);
        }
        break;
      case K_JA:
        env.jmpsProcessed++;
        next = i + 1 + (p.code[i] === 0x06 ? p.imm[i]! : p.off[i]!);
        break;
      case K_EXIT:
        env.jmpsProcessed++;
        if (env.cur.curframe > 0) {
          e = prepareFuncExit(env);
          if (e >= 0) {
            next = e;
            e = 0;
          }
          break;
        }
        if ((e = env.checkRegArg(0, SRC_OP)) < 0) break;
        if ((e = checkReturnCode(env)) < 0) break;
        next = DONE;
        break;
      case K_JMP:
      case K_JMP32:
        env.jmpsProcessed++;
        e = checkCondJmp(env, i);
        if (e >= 0 || e === DONE) {
          next = e;
          e = 0;
        }
        break;
      default:
        e = env.fail(EINVAL, `unknown insn class ${p.code[i]! & 7}`);
    }
    if (e < 0) return e;
    if (inMain) live.commit(i);
    if (next === DONE) {
      next = popPath(env);
      if (next === DONE) return 0;
      continue;
    }
    env.prevInsnIdx = i;
    env.insnIdx = next;
  }
}

