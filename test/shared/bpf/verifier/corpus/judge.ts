// Judging a verifier verdict against a corpus case: shared by the kernel
// check (test/long/verifier_corpus_kernel.ts, test/differential/kernel_verifier.test.ts)
// and our own (test/shared/bpf/verifier/corpus.test.ts). Also the "same fault" relation
// between our first error line and the kernel's, and the differential's
// judgement of the running kernel's answer by its version (judgeAgainstKernel).
import { errnoName } from "../../../../../shared/errno.ts";
import { firstErrorLine, type RawResult } from "../../../../helpers/raw_loader.ts";
import { formatKernelVersion, type KernelVersion } from "../../../../helpers/kernel_version.ts";
import { kernelAnswersFor, type KernelAnswer, type VerifierCase } from "./case.ts";
import type { DeliberateDifference } from "./deliberate.ts";

/** A verdict from either side: errno 0 = accepted. */
export interface Verdict {
  errno: number;
  log: string | readonly string[];
  retval: number | null;
}

/** Differences between a verdict and the case's expectations; empty when it matches. */
export function judge(c: VerifierCase, v: Verdict): string[] {
  const out: string[] = [];
  if (c.result === "ACCEPT") {
    if (v.errno !== 0) {
      out.push(`expected ACCEPT, got ${errnoName(v.errno)}: ${firstErrorLine(v.log)}`);
      return out;
    }
    if (c.retval !== undefined && v.retval !== c.retval) out.push(`expected retval ${c.retval}, got ${v.retval}`);
    return out;
  }
  if (v.errno === 0) {
    out.push(`expected REJECT ${c.errno === undefined ? "" : errnoName(c.errno)}, got ACCEPT`);
    return out;
  }
  if (c.errno !== undefined && v.errno !== c.errno) out.push(`expected ${errnoName(c.errno)}, got ${errnoName(v.errno)}`);
  const first = firstErrorLine(v.log);
  if (c.err !== undefined && !first.includes(c.err)) out.push(`first error line "${first}" lacks "${c.err}"`);
  return out;
}

/** A raw-loader result against the answers the case records for kernels of `version`: empty when recorded. */
export function judgeKernel(c: VerifierCase, r: RawResult, version: KernelVersion): string[] {
  if (r.mapErrno !== 0) return [`map creation failed: ${errnoName(r.mapErrno)}`];
  const u = unrecordedKernelAnswer(c, { errno: r.errno, log: r.log, retval: r.retval }, version);
  return u === null ? [] : [u];
}

/**
 * The fault a first error line names, with the parts that legitimately vary
 * between two correct verifiers removed: register state dumps in parentheses
 * (ids, ranges, tnums), "id=N" and trailing periods. Two lines name the same
 * fault when their signatures are equal.
 */
export function faultSignature(line: string): string {
  return line
    .replace(/\([^()]*\)/g, "()")
    .replace(/\bid=\d+/g, "id=")
    .replace(/[.\s]+$/, "")
    .trim();
}

/** True when our first error line and the kernel's name the same fault. */
export function sameFault(ours: string, kernel: string): boolean {
  return ours === kernel || faultSignature(ours) === faultSignature(kernel);
}

/** The case as our verifier should see it: the newest kernels' answer, or its listed deliberate difference. */
export function ourExpectation(c: VerifierCase, d: DeliberateDifference | undefined): VerifierCase {
  if (d === undefined) return c;
  return { ...c, result: d.result, errno: d.errno, err: d.err, retval: d.result === "ACCEPT" ? c.retval : undefined };
}

/**
 * The differential's verdict on one case: "fail" fails the test, "report"
 * names a kernel answer no record covers (a kernel of another version or
 * build: reported, not failed), "ok" otherwise.
 */
export type Judgement = { kind: "ok" } | { kind: "report" | "fail"; why: string };

function describe(v: Verdict): string {
  return v.errno === 0 ? `ACCEPT retval ${v.retval}` : `${errnoName(v.errno)}: ${firstErrorLine(v.log)}`;
}

function describeAnswer(a: KernelAnswer): string {
  if (a.result === "ACCEPT") return `ACCEPT${a.retval === undefined ? "" : ` retval ${a.retval}`} (${a.range})`;
  return `${a.errno === undefined ? "REJECT" : errnoName(a.errno)}${a.err === undefined ? "" : ` "${a.err}"`} (${a.range})`;
}

/** True when the kernel's answer is one recorded for kernels of its version. */
export function kernelAnswerRecorded(c: VerifierCase, kernel: Verdict, version: KernelVersion): boolean {
  return kernelAnswersFor(c, version).some((a) => judge({ ...c, ...a }, kernel).length === 0);
}

/** A kernel answer the case records for no range covering `version`, described by name; null when recorded. */
export function unrecordedKernelAnswer(c: VerifierCase, kernel: Verdict, version: KernelVersion): string | null {
  if (kernelAnswerRecorded(c, kernel, version)) return null;
  const recorded = kernelAnswersFor(c, version);
  const want = recorded.length === 0 ? "nothing recorded for this version" : recorded.map(describeAnswer).join(" or ");
  return `${c.name}: kernel ${formatKernelVersion(version)} answered ${describe(kernel)}; recorded: ${want}`;
}

/**
 * Judges the running kernel's answer and ours on a corpus case, by the
 * kernel's version. Failures: a false accept (the kernel rejects, we accept)
 * on any kernel, whatever is recorded; our verdict off our expectation (the
 * newest answer or the deliberate difference); a false reject (the kernel
 * accepts, we refuse) that no record covers; a kernel answer that matches the
 * newest one while ours names another fault or errno, or returns another
 * value. A kernel answer that matches none recorded for its version is
 * reported by name, kernel version, recorded and seen answers.
 */
export function judgeAgainstKernel(c: VerifierCase, kernel: Verdict, ours: Verdict, version: KernelVersion,
  deliberate?: DeliberateDifference): Judgement {
  const kv = formatKernelVersion(version);
  if (kernel.errno !== 0 && ours.errno === 0) {
    return { kind: "fail", why: `${c.name}: FALSE ACCEPT on ${kv}: the kernel rejects (${describe(kernel)}) and we accept` };
  }
  const mine = judge(ourExpectation(c, deliberate), ours);
  if (mine.length > 0) return { kind: "fail", why: `${c.name}: our verifier: ${mine.join("; ")}` };
  const unrecorded = unrecordedKernelAnswer(c, kernel, version);
  if (unrecorded !== null) {
    if (kernel.errno === 0 && ours.errno !== 0 && deliberate === undefined) {
      return { kind: "fail", why: `${c.name}: FALSE REJECT on ${kv}: the kernel accepts and we refuse (${describe(ours)})` };
    }
    return { kind: "report", why: unrecorded };
  }
  if (deliberate !== undefined) return { kind: "ok" };
  if (kernel.errno === 0) {
    if (c.retval !== undefined && ours.retval !== kernel.retval) {
      return { kind: "fail", why: `${c.name}: retval ours ${ours.retval}, kernel ${kv} ${kernel.retval}` };
    }
    return { kind: "ok" };
  }
  // The kernel gave a recorded rejection: the same as ours when it is the newest answer.
  if (judge(c, kernel).length > 0) return { kind: "ok" };
  const o = firstErrorLine(ours.log), k = firstErrorLine(kernel.log);
  if (ours.errno !== kernel.errno) return { kind: "fail", why: `${c.name}: ours ${errnoName(ours.errno)}, kernel ${kv} ${errnoName(kernel.errno)}` };
  // Rejections before the verifier runs (insn_cnt over the limit, empty program) leave the kernel's log empty.
  if (k !== "" && !sameFault(o, k)) return { kind: "fail", why: `${c.name}: ours "${o}" vs kernel ${kv} "${k}"` };
  return { kind: "ok" };
}
