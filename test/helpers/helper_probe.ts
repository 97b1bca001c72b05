// Which BPF helpers the running kernel offers a program type, probed the way
// `bpftool feature probe` (tools/bpf/bpftool/feature.c, libbpf
// libbpf_probe_bpf_helper) does: load "call ID; exit" and read the verifier
// log. A prototype lookup that fails ("program of this type cannot use helper
// bpf_x#N", "unknown func bpf_x#N", "invalid func unknown#N") means the helper
// is not offered; anything else (accepted, or refused later for its unset
// arguments) means it is. Helper availability is a property of a kernel BUILD
// (its config and patches), not of a version: the verifier differential asks
// the running kernel instead of recording it per version range.
import { release } from "node:os";
import { BpfInsns } from "../../shared/bpf/isa/insn.ts";
import { BPF_CALL, BPF_EXIT, BPF_JMP, BPF_PROG_TYPE_XDP } from "../../shared/bpf/isa/uapi.ts";
import { funcIdName } from "../../shared/bpf/verifier/calls.ts";
import { firstErrorLine, kernelLoadRaw, type RawCase, type RawResult } from "./raw_loader.ts";

/** The probe's answer for one helper id and program type. */
export interface HelperProbe {
  id: number;
  /** func_id_name() form: "bpf_xdp_adjust_meta", or "unknown" past the kernel's list. */
  name: string;
  offered: boolean;
  /** The kernel's first error line of the probe load ("" when it loaded). */
  line: string;
}

export type HelperProbes = ReadonlyMap<number, HelperProbe>;

/** The probe program: "call ID; exit" (as bpftool's probe_helper_for_progtype loads it). */
export function helperProbeInsns(id: number): BpfInsns {
  return BpfInsns.fromTuples([[BPF_JMP | BPF_CALL, 0, 0, 0, id], [BPF_JMP | BPF_EXIT, 0, 0, 0, 0]]);
}

export function helperProbeCase(id: number, progType = BPF_PROG_TYPE_XDP): RawCase {
  return { name: `helper probe ${id} prog_type ${progType}`, insns: helperProbeInsns(id), progType };
}

/**
 * The helper id a first error line refuses as not offered to the program type
 * (check_helper_call's prototype lookup), or null when the line is anything else.
 */
export function notOfferedHelperId(line: string): number | null {
  const m = /^(?:program of this type cannot use helper|unknown func|invalid func) \S*#(-?\d+)$/.exec(line.trim());
  return m === null ? null : Number(m[1]);
}

/** Reads one probe load. */
export function helperProbeResult(id: number, r: RawResult): HelperProbe {
  if (r.mapErrno !== 0) throw new Error(`helper probe ${id}: map creation failed (${r.mapErrno})`);
  const line = r.errno === 0 ? "" : firstErrorLine(r.log);
  return { id, name: funcIdName(id), offered: r.errno === 0 || notOfferedHelperId(line) !== id, line };
}

const cache = new Map<string, HelperProbe>();

/**
 * Probes each helper id once per process and program type (cached), in one
 * raw-loader run for the ids not probed yet.
 */
export async function probeHelpers(ids: Iterable<number>, progType = BPF_PROG_TYPE_XDP): Promise<HelperProbes> {
  const want = [...new Set(ids)].sort((a, b) => a - b);
  const unprobed = want.filter((id) => !cache.has(`${progType}:${id}`));
  if (unprobed.length > 0) {
    const res = await kernelLoadRaw(unprobed.map((id) => helperProbeCase(id, progType)));
    unprobed.forEach((id, i) => cache.set(`${progType}:${id}`, helperProbeResult(id, res[i]!)));
  }
  return new Map(want.map((id) => [id, cache.get(`${progType}:${id}`)!]));
}

/** "this kernel does not offer bpf_x to XDP programs" in the report's words, naming the release. */
export function notOfferedMessage(p: HelperProbe, progTypeName = "XDP"): string {
  return `this kernel (Linux ${release()}) does not offer ${p.name === "unknown" ? `helper #${p.id}` : p.name} to ${progTypeName} programs`;
}

/** Helper ids a program calls: BPF_CALL with src_reg 0 (not bpf-to-bpf calls or kfuncs), each once, in order. */
export function helperIdsCalled(insns: BpfInsns): number[] {
  const out: number[] = [];
  for (let i = 0; i < insns.len; i++) {
    if (insns.code[i] === (BPF_JMP | BPF_CALL) && insns.src[i] === 0 && !out.includes(insns.imm[i]!)) out.push(insns.imm[i]!);
  }
  return out;
}
