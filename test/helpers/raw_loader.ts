// TypeScript side of test/helpers/bpf_load_raw.c: compiles the raw BPF_PROG_LOAD
// driver with gcc into a cache directory once per source version, feeds it
// cases (maps, insns, packet) and parses its JSON lines. The kernel's own
// verifier verdict, errno and log, as tools/testing/selftests/bpf/test_verifier.c
// obtains them.
import { execa, execaSync } from "execa";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { BpfInsns } from "../../shared/bpf/isa/insn.ts";
import { REPO_ROOT } from "./repo.ts";

/** A map the loader creates before the load; ld_imm64 src 1/2 imm = its index in the list. */
export interface RawMapDef {
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags?: number;
}

/** One BPF_PROG_LOAD (and optional BPF_PROG_TEST_RUN) request. */
export interface RawCase {
  name: string;
  insns: BpfInsns;
  maps?: readonly RawMapDef[];
  progType?: number;
  logLevel?: number;
  logSize?: number;
  ifindex?: number;
  progFlags?: number;
  /** Packet for a test run after a successful load. */
  data?: Uint8Array;
}

/** What the kernel answered. */
export interface RawResult {
  name: string;
  /** 0 when the program loaded, else the errno of BPF_PROG_LOAD. */
  errno: number;
  insnCnt: number;
  /** bpf_prog_info.verified_insns of an accepted program. */
  verifiedInsns: number;
  loadNs: number;
  /** BPF_PROG_TEST_RUN retval, null when not run or the run failed. */
  retval: number | null;
  runErrno: number;
  /** errno of the first failing BPF_MAP_CREATE (the load was not attempted), else 0. */
  mapErrno: number;
  /** The log overflowed log_size; errno is then that of a second load without a log. */
  logTruncated: boolean;
  log: string;
}

const SRC = path.join(REPO_ROOT, "test/helpers/bpf_load_raw.c");
let binPath: string | null = null;

/** Why the raw loader cannot run here (not root, no gcc, compile failure), or null when it can. */
export function rawLoaderUnavailable(): string | null {
  if (process.getuid?.() !== 0) return "not root: BPF_PROG_LOAD needs CAP_BPF/CAP_SYS_ADMIN";
  try {
    rawLoaderPath();
  } catch (e) {
    return (e as Error).message;
  }
  return null;
}

/** Path of the compiled loader, compiling it on first use. Throws when gcc is missing or fails. */
export function rawLoaderPath(): string {
  if (binPath !== null) return binPath;
  const src = readFileSync(SRC);
  const hash = createHash("sha1").update(src).digest("hex").slice(0, 12);
  const dir = path.join(tmpdir(), "vxo-raw-loader");
  const bin = path.join(dir, `bpf_load_raw-${hash}`);
  if (!existsSync(bin)) {
    mkdirSync(dir, { recursive: true });
    const tmp = `${bin}.${process.pid}.tmp`;
    const r = execaSync("gcc", ["-O2", "-o", tmp, SRC], { reject: false });
    if (r.exitCode !== 0) {
      throw new Error(r.failed && r.exitCode === undefined ? "gcc not found" : `gcc failed: ${r.stderr}`);
    }
    renameSync(tmp, bin); // atomic: parallel workers never see a half-written binary
  }
  binPath = bin;
  return bin;
}

function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");
}

/** The loader's stdin for these cases. */
export function encodeRawCases(cases: readonly RawCase[]): string {
  const out: string[] = [];
  for (const c of cases) {
    out.push(`case ${c.name.replace(/\n/g, " ")}`);
    if (c.progType !== undefined) out.push(`prog_type ${c.progType}`);
    if (c.logLevel !== undefined) out.push(`log_level ${c.logLevel}`);
    if (c.logSize !== undefined) out.push(`log_size ${c.logSize}`);
    if (c.ifindex !== undefined) out.push(`ifindex ${c.ifindex}`);
    if (c.progFlags !== undefined) out.push(`flags ${c.progFlags}`);
    for (const m of c.maps ?? []) out.push(`map ${m.type} ${m.keySize} ${m.valueSize} ${m.maxEntries} ${m.flags ?? 0}`);
    if (c.insns.len > 0) out.push(`insns ${hex(c.insns.toBytes())}`);
    if (c.data !== undefined) out.push(`data ${hex(c.data)}`);
    out.push("go");
  }
  return out.join("\n") + "\n";
}

interface RawJson {
  name: string; errno: number; insn_cnt: number; verified_insns: number; load_ns: number; retval: number | null;
  run_errno: number; map_errno: number; log_truncated: boolean; log: string;
}

function parse(stdout: string): RawResult[] {
  return stdout.split("\n").filter((l) => l !== "").map((l) => {
    const j = JSON.parse(l) as RawJson;
    return {
      name: j.name, errno: j.errno, insnCnt: j.insn_cnt, verifiedInsns: j.verified_insns, loadNs: j.load_ns,
      retval: j.retval, runErrno: j.run_errno, mapErrno: j.map_errno, logTruncated: j.log_truncated, log: j.log,
    };
  });
}

/** Loads every case into the running kernel, in one loader process. Throws when the loader fails. */
export async function kernelLoadRaw(cases: readonly RawCase[]): Promise<RawResult[]> {
  const r = await execa(rawLoaderPath(), [], { input: encodeRawCases(cases), reject: false, maxBuffer: 1 << 30 });
  if (r.exitCode !== 0) throw new Error(`bpf_load_raw exited ${r.exitCode}: ${r.stderr}`);
  const res = parse(r.stdout);
  if (res.length !== cases.length) throw new Error(`bpf_load_raw answered ${res.length} of ${cases.length} cases`);
  return res;
}

/**
 * The kernel's first error line: the first line of the error block, i.e. after
 * the last instruction or state line of the log ("12: (71) ...", "12: R1=...",
 * "from 3 to 5: ...") and before the "processed N insns" summary. State dumps
 * of "infinite loop detected" and the "verification time"/"stack depth"
 * lines are never the message. Errors found before the walk (CFG checks) have
 * no instruction lines: then it is the first line of the log.
 */
export function firstErrorLine(log: string | readonly string[]): string {
  // Some kernel messages lack their newline ("expected prog array map for tail call"):
  // the summary is then glued to them.
  const lines = (typeof log === "string" ? log.split("\n") : log)
    .flatMap((l) => l.replace(/(.)(processed \d+ insns \(limit)/, "$1\n$2").split("\n"))
    .map((l) => l.trimEnd()).filter((l) => l !== "");
  const at = lines.findIndex((l) => /^processed \d+ insns/.test(l));
  const head = at < 0 ? lines : lines.slice(0, at);
  let last = -1;
  for (let i = 0; i < head.length; i++) if (/^(\d+: |from \d+ to \d+: |; )/.test(head[i]!)) last = i;
  const block = head.slice(last + 1).filter((l) => !/^(verification time|stack depth|cur state:|old state:)/.test(l));
  return block.length === 0 ? "" : block[0]!;
}
