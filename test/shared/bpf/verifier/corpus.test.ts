// Our verifier (shared/bpf/verifier through BpfKernel.progLoad, as `vxo prog
// load` uses it) against the corpus in test/shared/bpf/verifier/corpus: verdict, errno,
// first error line and, for accepted programs, the interpreter's return value
// on the case's packet. The expectations themselves are checked against the
// Linux kernel by test/differential/kernel_verifier.test.ts.
import { describe, expect, it } from "vitest";
import { CORPUS } from "./corpus/index.ts";
import { judge } from "./corpus/judge.ts";
import { runCaseOurs } from "./corpus/ours.ts";
import { DELIBERATE } from "./corpus/deliberate.ts";
import type { VerifierCase } from "./corpus/case.ts";

/** The case as our verifier should see it: the kernel's expectation, or its listed deliberate difference. */
function ourExpectation(c: VerifierCase): VerifierCase {
  const d = DELIBERATE[c.name];
  if (d === undefined) return c;
  return { ...c, result: d.result, errno: d.errno, err: d.err, retval: d.result === "ACCEPT" ? c.retval : undefined };
}

/** Areas of issue 3 scope 1 the corpus must cover, by case-name prefix. */
const AREAS = ["cfg/", "regs/", "ctx/", "packet/", "map/", "stack/", "calls/", "helpers/", "ptr/", "limits/"];

describe("verifier corpus", () => {
  it("has at least 200 uniquely named cases over every area, each with its expectations", () => {
    expect(CORPUS.length).toBeGreaterThanOrEqual(200);
    expect(new Set(CORPUS.map((c) => c.name)).size).toBe(CORPUS.length);
    for (const a of AREAS) expect(CORPUS.filter((c) => c.name.startsWith(a)).length, a).toBeGreaterThanOrEqual(5);
    for (const c of CORPUS) {
      if (c.result === "REJECT") expect(c.errno, c.name).toBeGreaterThan(0);
      else expect(c.errno, c.name).toBeUndefined();
    }
    // Each comparison form appears once in range and once off by one, for data and data_meta.
    for (const kind of ["data", "meta"]) {
      const good = CORPUS.filter((c) => c.name.startsWith(`packet/${kind} `) && c.name.endsWith(" good"));
      const bad = CORPUS.filter((c) => c.name.startsWith(`packet/${kind} `) && c.name.endsWith(" off-by-one"));
      expect(good.length, kind).toBe(8);
      expect(bad.length, kind).toBe(8);
    }
  });

  for (const c of CORPUS) {
    it(`${c.name}: ${c.result}${c.err !== undefined ? ` "${c.err}"` : ""}`, { timeout: c.slow ? 300_000 : 60_000 }, () => {
      const v = runCaseOurs(c);
      expect(v.runFault, "an accepted program tripped the runtime bounds check").toBe("");
      expect(judge(ourExpectation(c), v)).toEqual([]);
    });
  }
});
