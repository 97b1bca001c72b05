// struct bpf_verifier_env (include/linux/bpf_verifier.h): what one
// verification run carries — the program, options, current path state, the
// pending-branch stack, explored checkpoints, counters, per-insn aux data and
// the log — plus the small helpers every check uses (check_reg_arg, verbose).
import type { BpfInsns } from "../isa/insn.ts";
import type { BpfMapInfo } from "../maps/map.ts";
import type { HelperProto } from "../runtime/helpers.ts";
import { EACCES } from "../../errno.ts";
import { BPF_COMPLEXITY_LIMIT_INSNS } from "../isa/uapi.ts";
import { VerifierLog } from "./log.ts";
import type { StackLiveness } from "./stack_liveness.ts";
import { FuncState, VerState } from "./stack.ts";
import { NOT_INIT, SCALAR_VALUE, type Reg, markUnknown } from "./reg_state.ts";
import type { BpfProgOffloadOps } from "../offload/offload.ts";
import type { LineInfoAttr, VerifierLinfo } from "./linfo.ts";

/** Options of one verification (bpf_check()'s attributes: what BPF_PROG_LOAD and the caller's capabilities give). */
export interface VerifierOpts {
  /** BPF_PROG_TYPE_XDP. */
  progType: number;
  /** CAP_BPF+CAP_PERFMON: pointer leaks, bounded loops, uninitialised stack reads allowed as the kernel allows them. */
  privileged: boolean;
  /** 0, 1 or 2 (BPF_LOG_LEVEL1/2), optionally | 4 (BPF_LOG_STATS). */
  logLevel: number;
  /** Helpers this program type may call (XDP_HELPER_PROTOS by default). */
  helperProtos: ReadonlyMap<number, HelperProto>;
  /** Device hooks (netdevsim/nfp style). */
  offload?: BpfProgOffloadOps | null;
  /** prog_ifindex given (device-bound/offloaded): ctx rx_queue_index writes are allowed. */
  devBound?: boolean;
  gplCompatible: boolean;
  /** BPF_PROG_LOAD's line_info with its BTF strings (check_btf_line(); the log's "; source @ file:N" notes). */
  lineInfo?: LineInfoAttr | null;
}

/** A pushed branch (struct bpf_verifier_stack_elem). */
export interface StackElem {
  st: VerState;
  insnIdx: number;
  prevInsnIdx: number;
  logPos: number;
}

export const SRC_OP = 0;
export const DST_OP = 1;
export const DST_OP_NO_MARK = 2;

export class Env {
  readonly insns: BpfInsns;
  readonly mapAt: (pc: number) => BpfMapInfo | undefined;
  readonly opts: VerifierOpts;
  readonly log: VerifierLog;
  /** Lines of error messages, kept even at log level 0. */
  readonly errLines: string[] = [];
  /** CAP_BPF: pointer leaks, bounded loops, uninitialised stack reads (allow_ptr_leaks etc.). */
  readonly allowPtrLeaks: boolean;
  readonly bpfCapable: boolean;
  readonly allowUninitStack: boolean;
  cur: VerState;
  readonly stack: StackElem[] = [];
  /** Checkpoints per insn, oldest first: fully explored ones prune, pending ones detect infinite loops (explored_states). */
  readonly stateList: Array<VerState[] | undefined>;
  insnIdx = 0;
  prevInsnIdx = -1;
  idGen = 0;
  insnProcessed = 0;
  /** Processed insns allowed: BPF_COMPLEXITY_LIMIT_INSNS, or less for bpfCheck()'s quiet first walk. */
  insnLimit = BPF_COMPLEXITY_LIMIT_INSNS;
  jmpsProcessed = 0;
  prevJmpsProcessed = 0;
  prevInsnProcessed = 0;
  totalStates = 0;
  curStates = 0;
  peakStates = 0;
  maxStatesPerInsn = 0;
  /** Subprogram first insns, sorted (main is 0). */
  subprogStarts: number[] = [0];
  /** Deepest stack use per subprogram, bytes. */
  subprogStackDepth: number[] = [0];
  /** Insn is a pruning point (jump targets, conditional jumps, after calls). */
  prunePoint: Uint8Array;
  /** Insn is reached non-linearly (jump targets, callee entries, after calls): the jump history records arrivals (jmp_point). */
  jmpPoint: Uint8Array;
  /** Insn whose jump-history record the current insn may extend (env->cur_hist_ent), -1 none. */
  curHistInsn = -1;
  /** Sets of scalars a conditional jump bounded together (linked_regs), referenced from jump histories. */
  readonly linkedSets: number[][] = [];
  /** Live stack slots of the main frame (set by do_check). */
  stackLive: StackLiveness | null = null;
  /** Registers read before written from each insn on (bit i = Ri). */
  liveIn: Uint16Array;
  readonly accessKind: Uint8Array;
  readonly accessProven: Uint8Array;
  readonly seen: Uint8Array;
  /** Conditional jumps: bit 1 fall-through explored, bit 2 target explored. */
  readonly jmpSeen: Uint8Array;
  /** Registers / stack slots touched by the current insn (the log prints them). */
  scratchedRegs = 0;
  scratchedSlots = 0n;
  /** The log must print the full state before the next insn (after a pop). */
  doPrintState = false;
  /** Level 1 just rewound the log: the state note joins the jump's line. */
  resumeAfterRewind = false;
  /** The last message had no newline in the kernel: the next line is appended to it. */
  joinNext = false;
  /** Line info accepted by check_btf_line() (prog->aux->linfo), null without. */
  linfo: VerifierLinfo | null = null;
  /** Record verbose_linfo() printed last (env->prev_linfo), -1 for none. */
  prevLinfo = -1;

  constructor(insns: BpfInsns, mapAt: (pc: number) => BpfMapInfo | undefined, opts: VerifierOpts) {
    this.insns = insns;
    this.mapAt = mapAt;
    this.opts = opts;
    this.log = new VerifierLog(opts.logLevel);
    this.allowPtrLeaks = opts.privileged;
    this.bpfCapable = opts.privileged;
    this.allowUninitStack = opts.privileged;
    const main = new FuncState(0, -1, 0);
    main.initRegs(true);
    this.cur = new VerState([main]);
    this.prunePoint = new Uint8Array(insns.len);
    this.jmpPoint = new Uint8Array(insns.len);
    this.stateList = new Array<VerState[] | undefined>(insns.len);
    this.liveIn = new Uint16Array(insns.len);
    this.accessKind = new Uint8Array(insns.len);
    this.accessProven = new Uint8Array(insns.len);
    this.seen = new Uint8Array(insns.len);
    this.jmpSeen = new Uint8Array(insns.len);
  }

  /** verbose(): an error or note line (also kept for log level 0). */
  verbose(msg: string): void {
    this.errLines.push(msg);
    if (this.log.enabled) this.log.line(msg);
  }

  /** Fails with `errno` after logging `msg`; returns -errno for `return env.fail(...)`. */
  fail(errno: number, msg: string): number {
    this.verbose(msg);
    return -errno;
  }

  get frame(): FuncState {
    return this.cur.cur;
  }

  get regs(): Reg[] {
    return this.cur.cur.regs;
  }

  /** Frame a stack pointer points into (func(env, reg)). */
  frameOf(r: Reg): FuncState {
    return this.cur.frames[r.frameno] ?? this.cur.cur;
  }

  scratchReg(regno: number): void {
    this.scratchedRegs |= 1 << regno;
  }

  scratchSlot(spi: number): void {
    if (spi >= 0 && spi < 64) this.scratchedSlots |= 1n << BigInt(spi);
  }

  scratchAll(): void {
    this.scratchedRegs = 0x7ff;
    this.scratchedSlots = (1n << 64n) - 1n;
  }

  /** check_reg_arg(): readable source, writable destination (not R10). */
  checkRegArg(regno: number, t: number): number {
    const r = this.regs[regno]!;
    this.scratchReg(regno);
    if (t === SRC_OP) {
      if (r.type === NOT_INIT) return this.fail(EACCES, `R${regno} !read_ok`);
      return 0;
    }
    if (regno === 10) return this.fail(EACCES, "frame pointer is read only");
    if (t === DST_OP) markUnknown(r);
    return 0;
  }

  /** is_pointer_value(): a pointer the program may not leak (unprivileged only). */
  isPointerValue(regno: number): boolean {
    if (this.allowPtrLeaks) return false;
    return this.regs[regno]!.type !== SCALAR_VALUE;
  }

  /** Index of the subprogram holding insn `i`. */
  subprogOf(i: number): number {
    let k = 0;
    while (k + 1 < this.subprogStarts.length && this.subprogStarts[k + 1]! <= i) k++;
    return k;
  }

  updateStackDepth(frame: FuncState, depth: number): void {
    const sp = frame.subprog;
    if (depth > (this.subprogStackDepth[sp] ?? 0)) this.subprogStackDepth[sp] = depth;
  }

  /** Records the kind of memory an insn touches (bpf_insn_aux_data for engines). */
  recordAccess(kind: number): void {
    const i = this.insnIdx;
    const k = this.accessKind[i]!;
    if (k === 0) this.accessKind[i] = kind;
    else if (k !== kind) this.accessKind[i] = 5; // ACCESS_MIXED
  }
}
