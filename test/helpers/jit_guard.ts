// Vitest setup file (vitest.config.ts): after each test file, no JIT compile
// error may have happened in it. A failure to compile falls back to the
// interpreter, so a JIT bug would otherwise pass every differential check and
// show only as a slowdown (jit_cache.ts, jitStats). Child processes (vxo, host,
// guest) report theirs as a VXO_JIT_COMPILE_ERROR warning on stderr.
import { afterAll, expect } from "vitest";
import { jitStats } from "../../shared/bpf/jit/jit_cache.ts";

afterAll(() => {
  expect(jitStats.compileErrors, `JIT compile errors (last: ${JSON.stringify(jitStats.lastError)})`).toBe(0);
});
