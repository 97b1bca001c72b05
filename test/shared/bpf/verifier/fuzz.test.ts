// Bounded malformed-input fuzz of the verifier (through BpfKernel.progLoad):
// random bytes as instructions, random opcodes with wild operands, truncated
// ld_imm64, mutated corpus programs and huge programs all give an errno and a
// log, or an accepted program that runs without a runtime fault; never an
// exception or a hang. Fixed seed; test/long/fuzz_verifier.ts runs 100k+.
import { describe, expect, it } from "vitest";
import { errnoName, E2BIG } from "../../../../shared/errno.ts";
import { checkFuzzInput, emptyFuzzCounts, fuzzInput, hugeInput } from "./corpus/fuzz_inputs.ts";
import { mulberry32 } from "../../../helpers/prng.ts";
import { runOurs } from "./corpus/ours.ts";

const CI_INPUTS = 3000;

describe("verifier fuzz", () => {
  it(`${CI_INPUTS} malformed inputs give errno + log or a safe program, never an exception`, () => {
    const rnd = mulberry32(0xf022);
    const counts = emptyFuzzCounts();
    for (let i = 0; i < CI_INPUTS; i++) checkFuzzInput(fuzzInput(rnd), counts);
    console.log(`fuzz: ${counts.inputs} inputs, ${counts.accepted} accepted, ${counts.rejected} rejected ` +
      `(${[...counts.errnos].map(([e, n]) => `${errnoName(e)} ${n}`).join(", ")}), ${counts.failures.length} failures`);
    expect(counts.failures.slice(0, 5)).toEqual([]);
    expect(counts.rejected).toBeGreaterThan(CI_INPUTS / 2);
  }, 300_000);

  it("a program of 1000001 insns is refused with E2BIG and a log", () => {
    const f = hugeInput(mulberry32(1), 0);
    const v = runOurs(f.kind, f.insns, f.maps, null);
    expect(errnoName(v.errno)).toBe(errnoName(E2BIG));
    expect(v.log.length).toBeGreaterThan(0);
  }, 300_000);

  for (const which of [1, 2]) {
    it(`huge input ${which === 1 ? "of 2000 random programs back to back" : "with 20000 pending branches"} ends with errno + log or a safe program`, () => {
      const counts = emptyFuzzCounts();
      checkFuzzInput(hugeInput(mulberry32(which), which), counts);
      expect(counts.failures).toEqual([]);
    }, 300_000);
  }
});
