// SPDX-License-Identifier: GPL-2.0
/* xdp_redirect_map: send every frame to the device in slot 0 of "tx_port".
 * Counterpart: the kernel's samples/bpf/xdp_redirect_map_kern.c, without the
 * MAC rewrite. Frames are counted in "redir_cnt" slot 0 first; when slot 0 of
 * tx_port is empty, bpf_redirect_map() returns XDP_ABORTED (flags 0).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u32);
} tx_port SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} redir_cnt SEC(".maps");

SEC("xdp")
int xdp_redirect_map_prog(struct xdp_md *ctx)
{
	__u32 key = 0;
	__u64 *cnt;

	cnt = bpf_map_lookup_elem(&redir_cnt, &key);
	if (cnt)
		__sync_fetch_and_add(cnt, 1);
	return bpf_redirect_map(&tx_port, 0, 0);
}

char _license[] SEC("license") = "GPL";
