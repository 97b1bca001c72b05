// Bounded runtime-safety fuzzing of the JIT in CI (test/long/fuzz_jit.ts runs
// 1M): random unverified programs through the interpreter and the JIT must
// agree on every verdict, fault and byte of memory, and never write outside
// their regions (canary check over the whole address space after every run).
import { describe, expect, it } from "vitest";
import { fuzz } from "./jit_fuzz.ts";

describe("JIT runtime safety (differential fuzzing against the interpreter)", () => {
  for (const seed of [1, 2, 3]) {
    it(`seed ${seed}: 200 generated programs x 8 packets agree with the interpreter and stay inside their regions`, () => {
      const s = fuzz(seed, 200, 8, 1);
      expect(s.mismatches).toEqual([]);
      expect(s.canaryViolations).toBe(0);
      // the generator must exercise the runtime checks, not only clean exits
      expect(s.programs).toBeGreaterThan(100);
      expect(s.faults).toBeGreaterThan(50);
      expect(s.runs - s.faults).toBeGreaterThan(50);
    }, 120_000);
  }
});
