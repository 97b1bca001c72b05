// What `vxo prog load|run|dump` do, as bpftool's prog.c do_load()/do_run()/
// do_dump(): open the ELF object, load it into an in-process emulated kernel
// (bpf_object__open + BPF_PROG_LOAD), BPF_PROG_TEST_RUN, dump xlated insns.
// prog_cmd.ts imports this file only when one of those commands runs, so that
// the ELF loader and verifier stay out of every other command's start; the
// engines are imported by `prog run` alone.
import { readFileSync, writeFileSync } from "node:fs";
import { openObject, type BpfObjectSpec, type BpfProgSpec } from "../shared/bpf/libbpf/object.ts";
import { BpfKernel } from "../shared/bpf/syscall.ts";
import { loadObject, type LoadedObject } from "../shared/bpf/libbpf/libbpf.ts";
import { dumpXlated } from "../shared/bpf/isa/disasm.ts";
import type { BpfMap } from "../shared/bpf/maps/map.ts";
import type { BpfProg } from "../shared/bpf/runtime/prog.ts";
import { EINVAL, ENOENT, KernelError, errnoName, strerror } from "../shared/errno.ts";
import { MAP_TYPE_NAMES } from "../shared/bpf/isa/uapi.ts";

export interface SelectOpts {
  sec?: string;
  prog?: string;
}

export type LoadOpts = SelectOpts & { json?: boolean; logLevel: string; verify: boolean };
export type RunOpts = SelectOpts & { dataIn: string[]; dataOut?: string; repeat: string; mapUpdate: string[];
  dumpMaps?: boolean; engine: string; json?: boolean; logLevel: string; verify: boolean };

function readObject(file: string): BpfObjectSpec {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    throw new KernelError(ENOENT, `Cannot read ${file}: ${(e as Error).message}`);
  }
  return openObject(bytes, { file });
}

function selectProg(spec: BpfObjectSpec, o: SelectOpts): BpfProgSpec {
  const cands = spec.progs.filter((p) => (o.sec === undefined || p.secName === o.sec) && (o.prog === undefined || p.name === o.prog));
  if (cands.length === 0) {
    const have = spec.progs.map((p) => `${p.name} (section ${p.secName})`).join(", ") || "none";
    throw new KernelError(ENOENT, `No program matches${o.sec ? ` section ${o.sec}` : ""}${o.prog ? ` name ${o.prog}` : ""}; the object has: ${have}`);
  }
  return cands[0]!;
}

/** A kernel whose program loads follow --log-level / --no-verify. */
function verifyingKernel(o: { logLevel?: string; verify?: boolean }): BpfKernel {
  const kernel = new BpfKernel();
  const level = Number(o.logLevel ?? "1");
  if (!Number.isInteger(level) || level < 0 || level > 7) throw new KernelError(EINVAL, `--log-level must be 0..7, got '${o.logLevel}'`);
  kernel.verifierLogLevel = level;
  kernel.verifyPrograms = o.verify !== false;
  return kernel;
}

function loadAll(file: string, o: SelectOpts, kernel = new BpfKernel()): { kernel: BpfKernel; loaded: LoadedObject; prog: BpfProg; spec: BpfProgSpec } {
  const spec = readObject(file);
  const ps = selectProg(spec, o);
  const loaded = loadObject(kernel, spec);
  return { kernel, loaded, prog: loaded.progs.get(ps.name)!, spec: ps };
}

function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");
}

function parseHex(s: string, what: string): Uint8Array {
  const t = s.replace(/^0x/, "").replace(/[\s:]/g, "");
  if (!/^([0-9a-fA-F]{2})*$/.test(t)) throw new KernelError(EINVAL, `${what}: '${s}' is not a hex byte string`);
  return new Uint8Array(Buffer.from(t, "hex"));
}

/** All entries of a map in get_next_key order, as [keyhex, valuehex] (ENOENT entries skipped). */
export function dumpMap(m: BpfMap): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  let key: Uint8Array | null = null;
  const next = new Uint8Array(m.keySize);
  const value = new Uint8Array(m.userValueSize);
  for (let guard = 0; guard <= m.maxEntries; guard++) {
    if (m.sysGetNextKey(key, next) !== 0) break;
    const k = next.slice();
    if (m.sysLookup(k, value) === 0) out.push([hex(k), hex(value)]);
    key = k;
  }
  return out;
}

/** `vxo prog load`: open the object, create its maps and load (verify) its programs. */
export function doLoad(obj: string, o: LoadOpts): void {
  const spec = readObject(obj);
  const ps = selectProg(spec, o);
  const kernel = verifyingKernel(o);
  const t0 = process.hrtime.bigint();
  let result: { accepted: boolean; errno: number; code: string; log: string; insnCount: number; processedInsns: number;
    verifyNs: number; message?: string };
  try {
    const loaded = loadObject(kernel, spec);
    const p = loaded.progs.get(ps.name)!;
    const st = p.verifierStats;
    result = { accepted: true, errno: 0, code: "", log: kernel.lastVerifierLog.join("\n"), insnCount: p.insns.len,
      processedInsns: st?.processedInsns ?? 0, verifyNs: st?.verifyNs ?? Number(process.hrtime.bigint() - t0) };
  } catch (e) {
    if (!(e instanceof KernelError)) throw e;
    const log = e.log ?? [];
    const processed = /^processed (\d+) insns/.exec(log[log.length - 1] ?? "");
    result = { accepted: false, errno: e.errno, code: e.code, log: log.join("\n"), insnCount: ps.insns.len,
      processedInsns: processed ? Number(processed[1]) : 0, verifyNs: Number(process.hrtime.bigint() - t0), message: e.message };
  }
  if (o.json) process.stdout.write(JSON.stringify(result) + "\n");
  else if (result.accepted) {
    process.stdout.write(`${ps.name}: loaded, ${result.insnCount} insns, verified (${result.processedInsns} insns processed)\n`);
    if (Number(o.logLevel) > 1) process.stdout.write(result.log + "\n");
  } else process.stderr.write(`${result.log ? result.log + "\n" : ""}Error: ${result.message} (${result.code})\n`);
  process.exitCode = result.accepted ? 0 : 1;
}

/** `vxo prog run`: BPF_PROG_TEST_RUN on each --data-in packet. */
export async function doRun(obj: string, o: RunOpts): Promise<void> {
  const [{ engineByName }, { xdpTestRun }] = await Promise.all([
    import("../shared/bpf/runtime/engine.ts"), import("../shared/bpf/runtime/test_run.ts")]);
  const engine = engineByName(o.engine);
  const repeat = Number(o.repeat);
  if (!Number.isInteger(repeat) || repeat < 1 || repeat > 0xffffffff) throw new KernelError(EINVAL, `--repeat must be a positive integer, got '${o.repeat}'`);
  const { kernel, loaded, prog: p } = loadAll(obj, o, verifyingKernel(o));
  if (!p.verified && o.verify) throw new KernelError(EINVAL, `${p.name}: program is not verified; pass --no-verify to run it anyway`);
  for (const u of o.mapUpdate) {
    const m = /^([^=]+)=([0-9a-fA-Fx]*):([0-9a-fA-Fx]*)$/.exec(u);
    if (m === null) throw new KernelError(EINVAL, `--map-update '${u}': expected NAME=KEYHEX:VALUEHEX`);
    const map = loaded.maps.get(m[1]!);
    if (map === undefined) throw new KernelError(ENOENT, `--map-update: no map named ${m[1]}`);
    const rc = map.sysUpdate(parseHex(m[2]!, "key"), parseHex(m[3]!, "value"), 0);
    if (rc < 0) throw new KernelError(-rc, `Cannot update map ${m[1]}: ${strerror(rc)} (${errnoName(rc)})`);
  }
  if (o.dataOut !== undefined && o.dataIn.length > 1) throw new KernelError(EINVAL, "--data-out takes a single --data-in");
  for (const file of o.dataIn) {
    let dataIn: Uint8Array;
    try {
      dataIn = readFileSync(file);
    } catch (e) {
      throw new KernelError(ENOENT, `Cannot read ${file}: ${(e as Error).message}`);
    }
    let r;
    try {
      r = xdpTestRun(kernel, p, { dataIn, repeat, engine });
    } catch (e) {
      // One bad packet does not stop a batch: report it (as bpftool would fail that run) and go on.
      if (!(e instanceof KernelError) || o.dataIn.length === 1) throw e;
      process.exitCode = 1;
      if (o.json) process.stdout.write(JSON.stringify({ errno: e.errno, code: e.code, message: e.message }) + "\n");
      else process.stdout.write(`Error: ${e.message} (${e.code})\n`);
      continue;
    }
    if (o.dataOut !== undefined) writeFileSync(o.dataOut, r.dataOut);
    const maps: Record<string, Array<[string, string]>> = {};
    if (o.dumpMaps || o.json) for (const [name, m] of loaded.maps) maps[name] = dumpMap(m);
    if (o.json) {
      process.stdout.write(JSON.stringify({ retval: r.retval, durationNs: r.durationNs, dataOut: hex(r.dataOut), maps }) + "\n");
      continue;
    }
    process.stdout.write(`Return value: ${r.retval}, duration${repeat > 1 ? " (average)" : ""}: ${r.durationNs}ns\n`);
    if (o.dumpMaps) {
      for (const [name, m] of loaded.maps) {
        process.stdout.write(`map ${name} (${MAP_TYPE_NAMES[m.mapType] ?? m.mapType}):\n`);
        for (const [k, v] of maps[name]!) process.stdout.write(`  key: ${spaced(k)}  value: ${spaced(v)}\n`);
      }
    }
  }
}

/** `vxo prog dump xlated`. */
export function doDump(what: string, obj: string, o: SelectOpts): void {
  if (what !== "xlated") throw new KernelError(EINVAL, `Cannot dump '${what}': only 'xlated' is supported`);
  const { kernel, prog: p } = loadAll(obj, o);
  const lines = dumpXlated(p.insns, {
    mapId: (id: number) => id,
    subprogs: p.subprogs,
    kernel,
  } as Parameters<typeof dumpXlated>[1]);
  process.stdout.write(lines.join("\n") + "\n");
}

function spaced(h: string): string {
  return h.replace(/(..)(?!$)/g, "$1 ");
}
