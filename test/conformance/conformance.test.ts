// Runs every .data vector of shared/conformance/{bpf_conformance,ubpf} through the
// raw runner (structural checks + reference interpreter + uBPF test helpers).
// Counterparts: uBPF test_framework/test_vm.py and test_assembler.py,
// bpf_conformance lib/src/bpf_conformance.cc. Test names are paths relative to
// conformance/; error vectors also show our errno and message.
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { errnoName } from "../../shared/errno.ts";
import { assemble } from "../../shared/bpf/isa/asm.ts";
import { checkStructure } from "../../shared/bpf/verifier/structural.ts";
import { disasmData } from "../../shared/bpf/isa/disasm.ts";
import { findDataFiles, insnsToRaw, rawToInsns, readDataFile, vectorInsns } from "../helpers/data_file.ts";
import type { DataVector } from "../helpers/data_file.ts";
import { BpfInsns } from "../../shared/bpf/isa/insn.ts";
import { jitRunOnSharedMemory, runRaw } from "../helpers/run_raw.ts";
import type { RawResult } from "../helpers/run_raw.ts";
import type { BpfEngine } from "../../shared/bpf/runtime/engine.ts";
import { interpRun } from "../../shared/bpf/runtime/interp.ts";
import { jitRun } from "../../shared/bpf/runtime/engine.ts";
import { KNOWN_DIFFERENCES } from "./known_differences.ts";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const root = path.resolve(repoRoot, "../shared/conformance");
const NO_MEM = new Uint8Array(0);

function describeResult(r: RawResult): string {
  return "r0" in r ? `r0=0x${r.r0.toString(16)}` : `${errnoName(r.errno)}: ${r.message}`;
}

/** Every vector runs on both engines; the JIT must give the interpreter's result, faults included. */
const ENGINES: ReadonlyArray<readonly [string, BpfEngine]> = [["interp", interpRun], ["jit", jitRun],
  ["jit-shared-memory", jitRunOnSharedMemory]];

function run(v: DataVector, insns: BpfInsns, engine: BpfEngine = interpRun): RawResult {
  return runRaw(insns, v.mem ?? NO_MEM, "ubpf", engine);
}

/**
 * What the uBPF harness (test_vm.py) checks: the error text first, then r0. When a vector
 * has both, uBPF prints its error and r0 is either ubpf_exec()'s -1 after a runtime fault or
 * the value a VM without the check would compute; Linux rejects or faults all of them, so
 * the error wins.
 */
function expectsError(v: DataVector): boolean {
  return v.error !== undefined || v.errorPattern !== undefined;
}

if (!existsSync(root)) {
  console.warn(`conformance vectors not found at ${root}: the conformance suite is SKIPPED`);
  describe("conformance", () => {
    it.skip(`vectors folder ${root} is absent`, () => {});
  });
} else {
  const files = findDataFiles(root);

  describe("known differences", () => {
    it("name existing vectors, and every pyelf vector is listed", () => {
      const rel = new Set(files.map((f) => path.relative(root, f)));
      for (const k of KNOWN_DIFFERENCES.keys()) expect(rel.has(k), k).toBe(true);
      const pyelf = files.filter((f) => readDataFile(f).pyelf !== undefined).map((f) => path.relative(root, f));
      expect(pyelf.length).toBe(21);
      for (const k of pyelf) expect(KNOWN_DIFFERENCES.get(k)?.kind, k).toBe("skip");
      // Every vector not run below is one of those, with its reason.
      const notRun = files.filter((f) => vectorInsns(readDataFile(f)) === undefined).map((f) => path.relative(root, f));
      for (const k of notRun) expect(KNOWN_DIFFERENCES.get(k)?.kind, `${k} has no program and no listed reason`).toBe("skip");
    });
  });

  describe("vectors", () => {
    for (const file of files) {
      const rel = path.relative(root, file);
      const v = readDataFile(file);
      const known = KNOWN_DIFFERENCES.get(rel);
      const insns = vectorInsns(v);

      // Vectors with no program to run (uBPF's pyelf ELF cases): accounted for by "known differences" above.
      if (known?.kind === "skip" || insns === undefined) continue;

      if (v.asm !== undefined && v.raw !== undefined) {
        it(`${rel} assembles to its raw section and round-trips through disasmData`, () => {
          expect(insnsToRaw(assemble(v.asm!))).toEqual(v.raw);
          const p = rawToInsns(v.raw!);
          expect(assemble(disasmData(p)).toBytes()).toEqual(p.toBytes());
        });
      }

      if (known?.kind === "inverted") {
        it(`${rel} (inverted: uBPF policy, Linux behaviour asserted; see known_differences.ts)`, () => invertedCase(rel, v, insns));
        continue;
      }

      if (expectsError(v)) {
        // Collection-time run: the name carries our reason (uBPF's exact text is uBPF's own).
        const r = run(v, insns);
        it(`${rel} fails as expected [${describeResult(r)}]`, () => {
          expect(r.errno, `uBPF expects: ${v.error ?? v.errorPattern}`).toBeGreaterThan(0);
          if ("message" in r) expect(r.message).not.toBe("");
          expect(describeResult(run(v, insns, jitRun)), "jit").toBe(describeResult(r));
          expect(describeResult(run(v, insns, jitRunOnSharedMemory)), "jit-shared-memory").toBe(describeResult(r));
        });
        continue;
      }

      if (v.result !== undefined) {
        it(rel, () => {
          for (const [name, engine] of ENGINES) {
            const r = run(v, insns, engine);
            expect(describeResult(r), name).toBe(`r0=0x${v.result!.toString(16)}`);
            if (v.unload) {
              // "-- unload": unload, then load and run the same code again.
              expect(describeResult(run(v, insns, engine)), name).toBe(`r0=0x${v.result!.toString(16)}`);
            }
          }
        });
      }
    }
  });
}

/** The Linux behaviour for vectors that encode uBPF policy (see known_differences.ts). */
function invertedCase(rel: string, v: DataVector, insns: BpfInsns): void {
  for (const [, engine] of ENGINES) invertedCaseOn(rel, v, insns, engine);
}

function invertedCaseOn(rel: string, v: DataVector, insns: BpfInsns, engine: BpfEngine): void {
  const run = (vv: DataVector, ii: BpfInsns) => runRaw(ii, vv.mem ?? NO_MEM, "ubpf", engine);
  switch (rel) {
    case "ubpf/errors/err-unknown-opcode.data":
      expect(insns.code[0]).toBe(0x06);
      expect(describeResult(run(v, insns))).toBe("r0=0x0");
      return;
    case "ubpf/errors/err-lddw-invalid-src.data": {
      const r = run(v, insns);
      expect(r.errno).not.toBe(0);
      // It has no exit either: the kernel's order reports that first (check_subprogs runs before resolve_pseudo_ldimm64).
      expect("message" in r ? r.message : "").toMatch(/unresolved map|last insn is not an exit or jmp/);
      // The same lddw src=1 (BPF_PSEUDO_MAP_FD) followed by exit passes the structural checks once maps are resolved.
      const withExit = BpfInsns.concat([insns, BpfInsns.fromTuples([[0x95, 0, 0, 0, 0]])]);
      expect(insns.src[0]).toBe(1);
      expect(checkStructure(withExit, { allowPseudoLdImm64: true })).toBeNull();
      return;
    }
    case "ubpf/reload.data":
      expect(v.reload).toBe(true);
      expect(describeResult(run(v, insns))).toBe("r0=0x0");
      expect(describeResult(run(v, insns))).toBe("r0=0x0");
      return;
    default:
      throw new Error(`no inverted expectation written for ${rel}`);
  }
}
