// SPDX-License-Identifier: GPL-2.0
/* xdp_hash: per-source statistics in a HASH map keyed by the IPv4 source
 * address (packets and bytes), and a per-flow counter in an LRU_HASH keyed by
 * (L4 protocol, destination port) for IPv4 and IPv6 TCP/UDP. Always passes.
 * New entries are inserted with BPF_NOEXIST; existing ones are updated with
 * atomic adds so concurrent CPUs do not lose counts.
 */
#include "xdp_parse.h"

struct src_stats {
	__u64 packets;
	__u64 bytes;
};

struct flow_key {
	__u8 proto;
	__u8 pad;
	__be16 dport;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, struct src_stats);
} src_v4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 512);
	__type(key, struct flow_key);
	__type(value, __u64);
} flows SEC(".maps");

struct ports {
	__be16 source;
	__be16 dest;
};

SEC("xdp")
int xdp_hash_prog(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u64 len = data_end - data;
	struct vxo_pkt pkt;
	struct src_stats *st;
	struct flow_key fk = {};
	struct ports *pp;
	__u64 *fc;

	if (parse_frame(data, data_end, &pkt) < 0)
		return XDP_PASS;

	if (pkt.l3_proto == ETH_P_IP) {
		__u32 saddr = pkt.saddr4;

		st = bpf_map_lookup_elem(&src_v4, &saddr);
		if (st) {
			__sync_fetch_and_add(&st->packets, 1);
			__sync_fetch_and_add(&st->bytes, len);
		} else {
			struct src_stats init = { .packets = 1, .bytes = len };

			bpf_map_update_elem(&src_v4, &saddr, &init, BPF_NOEXIST);
		}
	}

	if (pkt.l4_proto != IPPROTO_TCP && pkt.l4_proto != IPPROTO_UDP)
		return XDP_PASS;
	if (pkt.l4_off > 128)
		return XDP_PASS;
	pp = data + pkt.l4_off;
	if ((void *)(pp + 1) > data_end)
		return XDP_PASS;

	fk.proto = pkt.l4_proto;
	fk.dport = pp->dest;
	fc = bpf_map_lookup_elem(&flows, &fk);
	if (fc) {
		__sync_fetch_and_add(fc, 1);
	} else {
		__u64 one = 1;

		bpf_map_update_elem(&flows, &fk, &one, BPF_NOEXIST);
	}
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
