// SPDX-License-Identifier: GPL-2.0
/* xdp_tail_call: an entry program that tail-calls through a PROG_ARRAY
 * initialised statically in BTF-defined ".maps" (libbpf fills the slots at
 * load time from the ".rel.maps" relocations): slot 0 handles IPv4, slot 1
 * IPv6; anything else, or an empty slot, falls through to XDP_PASS.
 * The three programs share one "xdp" section, split by function symbol.
 */
#include "xdp_parse.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} tc_hits SEC(".maps");

static __always_inline void count_hit(__u32 slot)
{
	__u64 *cnt = bpf_map_lookup_elem(&tc_hits, &slot);

	if (cnt)
		__sync_fetch_and_add(cnt, 1);
}

SEC("xdp")
int xdp_tc_ipv4(struct xdp_md *ctx)
{
	count_hit(0);
	return XDP_DROP;
}

SEC("xdp")
int xdp_tc_ipv6(struct xdp_md *ctx)
{
	count_hit(1);
	return XDP_TX;
}

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__uint(key_size, sizeof(__u32));
	__array(values, int (void *));
} jmp_table SEC(".maps") = {
	.values = {
		[0] = (void *)&xdp_tc_ipv4,
		[1] = (void *)&xdp_tc_ipv6,
	},
};

SEC("xdp")
int xdp_tc_entry(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct vxo_pkt pkt;

	count_hit(2);
	parse_frame(data, data_end, &pkt);
	if (pkt.l3_proto == ETH_P_IP)
		bpf_tail_call(ctx, &jmp_table, 0);
	else if (pkt.l3_proto == ETH_P_IPV6)
		bpf_tail_call(ctx, &jmp_table, 1);
	count_hit(3);
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
