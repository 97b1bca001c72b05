// The verifier's safety property, checked on generated programs: a program
// our verifier accepts never trips the interpreter's runtime bounds check
// (xdpTestRun throws KernelError EFAULT) on any packet. Shared by
// test/shared/bpf/verifier/property.test.ts and test/long/property_verifier.ts.
import { KernelError } from "../../../../../shared/errno.ts";
import { xdpTestRun } from "../../../../../shared/bpf/runtime/test_run.ts";
import { runOurs } from "./ours.ts";
import { generateProgram, randomPacket, type GeneratedProgram } from "./random_progs.ts";

export interface PropertyCounts {
  programs: number;
  accepted: number;
  rejected: number;
  /** Accepted programs that were generated with a deliberately broken block. */
  acceptedBroken: number;
  runs: number;
  /** Accepted programs that faulted at run time: each one is a verifier soundness bug. */
  violations: Array<{ name: string; broken: string; fault: string; asm: string }>;
  /** errno name -> rejections. */
  rejectErrnos: Map<number, number>;
}

export function emptyCounts(): PropertyCounts {
  return { programs: 0, accepted: 0, rejected: 0, acceptedBroken: 0, runs: 0, violations: [], rejectErrnos: new Map() };
}

/** Verifies one generated program and, when accepted, runs it on `packets`; updates `counts`. */
export function checkGenerated(g: GeneratedProgram, packets: readonly Uint8Array[], counts: PropertyCounts): void {
  counts.programs++;
  const v = runOurs(g.name, g.insns, g.maps, null);
  if (v.load.prog === null) {
    counts.rejected++;
    counts.rejectErrnos.set(v.load.errno, (counts.rejectErrnos.get(v.load.errno) ?? 0) + 1);
    return;
  }
  counts.accepted++;
  if (g.broken !== "") counts.acceptedBroken++;
  for (const p of packets) {
    counts.runs++;
    try {
      xdpTestRun(v.kernel, v.load.prog, { dataIn: p });
    } catch (e) {
      if (!(e instanceof KernelError)) throw e;
      counts.violations.push({ name: g.name, broken: g.broken, fault: e.message, asm: g.asm });
      return;
    }
  }
}

/** Generates and checks `n` programs with `packetsPerProg` random packets each. */
export function runProperty(rnd: () => number, n: number, packetsPerProg: number, brokenRate: number, counts = emptyCounts()): PropertyCounts {
  for (let i = 0; i < n; i++) {
    const g = generateProgram(rnd, { brokenRate, name: `p${counts.programs}` });
    const packets = Array.from({ length: packetsPerProg }, () => randomPacket(rnd));
    checkGenerated(g, packets, counts);
  }
  return counts;
}
