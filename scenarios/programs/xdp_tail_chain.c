// SPDX-License-Identifier: GPL-2.0
/* xdp_tail_chain: three programs chained by bpf_tail_call() through a
 * PROG_ARRAY that the loader fills at run time (slot 1: xdp_chain_1, slot 2:
 * xdp_chain_2; `bpftool map update ... value name|id|pinned PROG`). Each stage
 * counts itself in chain_hits and leaves a mark in the frame, so the output
 * packet and the counters say how far a frame went:
 *   xdp_chain_0: bumps the last byte of the source MAC, tail-calls slot 1,
 *                XDP_PASS when slot 1 is empty;
 *   xdp_chain_1: rewrites the ethertype's high byte into the first byte of
 *                the destination MAC's OUI, tail-calls slot 2, XDP_DROP when
 *                slot 2 is empty;
 *   xdp_chain_2: swaps the MAC addresses, XDP_TX.
 * Frames shorter than an Ethernet header end with XDP_ABORTED at any stage.
 * The stages sit in one "xdp" section, split by function symbol; the entry is
 * the first.
 */
#include "xdp_parse.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} chain_hits SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} chain_progs SEC(".maps");

static __always_inline void chain_hit(__u32 stage)
{
	__u64 *cnt = bpf_map_lookup_elem(&chain_hits, &stage);

	if (cnt)
		__sync_fetch_and_add(cnt, 1);
}

SEC("xdp")
int xdp_chain_0(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > data_end)
		return XDP_ABORTED;
	chain_hit(0);
	eth->h_source[5] += 1;
	bpf_tail_call(ctx, &chain_progs, 1);
	return XDP_PASS;
}

SEC("xdp")
int xdp_chain_1(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > data_end)
		return XDP_ABORTED;
	chain_hit(1);
	eth->h_dest[0] = ((__u8 *)&eth->h_proto)[0];
	bpf_tail_call(ctx, &chain_progs, 2);
	return XDP_DROP;
}

SEC("xdp")
int xdp_chain_2(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	unsigned char tmp[ETH_ALEN];

	if ((void *)(eth + 1) > data_end)
		return XDP_ABORTED;
	chain_hit(2);
	__builtin_memcpy(tmp, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, tmp, ETH_ALEN);
	return XDP_TX;
}

char _license[] SEC("license") = "GPL";
