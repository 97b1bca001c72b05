// SPDX-License-Identifier: GPL-2.0
/* xdp_pass: hand every frame to the network stack (the "pass" baseline). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xdp_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
