// SPDX-License-Identifier: GPL-2.0
/* xdp1: count every frame by its L4 protocol, then drop it.
 * Counterpart: the kernel's samples/bpf/xdp1_kern.c in the variant used by the
 * virtio_net XDP offload RFC (a shared BPF_MAP_TYPE_ARRAY instead of a per-CPU
 * array, so that the host can offload it). Unparsable frames (runts, truncated
 * VLAN or IP headers, non-IP ethertypes) are counted under protocol 0.
 */
#include "xdp_parse.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u64);
} rxcnt SEC(".maps");

SEC("xdp")
int xdp_prog1(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct vxo_pkt pkt;
	__u32 key;
	__u64 *cnt;

	parse_frame(data, data_end, &pkt);
	key = pkt.l4_proto;
	cnt = bpf_map_lookup_elem(&rxcnt, &key);
	if (cnt)
		__sync_fetch_and_add(cnt, 1);
	return XDP_DROP;
}

char _license[] SEC("license") = "GPL";
