// bpf-to-bpf calls and tail calls: frames, the 8-frame limit, combined stack
// depth, argument passing through registers and stack pointers, callee-saved
// registers, tail calls from subprograms (kernel/bpf/verifier.c check_func_call,
// check_max_stack_depth, check_subprogs).
import { E2BIG, EACCES, EINVAL } from "../../../../../shared/errno.ts";
import { PROG_ARRAY, type VerifierCase } from "./case.ts";

/** A chain of n nested calls, each frame using `stack` bytes; the deepest returns 2. */
function chain(n: number, stack: number): string {
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const use = stack > 0 ? `*(u64 *)(r10 -${stack}) = 0\n` : "";
    if (i === n - 1) lines.push(`f${i}: ${use}r0 = 2\nexit`);
    else lines.push(`f${i}: ${use}call @f${i + 1}\nexit`);
  }
  return lines.join("\n");
}

export const CALL_CASES: VerifierCase[] = [
  { name: "calls/simple subprog returns value", asm: "call @sub\nexit\nsub: r0 = 2\nexit", result: "ACCEPT", retval: 2 },
  { name: "calls/argument in R1", asm: "r1 = 1\ncall @sub\nexit\nsub: r0 = r1\nr0 += 1\nexit", result: "ACCEPT", retval: 2 },
  { name: "calls/five arguments", asm: "r1 = 1\nr2 = 1\nr3 = 0\nr4 = 0\nr5 = 0\ncall @sub\nexit\nsub: r0 = r1\nr0 += r2\nr0 += r3\nr0 += r4\nr0 += r5\nexit", result: "ACCEPT", retval: 2 },
  { name: "calls/callee reads uninitialised R2", asm: "r1 = 1\ncall @sub\nexit\nsub: r0 = r2\nexit", result: "REJECT", errno: EACCES, err: "R2 !read_ok" },
  { name: "calls/callee reads caller's R6", asm: "r6 = 2\ncall @sub\nexit\nsub: r0 = r6\nexit", result: "REJECT", errno: EACCES, err: "R6 !read_ok" },
  { name: "calls/R6 preserved across call", asm: "r6 = 2\ncall @sub\nr0 = r6\nexit\nsub: r6 = 7\nr0 = 0\nexit", result: "ACCEPT", retval: 2 },
  { name: "calls/R1 clobbered after call", asm: "r1 = 2\ncall @sub\nr0 = r1\nexit\nsub: r0 = 0\nexit", result: "REJECT", errno: EACCES, err: "R1 !read_ok" },
  { name: "calls/callee returns without setting R0", asm: "call @sub\nexit\nsub: exit", result: "REJECT", errno: EACCES, err: "R0 !read_ok" },
  { name: "calls/ctx passed to subprog", asm: "call @sub\nexit\nsub: r0 = *(u32 *)(r1 +12)\nr0 += 1\nexit", result: "ACCEPT", retval: 2 },
  {
    name: "calls/callee writes caller stack through pointer",
    asm: "r1 = r10\nr1 += -8\ncall @sub\nr0 = *(u64 *)(r10 -8)\nexit\nsub: *(u64 *)(r1 +0) = 2\nr0 = 0\nexit", result: "ACCEPT", retval: 2,
  },
  {
    name: "calls/callee writes past caller stack",
    asm: "r1 = r10\nr1 += -8\ncall @sub\nr0 = 2\nexit\nsub: *(u64 *)(r1 +8) = 2\nr0 = 0\nexit",
    result: "REJECT", errno: EACCES, err: "invalid write to stack R1 off=0 size=8",
  },
  {
    name: "calls/callee returns pointer to its own stack",
    asm: "call @sub\nr0 = *(u64 *)(r0 +0)\nexit\nsub: *(u64 *)(r10 -8) = 2\nr0 = r10\nr0 += -8\nexit",
    result: "REJECT", errno: EINVAL, err: "cannot return stack pointer to the caller",
  },
  { name: "calls/packet pointer passed to subprog", asm: "r2 = *(u32 *)(r1 +0)\nr3 = *(u32 *)(r1 +4)\nr1 = r2\nr2 = r3\ncall @sub\nexit\nsub: r1 += 14\nif r1 > r2 goto o\nr0 = *(u8 *)(r1 -1)\nr0 = 2\nexit\no: r0 = 1\nexit", result: "ACCEPT", retval: 2 },
  { name: "calls/call depth 8 frames", asm: chain(8, 0), result: "ACCEPT", retval: 2 },
  { name: "calls/call depth 9 frames", asm: chain(9, 0), result: "REJECT", errno: E2BIG, err: "the call stack of 9 frames is too deep" },
  { name: "calls/combined stack 512 in 2 frames", asm: chain(2, 256), result: "ACCEPT", retval: 2 },
  { name: "calls/combined stack over 512", asm: chain(3, 256), result: "REJECT", errno: EACCES, err: "combined stack size of 3 calls is" },
  { name: "calls/recursion exhausts the frames", asm: "call @sub\nexit\nsub: call @sub\nexit", result: "REJECT", errno: E2BIG, err: "the call stack of 9 frames is too deep" },
  { name: "calls/call out of range", asm: "call pc+5\nexit", result: "REJECT", errno: EINVAL, err: "call to invalid destination" },
  { name: "calls/jump across subprog boundary", asm: "call @sub\nr0 = 2\ngoto x\nexit\nsub: r0 = 1\nx: exit", result: "REJECT", errno: EINVAL, err: "jump out of range from insn 2 to 5" },
  { name: "calls/subprog falls through into next", asm: "call @sub\nexit\nsub: r0 = 2\ncall @s2\nexit\ns2: r0 = 2", result: "REJECT", errno: EINVAL, err: "last insn is not an exit or jmp" },
  { name: "calls/subprog falls off into another subprog", asm: "call @sub\nexit\nsub: r0 = 2\ns2: r0 = 2\nexit\ns3: call @s2\nexit", result: "REJECT", errno: EINVAL, err: "last insn is not an exit or jmp" },
  { name: "calls/bpf-to-bpf call to helper-less subprog with stack", asm: "*(u64 *)(r10 -8) = 1\ncall @sub\nr1 = *(u64 *)(r10 -8)\nr0 += r1\nexit\nsub: *(u64 *)(r10 -8) = 9\nr0 = 1\nexit", result: "ACCEPT", retval: 2 },
  { name: "calls/call with src 1 and off set", asm: "raw 0x85 0 1 1 1\nexit\nr0 = 2\nexit", result: "REJECT", errno: EINVAL, err: "BPF_CALL uses reserved fields" },
  {
    name: "calls/tail call with empty prog array falls through", maps: [PROG_ARRAY],
    asm: "r2 = map_fd 0\nr3 = 0\ncall bpf_tail_call#12\nr0 = 2\nexit", result: "ACCEPT", retval: 2,
  },
  {
    name: "calls/tail call with a hash map", maps: [{ type: 1, keySize: 4, valueSize: 4, maxEntries: 4 }],
    asm: "r2 = map_fd 0\nr3 = 0\ncall bpf_tail_call#12\nr0 = 2\nexit", result: "REJECT", errno: EINVAL, err: "expected prog array map for tail call",
  },
  {
    name: "calls/tail call ctx argument not ctx", maps: [PROG_ARRAY],
    asm: "r1 = 0\nr2 = map_fd 0\nr3 = 0\ncall bpf_tail_call#12\nr0 = 2\nexit", result: "REJECT", errno: EACCES, err: "R1 type=scalar expected=ctx",
  },
  {
    name: "calls/tail call from subprog", maps: [PROG_ARRAY],
    asm: "call @sub\nr0 = 2\nexit\nsub: r2 = map_fd 0\nr3 = 0\ncall bpf_tail_call#12\nr0 = 0\nexit",
    result: "REJECT", errno: EINVAL, err: "tail_call is not allowed in subprogs without BTF",
  },
  {
    name: "calls/tail call with a 512-byte stack in the main program", maps: [PROG_ARRAY],
    asm: "*(u64 *)(r10 -512) = 0\nr2 = map_fd 0\nr3 = 0\ncall bpf_tail_call#12\nr0 = 2\nexit", result: "ACCEPT", retval: 2,
  },
  {
    name: "calls/R0 after tail call is scalar", maps: [PROG_ARRAY],
    asm: "r2 = map_fd 0\nr3 = 0\ncall bpf_tail_call#12\nr0 = *(u64 *)(r0 +0)\nexit", result: "REJECT", errno: EACCES, err: "R0 !read_ok",
  },
];
