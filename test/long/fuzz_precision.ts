// Hunts false accepts in state pruning: generated programs whose safety
// hinges on exact scalar values that reach joins. Scalars in r6-r9 and in
// spilled stack slots take different constants on the two arms of branches
// on a random number, move through copies, spills, fills and arithmetic,
// and finally index the stack (fp-64 + rX) or decide a branch guarding an
// unsafe read. If precision is lost on the way (backtracking misses an insn,
// a checkpoint forgets a mark, a dead slot is cleaned while live) a path
// with an out-of-range index gets pruned by a state that had a safe one:
// we would accept what the kernel rejects. Every program goes through both
// verifiers (raw BPF_PROG_LOAD); prints counts and every disagreement.
// Planted bugs it found: a mov that stops backtracking (seed 2), fills not
// counted as stack reads by the liveness (seed 3).
// Usage: tsx test/long/fuzz_precision.ts [--count 2000] [--seed 1]
import { assembleCase } from "../shared/bpf/verifier/corpus/case.ts";
import { runOurs } from "../shared/bpf/verifier/corpus/ours.ts";
import { firstErrorLine, kernelLoadRaw, rawLoaderUnavailable } from "../helpers/raw_loader.ts";
import { mulberry32 } from "../helpers/prng.ts";
import { numberFlag } from "../helpers/script_args.ts";

const count = numberFlag("--count", 2000);
const seed = numberFlag("--seed", 1);
const why = rawLoaderUnavailable();
if (why !== null) {
  console.error(`cannot run: ${why}`);
  process.exit(2);
}
const rnd = mulberry32(seed);
const pick = <T>(a: readonly T[]): T => a[Math.floor(rnd() * a.length)]!;
const REGS = ["r6", "r7", "r8", "r9"];
const CONSTS = [0, 1, 8, 56, 63, 64, 100, -1, -8];
const SLOTS = [-8, -16, -24, -32, -40, -48, -56, -64];
const OPS = [">", ">=", "<", "==", "!=", "s>", "&"];

/** One generated program (assembler text): straight-line blocks with forward branches only. */
function generate(): string {
  const l: string[] = [];
  for (const r of REGS) l.push(`${r} = ${pick([0, 1, 8])}`);
  for (const s of SLOTS) l.push(`*(u64 *)(r10 ${s}) = 0`);
  l.push("call bpf_get_prandom_u32#7");
  const blocks = 4 + Math.floor(rnd() * 16);
  for (let b = 0; b < blocks; b++) {
    const x = pick(REGS), y = pick(REGS);
    switch (Math.floor(rnd() * 8)) {
      case 0:
      case 1: // diamond on the random number: x differs per arm
        l.push(`if r0 ${pick(OPS)} ${pick([1, 7, 1000, 0x7fff0000])} goto pc+2`, `${x} = ${pick(CONSTS)}`, "goto pc+1", `${x} = ${pick(CONSTS)}`);
        break;
      case 2: // spill, often leaving the slot as the only copy
        l.push(`*(u64 *)(r10 ${pick(SLOTS)}) = ${x}`);
        if (rnd() < 0.6) l.push(`${x} = 0`);
        break;
      case 3: // fill
        l.push(`${x} = *(u64 *)(r10 ${pick(SLOTS)})`);
        break;
      case 4: // copy or arithmetic
        l.push(pick([`${x} = ${y}`, `${x} += ${y}`, `${x} &= 63`, `${x} += ${pick(CONSTS)}`, `${x} <<= 1`, `${x} -= ${y}`]));
        break;
      case 5: // a fresh random number (clobbers r1-r5)
        l.push("call bpf_get_prandom_u32#7");
        break;
      case 6: // a branch on a scalar: bounds it on each side
        l.push(`if ${x} ${pick(OPS)} ${pick(CONSTS)} goto pc+1`, `${y} = ${pick(CONSTS)}`);
        break;
      default: // a branch decided (or not) by a scalar, guarding an unsafe read
        l.push(`if ${x} != ${pick(CONSTS)} goto pc+1`, "r1 = *(u64 *)(r10 +8)");
        break;
    }
  }
  const x = pick(REGS);
  l.push("r1 = r10", "r1 += -64", `r1 += ${x}`, "r0 = *(u8 *)(r1 +0)", "r0 = 2", "exit");
  return l.join("\n");
}

const progs = Array.from({ length: count }, generate);
const insns = progs.map((t) => assembleCase(t));
const kernel = await kernelLoadRaw(insns.map((p, i) => ({ name: `fp${i}`, insns: p })));
let accepted = 0, falseAccepts = 0, falseRejects = 0;
for (let i = 0; i < count; i++) {
  const k = kernel[i]!;
  const o = runOurs(`fp${i}`, insns[i]!, [], null);
  if (k.errno === 0) accepted++;
  if (o.errno === 0 && k.errno !== 0) {
    falseAccepts++;
    console.log(`FALSE ACCEPT #${i}: kernel "${firstErrorLine(k.log)}"\n${progs[i]}\n`);
  } else if (o.errno !== 0 && k.errno === 0) {
    falseRejects++;
    console.log(`false reject #${i}: ours "${firstErrorLine(o.log)}"\n${progs[i]}\n`);
  }
}
console.log(`precision fuzz: ${count} programs (seed ${seed}), kernel accepted ${accepted}, false accepts ${falseAccepts}, false rejects ${falseRejects}`);
process.exit(falseAccepts === 0 ? 0 : 1);
