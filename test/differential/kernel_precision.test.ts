// Processed-instruction counts against the Linux kernel's: precision tracking
// and state pruning (kernel/bpf/verifier.c mark_chain_precision, regsafe,
// stacksafe, clean_live_states) decide how many insns a verification walks,
// so `processed N insns` is the figure users compare with `bpftool prog load
// -d`. Every sample object and every corpus case both verifiers accept must
// be within 10% of the kernel's bpf_prog_info.verified_insns (raw
// BPF_PROG_LOAD, test/helpers/bpf_load_raw.c); the selftests-style precision
// pairs (corpus/precision.ts) must prune where the kernel prunes: the
// imprecise twin walks fewer insns than the precise one, in both.
// Skips (loudly) when not root or gcc is missing; under CI=true that is a failure.
import { describe, expect, it, beforeAll } from "vitest";
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { openObject } from "../../shared/bpf/libbpf/object.ts";
import { CORPUS } from "../shared/bpf/verifier/corpus/index.ts";
import { caseInsns, rawCaseOf } from "../shared/bpf/verifier/corpus/case.ts";
import { PRECISION_PAIRS } from "../shared/bpf/verifier/corpus/precision.ts";
import { loadObjectProgOurs, rawObjectProg, runCaseOurs } from "../shared/bpf/verifier/corpus/ours.ts";
import { kernelLoadRaw, rawLoaderUnavailable, type RawResult } from "../helpers/raw_loader.ts";
import { BUDGET_SAMPLES, PROGRAMS_DIR } from "../helpers/repo.ts";

/** How far our count may be from the kernel's (issue 13: within 10%). */
const TOLERANCE = 0.1;

const unavailable = rawLoaderUnavailable();
if (unavailable !== null) {
  console.warn(`\n*** KERNEL PROCESSED-INSNS DIFFERENTIAL SKIPPED: ${unavailable} ***\n`);
  if (process.env.CI === "true") throw new Error(`kernel processed-insns differential cannot run under CI: ${unavailable}`);
}

/** Our processed-insn count for a corpus case, or null when we reject it. */
function oursProcessed(name: string): number | null {
  const c = CORPUS.find((x) => x.name === name)!;
  const o = runCaseOurs(c);
  return o.load.prog?.verifierStats?.processedInsns ?? null;
}

const within = (ours: number, kernel: number): boolean => Math.abs(ours - kernel) <= TOLERANCE * kernel;

describe("precision pairs prune in our verifier", () => {
  for (const [loose, tight] of PRECISION_PAIRS) {
    it(`${loose} < ${tight}`, () => {
      const a = oursProcessed(loose), b = oursProcessed(tight);
      expect(a, loose).not.toBeNull();
      expect(b, tight).not.toBeNull();
      expect(a!, `${loose} (${a}) vs ${tight} (${b})`).toBeLessThan(b!);
    });
  }
});

describe.skipIf(unavailable !== null)("processed insns against the Linux kernel", () => {
  // slow cases (1M insns) are left to kernel_verifier.test.ts: loading them twice in one run starves parallel suites
  const accepted = CORPUS.filter((c) => !c.slow && (c.result === "ACCEPT" || c.kernel?.some((a) => a.result === "ACCEPT") === true));
  let kernel: RawResult[] = [];
  beforeAll(async () => {
    kernel = await kernelLoadRaw(accepted.map((c) => rawCaseOf(c, caseInsns(c))));
  }, 300_000);

  const samples = readdirSync(PROGRAMS_DIR).filter((f) => f.endsWith(".o") && BUDGET_SAMPLES[f] === undefined).sort();
  for (const obj of samples) {
    it(`${obj}: within ${TOLERANCE * 100}% of the kernel's processed insns`, async () => {
      const spec = openObject(readFileSync(path.join(PROGRAMS_DIR, obj)), { file: obj });
      for (const ps of spec.progs.filter((p) => p.autoload)) {
        const [k] = await kernelLoadRaw([{ name: ps.name, ...rawObjectProg(spec, ps) }]);
        const { load } = loadObjectProgOurs(spec, ps);
        if (k!.errno !== 0 || load.prog === null) {
          // verdicts are judged by kernel_verifier.test.ts; counts only mean something for accepted programs
          expect(load.prog === null, `${obj} ${ps.name}: verdicts differ`).toBe(k!.errno !== 0);
          continue;
        }
        const ours = load.prog.verifierStats!.processedInsns;
        console.log(`${obj} ${ps.name}: processed ours ${ours}, kernel ${k!.verifiedInsns}`);
        expect(within(ours, k!.verifiedInsns), `${obj} ${ps.name}: ours ${ours} vs kernel ${k!.verifiedInsns}`).toBe(true);
      }
    });
  }

  it("live registers before each insn (compute_live_registers(), which pruning relies on) as the kernel lists them at log level 2", async () => {
    const live = (log: string): string[] => log.split("\n").filter((l) => /^ +\d+: [.0-9]{10} /.test(l)).map((l) => l.slice(0, 20));
    let compared = 0;
    for (const obj of samples) {
      const spec = openObject(readFileSync(path.join(PROGRAMS_DIR, obj)), { file: obj });
      for (const ps of spec.progs.filter((p) => p.autoload)) {
        const [k] = await kernelLoadRaw([{ name: ps.name, ...rawObjectProg(spec, ps), logLevel: 2, logSize: 64 << 20 }]);
        const { load } = loadObjectProgOurs(spec, ps, 2);
        const kl = live(k!.log);
        if (kl.length === 0) continue; // rejected before the listing (the verdict differential judges it)
        expect(live((load.log ?? []).join("\n")), `${obj} ${ps.name}`).toEqual(kl);
        compared++;
      }
    }
    expect(compared).toBeGreaterThan(5);
  });

  it(`corpus cases both accept: within ${TOLERANCE * 100}% of the kernel's processed insns`, () => {
    const off: string[] = [];
    let judged = 0;
    accepted.forEach((c, i) => {
      const k = kernel[i]!;
      if (k.errno !== 0) return; // a version-dependent answer: the verdict differential reports it
      const ours = oursProcessed(c.name);
      if (ours === null) return;
      judged++;
      if (!within(ours, k.verifiedInsns)) off.push(`${c.name}: ours ${ours}, kernel ${k.verifiedInsns}`);
    });
    console.log(`corpus: ${judged} accepted cases compared, ${off.length} outside ${TOLERANCE * 100}%`);
    expect(judged).toBeGreaterThan(100);
    expect(off).toEqual([]);
  });

  it("precision pairs: the kernel prunes the imprecise twin, and our counts equal the kernel's", () => {
    for (const [loose, tight] of PRECISION_PAIRS) {
      const kl = kernel[accepted.findIndex((c) => c.name === loose)]!, kt = kernel[accepted.findIndex((c) => c.name === tight)]!;
      expect(kl.errno, loose).toBe(0);
      expect(kt.errno, tight).toBe(0);
      expect(kl.verifiedInsns, `kernel: ${loose} vs ${tight}`).toBeLessThan(kt.verifiedInsns);
      expect([oursProcessed(loose), oursProcessed(tight)], `${loose} / ${tight}`).toEqual([kl.verifiedInsns, kt.verifiedInsns]);
    }
  });
});
