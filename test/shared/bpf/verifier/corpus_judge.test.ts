// The differential's judgement (corpus/judge.ts judgeAgainstKernel) on
// fabricated kernel answers, versions and helper probes: recorded version
// ranges are honoured, an answer recorded for no range covering the kernel is
// reported by name and does not fail, a false accept fails on every kernel, an
// unrecorded false reject fails; a case the kernel refuses for a helper the
// probe found not offered (a build-specific gap, test/helpers/helper_probe.ts)
// is reported by name and helper and not judged, while a false accept on a
// program whose helpers the kernel offers still fails. Also the uname -r
// parsing and range syntax (test/helpers/kernel_version.ts), and the probe's
// reading of the kernel's log.
import { describe, expect, it } from "vitest";
import { E2BIG, EACCES, EFAULT, EINVAL } from "../../../../shared/errno.ts";
import { release } from "node:os";
import { judgeAgainstKernel, judgeKernel, unofferedReport, type Verdict } from "./corpus/judge.ts";
import { assembleCase, caseHelpers, type VerifierCase } from "./corpus/case.ts";
import {
  helperIdsCalled, helperProbeInsns, helperProbeResult, notOfferedHelperId, type HelperProbe, type HelperProbes,
} from "../../../helpers/helper_probe.ts";
import type { RawResult } from "../../../helpers/raw_loader.ts";
import {
  compareKernelVersions, kernelInRange, kernelRangeOpenAbove, parseKernelVersion, type KernelVersion,
} from "../../../helpers/kernel_version.ts";

const LIMIT_LOG = "0: (61) r6 = *(u32 *)(r1 +12)\nThe sequence of 8193 jumps is too complex.\nprocessed 8195 insns (limit 1000000)\n";

/** A version-dependent case shaped like limits/8193 pending branch states. */
const VERSIONED: VerifierCase = {
  name: "test/versioned", asm: "r0 = 0\nexit", result: "REJECT", errno: E2BIG, err: "The sequence of 8193 jumps is too complex.",
  kernel: [
    { range: ">=6.18.44", result: "REJECT", errno: E2BIG, err: "The sequence of 8193 jumps is too complex." },
    { range: "<6.18.44", result: "REJECT", errno: EFAULT, err: "The sequence of 8193 jumps is too complex." },
  ],
};
/** A case every kernel answers alike. */
const PLAIN: VerifierCase = { name: "test/plain reject", asm: "exit", result: "REJECT", errno: EACCES, err: "R0 !read_ok" };
const PLAIN_ACCEPT: VerifierCase = { name: "test/plain accept", asm: "r0 = 2\nexit", result: "ACCEPT", retval: 2 };

const rej = (errno: number, log: string): Verdict => ({ errno, log, retval: null });
const acc = (retval: number): Verdict => ({ errno: 0, log: "", retval });
const V = (s: string): KernelVersion => parseKernelVersion(s);
const OURS_LIMIT = rej(E2BIG, LIMIT_LOG);

describe("kernel versions (uname -r) and ranges", () => {
  it("parses release strings with and without patch level or suffix", () => {
    expect(parseKernelVersion("6.18.44-fc-v1300")).toEqual([6, 18, 44]);
    expect(parseKernelVersion("6.1.0-21-amd64")).toEqual([6, 1, 0]);
    expect(parseKernelVersion("6.19-rc1")).toEqual([6, 19, 0]);
    expect(() => parseKernelVersion("linux")).toThrow();
  });
  it("orders versions numerically, not as strings", () => {
    expect(compareKernelVersions([6, 9, 0], [6, 18, 0])).toBeLessThan(0);
    expect(compareKernelVersions([6, 18, 44], [6, 18, 5])).toBeGreaterThan(0);
  });
  it("evaluates bounds, conjunctions and *", () => {
    expect(kernelInRange(V("6.18.44"), ">=6.18.44")).toBe(true);
    expect(kernelInRange(V("6.18.43"), ">=6.18.44")).toBe(false);
    expect(kernelInRange(V("6.18.10"), ">=6.18 <6.18.44")).toBe(true);
    expect(kernelInRange(V("6.17.9"), ">=6.18 <6.18.44")).toBe(false);
    expect(kernelInRange(V("5.15.0"), "*")).toBe(true);
    expect(() => kernelInRange(V("6.18.0"), "~6.18")).toThrow();
    expect(kernelRangeOpenAbove(">=6.18.44")).toBe(true);
    expect(kernelRangeOpenAbove("<6.18.44")).toBe(false);
  });
});

describe("judgeAgainstKernel", () => {
  it("honours a recorded range: the older errno is fine on an older kernel, ours follows the newest", () => {
    expect(judgeAgainstKernel(VERSIONED, rej(EFAULT, LIMIT_LOG), OURS_LIMIT, V("6.18.3"))).toEqual({ kind: "ok" });
    expect(judgeAgainstKernel(VERSIONED, rej(E2BIG, LIMIT_LOG), OURS_LIMIT, V("6.18.44"))).toEqual({ kind: "ok" });
  });

  it("reports, by name, a kernel answer not recorded for its version, without failing", () => {
    const j = judgeAgainstKernel(VERSIONED, rej(EFAULT, LIMIT_LOG), OURS_LIMIT, V("6.19.1"));
    expect(j.kind).toBe("report");
    if (j.kind === "ok") return;
    expect(j.why).toContain("test/versioned");
    expect(j.why).toContain("6.19.1");
    expect(j.why).toContain("EFAULT"); // seen
    expect(j.why).toContain("E2BIG"); // recorded
    const plain = judgeAgainstKernel(PLAIN, rej(EINVAL, "0: (95) exit\nsomething else\n"), rej(EACCES, "0: (95) exit\nR0 !read_ok\n"), V("7.0.0"));
    expect(plain.kind).toBe("report");
  });

  it("fails a false accept on every kernel version, recorded or not", () => {
    const versioned: VerifierCase = {
      ...PLAIN_ACCEPT, name: "test/accepted by old kernels",
      kernel: [{ range: "<6.18.44", result: "ACCEPT", retval: 2 }, { range: ">=6.18.44", result: "ACCEPT", retval: 2 }],
    };
    for (const v of ["4.19.0", "6.1.0", "6.18.3", "6.18.44", "7.2.0"]) {
      for (const c of [PLAIN_ACCEPT, versioned]) {
        const j = judgeAgainstKernel(c, rej(EINVAL, "0: (85) call bpf_x#1\nunknown func bpf_x#1\n"), acc(2), V(v));
        expect(j.kind, `${c.name} on ${v}`).toBe("fail");
        if (j.kind !== "ok") expect(j.why).toContain("FALSE ACCEPT");
      }
    }
    // A deliberate difference cannot excuse it either.
    const d = { reason: "a reason long enough to be a reason", result: "ACCEPT" as const };
    expect(judgeAgainstKernel(PLAIN_ACCEPT, rej(EINVAL, "x\n"), acc(2), V("6.18.44"), d).kind).toBe("fail");
  });

  it("fails an unrecorded false reject, and not one a deliberate difference or a range records", () => {
    const j = judgeAgainstKernel(PLAIN, acc(0), rej(EACCES, "0: (95) exit\nR0 !read_ok\n"), V("6.18.44"));
    expect(j.kind).toBe("fail");
    if (j.kind !== "ok") expect(j.why).toContain("FALSE REJECT");
    const d = { reason: "our helper set leaves this helper out on purpose", result: "REJECT" as const, errno: EINVAL, err: "cannot use helper" };
    const ours = rej(EINVAL, "0: (85) call bpf_x#14\nprogram of this type cannot use helper bpf_x#14\n");
    expect(judgeAgainstKernel(PLAIN_ACCEPT, acc(2), ours, V("6.18.44"), d)).toEqual({ kind: "ok" });
    const changed: VerifierCase = {
      name: "test/refused since 6.18.44", asm: "exit", result: "REJECT", errno: E2BIG, err: "too complex",
      kernel: [{ range: ">=6.18.44", result: "REJECT", errno: E2BIG, err: "too complex" }, { range: "<6.18.44", result: "ACCEPT", retval: 0 }],
    };
    expect(judgeAgainstKernel(changed, acc(0), OURS_LIMIT, V("6.12.0"))).toEqual({ kind: "ok" });
    expect(judgeAgainstKernel(changed, acc(0), OURS_LIMIT, V("6.18.44")).kind).toBe("fail");
  });

  it("fails our verifier when it strays from the newest answer, whatever the kernel", () => {
    const j = judgeAgainstKernel(VERSIONED, rej(EFAULT, LIMIT_LOG), rej(EFAULT, LIMIT_LOG), V("6.18.3"));
    expect(j.kind).toBe("fail");
  });

  it("fails a different fault or return value where the kernel gave the newest answer", () => {
    const k = rej(EACCES, "0: (95) exit\nR0 !read_ok\n");
    expect(judgeAgainstKernel(PLAIN, k, rej(EACCES, "0: (95) exit\nR0 !read_ok\n"), V("6.18.44"))).toEqual({ kind: "ok" });
    const other: VerifierCase = { ...PLAIN, err: "invalid" };
    const j = judgeAgainstKernel(other, rej(EACCES, "0: (95) exit\ninvalid mem access 'scalar'\n"), rej(EACCES, "0: (95) exit\ninvalid access to packet\n"), V("6.18.44"));
    expect(j.kind).toBe("fail");
    const ret: VerifierCase = { ...PLAIN_ACCEPT, retval: undefined };
    expect(judgeAgainstKernel({ ...ret, retval: 2 }, acc(2), acc(2), V("6.18.44"))).toEqual({ kind: "ok" });
  });
});

const NOT_OFFERED_54 = "0: R1=ctx() R10=fp0\n0: (85) call bpf_xdp_adjust_meta#54\nprogram of this type cannot use helper bpf_xdp_adjust_meta#54\nprocessed 1 insns (limit 1000000)\n";
const raw = (errno: number, log: string): RawResult => ({
  name: "probe", errno, insnCnt: 2, verifiedInsns: 0, loadNs: 0, retval: null, runErrno: 0, mapErrno: 0, logTruncated: false, log,
});
/** Probe answers as helperProbeResult reads them from the kernel. */
const probe = (id: number, errno: number, log: string): HelperProbe => helperProbeResult(id, raw(errno, log));
const META_GONE: HelperProbe = probe(54, EINVAL, NOT_OFFERED_54);
const META_OFFERED: HelperProbe = probe(54, EACCES, "0: (85) call bpf_xdp_adjust_meta#54\nR2 !read_ok\n");
const HEAD_OFFERED: HelperProbe = probe(44, EACCES, "0: (85) call bpf_xdp_adjust_head#44\nR2 !read_ok\n");
const probesOf = (...ps: HelperProbe[]): HelperProbes => new Map(ps.map((p) => [p.id, p]));

/** Upstream answers of cases calling bpf_xdp_adjust_meta (as in corpus/helpers.ts and table.ts). */
const META_ACCEPT: VerifierCase = { name: "test/adjust_meta grow", asm: "r2 = -4\ncall bpf_xdp_adjust_meta#54\nexit", result: "ACCEPT", retval: 0 };
const META_REJECT: VerifierCase = {
  name: "test/adjust_meta clobbers r1", asm: "r2 = -4\ncall bpf_xdp_adjust_meta#54\nr2 = *(u32 *)(r1 +8)\nr0 = 0\nexit",
  result: "REJECT", errno: EACCES, err: "R1 !read_ok",
};
/** A case about a helper no kernel offers XDP programs: the refusal is its recorded answer. */
const TC_ONLY: VerifierCase = {
  name: "test/tc-only helper", asm: "call bpf_skb_load_bytes#26\nr0 = 2\nexit",
  result: "REJECT", errno: EINVAL, err: "program of this type cannot use helper bpf_skb_load_bytes#26",
};
const TC_LOG = "0: (85) call bpf_skb_load_bytes#26\nprogram of this type cannot use helper bpf_skb_load_bytes#26\n";

describe("helper probe (as bpftool feature probe)", () => {
  it("reads the prototype lookup's three refusals as not offered, anything else as offered", () => {
    expect(notOfferedHelperId("program of this type cannot use helper bpf_xdp_adjust_meta#54")).toBe(54);
    expect(notOfferedHelperId("unknown func bpf_skb_load_bytes#26")).toBe(26);
    expect(notOfferedHelperId("invalid func unknown#9999")).toBe(9999);
    expect(notOfferedHelperId("R2 !read_ok")).toBeNull();
    expect(notOfferedHelperId("cannot pass map_type 2 into func bpf_redirect_map#51")).toBeNull();
    expect(META_GONE).toMatchObject({ id: 54, name: "bpf_xdp_adjust_meta", offered: false });
    expect(META_OFFERED.offered).toBe(true);
    expect(probe(5, 0, "processed 2 insns").offered).toBe(true); // ktime_get_ns: no arguments, loads
    // A refusal naming another helper is not this helper's.
    expect(probe(44, EINVAL, NOT_OFFERED_54).offered).toBe(true);
  });

  it("loads \"call ID; exit\" and derives a case's helpers from its helper calls only", () => {
    const p = helperProbeInsns(54);
    expect([p.len, p.code[0], p.src[0], p.imm[0], p.code[1]]).toEqual([2, 0x85, 0, 54, 0x95]);
    const c: VerifierCase = {
      name: "test/calls", result: "ACCEPT",
      asm: "call bpf_ktime_get_ns#5\ncall @f\ncall bpf_xdp_adjust_meta#54\ncall bpf_ktime_get_ns#5\nr0 = 2\nexit\nf: r0 = 0\nexit",
    };
    expect(caseHelpers(c)).toEqual([5, 54]); // the bpf-to-bpf call is not a helper; each id once
    const kfunc = assembleCase("call bpf_ktime_get_ns#5\nr0 = 0\nexit");
    kfunc.src[0] = 2; // BPF_PSEUDO_KFUNC_CALL
    expect(helperIdsCalled(kfunc)).toEqual([]);
  });
});

describe("judgeAgainstKernel with probed helpers", () => {
  const notOffered = rej(EINVAL, NOT_OFFERED_54);

  it("does not judge a case the kernel refuses for a helper it does not offer, and names case, helper and kernel", () => {
    for (const [c, ours] of [[META_ACCEPT, acc(0)], [META_REJECT, rej(EACCES, "2: (61) r2 = *(u32 *)(r1 +8)\nR1 !read_ok\n")]] as const) {
      const j = judgeAgainstKernel(c, notOffered, ours, V("6.18.44"), undefined, probesOf(META_GONE));
      expect(j.kind, c.name).toBe("unoffered");
      if (j.kind !== "unoffered") continue;
      expect(j.helper.id).toBe(54);
      expect(j.why).toContain(c.name);
      expect(j.why).toContain(`this kernel (Linux ${release()}) does not offer bpf_xdp_adjust_meta to XDP programs`);
    }
    const report = unofferedReport([{ name: "a/one", helper: META_GONE }, { name: "a/two", helper: META_GONE }]);
    expect(report).toEqual([`this kernel (Linux ${release()}) does not offer bpf_xdp_adjust_meta to XDP programs; 2 cases not judged: a/one, a/two`]);
    // The long script's judgement agrees: no mismatch, the helper named.
    const r = judgeKernel(META_ACCEPT, raw(EINVAL, NOT_OFFERED_54), V("6.18.44"), probesOf(META_GONE));
    expect(r).toEqual({ problems: [], unoffered: META_GONE });
  });

  it("still holds our verifier to the case's own (upstream) answer when the kernel is not judged", () => {
    const j = judgeAgainstKernel(META_ACCEPT, notOffered, rej(EINVAL, NOT_OFFERED_54), V("6.18.44"), undefined, probesOf(META_GONE));
    expect(j.kind).toBe("fail");
    if (j.kind !== "ok") expect(j.why).toContain("our verifier");
  });

  it("fails a false accept on a program whose helpers the kernel offers", () => {
    // The kernel refuses for another fault; the probe found adjust_head offered.
    const k = rej(EACCES, "0: (85) call bpf_xdp_adjust_head#44\nR2 !read_ok\n");
    const c: VerifierCase = { name: "test/adjust_head", asm: "r2 = 0\ncall bpf_xdp_adjust_head#44\nexit", result: "ACCEPT", retval: 0 };
    const j = judgeAgainstKernel(c, k, acc(0), V("6.18.44"), undefined, probesOf(HEAD_OFFERED, META_GONE));
    expect(j.kind).toBe("fail");
    if (j.kind !== "ok") expect(j.why).toContain("FALSE ACCEPT");
  });

  it("fails a false accept when the not-offered refusal is not established by the probe", () => {
    for (const probes of [new Map(), probesOf(META_OFFERED)]) {
      const j = judgeAgainstKernel(META_ACCEPT, notOffered, acc(0), V("6.18.44"), undefined, probes);
      expect(j.kind).toBe("fail");
      if (j.kind !== "ok") expect(j.why).toContain("FALSE ACCEPT");
    }
    // Refused for a helper the case does not call (a probe from elsewhere): judged, and fails.
    const j = judgeAgainstKernel(PLAIN_ACCEPT, notOffered, acc(2), V("6.18.44"), undefined, probesOf(META_GONE));
    expect(j.kind).toBe("fail");
    // A case using the missing helper, refused for another fault first: judged, and fails.
    const early = rej(EACCES, "0: (95) exit\nR0 !read_ok\n");
    expect(judgeAgainstKernel(META_ACCEPT, early, acc(0), V("6.18.44"), undefined, probesOf(META_GONE)).kind).toBe("fail");
  });

  it("judges as usual a case whose recorded answer is the helper's refusal", () => {
    const gone = probesOf(probe(26, EINVAL, TC_LOG));
    expect(judgeAgainstKernel(TC_ONLY, rej(EINVAL, TC_LOG), rej(EINVAL, TC_LOG), V("6.18.44"), undefined, gone)).toEqual({ kind: "ok" });
    const j = judgeAgainstKernel(TC_ONLY, rej(EINVAL, TC_LOG), acc(2), V("6.18.44"), undefined, gone);
    expect(j.kind).toBe("fail");
    if (j.kind !== "ok") expect(j.why).toContain("FALSE ACCEPT");
  });

  it("keeps version ranges working beside the probe (8193 pending jumps: E2BIG from 6.18.44, EFAULT before)", () => {
    const probes = probesOf(META_GONE);
    expect(judgeAgainstKernel(VERSIONED, rej(EFAULT, LIMIT_LOG), OURS_LIMIT, V("6.18.3"), undefined, probes)).toEqual({ kind: "ok" });
    expect(judgeAgainstKernel(VERSIONED, rej(E2BIG, LIMIT_LOG), OURS_LIMIT, V("6.18.44"), undefined, probes)).toEqual({ kind: "ok" });
    expect(judgeAgainstKernel(VERSIONED, rej(EFAULT, LIMIT_LOG), OURS_LIMIT, V("6.18.44"), undefined, probes).kind).toBe("report");
  });
});
