// Checks the verifier corpus (test/shared/bpf/verifier/corpus) against the running Linux
// kernel through the raw loader: every case's verdict, errno, first error line
// substring and (accepted cases) test-run retval must be what the case records
// for kernels of the running version (uname -r; case.ts KernelAnswer).
// Prints each mismatch with the kernel's answer; exits 1 on any mismatch.
// Usage: tsx test/long/verifier_corpus_kernel.ts [name-substring] [--log]
import { CORPUS } from "../shared/bpf/verifier/corpus/index.ts";
import { caseInsns, rawCaseOf } from "../shared/bpf/verifier/corpus/case.ts";
import { firstErrorLine, kernelLoadRaw, rawLoaderUnavailable } from "../helpers/raw_loader.ts";
import { judgeKernel } from "../shared/bpf/verifier/corpus/judge.ts";
import { formatKernelVersion, runningKernelVersion } from "../helpers/kernel_version.ts";

const filter = process.argv.slice(2).find((a) => !a.startsWith("--")) ?? "";
const showLog = process.argv.includes("--log");
const why = rawLoaderUnavailable();
if (why !== null) {
  console.error(`cannot run: ${why}`);
  process.exit(2);
}
const KV = runningKernelVersion();
const cases = CORPUS.filter((c) => c.name.includes(filter));
const results = await kernelLoadRaw(cases.map((c) => rawCaseOf(c, caseInsns(c))));
let bad = 0;
for (let i = 0; i < cases.length; i++) {
  const c = cases[i]!, r = results[i]!;
  const problems = judgeKernel(c, r, KV);
  if (problems.length > 0 || showLog) {
    if (problems.length > 0) bad++;
    console.log(`${problems.length > 0 ? "MISMATCH" : "ok"} ${c.name}: ${problems.join("; ")}`);
    console.log(`   kernel: errno=${r.errno} retval=${r.retval} first="${firstErrorLine(r.log)}"`);
    if (showLog) console.log(r.log.split("\n").map((l) => `   | ${l}`).join("\n"));
  }
}
const acc = cases.filter((c) => c.result === "ACCEPT").length;
console.log(`${cases.length} cases (${acc} ACCEPT, ${cases.length - acc} REJECT), ${bad} mismatch${bad === 1 ? "" : "es"} with Linux ${formatKernelVersion(KV)}`);
process.exit(bad === 0 ? 0 : 1);
