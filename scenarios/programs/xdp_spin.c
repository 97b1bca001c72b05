// SPDX-License-Identifier: GPL-2.0
/* xdp_spin: a loop the verifier cannot bound. x starts as a packet byte and
 * steps by another packet byte until it reads 189; a step of 0 never gets
 * there, so the verifier walks the loop until its budget runs out and the
 * kernel answers E2BIG "BPF program is too large. Processed 1000001 insn".
 * Used to check that a long verification never stalls a vxo process.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xdp_spin(struct xdp_md *ctx)
{
	unsigned char *data = (void *)(long)ctx->data;
	unsigned char *data_end = (void *)(long)ctx->data_end;
	unsigned int n = 0;
	unsigned char x;

	if (data + 2 > data_end)
		return XDP_PASS;
	x = data[0];
	while (x != 189) {
		x += data[1];
		n++;
	}
	return n & 1 ? XDP_DROP : XDP_PASS;
}

char _license[] SEC("license") = "GPL";
