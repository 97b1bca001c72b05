// Judging a verifier verdict against a corpus case: shared by the kernel
// check (test/long/verifier_corpus_kernel.ts, test/differential/kernel_verifier.test.ts)
// and our own (test/shared/bpf/verifier/corpus.test.ts). Also the "same fault" relation
// between our first error line and the kernel's, and the differential's
// judgement of the running kernel's answer by its version and the helpers it
// offers (judgeAgainstKernel).
import { errnoName } from "../../../../../shared/errno.ts";
import { firstErrorLine, type RawResult } from "../../../../helpers/raw_loader.ts";
import { formatKernelVersion, type KernelVersion } from "../../../../helpers/kernel_version.ts";
import { notOfferedHelperId, notOfferedMessage, type HelperProbe, type HelperProbes } from "../../../../helpers/helper_probe.ts";
import { caseHelpers, kernelAnswersFor, type KernelAnswer, type VerifierCase } from "./case.ts";
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

/**
 * A raw-loader result against the answers the case records for kernels of
 * `version`: no problems when recorded; `unoffered` (and no problems) when the
 * kernel refused the case for a helper the probe found it does not offer
 * (unofferedHelperRejection): the case is then not judged.
 */
export function judgeKernel(c: VerifierCase, r: RawResult, version: KernelVersion,
  probes: HelperProbes = new Map()): { problems: string[]; unoffered: HelperProbe | null } {
  if (r.mapErrno !== 0) return { problems: [`map creation failed: ${errnoName(r.mapErrno)}`], unoffered: null };
  const k: Verdict = { errno: r.errno, log: r.log, retval: r.retval };
  const gone = unofferedHelperRejection(c, k, version, probes);
  if (gone !== null) return { problems: [], unoffered: gone };
  const u = unrecordedKernelAnswer(c, k, version);
  return { problems: u === null ? [] : [u], unoffered: null };
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
 * build: reported, not failed), "unoffered" names a helper the case calls that
 * this kernel build does not offer (the probe says so and the kernel refused
 * the case for it: not judged, reported), "ok" otherwise.
 */
export type Judgement =
  | { kind: "ok" }
  | { kind: "report" | "fail"; why: string }
  | { kind: "unoffered"; helper: HelperProbe; why: string };

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
 * The helper the kernel refused the case for as not offered to its program
 * type, when that is established: the kernel's first error line is the
 * prototype lookup's failure for a helper the case calls (case.ts
 * caseHelpers), the helper probe found the same helper not offered, and the
 * case does not record that very rejection (cases about helpers no kernel
 * offers XDP programs, "cannot use helper bpf_skb_load_bytes#26", are judged
 * as usual). Null otherwise.
 */
export function unofferedHelperRejection(c: VerifierCase, kernel: Verdict, version: KernelVersion,
  probes: HelperProbes): HelperProbe | null {
  if (kernel.errno === 0) return null;
  const id = notOfferedHelperId(firstErrorLine(kernel.log));
  if (id === null) return null;
  const p = probes.get(id);
  if (p === undefined || p.offered) return null;
  if (!caseHelpers(c).includes(id) || kernelAnswerRecorded(c, kernel, version)) return null;
  return p;
}

/**
 * Judges the running kernel's answer and ours on a corpus case, by the
 * kernel's version and the helpers it offers (`probes`, test/helpers/helper_probe.ts).
 * A case the kernel refuses for a helper this kernel build does not offer is
 * not judged against the kernel, and named ("unoffered"; ours must still give
 * the case's own answer). Otherwise failures: a false accept (the kernel
 * rejects, we accept) on any kernel, whatever is recorded; our verdict off our expectation (the
 * newest answer or the deliberate difference); a false reject (the kernel
 * accepts, we refuse) that no record covers; a kernel answer that matches the
 * newest one while ours names another fault or errno, or returns another
 * value. A kernel answer that matches none recorded for its version is
 * reported by name, kernel version, recorded and seen answers.
 */
export function judgeAgainstKernel(c: VerifierCase, kernel: Verdict, ours: Verdict, version: KernelVersion,
  deliberate?: DeliberateDifference, probes: HelperProbes = new Map()): Judgement {
  const kv = formatKernelVersion(version);
  const gone = unofferedHelperRejection(c, kernel, version, probes);
  if (gone !== null) {
    const mine = judge(ourExpectation(c, deliberate), ours);
    if (mine.length > 0) return { kind: "fail", why: `${c.name}: our verifier: ${mine.join("; ")}` };
    return { kind: "unoffered", helper: gone, why: `${c.name}: ${notOfferedMessage(gone)} ("${firstErrorLine(kernel.log)}"): not judged` };
  }
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

/**
 * The report of cases not judged for helpers this kernel does not offer, one
 * line per helper: "this kernel (Linux R) does not offer bpf_x to XDP programs;
 * N cases not judged: a, b".
 */
export function unofferedReport(notJudged: ReadonlyArray<{ name: string; helper: HelperProbe }>): string[] {
  const by = new Map<number, { helper: HelperProbe; names: string[] }>();
  for (const n of notJudged) {
    const e = by.get(n.helper.id) ?? { helper: n.helper, names: [] };
    e.names.push(n.name);
    by.set(n.helper.id, e);
  }
  return [...by.values()].map(({ helper, names }) =>
    `${notOfferedMessage(helper)}; ${names.length} case${names.length === 1 ? "" : "s"} not judged: ${names.join(", ")}`);
}
