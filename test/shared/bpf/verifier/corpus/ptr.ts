// Pointer rules: arithmetic allowed and prohibited per pointer type and
// operator, pointer comparisons, pointer leaks into maps and packets and as
// return values for a privileged loader (allow_ptr_leaks), partial copies
// (kernel/bpf/verifier.c adjust_ptr_min_max_vals, check_alu_op, check_mem_access).
import { EACCES, EINVAL } from "../../../../../shared/errno.ts";
import { ARRAY_8, HASH_8_16, type VerifierCase } from "./case.ts";

const LOOKUP = "*(u32 *)(r10 -4) = 0\nr2 = r10\nr2 += -4\nr1 = map_fd 0\ncall bpf_map_lookup_elem#1";
const PKT = "r2 = *(u32 *)(r1 +0)\nr3 = *(u32 *)(r1 +4)";

export const PTR_CASES: VerifierCase[] = [
  { name: "ptr/pointer += pointer", asm: "r2 = r10\nr2 += r1\nr0 = 2\nexit", result: "REJECT", errno: EACCES, err: "R2 pointer += pointer prohibited" },
  { name: "ptr/pointer *= scalar", asm: "r1 *= 2\nr0 = 2\nexit", result: "REJECT", errno: EACCES, err: "R1 pointer arithmetic with *= operator prohibited" },
  { name: "ptr/pointer <<= scalar", asm: "r1 <<= 2\nr0 = 2\nexit", result: "REJECT", errno: EACCES, err: "R1 pointer arithmetic with <<= operator prohibited" },
  { name: "ptr/pointer &= scalar", asm: "r1 &= 0xff\nr0 = 2\nexit", result: "REJECT", errno: EACCES, err: "R1 bitwise operator &= on pointer prohibited" },
  { name: "ptr/pointer |= scalar", asm: "r1 |= 1\nr0 = 2\nexit", result: "REJECT", errno: EACCES, err: "R1 bitwise operator |= on pointer prohibited" },
  { name: "ptr/32-bit add to pointer", asm: "w1 += 4\nr0 = 2\nexit", result: "REJECT", errno: EACCES, err: "R1 32-bit pointer arithmetic prohibited" },
  { name: "ptr/neg of pointer makes a scalar (privileged)", asm: "r1 = -r1\nr0 = 2\nexit", result: "ACCEPT", retval: 2 },
  { name: "ptr/scalar minus pointer", asm: "r2 = 8\nr2 -= r10\nr0 = 2\nexit", result: "REJECT", errno: EACCES, err: "R2 tried to subtract pointer from scalar" },
  { name: "ptr/stack minus stack is scalar", asm: "r2 = r10\nr2 += -8\nr3 = r10\nr3 -= r2\nr0 = r3\nr0 -= 6\nexit", result: "ACCEPT", retval: 2 },
  { name: "ptr/ctx minus stack pointer (privileged)", asm: "r1 -= r10\nr0 = 2\nexit", result: "ACCEPT", retval: 2 },
  { name: "ptr/ctx minus stack pointer then dereference", asm: "r1 -= r10\nr0 = *(u8 *)(r1 +0)\nexit", result: "REJECT", errno: EACCES, err: "R1 invalid mem access 'scalar'" },
  { name: "ptr/map value minus map value", maps: [ARRAY_8], asm: `${LOOKUP}\nr1 = r0\nr1 += 4\nr1 -= r0\nr0 = r1\nr0 -= 2\nexit`, result: "ACCEPT", retval: 2 },
  { name: "ptr/32-bit mov of pointer (privileged)", asm: "w0 = w1\nr0 = 2\nexit", result: "ACCEPT", retval: 2 },
  { name: "ptr/bswap of pointer makes a scalar (privileged)", asm: "r1 = be64 r1\nr0 = 2\nexit", result: "ACCEPT", retval: 2 },
  { name: "ptr/compare pointer with scalar (privileged)", asm: "r0 = 2\nif r1 == 0 goto pc+1\nexit\nr0 = 1\nexit", result: "ACCEPT", retval: 2 },
  { name: "ptr/compare ctx with stack pointer (privileged)", asm: "r0 = 2\nif r1 > r10 goto pc+0\nexit", result: "ACCEPT", retval: 2 },
  { name: "ptr/compare packet with map value (privileged)", maps: [ARRAY_8], asm: `r6 = r1\n${LOOKUP}\nr2 = *(u32 *)(r6 +0)\nif r2 > r0 goto pc+0\nr0 = 2\nexit`, result: "ACCEPT", retval: 2 },
  { name: "ptr/ctx pointer leaked into map value (privileged)", maps: [ARRAY_8], asm: `r6 = r1\n${LOOKUP}\n*(u64 *)(r0 +0) = r6\nr0 = 2\nexit`, result: "ACCEPT", retval: 2 },
  { name: "ptr/stack pointer leaked into map value (privileged)", maps: [ARRAY_8], asm: `${LOOKUP}\n*(u64 *)(r0 +0) = r10\nr0 = 2\nexit`, result: "ACCEPT", retval: 2 },
  { name: "ptr/map pointer leaked into map via update (privileged)", maps: [HASH_8_16], asm: "*(u64 *)(r10 -8) = 0\nr1 = map_fd 0\n*(u64 *)(r10 -24) = r1\n*(u64 *)(r10 -16) = 0\nr2 = r10\nr2 += -8\nr3 = r10\nr3 += -24\nr4 = 0\ncall bpf_map_update_elem#2\nr0 = 2\nexit", result: "ACCEPT", retval: 2 },
  { name: "ptr/pointer leaked into packet (privileged)", asm: `${PKT}\nr4 = r2\nr4 += 8\nif r4 > r3 goto out\n*(u64 *)(r2 +0) = r1\nr0 = 2\nexit\nout: r0 = 1\nexit`, result: "ACCEPT", retval: 2 },
  { name: "ptr/pointer returned (privileged)", maps: [ARRAY_8], asm: `${LOOKUP}\nexit`, result: "ACCEPT" },
  { name: "ptr/pkt pointer returned (privileged)", asm: `${PKT}\nr0 = r2\nexit`, result: "ACCEPT" },
  { name: "ptr/store pointer into ctx", asm: "*(u32 *)(r1 +12) = r10\nr0 = 2\nexit", result: "REJECT", errno: EACCES, err: "invalid bpf_context access off=12 size=4" },
  { name: "ptr/stack pointer with too negative constant", asm: "r2 = r10\nr2 += -600\nr0 = 2\nexit", result: "ACCEPT", retval: 2 },
  { name: "ptr/stack pointer offset beyond 2^29", asm: "r2 = r10\nr2 += 0x20000000\nr0 = 2\nexit", result: "REJECT", errno: EINVAL, err: "math between fp pointer and 536870912 is not allowed" },
  { name: "ptr/stack pointer with unbounded scalar added", asm: "r3 = *(u32 *)(r1 +12)\nr2 = r10\nr2 += r3\nr0 = 2\nexit", result: "ACCEPT", retval: 2 },
  { name: "ptr/deref stack pointer with unbounded scalar added", asm: "r3 = *(u32 *)(r1 +12)\nr2 = r10\nr2 += r3\nr0 = *(u8 *)(r2 +0)\nexit", result: "REJECT", errno: EACCES, err: "invalid unbounded variable-offset read from stack R2" },
  { name: "ptr/scalar dereference", asm: "r1 = 0x1000\nr0 = *(u64 *)(r1 +0)\nexit", result: "REJECT", errno: EACCES, err: "R1 invalid mem access 'scalar'" },
  { name: "ptr/null dereference", asm: "r1 = 0\nr0 = *(u64 *)(r1 +0)\nexit", result: "REJECT", errno: EACCES, err: "R1 invalid mem access 'scalar'" },
  { name: "ptr/store to scalar address", asm: "r1 = 0x1000\n*(u64 *)(r1 +0) = 0\nr0 = 2\nexit", result: "REJECT", errno: EACCES, err: "R1 invalid mem access 'scalar'" },
];
