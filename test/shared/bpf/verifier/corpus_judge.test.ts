// The differential's judgement by kernel version (corpus/judge.ts
// judgeAgainstKernel) on fabricated kernel answers and versions: recorded
// ranges are honoured, an answer recorded for no range covering the kernel is
// reported by name and does not fail, a false accept fails on every kernel, an
// unrecorded false reject fails. Also the uname -r parsing and range syntax
// (test/helpers/kernel_version.ts).
import { describe, expect, it } from "vitest";
import { E2BIG, EACCES, EFAULT, EINVAL } from "../../../../shared/errno.ts";
import { judgeAgainstKernel, type Verdict } from "./corpus/judge.ts";
import type { VerifierCase } from "./corpus/case.ts";
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
    const meta: VerifierCase = {
      name: "test/helper gone in newer kernels", asm: "exit", result: "REJECT", errno: EINVAL, err: "cannot use helper",
      kernel: [{ range: ">=6.18.44", result: "REJECT", errno: EINVAL, err: "cannot use helper" }, { range: "<6.18.44", result: "ACCEPT", retval: 0 }],
    };
    expect(judgeAgainstKernel(meta, acc(0), ours, V("6.12.0"))).toEqual({ kind: "ok" });
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
