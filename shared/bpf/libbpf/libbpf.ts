// bpf_object__load() for an opened object: creates its maps (with global data
// initialised and .rodata frozen), patches map fds into the programs' ld_imm64
// instructions, loads the programs and fills statically initialised prog
// arrays, as tools/lib/bpf/libbpf.c does.
import type { BpfObjectSpec, BpfProgSpec } from "./object.ts";
import type { BpfKernel, ProgLoadResult } from "../syscall.ts";
import type { BpfMap } from "../maps/map.ts";
import type { BpfProg } from "../runtime/prog.ts";
import type { Verifier } from "../verifier/pool.ts";
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
  const o = new ObjectLoad(kernel, spec, opts);
  for (const ps of o.progSpecs()) o.add(ps, kernel.progLoad(o.attr(ps)));
  return o.finish();
}

/**
 * loadObject() with each program verified off this thread (BpfKernel.progLoadAsync):
 * the caller's event loop keeps running while the verifier works. `signal` cancels.
 */
export async function loadObjectAsync(
  kernel: BpfKernel, spec: BpfObjectSpec, opts: LoadOptions & { signal?: AbortSignal; verifier?: Verifier } = {},
): Promise<LoadedObject> {
  const o = new ObjectLoad(kernel, spec, opts);
  for (const ps of o.progSpecs()) o.add(ps, await kernel.progLoadAsync({ ...o.attr(ps), signal: opts.signal }, opts.verifier));
  return o.finish();
}

/** One bpf_object__load() in progress: maps first, then programs, then prog array init. */
class ObjectLoad {
  readonly kernel: BpfKernel;
  readonly spec: BpfObjectSpec;
  readonly opts: LoadOptions;
  readonly created: BpfMap[] = [];
  readonly maps = new Map<string, BpfMap>();
  readonly progs = new Map<string, BpfProg>();
  readonly progList: BpfProg[] = [];
  readonly failures: Array<{ spec: BpfProgSpec; result: ProgLoadResult }> = [];

  constructor(kernel: BpfKernel, spec: BpfObjectSpec, opts: LoadOptions) {
    this.kernel = kernel;
    this.spec = spec;
    this.opts = opts;
    for (const ms of spec.maps) {
      const m = kernel.mapCreate(ms.attr);
      if (typeof m === "number") {
        this.cleanup();
        throw new KernelError(-m, `Cannot create map ${ms.name}: ${strerror(m)} (${errnoName(m)})`);
      }
      this.created.push(m);
      this.maps.set(ms.name, m);
      if (ms.initData !== null) {
        const key = new Uint8Array(4);
        const rc = m.sysUpdate(key, ms.initData, 0);
        if (rc < 0) {
          this.cleanup();
          throw new KernelError(-rc, `Cannot initialise map ${ms.name}: ${strerror(rc)} (${errnoName(rc)})`);
        }
      }
      if (ms.globalSection === ".rodata") m.frozen = true;
    }
  }

  cleanup(): void {
    for (const m of this.created) this.kernel.mapFree(m.id);
  }

  progSpecs(): BpfProgSpec[] {
    return this.spec.progs.filter((ps) => this.opts.only === undefined || this.opts.only(ps));
  }

  attr(ps: BpfProgSpec) {
    const insns = ps.insns.clone();
    for (const r of ps.mapRelocs) insns.imm[r.insnIdx] = this.created[r.mapIdx]!.id;
    return {
      progType: ps.progType, insns, license: this.spec.license, name: ps.name, subprogs: ps.subprogs, privileged: this.opts.privileged,
    };
  }

  add(ps: BpfProgSpec, res: ProgLoadResult): void {
    if (res.prog === null) {
      if (this.opts.keepGoing) {
        this.failures.push({ spec: ps, result: res });
        return;
      }
      // programs loaded before this one keep their map references; the maps go with them
      this.cleanup();
      throw new KernelError(res.errno, `Cannot load program ${ps.name} (section ${ps.secName}): ${res.message}`, { log: res.log });
    }
    this.progs.set(ps.name, res.prog);
    this.progList.push(res.prog);
  }

  /** Statically initialised prog arrays (.values = { [i] = &prog }). */
  finish(): LoadedObject {
    const spec = this.spec;
    for (let k = 0; k < spec.maps.length; k++) {
      const ms = spec.maps[k]!;
      for (const init of ms.initProgs) {
        const p = this.progs.get(init.progName);
        if (p === undefined) continue;
        const key = new Uint8Array(4), val = new Uint8Array(4);
        new DataView(key.buffer).setUint32(0, init.index, true);
        new DataView(val.buffer).setUint32(0, p.id, true);
        const rc = this.created[k]!.sysUpdate(key, val, 0);
        if (rc < 0) throw new KernelError(-rc, `Cannot set ${ms.name}[${init.index}] = ${init.progName}: ${strerror(rc)}`);
      }
    }
    return { maps: this.maps, progs: this.progs, progList: this.progList, failures: this.failures };
  }
}
