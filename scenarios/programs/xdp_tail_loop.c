// SPDX-License-Identifier: GPL-2.0
/* xdp_tail_loop: programs that tail-call until the kernel's limit
 * (MAX_TAIL_CALL_CNT, 33 calls after the entry) stops them. Each run adds one
 * to the frame's first byte, so the output frame counts the runs:
 *   xdp_loop_self:  tail-calls itself (slot 0) -> 1 + 33 runs, then XDP_PASS;
 *   xdp_loop_empty: tail-calls the empty slot 1, then itself (slot 2). With
 *                   the x86-64 JIT an empty slot does not count (the
 *                   interpreter, ___bpf_prog_run(), would count it): 1 + 33
 *                   runs, then XDP_TX; 17 runs if empty slots counted.
 * The prog array is initialised statically (libbpf fills it at load time).
 */
#include "xdp_parse.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} loop_runs SEC(".maps");

static __always_inline int loop_count(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u8 *first = data;
	__u32 zero = 0;
	__u64 *runs;

	if ((void *)(first + 1) > data_end)
		return -1;
	*first += 1;
	runs = bpf_map_lookup_elem(&loop_runs, &zero);
	if (runs)
		__sync_fetch_and_add(runs, 1);
	return 0;
}

SEC("xdp")
int xdp_loop_self(struct xdp_md *ctx);
SEC("xdp")
int xdp_loop_empty(struct xdp_md *ctx);

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__uint(key_size, sizeof(__u32));
	__array(values, int (void *));
} loop_progs SEC(".maps") = {
	.values = {
		[0] = (void *)&xdp_loop_self,
		[2] = (void *)&xdp_loop_empty,
	},
};

SEC("xdp")
int xdp_loop_self(struct xdp_md *ctx)
{
	if (loop_count(ctx) < 0)
		return XDP_ABORTED;
	bpf_tail_call(ctx, &loop_progs, 0);
	return XDP_PASS;
}

SEC("xdp")
int xdp_loop_empty(struct xdp_md *ctx)
{
	if (loop_count(ctx) < 0)
		return XDP_ABORTED;
	bpf_tail_call(ctx, &loop_progs, 1);
	bpf_tail_call(ctx, &loop_progs, 2);
	return XDP_TX;
}

char _license[] SEC("license") = "GPL";
