// Control-flow graph cases: the kernel's check_cfg()/check_subprogs() and the
// structural checks before it (kernel/bpf/verifier.c): unreachable code,
// jumps out of range or into ld_imm64, fall-through off the end, loops.
import { E2BIG, EACCES, EINVAL } from "../../../../../shared/errno.ts";
import { BpfInsns } from "../../../../../shared/bpf/isa/insn.ts";
import type { VerifierCase } from "./case.ts";

export const CFG_CASES: VerifierCase[] = [
  { name: "cfg/minimal r0=2 exit", asm: "r0 = 2\nexit", result: "ACCEPT", retval: 2 },
  { name: "cfg/unreachable insn after exit", asm: "r0 = 2\nexit\nr0 = 1\nexit", result: "REJECT", errno: EINVAL, err: "unreachable insn 2" },
  {
    name: "cfg/unreachable block skipped by goto",
    asm: "r0 = 2\ngoto out\nr0 = 1\nout: exit", result: "REJECT", errno: EINVAL, err: "unreachable insn 2",
  },
  { name: "cfg/jump out of range forward", asm: "r0 = 2\ngoto pc+5\nexit", result: "REJECT", errno: EINVAL, err: "jump out of range from insn 1 to 7" },
  { name: "cfg/jump out of range backward", asm: "r0 = 2\ngoto pc-3\nexit", result: "REJECT", errno: EINVAL, err: "jump out of range from insn 1 to -1" },
  {
    name: "cfg/conditional jump out of range",
    asm: "r0 = 2\nif r0 == 2 goto pc+10\nexit", result: "REJECT", errno: EINVAL, err: "jump out of range from insn 1 to 12",
  },
  {
    name: "cfg/jump into the middle of ld_imm64",
    asm: "r0 = 2\nif r0 == 1 goto pc+1\nr1 = 0x100000000 ll\nexit", result: "REJECT", errno: EINVAL, err: "jump into the middle of ldimm64 insn 2",
  },
  { name: "cfg/truncated ld_imm64 at end", asm: "r0 = 2\nexit\nraw 0x18 0 0 0 1", result: "REJECT", errno: EINVAL, err: "last insn is not an exit or jmp" },
  {
    name: "cfg/ld_imm64 second half not zero opcode",
    asm: "raw 0x18 0 0 0 2\nraw 0x07 0 0 0 0\nexit", result: "REJECT", errno: EINVAL, err: "invalid bpf_ld_imm64 insn",
  },
  { name: "cfg/last insn not exit", asm: "r0 = 2", result: "REJECT", errno: EINVAL, err: "last insn is not an exit or jmp" },
  { name: "cfg/falls off the end after branch", asm: "r0 = 2\nif r0 == 2 goto pc+1\nexit\nr0 = 1", result: "REJECT", errno: EINVAL, err: "last insn is not an exit or jmp" },
  { name: "cfg/goto -1 makes the exit unreachable", asm: "r0 = 2\ngoto pc-1\nexit", result: "REJECT", errno: EINVAL, err: "unreachable insn 2" },
  {
    name: "cfg/conditional self loop on unknown value",
    asm: "r1 = *(u32 *)(r1 +12)\nr0 = 2\nif r1 != 0 goto pc-1\nexit", result: "REJECT", errno: EINVAL, err: "infinite loop detected at insn 2",
  },
  {
    name: "cfg/back-edge loop without exit condition change",
    asm: "r0 = 0\nloop: r1 = 1\nif r0 == 0 goto loop\nexit", result: "REJECT", errno: EINVAL, err: "infinite loop detected at insn",
  },
  {
    name: "cfg/bounded loop 10 iterations",
    asm: "r0 = 0\nr1 = 0\nloop: r0 += 1\nr1 += 1\nif r1 < 10 goto loop\nexit", result: "ACCEPT", retval: 10,
  },
  {
    name: "cfg/bounded loop with jmp32 counter",
    asm: "w0 = 0\nloop: w0 += 3\nif w0 < 30 goto loop\nexit", result: "ACCEPT", retval: 30,
  },
  {
    name: "cfg/bounded loop counting down",
    asm: "r0 = 0\nr1 = 16\nloop: r0 += 2\nr1 -= 1\nif r1 != 0 goto loop\nexit", result: "ACCEPT", retval: 32,
  },
  {
    name: "cfg/loop over unknown bound never terminates in verifier",
    asm: "r2 = *(u32 *)(r1 +0)\nr0 = 0\nloop: r0 += 1\nif r0 != r2 goto loop\nexit",
    result: "REJECT", errno: E2BIG, err: "BPF program is too large. Processed 1000001 insn", slow: true,
  },
  {
    name: "cfg/nested bounded loops",
    asm: [
      "r0 = 0", "r1 = 0", "outer: r2 = 0", "inner: r0 += 1", "r2 += 1", "if r2 < 3 goto inner",
      "r1 += 1", "if r1 < 4 goto outer", "exit",
    ].join("\n"),
    result: "ACCEPT", retval: 12,
  },
  { name: "cfg/unknown opcode 0xff", asm: "raw 0xff 0 0 0 0\nr0 = 2\nexit", result: "REJECT", errno: EINVAL, err: "unknown opcode ff" },
  { name: "cfg/unknown ALU op 0xe4", asm: "raw 0xe4 0 0 0 0\nr0 = 2\nexit", result: "REJECT", errno: EINVAL, err: "unknown opcode e4" },
  { name: "cfg/unknown JMP op 0xe5", asm: "r0 = 2\nraw 0xf5 0 0 0 0\nexit", result: "REJECT", errno: EINVAL, err: "unknown opcode f5" },
  { name: "cfg/ALU reserved field off", asm: "raw 0xb7 0 0 1 2\nexit", result: "REJECT", errno: EINVAL, err: "BPF_MOV uses reserved fields" },
  { name: "cfg/exit reserved fields", asm: "r0 = 2\nraw 0x95 1 0 0 0", result: "REJECT", errno: EINVAL, err: "BPF_EXIT uses reserved fields" },
  { name: "cfg/ja with src set", asm: "r0 = 2\nraw 0x05 0 1 0 0\nexit", result: "REJECT", errno: EINVAL, err: "BPF_JA uses reserved fields" },
  { name: "cfg/register r11 invalid", asm: "raw 0xb7 11 0 0 2\nr0 = 2\nexit", result: "REJECT", errno: EINVAL, err: "R11 is invalid" },
  { name: "cfg/register r15 as source", asm: "raw 0xbf 0 15 0 0\nexit", result: "REJECT", errno: EINVAL, err: "R15 is invalid" },
  { name: "cfg/write to frame pointer", asm: "r10 = 0\nr0 = 2\nexit", result: "REJECT", errno: EACCES, err: "frame pointer is read only" },
  { name: "cfg/empty program", build: () => new BpfInsns(0), result: "REJECT", errno: E2BIG },
  {
    name: "cfg/ld_imm64 unknown pseudo src",
    asm: "raw 0x18 1 9 0 0\nraw 0 0 0 0 0\nr0 = 2\nexit", result: "REJECT", errno: EINVAL, err: "unrecognized bpf_ld_imm64 insn",
  },
  { name: "cfg/legacy ld_abs in XDP", asm: "r6 = r1\nr0 = *(u8 *)skb[12]\nexit", result: "REJECT", errno: EINVAL, err: "BPF_LD_[ABS|IND] instructions not allowed for this program type" },
  { name: "cfg/ld_imm64 full 64-bit value", asm: "r0 = 0x200000002 ll\nr0 >>= 32\nexit", result: "ACCEPT", retval: 2 },
  { name: "cfg/gotol long jump", asm: "r0 = 2\ngotol pc+1\nexit\ngotol pc-2", result: "ACCEPT", retval: 2 },
  { name: "cfg/diamond both sides exit", asm: "r0 = 2\nr2 = *(u32 *)(r1 +12)\nif r2 == 1 goto a\nr0 = 3\nexit\na: exit", result: "ACCEPT", retval: 2 },
];

