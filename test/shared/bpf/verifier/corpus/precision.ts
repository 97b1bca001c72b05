// Precision cases in the manner of tools/testing/selftests/bpf/progs/verifier_precision.c:
// two paths reach a join with a scalar (in a register, or spilled to the
// stack) holding 1 on one and 2 on the other. In the "imprecise" twin nothing
// after the join needs its exact value, so the second path is pruned at the
// join; in the "precise" twin a branch decided by it, or pointer arithmetic
// with it, makes the verifier backtrack and mark it precise in the join's
// checkpoint, so the second path is walked again. Both are accepted; what
// differs is the processed-insn count (compared with the kernel's by
// test/differential/kernel_precision.test.ts).
import type { VerifierCase } from "./case.ts";

/** Insns before the branch: enough work that the join gets a checkpoint (2 jumps and 8 insns since the last). */
const PRELUDE = "r8 = 0\nr9 = 0\nr8 = 0\nr9 = 0\ncall bpf_get_prandom_u32#7\nr6 = r0\ncall bpf_get_prandom_u32#7\n";
/** Register r7 = 1 or 2, then the join. */
const REG_ARMS = "if r0 > 10 goto pc+2\nr7 = 1\ngoto pc+1\nr7 = 2\n";
/** fp-8 = 1 or 2 (a spilled scalar), r7 dead, then the join. */
const SPILL_ARMS = "if r0 > 10 goto pc+3\nr7 = 1\n*(u64 *)(r10 -8) = r7\ngoto pc+2\nr7 = 2\n*(u64 *)(r10 -8) = r7\n";
/** After the join: more branches, so the join's checkpoint is compared. */
const JOIN = "r0 = r6\nr0 &= 1\nif r0 == 0 goto pc+1\nr0 = 1\nr0 = 3\nr0 = 4\n";
/** Uses that need no exact value. */
const LOOSE = "r0 = r7\nr0 &= 0\nr0 += 2\nexit";
/** A branch decided by r7's value: r7 must be precise. */
const DECIDE = "if r7 != 1 goto pc+1\nr0 = 3\nr0 = 2\nexit";

/** Pairs by name: [imprecise, precise]; both accepted, retval 2. */
export const PRECISION_PAIRS: ReadonlyArray<readonly [string, string]> = [
  ["precision/register unused exactly prunes at the join", "precision/register deciding a branch is precise at the join"],
  ["precision/spilled scalar unused exactly prunes at the join", "precision/spilled scalar deciding a branch is precise at the join"],
  ["precision/register unused exactly prunes (pointer twin)", "precision/register added to a pointer is precise at the join"],
];

export const PRECISION_CASES: VerifierCase[] = [
  { name: PRECISION_PAIRS[0]![0], asm: PRELUDE + REG_ARMS + JOIN + LOOSE, result: "ACCEPT", retval: 2 },
  { name: PRECISION_PAIRS[0]![1], asm: PRELUDE + REG_ARMS + JOIN + DECIDE, result: "ACCEPT", retval: 2 },
  {
    name: PRECISION_PAIRS[1]![0], asm: PRELUDE + SPILL_ARMS + "r7 = 0\n" + JOIN + "r7 = *(u64 *)(r10 -8)\n" + LOOSE,
    result: "ACCEPT", retval: 2,
  },
  {
    name: PRECISION_PAIRS[1]![1], asm: PRELUDE + SPILL_ARMS + "r7 = 0\n" + JOIN + "r7 = *(u64 *)(r10 -8)\n" + DECIDE,
    result: "ACCEPT", retval: 2,
  },
  {
    name: PRECISION_PAIRS[2]![0], asm: "*(u64 *)(r10 -16) = 0\n*(u64 *)(r10 -8) = 0\n" + PRELUDE + REG_ARMS + JOIN +
      "r1 = r10\nr1 += -16\nr1 += 1\n" + "r0 = *(u8 *)(r1 +0)\n" + LOOSE.replace("r0 = r7\n", "r0 = r7\nr0 += r0\n"),
    result: "ACCEPT", retval: 2,
  },
  {
    name: PRECISION_PAIRS[2]![1], asm: "*(u64 *)(r10 -16) = 0\n*(u64 *)(r10 -8) = 0\n" + PRELUDE + REG_ARMS + JOIN +
      "r1 = r10\nr1 += -16\nr1 += r7\n" + "r0 = *(u8 *)(r1 +0)\n" + LOOSE.replace("r0 = r7\n", "r0 = r7\nr0 += r0\n"),
    result: "ACCEPT", retval: 2,
  },
];
