// Tests for shared/bpf/verifier: tnum soundness, register printing, the log's
// exact level-1/level-2 text (golden logs captured from Linux 6.18), the
// scenario objects, unprivileged rules, limits, offload hooks and the
// BpfKernel.progLoad integration.
import { spawnSync } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { assemble } from "../../../../shared/bpf/isa/asm.ts";
import { BpfKernel } from "../../../../shared/bpf/syscall.ts";
import { XDP_HELPER_PROTOS } from "../../../../shared/bpf/runtime/helpers.ts";
import { BpfInsns } from "../../../../shared/bpf/isa/insn.ts";
import { loadObject } from "../../../../shared/bpf/libbpf/libbpf.ts";
import { openObject } from "../../../../shared/bpf/libbpf/object.ts";
import { ACCESS_CTX, ACCESS_PACKET, ACCESS_STACK } from "../../../../shared/bpf/runtime/prog.ts";
import { QUIET_WALK_LIMIT, bpfCheck, type BpfProgOffloadOps, type VerifierOpts } from "../../../../shared/bpf/verifier/index.ts";
import {
  Reg, PTR_MAYBE_NULL, PTR_TO_MAP_VALUE, PTR_TO_PACKET, markPtr, markScalarConst, markUnknown, coerceToSize, regStr,
} from "../../../../shared/bpf/verifier/reg_state.ts";
import {
  type Tnum, tnumAdd, tnumAnd, tnumConst, tnumIn, tnumLshift, tnumMul, tnumOr, tnumRange, tnumRshift, tnumSub, tnumXor,
} from "../../../../shared/bpf/verifier/tnum.ts";
import { BUDGET_SAMPLES, PROGRAMS_DIR, VXO_BIN } from "../../../helpers/repo.ts";
import { E2BIG, EACCES, EINVAL, EOPNOTSUPP, EPERM } from "../../../../shared/errno.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
const programs = path.resolve(here, "../../../../scenarios/programs");

function opts(o: Partial<VerifierOpts> = {}): VerifierOpts {
  return { progType: 6, privileged: true, logLevel: 1, helperProtos: XDP_HELPER_PROTOS, gplCompatible: true, ...o };
}

function check(asm: string, o: Partial<VerifierOpts> = {}) {
  return bpfCheck(assemble(asm), () => undefined, opts(o));
}

describe("tnum", () => {
  let seed = 7;
  const rnd = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 16;
  /** A random tnum over 10 bits and a few of its members. */
  const sample = (): [Tnum, bigint[]] => {
    const m = BigInt(rnd() & 0x3ff), v = BigInt(rnd() & 0x3ff) & ~m;
    const members: bigint[] = [];
    for (let k = 0; k < 6; k++) members.push(v | (BigInt(rnd() & 0x3ff) & m));
    return [{ v, m }, members];
  };
  const ops: Array<[string, (a: Tnum, b: Tnum) => Tnum, (x: bigint, y: bigint) => bigint]> = [
    ["add", tnumAdd, (x, y) => x + y],
    ["sub", tnumSub, (x, y) => x - y],
    ["mul", tnumMul, (x, y) => x * y],
    ["and", tnumAnd, (x, y) => x & y],
    ["or", tnumOr, (x, y) => x | y],
    ["xor", tnumXor, (x, y) => x ^ y],
  ];
  for (const [name, f, g] of ops) {
    it(`${name} contains every concrete result`, () => {
      for (let n = 0; n < 300; n++) {
        const [a, as] = sample(), [b, bs] = sample();
        const t = f(a, b);
        for (const x of as) for (const y of bs) expect(tnumIn(t, tnumConst(g(x, y)))).toBe(true);
      }
    });
  }
  it("shifts and ranges are exact on constants and cover ranges", () => {
    expect(tnumLshift(tnumConst(3n), 4)).toEqual({ v: 48n, m: 0n });
    expect(tnumRshift({ v: 0x10n, m: 0x0fn }, 4)).toEqual({ v: 1n, m: 0n });
    const r = tnumRange(16n, 31n);
    expect(r).toEqual({ v: 16n, m: 15n });
    expect(tnumIn(tnumRange(0n, 255n), tnumConst(200n))).toBe(true);
  });
});

describe("register printing (print_reg_state of 6.x)", () => {
  it("prints scalars, pointers and stack pointers like the kernel", () => {
    const r = new Reg();
    markUnknown(r);
    expect(regStr(r)).toBe("scalar()");
    coerceToSize(r, 1);
    expect(regStr(r)).toBe("scalar(smin=smin32=0,smax=umax=smax32=umax32=255,var_off=(0x0; 0xff))");
    markScalarConst(r, -3n);
    expect(regStr(r)).toBe("-3");
    markPtr(r, PTR_TO_PACKET, 14);
    r.range = 14;
    expect(regStr(r)).toBe("pkt(off=14,r=14)");
    markPtr(r, PTR_TO_MAP_VALUE | PTR_MAYBE_NULL);
    r.id = 1;
    expect(regStr(r)).toBe("map_value_or_null(id=1)");
  });
});

describe("verifier log", () => {
  const PKT = "ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nmov %r4, %r2\nadd %r4, 14\n";
  it("level 1 keeps only the failing path, as Linux 6.18 prints it", () => {
    const r = check(PKT + "jgt %r4, %r3, +2\nmov %r0, 1\nexit\nldxb %r0, [%r2+0]\nexit");
    expect(r.errno).toBe(EACCES);
    expect(r.log).toEqual([
      "0: R1=ctx() R10=fp0",
      "0: (61) r2 = *(u32 *)(r1 +0)          ; R1=ctx() R2=pkt(r=0)",
      "1: (61) r3 = *(u32 *)(r1 +4)          ; R1=ctx() R3=pkt_end()",
      "2: (bf) r4 = r2                       ; R2=pkt(r=0) R4=pkt(r=0)",
      "3: (07) r4 += 14                      ; R4=pkt(off=14,r=0)",
      "4: (2d) if r4 > r3 goto pc+2 7: R1=ctx() R2=pkt(r=0) R3=pkt_end() R4=pkt(off=14,r=0xfffffffffffffffe) R10=fp0",
      "7: (71) r0 = *(u8 *)(r2 +0)",
      "invalid access to packet, off=0 size=1, R2(id=0,off=0,r=0)",
      "R2 offset is outside of the packet",
      "processed 8 insns (limit 1000000) max_states_per_insn 0 total_states 1 peak_states 1 mark_read 0",
    ]);
  });
  it("level 1 on success is the statistics line only", () => {
    const r = check("mov %r0, 2\nexit");
    expect(r.log).toEqual(["processed 2 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0"]);
  });
  it("level 2 prints every path, pruning and live registers, as Linux 6.18 prints it", () => {
    const r = check(PKT + "jgt %r4, %r3, +4\nldxb %r0, [%r2+13]\njeq %r0, 5, +1\nmov %r0, 5\nexit\nmov %r0, 2\nexit", { logLevel: 2 });
    expect(r.errno).toBe(0);
    expect(r.log.join("\n")).toBe(`func#0 @0
Live regs before insn:
      0: .1........ (61) r2 = *(u32 *)(r1 +0)
      1: .12....... (61) r3 = *(u32 *)(r1 +4)
      2: ..23...... (bf) r4 = r2
      3: ..234..... (07) r4 += 14
      4: ..234..... (2d) if r4 > r3 goto pc+4
      5: ..2....... (71) r0 = *(u8 *)(r2 +13)
      6: 0......... (15) if r0 == 0x5 goto pc+1
      7: .......... (b7) r0 = 5
      8: 0......... (95) exit
      9: .......... (b7) r0 = 2
     10: 0......... (95) exit
0: R1=ctx() R10=fp0
0: (61) r2 = *(u32 *)(r1 +0)          ; R1=ctx() R2=pkt(r=0)
1: (61) r3 = *(u32 *)(r1 +4)          ; R1=ctx() R3=pkt_end()
2: (bf) r4 = r2                       ; R2=pkt(r=0) R4=pkt(r=0)
3: (07) r4 += 14                      ; R4=pkt(off=14,r=0)
4: (2d) if r4 > r3 goto pc+4          ; R3=pkt_end() R4=pkt(off=14,r=14)
5: (71) r0 = *(u8 *)(r2 +13)          ; R0=scalar(smin=smin32=0,smax=umax=smax32=umax32=255,var_off=(0x0; 0xff)) R2=pkt(r=14)
6: (15) if r0 == 0x5 goto pc+1        ; R0=scalar(smin=smin32=0,smax=umax=smax32=umax32=255,var_off=(0x0; 0xff))
7: (b7) r0 = 5                        ; R0=5
8: (95) exit

from 6 to 8: safe

from 4 to 9: R1=ctx() R2=pkt(r=0) R3=pkt_end() R4=pkt(off=14,r=0xfffffffffffffffe) R10=fp0
9: R1=ctx() R2=pkt(r=0) R3=pkt_end() R4=pkt(off=14,r=0xfffffffffffffffe) R10=fp0
9: (b7) r0 = 2                        ; R0=2
10: (95) exit
processed 12 insns (limit 1000000) max_states_per_insn 0 total_states 1 peak_states 1 mark_read 0`);
  });
  it("a walk longer than bpfCheck()'s quiet first walk answers at level 1 as at level 0, logged once", () => {
    // 40000 iterations of a 2-insn loop: past QUIET_WALK_LIMIT processed insns, so level 1 gives up
    // the quiet walk and walks again with the log
    const loop = "mov %r0, 0\nadd %r0, 1\njlt %r0, 40000, -2\n";
    const ok1 = check(loop + "exit"), ok0 = check(loop + "exit", { logLevel: 0 });
    expect(ok1.processedInsns).toBeGreaterThan(QUIET_WALK_LIMIT);
    expect(ok1.errno).toBe(0);
    expect([ok1.processedInsns, ok1.totalStates, ok1.peakStates]).toEqual([ok0.processedInsns, ok0.totalStates, ok0.peakStates]);
    expect(ok1.log).toEqual(ok0.log);
    expect(ok1.log).toHaveLength(1);
    const bad1 = check(loop + "mov %r0, %r5\nexit"), bad0 = check(loop + "mov %r0, %r5\nexit", { logLevel: 0 });
    expect(bad1.errno).toBe(EACCES);
    expect(bad1.processedInsns).toBe(bad0.processedInsns);
    // the failing path is the whole walk: one line per processed insn (the first also has the entry state)
    expect(bad1.log).toHaveLength(1 + bad1.processedInsns + 2);
    expect(bad1.log.slice(-3)).toEqual([`${3}: (bf) r0 = r5`, "R5 !read_ok", bad0.log.at(-1)]);
  });
  it("level 0 still reports the error line and the statistics", () => {
    const r = check("exit", { logLevel: 0 });
    expect(r.errno).toBe(EACCES);
    expect(r.log).toEqual(["R0 !read_ok", "processed 1 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0"]);
  });
});

describe("scenario objects", () => {
  // The budget samples walk 1M insns (seconds): E2BIG is judged against the kernel in
  // test/differential/kernel_verifier.test.ts and to the end in test/long/verify_budget.ts.
  const objs = readdirSync(programs).filter((f) => f.endsWith(".o") && BUDGET_SAMPLES[f] === undefined).sort();
  it("finds the sample objects", () => expect(objs.length).toBeGreaterThanOrEqual(11));
  for (const f of objs) {
    it(`${f} verifies as the kernel says`, () => {
      const spec = openObject(readFileSync(path.join(programs, f)), { file: f });
      const l = loadObject(new BpfKernel(), spec, { keepGoing: true });
      if (f === "xdp_bad_access.o") {
        expect(l.failures).toHaveLength(1);
        const res = l.failures[0]!.result;
        expect(res.errno).toBe(EACCES);
        expect(res.prog === null && res.message).toBe("invalid access to packet, off=12 size=1, R1(id=0,off=12,r=0)");
        return;
      }
      expect(l.failures.map((x) => x.result.prog === null ? x.result.message : "")).toEqual([]);
      for (const p of l.progList) {
        expect(p.verified).toBe(true);
        expect(p.insnAux).not.toBeNull();
        expect(p.verifierStats!.processedInsns).toBeGreaterThan(0);
      }
    });
  }
  it("leaves insn aux facts for the engines", () => {
    const r = check("ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nmov %r4, %r2\nadd %r4, 2\njgt %r4, %r3, +2\n" +
      "ldxh %r0, [%r2+0]\nstxdw [%r10-8], %r0\nmov %r0, 2\nexit");
    expect(r.errno).toBe(0);
    const a = r.insnAux!;
    expect([a.accessKind[0], a.accessKind[5], a.accessKind[6], a.accessKind[7]]).toEqual([ACCESS_CTX, ACCESS_PACKET, ACCESS_STACK, 0]);
    expect([a.accessProven[5], a.accessProven[6], a.accessProven[7]]).toEqual([1, 1, 0]);
    expect(Array.from(a.seen)).toEqual([1, 1, 1, 1, 1, 1, 1, 1, 1]);
  });
});

describe("privilege, limits and calls", () => {
  it("rejects back-edges and pointer leaks for unprivileged loaders only", () => {
    const loop = "mov %r0, 0\nmov %r1, 0\nadd %r1, 1\nadd %r0, 2\njlt %r1, 10, -3\nexit";
    expect(check(loop).errno).toBe(0);
    const u = check(loop, { privileged: false });
    expect([u.errno, u.log[0]]).toEqual([EINVAL, "back-edge from insn 4 to 2"]);
    expect(check("mov %r0, %r10\nexit").errno).toBe(0);
    const leak = check("mov %r0, %r10\nexit", { privileged: false });
    expect(leak.errno).toBe(EACCES);
    expect(leak.log).toContain("R0 leaks addr as return value");
    const sub = check("mov %r1, 1\ncall local +2\nmov %r0, 0\nexit\nmov %r0, %r1\nexit", { privileged: false });
    expect(sub.errno).toBe(EPERM);
  });
  it("detects a loop whose state never changes", () => {
    const r = check("mov %r0, 0\nmov %r1, 0\njeq %r1, 0, -1\nexit");
    expect(r.errno).toBe(EINVAL);
    expect(r.log).toContain("infinite loop detected at insn 2");
  });
  it("stops after 8192 pending branches with the newest kernel's message and errno (E2BIG since 6.18.44)", () => {
    const lines = ["ldxw %r2, [%r1+16]"];
    for (let i = 0; i < 8200; i++) lines.push(`jeq %r2, ${i}, +0`);
    const r = check(lines.join("\n") + "\nmov %r0, 0\nexit", { logLevel: 0 });
    expect(r.errno).toBe(E2BIG);
    expect(r.log[0]).toBe("The sequence of 8193 jumps is too complex.");
  });
  it("limits call depth and the combined stack of a call chain", () => {
    let deep = "";
    for (let i = 0; i < 8; i++) deep += "call local +1\nexit\n";
    const d = check(deep + "mov %r0, 0\nexit", { logLevel: 0 });
    expect([d.errno, d.log[0]]).toEqual([E2BIG, "the call stack of 9 frames is too deep"]);
    const s = check("mov %r1, 0\nstxdw [%r10-296], %r1\ncall local +2\nmov %r0, 0\nexit\nmov %r1, 0\nstxdw [%r10-296], %r1\nmov %r0, 0\nexit", { logLevel: 0 });
    expect([s.errno, s.log[0]]).toEqual([EACCES, "combined stack size of 2 calls is 608. Too large"]);
  });
  it("gives errno and a log for malformed programs instead of throwing", () => {
    const trunc = BpfInsns.fromTuples([[0x18, 0, 0, 0, 1]]);
    const r = bpfCheck(trunc, () => undefined, opts());
    expect(r.errno).toBe(EINVAL);
    expect(r.log[0]).toBe("last insn is not an exit or jmp"); // the kernel checks subprogram ends first
    let seed = 3;
    const rnd = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8;
    for (let n = 0; n < 2000; n++) {
      const b = new Uint8Array(8 * (1 + (rnd() % 8)));
      for (let i = 0; i < b.length; i++) b[i] = rnd() & 0xff;
      const res = bpfCheck(BpfInsns.fromBytes(b), () => undefined, opts());
      expect(res.errno).toBeGreaterThan(0);
      expect(res.log.some((l) => l.startsWith("verifier bug"))).toBe(false);
    }
  });
});

describe("offload hooks", () => {
  it("calls prepare, the per-insn hook with the register state, finalize and the dead-code hooks", () => {
    const calls: string[] = [];
    const ops: BpfProgOffloadOps = {
      prepare: () => (calls.push("prepare"), 0),
      insnHook: (env, i, prev) => {
        calls.push(`insn ${i}<-${prev} r1=${env.regString(1)}`);
        return 0;
      },
      finalize: () => (calls.push("finalize"), 0),
      replaceInsn: (_env, off, insn) => (calls.push(`replace ${off} code=${insn.code} off=${insn.off}`), 0),
      removeInsns: (_env, off, cnt) => (calls.push(`remove ${off}+${cnt}`), 0),
    };
    const r = check("mov %r0, 0\njeq %r0, 0, +1\nmov %r0, 1\nexit", { offload: ops });
    expect(r.errno).toBe(0);
    expect(calls).toEqual([
      "prepare", "insn 0<--1 r1=ctx()", "insn 1<-0 r1=ctx()", "insn 3<-1 r1=ctx()", "finalize",
      "replace 1 code=5 off=1", "remove 2+1",
    ]);
  });
  it("lets a device refuse an insn with its own log line", () => {
    const ops: BpfProgOffloadOps = {
      insnHook: (env, i) => {
        if (env.insns.code[i] !== 0x85) return 0;
        env.log(`[nfp] unsupported function id: ${env.insns.imm[i]}`);
        return -EOPNOTSUPP;
      },
    };
    const r = check("call 7\nmov %r0, 0\nexit", { offload: ops });
    expect(r.errno).toBe(EOPNOTSUPP);
    expect(r.log.slice(-2)[0]).toBe("[nfp] unsupported function id: 7");
  });
  it("runs setup before map resolution and translate/destroy around the program's life in BpfKernel", () => {
    const k = new BpfKernel();
    const seen: string[] = [];
    const insns = assemble("mov %r0, 2\nexit");
    const res = k.progLoad({
      progType: 6, insns, license: "GPL", name: "t", progIfindex: 5,
      offload: {
        setup: (p) => (seen.push(`setup ${p.len}`), 0),
        translate: (p) => (seen.push(`translate ${p.name}`), 0),
        destroy: (p) => void seen.push(`destroy ${p.name}`),
      },
    });
    expect(res.errno).toBe(0);
    k.progFree(res.prog!.id);
    expect(seen).toEqual(["setup 2", "translate t", "destroy t"]);
    const refused = k.progLoad({ progType: 6, insns, license: "GPL", name: "t", offload: { setup: () => -EOPNOTSUPP } });
    expect(refused.errno).toBe(EOPNOTSUPP);
  });
  it("allows rx_queue_index writes for device-bound programs only", () => {
    const w = "mov %r2, 1\nstxw [%r1+16], %r2\nmov %r0, 2\nexit";
    expect(check(w).errno).toBe(EACCES);
    expect(check(w, { devBound: true }).errno).toBe(0);
  });
});

describe("BpfKernel.progLoad", () => {
  it("verifies by default and loads unverified programs with verify: false", () => {
    const k = new BpfKernel();
    const bad = assemble("ldxw %r1, [%r1+0]\nldxb %r0, [%r1+12]\nexit");
    const r = k.progLoad({ progType: 6, insns: bad, license: "GPL", name: "bad" });
    expect(r.errno).toBe(EACCES);
    expect(r.prog === null && r.message).toBe("invalid access to packet, off=12 size=1, R1(id=0,off=12,r=0)");
    const nv = k.progLoad({ progType: 6, insns: bad, license: "GPL", name: "bad", verify: false });
    expect(nv.errno).toBe(0);
    expect(nv.prog!.verified).toBe(false);
    expect(nv.prog!.insnAux).toBeNull();
  });
  it("refuses GPL-only helpers for non-GPL programs", () => {
    const k = new BpfKernel();
    const p = assemble("mov %r1, %r10\nadd %r1, -8\nstdw [%r10-8], 0\nmov %r2, 8\ncall 6\nmov %r0, 2\nexit");
    const r = k.progLoad({ progType: 6, insns: p, license: "Proprietary", name: "x" });
    expect(r.errno).toBe(EINVAL);
    expect(r.prog === null && r.message).toBe("cannot call GPL-restricted function from non-GPL compatible program");
  });
});

describe("vxo prog load (CLI)", () => {
  const vxo = (args: string[]) => spawnSync(process.execPath, [VXO_BIN, ...args], { encoding: "utf8" });
  it("prints the verdict as JSON and exits 0 only when accepted", () => {
    const bad = vxo(["prog", "load", path.join(PROGRAMS_DIR, "xdp_bad_access.o"), "--json"]);
    expect(bad.status).toBe(1);
    const j = JSON.parse(bad.stdout);
    expect(j).toMatchObject({ accepted: false, errno: EACCES, code: "EACCES", insnCount: 6, processedInsns: 2 });
    expect(j.log).toContain("invalid access to packet, off=12 size=1, R1(id=0,off=12,r=0)");
    expect(typeof j.verifyNs).toBe("number");
    const ok = vxo(["prog", "load", path.join(PROGRAMS_DIR, "xdp_pass.o"), "--json"]);
    expect(ok.status).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ accepted: true, errno: 0, processedInsns: 2 });
  });
  it("prints the log and the error like bpftool -d without --json", () => {
    const bad = vxo(["prog", "load", path.join(PROGRAMS_DIR, "xdp_bad_access.o")]);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain("1: (71) r1 = *(u8 *)(r1 +12)\ninvalid access to packet, off=12 size=1, R1(id=0,off=12,r=0)\n");
    expect(bad.stderr).toMatch(/processed 2 insns \(limit 1000000\).*\nError: .*\(EACCES\)\n$/);
  });
});
