// bpf_object__load() for an opened object: creates its maps (with global data
// initialised and .rodata frozen), patches map fds into the programs' ld_imm64
// instructions, loads the programs and fills statically initialised prog
// arrays, as tools/lib/bpf/libbpf.c does.
import type { BpfObjectSpec, BpfProgSpec } from "./object.ts";
import type { BpfKernel, ProgLoadResult } from "../syscall.ts";
import type { BpfMap } from "../maps/map.ts";
import type { BpfProg } from "../runtime/prog.ts";
import { KernelError, errnoName, strerror } from "../../errno.ts";

export interface LoadedObject {
  readonly maps: ReadonlyMap<string, BpfMap>;
  readonly progs: ReadonlyMap<string, BpfProg>;
  /** Programs in object order. */
  readonly progList: readonly BpfProg[];
  /** Failed program loads (when loading with keepGoing). */
  readonly failures: ReadonlyArray<{ spec: BpfProgSpec; result: ProgLoadResult }>;
}

export interface LoadOptions {
  /** Load only these programs (by name); others are skipped. */
  only?: (p: BpfProgSpec) => boolean;
  /** Report per-program failures instead of throwing. */
  keepGoing?: boolean;
  privileged?: boolean;
}

/** Loads `spec` into `kernel`. Throws KernelError (with the load log) on the first failure unless keepGoing. */
export function loadObject(kernel: BpfKernel, spec: BpfObjectSpec, opts: LoadOptions = {}): LoadedObject {
  const created: BpfMap[] = [];
  const maps = new Map<string, BpfMap>();
  const cleanup = () => {
    for (const m of created) kernel.mapFree(m.id);
  };
  for (const ms of spec.maps) {
    const m = kernel.mapCreate(ms.attr);
    if (typeof m === "number") {
      cleanup();
      throw new KernelError(-m, `Cannot create map ${ms.name}: ${strerror(m)} (${errnoName(m)})`);
    }
    created.push(m);
    maps.set(ms.name, m);
    if (ms.initData !== null) {
      const key = new Uint8Array(4);
      const rc = m.sysUpdate(key, ms.initData, 0);
      if (rc < 0) {
        cleanup();
        throw new KernelError(-rc, `Cannot initialise map ${ms.name}: ${strerror(rc)} (${errnoName(rc)})`);
      }
    }
    if (ms.globalSection === ".rodata") m.frozen = true;
  }
  const progs = new Map<string, BpfProg>();
  const progList: BpfProg[] = [];
  const failures: Array<{ spec: BpfProgSpec; result: ProgLoadResult }> = [];
  for (const ps of spec.progs) {
    if (opts.only !== undefined && !opts.only(ps)) continue;
    const insns = ps.insns.clone();
    for (const r of ps.mapRelocs) insns.imm[r.insnIdx] = created[r.mapIdx]!.id;
    const res = kernel.progLoad({
      progType: ps.progType, insns, license: spec.license, name: ps.name, subprogs: ps.subprogs,
      privileged: opts.privileged,
    });
    if (res.prog === null) {
      if (opts.keepGoing) {
        failures.push({ spec: ps, result: res });
        continue;
      }
      cleanup();
      throw new KernelError(res.errno, `Cannot load program ${ps.name} (section ${ps.secName}): ${res.message}`, { log: res.log });
    }
    progs.set(ps.name, res.prog);
    progList.push(res.prog);
  }
  // Statically initialised prog arrays (.values = { [i] = &prog }).
  for (let k = 0; k < spec.maps.length; k++) {
    const ms = spec.maps[k]!;
    for (const init of ms.initProgs) {
      const p = progs.get(init.progName);
      if (p === undefined) continue;
      const key = new Uint8Array(4), val = new Uint8Array(4);
      new DataView(key.buffer).setUint32(0, init.index, true);
      new DataView(val.buffer).setUint32(0, p.id, true);
      const rc = created[k]!.sysUpdate(key, val, 0);
      if (rc < 0) throw new KernelError(-rc, `Cannot set ${ms.name}[${init.index}] = ${init.progName}: ${strerror(rc)}`);
    }
  }
  return { maps, progs, progList, failures };
}
