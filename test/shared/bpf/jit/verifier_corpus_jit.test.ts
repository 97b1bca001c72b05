// Issue 5 acceptance: every verifier-corpus program our verifier accepts, and
// every accepted generated program, runs on the JIT (with the checks the
// verifier proved dropped) with the interpreter's results: return value,
// output packet, runtime fault. Runs the corpus of test/shared/bpf/verifier/corpus.
import { describe, expect, it } from "vitest";
import { CORPUS } from "../verifier/corpus/index.ts";
import { caseInsns, PKT_ETH_ONLY, PKT_UDP4 } from "../verifier/corpus/case.ts";
import { runOurs } from "../verifier/corpus/ours.ts";
import { generateProgram, randomPacket } from "../verifier/corpus/random_progs.ts";
import { xdpTestRun } from "../../../../shared/bpf/runtime/test_run.ts";
import { interpRun } from "../../../../shared/bpf/runtime/interp.ts";
import { jitRun } from "../../../../shared/bpf/runtime/engine.ts";
import type { BpfKernel } from "../../../../shared/bpf/syscall.ts";
import type { BpfProg } from "../../../../shared/bpf/runtime/prog.ts";
import type { BpfInsns } from "../../../../shared/bpf/isa/insn.ts";
import { buildFrame, testCorpus } from "../../../../shared/net/packets.ts";

/** Result of one test run as a comparable string (the fault message for runtime faults). */
function outcome(kernel: BpfKernel, prog: BpfProg, pkt: Uint8Array, engine: typeof interpRun): string {
  try {
    const r = xdpTestRun(kernel, prog, { dataIn: pkt, engine });
    return `${r.retval} ${Buffer.from(r.dataOut).toString("hex")}`;
  } catch (e) {
    return `error ${(e as Error).message}`;
  }
}

/** Loads twice (two kernels, identical layout) and compares engines on each packet; returns runs compared, -1 if rejected. */
function compare(name: string, insns: BpfInsns, maps: Parameters<typeof runOurs>[2], ifindex: number, packets: Uint8Array[]): number {
  const a = runOurs(name, insns, maps, null, ifindex);
  if (a.load.prog === null) return -1;
  const b = runOurs(name, insns, maps, null, ifindex);
  expect(b.load.prog, name).not.toBeNull();
  expect(a.load.prog.insnAux, `${name}: verified programs carry insnAux`).not.toBeNull();
  for (const p of packets) {
    const ri = outcome(a.kernel, a.load.prog, p, interpRun);
    const rj = outcome(b.kernel, b.load.prog!, p, jitRun);
    expect(rj, `${name} on a ${p.length}-byte packet`).toBe(ri);
  }
  return packets.length;
}

const packets = [PKT_UDP4, PKT_ETH_ONLY, ...testCorpus(24).filter((_, i) => i % 8 === 0).map((p) => p.bytes),
  buildFrame({ l3: "ipv6", l4: 6, frameLen: 1500 })];

describe("accepted verifier-corpus programs on the JIT", () => {
  it("give the interpreter's results on every packet", () => {
    let accepted = 0;
    for (const c of CORPUS) {
      if (c.result !== "ACCEPT" || c.slow === true) continue;
      const n = compare(c.name, caseInsns(c), c.maps ?? [], c.ifindex ?? 0, c.packet !== undefined ? [c.packet, ...packets] : packets);
      if (n >= 0) accepted++;
    }
    expect(accepted).toBeGreaterThan(50);
  }, 120_000);

  it("so do accepted random programs (the verifier property generator)", () => {
    let s = 12345;
    const rnd = () => {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      return s / 4294967296;
    };
    let accepted = 0;
    for (let i = 0; i < 300; i++) {
      const g = generateProgram(rnd, { brokenRate: 0.2, name: `g${i}` });
      const pk = Array.from({ length: 4 }, () => randomPacket(rnd));
      if (compare(g.name, g.insns, g.maps, 0, pk) >= 0) accepted++;
    }
    expect(accepted).toBeGreaterThan(30);
  }, 120_000);
});
