// Judging a verifier verdict against a corpus case: shared by the kernel
// check (test/long/verifier_corpus_kernel.ts, test/differential/kernel_verifier.test.ts)
// and our own (test/shared/bpf/verifier/corpus.test.ts). Also the "same fault" relation
// between our first error line and the kernel's.
import { errnoName } from "../../../../../shared/errno.ts";
import { firstErrorLine, type RawResult } from "../../../../helpers/raw_loader.ts";
import type { VerifierCase } from "./case.ts";

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

/** judge() for a raw-loader result. */
export function judgeKernel(c: VerifierCase, r: RawResult): string[] {
  if (r.mapErrno !== 0) return [`map creation failed: ${errnoName(r.mapErrno)}`];
  return judge(c, { errno: r.errno, log: r.log, retval: r.retval });
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
