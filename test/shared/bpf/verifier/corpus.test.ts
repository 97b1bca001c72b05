// Our verifier (shared/bpf/verifier through BpfKernel.progLoad, as `vxo prog
// load` uses it) against the corpus in test/shared/bpf/verifier/corpus: verdict, errno,
// first error line and, for accepted programs, the interpreter's return value
// on the case's packet. The expectations themselves are checked against the
// Linux kernel by test/differential/kernel_verifier.test.ts.
import { describe, expect, it } from "vitest";
import { CORPUS } from "./corpus/index.ts";
import { judge, ourExpectation } from "./corpus/judge.ts";
import { runCaseOurs } from "./corpus/ours.ts";
import { DELIBERATE } from "./corpus/deliberate.ts";
import { kernelInRange, kernelRangeOpenAbove } from "../../../helpers/kernel_version.ts";

/** Areas of issue 3 scope 1 the corpus must cover, by case-name prefix. */
const AREAS = ["cfg/", "regs/", "ctx/", "packet/", "map/", "stack/", "calls/", "helpers/", "ptr/", "limits/"];

const SUMMARY = /processed \d+ insns \(limit 1000000\) max_states_per_insn \d+ total_states \d+ peak_states \d+ mark_read 0$/;

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

  it("per-version kernel answers: valid ranges, and the newest one is the case's own (what our verifier follows)", () => {
    const versioned = CORPUS.filter((c) => c.kernel !== undefined);
    expect(versioned.length).toBeGreaterThan(0);
    for (const c of versioned) {
      for (const a of c.kernel!) {
        expect(() => kernelInRange([6, 18, 0], a.range), `${c.name}: ${a.range}`).not.toThrow();
        if (a.result === "REJECT") expect(a.errno, `${c.name} ${a.range}`).toBeGreaterThan(0);
      }
      const newest = c.kernel!.filter((a) => kernelRangeOpenAbove(a.range));
      expect(newest.length, `${c.name}: one answer open above`).toBe(1);
      const n = newest[0]!;
      expect({ result: n.result, errno: n.errno, err: n.err, retval: n.retval }, c.name)
        .toEqual({ result: c.result, errno: c.errno, err: c.err, retval: c.retval });
    }
  });

  for (const c of CORPUS) {
    it(`${c.name}: ${c.result}${c.err !== undefined ? ` "${c.err}"` : ""}`, { timeout: c.slow ? 300_000 : 60_000 }, () => {
      const v = runCaseOurs(c);
      expect(v.runFault, "an accepted program tripped the runtime bounds check").toBe("");
      expect(judge(ourExpectation(c, DELIBERATE[c.name]), v)).toEqual([]);
      // A walk that reached the instructions ends with the statistics line (print_verification_stats()).
      const log = v.load.log ?? [];
      if (log.some((l) => /^\d+: \(/.test(l))) expect(log[log.length - 1]).toMatch(SUMMARY);
      if (v.errno === 0) expect(v.load.prog?.insnAux, "accepted programs keep the verifier's per-insn facts").not.toBeNull();
    });
  }
});
