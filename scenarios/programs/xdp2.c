// SPDX-License-Identifier: GPL-2.0
/* xdp2: count every frame by its L4 protocol (like xdp1), then swap the
 * Ethernet source and destination addresses and bounce the frame (XDP_TX).
 * Counterpart: the kernel's samples/bpf/xdp2_kern.c in the RFC's ARRAY-map
 * variant; unlike the sample, every frame with a full Ethernet header is
 * bounced, not only UDP. Frames shorter than an Ethernet header are counted
 * under protocol 0 and dropped, since there is no address to swap.
 */
#include "xdp_parse.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u64);
} rxcnt SEC(".maps");

static __always_inline void swap_macs(void *data)
{
	__u16 *p = data;
	__u16 t0 = p[0], t1 = p[1], t2 = p[2];

	p[0] = p[3];
	p[1] = p[4];
	p[2] = p[5];
	p[3] = t0;
	p[4] = t1;
	p[5] = t2;
}

SEC("xdp")
int xdp_prog2(struct xdp_md *ctx)
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

	if (data + sizeof(struct ethhdr) > data_end)
		return XDP_DROP;
	swap_macs(data);
	return XDP_TX;
}

char _license[] SEC("license") = "GPL";
