// Differential test of our verifier against the Linux kernel's: every corpus
// case (test/shared/bpf/verifier/corpus) through the raw BPF_PROG_LOAD driver
// (test/helpers/bpf_load_raw.c) and through BpfKernel.progLoad, every sample
// object through `bpftool prog loadall` and our libbpf-style load, and a
// sample of generated programs. Same verdict everywhere; for rejections the
// same errno and a first error line naming the same fault; accepted corpus
// programs return the same value on their packet. Deliberate differences are
// listed in test/shared/bpf/verifier/corpus/deliberate.ts with reasons; false accepts
// (we accept, the kernel rejects) have no exception list. Cases whose kernel
// answer changed between versions record it per version range (case.ts
// KernelAnswer): the running kernel (uname -r) is judged by its version, and
// an answer recorded for no range covering it is reported by name, not failed
// (judge.ts judgeAgainstKernel). Helper availability is a property of the
// kernel build, not of its version: every helper id the corpus calls is probed
// once (test/helpers/helper_probe.ts, as `bpftool feature probe`), and a case
// (sample object, generated program) the kernel refuses for a helper the probe
// found not offered is not judged: it is reported by name and helper, as
// "this kernel does not offer bpf_x to XDP programs". Any other false accept fails.
// Skips (loudly) when not root or gcc/bpftool are missing; under CI=true that is a failure.
import { describe, expect, it, beforeAll } from "vitest";
import { execa } from "execa";
import { readFileSync, readdirSync } from "node:fs";
import { release } from "node:os";
import path from "node:path";
import { openObject, type BpfObjectSpec } from "../../shared/bpf/libbpf/object.ts";
import { errnoName } from "../../shared/errno.ts";
import { CORPUS } from "../shared/bpf/verifier/corpus/index.ts";
import { caseHelpers, caseInsns, rawCaseOf, PKT_UDP4 } from "../shared/bpf/verifier/corpus/case.ts";
import { DELIBERATE } from "../shared/bpf/verifier/corpus/deliberate.ts";
import {
  judgeAgainstKernel, sameFault, unofferedHelperRejection, unofferedReport, unrecordedKernelAnswer,
} from "../shared/bpf/verifier/corpus/judge.ts";
import {
  helperIdsCalled, notOfferedHelperId, notOfferedMessage, probeHelpers, type HelperProbe, type HelperProbes,
} from "../helpers/helper_probe.ts";
import { formatKernelVersion, runningKernelVersion } from "../helpers/kernel_version.ts";
import { loadObjectProgOurs, runCaseOurs, runOurs } from "../shared/bpf/verifier/corpus/ours.ts";
import { generateProgram } from "../shared/bpf/verifier/corpus/random_progs.ts";
import { mulberry32 } from "../helpers/prng.ts";
import { firstErrorLine, kernelLoadRaw, rawLoaderUnavailable, type RawResult } from "../helpers/raw_loader.ts";
import { kernelOracleUnavailable } from "../helpers/kernel_oracle.ts";
import { BUDGET_SAMPLES, KERNEL_CANNOT_OPEN, PROGRAMS_DIR, REPO_ROOT } from "../helpers/repo.ts";

/** The running kernel's version: the corpus records some answers per version range. */
const KV = runningKernelVersion();

/** Generated programs also loaded into the kernel for false-accept hunting. */
const GENERATED_SAMPLE = 400;

const unavailable = rawLoaderUnavailable() ?? kernelOracleUnavailable(REPO_ROOT);
if (unavailable !== null) console.warn(`\n*** KERNEL VERIFIER DIFFERENTIAL SKIPPED: ${unavailable} ***\n`);

/** `bpftool prog loadall OBJ`: errno of the first failing program (0 when all load) and its verifier log. */
async function kernelLoadObject(obj: string): Promise<{ errno: number; prog: string; log: string }> {
  const pin = `/sys/fs/bpf/vxo-kv-${process.pid}-${path.basename(obj, ".o")}`;
  const r = await execa("bpftool", ["prog", "loadall", obj, pin, "type", "xdp"], { reject: false });
  await execa("rm", ["-rf", pin], { reject: false });
  if (r.exitCode === 0) return { errno: 0, prog: "", log: "" };
  const failed = /prog '([^']+)': failed to load: -(\d+)/.exec(r.stderr);
  const log = /-- BEGIN PROG LOAD LOG --\n([\s\S]*?)-- END PROG LOAD LOG --/.exec(r.stderr);
  if (failed === null) throw new Error(`bpftool failed without a program load error: ${r.stderr}`);
  return { errno: Number(failed[2]), prog: failed[1]!, log: log === null ? "" : log[1]! };
}

/** The helper a kernel rejection refuses as not offered, when the probe established it; else null. */
function unofferedByProbe(kernel: { errno: number; log: string }, probes: HelperProbes): HelperProbe | null {
  if (kernel.errno === 0) return null;
  const id = notOfferedHelperId(firstErrorLine(kernel.log));
  const p = id === null ? undefined : probes.get(id);
  return p !== undefined && !p.offered ? p : null;
}

/** Asserts our verdict matches the kernel's (verdict, errno, same fault). */
function expectSameVerdict(what: string, kernel: { errno: number; log: string }, ours: { errno: number; log: string | readonly string[] }): void {
  if (kernel.errno !== 0 && ours.errno === 0) {
    expect.fail(`${what}: FALSE ACCEPT: the kernel rejects (${errnoName(kernel.errno)}: ${firstErrorLine(kernel.log)}) and we accept`);
  }
  expect(ours.errno === 0 ? "ACCEPT" : "REJECT", `${what}: ${firstErrorLine(ours.log)}`).toBe(kernel.errno === 0 ? "ACCEPT" : "REJECT");
  if (kernel.errno === 0) return;
  expect(errnoName(ours.errno), what).toBe(errnoName(kernel.errno));
  const o = firstErrorLine(ours.log), k = firstErrorLine(kernel.log);
  // Rejections before the verifier runs (insn_cnt over the limit, empty program) leave the kernel's log empty.
  if (k !== "") expect(sameFault(o, k), `${what}: ours "${o}" vs kernel "${k}"`).toBe(true);
}

describe.skipIf(unavailable !== null)("verifier differential against the Linux kernel", () => {
  let kernel: RawResult[] = [];
  /** The running kernel's answer for every helper id the corpus calls (probed once, cached). */
  let probes: HelperProbes = new Map();
  beforeAll(async () => {
    const insns = CORPUS.map((c) => caseInsns(c));
    probes = await probeHelpers(CORPUS.flatMap((c, i) => caseHelpers(c, insns[i])));
    kernel = await kernelLoadRaw(CORPUS.map((c, i) => rawCaseOf(c, insns[i])));
  }, 300_000);

  it(`every corpus case: the kernel's answer is recorded for ${formatKernelVersion(KV)}, or reported by name`, (ctx) => {
    const fails: string[] = [], reports: string[] = [];
    const notJudged: Array<{ name: string; helper: HelperProbe }> = [];
    CORPUS.forEach((c, i) => {
      const k = kernel[i]!;
      if (k.mapErrno !== 0) {
        fails.push(`${c.name}: map creation failed: ${errnoName(k.mapErrno)}`);
        return;
      }
      const gone = unofferedHelperRejection(c, k, KV, probes);
      if (gone !== null) {
        notJudged.push({ name: c.name, helper: gone });
        return;
      }
      const r = unrecordedKernelAnswer(c, k, KV);
      if (r !== null) reports.push(r);
    });
    if (reports.length > 0) {
      console.warn(`\n*** ${reports.length} kernel answer(s) not recorded for Linux ${release()} (reported, not failed):\n  ${reports.join("\n  ")}\n`);
    }
    for (const line of unofferedReport(notJudged)) {
      console.warn(`\n*** ${line}\n`);
      void ctx.annotate(line, "warning");
    }
    expect(fails).toEqual([]); // verdicts against ours: one test per case below
  });

  it("the helper probe: every helper id the corpus calls was probed, and the kernel's own refusals agree with it", () => {
    expect(probes.size).toBeGreaterThan(5);
    CORPUS.forEach((c, i) => {
      const id = notOfferedHelperId(firstErrorLine(kernel[i]!.log));
      if (kernel[i]!.errno === 0 || id === null) return;
      // A case refused at a helper's prototype lookup: the probe must have found that helper not offered.
      expect(probes.get(id)?.offered, `${c.name}: kernel refused helper #${id}; probe says`).toBe(false);
    });
  });

  it("deliberate differences name existing cases and never excuse a false accept", () => {
    for (const [name, d] of Object.entries(DELIBERATE)) {
      const i = CORPUS.findIndex((c) => c.name === name);
      expect(i, name).toBeGreaterThanOrEqual(0);
      expect(d.reason.length, name).toBeGreaterThan(20);
      if (kernel[i]!.errno !== 0) expect(d.result, `${name}: the kernel rejects, we may not accept`).toBe("REJECT");
    }
  });

  CORPUS.forEach((c, i) => {
    it(`${c.name}: same verdict as the kernel`, { timeout: c.slow ? 300_000 : 60_000 }, (ctx) => {
      const k = kernel[i]!;
      expect(k.mapErrno, `${c.name}: map creation`).toBe(0);
      const ours = runCaseOurs(c);
      expect(ours.runFault, c.name).toBe("");
      const j = judgeAgainstKernel(c, k, ours, KV, DELIBERATE[c.name], probes);
      if (j.kind === "fail") expect.fail(j.why);
      if (j.kind === "unoffered") {
        console.warn(`*** NOT JUDGED: ${j.why}`);
        void ctx.annotate(`not judged: ${j.why}`, "warning");
      }
      if (j.kind === "report") {
        console.warn(`*** NOT RECORDED: ${j.why}`);
        void ctx.annotate(`not recorded for this kernel: ${j.why}`, "warning");
      }
    });
  });

  const objects = readdirSync(PROGRAMS_DIR).filter((f) => f.endsWith(".o")).sort();
  it("covers every sample object", () => {
    expect(objects.length).toBeGreaterThanOrEqual(5);
  });
  for (const obj of objects) {
    if (KERNEL_CANNOT_OPEN[obj] !== undefined) {
      // Left out of every kernel differential: the reason must still hold on this bpftool.
      it(`${obj}: the kernel side cannot open it (${KERNEL_CANNOT_OPEN[obj]}); ours can`, async () => {
        const objPath = path.join(PROGRAMS_DIR, obj);
        const pin = `/sys/fs/bpf/vxo-kv-${process.pid}-open`;
        const r = await execa("bpftool", ["prog", "loadall", objPath, pin, "type", "xdp"], { reject: false });
        await execa("rm", ["-rf", pin], { reject: false });
        expect(r.exitCode, r.stderr).not.toBe(0);
        expect(r.stderr).not.toMatch(/-- BEGIN PROG LOAD LOG --/); // refused before any BPF_PROG_LOAD
        const spec = openObject(readFileSync(objPath), { file: objPath });
        expect(spec.maps.length).toBeGreaterThan(0);
        for (const ps of spec.progs.filter((p) => p.autoload)) expect(loadObjectProgOurs(spec, ps).load.errno, ps.name).toBe(0);
      });
      continue;
    }
    if (BUDGET_SAMPLES[obj] !== undefined) {
      // The other kernel differentials leave these out (seconds each on both sides): judged once here.
      it(`${obj}: ${BUDGET_SAMPLES[obj]}; E2BIG on both sides`, async () => {
        const objPath = path.join(PROGRAMS_DIR, obj);
        const spec = openObject(readFileSync(objPath), { file: objPath });
        // libbpf prints the whole log first (700,000 lines for xdp_spin): read its load-failed line only.
        const pin = `/sys/fs/bpf/vxo-kv-${process.pid}-budget`;
        const r = await execa("bpftool", ["prog", "loadall", objPath, pin, "type", "xdp"], { reject: false, maxBuffer: 1e9 });
        await execa("rm", ["-rf", pin], { reject: false });
        const failed = /prog '([^']+)': BPF program load failed: ([^\n]+)/.exec(r.stderr);
        expect(failed, r.stderr.slice(0, 300)).not.toBeNull();
        expect(failed![2]).toBe("Argument list too long"); // strerror(E2BIG)
        const { load } = loadObjectProgOurs(spec, spec.progs.find((p) => p.name === failed![1])!, 0);
        expect(errnoName(load.errno)).toBe("E2BIG");
      }, 120_000);
      continue;
    }
    it(`${obj}: same verdict as bpftool prog loadall`, async (ctx) => {
      const objPath = path.join(PROGRAMS_DIR, obj);
      const spec: BpfObjectSpec = openObject(readFileSync(objPath), { file: objPath });
      const k = await kernelLoadObject(objPath);
      for (const ps of spec.progs.filter((p) => p.autoload)) {
        const { load } = loadObjectProgOurs(spec, ps);
        const ours = load.prog === null ? { errno: load.errno, log: load.log } : { errno: 0, log: [] };
        if (k.errno !== 0 && k.prog !== ps.name) continue; // the kernel stopped at another program
        const gone = unofferedByProbe(k, await probeHelpers(helperIdsCalled(ps.insns), ps.progType));
        if (gone !== null) {
          const why = `${obj} ${ps.name}: ${notOfferedMessage(gone)}: not judged`;
          console.warn(`*** NOT JUDGED: ${why}`);
          void ctx.annotate(why, "warning");
          break;
        }
        expectSameVerdict(`${obj} ${ps.name}`, k.errno !== 0 ? k : { errno: 0, log: "" }, ours);
        if (k.errno !== 0) break;
      }
    });
  }

  it(`generated programs: no false accepts in a sample of ${GENERATED_SAMPLE}`, async () => {
    const rnd = mulberry32(0x5eed);
    const progs = Array.from({ length: GENERATED_SAMPLE }, (_, i) => generateProgram(rnd, { brokenRate: 0.5, name: `gen${i}` }));
    const kr = await kernelLoadRaw(progs.map((g) => ({ name: g.name, insns: g.insns, maps: g.maps, data: PKT_UDP4 })));
    const genProbes = await probeHelpers(progs.flatMap((g) => helperIdsCalled(g.insns)));
    const falseAccepts: string[] = [], notJudged: Array<{ name: string; helper: HelperProbe }> = [];
    let falseRejects = 0;
    progs.forEach((g, i) => {
      const gone = unofferedByProbe(kr[i]!, genProbes);
      if (gone !== null) {
        notJudged.push({ name: g.name, helper: gone });
        return;
      }
      const ours = runOurs(g.name, g.insns, g.maps, null);
      if (kr[i]!.errno !== 0 && ours.errno === 0) falseAccepts.push(`${g.name} (${g.broken}): kernel says ${firstErrorLine(kr[i]!.log)}`);
      if (kr[i]!.errno === 0 && ours.errno !== 0) falseRejects++;
    });
    for (const line of unofferedReport(notJudged)) console.warn(`*** ${line}`);
    console.log(`generated sample: ${progs.length} programs, kernel accepted ${kr.filter((r) => r.errno === 0).length}, false rejects ${falseRejects}, false accepts ${falseAccepts.length}, not judged (helper not offered) ${notJudged.length}`);
    expect(falseAccepts).toEqual([]);
  }, 300_000);
});

describe.runIf(unavailable !== null && process.env.CI === "true")("verifier differential under CI", () => {
  it("has the kernel, root and gcc", () => {
    expect.fail(`CI must run the kernel verifier differential: ${unavailable}`);
  });
});
