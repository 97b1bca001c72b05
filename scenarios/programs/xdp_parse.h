/* SPDX-License-Identifier: GPL-2.0 */
/* Packet parsing shared by the vxo sample XDP programs (restricted C).
 * Counterpart: the header walkers of the kernel's samples/bpf/xdp*_kern.c,
 * rewritten for vxo: Ethernet, up to two VLAN tags (802.1Q / 802.1ad), then
 * IPv4 or IPv6, stopping at the L4 protocol number.
 */
#ifndef VXO_XDP_PARSE_H
#define VXO_XDP_PARSE_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#ifndef ETH_P_8021AD
#define ETH_P_8021AD 0x88A8
#endif

/* The 4 bytes that follow the MAC addresses for each VLAN tag. */
struct vxo_vlan_hdr {
	__be16 tci;
	__be16 inner_proto;
};

/* What parse_frame() learned about a frame. */
struct vxo_pkt {
	__u16 l3_proto;  /* host order ethertype after the VLAN tags; 0 if unknown */
	__u8 l4_proto;   /* IPv4 protocol / IPv6 next header; 0 if not parsed */
	__u8 vlans;      /* number of VLAN tags skipped (0..2) */
	__u32 l3_off;    /* offset of the IP header */
	__u32 l4_off;    /* offset of the L4 header; 0 if not parsed */
	__be32 saddr4;   /* IPv4 source address (network order), 0 otherwise */
};

/* Walks Ethernet, VLAN and IP headers. Returns 0 when the L4 protocol was
 * found, -1 when the frame is too short or not IPv4/IPv6; pkt->l4_proto stays
 * 0 in that case, which the counting programs use as "unparsable".
 */
static __always_inline int parse_frame(void *data, void *data_end, struct vxo_pkt *pkt)
{
	struct ethhdr *eth = data;
	__u32 off = sizeof(*eth);
	__u16 proto;
	int i;

	pkt->l3_proto = 0;
	pkt->l4_proto = 0;
	pkt->vlans = 0;
	pkt->l3_off = 0;
	pkt->l4_off = 0;
	pkt->saddr4 = 0;

	if (data + off > data_end)
		return -1;
	proto = eth->h_proto;

#pragma unroll
	for (i = 0; i < 2; i++) {
		struct vxo_vlan_hdr *vh;

		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		vh = data + off;
		if ((void *)(vh + 1) > data_end)
			return -1;
		proto = vh->inner_proto;
		off += sizeof(*vh);
		pkt->vlans++;
	}

	pkt->l3_proto = bpf_ntohs(proto);
	pkt->l3_off = off;
	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *iph = data + off;

		if ((void *)(iph + 1) > data_end)
			return -1;
		pkt->l4_proto = iph->protocol;
		pkt->saddr4 = iph->saddr;
		pkt->l4_off = off + iph->ihl * 4;
		return 0;
	}
	if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6h = data + off;

		if ((void *)(ip6h + 1) > data_end)
			return -1;
		pkt->l4_proto = ip6h->nexthdr;
		pkt->l4_off = off + sizeof(*ip6h);
		return 0;
	}
	return -1;
}

#endif /* VXO_XDP_PARSE_H */
