// The guest's `bpftool map ...` beside the real bpftool 7.x on the real map of
// the same object (hash, key __u32, value __u32, 2 entries, with the object's
// BTF: the real one pinned by `bpftool prog load ... pinmaps`, so both print
// BTF-formatted entries): the same command lines
// give the same exit status, stdout and stderr, plain and -j, for misses
// (lookup, delete, getnext), a full map, flag refusals and bad arguments.
// The guest map is checked twice: local (xdpdrv, answered by the guest
// kernel) and offloaded (xdpoffload, answered by the host through the
// device), which must not change a byte of the answers.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execa } from "execa";
import { rmSync } from "node:fs";
import { Procs, compileBpf, type VxoProc } from "../helpers/procs.ts";
import { REPO_ROOT } from "../helpers/repo.ts";
import { kernelOracleUnavailable } from "../helpers/kernel_oracle.ts";
import { guestExecRemote } from "../../cli/guest_cmd.ts";
import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

const procs = new Procs();
let host: VxoProc, qemu: VxoProc, guest: VxoProc;
let obj = "";
const exec = (...argv: string[]) => guestExecRemote(guest.url, argv);

const unavailable = kernelOracleUnavailable(REPO_ROOT);
if (unavailable !== null) console.warn(`\n*** REAL bpftool COMPARISONS SKIPPED: ${unavailable} ***\n`);

/** An XDP program with one hash map "h": key 4, value 4, 2 entries. */
const SRC = `#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
struct {
\t__uint(type, BPF_MAP_TYPE_HASH);
\t__uint(max_entries, 2);
\t__type(key, __u32);
\t__type(value, __u32);
} h SEC(".maps");
SEC("xdp")
int prog(struct xdp_md *ctx)
{
\t__u32 k = 0;
\treturn bpf_map_lookup_elem(&h, &k) ? XDP_DROP : XDP_PASS;
}
char _license[] SEC("license") = "GPL";
`;

beforeAll(async () => {
  host = await procs.host();
  qemu = await procs.qemu(host.url, "vm1");
  guest = await procs.guest(qemu.url, "vm1");
  obj = await compileBpf(mkdtempSync(path.join(tmpdir(), "vxo-bpftool-")), "hmap", SRC);
});
afterAll(() => procs.stopAll());

type Out = { status: number; stdout: string; stderr: string };
/** A command line with MAP where the map handle goes. */
type Line = string[];

/**
 * The command lines, run in this order on an empty map on both sides. Hash
 * iteration order is the kernel's own (random seed), so lines that depend on
 * it run while the map holds at most one element.
 */
const LINES: Array<{ line: Line; usage?: boolean }> = [
  { line: ["map", "lookup", "MAP", "key", "1", "0", "0", "0"] },
  { line: ["-j", "map", "lookup", "MAP", "key", "1", "0", "0", "0"] },
  { line: ["map", "delete", "MAP", "key", "1", "0", "0", "0"] },
  { line: ["-j", "map", "delete", "MAP", "key", "1", "0", "0", "0"] },
  { line: ["map", "getnext", "MAP", "key", "1", "0", "0", "0"] },
  { line: ["map", "getnext", "MAP"] },
  { line: ["-j", "map", "getnext", "MAP"] },
  { line: ["map", "dump", "MAP"] },
  { line: ["map", "update", "MAP", "key", "1", "0", "0", "0", "value", "7", "0", "0", "0"] },
  { line: ["map", "lookup", "MAP", "key", "1", "0", "0", "0"] },
  { line: ["-j", "map", "lookup", "MAP", "key", "1", "0", "0", "0"] },
  { line: ["map", "lookup", "MAP", "key", "0x1", "0", "0", "0"] },
  { line: ["map", "lookup", "MAP", "key", "hex", "01", "00", "00", "00"] },
  { line: ["map", "lookup", "MAP", "key", "01", "010", "0", "0"] }, // octal: 01 08 00 00
  { line: ["map", "lookup", "MAP", "key", "257", "0", "0", "0"] }, // cast to a byte: 01 00 00 00
  { line: ["map", "look", "MAP", "k", "1", "0", "0", "0"] }, // prefixes
  { line: ["map", "lookup", "MAP", "key", "1", "0", "0", "0", "-j"] }, // options anywhere
  { line: ["map", "lookup", "MAP", "key", "--", "-1", "0", "0", "0"] },
  { line: ["map", "getnext", "MAP"] },
  { line: ["-j", "map", "getnext", "MAP", "key", "1", "0", "0", "0"] },
  { line: ["map", "dump", "MAP"] },
  { line: ["-j", "map", "dump", "MAP"] },
  { line: ["map", "update", "MAP", "key", "1", "0", "0", "0", "value", "1", "0", "0", "0", "noexist"] },
  { line: ["map", "update", "MAP", "key", "5", "0", "0", "0", "value", "1", "0", "0", "0", "exist"] },
  { line: ["-j", "map", "update", "MAP", "key", "2", "0", "0", "0", "value", "2", "0", "0", "0"] },
  { line: ["map", "update", "MAP", "key", "3", "0", "0", "0", "value", "3", "0", "0", "0"] }, // full: E2BIG
  { line: ["-j", "map", "update", "MAP", "key", "3", "0", "0", "0", "value", "3", "0", "0", "0", "any"] },
  // Bad arguments: bpftool's own refusals, status 255.
  { line: ["map", "lookup", "MAP", "key", "1", "0", "0"] },
  { line: ["-j", "map", "lookup", "MAP", "key", "1", "0", "0"] },
  { line: ["map", "lookup", "MAP", "key", "1", "0", "0", "0", "0"] },
  { line: ["map", "lookup", "MAP", "key", "1", "0", "0", "x"] },
  { line: ["map", "lookup", "MAP", "key", "hex", "01", "00", "00", "zz"] },
  { line: ["map", "lookup", "MAP"] },
  { line: ["map", "lookup", "MAP", "foo", "1"] },
  { line: ["map", "lookup", "MAP", "key", "1", "0", "0", "0", "key", "1", "0", "0", "0"] },
  { line: ["map", "lookup", "MAP", "key", "1", "0", "0", "0", "value", "1", "0", "0", "0"] },
  { line: ["map", "update", "MAP", "key", "1", "0", "0", "0"] },
  { line: ["map", "update", "MAP", "key", "1", "0", "0", "0", "value", "1", "0", "0"] },
  { line: ["map", "update", "MAP", "key", "1", "0", "0", "0", "value", "1", "0", "0", "0", "any", "exist"] },
  { line: ["map", "delete", "MAP"] },
  { line: ["map", "show", "id", "abc"] },
  { line: ["map", "lookup", "id", "4000000000", "key", "1", "0", "0", "0"] },
  { line: ["-j", "map", "show", "id", "4000000000"] },
  { line: ["map", "lookup", "name", "vxotest_nosuch", "key", "1", "0", "0", "0"] },
  { line: ["-j", "map", "show", "name", "vxotest_nosuch"] },
  { line: ["map", "lookup", "bogus", "3", "key", "1", "0", "0", "0"] },
  { line: ["map", "show", "extra"] },
  { line: ["map", "lookup", "MAP", "key", "-1", "0", "0", "0"], usage: true },
  { line: ["map", "frob"], usage: true },
  { line: ["-j", "map", "frob"] },
  { line: ["map", "lookup"], usage: true },
  { line: ["map", "dump", "MAP", "extra"], usage: true },
  { line: ["frob"], usage: true },
  { line: ["-x", "map", "show"], usage: true },
  { line: ["map", "help"], usage: true },
  { line: ["-j", "map", "help"] },
  // Back to one element, then the last key has no next one.
  { line: ["map", "delete", "MAP", "key", "2", "0", "0", "0"] },
  { line: ["-j", "map", "delete", "MAP", "key", "2", "0", "0", "0"] },
  { line: ["map", "getnext", "MAP", "key", "1", "0", "0", "0"] },
  { line: ["map", "delete", "MAP", "key", "1", "0", "0", "0"] },
  { line: ["map", "dump", "MAP"] },
];

describe.skipIf(unavailable !== null)("bpftool map: the guest's answers are the real bpftool's", () => {
  for (const mode of ["xdpdrv", "xdpoffload"] as const) {
    it(`on a ${mode === "xdpdrv" ? "local guest map" : "map offloaded to the host"}: status, stdout and stderr of every line`, async () => {
      const dir = `/sys/fs/bpf/vxotest_${process.pid}_${mode}`;
      const pin = `${dir}/h`;
      mkdirSync(dir);
      await execa("bpftool", ["prog", "load", obj, `${dir}/prog`, "type", "xdp", "pinmaps", dir]);
      try {
        expect((await exec("ip", "link", "set", "dev", "eth0", mode, "obj", obj, "sec", "xdp")).status).toBe(0);
        const maps = JSON.parse((await exec("bpftool", "-j", "map", "show")).stdout) as Array<{ id: number; name: string; dev?: unknown }>;
        const m = maps.find((x) => x.name === "h" && (mode === "xdpoffload") === (x.dev !== undefined))!;
        for (const { line, usage } of LINES) {
          const sub = (h: string[]) => line.flatMap((w) => (w === "MAP" ? h : [w]));
          const g: Out = await exec("bpftool", ...sub(["id", String(m.id)]));
          const r0 = await execa("bpftool", sub(["pinned", pin]), { reject: false, stripFinalNewline: false });
          const r: Out = { status: r0.exitCode ?? -1, stdout: String(r0.stdout), stderr: String(r0.stderr) };
          const what = line.join(" ");
          if (usage) {
            // The guest's usage text lists only the commands it has: compare status, stdout and the first line.
            expect([g.status, g.stdout, g.stderr.split("\n")[0]], what).toEqual([r.status, r.stdout, r.stderr.split("\n")[0]]);
            expect(g.stderr, what).toMatch(/^(Error: .*\n)?Usage: bpftool /);
          } else {
            expect(g, what).toEqual(r);
          }
        }
      } finally {
        rmSync(dir, { force: true, recursive: true });
        await exec("ip", "link", "set", "dev", "eth0", mode, "off");
      }
    });
  }
});

describe("bpftool map exit statuses in the guest (what the comparison above checks against bpftool 7.x)", () => {
  it("a lookup miss prints Not found and exits with -ENOENT (254); kernel refusals exit (-errno) & 0xff; usage errors 255", async () => {
    expect((await exec("ip", "link", "set", "dev", "eth0", "xdpdrv", "obj", obj, "sec", "xdp")).status).toBe(0);
    try {
      const id = String((JSON.parse((await exec("bpftool", "-j", "map", "show", "name", "h")).stdout) as { id: number }).id);
      const miss = await exec("bpftool", "map", "lookup", "id", id, "key", "9", "0", "0", "0");
      expect(miss).toEqual({ status: 254, stdout: "key:\n09 00 00 00\n\nNot found\n", stderr: "" });
      const del = await exec("bpftool", "map", "delete", "id", id, "key", "9", "0", "0", "0");
      expect(del).toEqual({ status: 254, stdout: "", stderr: "Error: delete failed: No such file or directory\n" });
      for (const k of ["1", "2"]) expect((await exec("bpftool", "map", "update", "id", id, "key", k, "0", "0", "0", "value", "0", "0", "0", "0")).status).toBe(0);
      const full = await exec("bpftool", "-j", "map", "update", "id", id, "key", "3", "0", "0", "0", "value", "0", "0", "0", "0");
      expect(full).toEqual({ status: 256 - 7, stdout: '{"error":"update failed: Argument list too long"}\n', stderr: "" });
      const bad = await exec("bpftool", "map", "lookup", "id", id, "key", "1");
      expect(bad).toEqual({ status: 255, stdout: "", stderr: "Error: key expected 4 bytes got 1\n" });
    } finally {
      await exec("ip", "link", "set", "dev", "eth0", "xdpdrv", "off");
    }
  });
});
