// Map cases: CONST_PTR_TO_MAP from ld_imm64, map_lookup_elem's
// PTR_TO_MAP_VALUE_OR_NULL with id-based null propagation, map value bounds,
// direct value access, map fd resolution (kernel/bpf/verifier.c
// check_map_access, mark_ptr_or_null_regs, resolve_pseudo_ldimm64).
import { EACCES, EBADF, EINVAL } from "../../../../../shared/errno.ts";
import { ARRAY_48, ARRAY_8, HASH_8_16, PERCPU_ARRAY_8, PROG_ARRAY, type VerifierCase } from "./case.ts";

/** key (u32 0) on the stack at fp-4, r2 = &key, r1 = map 0, lookup. */
const LOOKUP = "*(u32 *)(r10 -4) = 0\nr2 = r10\nr2 += -4\nr1 = map_fd 0\ncall bpf_map_lookup_elem#1";
/** 8-byte zero key at fp-8 (hash map). */
const LOOKUP8 = "*(u64 *)(r10 -8) = 0\nr2 = r10\nr2 += -8\nr1 = map_fd 0\ncall bpf_map_lookup_elem#1";

export const MAP_CASES: VerifierCase[] = [
  { name: "map/lookup with null check", maps: [ARRAY_8], asm: `${LOOKUP}\nif r0 == 0 goto out\nr0 = *(u64 *)(r0 +0)\nr0 = 2\nexit\nout: r0 = 1\nexit`, result: "ACCEPT", retval: 2 },
  {
    name: "map/array lookup with constant in-range key is never null", maps: [ARRAY_8],
    asm: `${LOOKUP}\nr0 = *(u64 *)(r0 +0)\nr0 += 2\nexit`, result: "ACCEPT", retval: 2,
  },
  {
    name: "map/array lookup with unknown key needs null check", maps: [ARRAY_8],
    asm: "r1 = *(u32 *)(r1 +12)\n*(u32 *)(r10 -4) = r1\nr2 = r10\nr2 += -4\nr1 = map_fd 0\ncall bpf_map_lookup_elem#1\nr0 = *(u64 *)(r0 +0)\nexit",
    result: "REJECT", errno: EACCES, err: "R0 invalid mem access 'map_value_or_null'",
  },
  { name: "map/hash lookup without null check", maps: [HASH_8_16], asm: `${LOOKUP8}\nr0 = *(u64 *)(r0 +0)\nexit`, result: "REJECT", errno: EACCES, err: "R0 invalid mem access 'map_value_or_null'" },
  { name: "map/hash null check with != form", maps: [HASH_8_16], asm: `${LOOKUP8}\nif r0 != 0 goto ok\nr0 = 1\nexit\nok: r1 = *(u32 *)(r0 +4)\nr0 = 2\nexit`, result: "ACCEPT", retval: 1 },
  {
    name: "map/hash null check on copy propagates to original", maps: [HASH_8_16],
    asm: `${LOOKUP8}\nr6 = r0\nif r6 == 0 goto out\nr0 = *(u64 *)(r0 +0)\nr0 = 2\nexit\nout: r0 = 1\nexit`, result: "ACCEPT", retval: 1,
  },
  {
    name: "map/hash null check on original propagates to spilled copy", maps: [HASH_8_16],
    asm: `${LOOKUP8}\n*(u64 *)(r10 -16) = r0\nif r0 == 0 goto out\nr1 = *(u64 *)(r10 -16)\nr0 = *(u64 *)(r1 +0)\nr0 = 2\nexit\nout: r0 = 1\nexit`,
    result: "ACCEPT", retval: 1,
  },
  {
    name: "map/hash null check of one lookup does not cover another", maps: [HASH_8_16],
    asm: `${LOOKUP8}\nr6 = r0\n${LOOKUP8}\nif r0 == 0 goto out\nr0 = *(u64 *)(r6 +0)\nr0 = 2\nexit\nout: r0 = 1\nexit`,
    result: "REJECT", errno: EACCES, err: "R6 invalid mem access 'map_value_or_null'",
  },
  { name: "map/hash access in the null branch", maps: [HASH_8_16], asm: `${LOOKUP8}\nif r0 != 0 goto out\nr0 = *(u64 *)(r0 +0)\nexit\nout: r0 = 1\nexit`, result: "REJECT", errno: EACCES, err: "R0 invalid mem access 'scalar'" },
  { name: "map/hash arithmetic on map_value_or_null", maps: [HASH_8_16], asm: `${LOOKUP8}\nr0 += 4\nr0 = 2\nexit`, result: "REJECT", errno: EACCES, err: "R0 pointer arithmetic on map_value_or_null prohibited, null-check it first" },
  {
    name: "map/hash value or null returned to caller", maps: [HASH_8_16],
    asm: `${LOOKUP8}\nexit`, result: "ACCEPT", retval: 0,
  },
  { name: "map/read last byte of value", maps: [ARRAY_8], asm: `${LOOKUP}\nif r0 == 0 goto out\nr0 = *(u8 *)(r0 +7)\nr0 = 2\nexit\nout: r0 = 1\nexit`, result: "ACCEPT", retval: 2 },
  { name: "map/read one past the value", maps: [ARRAY_8], asm: `${LOOKUP}\nif r0 == 0 goto out\nr0 = *(u8 *)(r0 +8)\nr0 = 2\nexit\nout: r0 = 1\nexit`, result: "REJECT", errno: EACCES, err: "invalid access to map value, value_size=8 off=8 size=1" },
  { name: "map/u64 read straddling the value end", maps: [ARRAY_8], asm: `${LOOKUP}\nif r0 == 0 goto out\nr0 = *(u64 *)(r0 +4)\nr0 = 2\nexit\nout: r0 = 1\nexit`, result: "REJECT", errno: EACCES, err: "invalid access to map value, value_size=8 off=4 size=8" },
  { name: "map/negative offset into value", maps: [ARRAY_8], asm: `${LOOKUP}\nif r0 == 0 goto out\nr0 = *(u8 *)(r0 -1)\nr0 = 2\nexit\nout: r0 = 1\nexit`, result: "REJECT", errno: EACCES, err: "invalid access to map value, value_size=8 off=-1 size=1" },
  { name: "map/write then read value", maps: [ARRAY_8], asm: `${LOOKUP}\nif r0 == 0 goto out\n*(u64 *)(r0 +0) = 2\nr0 = *(u64 *)(r0 +0)\nexit\nout: r0 = 1\nexit`, result: "ACCEPT", retval: 2 },
  {
    name: "map/atomic add on value", maps: [ARRAY_8],
    asm: `${LOOKUP}\nif r0 == 0 goto out\nr1 = 2\nlock *(u64 *)(r0 +0) += r1\nr0 = *(u64 *)(r0 +0)\nexit\nout: r0 = 1\nexit`, result: "ACCEPT", retval: 2,
  },
  {
    name: "map/variable offset bounded into value", maps: [ARRAY_48],
    asm: `r6 = *(u32 *)(r1 +12)\n${LOOKUP}\nif r0 == 0 goto out\nr6 &= 31\nr0 += r6\nr0 = *(u64 *)(r0 +8)\nr0 = 2\nexit\nout: r0 = 1\nexit`, result: "ACCEPT", retval: 2,
  },
  {
    name: "map/variable offset past value end", maps: [ARRAY_48],
    asm: `r6 = *(u32 *)(r1 +12)\n${LOOKUP}\nif r0 == 0 goto out\nr6 &= 63\nr0 += r6\nr0 = *(u64 *)(r0 +8)\nr0 = 2\nexit\nout: r0 = 1\nexit`,
    result: "REJECT", errno: EACCES, err: "invalid access to map value, value_size=48 off=71 size=8",
  },
  {
    name: "map/unbounded variable offset into value", maps: [ARRAY_48],
    asm: `r6 = *(u32 *)(r1 +12)\n${LOOKUP}\nif r0 == 0 goto out\nr0 += r6\nr0 = *(u8 *)(r0 +0)\nr0 = 2\nexit\nout: r0 = 1\nexit`,
    result: "REJECT", errno: EACCES, err: "R0 unbounded memory access, make sure to bounds check any such access",
  },
  { name: "map/hash lookup misses", maps: [HASH_8_16], asm: `${LOOKUP8}\nif r0 == 0 goto out\nr0 = 2\nexit\nout: r0 = 1\nexit`, result: "ACCEPT", retval: 1 },
  {
    name: "map/hash update then lookup", maps: [HASH_8_16],
    asm: [
      "*(u64 *)(r10 -8) = 0", "*(u64 *)(r10 -24) = 2", "*(u64 *)(r10 -16) = 0", "r1 = map_fd 0", "r2 = r10", "r2 += -8",
      "r3 = r10", "r3 += -24", "r4 = 0", "call bpf_map_update_elem#2", LOOKUP8, "if r0 == 0 goto out", "r0 = *(u64 *)(r0 +0)", "exit",
      "out: r0 = 1", "exit",
    ].join("\n"),
    result: "ACCEPT", retval: 2,
  },
  { name: "map/delete from hash", maps: [HASH_8_16], asm: "*(u64 *)(r10 -8) = 0\nr2 = r10\nr2 += -8\nr1 = map_fd 0\ncall bpf_map_delete_elem#3\nr0 = -r0\nexit", result: "ACCEPT", retval: 2 },
  { name: "map/percpu array lookup", maps: [PERCPU_ARRAY_8], asm: `${LOOKUP}\nif r0 == 0 goto out\nr0 = 2\nexit\nout: r0 = 1\nexit`, result: "ACCEPT", retval: 2 },
  { name: "map/array index out of range yields null", maps: [ARRAY_8], asm: "*(u32 *)(r10 -4) = 9\nr2 = r10\nr2 += -4\nr1 = map_fd 0\ncall bpf_map_lookup_elem#1\nif r0 == 0 goto out\nr0 = 2\nexit\nout: r0 = 1\nexit", result: "ACCEPT", retval: 1 },
  { name: "map/bad map fd", asm: "r1 = map_fd 999\nr0 = 2\nexit", result: "REJECT", errno: EBADF, err: "fd 999 is not pointing to valid bpf_map" },
  { name: "map/direct value access", maps: [ARRAY_48], asm: "r1 = map_value 0 8\nr0 = *(u64 *)(r1 +0)\nr0 += 2\nexit", result: "ACCEPT", retval: 2 },
  { name: "map/direct value access last qword", maps: [ARRAY_48], asm: "r1 = map_value 0 40\nr0 = *(u64 *)(r1 +8)\nexit", result: "REJECT", errno: EACCES, err: "invalid access to map value, value_size=48 off=48 size=8" },
  { name: "map/direct value offset beyond value", maps: [ARRAY_48], asm: "r1 = map_value 0 48\nr0 = 2\nexit", result: "REJECT", errno: EINVAL, err: "invalid access to map value pointer, value_size=48 off=48" },
  { name: "map/direct value access on hash map", maps: [HASH_8_16], asm: "r1 = map_value 0 0\nr0 = 2\nexit", result: "REJECT", errno: EINVAL, err: "no direct value access support for this map type" },
  { name: "map/map pointer read by a privileged program (BTF struct bpf_map)", maps: [ARRAY_8], asm: "r1 = map_fd 0\nr0 = *(u64 *)(r1 +0)\nr0 = 2\nexit", result: "ACCEPT", retval: 2 },
  { name: "map/map pointer write", maps: [ARRAY_8], asm: "r1 = map_fd 0\n*(u64 *)(r1 +0) = 0\nr0 = 2\nexit", result: "REJECT", errno: EACCES, err: "only read from bpf_array is supported" },
  { name: "map/map pointer arithmetic", maps: [ARRAY_8], asm: "r1 = map_fd 0\nr1 += 8\nr0 = 2\nexit", result: "REJECT", errno: EACCES, err: "R1 pointer arithmetic on map_ptr prohibited" },
  { name: "map/lookup in prog array", maps: [PROG_ARRAY], asm: `${LOOKUP}\nr0 = 2\nexit`, result: "REJECT", errno: EINVAL, err: "cannot pass map_type 3 into func bpf_map_lookup_elem#1" },
  { name: "map/read-only program map write", maps: [{ ...ARRAY_8, flags: 0x80 }], asm: `${LOOKUP}\nif r0 == 0 goto out\n*(u64 *)(r0 +0) = 1\nout: r0 = 2\nexit`, result: "REJECT", errno: EACCES, err: "write into map forbidden, value_size=8 off=0 size=8" },
  { name: "map/read-only program map read", maps: [{ ...ARRAY_8, flags: 0x80 }], asm: `${LOOKUP}\nif r0 == 0 goto out\nr1 = *(u64 *)(r0 +0)\nout: r0 = 2\nexit`, result: "ACCEPT", retval: 2 },
  { name: "map/same map referenced twice", maps: [ARRAY_8], asm: `${LOOKUP}\n${LOOKUP}\nif r0 == 0 goto out\nr0 = 2\nexit\nout: r0 = 1\nexit`, result: "ACCEPT", retval: 2 },
  {
    name: "map/value pointer compared with null after arithmetic", maps: [ARRAY_8],
    asm: `${LOOKUP}\nif r0 == 0 goto out\nr0 += 4\nif r0 == 0 goto out\nr0 = *(u32 *)(r0 +0)\nr0 = 2\nexit\nout: r0 = 1\nexit`, result: "ACCEPT", retval: 2,
  },
];
