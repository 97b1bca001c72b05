// Our side of a corpus case or generated program: an emulated kernel
// (shared/bpf/syscall.ts) with the case's maps, BPF_PROG_LOAD through the
// verifier as `vxo prog load` does, and BPF_PROG_TEST_RUN with the reference
// interpreter for accepted programs. Also loads sample ELF objects the way
// libbpf does, one program at a time, for the differential and the bench.
import { BpfKernel, type ProgLoadAttr, type ProgLoadResult } from "../../../../../shared/bpf/syscall.ts";
import type { BpfInsns } from "../../../../../shared/bpf/isa/insn.ts";
import type { BpfMap } from "../../../../../shared/bpf/maps/map.ts";
import type { BpfObjectSpec, BpfProgSpec } from "../../../../../shared/bpf/libbpf/object.ts";
import { xdpTestRun } from "../../../../../shared/bpf/runtime/test_run.ts";
import { BPF_PROG_TYPE_XDP, BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_VALUE } from "../../../../../shared/bpf/isa/uapi.ts";
import { KernelError } from "../../../../../shared/errno.ts";
import type { RawMapDef } from "../../../../helpers/raw_loader.ts";
import { PKT_UDP4, caseInsns, type VerifierCase } from "./case.ts";
import type { Verdict } from "./judge.ts";

/** BPF_PROG_LOAD attributes including the verifier's (log level, verify switch). */
export type VerifyingLoadAttr = ProgLoadAttr & { verify?: boolean; logLevel?: number };

/** Our verdict plus what produced it. */
export interface OurVerdict extends Verdict {
  kernel: BpfKernel;
  load: ProgLoadResult;
  /** Message of a runtime fault (KernelError EFAULT from the interpreter's bounds check), else "". */
  runFault: string;
}

/** Creates `defs` in `kernel`; returns the maps or -errno of the first failure. */
export function createMaps(kernel: BpfKernel, defs: readonly RawMapDef[]): BpfMap[] | number {
  const maps: BpfMap[] = [];
  for (let i = 0; i < defs.length; i++) {
    const d = defs[i]!;
    const m = kernel.mapCreate({
      mapType: d.type, keySize: d.keySize, valueSize: d.valueSize, maxEntries: d.maxEntries, mapFlags: d.flags ?? 0,
      name: `m${i}`,
    });
    if (typeof m === "number") return m;
    maps.push(m);
  }
  return maps;
}

/** Replaces map indexes in ld_imm64 map references by the map ids our kernel resolves (in place). */
export function patchMapIndexes(insns: BpfInsns, maps: readonly BpfMap[]): void {
  for (let i = 0; i + 1 < insns.len; i++) {
    if (insns.code[i] !== 0x18) continue;
    const src = insns.src[i];
    const m = maps[insns.imm[i]!];
    if ((src === BPF_PSEUDO_MAP_FD || src === BPF_PSEUDO_MAP_VALUE) && m !== undefined) insns.imm[i] = m.id;
    i++;
  }
}

/** Loads through our verifier (privileged, log level 1). */
export function progLoadVerified(kernel: BpfKernel, insns: BpfInsns, name: string, progIfindex = 0): ProgLoadResult {
  const attr: VerifyingLoadAttr = {
    progType: BPF_PROG_TYPE_XDP, insns, license: "GPL", name, privileged: true, verify: true, logLevel: 1, progIfindex,
  };
  return kernel.progLoad(attr);
}

/** Runs one program/packet through our stack. Never throws for verifier or runtime failures. */
export function runOurs(name: string, insns: BpfInsns, maps: readonly RawMapDef[], packet: Uint8Array | null, ifindex = 0): OurVerdict {
  const kernel = new BpfKernel();
  const created = createMaps(kernel, maps);
  if (typeof created === "number") {
    const load: ProgLoadResult = { prog: null, errno: -created, message: "map creation failed", log: [] };
    return { kernel, load, errno: -created, log: [], retval: null, runFault: "" };
  }
  const p = insns.clone();
  patchMapIndexes(p, created);
  const load = progLoadVerified(kernel, p, name.slice(0, 15), ifindex);
  if (load.prog === null) return { kernel, load, errno: load.errno, log: load.log, retval: null, runFault: "" };
  if (packet === null) return { kernel, load, errno: 0, log: [], retval: null, runFault: "" };
  try {
    const r = xdpTestRun(kernel, load.prog, { dataIn: packet });
    return { kernel, load, errno: 0, log: [], retval: r.retval >>> 0, runFault: "" };
  } catch (e) {
    if (e instanceof KernelError) return { kernel, load, errno: 0, log: [], retval: null, runFault: e.message };
    throw e;
  }
}

/** A corpus case through our stack. */
export function runCaseOurs(c: VerifierCase): OurVerdict {
  return runOurs(c.name, caseInsns(c), c.maps ?? [], c.result === "ACCEPT" ? (c.packet ?? PKT_UDP4) : PKT_UDP4, c.ifindex ?? 0);
}

/**
 * Loads one program of an opened object into a fresh kernel as libbpf would
 * (maps created, global data initialised, .rodata frozen, map ids patched),
 * through our verifier. Returns the load result and the load's wall time and
 * CPU time (this process's, all threads: the verifier runs on this one, GC helpers count too).
 */
export function loadObjectProgOurs(spec: BpfObjectSpec, ps: BpfProgSpec, logLevel = 1): { load: ProgLoadResult; ns: number; cpuNs: number } {
  const kernel = new BpfKernel();
  const maps: BpfMap[] = [];
  for (const ms of spec.maps) {
    const m = kernel.mapCreate(ms.attr);
    if (typeof m === "number") throw new KernelError(-m, `Cannot create map ${ms.name} for the differential`);
    if (ms.initData !== null) m.sysUpdate(new Uint8Array(4), ms.initData, 0);
    if (ms.globalSection === ".rodata") m.frozen = true;
    maps.push(m);
  }
  const insns = ps.insns.clone();
  for (const r of ps.mapRelocs) insns.imm[r.insnIdx] = maps[r.mapIdx]!.id;
  const attr: VerifyingLoadAttr = {
    progType: ps.progType, insns, license: spec.license, name: ps.name, subprogs: ps.subprogs, privileged: true,
    verify: true, logLevel,
  };
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const load = kernel.progLoad(attr);
  const ns = Number(process.hrtime.bigint() - t0);
  const c = process.cpuUsage(c0);
  return { load, ns, cpuNs: (c.user + c.system) * 1000 };
}

/** The raw-loader view of an object's program: its maps by index and insns with map indexes. */
export function rawObjectProg(spec: BpfObjectSpec, ps: BpfProgSpec): { insns: BpfInsns; maps: RawMapDef[] } {
  const insns = ps.insns.clone();
  for (const r of ps.mapRelocs) insns.imm[r.insnIdx] = r.mapIdx;
  const maps = spec.maps.map((m) => ({
    type: m.attr.mapType, keySize: m.attr.keySize, valueSize: m.attr.valueSize, maxEntries: m.attr.maxEntries, flags: m.attr.mapFlags,
  }));
  return { insns, maps };
}
