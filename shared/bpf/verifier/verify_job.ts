// One bpf_check() as plain data: what a verification needs (the program with
// its map references resolved, bpf_attr's prog type and flags, the attributes
// of the maps behind ld_imm64, the log level, device hooks named by module)
// and what it gives back to BPF_PROG_LOAD (errno, log, counters, the per-insn
// aux data the engines use). Both the verifier worker (verify_worker.ts) and
// an in-process run go through runVerifyRequest(), so they answer alike.
// Counterpart: the part of bpf_prog_load() (kernel/bpf/syscall.c) that hands
// a program and its used_maps to bpf_check().
import { BpfInsns } from "../isa/insn.ts";
import type { BpfMapInfo } from "../maps/map.ts";
import { XDP_HELPER_PROTOS, type HelperProto } from "../runtime/helpers.ts";
import type { BpfProgOffloadOps } from "../offload/offload.ts";
import { bpfCheck, type VerifierResult } from "./index.ts";
import type { LineInfoAttr } from "./linfo.ts";

/**
 * Verifier-side device hooks as data: `module` is a module URL exporting
 * `createVerifierHooks(arg): BpfProgOffloadOps` (prepare, insnHook, finalize,
 * replaceInsn, removeInsns); a worker imports it, since functions cannot cross
 * threads. Hook log lines come back in the log.
 */
export interface OffloadHooksSpec {
  module: string;
  arg?: unknown;
}

/** Request of one verification (structured-clonable). */
export interface VerifyRequest {
  /** struct bpf_insn array; ld_imm64 map references already resolved (imm = map id). */
  insns: Uint8Array;
  progType: number;
  privileged: boolean;
  gplCompatible: boolean;
  /** prog_ifindex given. */
  devBound: boolean;
  /** BPF_LOG_LEVEL1/2, | BPF_LOG_STATS. */
  logLevel: number;
  /** Attributes of the maps the program uses (env->used_maps), one entry per map. */
  maps: BpfMapInfo[];
  /** ld_imm64 map references: pairs of [insn index, index into maps]. */
  ldMaps: Int32Array;
  hooks: OffloadHooksSpec | null;
  /** BPF_PROG_LOAD's line_info with the strings of prog_btf_fd's BTF; null without. */
  lineInfo?: LineInfoAttr | null;
}

/** bpf_check()'s answer plus the time it took where it ran. */
export interface VerifyResponse extends VerifierResult {
  verifyNs: number;
}

/** Helper prototypes of a program type (the kernel's get_func_proto of its verifier ops). */
export function helperProtosFor(_progType: number): ReadonlyMap<number, HelperProto> {
  return XDP_HELPER_PROTOS; // BPF_PROG_LOAD takes only BPF_PROG_TYPE_XDP
}

/** Builds the request for `insns` whose ld_imm64 at pc refers to `ldMap.get(pc)`. */
export function verifyRequest(
  insns: BpfInsns, ldMap: ReadonlyMap<number, BpfMapInfo>,
  o: {
    progType: number; privileged: boolean; gplCompatible: boolean; devBound: boolean; logLevel: number; hooks?: OffloadHooksSpec | null;
    lineInfo?: LineInfoAttr | null;
  },
): VerifyRequest {
  const maps: BpfMapInfo[] = [];
  const index = new Map<BpfMapInfo, number>();
  const ldMaps = new Int32Array(ldMap.size * 2);
  let k = 0;
  for (const [pc, m] of ldMap) {
    let i = index.get(m);
    if (i === undefined) {
      i = maps.length;
      index.set(m, i);
      maps.push({ id: m.id, mapType: m.mapType, keySize: m.keySize, valueSize: m.valueSize, maxEntries: m.maxEntries, mapFlags: m.mapFlags, name: m.name });
    }
    ldMaps[k++] = pc;
    ldMaps[k++] = i;
  }
  return {
    insns: insns.toBytes(), progType: o.progType, privileged: o.privileged, gplCompatible: o.gplCompatible, devBound: o.devBound,
    logLevel: o.logLevel, maps, ldMaps, hooks: o.hooks ?? null, lineInfo: o.lineInfo ?? null,
  };
}

/** Runs bpf_check() for a request; `ops` are the hooks built from req.hooks (or in-process hooks). Never throws. */
export function runVerifyRequest(req: VerifyRequest, ops: BpfProgOffloadOps | null): VerifyResponse {
  const t0 = process.hrtime.bigint();
  const insns = BpfInsns.fromBytes(req.insns);
  const at = new Map<number, BpfMapInfo>();
  for (let k = 0; k + 1 < req.ldMaps.length; k += 2) {
    const m = req.maps[req.ldMaps[k + 1]!];
    if (m !== undefined) at.set(req.ldMaps[k]!, m);
  }
  const r = bpfCheck(insns, (pc) => at.get(pc), {
    progType: req.progType, privileged: req.privileged, logLevel: req.logLevel, helperProtos: helperProtosFor(req.progType),
    offload: ops, devBound: req.devBound, gplCompatible: req.gplCompatible, lineInfo: req.lineInfo ?? null,
  });
  return { ...r, verifyNs: Number(process.hrtime.bigint() - t0) };
}

/** Imports the module of a hooks spec and builds its hooks. Throws when the module does not provide them. */
export async function loadOffloadHooks(spec: OffloadHooksSpec): Promise<BpfProgOffloadOps> {
  const mod = (await import(spec.module)) as { createVerifierHooks?: (arg: unknown) => BpfProgOffloadOps };
  if (typeof mod.createVerifierHooks !== "function") throw new Error(`${spec.module} does not export createVerifierHooks()`);
  return mod.createVerifierHooks(spec.arg);
}
