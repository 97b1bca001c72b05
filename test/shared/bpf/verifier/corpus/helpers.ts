// Helper call cases: each bpf_arg_type an XDP helper takes (map pointer, key
// and value pointers into stack, packet and map value, ctx, scalars,
// mem + size pairs), return types, helpers XDP may not call, unknown ids
// (kernel/bpf/verifier.c check_helper_call, check_func_arg; net/core/filter.c
// xdp_func_proto).
import { EACCES, EINVAL } from "../../../../../shared/errno.ts";
import { ARRAY_48, ARRAY_8, DEVMAP, HASH_8_16, type VerifierCase } from "./case.ts";

const PKT14 = "r2 = *(u32 *)(r1 +0)\nr3 = *(u32 *)(r1 +4)\nr4 = r2\nr4 += 14\nif r4 > r3 goto out";
const OUT = "out: r0 = 1\nexit";

export const HELPER_CASES: VerifierCase[] = [
  { name: "helpers/unknown helper id", asm: "call 9999\nr0 = 2\nexit", result: "REJECT", errno: EINVAL, err: "invalid func unknown#9999" },
  { name: "helpers/tc-only helper skb_load_bytes", asm: "call bpf_skb_load_bytes#26\nr0 = 2\nexit", result: "REJECT", errno: EINVAL, err: "program of this type cannot use helper bpf_skb_load_bytes#26" },
  { name: "helpers/tc-only helper skb_store_bytes", asm: "call bpf_skb_store_bytes#9\nr0 = 2\nexit", result: "REJECT", errno: EINVAL, err: "program of this type cannot use helper bpf_skb_store_bytes#9" },
  { name: "helpers/base helper get_current_pid_tgid is allowed", asm: "call bpf_get_current_pid_tgid#14\nr0 = 2\nexit", result: "ACCEPT", retval: 2 },
  { name: "helpers/tc-only helper skb_vlan_push", asm: "call bpf_skb_vlan_push#18\nr0 = 2\nexit", result: "REJECT", errno: EINVAL, err: "program of this type cannot use helper bpf_skb_vlan_push#18" },
  { name: "helpers/probe_read_kernel (perfmon base helper) with ctx as dst", asm: "call bpf_probe_read_kernel#113\nr0 = 2\nexit", result: "REJECT", errno: EACCES, err: "R1 type=ctx expected=fp, pkt, pkt_meta, map_key, map_value, mem, ringbuf_mem, buf, trusted_ptr_" },
  { name: "helpers/helper id 0", asm: "call 0\nr0 = 2\nexit", result: "REJECT", errno: EINVAL, err: "program of this type cannot use helper bpf_unspec#0" },
  { name: "helpers/negative helper id", asm: "call -1\nr0 = 2\nexit", result: "REJECT", errno: EINVAL, err: "invalid func unknown#-1" },
  { name: "helpers/ktime_get_ns", asm: "call bpf_ktime_get_ns#5\nr0 = 2\nexit", result: "ACCEPT", retval: 2 },
  { name: "helpers/get_smp_processor_id", asm: "call bpf_get_smp_processor_id#8\nr0 = 2\nexit", result: "ACCEPT", retval: 2 },
  { name: "helpers/xdp_get_buff_len", asm: "call bpf_xdp_get_buff_len#188\nexit", result: "ACCEPT", retval: 64 },
  { name: "helpers/xdp_get_buff_len with scalar ctx", asm: "r1 = 0\ncall bpf_xdp_get_buff_len#188\nexit", result: "REJECT", errno: EACCES, err: "R1 type=scalar expected=ctx" },
  { name: "helpers/xdp_adjust_head with modified ctx", asm: "r1 += 4\nr2 = 0\ncall bpf_xdp_adjust_head#44\nr0 = 2\nexit", result: "REJECT", errno: EACCES, err: "dereference of modified ctx ptr R1 off=4 disallowed" },
  { name: "helpers/xdp_adjust_head uninit R2", asm: "call bpf_xdp_adjust_head#44\nr0 = 2\nexit", result: "REJECT", errno: EACCES, err: "R2 !read_ok" },
  { name: "helpers/xdp_adjust_tail shrink", asm: "r2 = -4\ncall bpf_xdp_adjust_tail#65\nexit", result: "ACCEPT", retval: 0 },
  { name: "helpers/xdp_adjust_meta grow", asm: "r2 = -4\ncall bpf_xdp_adjust_meta#54\nexit", result: "ACCEPT", retval: 0 },
  { name: "helpers/redirect scalars", asm: "r1 = 1\nr2 = 0\ncall bpf_redirect#23\nexit", result: "ACCEPT", retval: 4 },
  { name: "helpers/redirect_map with devmap", maps: [DEVMAP], asm: "r1 = map_fd 0\nr2 = 0\nr3 = 2\ncall bpf_redirect_map#51\nexit", result: "ACCEPT", retval: 2 },
  { name: "helpers/redirect_map with array map", maps: [ARRAY_8], asm: "r1 = map_fd 0\nr2 = 0\nr3 = 0\ncall bpf_redirect_map#51\nexit", result: "REJECT", errno: EINVAL, err: "cannot pass map_type 2 into func bpf_redirect_map#51" },
  { name: "helpers/map arg is a scalar", asm: "r1 = 0\nr2 = r10\nr2 += -8\n*(u64 *)(r10 -8) = 0\ncall bpf_map_lookup_elem#1\nr0 = 2\nexit", result: "REJECT", errno: EACCES, err: "R1 type=scalar expected=map_ptr" },
  { name: "helpers/map arg is ctx", asm: "r2 = r10\nr2 += -8\n*(u64 *)(r10 -8) = 0\ncall bpf_map_lookup_elem#1\nr0 = 2\nexit", result: "REJECT", errno: EACCES, err: "R1 type=ctx expected=map_ptr" },
  { name: "helpers/key is a scalar", maps: [HASH_8_16], asm: "r1 = map_fd 0\nr2 = 0\ncall bpf_map_lookup_elem#1\nr0 = 2\nexit", result: "REJECT", errno: EACCES, err: "R2 type=scalar expected=" },
  { name: "helpers/key on stack too small", maps: [HASH_8_16], asm: "r1 = map_fd 0\nr2 = r10\nr2 += -4\n*(u32 *)(r10 -4) = 0\ncall bpf_map_lookup_elem#1\nr0 = 2\nexit", result: "REJECT", errno: EINVAL, err: "invalid read from stack R2 off=-4 size=8" },
  { name: "helpers/key on stack uninitialised (privileged)", maps: [HASH_8_16], asm: "r1 = map_fd 0\nr2 = r10\nr2 += -8\ncall bpf_map_lookup_elem#1\nr0 = 2\nexit", result: "ACCEPT", retval: 2 },
  { name: "helpers/key in packet", maps: [HASH_8_16], asm: `r6 = r1\n${PKT14}\nr1 = map_fd 0\ncall bpf_map_lookup_elem#1\nif r0 == 0 goto out\nr0 = 2\nexit\n${OUT}`, result: "ACCEPT", retval: 1 },
  { name: "helpers/key in packet past the checked range", maps: [HASH_8_16], asm: `r6 = r1\n${PKT14}\nr2 += 8\nr1 = map_fd 0\ncall bpf_map_lookup_elem#1\nr0 = 2\nexit\n${OUT}`, result: "REJECT", errno: EACCES, err: "invalid access to packet, off=8 size=8, R2(id=0,off=8,r=14)" },
  { name: "helpers/key is pkt_end", maps: [HASH_8_16], asm: "r3 = *(u32 *)(r1 +4)\nr1 = map_fd 0\nr2 = r3\ncall bpf_map_lookup_elem#1\nr0 = 2\nexit", result: "REJECT", errno: EACCES, err: "R2 type=pkt_end expected=" },
  {
    name: "helpers/key in a map value", maps: [ARRAY_48, HASH_8_16],
    asm: "r1 = map_value 0 0\nr2 = r1\nr1 = map_fd 1\ncall bpf_map_lookup_elem#1\nif r0 == 0 goto o\nr0 = 2\nexit\no: r0 = 1\nexit", result: "ACCEPT", retval: 1,
  },
  {
    name: "helpers/key in a map value too close to its end", maps: [ARRAY_48, HASH_8_16],
    asm: "r1 = map_value 0 44\nr2 = r1\nr1 = map_fd 1\ncall bpf_map_lookup_elem#1\nr0 = 2\nexit", result: "REJECT", errno: EACCES, err: "invalid access to map value, value_size=48 off=44 size=8",
  },
  {
    name: "helpers/update value on stack too small", maps: [HASH_8_16],
    asm: "*(u64 *)(r10 -8) = 0\nr1 = map_fd 0\nr2 = r10\nr2 += -8\nr3 = r10\nr3 += -8\nr4 = 0\ncall bpf_map_update_elem#2\nr0 = 2\nexit",
    result: "REJECT", errno: EINVAL, err: "invalid read from stack R3 off=-8 size=16",
  },
  {
    name: "helpers/update value is a scalar", maps: [HASH_8_16],
    asm: "*(u64 *)(r10 -8) = 0\nr1 = map_fd 0\nr2 = r10\nr2 += -8\nr3 = 0\nr4 = 0\ncall bpf_map_update_elem#2\nr0 = 2\nexit",
    result: "REJECT", errno: EACCES, err: "R3 type=scalar expected=",
  },
  {
    name: "helpers/update flags uninitialised", maps: [HASH_8_16],
    asm: "*(u64 *)(r10 -8) = 0\n*(u64 *)(r10 -24) = 0\n*(u64 *)(r10 -16) = 0\nr1 = map_fd 0\nr2 = r10\nr2 += -8\nr3 = r10\nr3 += -24\ncall bpf_map_update_elem#2\nr0 = 2\nexit",
    result: "REJECT", errno: EACCES, err: "R4 !read_ok",
  },
  { name: "helpers/csum_diff with zero sizes and null pointers", asm: "r1 = 0\nr2 = 0\nr3 = 0\nr4 = 0\nr5 = 0\ncall bpf_csum_diff#28\nr0 = 2\nexit", result: "ACCEPT", retval: 2 },
  { name: "helpers/csum_diff over stack", asm: "*(u64 *)(r10 -8) = 0\nr1 = 0\nr2 = 0\nr3 = r10\nr3 += -8\nr4 = 8\nr5 = 0\ncall bpf_csum_diff#28\nr0 = 2\nexit", result: "ACCEPT", retval: 2 },
  { name: "helpers/csum_diff size larger than stack buffer", asm: "*(u64 *)(r10 -8) = 0\nr1 = 0\nr2 = 0\nr3 = r10\nr3 += -8\nr4 = 16\nr5 = 0\ncall bpf_csum_diff#28\nr0 = 2\nexit", result: "REJECT", errno: EINVAL, err: "invalid read from stack R3 off=-8 size=16" },
  { name: "helpers/csum_diff over checked packet", asm: `${PKT14}\nr1 = 0\nr3 = r2\nr2 = 0\nr4 = 12\nr5 = 0\ncall bpf_csum_diff#28\nr0 = 2\nexit\n${OUT}`, result: "ACCEPT", retval: 2 },
  { name: "helpers/csum_diff size from unbounded scalar", asm: "*(u64 *)(r10 -8) = 0\nr4 = *(u32 *)(r1 +12)\nr1 = 0\nr2 = 0\nr3 = r10\nr3 += -8\nr5 = 0\ncall bpf_csum_diff#28\nr0 = 2\nexit", result: "REJECT", errno: EACCES, err: "R4 unbounded memory access, use 'var &= const' or 'if (var < const)'" },
  { name: "helpers/csum_diff negative size", asm: "*(u64 *)(r10 -8) = 0\nr1 = 0\nr2 = 0\nr3 = r10\nr3 += -8\nr4 = -8\nr5 = 0\ncall bpf_csum_diff#28\nr0 = 2\nexit", result: "REJECT", errno: EACCES, err: "R4 min value is negative, either use unsigned or 'var &= const'" },
  { name: "helpers/csum_diff mem pointer null with nonzero size", asm: "r1 = 0\nr2 = 8\nr3 = 0\nr4 = 0\nr5 = 0\ncall bpf_csum_diff#28\nr0 = 2\nexit", result: "REJECT", errno: EACCES, err: "R1 type=scalar expected=fp" },
  { name: "helpers/csum_diff bounded variable size", asm: "*(u64 *)(r10 -8) = 0\nr4 = *(u32 *)(r1 +12)\nr4 &= 4\nr1 = 0\nr2 = 0\nr3 = r10\nr3 += -8\nr5 = 0\ncall bpf_csum_diff#28\nr0 = 2\nexit", result: "ACCEPT", retval: 2 },
  { name: "helpers/trace_printk const size", asm: "*(u64 *)(r10 -8) = 0\nr1 = r10\nr1 += -8\nr2 = 8\ncall bpf_trace_printk#6\nr0 = 2\nexit", result: "ACCEPT", retval: 2 },
  { name: "helpers/trace_printk zero size", asm: "*(u64 *)(r10 -8) = 0\nr1 = r10\nr1 += -8\nr2 = 0\ncall bpf_trace_printk#6\nr0 = 2\nexit", result: "REJECT", errno: EACCES, err: "R2 invalid zero-sized read" },
  { name: "helpers/trace_printk mem is ctx", asm: "r2 = 8\ncall bpf_trace_printk#6\nr0 = 2\nexit", result: "REJECT", errno: EACCES, err: "R1 type=ctx expected=" },
  { name: "helpers/fib_lookup is allowed for XDP", asm: "r2 = r10\nr2 += -64\n" + Array.from({ length: 8 }, (_, i) => `*(u64 *)(r10 -${8 * (i + 1)}) = 0`).join("\n") + "\n*(u32 *)(r10 -56) = 1\nr3 = 64\nr4 = 0\ncall bpf_fib_lookup#69\nexit", result: "ACCEPT" },
  { name: "helpers/fib_lookup params buffer too small", asm: "r2 = r10\nr2 += -32\n*(u64 *)(r10 -8) = 0\n*(u64 *)(r10 -16) = 0\n*(u64 *)(r10 -24) = 0\n*(u64 *)(r10 -32) = 0\nr3 = 64\nr4 = 0\ncall bpf_fib_lookup#69\nexit", result: "REJECT", errno: EINVAL, err: "invalid write to stack R2 off=-32 size=64" },
  { name: "helpers/fib_lookup ctx argument scalar", asm: "r2 = r10\nr2 += -64\nr1 = 0\nr3 = 64\nr4 = 0\ncall bpf_fib_lookup#69\nexit", result: "REJECT", errno: EACCES, err: "R1 type=scalar expected=ctx" },
  { name: "helpers/map_update value from packet", maps: [HASH_8_16], asm: `${PKT14.replace("+= 14", "+= 16")}\n*(u64 *)(r10 -8) = 0\nr3 = r2\nr2 = r10\nr2 += -8\nr1 = map_fd 0\nr4 = 0\ncall bpf_map_update_elem#2\nr0 = 2\nexit\n${OUT}`, result: "ACCEPT", retval: 2 },
  { name: "helpers/map_update value from packet past range", maps: [HASH_8_16], asm: `${PKT14}\n*(u64 *)(r10 -8) = 0\nr3 = r2\nr3 += 4\nr2 = r10\nr2 += -8\nr1 = map_fd 0\nr4 = 0\ncall bpf_map_update_elem#2\nr0 = 2\nexit\n${OUT}`, result: "REJECT", errno: EACCES, err: "invalid access to packet, off=4 size=16" },
  { name: "helpers/return value of lookup used as scalar", maps: [HASH_8_16], asm: "*(u64 *)(r10 -8) = 0\nr2 = r10\nr2 += -8\nr1 = map_fd 0\ncall bpf_map_lookup_elem#1\nr0 *= 2\nexit", result: "REJECT", errno: EACCES, err: "R0 pointer arithmetic on map_value_or_null prohibited" },
  { name: "helpers/get_prandom_u32 result is bounded to u32", asm: "call bpf_get_prandom_u32#7\nr0 >>= 32\nr0 += 2\nexit", result: "ACCEPT", retval: 2 },
];
