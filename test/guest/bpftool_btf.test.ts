// BTF-formatted map entries: the guest's `bpftool map dump|lookup|show`
// beside the real bpftool 7.x on the same object. The object's maps have BTF
// key and value types covering what bpftool's btf_dumper prints differently
// (bitfields and a 128-bit int in hex, a char array holding a string, an
// enum value without a name, signed ints, a bool, a pointer, a u64 above
// 2^53, nested structs, a union, arrays), plus its .data/.rodata/.bss maps
// (DATASEC values, no key type). The real side is `bpftool prog load ...
// pinmaps`; the guest side loads it locally (xdpdrv) and offloads it
// (xdpoffload: the BTF goes to the host with the maps, the values come from
// the host). Both get the same element bytes; every line must print the same
// status, stdout and stderr (text view and -j "formatted"). `map show` must
// carry btf_id the same way (ids and memlock left out), and the host's maps
// of the offloaded object share one BTF object. With a prog array the offload
// sends every program of the object: each keeps the object's BTF on both sides
// (one BTF object per side), and which maps have a btf_id is the kernel's answer.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execa } from "execa";
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Procs, compileBpf, type VxoProc } from "../helpers/procs.ts";
import { REPO_ROOT } from "../helpers/repo.ts";
import { kernelOracleUnavailable } from "../helpers/kernel_oracle.ts";
import { guestExecRemote } from "../../cli/guest_cmd.ts";
import { fetchHostShow } from "../../cli/host_cmd.ts";
import { readFileSync } from "node:fs";
import { VirtioNetDriver } from "../../guest/virtio_net.ts";
import { VIRTIO_NET_CTRL_BPF_MAP_CREATE, VIRTIO_NET_CTRL_BPF_PROG_LOAD } from "../../shared/virtio/virtio_net.ts";
import { openObject } from "../../shared/bpf/libbpf/object.ts";
import { BPF_LINE_INFO_REC_SIZE, encodeLineInfo } from "../../shared/bpf/libbpf/libbpf.ts";
import { EACCES, EINVAL } from "../../shared/errno.ts";
import { PROGRAMS_DIR } from "../helpers/repo.ts";

const procs = new Procs();
let host: VxoProc, qemu: VxoProc, guest: VxoProc;
let obj = "";
const exec = (...argv: string[]) => guestExecRemote(guest.url, argv);

const unavailable = kernelOracleUnavailable(REPO_ROOT);
if (unavailable !== null) console.warn(`\n*** REAL bpftool BTF DUMP COMPARISONS SKIPPED: ${unavailable} ***\n`);

const SRC = `#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
enum color { RED, GREEN = 5, BLUE = -1 };
struct inner { __u16 a; __s8 b; char c; };
union un { __u32 x; __u8 y[4]; };
struct flow {
\t__u32 proto : 4, flags : 12, rest : 16;
\t__be16 port;
\t__u8 pad[2];
};
struct stats {
\t__u64 packets;
\t__s32 delta;
\tenum color col;
\tchar name[8];
\tstruct inner in;
\tunion un u;
\t_Bool ok;
\t__u8 arr[3];
\t__s16 neg;
\tvoid *ptr;
\t__u64 big;
\tunsigned __int128 wide;
};
struct {
\t__uint(type, BPF_MAP_TYPE_HASH);
\t__uint(max_entries, 4);
\t__type(key, struct flow);
\t__type(value, struct stats);
} flows SEC(".maps");
struct {
\t__uint(type, BPF_MAP_TYPE_ARRAY);
\t__uint(max_entries, 2);
\t__type(key, __u32);
\t__type(value, struct inner);
} small SEC(".maps");
const volatile __u32 cfg_limit = 60;
const volatile char cfg_tag[6] = "vxo";
__u32 last_len = 7;
__s64 seen;
SEC("xdp")
int prog(struct xdp_md *ctx)
{
\tstruct flow f = {};
\t__u32 k = 0;
\tstruct stats *s = bpf_map_lookup_elem(&flows, &f);
\tstruct inner *i = bpf_map_lookup_elem(&small, &k);
\tif (s)
\t\ts->packets++;
\tif (i)
\t\ti->a++;
\tlast_len = ctx->data_end - ctx->data;
\tseen++;
\treturn last_len > cfg_limit + cfg_tag[0] ? XDP_PASS : XDP_DROP;
}
char _license[] SEC("license") = "GPL";
`;

/** struct stats bytes (80): every field a value bpftool prints in its own way. */
function statsBytes(): string[] {
  const b = new Uint8Array(80);
  const dv = new DataView(b.buffer);
  dv.setBigUint64(0, 12345678901234n, true);
  dv.setInt32(8, -42, true);
  dv.setInt32(12, 7, true); // no enumerator has 7
  b.set([0x61, 0x62, 0x63], 16); // "abc"
  dv.setUint16(24, 513, true);
  dv.setInt8(26, -3);
  b[27] = 0x78;
  b.set([1, 2, 3, 4], 28);
  b[32] = 1;
  b.set([9, 8, 7], 33);
  dv.setInt16(36, -2, true);
  dv.setBigUint64(40, 0x1234n, true);
  dv.setBigUint64(48, 0xffffffffffffff01n, true);
  dv.setBigUint64(64, 5n, true);
  dv.setBigUint64(72, 1n << 36n, true); // bit 100 of the __int128
  return [...b].map(String);
}

const FLOW_KEY = ["0x35", "0x12", "0x34", "0x56", "0", "80", "1", "2"];

type Out = { status: number; stdout: string; stderr: string };

async function real(argv: string[]): Promise<Out> {
  const r = await execa("bpftool", argv, { reject: false, stripFinalNewline: false });
  return { status: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

/** `map show` without what differs between two kernels: ids, memlock, the guest's offloaded_to. */
function showShape(s: string): string {
  return s.replace(/^\d+: /gm, "ID: ").replace(/memlock \d+B/g, "memlock NB").replace(/btf_id \d+/g, "btf_id N").replace(/ {2}offloaded_to \S+/g, "");
}

beforeAll(async () => {
  if (unavailable !== null) return;
  host = await procs.host();
  qemu = await procs.qemu(host.url, "vmbtf");
  guest = await procs.guest(qemu.url, "vmbtf");
  obj = await compileBpf(mkdtempSync(path.join(tmpdir(), "vxo-btf-")), "hbtf", SRC);
});
afterAll(() => procs.stopAll());

describe.skipIf(unavailable !== null)("bpftool map dump/lookup/show of BTF maps: the guest's answers are the real bpftool's", () => {
  for (const mode of ["xdpdrv", "xdpoffload"] as const) {
    it(`${mode === "xdpdrv" ? "local guest maps" : "maps offloaded to the host"}: text view, -j "formatted" and btf_id`, async () => {
      const dir = `/sys/fs/bpf/vxobtf_${process.pid}_${mode}`;
      mkdirSync(dir);
      try {
        await execa("bpftool", ["prog", "load", obj, `${dir}/prog`, "type", "xdp", "pinmaps", dir]);
        expect((await exec("ip", "link", "set", "dev", "eth0", mode, "obj", obj, "sec", "xdp")).status).toBe(0);
        const maps = JSON.parse((await exec("bpftool", "-j", "map", "show")).stdout) as Array<{ id: number; name: string; btf_id?: number }>;
        // libbpf pins a map under its name with '.' made '_'
        const pins = readdirSync(dir).filter((f) => f !== "prog").sort();
        expect(maps.map((m) => m.name.replace(/\./g, "_")).sort()).toEqual(pins);
        expect(new Set(maps.map((m) => m.btf_id)).size, "one BTF object for the object's maps").toBe(1);
        const sets: string[][] = [
          ["map", "update", "MAP:flows", "key", ...FLOW_KEY, "value", ...statsBytes()],
          ["map", "update", "MAP:small", "key", "1", "0", "0", "0", "value", "1", "2", "0x80", "7"],
        ];
        const lines: string[][] = [
          ["map", "lookup", "MAP:flows", "key", ...FLOW_KEY],
          ["-j", "map", "lookup", "MAP:flows", "key", ...FLOW_KEY],
          ["map", "lookup", "MAP:flows", "key", "0", "0", "0", "0", "0", "0", "0", "0"],
          ["-j", "map", "lookup", "MAP:small", "key", "1", "0", "0", "0"],
          ["map", "lookup", "MAP:small", "key", "0", "0", "0", "0"],
          ["map", "getnext", "MAP:small"],
        ];
        for (const m of maps) lines.push(["map", "dump", `MAP:${m.name}`], ["-j", "map", "dump", `MAP:${m.name}`]);
        const sub = (line: string[], guestSide: boolean) => line.flatMap((w) => {
          if (!w.startsWith("MAP:")) return [w];
          const name = w.slice(4);
          return guestSide ? ["id", String(maps.find((m) => m.name === name)!.id)] : ["pinned", `${dir}/${name.replace(/\./g, "_")}`];
        });
        for (const line of [...sets, ...lines]) {
          const g = await exec("bpftool", ...sub(line, true));
          const r = await real(sub(line, false));
          expect(g, line.join(" ")).toEqual(r);
        }
        for (const m of maps) {
          const g = await exec("bpftool", "map", "show", "id", String(m.id));
          const r = await real(["map", "show", "pinned", `${dir}/${m.name.replace(/\./g, "_")}`]);
          expect(showShape(g.stdout), `map show ${m.name}`).toBe(showShape(r.stdout));
          expect(g.stdout, `map show ${m.name}`).toMatch(/\n\tbtf_id \d+( {2}frozen)?\n$/);
        }
        const progs = JSON.parse((await exec("bpftool", "-j", "prog", "show")).stdout) as Array<{ btf_id?: number }>;
        expect(progs.map((p) => p.btf_id), "the program keeps the object's BTF").toEqual([maps[0]!.btf_id]);
        if (mode === "xdpoffload") {
          const s = await fetchHostShow(host.url);
          const mine = s.maps.filter((m) => m.owner === "vmbtf");
          expect(mine.map((m) => m.name).sort()).toEqual(maps.map((m) => m.name).sort());
          const ids = new Set(mine.map((m) => m.btfId));
          expect(ids.size, "the host loaded the guest's BTF once").toBe(1);
          expect([...ids][0]).toBeGreaterThan(0);
          expect(s.progs.filter((p) => p.owner === "vmbtf").map((p) => p.btfId)).toEqual([...ids]);
        }
      } finally {
        rmSync(dir, { force: true, recursive: true });
        await exec("ip", "link", "set", "dev", "eth0", mode, "off");
      }
    });
  }
});

describe.skipIf(unavailable !== null)("BTF through the control queue: the host checks it and verifies with the line info", () => {
  it("a program the host rejects comes back with the kernel's level-1 log, source lines included; bad BTF is EINVAL", async () => {
    const q = await procs.qemu(host.url, "vmbtfdrv");
    const drv = await VirtioNetDriver.probe(q.url, "vmbtfdrv");
    try {
      const file = path.join(PROGRAMS_DIR, "xdp_bad_access.o");
      const spec = openObject(readFileSync(file), { file });
      const ps = spec.progs[0]!;
      const btf = spec.btf!.rawData();
      const lines = { btf, lineInfo: encodeLineInfo(ps.lineInfo), lineInfoRecSize: BPF_LINE_INFO_REC_SIZE, lineInfoCnt: ps.lineInfo.length };
      const r = await drv.bpfCmd(VIRTIO_NET_CTRL_BPF_PROG_LOAD, { name: ps.name, license: spec.license, insns: ps.insns.toBytes(), ...lines });
      expect(r.ok).toBe(false);
      if (r.ok) return;
      expect(r.errno).toBe(EACCES);
      // the kernel's log of the same object (libbpf's level-1 retry)
      const pin = `/sys/fs/bpf/vxobtf_bad_${process.pid}`;
      const k = await execa("bpftool", ["prog", "loadall", file, pin, "type", "xdp"], { reject: false });
      rmSync(pin, { force: true, recursive: true });
      const klog = /-- BEGIN PROG LOAD LOG --\n([\s\S]*?)-- END PROG LOAD LOG --/.exec(k.stderr)![1]!.trimEnd().split("\n");
      expect(klog.some((l) => l.startsWith("; "))).toBe(true);
      expect(r.log).toEqual(klog);
      // malformed line info and BTF: the host's BPF_PROG_LOAD / BPF_BTF_LOAD refuse them
      const bad = await drv.bpfCmd(VIRTIO_NET_CTRL_BPF_PROG_LOAD, { name: ps.name, license: spec.license, insns: ps.insns.toBytes(), ...lines, lineInfoRecSize: 12 });
      expect(bad).toMatchObject({ ok: false, errno: EINVAL });
      const u32 = spec.btf!.findByName("__u32");
      const m = { mapType: 2, keySize: 4, valueSize: 8, maxEntries: 4, mapFlags: 0, name: "m" };
      expect(await drv.bpfCmd(VIRTIO_NET_CTRL_BPF_MAP_CREATE, { ...m, btf, btfKeyTypeId: u32, btfValueTypeId: u32 })).toMatchObject({ ok: false, errno: EINVAL });
      expect(await drv.bpfCmd(VIRTIO_NET_CTRL_BPF_MAP_CREATE, { ...m, btf: new Uint8Array(30), btfKeyTypeId: 1, btfValueTypeId: 1 })).toMatchObject({ ok: false, errno: EINVAL });
    } finally {
      drv.ch.close();
    }
  });
});

describe.skipIf(unavailable !== null)("BTF with a tail-call offload: every program of the object carries it", () => {
  it("xdp_tail_call offloaded: each program keeps the object's BTF in the guest and on the host, one BTF object per side, btf_id as the kernel shows it", async () => {
    const file = path.join(PROGRAMS_DIR, "xdp_tail_call.o");
    const dir = `/sys/fs/bpf/vxobtf_tail_${process.pid}`;
    mkdirSync(dir);
    try {
      // the kernel's view of the same object: every program and every map, pinned by libbpf
      await execa("bpftool", ["prog", "loadall", file, `${dir}/p`, "type", "xdp", "pinmaps", `${dir}/m`]);
      const kprogs = readdirSync(`${dir}/p`).sort();
      const kshow = await Promise.all(kprogs.map(async (p) => JSON.parse((await real(["-j", "prog", "show", "pinned", `${dir}/p/${p}`])).stdout) as { name: string; btf_id?: number }));
      const kmaps = await Promise.all(readdirSync(`${dir}/m`).sort().map(async (m) => JSON.parse((await real(["-j", "map", "show", "pinned", `${dir}/m/${m}`])).stdout) as { name: string; btf_id?: number }));
      expect(new Set(kshow.map((p) => p.btf_id)).size, "the kernel's programs share one BTF").toBe(1);
      expect(kshow[0]!.btf_id).toBeGreaterThan(0);

      expect((await exec("ip", "link", "set", "dev", "eth0", "xdpoffload", "obj", file, "sec", "xdp")).status).toBe(0);
      const gprogs = JSON.parse((await exec("bpftool", "-j", "prog", "show")).stdout) as Array<{ name: string; btf_id?: number }>;
      const gmaps = JSON.parse((await exec("bpftool", "-j", "map", "show")).stdout) as Array<{ name: string; btf_id?: number }>;
      expect(gprogs.map((p) => p.name).sort()).toEqual(kshow.map((p) => p.name).sort());
      expect(gprogs.length).toBeGreaterThan(1);
      expect(new Set(gprogs.map((p) => p.btf_id)).size, "the guest's programs share one BTF").toBe(1);
      expect(gprogs[0]!.btf_id).toBeGreaterThan(0);
      // which maps have BTF (a prog array without key/value types has none) is the kernel's answer
      const hasBtf = (ms: Array<{ name: string; btf_id?: number }>) => ms.map((m) => `${m.name}:${m.btf_id !== undefined}`).sort();
      expect(hasBtf(gmaps)).toEqual(hasBtf(kmaps));
      for (const m of gmaps) if (m.btf_id !== undefined) expect(m.btf_id).toBe(gprogs[0]!.btf_id);

      const s = await fetchHostShow(host.url);
      const hprogs = s.progs.filter((p) => p.owner === "vmbtf");
      expect(hprogs.map((p) => p.name).sort()).toEqual(gprogs.map((p) => p.name).sort());
      const ids = new Set([...hprogs.map((p) => p.btfId), ...s.maps.filter((m) => m.owner === "vmbtf" && m.btfId !== undefined).map((m) => m.btfId)]);
      expect([...ids].length, "the host loaded the guest's BTF once for all the programs and maps").toBe(1);
      expect([...ids][0]).toBeGreaterThan(0);
    } finally {
      rmSync(dir, { force: true, recursive: true });
      await exec("ip", "link", "set", "dev", "eth0", "xdpoffload", "off");
    }
  });
});
