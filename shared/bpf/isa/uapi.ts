// eBPF user ABI constants, spelled as in include/uapi/linux/bpf.h and
// bpf_common.h; instruction set per RFC 9669 (BPF ISA).

// Instruction classes (low 3 bits of the opcode).
export const BPF_LD = 0x00;
export const BPF_LDX = 0x01;
export const BPF_ST = 0x02;
export const BPF_STX = 0x03;
export const BPF_ALU = 0x04;
export const BPF_JMP = 0x05;
export const BPF_JMP32 = 0x06;
export const BPF_ALU64 = 0x07;

// Load/store size (bits 3-4) and mode (bits 5-7).
export const BPF_W = 0x00;
export const BPF_H = 0x08;
export const BPF_B = 0x10;
export const BPF_DW = 0x18;
export const BPF_IMM = 0x00;
export const BPF_ABS = 0x20;
export const BPF_IND = 0x40;
export const BPF_MEM = 0x60;
export const BPF_MEMSX = 0x80;
export const BPF_ATOMIC = 0xc0;

// Source operand (bit 3).
export const BPF_K = 0x00;
export const BPF_X = 0x08;

// ALU operations (bits 4-7).
export const BPF_ADD = 0x00;
export const BPF_SUB = 0x10;
export const BPF_MUL = 0x20;
export const BPF_DIV = 0x30;
export const BPF_OR = 0x40;
export const BPF_AND = 0x50;
export const BPF_LSH = 0x60;
export const BPF_RSH = 0x70;
export const BPF_NEG = 0x80;
export const BPF_MOD = 0x90;
export const BPF_XOR = 0xa0;
export const BPF_MOV = 0xb0;
export const BPF_ARSH = 0xc0;
export const BPF_END = 0xd0;
export const BPF_TO_LE = 0x00; // BPF_END source bit: convert to little endian
export const BPF_TO_BE = 0x08; // BPF_END source bit: convert to big endian
export const BPF_FROM_LE = BPF_TO_LE;
export const BPF_FROM_BE = BPF_TO_BE;

// Jump operations (bits 4-7).
export const BPF_JA = 0x00;
export const BPF_JEQ = 0x10;
export const BPF_JGT = 0x20;
export const BPF_JGE = 0x30;
export const BPF_JSET = 0x40;
export const BPF_JNE = 0x50;
export const BPF_JSGT = 0x60;
export const BPF_JSGE = 0x70;
export const BPF_CALL = 0x80;
export const BPF_EXIT = 0x90;
export const BPF_JLT = 0xa0;
export const BPF_JLE = 0xb0;
export const BPF_JSLT = 0xc0;
export const BPF_JSLE = 0xd0;

// Atomic operations (imm field of BPF_STX|BPF_ATOMIC).
export const BPF_FETCH = 0x01;
export const BPF_XCHG = 0xe0 | BPF_FETCH;
export const BPF_CMPXCHG = 0xf0 | BPF_FETCH;

// Registers.
export const BPF_REG_0 = 0;
export const BPF_REG_1 = 1;
export const BPF_REG_2 = 2;
export const BPF_REG_3 = 3;
export const BPF_REG_4 = 4;
export const BPF_REG_5 = 5;
export const BPF_REG_6 = 6;
export const BPF_REG_7 = 7;
export const BPF_REG_8 = 8;
export const BPF_REG_9 = 9;
export const BPF_REG_10 = 10;
export const MAX_BPF_REG = 11;
export const BPF_REG_FP = BPF_REG_10;

// ld_imm64 pseudo sources (src_reg of BPF_LD|BPF_IMM|BPF_DW).
export const BPF_PSEUDO_MAP_FD = 1;
export const BPF_PSEUDO_MAP_VALUE = 2;
export const BPF_PSEUDO_BTF_ID = 3;
export const BPF_PSEUDO_FUNC = 4;
export const BPF_PSEUDO_MAP_IDX = 5;
export const BPF_PSEUDO_MAP_IDX_VALUE = 6;
// call src_reg values.
export const BPF_PSEUDO_CALL = 1;
export const BPF_PSEUDO_KFUNC_CALL = 2;

// Limits (include/linux/bpf.h, include/linux/filter.h).
export const MAX_BPF_STACK = 512;
export const MAX_CALL_FRAMES = 8;
export const MAX_TAIL_CALL_CNT = 33;
export const BPF_MAXINSNS = 4096;
export const BPF_COMPLEXITY_LIMIT_INSNS = 1000000;
export const BPF_MAX_SUBPROGS = 256;
export const MAX_USED_MAPS = 64;
export const BPF_OBJ_NAME_LEN = 16;
export const BPF_TAG_SIZE = 8;

// enum bpf_prog_type (subset spelled out; values are the ABI's).
export const BPF_PROG_TYPE_UNSPEC = 0;
export const BPF_PROG_TYPE_SOCKET_FILTER = 1;
export const BPF_PROG_TYPE_KPROBE = 2;
export const BPF_PROG_TYPE_SCHED_CLS = 3;
export const BPF_PROG_TYPE_SCHED_ACT = 4;
export const BPF_PROG_TYPE_TRACEPOINT = 5;
export const BPF_PROG_TYPE_XDP = 6;

// enum bpf_map_type.
export const BPF_MAP_TYPE_UNSPEC = 0;
export const BPF_MAP_TYPE_HASH = 1;
export const BPF_MAP_TYPE_ARRAY = 2;
export const BPF_MAP_TYPE_PROG_ARRAY = 3;
export const BPF_MAP_TYPE_PERF_EVENT_ARRAY = 4;
export const BPF_MAP_TYPE_PERCPU_HASH = 5;
export const BPF_MAP_TYPE_PERCPU_ARRAY = 6;
export const BPF_MAP_TYPE_STACK_TRACE = 7;
export const BPF_MAP_TYPE_CGROUP_ARRAY = 8;
export const BPF_MAP_TYPE_LRU_HASH = 9;
export const BPF_MAP_TYPE_LRU_PERCPU_HASH = 10;
export const BPF_MAP_TYPE_LPM_TRIE = 11;
export const BPF_MAP_TYPE_ARRAY_OF_MAPS = 12;
export const BPF_MAP_TYPE_HASH_OF_MAPS = 13;
export const BPF_MAP_TYPE_DEVMAP = 14;
export const BPF_MAP_TYPE_SOCKMAP = 15;
export const BPF_MAP_TYPE_CPUMAP = 16;
export const BPF_MAP_TYPE_XSKMAP = 17;
export const BPF_MAP_TYPE_SOCKHASH = 18;
export const BPF_MAP_TYPE_DEVMAP_HASH = 25;
export const BPF_MAP_TYPE_RINGBUF = 27;

export const MAP_TYPE_NAMES: Record<number, string> = {
  [BPF_MAP_TYPE_UNSPEC]: "unspec", [BPF_MAP_TYPE_HASH]: "hash", [BPF_MAP_TYPE_ARRAY]: "array",
  [BPF_MAP_TYPE_PROG_ARRAY]: "prog_array", [BPF_MAP_TYPE_PERF_EVENT_ARRAY]: "perf_event_array",
  [BPF_MAP_TYPE_PERCPU_HASH]: "percpu_hash", [BPF_MAP_TYPE_PERCPU_ARRAY]: "percpu_array",
  [BPF_MAP_TYPE_STACK_TRACE]: "stack_trace", [BPF_MAP_TYPE_CGROUP_ARRAY]: "cgroup_array",
  [BPF_MAP_TYPE_LRU_HASH]: "lru_hash", [BPF_MAP_TYPE_LRU_PERCPU_HASH]: "lru_percpu_hash",
  [BPF_MAP_TYPE_LPM_TRIE]: "lpm_trie", [BPF_MAP_TYPE_ARRAY_OF_MAPS]: "array_of_maps",
  [BPF_MAP_TYPE_HASH_OF_MAPS]: "hash_of_maps", [BPF_MAP_TYPE_DEVMAP]: "devmap",
  [BPF_MAP_TYPE_SOCKMAP]: "sockmap", [BPF_MAP_TYPE_CPUMAP]: "cpumap", [BPF_MAP_TYPE_XSKMAP]: "xskmap",
  [BPF_MAP_TYPE_SOCKHASH]: "sockhash", [BPF_MAP_TYPE_DEVMAP_HASH]: "devmap_hash",
  [BPF_MAP_TYPE_RINGBUF]: "ringbuf",
};

// enum bpf_cmd: the batch map commands (BPF_MAP_*_ELEM and the others go through their own entries).
export const BPF_MAP_LOOKUP_BATCH = 24;
export const BPF_MAP_LOOKUP_AND_DELETE_BATCH = 25;
export const BPF_MAP_UPDATE_BATCH = 26;
export const BPF_MAP_DELETE_BATCH = 27;

// Map update flags and map_flags.
export const BPF_ANY = 0;
export const BPF_NOEXIST = 1;
export const BPF_EXIST = 2;
export const BPF_F_LOCK = 4;
export const BPF_F_NO_PREALLOC = 1 << 0;
export const BPF_F_NO_COMMON_LRU = 1 << 1;
export const BPF_F_NUMA_NODE = 1 << 2;
export const BPF_F_RDONLY = 1 << 3;
export const BPF_F_WRONLY = 1 << 4;
export const BPF_F_ZERO_SEED = 1 << 6;
export const BPF_F_RDONLY_PROG = 1 << 7;
export const BPF_F_WRONLY_PROG = 1 << 8;
export const BPF_F_MMAPABLE = 1 << 10;
/** Keep perf_event_array entries when the creator closes (perf maps only). */
export const BPF_F_PRESERVE_ELEMS = 1 << 11;
/** Array usable as an inner map with a dynamic max_entries. */
export const BPF_F_INNER_MAP = 1 << 12;

// bpf_fib_lookup() results (enum BPF_FIB_LKUP_RET_*), the two a host with no routes gives.
export const BPF_FIB_LKUP_RET_NOT_FWDED = 4;
export const BPF_FIB_LKUP_RET_FWD_DISABLED = 5;

// XDP actions (enum xdp_action).
export const XDP_ABORTED = 0;
export const XDP_DROP = 1;
export const XDP_PASS = 2;
export const XDP_TX = 3;
export const XDP_REDIRECT = 4;
export const XDP_ACTION_NAMES = ["XDP_ABORTED", "XDP_DROP", "XDP_PASS", "XDP_TX", "XDP_REDIRECT"] as const;

// XDP attach flags (include/uapi/linux/if_link.h).
export const XDP_FLAGS_UPDATE_IF_NOEXIST = 1 << 0;
export const XDP_FLAGS_SKB_MODE = 1 << 1;
export const XDP_FLAGS_DRV_MODE = 1 << 2;
export const XDP_FLAGS_HW_MODE = 1 << 3;
export const XDP_FLAGS_REPLACE = 1 << 4;

// Packet geometry (include/net/xdp.h, include/linux/skbuff.h).
export const XDP_PACKET_HEADROOM = 256;
export const ETH_HLEN = 14;

/** Offsets in struct xdp_md (every field is a __u32). */
export const XDP_MD_DATA = 0;
export const XDP_MD_DATA_END = 4;
export const XDP_MD_DATA_META = 8;
export const XDP_MD_INGRESS_IFINDEX = 12;
export const XDP_MD_RX_QUEUE_INDEX = 16;
export const XDP_MD_EGRESS_IFINDEX = 20;
export const XDP_MD_SIZE = 24;

// Helper function ids (enum bpf_func_id): index = id, "bpf_" + name.
export const BPF_FUNC_NAMES: readonly string[] = [
  "unspec", "map_lookup_elem", "map_update_elem", "map_delete_elem", "probe_read", "ktime_get_ns",
  "trace_printk", "get_prandom_u32", "get_smp_processor_id", "skb_store_bytes", "l3_csum_replace", "l4_csum_replace",
  "tail_call", "clone_redirect", "get_current_pid_tgid", "get_current_uid_gid", "get_current_comm", "get_cgroup_classid",
  "skb_vlan_push", "skb_vlan_pop", "skb_get_tunnel_key", "skb_set_tunnel_key", "perf_event_read", "redirect",
  "get_route_realm", "perf_event_output", "skb_load_bytes", "get_stackid", "csum_diff", "skb_get_tunnel_opt",
  "skb_set_tunnel_opt", "skb_change_proto", "skb_change_type", "skb_under_cgroup", "get_hash_recalc", "get_current_task",
  "probe_write_user", "current_task_under_cgroup", "skb_change_tail", "skb_pull_data", "csum_update", "set_hash_invalid",
  "get_numa_node_id", "skb_change_head", "xdp_adjust_head", "probe_read_str", "get_socket_cookie", "get_socket_uid",
  "set_hash", "setsockopt", "skb_adjust_room", "redirect_map", "sk_redirect_map", "sock_map_update",
  "xdp_adjust_meta", "perf_event_read_value", "perf_prog_read_value", "getsockopt", "override_return", "sock_ops_cb_flags_set",
  "msg_redirect_map", "msg_apply_bytes", "msg_cork_bytes", "msg_pull_data", "bind", "xdp_adjust_tail",
  "skb_get_xfrm_state", "get_stack", "skb_load_bytes_relative", "fib_lookup", "sock_hash_update", "msg_redirect_hash",
  "sk_redirect_hash", "lwt_push_encap", "lwt_seg6_store_bytes", "lwt_seg6_adjust_srh", "lwt_seg6_action", "rc_repeat",
  "rc_keydown", "skb_cgroup_id", "get_current_cgroup_id", "get_local_storage", "sk_select_reuseport", "skb_ancestor_cgroup_id",
  "sk_lookup_tcp", "sk_lookup_udp", "sk_release", "map_push_elem", "map_pop_elem", "map_peek_elem",
  "msg_push_data", "msg_pop_data", "rc_pointer_rel", "spin_lock", "spin_unlock", "sk_fullsock",
  "tcp_sock", "skb_ecn_set_ce", "get_listener_sock", "skc_lookup_tcp", "tcp_check_syncookie", "sysctl_get_name",
  "sysctl_get_current_value", "sysctl_get_new_value", "sysctl_set_new_value", "strtol", "strtoul", "sk_storage_get",
  "sk_storage_delete", "send_signal", "tcp_gen_syncookie", "skb_output", "probe_read_user", "probe_read_kernel",
  "probe_read_user_str", "probe_read_kernel_str", "tcp_send_ack", "send_signal_thread", "jiffies64", "read_branch_records",
  "get_ns_current_pid_tgid", "xdp_output", "get_netns_cookie", "get_current_ancestor_cgroup_id", "sk_assign", "ktime_get_boot_ns",
  "seq_printf", "seq_write", "sk_cgroup_id", "sk_ancestor_cgroup_id", "ringbuf_output", "ringbuf_reserve",
  "ringbuf_submit", "ringbuf_discard", "ringbuf_query", "csum_level", "skc_to_tcp6_sock", "skc_to_tcp_sock",
  "skc_to_tcp_timewait_sock", "skc_to_tcp_request_sock", "skc_to_udp6_sock", "get_task_stack", "load_hdr_opt", "store_hdr_opt",
  "reserve_hdr_opt", "inode_storage_get", "inode_storage_delete", "d_path", "copy_from_user", "snprintf_btf",
  "seq_printf_btf", "skb_cgroup_classid", "redirect_neigh", "per_cpu_ptr", "this_cpu_ptr", "redirect_peer",
  "task_storage_get", "task_storage_delete", "get_current_task_btf", "bprm_opts_set", "ktime_get_coarse_ns", "ima_inode_hash",
  "sock_from_file", "check_mtu", "for_each_map_elem", "snprintf", "sys_bpf", "btf_find_by_name_kind",
  "sys_close", "timer_init", "timer_set_callback", "timer_start", "timer_cancel", "get_func_ip",
  "get_attach_cookie", "task_pt_regs", "get_branch_snapshot", "trace_vprintk", "skc_to_unix_sock", "kallsyms_lookup_name",
  "find_vma", "loop", "strncmp", "get_func_arg", "get_func_ret", "get_func_arg_cnt",
  "get_retval", "set_retval", "xdp_get_buff_len", "xdp_load_bytes", "xdp_store_bytes", "copy_from_user_task",
  "skb_set_tstamp", "ima_file_hash", "kptr_xchg", "map_lookup_percpu_elem", "skc_to_mptcp_sock", "dynptr_from_mem",
  "ringbuf_reserve_dynptr", "ringbuf_submit_dynptr", "ringbuf_discard_dynptr", "dynptr_read", "dynptr_write", "dynptr_data",
  "tcp_raw_gen_syncookie_ipv4", "tcp_raw_gen_syncookie_ipv6", "tcp_raw_check_syncookie_ipv4", "tcp_raw_check_syncookie_ipv6", "ktime_get_tai_ns", "user_ringbuf_drain",

  "cgrp_storage_get", "cgrp_storage_delete",
];
export const BPF_FUNC_unspec = 0;
export const BPF_FUNC_map_lookup_elem = 1;
export const BPF_FUNC_map_update_elem = 2;
export const BPF_FUNC_map_delete_elem = 3;
export const BPF_FUNC_ktime_get_ns = 5;
export const BPF_FUNC_trace_printk = 6;
export const BPF_FUNC_get_prandom_u32 = 7;
export const BPF_FUNC_get_smp_processor_id = 8;
export const BPF_FUNC_tail_call = 12;
export const BPF_FUNC_redirect = 23;
export const BPF_FUNC_csum_diff = 28;
export const BPF_FUNC_xdp_adjust_head = 44;
export const BPF_FUNC_redirect_map = 51;
export const BPF_FUNC_xdp_adjust_meta = 54;
export const BPF_FUNC_fib_lookup = 69;
export const BPF_FUNC_xdp_adjust_tail = 65;
export const BPF_FUNC_ktime_get_boot_ns = 125;
export const BPF_FUNC_probe_read_kernel = 113;
export const BPF_FUNC_xdp_get_buff_len = 188;

/** "bpf_map_lookup_elem" for 1; "func#N" when the id is unknown. */
export function helperName(id: number): string {
  const n = id >= 0 && id < BPF_FUNC_NAMES.length ? BPF_FUNC_NAMES[id] : undefined;
  return n === undefined ? `func#${id}` : `bpf_${n}`;
}
