// Batch map operations on a real kernel map through libbpf (bpf_map_lookup_batch()
// and friends in <bpf/bpf.h>), for test/shared/bpf/maps/batch_kernel.test.ts: the
// same script runs here and on our BpfKernel, and the answers are compared. Written
// from include/uapi/linux/bpf.h and libbpf's bpf.h declarations.
//
// Input (stdin, one command a line; HEX is a byte string, "-" an empty one):
//   map TYPE KEY_SIZE VALUE_SIZE MAX_ENTRIES MAP_FLAGS   creates the map (closing any previous)
//   update KEYHEX VALHEX FLAGS                          BPF_MAP_UPDATE_ELEM
//   lookup_batch CURSOR COUNT ELEM_FLAGS FLAGS          BPF_MAP_LOOKUP_BATCH
//   lookup_and_delete_batch CURSOR COUNT ELEM_FLAGS FLAGS
//   update_batch COUNT ELEM_FLAGS KEYSHEX VALUESHEX     BPF_MAP_UPDATE_BATCH
//   delete_batch COUNT ELEM_FLAGS KEYSHEX               BPF_MAP_DELETE_BATCH
//   dump                                                get_next_key + lookup walk
// CURSOR is "-" (in_batch NULL), "prev" (the previous batch call's out_batch buffer)
// or HEX. The keys and values buffers of a lookup hold exactly COUNT elements; the
// out_batch buffer has max(4, KEY_SIZE) bytes, filled with 0xee before each call.
// Output: one JSON line per command:
//   {"op":"..","errno":N,"count":N,"out_batch":"HEX","keys":"HEX","values":"HEX"}
// (count/out_batch/keys/values only for the batch commands, keys/values for dump).
#define _GNU_SOURCE
#include <bpf/bpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int map_fd = -1;
static unsigned key_size, value_size;
static unsigned char prev_out[512];
static unsigned ob_len;

static void put_hex(const unsigned char *b, size_t n) {
	for (size_t i = 0; i < n; i++) printf("%02x", b[i]);
}

/* Parses HEX ("-" is empty) into a fresh buffer of at least min_len bytes (zero-filled). */
static unsigned char *parse_hex(const char *s, size_t min_len, size_t *len) {
	size_t n = strcmp(s, "-") == 0 ? 0 : strlen(s) / 2;
	unsigned char *b = calloc(n > min_len ? n : min_len ? min_len : 1, 1);
	for (size_t i = 0; i < n; i++) sscanf(s + 2 * i, "%2hhx", &b[i]);
	if (len) *len = n;
	return b;
}

static void batch_result(const char *op, int err, __u32 count, const unsigned char *ob, const unsigned char *keys,
			 const unsigned char *values, __u32 shown) {
	printf("{\"op\":\"%s\",\"errno\":%d,\"count\":%u,\"out_batch\":\"", op, err, count);
	put_hex(ob, ob_len);
	printf("\",\"keys\":\"");
	if (keys) put_hex(keys, (size_t)shown * key_size);
	printf("\",\"values\":\"");
	if (values) put_hex(values, (size_t)shown * value_size);
	printf("\"}\n");
}

int main(void) {
	char line[1 << 20];
	while (fgets(line, sizeof(line), stdin)) {
		line[strcspn(line, "\n")] = 0;
		char op[64], a[1 << 18], b[1 << 18];
		unsigned long n1, n2, n3, n4, n5;
		if (sscanf(line, "%63s", op) != 1) continue;
		if (strcmp(op, "map") == 0) {
			sscanf(line, "%*s %lu %lu %lu %lu %lu", &n1, &n2, &n3, &n4, &n5);
			if (map_fd >= 0) close(map_fd);
			LIBBPF_OPTS(bpf_map_create_opts, o, .map_flags = (__u32)n5);
			map_fd = bpf_map_create((enum bpf_map_type)n1, "vxo_batch", n2, n3, n4, &o);
			key_size = n2;
			value_size = n3;
			ob_len = key_size > 4 ? key_size : 4;
			memset(prev_out, 0xee, sizeof(prev_out));
			printf("{\"op\":\"map\",\"errno\":%d}\n", map_fd < 0 ? errno : 0);
		} else if (strcmp(op, "update") == 0) {
			sscanf(line, "%*s %s %s %lu", a, b, &n1);
			unsigned char *k = parse_hex(a, key_size, NULL), *v = parse_hex(b, value_size, NULL);
			int r = bpf_map_update_elem(map_fd, k, v, n1);
			printf("{\"op\":\"update\",\"errno\":%d}\n", r < 0 ? errno : 0);
			free(k);
			free(v);
		} else if (strcmp(op, "lookup_batch") == 0 || strcmp(op, "lookup_and_delete_batch") == 0) {
			sscanf(line, "%*s %s %lu %lu %lu", a, &n1, &n2, &n3);
			unsigned char ob[512], inb[512];
			void *in = NULL;
			if (strcmp(a, "prev") == 0) {
				memcpy(inb, prev_out, sizeof(inb));
				in = inb;
			} else if (strcmp(a, "-") != 0) {
				unsigned char *p = parse_hex(a, sizeof(inb), NULL);
				memcpy(inb, p, sizeof(inb));
				free(p);
				in = inb;
			}
			memset(ob, 0xee, sizeof(ob));
			unsigned char *keys = calloc(n1 ? n1 * key_size : 1, 1), *values = calloc(n1 ? n1 * value_size : 1, 1);
			__u32 count = n1;
			LIBBPF_OPTS(bpf_map_batch_opts, o, .elem_flags = n2, .flags = n3);
			int r = strcmp(op, "lookup_and_delete_batch") == 0 ? bpf_map_lookup_and_delete_batch(map_fd, in, ob, keys, values, &count, &o)
					     : bpf_map_lookup_batch(map_fd, in, ob, keys, values, &count, &o);
			int err = r < 0 ? errno : 0;
			memcpy(prev_out, ob, sizeof(prev_out));
			batch_result(op, err, count, ob, keys, values, count <= n1 ? count : 0);
			free(keys);
			free(values);
		} else if (strcmp(op, "update_batch") == 0) {
			sscanf(line, "%*s %lu %lu %s %s", &n1, &n2, a, b);
			unsigned char *k = parse_hex(a, 0, NULL), *v = parse_hex(b, 0, NULL);
			__u32 count = n1;
			LIBBPF_OPTS(bpf_map_batch_opts, o, .elem_flags = n2);
			int r = bpf_map_update_batch(map_fd, k, v, &count, &o);
			unsigned char ob[512];
			memset(ob, 0xee, sizeof(ob));
			batch_result(op, r < 0 ? errno : 0, count, ob, NULL, NULL, 0);
			free(k);
			free(v);
		} else if (strcmp(op, "delete_batch") == 0) {
			sscanf(line, "%*s %lu %lu %s", &n1, &n2, a);
			unsigned char *k = parse_hex(a, 0, NULL);
			__u32 count = n1;
			LIBBPF_OPTS(bpf_map_batch_opts, o, .elem_flags = n2);
			int r = bpf_map_delete_batch(map_fd, k, &count, &o);
			unsigned char ob[512];
			memset(ob, 0xee, sizeof(ob));
			batch_result(op, r < 0 ? errno : 0, count, ob, NULL, NULL, 0);
			free(k);
		} else if (strcmp(op, "dump") == 0) {
			unsigned char k[512], nk[512], v[1 << 16];
			printf("{\"op\":\"dump\",\"keys\":\"");
			void *prev = NULL;
			size_t nv = 0;
			static unsigned char vals[1 << 20];
			while (bpf_map_get_next_key(map_fd, prev, nk) == 0) {
				if (bpf_map_lookup_elem(map_fd, nk, v) == 0) {
					put_hex(nk, key_size);
					if (nv + value_size <= sizeof(vals)) memcpy(vals + nv, v, value_size);
					nv += value_size;
				}
				memcpy(k, nk, key_size);
				prev = k;
			}
			printf("\",\"values\":\"");
			put_hex(vals, nv < sizeof(vals) ? nv : sizeof(vals));
			printf("\"}\n");
		} else {
			fprintf(stderr, "unknown command %s\n", op);
			return 2;
		}
		fflush(stdout);
	}
	return 0;
}
