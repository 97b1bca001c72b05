// SPDX-License-Identifier: GPL-2.0
/* xdp_globals: global data and bpf-to-bpf calls.
 * Uses the three global-data sections libbpf turns into single-element ARRAY
 * maps (.rodata: const volatile configuration, frozen after load; .data:
 * initialised variables; .bss: zeroed counters), a static __noinline
 * subprogram in .text called twice, and bpf_xdp_adjust_head/_tail.
 * Frames of at least cfg_min_len bytes lose cfg_pop_head bytes at the front
 * and cfg_trim_tail bytes at the end and are returned with tx_action
 * (XDP_TX unless user space changes .data); shorter frames pass unchanged.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* .rodata */
const volatile __u32 cfg_min_len = 60;
const volatile __u32 cfg_pop_head = 4;
const volatile __u32 cfg_trim_tail = 2;
const volatile __u64 cfg_weight = 3;

/* .data */
__u32 tx_action = XDP_TX;
static __u64 generation = 7;

/* .bss */
__u64 seen_pkts;
__u64 seen_bytes;
__u32 last_action;

/* Adds delta * cfg_weight to *counter and returns the new value. */
static __noinline __u64 account(__u64 *counter, __u64 delta)
{
	__u64 v = *counter + delta * cfg_weight;

	*counter = v;
	return v;
}

SEC("xdp")
int xdp_globals(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u64 len = data_end - data;
	__u32 action = XDP_PASS;

	account(&seen_pkts, 1);
	account(&seen_bytes, len);
	generation++;

	if (len >= cfg_min_len) {
		if (bpf_xdp_adjust_head(ctx, (int)cfg_pop_head))
			return XDP_ABORTED;
		if (bpf_xdp_adjust_tail(ctx, -(int)cfg_trim_tail))
			return XDP_ABORTED;
		data = (void *)(long)ctx->data;
		data_end = (void *)(long)ctx->data_end;
		if (data + 1 > data_end)
			return XDP_ABORTED;
		action = tx_action;
	}
	last_action = action;
	return action;
}

char _license[] SEC("license") = "GPL";
