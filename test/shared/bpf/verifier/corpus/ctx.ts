// struct xdp_md context access cases: xdp_is_valid_access() and
// xdp_convert_ctx_access() (net/core/filter.c), check_ctx_access() in the verifier.
import { EACCES, EOPNOTSUPP } from "../../../../../shared/errno.ts";
import type { VerifierCase } from "./case.ts";

export const CTX_CASES: VerifierCase[] = [
  { name: "ctx/read data", asm: "r0 = *(u32 *)(r1 +0)\nr0 = 2\nexit", result: "ACCEPT", retval: 2 },
  { name: "ctx/read data_end", asm: "r0 = *(u32 *)(r1 +4)\nr0 = 2\nexit", result: "ACCEPT", retval: 2 },
  { name: "ctx/read data_meta", asm: "r0 = *(u32 *)(r1 +8)\nr0 = 2\nexit", result: "ACCEPT", retval: 2 },
  { name: "ctx/read ingress_ifindex", asm: "r0 = *(u32 *)(r1 +12)\nexit", result: "ACCEPT", retval: 1 },
  { name: "ctx/read rx_queue_index", asm: "r0 = *(u32 *)(r1 +16)\nr0 += 2\nexit", result: "ACCEPT", retval: 2 },
  { name: "ctx/egress_ifindex only for devmap programs", asm: "r0 = *(u32 *)(r1 +20)\nr0 += 2\nexit", result: "REJECT", errno: EACCES, err: "invalid bpf_context access off=20 size=4" },
  { name: "ctx/read past the end off=24", asm: "r0 = *(u32 *)(r1 +24)\nexit", result: "REJECT", errno: EACCES, err: "invalid bpf_context access off=24 size=4" },
  { name: "ctx/negative offset", asm: "r0 = *(u32 *)(r1 -4)\nexit", result: "REJECT", errno: EACCES, err: "invalid bpf_context access off=-4 size=4" },
  { name: "ctx/u64 read of data", asm: "r0 = *(u64 *)(r1 +0)\nexit", result: "REJECT", errno: EACCES, err: "invalid bpf_context access off=0 size=8" },
  { name: "ctx/u16 read of data", asm: "r0 = *(u16 *)(r1 +0)\nexit", result: "REJECT", errno: EACCES, err: "invalid bpf_context access off=0 size=2" },
  { name: "ctx/u8 read of ingress_ifindex", asm: "r0 = *(u8 *)(r1 +12)\nexit", result: "REJECT", errno: EACCES, err: "invalid bpf_context access off=12 size=1" },
  { name: "ctx/unaligned u32 read off=2", asm: "r0 = *(u32 *)(r1 +2)\nexit", result: "REJECT", errno: EACCES, err: "invalid bpf_context access off=2 size=4" },
  { name: "ctx/unaligned u32 read off=13", asm: "r0 = *(u32 *)(r1 +13)\nexit", result: "REJECT", errno: EACCES, err: "invalid bpf_context access off=13 size=4" },
  { name: "ctx/store to data", asm: "r2 = 0\n*(u32 *)(r1 +0) = r2\nr0 = 2\nexit", result: "REJECT", errno: EACCES, err: "invalid bpf_context access off=0 size=4" },
  { name: "ctx/store imm to ingress_ifindex", asm: "*(u32 *)(r1 +12) = 0\nr0 = 2\nexit", result: "REJECT", errno: EACCES, err: "invalid bpf_context access off=12 size=4" },
  { name: "ctx/store to rx_queue_index not bound to a device", asm: "r2 = 0\n*(u32 *)(r1 +16) = r2\nr0 = 2\nexit", result: "REJECT", errno: EACCES, err: "invalid bpf_context access off=16 size=4" },
  {
    name: "ctx/offload to a device without BPF offload (lo)", ifindex: 1,
    asm: "r2 = 0\n*(u32 *)(r1 +16) = r2\nr0 = 2\nexit", result: "REJECT", errno: EOPNOTSUPP,
  },
  { name: "ctx/read via modified ctx pointer", asm: "r1 += 4\nr0 = *(u32 *)(r1 +0)\nexit", result: "REJECT", errno: EACCES, err: "dereference of modified ctx ptr R1 off=4 disallowed" },
  { name: "ctx/read via ctx pointer copy", asm: "r6 = r1\nr0 = *(u32 *)(r6 +12)\nexit", result: "ACCEPT", retval: 1 },
  { name: "ctx/variable offset ctx access", asm: "r2 = *(u32 *)(r1 +12)\nr2 &= 4\nr1 += r2\nr0 = *(u32 *)(r1 +0)\nexit", result: "REJECT", errno: EACCES, err: "variable ctx access var_off=" },
  { name: "ctx/atomic add on ctx", asm: "r2 = 1\nlock *(u32 *)(r1 +12) += r2\nr0 = 2\nexit", result: "REJECT", errno: EACCES, err: "BPF_ATOMIC stores into R1 ctx is not allowed" },
  { name: "ctx/data pointer is not packet before load", asm: "r0 = *(u8 *)(r1 +0)\nexit", result: "REJECT", errno: EACCES, err: "invalid bpf_context access off=0 size=1" },
  { name: "ctx/data_end pointer cannot be dereferenced", asm: "r2 = *(u32 *)(r1 +4)\nr0 = *(u8 *)(r2 +0)\nexit", result: "REJECT", errno: EACCES, err: "R2 invalid mem access 'pkt_end'" },
  { name: "ctx/sign-extending u32 load from ctx", asm: "r0 = *(s32 *)(r1 +12)\nexit", result: "ACCEPT", retval: 1 },
];

