// End to end through three real processes (host, qemu shim, guest): map
// offload before program offload, guest tools answered by the host, the
// setup() allowlist, refused map types and XDP_REDIRECT, the verifier log
// reaching the guest user, XDP_FLAGS_UPDATE_IF_NOEXIST / replace semantics,
// `xdpoffload off` freeing every host object.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Procs, compileBpf, xdpSource, type VxoProc } from "../helpers/procs.ts";
import { PROGRAMS_DIR } from "../helpers/repo.ts";
import { guestExecRemote } from "../../cli/guest_cmd.ts";
import { fetchHostShow } from "../../cli/host_cmd.ts";

const P = (n: string) => path.join(PROGRAMS_DIR, `${n}.o`);
const procs = new Procs();
let host: VxoProc, qemu: VxoProc, guest: VxoProc;
let tmp: string;
const exec = (...argv: string[]) => guestExecRemote(guest.url, argv);
const vmObjects = async () => {
  const s = await fetchHostShow(host.url);
  return { maps: s.maps.filter((m) => m.owner === "vm1"), progs: s.progs.filter((p) => p.owner === "vm1"), taps: s.taps };
};

beforeAll(async () => {
  tmp = mkdtempSync(path.join(tmpdir(), "vxo-offload-"));
  host = await procs.host();
  qemu = await procs.qemu(host.url, "vm1");
  guest = await procs.guest(qemu.url, "vm1");
});
afterAll(() => procs.stopAll());

describe("xdpoffload through guest, shim and host", () => {
  it("ip link set xdpoffload creates the map on the host first, then loads and attaches the program", async () => {
    const r = await exec("ip", "link", "set", "dev", "eth0", "xdpoffload", "obj", P("xdp1"), "sec", "xdp");
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const o = await vmObjects();
    expect(o.maps).toHaveLength(1);
    expect(o.maps[0]).toMatchObject({ type: "array", name: "rxcnt", owner: "vm1", dev: "tap0", keySize: 4, valueSize: 8, maxEntries: 256 });
    expect(o.maps[0]!.bytes).toBeGreaterThan(2048);
    expect(o.progs).toHaveLength(1);
    expect(o.progs[0]).toMatchObject({ name: "xdp_prog1", attached: true, mapIds: [o.maps[0]!.id] });
    expect(o.taps.find((t) => t.guest === "vm1")!.xdpoffload).toMatchObject({ name: "xdp_prog1" });
  });

  it("ip link show prints xdpoffload and the guest's program id, iproute2 style", async () => {
    const r = await exec("ip", "link", "show", "dev", "eth0");
    expect(r.status).toBe(0);
    const lines = r.stdout.split("\n");
    expect(lines[0]).toMatch(/^2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 xdpoffload qdisc /);
    // bpf_dump_prog_info() ends each field with a space, the last one too.
    expect(lines[2]).toMatch(/^ {4}prog\/xdp id \d+ name xdp_prog1 tag [0-9a-f]{16} $/);
    const j = JSON.parse((await exec("ip", "-j", "link", "show", "dev", "eth0")).stdout) as Array<{ xdp: { mode: number; prog: { name: string }; attached: unknown[] } }>;
    expect(j[0]!.xdp.mode).toBe(3); // XDP_ATTACHED_HW
    expect(j[0]!.xdp.prog.name).toBe("xdp_prog1");
    expect(j[0]!.xdp.attached).toEqual([{ mode: 3, prog: j[0]!.xdp.prog }]);
  });

  it("bpftool map update/lookup/getnext/dump/delete on an offloaded map are answered by the host", async () => {
    const id = JSON.parse((await exec("bpftool", "-j", "map", "show")).stdout)[0].id as number;
    const show = (await exec("bpftool", "map", "show", "id", String(id))).stdout;
    expect(show).toContain("offloaded_to eth0");
    expect((await exec("bpftool", "map", "update", "id", String(id), "key", "1", "0", "0", "0", "value", "7", "0", "0", "0", "0", "0", "0", "0")).status).toBe(0);
    const l = await exec("bpftool", "map", "lookup", "id", String(id), "key", "1", "0", "0", "0");
    // rxcnt has BTF (__u32 key, __u64 value): bpftool's text view of a BTF map
    expect(l.stdout).toBe('{\n    "key": 1,\n    "value": 7\n}\n');
    const lj = JSON.parse((await exec("bpftool", "-j", "map", "lookup", "id", String(id), "key", "1", "0", "0", "0")).stdout);
    expect(lj.value[0]).toBe("0x07");
    expect(lj.formatted).toEqual({ key: 1, value: 7 });
    const g = await exec("bpftool", "map", "getnext", "id", String(id), "key", "1", "0", "0", "0");
    expect(g.stdout).toBe("key:\n01 00 00 00\nnext key:\n02 00 00 00\n");
    const end = await exec("bpftool", "map", "getnext", "id", String(id), "key", "255", "0", "0", "0");
    expect(end.stderr.trim()).toBe("Error: can't get next key: No such file or directory");
    const d = JSON.parse((await exec("bpftool", "-j", "map", "dump", "id", String(id))).stdout) as Array<{ formatted: { key: number } }>;
    expect(d.map((e) => e.formatted.key)).toEqual([...Array(256).keys()]);
    // Kernel errno through the device: array elements cannot be deleted (EINVAL), noexist on a present key (EEXIST).
    const del = await exec("bpftool", "map", "delete", "id", String(id), "key", "1", "0", "0", "0");
    expect(del.status).toBe(256 - 22); // bpftool 7.x returns -EINVAL
    expect(del.stderr.trim()).toBe("Error: delete failed: Invalid argument");
    const ne = await exec("bpftool", "map", "update", "id", String(id), "key", "1", "0", "0", "0", "value", "0", "0", "0", "0", "0", "0", "0", "0", "noexist");
    expect(ne.stderr.trim()).toBe("Error: update failed: File exists");
    const oob = await exec("bpftool", "map", "lookup", "id", String(id), "key", "0", "1", "0", "0");
    expect(oob.stdout).toBe("key:\n00 01 00 00\n\nNot found\n");
    expect(oob.status).toBe(256 - 2); // -ENOENT
  });

  it("bpftool prog show marks the program offloaded_to eth0 and dump xlated prints it", async () => {
    const r = await exec("bpftool", "prog", "show");
    expect(r.stdout).toMatch(/^\d+: xdp {2}name xdp_prog1 {2}tag [0-9a-f]{16} {2}offloaded_to eth0 {2}gpl$/m);
    const id = JSON.parse((await exec("bpftool", "-j", "prog", "show")).stdout)[0].id as number;
    const d = await exec("bpftool", "prog", "dump", "xlated", "id", String(id));
    expect(d.stdout).toMatch(/^ {3}0: \(/);
    expect(d.stdout).toMatch(/map\[id:\d+\]/);
  });

  it("a second attach without -force is refused with EBUSY as iproute2 shows it; -force replaces and frees the old objects", async () => {
    const before = await vmObjects();
    const r = await exec("ip", "link", "set", "dev", "eth0", "xdpoffload", "obj", P("xdp2"), "sec", "xdp");
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toBe("Error: XDP program already attached.");
    expect(await vmObjects()).toEqual(before); // nothing partially created
    const f = await exec("ip", "-force", "link", "set", "dev", "eth0", "xdpoffload", "obj", P("xdp2"), "sec", "xdp");
    expect(f.status).toBe(0);
    const after = await vmObjects();
    expect(after.progs.map((p) => p.name)).toEqual(["xdp_prog2"]);
    expect(after.maps).toHaveLength(1);
    expect(after.maps[0]!.id).not.toBe(before.maps[0]!.id);
  });

  it("`xdp off` only detaches the driver-mode program, as dev_xdp_mode() picks DRV for virtio_net", async () => {
    const r = await exec("ip", "link", "set", "dev", "eth0", "xdp", "off");
    expect(r.status).toBe(0);
    expect((await exec("ip", "link", "show", "dev", "eth0")).stdout).toContain(" xdpoffload ");
    expect((await vmObjects()).progs).toHaveLength(1);
  });

  it("xdpoffload off detaches and frees every host object of the guest", async () => {
    const r = await exec("ip", "link", "set", "dev", "eth0", "xdpoffload", "off");
    expect(r.status).toBe(0);
    const o = await vmObjects();
    expect(o.maps).toEqual([]);
    expect(o.progs).toEqual([]);
    expect((await exec("ip", "link", "show", "dev", "eth0")).stdout).not.toContain("xdpoffload");
    expect((await exec("bpftool", "-j", "prog", "show")).stdout.trim()).toBe("[]");
  });
});

describe("refusals before anything is created", () => {
  it("the setup() allowlist refuses bpf_fib_lookup, naming the helper (EOPNOTSUPP)", async () => {
    const r = await exec("ip", "link", "set", "dev", "eth0", "xdpoffload", "obj", P("xdp_fib"));
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/Error: .*helper bpf_fib_lookup#69 \(insn \d+\) is not allowed in an offloaded program \(EOPNOTSUPP\)\.$/m);
    expect(await vmObjects()).toMatchObject({ maps: [], progs: [] });
  });

  it("lru_hash and devmap maps are refused with a reason (EINVAL, as bpf_map_offload_map_alloc())", async () => {
    const h = await exec("ip", "link", "set", "dev", "eth0", "xdpoffload", "obj", P("xdp_hash"));
    expect(h.stderr.trim()).toBe("Error: Cannot offload map flows: lru_hash maps cannot be offloaded: only array, hash and prog_array maps can (EINVAL).");
    const d = await exec("ip", "link", "set", "dev", "eth0", "xdpoffload", "obj", P("xdp_redirect_map"));
    expect(d.stderr).toContain("devmap maps cannot be offloaded");
    expect(await vmObjects()).toMatchObject({ maps: [], progs: [] });
  });

  it("a per-CPU map is refused saying why per-CPU makes no sense across guest and host", async () => {
    const o = await compileBpf(tmp, "percpu", xdpSource("XDP_PASS", [
      { name: "ok", type: "BPF_MAP_TYPE_ARRAY", entries: 4, valueBytes: 8 },
      { name: "pc", type: "BPF_MAP_TYPE_PERCPU_ARRAY", entries: 4, valueBytes: 8 },
    ]));
    const r = await exec("ip", "link", "set", "dev", "eth0", "xdpoffload", "obj", o);
    expect(r.stderr).toContain("Cannot offload map pc: percpu_array maps cannot be offloaded: a per-CPU value of a guest CPU has no counterpart on the host (EINVAL)");
    expect(await vmObjects()).toMatchObject({ maps: [], progs: [] });
  });

  it("XDP_REDIRECT in an offloaded program is refused at load with the reason", async () => {
    const o = await compileBpf(tmp, "redir", xdpSource("XDP_REDIRECT"));
    const r = await exec("ip", "link", "set", "dev", "eth0", "xdpoffload", "obj", o);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/returns XDP_REDIRECT \(insn \d+\): a redirect from the host tap would send the frame back to the guest \(EOPNOTSUPP\)/);
    // The same program runs in the guest's own driver mode.
    expect((await exec("ip", "link", "set", "dev", "eth0", "xdpdrv", "obj", o)).status).toBe(0);
    expect((await exec("ip", "link", "set", "dev", "eth0", "xdpdrv", "off")).status).toBe(0);
  });

  it("the verifier log of a rejected program reaches the guest user and nothing stays on the host", async () => {
    const bytes = new Uint8Array(readFileSync(P("xdp_pass")));
    const at = Buffer.from(bytes).indexOf(Buffer.from([0xb7, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00]));
    expect(at).toBeGreaterThan(0);
    bytes[at] = 0x8f; // no such opcode
    const bad = path.join(tmp, "bad_opcode.o");
    writeFileSync(bad, bytes);
    const r = await exec("ip", "link", "set", "dev", "eth0", "xdpoffload", "obj", bad);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("-- BEGIN PROG LOAD LOG --");
    expect(r.stderr).toMatch(/-- BEGIN PROG LOAD LOG --\n.+\n(.+\n)*-- END PROG LOAD LOG --/);
    expect(r.stderr).toMatch(/\(EINVAL\)\.$/m);
    expect(await vmObjects()).toMatchObject({ maps: [], progs: [] });
  });

  it("the guest's first pass (the verifier) refuses xdp_bad_access and its log reaches the guest user", async () => {
    const r = await exec("ip", "link", "set", "dev", "eth0", "xdpoffload", "obj", P("xdp_bad_access"));
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("libbpf: prog 'xdp_bad_access': BPF program load failed: Permission denied");
    expect(r.stderr).toMatch(/-- BEGIN PROG LOAD LOG --\n(.+\n)*invalid access to packet, off=12 size=1.*\n(.+\n)*-- END PROG LOAD LOG --/);
    expect(r.stderr.trim().split("\n").at(-1)).toBe("Error: prog 'xdp_bad_access': BPF program load failed: Permission denied (EACCES).");
    expect(await vmObjects()).toMatchObject({ maps: [], progs: [] });
  });

  it("native and generic XDP cannot be active together (EEXIST wording of the kernel)", async () => {
    expect((await exec("ip", "link", "set", "dev", "eth0", "xdpgeneric", "obj", P("xdp_pass"))).status).toBe(0);
    const r = await exec("ip", "link", "set", "dev", "eth0", "xdpdrv", "obj", P("xdp_drop"));
    expect(r.stderr.trim()).toBe("Error: Native and generic XDP can't be active at the same time.");
    expect((await exec("ip", "link", "set", "dev", "eth0", "xdpgeneric", "off")).status).toBe(0);
  });
});

describe("the CLI front end", () => {
  it("vxo guest exec, vxo host show and vxo monitor find the processes by name", async () => {
    const e = await procs.cli(["guest", "exec", "vm1", "--", "ip", "link", "set", "dev", "eth0", "xdpoffload", "obj", P("xdp_drop")]);
    expect(e.exitCode).toBe(0);
    const s = await procs.cli(["host", "show"]);
    expect(s.stdout).toMatch(/^\d+: tap0: guest vm1 nic 0 xdpoffload prog\/xdp id \d+ name xdp_drop tag [0-9a-f]{16}$/m);
    const j = JSON.parse((await procs.cli(["host", "show", "--json"])).stdout);
    expect(j.progs[0].name).toBe("xdp_drop");
    const m = await procs.cli(["monitor", "vm1", "info", "offload"]);
    expect(m.stdout).toContain("xdp-offload negotiated  fd-remap shim");
    const off = await procs.cli(["guest", "exec", "vm1", "--", "ip", "link", "set", "dev", "eth0", "xdpoffload", "off"]);
    expect(off.exitCode).toBe(0);
  });
});
