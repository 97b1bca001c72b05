// Large malformed-input fuzz of the verifier (test/shared/bpf/verifier/fuzz.test.ts at
// scale): 100k+ inputs by default, plus the huge programs. Prints counts per
// errno and every failure (exception, rejection without a log, runtime fault
// of an accepted program); exits 1 on any failure.
// Usage: tsx test/long/fuzz_verifier.ts [--count 100000] [--seed 1]
import { errnoName } from "../../shared/errno.ts";
import { checkFuzzInput, emptyFuzzCounts, fuzzInput, hugeInput } from "../shared/bpf/verifier/corpus/fuzz_inputs.ts";
import { mulberry32 } from "../helpers/prng.ts";
import { numberFlag } from "../helpers/script_args.ts";


const count = numberFlag("--count", 100_000), seed = numberFlag("--seed", 1);
const rnd = mulberry32(seed);
const counts = emptyFuzzCounts();
const t0 = Date.now();
for (let i = 0; i < count; i++) {
  checkFuzzInput(fuzzInput(rnd), counts);
  if ((i + 1) % 20000 === 0) console.log(`  ${i + 1} inputs, ${counts.failures.length} failures, ${((Date.now() - t0) / 1000).toFixed(0)} s`);
}
for (const which of [0, 1, 2]) checkFuzzInput(hugeInput(rnd, which), counts);
console.log(`fuzz: ${counts.inputs} inputs (seed ${seed}), ${counts.accepted} accepted, ${counts.rejected} rejected, ` +
  `${counts.failures.length} failures, ${((Date.now() - t0) / 1000).toFixed(1)} s`);
console.log(`rejections by errno: ${[...counts.errnos].sort((a, b) => b[1] - a[1]).map(([e, n]) => `${errnoName(e)} ${n}`).join(", ")}`);
const byProblem = new Map<string, number>();
for (const f of counts.failures) {
  const key = `${f.kind}: ${f.problem.split("\n")[0]!.replace(/\d+/g, "N")}`;
  byProblem.set(key, (byProblem.get(key) ?? 0) + 1);
}
for (const [k, n] of byProblem) console.log(`FAILURE x${n} ${k}`);
for (const f of counts.failures.slice(0, 3)) console.log(`example ${f.kind}: ${f.problem}\n  insns ${f.hex}`);
process.exit(counts.failures.length === 0 ? 0 : 1);
