// Runs the budget-exhausting samples (BUDGET_SAMPLES, e.g. xdp_spin.o) to the
// end: in process, on the verifier worker (the path guests and the host use),
// and in the running kernel when it can be asked. Each must answer E2BIG with
// "BPF program is too large. Processed 1000001 insn" and the same log in both
// of ours; prints the times. Too slow for CI (seconds in the kernel, longer
// here), which cancels such a verification instead
// (test/integration/verify_offthread.test.ts).
// Usage: tsx test/long/verify_budget.ts
import { readFileSync } from "node:fs";
import path from "node:path";
import { BpfKernel, type ProgLoadResult } from "../../shared/bpf/syscall.ts";
import { openObject } from "../../shared/bpf/libbpf/object.ts";
import { VerifierPool } from "../../shared/bpf/verifier/pool.ts";
import { E2BIG, errnoName } from "../../shared/errno.ts";
import { firstErrorLine, kernelLoadRaw, rawLoaderUnavailable } from "../helpers/raw_loader.ts";
import { BUDGET_SAMPLES, PROGRAMS_DIR } from "../helpers/repo.ts";

const TOO_LARGE = "BPF program is too large. Processed 1000001 insn";
const pool = new VerifierPool();
const kernelWhy = rawLoaderUnavailable();
if (kernelWhy !== null) console.log(`kernel column skipped: ${kernelWhy}`);
let bad = 0;
const fail = (msg: string) => {
  bad++;
  console.log(`MISMATCH ${msg}`);
};
const message = (r: ProgLoadResult) => (r.prog === null ? r.message : "");

for (const f of Object.keys(BUDGET_SAMPLES)) {
  const spec = openObject(readFileSync(path.join(PROGRAMS_DIR, f)), { file: f });
  for (const ps of spec.progs) {
    const attr = { progType: ps.progType, insns: ps.insns, license: spec.license, name: ps.name, subprogs: ps.subprogs };
    let t = performance.now();
    const a = new BpfKernel().progLoad(attr);
    const inProcMs = performance.now() - t;
    t = performance.now();
    const b = await new BpfKernel().progLoadAsync(attr, pool);
    const workerMs = performance.now() - t;
    let kernel = "-";
    if (kernelWhy === null) {
      const [k] = await kernelLoadRaw([{ name: ps.name, insns: ps.insns }]);
      kernel = `${errnoName(k!.errno)} "${firstErrorLine(k!.log)}" in ${(k!.loadNs / 1e6).toFixed(0)} ms`;
      if (k!.errno !== E2BIG || firstErrorLine(k!.log) !== TOO_LARGE) fail(`${f} ${ps.name}: kernel answered ${kernel}`);
    }
    console.log(`${f} ${ps.name}: in process ${errnoName(a.errno)} in ${inProcMs.toFixed(0)} ms, worker ${errnoName(b.errno)} in ${workerMs.toFixed(0)} ms, kernel ${kernel}`);
    for (const [where, r] of [["in process", a], ["worker", b]] as const) {
      if (r.errno !== E2BIG || message(r) !== TOO_LARGE) fail(`${f} ${ps.name} ${where}: ${errnoName(r.errno)} "${message(r)}"`);
    }
    if (JSON.stringify(a.log) !== JSON.stringify(b.log)) fail(`${f} ${ps.name}: worker and in-process logs differ`);
  }
}
await pool.close();
process.exit(bad === 0 ? 0 : 1);
