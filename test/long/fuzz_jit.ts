// Runtime-safety fuzzing of the JIT, 1M runs by default (issue 5): random
// unverified XDP programs through the reference interpreter and the JIT on
// twin kernels; verdicts, faults and memory must agree, and no byte outside
// the writable regions may change, and the JIT must compile every program
// (jitStats.compileErrors stays 0). Prints the totals; exits 1 on any finding.
// Usage: npx tsx test/long/fuzz_jit.ts [--runs 1000000] [--seed 1] [--runs-per-prog 50]
import { fuzz } from "../shared/bpf/jit/jit_fuzz.ts";
import { jitStats } from "../../shared/bpf/jit/jit_cache.ts";
import { numberFlag } from "../helpers/script_args.ts";

const total = numberFlag("--runs", 1_000_000);
const seed0 = numberFlag("--seed", 1);
const perProg = numberFlag("--runs-per-prog", 50);
const chunkProgs = 200;

let runs = 0, programs = 0, rejected = 0, faults = 0, canary = 0;
const findings: string[] = [];
const t0 = Date.now();
for (let seed = seed0; runs < total; seed++) {
  const s = fuzz(seed, chunkProgs, perProg, 1);
  runs += s.runs;
  programs += s.programs;
  rejected += s.rejected;
  faults += s.faults;
  canary += s.canaryViolations;
  findings.push(...s.mismatches);
  if (jitStats.compileErrors > 0) findings.push(`JIT compile error: ${JSON.stringify(jitStats.lastError)}`);
  if (findings.length > 0) break;
  if ((seed - seed0) % 10 === 0) {
    console.log(`${runs} runs, ${programs} programs (${rejected} rejected by the structural checks), ${faults} faults, ${((Date.now() - t0) / 1000).toFixed(0)}s`);
  }
}
console.log(`done: ${runs} runs of ${programs} programs, ${faults} stopped by a runtime fault, ${runs - faults} clean exits; ` +
  `${findings.length} mismatches, ${canary} canary violations, ${jitStats.compileErrors} JIT compile errors, ` +
  `${((Date.now() - t0) / 1000).toFixed(0)}s`);
for (const f of findings.slice(0, 20)) console.log(f);
process.exitCode = findings.length > 0 ? 1 : 0;
