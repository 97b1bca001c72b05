// Raw BPF_PROG_LOAD driver for the verifier differential tests: the kernel's
// verdict on hand-written instruction streams, without libbpf. Counterpart of
// the loaders in tools/testing/selftests/bpf/test_verifier.c (do_test_single),
// written from the bpf(2) man page and include/uapi/linux/bpf.h.
//
// Input (stdin, line based, any number of cases):
//   case NAME                 starts a case (NAME: rest of the line)
//   prog_type N               default 6 (BPF_PROG_TYPE_XDP)
//   log_level N               default 1
//   log_size N                default 16 MiB
//   ifindex N                 prog_ifindex (offload target), default 0
//   flags N                   prog_flags, default 0
//   map TYPE KEY VALUE MAX FLAGS   creates a map; ld_imm64 with src 1 or 2 refer to it by index
//   insns HEX                 the program, 16 hex digits per insn (may be repeated, appends)
//   data HEX                  packet for BPF_PROG_TEST_RUN after a successful load
//   go                        loads (and runs), prints one JSON line, frees everything
// Output per case:
//   {"name":..,"errno":N,"insn_cnt":N,"verified_insns":N,"load_ns":N,"retval":N|null,
//    "run_errno":N,"map_errno":N,"log_truncated":bool,"log":".."}
// When the log buffer overflows (ENOSPC) the program is loaded again without
// a log and that load's errno is reported, with log_truncated set.
#define _GNU_SOURCE
#include <errno.h>
#include <linux/bpf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MAX_CASE_MAPS 128

struct map_def {
	unsigned int type, key, value, max, flags;
};

struct rcase {
	char name[256];
	unsigned int prog_type, log_level, log_size, ifindex, flags;
	struct map_def maps[MAX_CASE_MAPS];
	int n_maps;
	struct bpf_insn *insns;
	size_t n_insns, cap_insns;
	unsigned char *data;
	size_t data_len;
};

static long sys_bpf(int cmd, union bpf_attr *attr)
{
	return syscall(__NR_bpf, cmd, attr, sizeof(*attr));
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

// Decodes hex pairs into out; returns bytes written or -1 on a malformed digit.
static long unhex(const char *s, unsigned char *out, size_t cap)
{
	size_t n = 0;
	while (*s == ' ')
		s++;
	while (s[0] && s[0] != '\n' && s[1] && s[1] != '\n') {
		int hi = hexval(s[0]), lo = hexval(s[1]);
		if (hi < 0 || lo < 0 || n >= cap)
			return -1;
		out[n++] = (unsigned char)(hi << 4 | lo);
		s += 2;
	}
	return (long)n;
}

static void reset_case(struct rcase *c)
{
	free(c->insns);
	free(c->data);
	memset(c, 0, sizeof(*c));
	c->prog_type = BPF_PROG_TYPE_XDP;
	c->log_level = 1;
	c->log_size = 16 << 20;
}

static void json_str(const char *s, size_t len)
{
	putchar('"');
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch == '\n')
			fputs("\\n", stdout);
		else if (ch == '\t')
			fputs("\\t", stdout);
		else if (ch < 0x20 || ch >= 0x7f)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

static int add_insns(struct rcase *c, const char *hex)
{
	size_t len = strcspn(hex, "\n");
	size_t n = len / 16;
	if (len % 16 != 0)
		return -1;
	if (c->n_insns + n > c->cap_insns) {
		size_t cap = c->cap_insns ? c->cap_insns : 64;
		while (cap < c->n_insns + n)
			cap *= 2;
		struct bpf_insn *p = realloc(c->insns, cap * sizeof(*p));
		if (!p)
			return -1;
		c->insns = p;
		c->cap_insns = cap;
	}
	if (unhex(hex, (unsigned char *)(c->insns + c->n_insns), n * 8) != (long)(n * 8))
		return -1;
	c->n_insns += n;
	return 0;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

// Creates the case's maps, patches map indexes into fds, loads, optionally runs.
static void run_case(struct rcase *c)
{
	int fds[MAX_CASE_MAPS];
	int map_errno = 0, prog_fd = -1, load_errno = 0, run_errno = 0, have_ret = 0, log_truncated = 0;
	unsigned int verified = 0;
	uint32_t retval = 0;
	uint64_t load_ns = 0;
	char *log = calloc(1, c->log_size ? c->log_size : 1);
	union bpf_attr attr;

	for (int i = 0; i < c->n_maps; i++) {
		memset(&attr, 0, sizeof(attr));
		attr.map_type = c->maps[i].type;
		attr.key_size = c->maps[i].key;
		attr.value_size = c->maps[i].value;
		attr.max_entries = c->maps[i].max;
		attr.map_flags = c->maps[i].flags;
		fds[i] = (int)sys_bpf(BPF_MAP_CREATE, &attr);
		if (fds[i] < 0 && !map_errno)
			map_errno = errno;
	}
	for (size_t i = 0; i + 1 < c->n_insns; i++) {
		struct bpf_insn *in = &c->insns[i];
		if (in->code != (BPF_LD | BPF_IMM | BPF_DW))
			continue;
		if ((in->src_reg == BPF_PSEUDO_MAP_FD || in->src_reg == BPF_PSEUDO_MAP_VALUE) &&
		    in->imm >= 0 && in->imm < c->n_maps && fds[in->imm] >= 0)
			in->imm = fds[in->imm];
		i++;
	}
	if (!map_errno) {
		memset(&attr, 0, sizeof(attr));
		attr.prog_type = c->prog_type;
		attr.insns = (uint64_t)(uintptr_t)c->insns;
		attr.insn_cnt = (uint32_t)c->n_insns;
		attr.license = (uint64_t)(uintptr_t)"GPL";
		attr.log_level = c->log_level;
		attr.log_size = c->log_level ? c->log_size : 0;
		attr.log_buf = c->log_level ? (uint64_t)(uintptr_t)log : 0;
		attr.prog_ifindex = c->ifindex;
		attr.prog_flags = c->flags;
		strncpy(attr.prog_name, "vxo_case", sizeof(attr.prog_name) - 1);
		uint64_t t0 = now_ns();
		prog_fd = (int)sys_bpf(BPF_PROG_LOAD, &attr);
		load_ns = now_ns() - t0;
		if (prog_fd < 0)
			load_errno = errno;
		// A log that overflowed turns the verdict into ENOSPC (the log keeps its
		// tail); the verifier's own errno comes from the same load without a log.
		if (prog_fd < 0 && load_errno == ENOSPC && c->log_level) {
			log_truncated = 1;
			attr.log_level = 0;
			attr.log_size = 0;
			attr.log_buf = 0;
			prog_fd = (int)sys_bpf(BPF_PROG_LOAD, &attr);
			load_errno = prog_fd < 0 ? errno : 0;
		}
	}
	if (prog_fd >= 0) {
		struct bpf_prog_info info;
		memset(&info, 0, sizeof(info));
		memset(&attr, 0, sizeof(attr));
		attr.info.bpf_fd = (uint32_t)prog_fd;
		attr.info.info_len = sizeof(info);
		attr.info.info = (uint64_t)(uintptr_t)&info;
		if (sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &attr) == 0)
			verified = info.verified_insns;
		if (c->data_len > 0) {
			memset(&attr, 0, sizeof(attr));
			attr.test.prog_fd = (uint32_t)prog_fd;
			attr.test.data_in = (uint64_t)(uintptr_t)c->data;
			attr.test.data_size_in = (uint32_t)c->data_len;
			attr.test.repeat = 1;
			if (sys_bpf(BPF_PROG_TEST_RUN, &attr) == 0) {
				retval = attr.test.retval;
				have_ret = 1;
			} else {
				run_errno = errno;
			}
		}
		close(prog_fd);
	}
	for (int i = 0; i < c->n_maps; i++)
		if (fds[i] >= 0)
			close(fds[i]);

	fputs("{\"name\":", stdout);
	json_str(c->name, strlen(c->name));
	printf(",\"errno\":%d,\"insn_cnt\":%zu,\"verified_insns\":%u,\"load_ns\":%llu,\"retval\":",
	       map_errno ? 0 : load_errno, c->n_insns, verified, (unsigned long long)load_ns);
	if (have_ret)
		printf("%u", retval);
	else
		fputs("null", stdout);
	printf(",\"run_errno\":%d,\"map_errno\":%d,\"log_truncated\":%s,\"log\":", run_errno, map_errno,
	       log_truncated ? "true" : "false");
	json_str(log, strnlen(log, c->log_size));
	fputs("}\n", stdout);
	fflush(stdout);
	free(log);
}

int main(void)
{
	struct rcase c;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	unsigned long lineno = 0;

	memset(&c, 0, sizeof(c));
	reset_case(&c);
	while ((n = getline(&line, &cap, stdin)) > 0) {
		lineno++;
		if (line[n - 1] == '\n')
			line[--n] = 0;
		if (n == 0 || line[0] == '#')
			continue;
		char *arg = strchr(line, ' ');
		arg = arg ? arg + 1 : line + n;
		int bad = 0;
		if (!strncmp(line, "case ", 5)) {
			reset_case(&c);
			snprintf(c.name, sizeof(c.name), "%s", arg);
		} else if (!strncmp(line, "prog_type ", 10)) {
			c.prog_type = (unsigned int)strtoul(arg, NULL, 0);
		} else if (!strncmp(line, "log_level ", 10)) {
			c.log_level = (unsigned int)strtoul(arg, NULL, 0);
		} else if (!strncmp(line, "log_size ", 9)) {
			c.log_size = (unsigned int)strtoul(arg, NULL, 0);
		} else if (!strncmp(line, "ifindex ", 8)) {
			c.ifindex = (unsigned int)strtoul(arg, NULL, 0);
		} else if (!strncmp(line, "flags ", 6)) {
			c.flags = (unsigned int)strtoul(arg, NULL, 0);
		} else if (!strncmp(line, "map ", 4)) {
			struct map_def *m = &c.maps[c.n_maps];
			bad = c.n_maps >= MAX_CASE_MAPS ||
			      sscanf(arg, "%u %u %u %u %u", &m->type, &m->key, &m->value, &m->max, &m->flags) != 5;
			if (!bad)
				c.n_maps++;
		} else if (!strncmp(line, "insns ", 6)) {
			bad = add_insns(&c, arg) != 0;
		} else if (!strncmp(line, "data ", 5)) {
			free(c.data);
			c.data = malloc((size_t)n / 2 + 1);
			long got = c.data ? unhex(arg, c.data, (size_t)n / 2 + 1) : -1;
			bad = got < 0;
			c.data_len = got < 0 ? 0 : (size_t)got;
		} else if (!strcmp(line, "go")) {
			run_case(&c);
			reset_case(&c);
		} else {
			bad = 1;
		}
		if (bad) {
			fprintf(stderr, "bpf_load_raw: line %lu: cannot parse '%.60s'\n", lineno, line);
			return 2;
		}
	}
	free(line);
	reset_case(&c);
	return 0;
}
