// Verifier verdicts and first error lines for small XDP programs, each one
// checked against Linux 6.18 (loaded raw with log_level 1 as root) when the
// table was written. Tests as data: name, maps (type:key:value:entries), the
// kernel's errno and first error line, the program in the .data dialect.
import { describe, expect, it } from "vitest";
import { assemble } from "../../../../shared/bpf/isa/asm.ts";
import { BpfKernel } from "../../../../shared/bpf/syscall.ts";
import { XDP_HELPER_PROTOS } from "../../../../shared/bpf/runtime/helpers.ts";
import type { BpfMap } from "../../../../shared/bpf/maps/map.ts";
import { bpfCheck } from "../../../../shared/bpf/verifier/index.ts";

interface Case {
  name: string;
  maps: string[];
  errno: number;
  msg: string;
  asm: string;
}

/** Deliberate differences from the kernel: [our errno, our first line, reason]. */
const KNOWN: Record<string, [number, string, string]> = {
  map_ptr_deref: [13, "R1 invalid mem access 'map_ptr'",
    "the kernel lets CAP_PERFMON programs read struct bpf_map fields through BTF; our maps have no kernel struct to read"],
};

const CASES: Case[] = [
  { name: "pkt_jgt_taken_bad", maps: [], errno: 13, msg: "invalid access to packet, off=0 size=1, R2(id=0,off=0,r=0)",
    asm: "ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nmov %r4, %r2\nadd %r4, 14\njgt %r4, %r3, +2\nmov %r0, 1\nexit\nldxb %r0, [%r2+0]\nexit" },
  { name: "lookup_array_const_key_nonnull", maps: ["2:4:8:1"], errno: 0, msg: "",
    asm: "mov %r1, 0\nstxw [%r10-4], %r1\nmov %r2, %r10\nadd %r2, -4\nlddw %r1, map_fd 0\ncall 1\nldxdw %r0, [%r0+0]\nexit" },
  { name: "pkt_end_arith", maps: [], errno: 13, msg: "R3 pointer arithmetic on pkt_end prohibited",
    asm: "ldxw %r3, [%r1+4]\nadd %r3, 1\nmov %r0, 0\nexit" },
  { name: "ptr_add_ptr", maps: [], errno: 13, msg: "R2 pointer += pointer prohibited",
    asm: "mov %r2, %r10\nadd %r2, %r10\nmov %r0, 0\nexit" },
  { name: "ctx_write_rxq_not_devbound", maps: [], errno: 13, msg: "invalid bpf_context access off=16 size=4",
    asm: "mov %r2, 1\nstxw [%r1+16], %r2\nmov %r0, 0\nexit" },
  { name: "ctx_misaligned", maps: [], errno: 13, msg: "invalid bpf_context access off=2 size=4",
    asm: "ldxw %r2, [%r1+2]\nmov %r0, 0\nexit" },
  { name: "ctx_narrow", maps: [], errno: 13, msg: "invalid bpf_context access off=0 size=2",
    asm: "ldxh %r2, [%r1+0]\nmov %r0, 0\nexit" },
  { name: "ret_ctx_ptr_priv", maps: [], errno: 0, msg: "",
    asm: "mov %r0, %r1\nexit" },
  { name: "ja_self_unreachable", maps: [], errno: 22, msg: "unreachable insn 2",
    asm: "mov %r0, 0\nja -1\nexit" },
  { name: "loop_counted", maps: [], errno: 0, msg: "",
    asm: "mov %r0, 0\nadd %r0, 1\njlt %r0, 10, -2\nexit" },
  { name: "array_map_oob", maps: ["2:4:8:1"], errno: 13, msg: "invalid access to map value, value_size=8 off=4 size=8",
    asm: "mov %r1, 0\nstxw [%r10-4], %r1\nmov %r2, %r10\nadd %r2, -4\nlddw %r1, map_fd 0\ncall 1\njeq %r0, 0, +1\nldxdw %r0, [%r0+4]\nmov %r0, 0\nexit" },
  { name: "jgt_ok", maps: [], errno: 0, msg: "",
    asm: "ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nmov %r4, %r2\nadd %r4, 14\njgt %r4, %r3, +1\nldxb %r0, [%r2+13]\nmov %r0, 0\nexit" },
  { name: "jge_fall_15", maps: [], errno: 0, msg: "",
    asm: "ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nmov %r4, %r2\nadd %r4, 14\njge %r4, %r3, +1\nldxb %r0, [%r2+14]\nmov %r0, 0\nexit" },
  { name: "jge_fall_16bad", maps: [], errno: 13, msg: "invalid access to packet, off=15 size=1, R2(id=0,off=15,r=15)",
    asm: "ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nmov %r4, %r2\nadd %r4, 14\njge %r4, %r3, +1\nldxb %r0, [%r2+15]\nmov %r0, 0\nexit" },
  { name: "jlt_taken", maps: [], errno: 0, msg: "",
    asm: "ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nmov %r4, %r2\nadd %r4, 14\njlt %r4, %r3, +2\nmov %r0, 0\nexit\nldxb %r0, [%r2+14]\nmov %r0, 0\nexit" },
  { name: "jle_taken_bad", maps: [], errno: 13, msg: "invalid access to packet, off=14 size=1, R2(id=0,off=14,r=14)",
    asm: "ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nmov %r4, %r2\nadd %r4, 14\njle %r4, %r3, +2\nmov %r0, 0\nexit\nldxb %r0, [%r2+14]\nmov %r0, 0\nexit" },
  { name: "end_lt_pkt_fall", maps: [], errno: 0, msg: "",
    asm: "ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nmov %r4, %r2\nadd %r4, 14\njlt %r3, %r4, +1\nldxw %r0, [%r2+10]\nmov %r0, 0\nexit" },
  { name: "end_ge_pkt_taken_bad", maps: [], errno: 13, msg: "invalid access to packet, off=11 size=4, R2(id=0,off=11,r=14)",
    asm: "ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nmov %r4, %r2\nadd %r4, 14\njge %r3, %r4, +2\nmov %r0, 0\nexit\nldxw %r0, [%r2+11]\nmov %r0, 0\nexit" },
  { name: "meta_ok", maps: [], errno: 0, msg: "",
    asm: "ldxw %r2, [%r1+8]\nldxw %r3, [%r1+0]\nmov %r4, %r2\nadd %r4, 4\njgt %r4, %r3, +1\nldxw %r0, [%r2+0]\nmov %r0, 0\nexit" },
  { name: "null_deref", maps: ["1:4:8:16"], errno: 13, msg: "R0 invalid mem access 'map_value_or_null'",
    asm: "mov %r1, 0\nstxw [%r10-4], %r1\nmov %r2, %r10\nadd %r2, -4\nlddw %r1, map_fd 0\ncall 1\nldxdw %r0, [%r0+0]\nexit" },
  { name: "null_ok", maps: ["1:4:8:16"], errno: 0, msg: "",
    asm: "mov %r1, 0\nstxw [%r10-4], %r1\nmov %r2, %r10\nadd %r2, -4\nlddw %r1, map_fd 0\ncall 1\njeq %r0, 0, +1\nldxdw %r0, [%r0+0]\nmov %r0, 0\nexit" },
  { name: "null_copy", maps: ["1:4:8:16"], errno: 0, msg: "",
    asm: "mov %r1, 0\nstxw [%r10-4], %r1\nmov %r2, %r10\nadd %r2, -4\nlddw %r1, map_fd 0\ncall 1\nmov %r6, %r0\njne %r0, 0, +2\nmov %r0, 0\nexit\nldxdw %r0, [%r6+0]\nmov %r0, 0\nexit" },
  { name: "map_oob", maps: ["1:4:8:16"], errno: 13, msg: "invalid access to map value, value_size=8 off=1 size=8",
    asm: "mov %r1, 0\nstxw [%r10-4], %r1\nmov %r2, %r10\nadd %r2, -4\nlddw %r1, map_fd 0\ncall 1\njeq %r0, 0, +1\nldxdw %r0, [%r0+1]\nmov %r0, 0\nexit" },
  { name: "key_uninit_ok_priv", maps: ["1:4:8:16"], errno: 0, msg: "",
    asm: "mov %r2, %r10\nadd %r2, -4\nlddw %r1, map_fd 0\ncall 1\nmov %r0, 0\nexit" },
  { name: "key_scalar", maps: ["1:4:8:16"], errno: 13, msg: "R2 type=scalar expected=fp, pkt, pkt_meta, map_key, map_value, mem, ringbuf_mem, buf, trusted_ptr_",
    asm: "mov %r2, 4\nlddw %r1, map_fd 0\ncall 1\nmov %r0, 0\nexit" },
  { name: "map_arg_scalar", maps: [], errno: 13, msg: "R1 type=scalar expected=map_ptr",
    asm: "mov %r1, 0\nmov %r2, %r10\nadd %r2, -4\ncall 1\nmov %r0, 0\nexit" },
  { name: "key_oob_stack", maps: ["1:8:8:16"], errno: 22, msg: "invalid read from stack R2 off=-4 size=8",
    asm: "mov %r2, %r10\nadd %r2, -4\nlddw %r1, map_fd 0\ncall 1\nmov %r0, 0\nexit" },
  { name: "adjust_head_inval", maps: [], errno: 13, msg: "R6 invalid mem access 'scalar'",
    asm: "ldxw %r6, [%r1+0]\nldxw %r3, [%r1+4]\nmov %r4, %r6\nadd %r4, 14\njgt %r4, %r3, +5\nmov %r2, 0\ncall 44\nldxb %r0, [%r6+0]\nmov %r0, 0\nexit\nmov %r0, 0\nexit" },
  { name: "div0", maps: [], errno: 22, msg: "div by zero",
    asm: "mov %r0, 1\ndiv %r0, 0\nexit" },
  { name: "shift_bad", maps: [], errno: 22, msg: "invalid shift 64",
    asm: "mov %r0, 1\nlsh %r0, 64\nexit" },
  { name: "shift32_bad", maps: [], errno: 22, msg: "invalid shift 32",
    asm: "mov %r0, 1\nlsh32 %r0, 32\nexit" },
  { name: "r0_not_init", maps: [], errno: 13, msg: "R0 !read_ok",
    asm: "exit" },
  { name: "fp_write", maps: [], errno: 13, msg: "frame pointer is read only",
    asm: "mov %r10, 1\nmov %r0, 0\nexit" },
  { name: "uninit_r2", maps: [], errno: 13, msg: "R2 !read_ok",
    asm: "mov %r0, %r2\nexit" },
  { name: "ptr32", maps: [], errno: 13, msg: "R2 32-bit pointer arithmetic prohibited",
    asm: "mov %r2, %r10\nadd32 %r2, 4\nmov %r0, 0\nexit" },
  { name: "ptr_and", maps: [], errno: 13, msg: "R2 bitwise operator &= on pointer prohibited",
    asm: "mov %r2, %r10\nand %r2, 4\nmov %r0, 0\nexit" },
  { name: "ptr_mul", maps: [], errno: 13, msg: "R2 pointer arithmetic with *= operator prohibited",
    asm: "mov %r2, %r10\nmul %r2, 4\nmov %r0, 0\nexit" },
  { name: "scalar_minus_ptr", maps: [], errno: 13, msg: "R2 tried to subtract pointer from scalar",
    asm: "mov %r2, 4\nsub %r2, %r10\nmov %r0, 0\nexit" },
  { name: "fp_sub", maps: [], errno: 13, msg: "R2 subtraction from stack pointer prohibited",
    asm: "mov %r2, %r10\nsub %r2, 4\nmov %r0, 0\nexit" },
  { name: "ctx_add_deref", maps: [], errno: 13, msg: "dereference of modified ctx ptr R1 off=4 disallowed",
    asm: "add %r1, 4\nldxw %r0, [%r1+0]\nexit" },
  { name: "spill_fill_ptr", maps: [], errno: 0, msg: "",
    asm: "ldxw %r2, [%r1+0]\nstxdw [%r10-8], %r2\nldxdw %r3, [%r10-8]\nldxw %r4, [%r1+4]\nmov %r5, %r3\nadd %r5, 1\njgt %r5, %r4, +1\nldxb %r0, [%r3+0]\nmov %r0, 0\nexit" },
  { name: "spill_partial", maps: [], errno: 13, msg: "invalid size of register spill",
    asm: "ldxw %r2, [%r1+0]\nstxw [%r10-8], %r2\nmov %r0, 0\nexit" },
  { name: "fill_partial_ptr", maps: [], errno: 13, msg: "invalid size of register fill",
    asm: "stxdw [%r10-8], %r1\nldxw %r0, [%r10-8]\nexit" },
  { name: "stack_misaligned", maps: [], errno: 13, msg: "misaligned stack access off 0+0+-4 size 8",
    asm: "mov %r0, 0\nstxdw [%r10-4], %r0\nexit" },
  { name: "stack_pos", maps: [], errno: 13, msg: "invalid write to stack R10 off=0 size=4",
    asm: "mov %r0, 0\nstxw [%r10+0], %r0\nexit" },
  { name: "var_pkt_ok", maps: [], errno: 22, msg: "unreachable insn 11",
    asm: "ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nmov %r4, %r2\nadd %r4, 20\njgt %r4, %r3, +5\nldxb %r5, [%r2+0]\nand %r5, 7\nadd %r2, %r5\nldxb %r0, [%r2+12]\nmov %r0, 0\nexit\nmov %r0, 0\nexit" },
  { name: "var_pkt_bad", maps: [], errno: 22, msg: "unreachable insn 11",
    asm: "ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nmov %r4, %r2\nadd %r4, 20\njgt %r4, %r3, +5\nldxb %r5, [%r2+0]\nand %r5, 7\nadd %r2, %r5\nldxb %r0, [%r2+13]\nmov %r0, 0\nexit\nmov %r0, 0\nexit" },
  { name: "unbounded_pkt", maps: [], errno: 0, msg: "",
    asm: "ldxw %r2, [%r1+0]\nldxw %r5, [%r1+16]\nadd %r2, %r5\nmov %r0, 0\nexit" },
  { name: "loop_bounded", maps: [], errno: 0, msg: "",
    asm: "mov %r0, 0\nmov %r1, 0\nadd %r1, 1\nadd %r0, 2\njlt %r1, 100, -3\nexit" },
  { name: "loop_infinite", maps: [], errno: 22, msg: "infinite loop detected at insn 2",
    asm: "mov %r0, 0\nmov %r1, 0\njeq %r1, 0, -1\nexit" },
  { name: "pkt_cmp_scalar", maps: [], errno: 0, msg: "",
    asm: "ldxw %r2, [%r1+0]\njeq %r2, 5, +0\nmov %r0, 0\nexit" },
  { name: "call_unknown_helper", maps: [], errno: 22, msg: "program of this type cannot use helper bpf_skb_load_bytes#26",
    asm: "mov %r1, 0\ncall 26\nmov %r0, 0\nexit" },
  { name: "fib_bad_size", maps: [], errno: 22, msg: "invalid write to stack R2 off=-64 size=65",
    asm: "mov %r2, %r10\nadd %r2, -64\nmov %r3, 65\nmov %r4, 0\ncall 69\nmov %r0, 0\nexit" },
  { name: "csum_null", maps: [], errno: 0, msg: "",
    asm: "mov %r1, 0\nmov %r2, 0\nmov %r3, 0\nmov %r4, 0\nmov %r5, 0\ncall 28\nmov %r0, 0\nexit" },
  { name: "redirect_map_wrong", maps: ["1:4:8:16"], errno: 22, msg: "cannot pass map_type 1 into func bpf_redirect_map#51",
    asm: "lddw %r1, map_fd 0\nmov %r2, 0\nmov %r3, 0\ncall 51\nexit" },
  { name: "tail_call_wrong_map", maps: ["1:4:8:16"], errno: 22, msg: "expected prog array map for tail call",
    asm: "lddw %r2, map_fd 0\nmov %r3, 0\ncall 12\nmov %r0, 0\nexit" },
  { name: "tail_call_ok", maps: ["3:4:4:4"], errno: 0, msg: "",
    asm: "lddw %r2, map_fd 0\nmov %r3, 0\ncall 12\nmov %r0, 0\nexit" },
  { name: "lookup_prog_array", maps: ["3:4:4:4"], errno: 22, msg: "cannot pass map_type 3 into func bpf_map_lookup_elem#1",
    asm: "mov %r1, 0\nstxw [%r10-4], %r1\nmov %r2, %r10\nadd %r2, -4\nlddw %r1, map_fd 0\ncall 1\nmov %r0, 0\nexit" },
  { name: "ldabs", maps: [], errno: 22, msg: "BPF_LD_[ABS|IND] instructions not allowed for this program type",
    asm: "ldabsb 0\nexit" },
  { name: "pkt_end_deref", maps: [], errno: 13, msg: "R2 invalid mem access 'pkt_end'",
    asm: "ldxw %r2, [%r1+4]\nldxb %r0, [%r2+0]\nexit" },
  { name: "map_ptr_deref", maps: ["1:4:8:16"], errno: 0, msg: "",
    asm: "lddw %r1, map_fd 0\nldxw %r0, [%r1+0]\nexit" },
  { name: "ctx_egress", maps: [], errno: 13, msg: "invalid bpf_context access off=20 size=4",
    asm: "ldxw %r0, [%r1+20]\nexit" },
  { name: "ctx_oob", maps: [], errno: 13, msg: "invalid bpf_context access off=24 size=4",
    asm: "ldxw %r0, [%r1+24]\nexit" },
  { name: "ctx_st", maps: [], errno: 13, msg: "invalid bpf_context access off=0 size=4",
    asm: "stw [%r1+0], 1\nmov %r0, 0\nexit" },
  { name: "atomic_ctx", maps: [], errno: 13, msg: "BPF_ATOMIC stores into R1 ctx is not allowed",
    asm: "mov %r2, 1\nlock add [%r1+0], %r2\nmov %r0, 0\nexit" },
  { name: "jmp32_pkt", maps: [], errno: 13, msg: "invalid access to packet, off=0 size=1, R2(id=0,off=0,r=0)",
    asm: "ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nmov %r4, %r2\nadd %r4, 14\njgt32 %r4, %r3, +1\nldxb %r0, [%r2+0]\nmov %r0, 0\nexit" },
  { name: "bpf2bpf", maps: [], errno: 0, msg: "",
    asm: "mov %r1, 1\ncall local +2\nmov %r0, 0\nexit\nmov %r0, %r1\nexit" },
  { name: "neg_idx_map", maps: ["2:4:64:1"], errno: 0, msg: "",
    asm: "mov %r1, 0\nstxw [%r10-4], %r1\nmov %r2, %r10\nadd %r2, -4\nlddw %r1, map_fd 0\ncall 1\njeq %r0, 0, +4\nldxw %r1, [%r0+0]\nand %r1, 63\nadd %r0, %r1\nldxb %r0, [%r0+0]\nmov %r0, 0\nexit" },
  { name: "neg_idx_map_bad", maps: ["2:4:64:1"], errno: 13, msg: "invalid access to map value, value_size=64 off=63 size=2",
    asm: "mov %r1, 0\nstxw [%r10-4], %r1\nmov %r2, %r10\nadd %r2, -4\nlddw %r1, map_fd 0\ncall 1\njeq %r0, 0, +4\nldxw %r1, [%r0+0]\nand %r1, 63\nadd %r0, %r1\nldxh %r0, [%r0+0]\nmov %r0, 0\nexit" },
  { name: "signed_idx_bad", maps: ["2:4:64:1"], errno: 22, msg: "math between map_value pointer and register with unbounded min value is not allowed",
    asm: "mov %r1, 0\nstxw [%r10-4], %r1\nmov %r2, %r10\nadd %r2, -4\nlddw %r1, map_fd 0\ncall 1\njeq %r0, 0, +5\nldxdw %r1, [%r0+0]\njsgt %r1, 60, +3\nadd %r0, %r1\nldxb %r0, [%r0+0]\nmov %r0, 0\nmov %r0, 0\nexit" },
  { name: "linked_scalar", maps: [], errno: 13, msg: "invalid access to packet, off=19 size=1, R2(id=2,off=19,r=0)",
    asm: "ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nmov %r4, %r2\nadd %r4, 40\njgt %r4, %r3, +7\nldxb %r5, [%r2+0]\nmov %r6, %r5\njgt %r6, 20, +4\nadd %r2, %r5\nldxb %r0, [%r2+19]\nmov %r0, 0\nexit\nmov %r0, 0\nexit" },
  { name: "call_depth", maps: [], errno: 7, msg: "the call stack of 9 frames is too deep",
    asm: "call local +1\nexit\ncall local +1\nexit\ncall local +1\nexit\ncall local +1\nexit\ncall local +1\nexit\ncall local +1\nexit\ncall local +1\nexit\ncall local +1\nexit\nmov %r0, 0\nexit" },
  { name: "combined_stack", maps: [], errno: 13, msg: "combined stack size of 2 calls is 608. Too large",
    asm: "mov %r1, 0\nstxdw [%r10-296], %r1\ncall local +2\nmov %r0, 0\nexit\nmov %r1, 0\nstxdw [%r10-296], %r1\nmov %r0, 0\nexit" },
  { name: "ret_stack_ptr", maps: [], errno: 22, msg: "cannot return stack pointer to the caller",
    asm: "call local +2\nmov %r0, 0\nexit\nmov %r0, %r10\nexit" },
  { name: "subprog_void_read", maps: [], errno: 13, msg: "R0 !read_ok",
    asm: "call local +1\nexit\nmov %r1, 0\nexit" },
  { name: "r0_ptr_ret", maps: [], errno: 0, msg: "",
    asm: "mov %r0, %r10\nexit" },
  { name: "jset_bound", maps: [], errno: 13, msg: "invalid access to packet, off=0 size=1, R2(id=1,off=0,r=0)",
    asm: "ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nmov %r4, %r2\nadd %r4, 8\njgt %r4, %r3, +6\nldxb %r5, [%r2+0]\njset %r5, 0xf8, +4\nadd %r2, %r5\nldxb %r0, [%r2+0]\nmov %r0, 0\nexit\nmov %r0, 0\nexit" },
  { name: "jmp32_bound", maps: [], errno: 13, msg: "invalid access to packet, off=0 size=1, R2(id=1,off=0,r=0)",
    asm: "ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nmov %r4, %r2\nadd %r4, 8\njgt %r4, %r3, +6\nldxw %r5, [%r2+0]\njgt32 %r5, 7, +4\nadd %r2, %r5\nldxb %r0, [%r2+0]\nmov %r0, 0\nexit\nmov %r0, 0\nexit" },
  { name: "jmp32_bound_bad", maps: [], errno: 13, msg: "invalid access to packet, off=0 size=1, R2(id=1,off=0,r=0)",
    asm: "ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nmov %r4, %r2\nadd %r4, 8\njgt %r4, %r3, +6\nldxw %r5, [%r2+0]\njgt32 %r5, 8, +4\nadd %r2, %r5\nldxb %r0, [%r2+0]\nmov %r0, 0\nexit\nmov %r0, 0\nexit" },
  { name: "spill_const_off", maps: [], errno: 0, msg: "",
    asm: "ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nmov %r4, %r2\nadd %r4, 8\njgt %r4, %r3, +5\nmov %r5, 4\nstxdw [%r10-8], %r5\nldxdw %r6, [%r10-8]\nadd %r2, %r6\nldxw %r0, [%r2+0]\nmov %r0, 0\nexit" },
  { name: "many_jumps", maps: [], errno: 0, msg: "",
    asm: "mov %r0, 0\nldxw %r2, [%r1+0]\njeq %r2, 1, +0\njeq %r2, 2, +0\nmov %r0, 0\nexit" },
  { name: "arsh_neg", maps: [], errno: 0, msg: "",
    asm: "mov %r0, -16\narsh %r0, 2\nadd %r0, 4\njeq %r0, 0, +1\nexit\nmov %r0, 1\nexit" },
  { name: "neg32", maps: [], errno: 0, msg: "",
    asm: "mov32 %r0, 5\nneg32 %r0\nrsh %r0, 31\nexit" },
  { name: "be16", maps: [], errno: 0, msg: "",
    asm: "ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nmov %r4, %r2\nadd %r4, 14\njgt %r4, %r3, +3\nldxh %r0, [%r2+12]\nbe16 %r0\nexit\nmov %r0, 0\nexit" },
  { name: "sdiv_signed", maps: [], errno: 0, msg: "",
    asm: "mov %r0, 10\nsdiv %r0, 3\nexit" },
  { name: "movsx", maps: [], errno: 0, msg: "",
    asm: "mov %r0, 0xff\nmovsx864 %r0, %r0\nexit" },
  { name: "adjust_meta", maps: [], errno: 13, msg: "R1 !read_ok",
    asm: "mov %r2, -4\ncall 54\nldxw %r2, [%r1+8]\nldxw %r3, [%r1+0]\nmov %r4, %r2\nadd %r4, 4\njgt %r4, %r3, +1\nstw [%r2+0], 7\nmov %r0, 0\nexit" },
  { name: "xadd_stack", maps: [], errno: 0, msg: "",
    asm: "mov %r0, 0\nstxdw [%r10-8], %r0\nmov %r1, 1\nlock add [%r10-8], %r1\nldxdw %r0, [%r10-8]\nexit" },
  { name: "xchg_ptr_leak", maps: [], errno: 0, msg: "",
    asm: "stxdw [%r10-8], %r1\nmov %r2, 1\nlock xchg [%r10-8], %r2\nmov %r0, 0\nexit" },
  { name: "stack_var_write", maps: [], errno: 0, msg: "",
    asm: "ldxw %r2, [%r1+16]\nand %r2, 7\nmov %r3, %r10\nadd %r3, -16\nadd %r3, %r2\nstb [%r3+0], 1\nldxdw %r0, [%r10-16]\nexit" },
  { name: "csum_pkt", maps: [], errno: 22, msg: "unreachable insn 12",
    asm: "ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nmov %r4, %r2\nadd %r4, 20\njgt %r4, %r3, +6\nmov %r1, %r2\nmov %r2, 20\nmov %r3, 0\nmov %r4, 0\nmov %r5, 0\ncall 28\nexit\nmov %r0, 0\nexit" },
  { name: "csum_pkt_bad", maps: [], errno: 22, msg: "unreachable insn 12",
    asm: "ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nmov %r4, %r2\nadd %r4, 20\njgt %r4, %r3, +6\nmov %r1, %r2\nmov %r2, 21\nmov %r3, 0\nmov %r4, 0\nmov %r5, 0\ncall 28\nexit\nmov %r0, 0\nexit" },
  { name: "update_value_pkt", maps: ["1:4:4:16"], errno: 22, msg: "unreachable insn 12",
    asm: "ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nmov %r4, %r2\nadd %r4, 8\njgt %r4, %r3, +6\nmov %r3, %r2\nadd %r3, 4\nlddw %r1, map_fd 0\nmov %r4, 0\ncall 2\nexit\nmov %r0, 0\nexit" },
  { name: "update_value_pkt_bad", maps: ["1:4:8:16"], errno: 22, msg: "unreachable insn 12",
    asm: "ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nmov %r4, %r2\nadd %r4, 8\njgt %r4, %r3, +6\nmov %r3, %r2\nadd %r3, 4\nlddw %r1, map_fd 0\nmov %r4, 0\ncall 2\nexit\nmov %r0, 0\nexit" },
  { name: "ctx_arg_modified", maps: [], errno: 13, msg: "dereference of modified ctx ptr R1 off=4 disallowed",
    asm: "add %r1, 4\nmov %r2, 0\ncall 44\nexit" },
  { name: "ctx_read_rxq_ok", maps: [], errno: 0, msg: "",
    asm: "ldxw %r0, [%r1+16]\nexit" },
  { name: "ctx_write_rxq", maps: [], errno: 13, msg: "invalid bpf_context access off=16 size=4",
    asm: "stxw [%r1+16], %r1\nmov %r0, 0\nexit" },
];

/** The first error line: the one after the last "N: (op) insn" line, or the first line for CFG errors. */
function firstErrorLine(log: readonly string[]): string {
  let k = log.length - 1;
  while (k >= 0 && !/^\d+: \(/.test(log[k]!)) k--;
  return (log[k + 1] ?? "").replace(/processed \d+ insns.*$/, "");
}

function verify(c: Case) {
  const k = new BpfKernel();
  const ms = c.maps.map((s) => {
    const [mapType, keySize, valueSize, maxEntries] = s.split(":").map(Number);
    return k.mapCreate({ mapType: mapType!, keySize: keySize!, valueSize: valueSize!, maxEntries: maxEntries!, mapFlags: 0, name: "m" }) as BpfMap;
  });
  const p = assemble(c.asm);
  return bpfCheck(p, (pc) => ms[p.imm[pc]!], {
    progType: 6, privileged: true, logLevel: 1, helperProtos: XDP_HELPER_PROTOS, gplCompatible: true,
  });
}

describe("bpfCheck() against the kernel's verdicts", () => {
  it("has at least 90 kernel-checked cases with unique names", () => {
    expect(CASES.length).toBeGreaterThanOrEqual(90);
    expect(new Set(CASES.map((c) => c.name)).size).toBe(CASES.length);
  });
  for (const c of CASES) {
    it(`${c.name}: ${c.errno === 0 ? "accepted" : c.msg}`, () => {
      const r = verify(c);
      const [errno, msg] = KNOWN[c.name] ?? [c.errno, c.msg];
      expect({ errno: r.errno, msg: r.errno ? firstErrorLine(r.log) : "" }).toEqual({ errno, msg });
      expect(r.log[r.log.length - 1]).toMatch(/processed \d+ insns \(limit 1000000\) max_states_per_insn \d+ total_states \d+ peak_states \d+ mark_read 0$/);
      if (r.errno === 0) expect(r.insnAux).not.toBeNull();
      else expect(r.insnAux).toBeNull();
    });
  }
});
