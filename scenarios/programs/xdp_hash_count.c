// SPDX-License-Identifier: GPL-2.0
/* xdp_hash_count: count every frame by its L4 protocol in a BPF_MAP_TYPE_HASH
 * (the map type the virtio_net XDP offload RFC offloads besides ARRAY), then
 * drop it. The first frame of a protocol inserts its entry (BPF_NOEXIST; a
 * racing insert from another CPU is retried as an increment), later ones
 * increment it atomically. Unparsable frames count under protocol 0.
 */
#include "xdp_parse.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u64);
} proto_cnt SEC(".maps");

SEC("xdp")
int xdp_hash_count_prog(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct vxo_pkt pkt;
	__u64 one = 1, *cnt;
	__u32 key;

	parse_frame(data, data_end, &pkt);
	key = pkt.l4_proto;
	cnt = bpf_map_lookup_elem(&proto_cnt, &key);
	if (cnt) {
		__sync_fetch_and_add(cnt, 1);
	} else if (bpf_map_update_elem(&proto_cnt, &key, &one, BPF_NOEXIST) != 0) {
		cnt = bpf_map_lookup_elem(&proto_cnt, &key);
		if (cnt)
			__sync_fetch_and_add(cnt, 1);
	}
	return XDP_DROP;
}

char _license[] SEC("license") = "GPL";
