// Paths shared by tests: the repo root, the sample programs, ../shared beside the repo.
import path from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const PROGRAMS_DIR = path.join(REPO_ROOT, "scenarios/programs");
export const SHARED_DIR = path.resolve(REPO_ROOT, "../shared");
export const VXO_BIN = path.join(REPO_ROOT, "bin/vxo.js");

/**
 * Sample objects that walk the verifier's whole 1M-insn budget (seconds in the kernel, longer
 * here): suites that verify every sample skip them; test/integration/verify_offthread.test.ts
 * cancels one mid-verification and test/long/verify_budget.ts runs one to its E2BIG.
 */
export const BUDGET_SAMPLES: Readonly<Record<string, string>> = {
  "xdp_spin.o": "walks the whole 1M-insn budget before E2BIG (see test/long/verify_budget.ts)",
  "xdp_branchy.o": "48 branches on packet bytes, none prunable: walks the whole 1M-insn budget before E2BIG",
};

/**
 * Sample objects the kernel side cannot load for reasons outside the verifier: the kernel
 * differentials leave them out, and test/differential/kernel_verifier.test.ts checks that the
 * reason still holds (bpftool fails on the object, our loader opens it).
 */
export const KERNEL_CANNOT_OPEN: Readonly<Record<string, string>> = {
  "xdp_legacy_maps.o": "legacy SEC(\"maps\") definitions: libbpf 1.x (bpftool 7) refuses the object before any BPF_PROG_LOAD",
};
