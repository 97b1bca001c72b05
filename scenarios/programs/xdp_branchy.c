// SPDX-License-Identifier: GPL-2.0
/* xdp_branchy: many branches on packet bytes. Each of 48 bytes picks one of
 * two ways to update k, and the verdict compares k with a constant. On every
 * path k is a different known constant, and that last comparison needs its
 * exact value, so the verifier marks k precise back through every
 * checkpoint: no two paths prune each other and the walk runs into the
 * 1M-insn budget ("BPF program is too large"). A benchmark of how fast a
 * verifier walks many short, distinct paths (npm run bench:verify).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define NBYTES 48

SEC("xdp")
int xdp_branchy(struct xdp_md *ctx)
{
	unsigned char *data = (void *)(long)ctx->data;
	unsigned char *data_end = (void *)(long)ctx->data_end;
	unsigned long long k = 0;

	if (data + NBYTES > data_end)
		return XDP_PASS;
#pragma clang loop unroll(full)
	for (int i = 0; i < NBYTES; i++) {
		if (data[i] & 1) {
			k = k * 3 + i;
			/* keep a real branch: no select folded into arithmetic */
			asm volatile("" : "+r"(k));
		} else {
			k = k * 5 + 1;
		}
	}
	return k == 0x123456789ULL ? XDP_DROP : XDP_PASS;
}

char _license[] SEC("license") = "GPL";
