// Stack cases: 512-byte frames, per-byte slot kinds, spill and fill of
// pointers and scalars, uninitialised reads, bounds and alignment, variable
// offsets (kernel/bpf/verifier.c check_stack_write/check_stack_read,
// check_stack_access_within_bounds).
import { EACCES, EINVAL } from "../../../../../shared/errno.ts";
import type { VerifierCase } from "./case.ts";

export const STACK_CASES: VerifierCase[] = [
  { name: "stack/write then read u64", asm: "r1 = 2\n*(u64 *)(r10 -8) = r1\nr0 = *(u64 *)(r10 -8)\nexit", result: "ACCEPT", retval: 2 },
  // CAP_PERFMON: env->allow_uninit_stack, uninitialised stack reads are allowed for root.
  { name: "stack/read uninitialised slot (privileged)", asm: "r1 = *(u64 *)(r10 -8)\nr0 = 2\nexit", result: "ACCEPT", retval: 2 },
  { name: "stack/read partly initialised u64 (privileged)", asm: "*(u32 *)(r10 -8) = 2\nr1 = *(u64 *)(r10 -8)\nr0 = 2\nexit", result: "ACCEPT", retval: 2 },
  { name: "stack/u32 read of initialised half", asm: "*(u32 *)(r10 -8) = 2\nr0 = *(u32 *)(r10 -8)\nexit", result: "ACCEPT", retval: 2 },
  { name: "stack/byte stores then u32 read", asm: "*(u8 *)(r10 -4) = 2\n*(u8 *)(r10 -3) = 0\n*(u8 *)(r10 -2) = 0\n*(u8 *)(r10 -1) = 0\nr0 = *(u32 *)(r10 -4)\nexit", result: "ACCEPT", retval: 2 },
  { name: "stack/lowest slot -512", asm: "*(u64 *)(r10 -512) = 2\nr0 = *(u64 *)(r10 -512)\nexit", result: "ACCEPT", retval: 2 },
  { name: "stack/write at -520 out of bounds", asm: "*(u64 *)(r10 -520) = 0\nr0 = 2\nexit", result: "REJECT", errno: EACCES, err: "invalid write to stack R10 off=-520 size=8" },
  { name: "stack/write at -513 out of bounds", asm: "*(u8 *)(r10 -513) = 0\nr0 = 2\nexit", result: "REJECT", errno: EACCES, err: "invalid write to stack R10 off=-513 size=1" },
  { name: "stack/write above frame", asm: "*(u64 *)(r10 +0) = 0\nr0 = 2\nexit", result: "REJECT", errno: EACCES, err: "invalid write to stack R10 off=0 size=8" },
  { name: "stack/read above frame", asm: "r0 = *(u32 *)(r10 +8)\nexit", result: "REJECT", errno: EACCES, err: "invalid read from stack R10 off=8 size=4" },
  { name: "stack/misaligned u64 store", asm: "*(u64 *)(r10 -12) = 0\nr0 = 2\nexit", result: "REJECT", errno: EACCES, err: "misaligned stack access off 0+0+-12 size 8" },
  { name: "stack/misaligned u32 load", asm: "*(u64 *)(r10 -8) = 0\nr0 = *(u32 *)(r10 -6)\nexit", result: "REJECT", errno: EACCES, err: "misaligned stack access off 0+0+-6 size 4" },
  { name: "stack/spill and fill ctx pointer", asm: "*(u64 *)(r10 -8) = r1\nr2 = *(u64 *)(r10 -8)\nr0 = *(u32 *)(r2 +12)\nexit", result: "ACCEPT", retval: 1 },
  { name: "stack/partial fill of spilled pointer", asm: "*(u64 *)(r10 -8) = r1\nr2 = *(u32 *)(r10 -8)\nr0 = *(u32 *)(r2 +12)\nexit", result: "REJECT", errno: EACCES, err: "invalid size of register fill" },
  { name: "stack/overwrite half of spilled pointer", asm: "*(u64 *)(r10 -8) = r1\n*(u32 *)(r10 -8) = 0\nr2 = *(u64 *)(r10 -8)\nr0 = *(u32 *)(r2 +12)\nexit", result: "REJECT", errno: EACCES, err: "R2 invalid mem access 'scalar'" },
  { name: "stack/spill and fill constant keeps value", asm: "r1 = 2\n*(u64 *)(r10 -16) = r1\nr0 = *(u64 *)(r10 -16)\nif r0 != 2 goto pc+1\nexit\nr0 = r9\nexit", result: "ACCEPT", retval: 2 },
  { name: "stack/spill frame pointer", asm: "*(u64 *)(r10 -8) = r10\nr2 = *(u64 *)(r10 -8)\n*(u64 *)(r2 -16) = 2\nr0 = *(u64 *)(r10 -16)\nexit", result: "ACCEPT", retval: 2 },
  {
    name: "stack/spill packet pointer keeps range",
    asm: "r2 = *(u32 *)(r1 +0)\nr3 = *(u32 *)(r1 +4)\nr4 = r2\nr4 += 14\nif r4 > r3 goto out\n*(u64 *)(r10 -8) = r2\nr5 = *(u64 *)(r10 -8)\nr0 = *(u8 *)(r5 +13)\nr0 = 2\nexit\nout: r0 = 1\nexit",
    result: "ACCEPT", retval: 2,
  },
  { name: "stack/pointer via fp copy with offset", asm: "r2 = r10\nr2 += -16\n*(u64 *)(r2 +8) = 2\nr0 = *(u64 *)(r10 -8)\nexit", result: "ACCEPT", retval: 2 },
  { name: "stack/fp copy out of bounds", asm: "r2 = r10\nr2 += -512\n*(u64 *)(r2 -8) = 2\nr0 = 2\nexit", result: "REJECT", errno: EACCES, err: "invalid write to stack R2 off=-520 size=8" },
  {
    name: "stack/variable offset write",
    asm: "r2 = *(u32 *)(r1 +12)\nr2 &= 8\nr3 = r10\nr3 += -16\nr3 += r2\n*(u64 *)(r3 +0) = 2\nr0 = 2\nexit", result: "ACCEPT", retval: 2,
  },
  {
    name: "stack/variable offset read of uninitialised slots (privileged)",
    asm: "r2 = *(u32 *)(r1 +12)\nr2 &= 8\nr3 = r10\nr3 += -16\nr3 += r2\nr1 = *(u64 *)(r3 +0)\nr0 = 2\nexit",
    result: "ACCEPT", retval: 2,
  },
  {
    name: "stack/variable offset read of initialised slots",
    asm: "*(u64 *)(r10 -16) = 2\n*(u64 *)(r10 -8) = 2\nr2 = *(u32 *)(r1 +12)\nr2 &= 8\nr3 = r10\nr3 += -16\nr3 += r2\nr0 = *(u64 *)(r3 +0)\nexit",
    result: "ACCEPT", retval: 2,
  },
  {
    name: "stack/variable offset beyond frame",
    asm: "r2 = *(u32 *)(r1 +12)\nr2 &= 16\nr3 = r10\nr3 += -8\nr3 += r2\n*(u64 *)(r3 +0) = 2\nr0 = 2\nexit",
    result: "REJECT", errno: EINVAL, err: "invalid variable-offset write to stack R3 var_off=(0x0; 0x10) off=-8 size=8",
  },
  { name: "stack/store frame pointer into itself then return value", asm: "*(u64 *)(r10 -8) = r10\nr0 = 2\nexit", result: "ACCEPT", retval: 2 },
  { name: "stack/atomic add on stack", asm: "*(u64 *)(r10 -8) = 1\nr1 = 1\nlock *(u64 *)(r10 -8) += r1\nr0 = *(u64 *)(r10 -8)\nexit", result: "ACCEPT", retval: 2 },
  { name: "stack/atomic fetch on uninitialised stack (privileged)", asm: "r1 = 1\nr1 = atomic64_fetch_add((u64 *)(r10 -8), r1)\nr0 = 2\nexit", result: "ACCEPT", retval: 2 },
  { name: "stack/atomic on spilled pointer", asm: "*(u64 *)(r10 -8) = r1\nr2 = 1\nlock *(u64 *)(r10 -8) += r2\nr0 = 2\nexit", result: "ACCEPT", retval: 2 },
  { name: "stack/xchg on stack returns old", asm: "*(u64 *)(r10 -8) = 2\nr0 = 5\nr0 = atomic64_xchg((u64 *)(r10 -8), r0)\nexit", result: "ACCEPT", retval: 2 },
];
