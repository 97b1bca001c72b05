// Checks the verifier corpus (test/shared/bpf/verifier/corpus) against the running Linux
// kernel through the raw loader: every case's verdict, errno, first error line
// substring and (accepted cases) test-run retval must be what the case records
// for kernels of the running version (uname -r; case.ts KernelAnswer). Helpers
// the cases call are probed first (test/helpers/helper_probe.ts, as `bpftool
// feature probe`): a case the kernel refuses for a helper this build does not
// offer is not judged, and is listed by helper.
// Prints each mismatch with the kernel's answer; exits 1 on any mismatch.
// Usage: tsx test/long/verifier_corpus_kernel.ts [name-substring] [--log]
import { release } from "node:os";
import { CORPUS } from "../shared/bpf/verifier/corpus/index.ts";
import { caseHelpers, caseInsns, rawCaseOf } from "../shared/bpf/verifier/corpus/case.ts";
import { firstErrorLine, kernelLoadRaw, rawLoaderUnavailable } from "../helpers/raw_loader.ts";
import { probeHelpers, type HelperProbe } from "../helpers/helper_probe.ts";
import { judgeKernel, unofferedReport } from "../shared/bpf/verifier/corpus/judge.ts";
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
const insns = cases.map((c) => caseInsns(c));
const probes = await probeHelpers(cases.flatMap((c, i) => caseHelpers(c, insns[i])));
const results = await kernelLoadRaw(cases.map((c, i) => rawCaseOf(c, insns[i])));
let bad = 0;
const notJudged: Array<{ name: string; helper: HelperProbe }> = [];
for (let i = 0; i < cases.length; i++) {
  const c = cases[i]!, r = results[i]!;
  const { problems, unoffered } = judgeKernel(c, r, KV, probes);
  if (unoffered !== null) notJudged.push({ name: c.name, helper: unoffered });
  if (problems.length > 0 || showLog) {
    if (problems.length > 0) bad++;
    console.log(`${problems.length > 0 ? "MISMATCH" : unoffered !== null ? "not judged" : "ok"} ${c.name}: ${problems.join("; ")}`);
    console.log(`   kernel: errno=${r.errno} retval=${r.retval} first="${firstErrorLine(r.log)}"`);
    if (showLog) console.log(r.log.split("\n").map((l) => `   | ${l}`).join("\n"));
  }
}
for (const line of unofferedReport(notJudged)) console.log(line);
const acc = cases.filter((c) => c.result === "ACCEPT").length;
const gone = [...probes.values()].filter((p) => !p.offered).map((p) => `${p.name}#${p.id}`);
console.log(`${probes.size} helper ids probed on Linux ${release()}, not offered to XDP: ${gone.length === 0 ? "none" : gone.join(", ")}`);
console.log(`${cases.length} cases (${acc} ACCEPT, ${cases.length - acc} REJECT), ${notJudged.length} not judged (helper not offered), ${bad} mismatch${bad === 1 ? "" : "es"} with Linux ${formatKernelVersion(KV)}`);
process.exit(bad === 0 ? 0 : 1);
