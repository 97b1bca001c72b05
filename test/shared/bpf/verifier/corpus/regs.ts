// Register-state cases: uninitialised reads, scalar bounds and tnums, 32-bit
// subregisters, division and shift rules, the return value (kernel/bpf/verifier.c
// check_reg_arg, adjust_scalar_min_max_vals, check_alu_op, check_return_code).
import { EACCES, EINVAL } from "../../../../../shared/errno.ts";
import type { VerifierCase } from "./case.ts";

export const REGS_CASES: VerifierCase[] = [
  { name: "regs/R0 not set at exit", asm: "exit", result: "REJECT", errno: EACCES, err: "R0 !read_ok" },
  { name: "regs/R2 read before init", asm: "r0 = r2\nexit", result: "REJECT", errno: EACCES, err: "R2 !read_ok" },
  { name: "regs/R6 used as base before init", asm: "r0 = *(u32 *)(r6 +0)\nexit", result: "REJECT", errno: EACCES, err: "R6 !read_ok" },
  { name: "regs/R3 source of add uninit", asm: "r0 = 1\nr0 += r3\nexit", result: "REJECT", errno: EACCES, err: "R3 !read_ok" },
  { name: "regs/R0 set on one path only", asm: "r2 = *(u32 *)(r1 +12)\nif r2 == 5 goto pc+1\nr0 = 2\nexit", result: "REJECT", errno: EACCES, err: "R0 !read_ok" },
  { name: "regs/R1-R5 clobbered by helper call", asm: "call bpf_get_prandom_u32#7\nr0 = r1\nexit", result: "REJECT", errno: EACCES, err: "R1 !read_ok" },
  { name: "regs/R6 survives helper call", asm: "r6 = 2\ncall bpf_get_prandom_u32#7\nr0 = r6\nexit", result: "ACCEPT", retval: 2 },
  { name: "regs/R1 is ctx at entry; return ctx field", asm: "r0 = *(u32 *)(r1 +12)\nexit", result: "ACCEPT", retval: 1 },
  { name: "regs/32-bit mov zero-extends", asm: "r0 = -1\nw0 = w0\nr0 >>= 32\nexit", result: "ACCEPT", retval: 0 },
  { name: "regs/32-bit add wraps", asm: "w0 = -1\nw0 += 3\nexit", result: "ACCEPT", retval: 2 },
  { name: "regs/64-bit neg", asm: "r0 = -2\nr0 = -r0\nexit", result: "ACCEPT", retval: 2 },
  { name: "regs/32-bit neg", asm: "w0 = -3\nw0 = -w0\nexit", result: "ACCEPT", retval: 3 },
  { name: "regs/arsh keeps sign", asm: "r0 = -16\nr0 s>>= 2\nr0 += 6\nexit", result: "ACCEPT", retval: 2 },
  { name: "regs/bswap16 be", asm: "r0 = 0x200\nr0 = be16 r0\nexit", result: "ACCEPT", retval: 2 },
  { name: "regs/le32 truncates", asm: "r0 = 0x100000002 ll\nr0 = le32 r0\nexit", result: "ACCEPT", retval: 2 },
  { name: "regs/movsx8 sign extends", asm: "r1 = 0xfe\nr0 = (s8)r1\nr0 += 4\nexit", result: "ACCEPT", retval: 2 },
  { name: "regs/sdiv signed division", asm: "r0 = -8\nr0 s/= -4\nexit", result: "ACCEPT", retval: 2 },
  { name: "regs/smod signed modulo", asm: "r0 = -7\nr0 s%= 3\nr0 += 3\nexit", result: "ACCEPT", retval: 2 },
  { name: "regs/div by zero immediate", asm: "r0 = 4\nr0 /= 0\nexit", result: "REJECT", errno: EINVAL, err: "div by zero" },
  { name: "regs/mod by zero immediate", asm: "r0 = 4\nr0 %= 0\nexit", result: "REJECT", errno: EINVAL, err: "div by zero" },
  { name: "regs/32-bit div by zero immediate", asm: "w0 = 4\nw0 /= 0\nexit", result: "REJECT", errno: EINVAL, err: "div by zero" },
  { name: "regs/div by zero register runs as 0", asm: "r0 = 4\nr1 = 0\nr0 /= r1\nexit", result: "ACCEPT", retval: 0 },
  { name: "regs/mod by zero register keeps dividend", asm: "r0 = 4\nr1 = 0\nr0 %= r1\nexit", result: "ACCEPT", retval: 4 },
  { name: "regs/shift by 64 immediate", asm: "r0 = 1\nr0 <<= 64\nexit", result: "REJECT", errno: EINVAL, err: "invalid shift 64" },
  { name: "regs/32-bit shift by 32 immediate", asm: "w0 = 1\nw0 >>= 32\nexit", result: "REJECT", errno: EINVAL, err: "invalid shift 32" },
  { name: "regs/arsh by 64 immediate", asm: "r0 = 1\nr0 s>>= 64\nexit", result: "REJECT", errno: EINVAL, err: "invalid shift 64" },
  { name: "regs/shift by 63 ok", asm: "r0 = 1\nr0 <<= 63\nr0 >>= 62\nexit", result: "ACCEPT", retval: 2 },
  { name: "regs/shift by register out of range is unknown", asm: "r0 = 1\nr1 = 70\nr0 <<= r1\nr0 = 2\nexit", result: "ACCEPT", retval: 2 },
  { name: "regs/bswap invalid width", asm: "r0 = 2\nraw 0xdc 0 0 0 24\nexit", result: "REJECT", errno: EINVAL, err: "BPF_END uses reserved fields" },
  ...varOffCases(),
  { name: "regs/branch on constant prunes dead path", asm: "r0 = 2\nif r0 != 2 goto pc+1\nexit\nr0 = r9\nexit", result: "ACCEPT", retval: 2 },
  { name: "regs/jset on constant", asm: "r0 = 6\nif r0 & 1 goto pc+1\nr0 = 2\nexit", result: "ACCEPT", retval: 2 },
  { name: "regs/return unknown scalar from helper", asm: "call bpf_get_prandom_u32#7\nr0 &= 0\nr0 += 2\nexit", result: "ACCEPT", retval: 2 },
  { name: "regs/return 64-bit large value", asm: "r0 = 0x100000002 ll\nexit", result: "ACCEPT", retval: 2 },
  { name: "regs/return ctx pointer", asm: "r0 = r1\nexit", result: "ACCEPT" },
  { name: "regs/return frame pointer", asm: "r0 = r10\nexit", result: "ACCEPT" },
  { name: "regs/xor self makes known zero", asm: "r0 = *(u32 *)(r1 +12)\nr0 ^= r0\nr0 += 2\nexit", result: "ACCEPT", retval: 2 },
  { name: "regs/mul by constant", asm: "r0 = 1\nr0 *= 2\nexit", result: "ACCEPT", retval: 2 },
];

/** A variable packet offset from ingress_ifindex (1 in test runs), bounded by `bound`, then checked. */
function varOff(bound: string, readOff: number, pre = "r5 = *(u32 *)(r1 +12)"): string {
  return [
    pre, bound, "r2 = *(u32 *)(r6 +0)", "r3 = *(u32 *)(r6 +4)", "r2 += r5", "r4 = r2", "r4 += 8",
    "if r4 > r3 goto out", `r0 = *(u8 *)(r2 +${readOff})`, "r0 = 2", "exit", "out: r0 = 1", "exit",
  ].map((l, i) => (i === 0 ? `r6 = r1\n${l}` : l)).join("\n");
}

function varOffCases(): VerifierCase[] {
  return [
    { name: "regs/tnum mask 0xff bounds a packet offset", asm: varOff("r5 &= 0xff", 7), result: "ACCEPT", retval: 2 },
    {
      name: "regs/tnum mask 0x1ffff exceeds MAX_PACKET_OFF",
      asm: varOff("r5 &= 0x1ffff", 7), result: "REJECT", errno: EACCES, err: "invalid access to packet, off=7 size=1",
    },
    { name: "regs/tnum masked offset read one past range", asm: varOff("r5 &= 3", 8), result: "REJECT", errno: EACCES, err: "invalid access to packet, off=8 size=1" },
    { name: "regs/unsigned bound from jgt on unknown scalar", asm: varOff("if r5 > 0xff goto out", 7), result: "ACCEPT", retval: 2 },
    { name: "regs/jmp32 bound on zero-extended u32", asm: varOff("if w5 > 0xff goto out", 7), result: "ACCEPT", retval: 2 },
    {
      name: "regs/signed upper bound leaves min unbounded",
      asm: varOff("if r5 s> 7 goto out", 7, "call bpf_get_prandom_u32#7\nr5 = r0\nr5 <<= 32\nr5 s>>= 32"),
      result: "REJECT", errno: EINVAL, err: "value -2147483648 makes pkt pointer be out of bounds",
    },
    {
      name: "regs/32-bit bound check on 64-bit value is not enough",
      asm: varOff("if w5 > 7 goto out", 7, "call bpf_get_prandom_u32#7\nr5 = r0\nr5 <<= 32\nr5 |= 3"),
      result: "REJECT", errno: EINVAL, err: "makes pkt pointer be out of bounds",
    },
    {
      name: "regs/tnum mask 0xffff plus offset exceeds MAX_PACKET_OFF",
      asm: varOff("r5 &= 0xffff", 7), result: "REJECT", errno: EACCES, err: "invalid access to packet, off=7 size=1, R2(id=1,off=7,r=0)",
    },
  ];
}
