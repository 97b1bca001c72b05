// A loaded BPF program: struct bpf_prog / bpf_prog_aux (include/linux/bpf.h)
// reduced to what the runtimes and tools need.
import { createHash } from "node:crypto";
import type { BpfInsns } from "../isa/insn.ts";
import type { BpfMap } from "../maps/map.ts";
import { BPF_LD, BPF_IMM, BPF_DW, BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_VALUE, BPF_PSEUDO_MAP_IDX, BPF_PSEUDO_MAP_IDX_VALUE } from "../isa/uapi.ts";

export const LD_IMM64 = BPF_LD | BPF_IMM | BPF_DW;

// What the verifier proved about each memory-access insn (bpf_insn_aux_data), for engines that
// drop runtime checks: the pointer kind the access uses on every path, or MIXED/UNKNOWN.
export const ACCESS_UNKNOWN = 0;
export const ACCESS_STACK = 1;
export const ACCESS_PACKET = 2;
export const ACCESS_MAP_VALUE = 3;
export const ACCESS_CTX = 4;
export const ACCESS_MIXED = 5;

/** Per-insn facts the verifier leaves for the runtimes (kernel: env->insn_aux_data). */
export interface InsnAux {
  /** ACCESS_* of each load/store/atomic insn. */
  readonly accessKind: Uint8Array;
  /** 1 when every path's access was proven in bounds of its region. */
  readonly accessProven: Uint8Array;
  /** 1 when the insn is reachable (seen by the verifier). */
  readonly seen: Uint8Array;
}

export class BpfProg {
  readonly id: number;
  readonly name: string;
  readonly progType: number;
  readonly insns: BpfInsns;
  /** 64-bit value each ld_imm64 at pc loads (low, high halves), resolved at load time. */
  readonly ldLo: Int32Array;
  readonly ldHi: Int32Array;
  /** Maps referenced by the program (bpf_prog_aux->used_maps), in first-use order. */
  readonly usedMaps: BpfMap[];
  /** bpf_prog_calc_tag(): first 8 bytes of SHA-256 (Linux 6.18) over the insns with map fds zeroed, hex. */
  readonly tag: string;
  readonly gplCompatible: boolean;
  /** Subprogram names by first insn (bpf-to-bpf call targets), for dumps. */
  readonly subprogs: ReadonlyArray<{ name: string; insnOff: number }>;
  /** Host netdev this program is bound to (offload), 0 when none. */
  ifindex: number;
  /** True once the verifier accepted it. */
  verified: boolean;
  /** Verifier facts, null when the program was not verified (--no-verify). */
  insnAux: InsnAux | null;
  /** Verifier statistics of the load (processed insns, states, log). */
  verifierStats: { processedInsns: number; totalStates: number; peakStates: number; verifyNs: number } | null;
  /** The interpreter's pre-decoded slots (interp_decode.ts), made on the first run. */
  interpOps: Int32Array | null;

  constructor(o: {
    id: number; name: string; progType: number; insns: BpfInsns; usedMaps: BpfMap[];
    gplCompatible: boolean; subprogs?: ReadonlyArray<{ name: string; insnOff: number }>;
  }) {
    this.id = o.id;
    this.name = o.name;
    this.progType = o.progType;
    this.insns = o.insns;
    this.ldLo = new Int32Array(o.insns.len);
    this.ldHi = new Int32Array(o.insns.len);
    this.usedMaps = o.usedMaps;
    this.tag = progTag(o.insns);
    this.gplCompatible = o.gplCompatible;
    this.subprogs = o.subprogs ?? [];
    this.ifindex = 0;
    this.verified = false;
    this.insnAux = null;
    this.verifierStats = null;
    this.interpOps = null;
    const p = o.insns;
    for (let i = 0; i + 1 < p.len; i++) {
      if (p.code[i] !== LD_IMM64) continue;
      this.ldLo[i] = p.imm[i]!;
      this.ldHi[i] = p.imm[i + 1]!;
      i++;
    }
  }
}

/**
 * The bytes bpf_prog_calc_tag() digests: the instructions with the imms of
 * map-referencing ld_imm64 zeroed (map fds and indexes are unstable).
 */
export function progTagInput(insns: BpfInsns): Uint8Array {
  const p = insns.clone();
  for (let i = 0; i + 1 < p.len; i++) {
    if (p.code[i] !== LD_IMM64) continue;
    const s = p.src[i];
    if (s === BPF_PSEUDO_MAP_FD || s === BPF_PSEUDO_MAP_VALUE || s === BPF_PSEUDO_MAP_IDX || s === BPF_PSEUDO_MAP_IDX_VALUE) {
      p.imm[i] = 0;
      p.imm[i + 1] = 0;
    }
    i++;
  }
  return p.toBytes();
}

/**
 * bpf_prog_calc_tag() as Linux 6.18 computes it: the first 8 bytes of SHA-256
 * over progTagInput(), hex (kernels up to 6.17 used SHA-1 over the same bytes).
 */
export function progTag(insns: BpfInsns): string {
  return createHash("sha256").update(progTagInput(insns)).digest("hex").slice(0, 16);
}
