// SPDX-License-Identifier: GPL-2.0
/* xdp_bad_access: reads the ethertype byte without comparing against
 * data_end first. It compiles, but the verifier must reject it (EACCES,
 * "invalid access to packet"); used to test verifier error reporting.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xdp_bad_access(struct xdp_md *ctx)
{
	unsigned char *data = (unsigned char *)(long)ctx->data;

	if (data[12] == 0x08)
		return XDP_DROP;
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
