// Kernel release strings (uname -r, as include/generated/utsrelease.h makes
// them: "6.18.44-fc-v1300", "6.1.0-21-amd64") as comparable versions, and the
// version ranges the verifier corpus records kernel answers under
// (test/shared/bpf/verifier/corpus/case.ts KernelAnswer.range).
import { release } from "node:os";

/** major.minor.patch; a missing patch level reads as 0. */
export type KernelVersion = readonly [number, number, number];

/** Parses the leading "M.m[.p]" of a release string. Throws on anything else. */
export function parseKernelVersion(rel: string): KernelVersion {
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(rel.trim());
  if (m === null) throw new Error(`not a kernel release: "${rel}"`);
  return [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)];
}

/** The running kernel's version (uname -r). */
export function runningKernelVersion(): KernelVersion {
  return parseKernelVersion(release());
}

export function formatKernelVersion(v: KernelVersion): string {
  return v.join(".");
}

/** <0, 0, >0 as a is older than, the same as, newer than b. */
export function compareKernelVersions(a: KernelVersion, b: KernelVersion): number {
  return a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
}

/**
 * True when `v` lies in `range`: space-separated bounds that must all hold,
 * each an operator (>=, >, <=, <, =) and a version, e.g. ">=6.18.44",
 * ">=6.18 <6.18.44"; "*" is every version. Throws on a malformed range.
 */
export function kernelInRange(v: KernelVersion, range: string): boolean {
  if (range.trim() === "*") return true;
  const bounds = range.trim().split(/\s+/);
  if (bounds.length === 0 || bounds[0] === "") throw new Error(`empty kernel range`);
  return bounds.every((b) => {
    const m = /^(>=|<=|>|<|=)(\d+\.\d+(?:\.\d+)?)$/.exec(b);
    if (m === null) throw new Error(`malformed kernel range bound "${b}" in "${range}"`);
    const c = compareKernelVersions(v, parseKernelVersion(m[2]!));
    switch (m[1]) {
      case ">=": return c >= 0;
      case ">": return c > 0;
      case "<=": return c <= 0;
      case "<": return c < 0;
      default: return c === 0;
    }
  });
}

/** True when the range has no upper bound (it covers the newest kernels). */
export function kernelRangeOpenAbove(range: string): boolean {
  return range.trim() === "*" || !/(^|\s)(<|<=|=)\d/.test(range);
}
