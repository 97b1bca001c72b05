// Nightly-style run of the verifier property (test/shared/bpf/verifier/property.test.ts
// at scale): generated programs our verifier accepts must never trip the
// interpreter's runtime bounds check. With --kernel N, N generated programs
// also go through the Linux kernel (raw BPF_PROG_LOAD) to hunt false accepts
// (we accept, the kernel rejects) and to count false rejects.
// Usage: tsx test/long/property_verifier.ts [--count 20000] [--packets 8] [--seed 1] [--broken 0.2] [--kernel 2000]
import { errnoName } from "../../shared/errno.ts";
import { generateProgram } from "../shared/bpf/verifier/corpus/random_progs.ts";
import { mulberry32 } from "../helpers/prng.ts";
import { runProperty } from "../shared/bpf/verifier/corpus/property_check.ts";
import { runOurs } from "../shared/bpf/verifier/corpus/ours.ts";
import { PKT_UDP4 } from "../shared/bpf/verifier/corpus/case.ts";
import { firstErrorLine, kernelLoadRaw, rawLoaderUnavailable } from "../helpers/raw_loader.ts";
import { numberFlag } from "../helpers/script_args.ts";


const count = numberFlag("--count", 20000), packets = numberFlag("--packets", 8), seed = numberFlag("--seed", 1);
const broken = numberFlag("--broken", 0.2);
const kernelSample = numberFlag("--kernel", 0);
const t0 = Date.now();
const c = runProperty(mulberry32(seed), count, packets, broken);
console.log(`property: ${c.programs} programs (seed ${seed}, broken-block rate ${broken}), accepted ${c.accepted} ` +
  `(${c.acceptedBroken} of them with a broken-variant block), rejected ${c.rejected}, ${c.runs} runs, ` +
  `${c.violations.length} runtime bounds violations, ${((Date.now() - t0) / 1000).toFixed(1)} s`);
console.log(`rejections by errno: ${[...c.rejectErrnos].map(([e, n]) => `${errnoName(e)} ${n}`).join(", ") || "none"}`);
for (const v of c.violations.slice(0, 5)) console.log(`VIOLATION ${v.name} [${v.broken}]: ${v.fault}\n${v.asm}\n`);
let bad = c.violations.length;

if (kernelSample > 0) {
  const why = rawLoaderUnavailable();
  if (why !== null) {
    console.log(`kernel sample skipped: ${why}`);
  } else {
    const rnd = mulberry32(seed ^ 0x9e3779b9);
    const progs = Array.from({ length: kernelSample }, (_, i) => generateProgram(rnd, { brokenRate: broken, name: `k${i}` }));
    const kr = await kernelLoadRaw(progs.map((g) => ({ name: g.name, insns: g.insns, maps: g.maps, data: PKT_UDP4 })));
    let kAcc = 0, falseRej = 0, intendedGoodRejected = 0;
    const falseAcc: string[] = [];
    progs.forEach((g, i) => {
      const k = kr[i]!;
      if (k.errno === 0) kAcc++;
      else if (g.broken === "") intendedGoodRejected++;
      const ours = runOurs(g.name, g.insns, g.maps, null);
      if (k.errno !== 0 && ours.errno === 0) falseAcc.push(`${g.name} [${g.broken}]: kernel: ${firstErrorLine(k.log)}\n${g.asm}`);
      if (k.errno === 0 && ours.errno !== 0) falseRej++;
    });
    console.log(`kernel sample: ${progs.length} programs, kernel accepted ${kAcc}, generator-good programs the kernel rejected ` +
      `${intendedGoodRejected}, false accepts ${falseAcc.length}, false rejects ${falseRej}`);
    for (const f of falseAcc.slice(0, 5)) console.log(`FALSE ACCEPT ${f}\n`);
    bad += falseAcc.length;
  }
}
process.exit(bad === 0 ? 0 : 1);
