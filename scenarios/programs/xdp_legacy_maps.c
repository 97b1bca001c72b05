// SPDX-License-Identifier: GPL-2.0
/* xdp_legacy_maps: the pre-BTF conventions still found in the wild.
 * Maps are declared as struct bpf_map_def in the "maps" section (what libbpf
 * 0.x and iproute2 accept; libbpf 1.x refuses the section), and the program
 * lives in SEC("prog"), iproute2's default section name for `ip link set dev
 * X xdp obj Y.o`. Counts frames per length class and passes them.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* The five-field layout libbpf 0.x documented (defined here because libbpf
 * 1.x headers no longer provide it).
 */
struct vxo_legacy_map_def {
	unsigned int type;
	unsigned int key_size;
	unsigned int value_size;
	unsigned int max_entries;
	unsigned int map_flags;
};

struct vxo_legacy_map_def SEC("maps") len_hist = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u64),
	.max_entries = 4,
};

struct vxo_legacy_map_def SEC("maps") last_len = {
	.type = BPF_MAP_TYPE_HASH,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u32),
	.max_entries = 16,
	.map_flags = BPF_F_NO_PREALLOC,
};

SEC("prog")
int xdp_legacy(struct xdp_md *ctx)
{
	__u32 len = ctx->data_end - ctx->data;
	__u32 bucket = len < 64 ? 0 : len < 512 ? 1 : len < 1024 ? 2 : 3;
	__u32 key = 0;
	__u64 *cnt;

	cnt = bpf_map_lookup_elem(&len_hist, &bucket);
	if (cnt)
		__sync_fetch_and_add(cnt, 1);
	bpf_map_update_elem(&last_len, &key, &len, BPF_ANY);
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
