// Device offload hooks: struct bpf_prog_offload_ops (include/linux/bpf.h,
// kernel/bpf/offload.c, as drivers/net/netdevsim/bpf.c and the nfp driver
// implement them) plus the virtio-net XDP offload RFC's setup() step, run
// before map references are resolved. Backends see a read-only view of the
// verifier state and may write their own lines ("[nfp] ...") into the log.
import type { BpfInsns } from "../isa/insn.ts";
import type { BpfProg } from "../runtime/prog.ts";
import type { Env } from "../verifier/env.ts";
import type { Reg } from "../verifier/reg_state.ts";
import { regStr } from "../verifier/reg_state.ts";
import { STACK_INVALID } from "../verifier/stack.ts";

/** One instruction as the replace_insn hook receives it. */
export interface OffloadInsn {
  readonly code: number;
  readonly dst: number;
  readonly src: number;
  readonly off: number;
  readonly imm: number;
}

/** Read-only view of a verification in progress (what a driver's hooks may look at). */
export class VerifierEnvView {
  readonly #env: Env;
  constructor(env: Env) {
    this.#env = env;
  }
  get insns(): BpfInsns {
    return this.#env.insns;
  }
  get insnIdx(): number {
    return this.#env.insnIdx;
  }
  get prevInsnIdx(): number {
    return this.#env.prevInsnIdx;
  }
  /** Index of the current call frame (0 = main program). */
  get curframe(): number {
    return this.#env.cur.curframe;
  }
  /** Register `regno` of frame `frame` (default: current); a copy, so hooks cannot change verifier state. */
  reg(regno: number, frame = this.#env.cur.curframe): Readonly<Reg> {
    return this.#env.cur.frames[frame]!.regs[regno]!.clone();
  }
  /** The register as the log prints it ("pkt(off=14,r=14)"). */
  regString(regno: number, frame = this.#env.cur.curframe): string {
    return regStr(this.#env.cur.frames[frame]!.regs[regno]!);
  }
  /** Slot kind (STACK_*) of the stack byte at fp+off (off < 0). */
  stackSlotType(off: number, frame = this.#env.cur.curframe): number {
    const k = -off - 1;
    const f = this.#env.cur.frames[frame]!;
    return k >= 0 && k < f.slotType.length ? f.slotType[k]! : STACK_INVALID;
  }
  /** Register spilled to the 8-byte slot holding fp+off, or null. */
  spilled(off: number, frame = this.#env.cur.curframe): Readonly<Reg> | null {
    const f = this.#env.cur.frames[frame]!;
    const spi = (-off - 1) >> 3;
    return f.isSpilled(spi) ? f.spilled[spi]!.clone() : null;
  }
  /** Bytes of stack the frame uses. */
  stackDepth(frame = this.#env.cur.curframe): number {
    return this.#env.cur.frames[frame]!.allocatedStack;
  }
  /** Insns the verifier reached (after finalize: the live code). */
  seen(i: number): boolean {
    return this.#env.seen[i] === 1;
  }
  /** Writes a line into the verifier log (e.g. "[nfp] unsupported helper"). */
  log(line: string): void {
    this.#env.verbose(line);
  }
}

/** struct bpf_prog_offload_ops plus the RFC's setup(); hooks return 0 or -errno. */
export interface BpfProgOffloadOps {
  /** RFC: sees the program before map fds are resolved; -errno refuses the load. */
  setup?(insns: BpfInsns): number;
  /** Before do_check (bpf_prog_offload_verifier_prep). */
  prepare?(env: VerifierEnvView): number;
  /** Before each insn is checked, with the full register state (bpf_prog_offload_verify_insn). */
  insnHook?(env: VerifierEnvView, insnIdx: number, prevInsnIdx: number): number;
  /** After a successful do_check (bpf_prog_offload_finalize). */
  finalize?(env: VerifierEnvView): number;
  /** A conditional jump the verifier proved one-sided becomes a plain jump (opt_hard_wire_dead_code_branches). */
  replaceInsn?(env: VerifierEnvView, off: number, insn: OffloadInsn): number;
  /** Dead insns are removed (opt_remove_dead_code), highest offset first. */
  removeInsns?(env: VerifierEnvView, off: number, cnt: number): number;
  /** Compile for the device (bpf_prog_offload_compile); called by BpfKernel.progLoad after acceptance. */
  translate?(prog: BpfProg): number;
  /** The program is freed (bpf_prog_offload_destroy). */
  destroy?(prog: BpfProg): void;
}
