// Malformed-input generators for the verifier fuzz test and script: random
// bytes as instructions, random known opcodes with wild operands, truncated
// and split ld_imm64 pairs, bit-flipped corpus programs, huge programs. Each
// input must give an errno and a log (or an accepted program that runs
// without a runtime fault), never an exception or a hang. Counterpart in
// spirit: uBPF libfuzzer/, the kernel's syzkaller BPF descriptions.
import { BpfInsns } from "../../../../../shared/bpf/isa/insn.ts";
import { INSN_TABLE } from "../../../../../shared/bpf/isa/insn_table.ts";
import type { RawMapDef } from "../../../../helpers/raw_loader.ts";
import { ARRAY_8, HASH_8_16, PKT_UDP4, caseInsns } from "./case.ts";
import { CORPUS } from "./index.ts";
import { runOurs } from "./ours.ts";

export interface FuzzInput {
  kind: string;
  insns: BpfInsns;
  maps: readonly RawMapDef[];
}

export interface FuzzCounts {
  inputs: number;
  accepted: number;
  rejected: number;
  /** errno -> count. */
  errnos: Map<number, number>;
  /** Exceptions, rejections without a log, runtime faults of accepted programs. */
  failures: Array<{ kind: string; problem: string; hex: string }>;
}

const OPCODES: readonly number[] = INSN_TABLE.flatMap((d) => (d === undefined ? [] : [d.code]));
const FUZZ_MAPS: readonly RawMapDef[] = [ARRAY_8, HASH_8_16];
const corpusPrograms: BpfInsns[] = [];

function int(rnd: () => number, lo: number, hi: number): number {
  return lo + Math.floor(rnd() * (hi - lo + 1));
}

function wildImm(rnd: () => number): number {
  const r = rnd();
  if (r < 0.4) return int(rnd, -16, 16);
  if (r < 0.6) return int(rnd, -600, 600);
  if (r < 0.7) return [0x7fffffff, -0x80000000, 64, 32, 63, 31, 0xffff, 1, 2, 4, 8][int(rnd, 0, 10)]!;
  return (rnd() * 4294967296) | 0;
}

function randomBytes(rnd: () => number): FuzzInput {
  const n = int(rnd, 0, 64 * 8 + 7);
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = int(rnd, 0, 255);
  return { kind: "random-bytes", insns: BpfInsns.fromBytes(b), maps: FUZZ_MAPS };
}

function randomOpcodes(rnd: () => number): FuzzInput {
  const n = int(rnd, 1, 48);
  const p = new BpfInsns(n);
  for (let i = 0; i < n; i++) {
    const code = i === n - 1 && rnd() < 0.7 ? 0x95 : OPCODES[int(rnd, 0, OPCODES.length - 1)]!;
    const src = code === 0x18 ? int(rnd, 0, 7) : rnd() < 0.9 ? int(rnd, 0, 10) : int(rnd, 0, 15);
    const dst = rnd() < 0.9 ? int(rnd, 0, 10) : int(rnd, 0, 15);
    const off = rnd() < 0.6 ? int(rnd, -8, 8) : rnd() < 0.5 ? int(rnd, -520, 64) : int(rnd, -32768, 32767);
    p.set(i, code, dst, src, off, code === 0x18 && src !== 0 ? int(rnd, 0, 3) : wildImm(rnd));
  }
  return { kind: "random-opcodes", insns: p, maps: FUZZ_MAPS };
}

function corpusProgram(rnd: () => number): BpfInsns {
  if (corpusPrograms.length === 0) {
    // Small programs only: the limit cases (thousands of branches) would dominate the run time.
    for (const c of CORPUS) {
      if (c.slow || c.build !== undefined) continue;
      const p = caseInsns(c);
      if (p.len <= 300) corpusPrograms.push(p);
    }
  }
  return corpusPrograms[int(rnd, 0, corpusPrograms.length - 1)]!;
}

function truncatedLdImm64(rnd: () => number): FuzzInput {
  const base = corpusProgram(rnd);
  const r = rnd();
  let p: BpfInsns;
  if (r < 0.4) {
    p = BpfInsns.concat([base, BpfInsns.fromTuples([[0x18, int(rnd, 0, 10), int(rnd, 0, 6), 0, wildImm(rnd)]])]);
  } else {
    // An ld_imm64 whose second half is another instruction, or whose first half lost its pair.
    const at = int(rnd, 0, base.len - 1);
    p = base.clone();
    const out = new BpfInsns(p.len + 1);
    for (let i = 0, j = 0; i < out.len; i++) {
      if (i === at) out.set(i, 0x18, int(rnd, 0, 10), r < 0.7 ? 0 : int(rnd, 1, 6), 0, wildImm(rnd));
      else {
        out.set(i, p.code[j]!, p.dst[j]!, p.src[j]!, p.off[j]!, p.imm[j]!);
        j++;
      }
    }
    p = out;
  }
  return { kind: "truncated-ld-imm64", insns: p, maps: FUZZ_MAPS };
}

function mutatedCorpus(rnd: () => number): FuzzInput {
  const p = corpusProgram(rnd).clone();
  const flips = int(rnd, 1, 3);
  for (let k = 0; k < flips && p.len > 0; k++) {
    const i = int(rnd, 0, p.len - 1);
    switch (int(rnd, 0, 4)) {
      case 0: p.code[i] = p.code[i]! ^ (1 << int(rnd, 0, 7)); break;
      case 1: p.dst[i] = int(rnd, 0, 15); break;
      case 2: p.src[i] = int(rnd, 0, 15); break;
      case 3: p.off[i] = p.off[i]! ^ (1 << int(rnd, 0, 15)); break;
      default: p.imm[i] = p.imm[i]! ^ (1 << int(rnd, 0, 31)); break;
    }
  }
  return { kind: "mutated-corpus", insns: p, maps: FUZZ_MAPS };
}

/** Huge programs: over the 1M insn limit, long random programs, long chains of branches. */
export function hugeInput(rnd: () => number, which: number): FuzzInput {
  if (which === 0) {
    const p = new BpfInsns(1_000_001);
    p.code.fill(0xb7);
    p.code[p.len - 1] = 0x95;
    return { kind: "huge-over-limit", insns: p, maps: [] };
  }
  if (which === 1) {
    const parts: BpfInsns[] = [];
    for (let i = 0; i < 2000; i++) parts.push(randomOpcodes(rnd).insns);
    return { kind: "huge-random", insns: BpfInsns.concat(parts), maps: FUZZ_MAPS };
  }
  const n = 20000;
  const p = new BpfInsns(n + 3);
  p.set(0, 0x61, 6, 1, 12, 0); // r6 = ingress_ifindex: unknown to the verifier
  p.set(1, 0xb7, 0, 0, 0, 2);
  for (let i = 0; i < n; i++) p.set(2 + i, 0x15, 6, 0, 0, i); // if r6 == i goto +0
  p.set(n + 2, 0x95, 0, 0, 0, 0);
  return { kind: "huge-branches", insns: p, maps: [] };
}

const GENERATORS = [randomBytes, randomOpcodes, randomOpcodes, truncatedLdImm64, mutatedCorpus, mutatedCorpus];

/** One random malformed input. */
export function fuzzInput(rnd: () => number): FuzzInput {
  return GENERATORS[int(rnd, 0, GENERATORS.length - 1)]!(rnd);
}

export function emptyFuzzCounts(): FuzzCounts {
  return { inputs: 0, accepted: 0, rejected: 0, errnos: new Map(), failures: [] };
}

function hexOf(p: BpfInsns): string {
  return Buffer.from(p.toBytes().subarray(0, 512)).toString("hex");
}

/** Loads one input through our verifier (and runs it when accepted); records the outcome. */
export function checkFuzzInput(f: FuzzInput, counts: FuzzCounts): void {
  counts.inputs++;
  let v;
  try {
    v = runOurs(f.kind, f.insns, f.maps, PKT_UDP4);
  } catch (e) {
    counts.failures.push({ kind: f.kind, problem: `exception: ${(e as Error).stack ?? String(e)}`, hex: hexOf(f.insns) });
    return;
  }
  if (v.errno === 0) {
    counts.accepted++;
    if (v.runFault !== "") counts.failures.push({ kind: f.kind, problem: `accepted, then ${v.runFault}`, hex: hexOf(f.insns) });
    return;
  }
  counts.rejected++;
  counts.errnos.set(v.errno, (counts.errnos.get(v.errno) ?? 0) + 1);
  if (!Number.isInteger(v.errno) || v.errno < 0 || v.errno > 4095) {
    counts.failures.push({ kind: f.kind, problem: `bad errno ${v.errno}`, hex: hexOf(f.insns) });
  } else if (!Array.isArray(v.log) || v.log.length === 0) {
    counts.failures.push({ kind: f.kind, problem: `rejected (errno ${v.errno}) without a log`, hex: hexOf(f.insns) });
  }
}
