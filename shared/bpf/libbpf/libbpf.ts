// bpf_object__load() for an opened object: loads its BTF
// (bpf_object__sanitize_and_load_btf), creates its maps (with their BTF key
// and value types, global data initialised and .rodata frozen), patches map
// fds into the programs' ld_imm64 instructions, loads the programs with their
// BTF line info and fills statically initialised prog arrays, as
// tools/lib/bpf/libbpf.c does.
import type { BpfLineInfoRec, BpfObjectSpec, BpfProgSpec } from "./object.ts";
import type { BpfKernel, BtfObject, ProgLoadResult } from "../syscall.ts";
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

/** sizeof(struct bpf_line_info). */
export const BPF_LINE_INFO_REC_SIZE = 16;

/**
 * The line_info array BPF_PROG_LOAD takes: struct bpf_line_info records
 * (insn_off in instructions, file_name_off, line_off, line_col), as libbpf
 * hands prog->line_info to the kernel.
 */
export function encodeLineInfo(recs: readonly BpfLineInfoRec[]): Uint8Array {
  const out = new Uint8Array(recs.length * BPF_LINE_INFO_REC_SIZE);
  const dv = new DataView(out.buffer);
  recs.forEach((r, i) => {
    const o = i * BPF_LINE_INFO_REC_SIZE;
    dv.setUint32(o, r.insnIdx, true);
    dv.setUint32(o + 4, r.fileNameOff, true);
    dv.setUint32(o + 8, r.lineOff, true);
    dv.setUint32(o + 12, ((r.lineNum << 10) | (r.lineCol & 0x3ff)) >>> 0, true);
  });
  return out;
}

/** The object's BTF loaded into `kernel` (one fd reference, to drop with btfPut), or null when it has none or the kernel refuses it (libbpf then goes on without BTF). */
export function loadObjectBtf(kernel: BpfKernel, spec: BpfObjectSpec): BtfObject | null {
  if (spec.btf === null || spec.btf.raw === null) return null;
  const o = kernel.btfLoad(spec.btf.rawData());
  return typeof o === "number" ? null : o;
}

/** The BTF part of a program's BPF_PROG_LOAD attributes (prog_btf_fd and line info), empty without BTF. */
export function progBtfAttr(btf: BtfObject | null, ps: BpfProgSpec): { progBtfFd?: number; lineInfo?: Uint8Array; lineInfoRecSize?: number; lineInfoCnt?: number } {
  if (btf === null || ps.lineInfo.length === 0) return {};
  return { progBtfFd: btf.id, lineInfo: encodeLineInfo(ps.lineInfo), lineInfoRecSize: BPF_LINE_INFO_REC_SIZE, lineInfoCnt: ps.lineInfo.length };
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
  /** The object's BTF in the kernel (obj->btf's fd), closed when the load ends. */
  readonly btf: BtfObject | null;
  btfClosed = false;

  constructor(kernel: BpfKernel, spec: BpfObjectSpec, opts: LoadOptions) {
    this.kernel = kernel;
    this.spec = spec;
    this.opts = opts;
    this.btf = loadObjectBtf(kernel, spec);
    for (const ms of spec.maps) {
      const m = kernel.mapCreate(this.btf === null ? ms.attr : { ...ms.attr, btfFd: this.btf.id });
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
    this.closeBtf();
  }

  /** close(obj->btf fd): maps and programs keep their own references. */
  closeBtf(): void {
    if (this.btf !== null && !this.btfClosed) this.kernel.btfPut(this.btf.id);
    this.btfClosed = true;
  }

  progSpecs(): BpfProgSpec[] {
    return this.spec.progs.filter((ps) => this.opts.only === undefined || this.opts.only(ps));
  }

  attr(ps: BpfProgSpec) {
    const insns = ps.insns.clone();
    for (const r of ps.mapRelocs) insns.imm[r.insnIdx] = this.created[r.mapIdx]!.id;
    return {
      progType: ps.progType, insns, license: this.spec.license, name: ps.name, subprogs: ps.subprogs, privileged: this.opts.privileged,
      ...progBtfAttr(this.btf, ps),
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
    this.closeBtf();
    return { maps: this.maps, progs: this.progs, progList: this.progList, failures: this.failures };
  }
}
