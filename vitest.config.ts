import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    // Every test file fails if the JIT failed to compile a program while it ran.
    setupFiles: ["./test/helpers/jit_guard.ts"],
    hookTimeout: 60_000,
    // Two cores: the kernel differential suite spawns bpftool and vxo processes.
    maxWorkers: 2,
    // Tests spawn bin/vxo.js, which runs the bundle in dist/: rebuild it from the sources under test first.
    globalSetup: ["./bin/build.js"],
    // The default report, then one plain "N passed, N failed, N skipped" line for CI logs.
    reporters: ["default", "./test/helpers/plain_summary_reporter.ts"],
  },
});
