// SPDX-License-Identifier: GPL-2.0
/* xdp_fib: route untagged IPv4/IPv6 frames with bpf_fib_lookup().
 * Counterpart: the kernel's samples/bpf/xdp_fwd_kern.c, reduced. On success
 * the TTL / hop limit is decremented, the MACs from the lookup are written
 * and the frame is redirected to the egress ifindex; blackhole, unreachable
 * and prohibit routes drop; every other result passes the frame to the stack.
 * Each lookup result code is counted in "fib_rc". This program exists so the
 * offload path can refuse it: bpf_fib_lookup reads host routing state, which
 * the RFC review says an offloaded guest program must not see.
 */
#include "xdp_parse.h"

#define VXO_AF_INET 2
#define VXO_AF_INET6 10
#define VXO_IPV6_FLOWINFO_MASK bpf_htonl(0x0FFFFFFF)

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} fib_rc SEC(".maps");

/* RFC 1624 incremental update for a TTL decrement (the TTL is the high byte
 * of its 16-bit word, so the word drops by 0x0100).
 */
static __always_inline void ipv4_dec_ttl(struct iphdr *iph)
{
	__u32 sum = iph->check;

	sum += bpf_htons(0x0100);
	iph->check = (__sum16)(sum + (sum >> 16));
	iph->ttl--;
}

static __always_inline void count_rc(int rc)
{
	__u32 key = (__u32)rc & 15;
	__u64 *cnt = bpf_map_lookup_elem(&fib_rc, &key);

	if (cnt)
		__sync_fetch_and_add(cnt, 1);
}

SEC("xdp")
int xdp_fib_fwd(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct bpf_fib_lookup fib;
	struct ethhdr *eth = data;
	struct iphdr *iph = 0;
	struct ipv6hdr *ip6h = 0;
	struct vxo_pkt pkt;
	int rc;

	if (parse_frame(data, data_end, &pkt) < 0 || pkt.vlans)
		return XDP_PASS;

	__builtin_memset(&fib, 0, sizeof(fib));
	if (pkt.l3_proto == ETH_P_IP) {
		iph = data + sizeof(*eth);
		if ((void *)(iph + 1) > data_end)
			return XDP_PASS;
		if (iph->ttl <= 1)
			return XDP_PASS;
		fib.family = VXO_AF_INET;
		fib.tos = iph->tos;
		fib.l4_protocol = iph->protocol;
		fib.tot_len = bpf_ntohs(iph->tot_len);
		fib.ipv4_src = iph->saddr;
		fib.ipv4_dst = iph->daddr;
	} else {
		ip6h = data + sizeof(*eth);
		if ((void *)(ip6h + 1) > data_end)
			return XDP_PASS;
		if (ip6h->hop_limit <= 1)
			return XDP_PASS;
		fib.family = VXO_AF_INET6;
		fib.flowinfo = *(__be32 *)ip6h & VXO_IPV6_FLOWINFO_MASK;
		fib.l4_protocol = ip6h->nexthdr;
		fib.tot_len = bpf_ntohs(ip6h->payload_len);
		__builtin_memcpy(fib.ipv6_src, &ip6h->saddr, sizeof(fib.ipv6_src));
		__builtin_memcpy(fib.ipv6_dst, &ip6h->daddr, sizeof(fib.ipv6_dst));
	}
	fib.ifindex = ctx->ingress_ifindex;

	rc = bpf_fib_lookup(ctx, &fib, sizeof(fib), 0);
	count_rc(rc);
	switch (rc) {
	case BPF_FIB_LKUP_RET_SUCCESS:
		if (iph)
			ipv4_dec_ttl(iph);
		else if (ip6h)
			ip6h->hop_limit--;
		__builtin_memcpy(eth->h_dest, fib.dmac, ETH_ALEN);
		__builtin_memcpy(eth->h_source, fib.smac, ETH_ALEN);
		return bpf_redirect(fib.ifindex, 0);
	case BPF_FIB_LKUP_RET_BLACKHOLE:
	case BPF_FIB_LKUP_RET_UNREACHABLE:
	case BPF_FIB_LKUP_RET_PROHIBIT:
		return XDP_DROP;
	default:
		return XDP_PASS;
	}
}

char _license[] SEC("license") = "GPL";
