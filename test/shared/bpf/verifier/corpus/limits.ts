// Limits: program size (BPF_COMPLEXITY_LIMIT_INSNS for a privileged loader),
// processed-instruction budget, maps per program (MAX_USED_MAPS), pending
// jump states (BPF_COMPLEXITY_LIMIT_JMP_SEQ), subprogram count
// (BPF_MAX_SUBPROGS) (kernel/bpf/syscall.c bpf_prog_load, kernel/bpf/verifier.c).
import { E2BIG, EFAULT } from "../../../../../shared/errno.ts";
import { BpfInsns } from "../../../../../shared/bpf/isa/insn.ts";
import { ARRAY_8, rep, type VerifierCase } from "./case.ts";

/** n-1 times "r0 = 2" then exit. */
function straight(n: number): BpfInsns {
  const p = new BpfInsns(n);
  for (let i = 0; i < n - 1; i++) p.set(i, 0xb7, 0, 0, 0, 2);
  p.set(n - 1, 0x95, 0, 0, 0, 0);
  return p;
}

/** Lookups in `n` distinct maps. */
function manyMaps(n: number): string {
  const lines = ["*(u32 *)(r10 -4) = 0"];
  for (let i = 0; i < n; i++) lines.push("r2 = r10", "r2 += -4", `r1 = map_fd ${i}`, "call bpf_map_lookup_elem#1");
  lines.push("r0 = 2", "exit");
  return lines.join("\n");
}

/** `n` conditional jumps on an unknown value, each leaving a state to explore later. */
function pendingBranches(n: number): string {
  return `r6 = *(u32 *)(r1 +12)\nr0 = 2\n${rep("if r6 == 7 goto pc+0", n)}\nexit`;
}

/** `n` subprograms, each called from main. */
function subprogs(n: number): string {
  const lines: string[] = [];
  for (let i = 0; i < n; i++) lines.push(`call @s${i}`);
  lines.push("r0 = 2", "exit");
  for (let i = 0; i < n; i++) lines.push(`s${i}: r0 = 0`, "exit");
  return lines.join("\n");
}

export const LIMIT_CASES: VerifierCase[] = [
  { name: "limits/5000 insns (over the unprivileged 4096) privileged", build: () => straight(5000), result: "ACCEPT", retval: 2 },
  { name: "limits/1000000 insns", build: () => straight(1_000_000), result: "ACCEPT", retval: 2, slow: true },
  { name: "limits/1000001 insns", build: () => straight(1_000_001), result: "REJECT", errno: E2BIG, slow: true },
  {
    name: "limits/processed insns budget on a long bounded loop",
    asm: "r0 = 0\nloop: r0 += 1\nif r0 < 2000000 goto loop\nr0 = 2\nexit",
    result: "REJECT", errno: E2BIG, err: "BPF program is too large. Processed 1000001 insn", slow: true,
  },
  { name: "limits/64 maps", maps: Array.from({ length: 64 }, () => ARRAY_8), asm: manyMaps(64), result: "ACCEPT", retval: 2 },
  {
    name: "limits/65 maps", maps: Array.from({ length: 65 }, () => ARRAY_8), asm: manyMaps(65),
    result: "REJECT", errno: E2BIG, err: "The total number of maps per program has reached the limit of 64",
  },
  { name: "limits/8000 pending branch states", asm: pendingBranches(8000), result: "ACCEPT", retval: 2 },
  {
    name: "limits/8193 pending branch states", asm: pendingBranches(8193), result: "REJECT", errno: E2BIG, err: "The sequence of 8193 jumps is too complex.",
    kernel: [
      { range: ">=6.18.44", result: "REJECT", errno: E2BIG, err: "The sequence of 8193 jumps is too complex.", note: "push_stack() failure returns -E2BIG (seen on 6.18.44)" },
      { range: "<6.18.44", result: "REJECT", errno: EFAULT, err: "The sequence of 8193 jumps is too complex.", note: "the caller of a failed push_stack() returned -EFAULT (seen on an earlier 6.18 build)" },
    ],
  },
  { name: "limits/256 functions", asm: subprogs(255), result: "ACCEPT", retval: 2 },
  { name: "limits/257 functions", asm: subprogs(256), result: "REJECT", errno: E2BIG, err: "too many subprograms" },
];
