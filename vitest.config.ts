import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two cores: the kernel differential suite spawns bpftool and vxo processes.
    maxWorkers: 2,
  },
});
