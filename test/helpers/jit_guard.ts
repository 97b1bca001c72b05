// Vitest setup file (vitest.config.ts): after each test file, no JIT compile
// error may have happened in it. A failure to compile falls back to the
// interpreter, so a JIT bug would otherwise pass every differential check and
// show only as a slowdown (jit_cache.ts, jitStats). VXO_JIT_STRICT=1 makes the
// error a throw instead, in this process and in the vxo, host and guest
// processes the tests start (they inherit the environment), so that the
// differential and integration suites fail on one too.
import { afterAll, expect } from "vitest";
import { jitStats } from "../../shared/bpf/jit/jit_cache.ts";

process.env.VXO_JIT_STRICT = "1";

afterAll(() => {
  expect(jitStats.compileErrors, `JIT compile errors (last: ${JSON.stringify(jitStats.lastError)})`).toBe(0);
});
