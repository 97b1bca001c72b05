// Two guests on one host: fd remapping in the shim (default) and in the guest
// (RFC behaviour), forged handles answered with EBADF, no way to reach
// another guest's maps or programs, the host's second pass (device binding,
// helpers, XDP_REDIRECT) against a hostile device model.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import path from "node:path";
import { Procs, waitFor, type VxoProc } from "../helpers/procs.ts";
import { PROGRAMS_DIR } from "../helpers/repo.ts";
import { guestExecRemote } from "../../cli/guest_cmd.ts";
import { fetchHostShow } from "../../cli/host_cmd.ts";
import { VirtioNetDriver } from "../../guest/virtio_net.ts";
import { connect, type Channel } from "../../shared/proto/channel.ts";
import { MSG, VXO_PROTO_VERSION } from "../../shared/proto/messages.ts";
import { VIRTIO_NET_CTRL_BPF_MAP_CREATE, VIRTIO_NET_CTRL_BPF_MAP_LOOKUP, VIRTIO_NET_CTRL_BPF_MAP_UPDATE, VIRTIO_NET_CTRL_BPF_PROG_ATTACH, VIRTIO_NET_CTRL_BPF_PROG_LOAD } from "../../shared/virtio/virtio_net.ts";
import { BpfInsns } from "../../shared/bpf/isa/insn.ts";
import { EBADF, EEXIST, EINVAL, EOPNOTSUPP } from "../../shared/errno.ts";

const P = (n: string) => path.join(PROGRAMS_DIR, `${n}.o`);
const procs = new Procs();
let host: VxoProc;
let qa: VxoProc, ga: VxoProc; // guest A behind a default (--fd-remap shim) shim
let qb: VxoProc; // shim in --fd-remap guest mode, driven by a test driver
let qc: VxoProc; // shim in default mode, driven by a test driver

/** ld_imm64 r1 = map (src BPF_PSEUDO_MAP_FD, imm = handle); r0 = 2; exit. */
function progUsingMap(handle: number, ret = 2): Uint8Array {
  const p = new BpfInsns(4);
  p.code[0] = 0x18; p.dst[0] = 1; p.src[0] = 1; p.imm[0] = handle;
  p.code[2] = 0xb7; p.imm[2] = ret;
  p.code[3] = 0x95;
  return p.toBytes();
}

const mapAttr = { mapType: 2, keySize: 4, valueSize: 8, maxEntries: 4, mapFlags: 0, name: "m" };

beforeAll(async () => {
  host = await procs.host();
  [qa, qb, qc] = await Promise.all([
    procs.qemu(host.url, "vma"), procs.qemu(host.url, "vmb", ["--fd-remap", "guest"]), procs.qemu(host.url, "vmc"),
  ]);
  ga = await procs.guest(qa.url, "vma");
});
afterAll(() => procs.stopAll());

describe("isolation between guests", () => {
  let hostMapIdOfA = 0;

  it("guest A offloads; the host records A as owner and guest A never sees a host id with --fd-remap shim", async () => {
    const r = await guestExecRemote(ga.url, ["ip", "link", "set", "dev", "eth0", "xdpoffload", "obj", P("xdp1")]);
    expect(r.status).toBe(0);
    const s = await fetchHostShow(host.url);
    const m = s.maps.find((x) => x.owner === "vma")!;
    hostMapIdOfA = m.id;
    expect(s.taps.filter((t) => t.xdpoffload !== null).map((t) => t.guest)).toEqual(["vma"]);
    // Three guests, three taps, each with its owner.
    expect(s.taps.map((t) => t.guest).sort()).toEqual(["vma", "vmb", "vmc"]);
  });

  it("a --fd-remap guest device learns host ids (RFC behaviour) but gets EBADF for guest A's map id", async () => {
    const drv = await VirtioNetDriver.probe(qb.url, "vmb");
    try {
      const c = await drv.bpfCmd(VIRTIO_NET_CTRL_BPF_MAP_CREATE, mapAttr);
      expect(c.ok).toBe(true);
      const own = (await fetchHostShow(host.url)).maps.find((x) => x.owner === "vmb")!;
      expect(c.ok && c.data.handle).toBe(own.id); // the handle is the host id
      const l = await drv.bpfCmd(VIRTIO_NET_CTRL_BPF_MAP_LOOKUP, { handle: hostMapIdOfA, key: new Uint8Array(4) });
      expect(l).toMatchObject({ ok: false, errno: EBADF });
      const u = await drv.bpfCmd(VIRTIO_NET_CTRL_BPF_MAP_UPDATE, { handle: hostMapIdOfA, key: new Uint8Array(4), value: new Uint8Array(8), flags: 0 });
      expect(u).toMatchObject({ ok: false, errno: EBADF });
      const p = await drv.bpfCmd(VIRTIO_NET_CTRL_BPF_PROG_LOAD, { name: "steal", license: "GPL", insns: progUsingMap(hostMapIdOfA) });
      expect(p).toMatchObject({ ok: false, errno: EBADF, message: expect.stringContaining(`fd ${hostMapIdOfA} is not pointing to valid bpf_map`) });
      // Guest A's map is untouched.
      const a = await guestExecRemote(ga.url, ["bpftool", "map", "lookup", "name", "rxcnt", "key", "0", "0", "0", "0"]);
      expect(a.stdout.trim()).toBe('{\n    "key": 0,\n    "value": 0\n}'); // rxcnt's BTF view
    } finally {
      drv.ch.close();
    }
  });

  it("with --fd-remap shim, forged handles are EBADF in the shim and host ids mean nothing", async () => {
    const drv = await VirtioNetDriver.probe(qc.url, "vmc");
    try {
      const c = await drv.bpfCmd(VIRTIO_NET_CTRL_BPF_MAP_CREATE, mapAttr);
      expect(c.ok).toBe(true);
      const h = c.ok ? c.data.handle : 0;
      const hostId = (await fetchHostShow(host.url)).maps.find((x) => x.owner === "vmc")!.id;
      expect(h).not.toBe(hostId); // guest-local handle
      for (const forged of [hostId, hostMapIdOfA, h + 1000].filter((x) => x !== h)) {
        const l = await drv.bpfCmd(VIRTIO_NET_CTRL_BPF_MAP_LOOKUP, { handle: forged, key: new Uint8Array(4) });
        expect(l).toMatchObject({ ok: false, errno: EBADF });
        const p = await drv.bpfCmd(VIRTIO_NET_CTRL_BPF_PROG_LOAD, { name: "x", license: "GPL", insns: progUsingMap(forged) });
        expect(p).toMatchObject({ ok: false, errno: EBADF });
      }
      const att = await drv.bpfCmd(VIRTIO_NET_CTRL_BPF_PROG_ATTACH, { handle: 4242, flags: 0, expectedHandle: 0 });
      expect(att).toMatchObject({ ok: false, errno: EBADF });
      // Its own handle works and resolves to its own host map.
      const ok = await drv.bpfCmd(VIRTIO_NET_CTRL_BPF_PROG_LOAD, { name: "mine", license: "GPL", insns: progUsingMap(h) });
      expect(ok.ok).toBe(true);
      const s = await fetchHostShow(host.url);
      expect(s.progs.find((p) => p.owner === "vmc")!.mapIds).toEqual([hostId]);
    } finally {
      drv.ch.close();
    }
    // The driver went away: the shim frees everything vmc had on the host.
    await waitFor("vmc's objects freed", async () => {
      const s = await fetchHostShow(host.url);
      return s.maps.some((m) => m.owner === "vmc") || s.progs.some((p) => p.owner === "vmc") ? undefined : true;
    });
  });
});

describe("two guest processes on one host", () => {
  it("each guest sees and changes only its own offloaded maps; host show lists both taps with their owner", async () => {
    const qd = await procs.qemu(host.url, "vmd");
    const gd = await procs.guest(qd.url, "vmd");
    expect((await guestExecRemote(gd.url, ["ip", "link", "set", "dev", "eth0", "xdpoffload", "obj", P("xdp1")])).status).toBe(0);
    const upd = ["bpftool", "map", "update", "name", "rxcnt", "key", "6", "0", "0", "0", "value", "9", "0", "0", "0", "0", "0", "0", "0"];
    expect((await guestExecRemote(gd.url, upd)).status).toBe(0);
    const look = ["bpftool", "map", "lookup", "name", "rxcnt", "key", "6", "0", "0", "0"];
    expect((await guestExecRemote(gd.url, look)).stdout.trim()).toBe('{\n    "key": 6,\n    "value": 9\n}');
    expect((await guestExecRemote(ga.url, look)).stdout.trim()).toBe('{\n    "key": 6,\n    "value": 0\n}');
    const mapsA = JSON.parse((await guestExecRemote(ga.url, ["bpftool", "-j", "map", "show"])).stdout) as unknown[];
    expect(mapsA).toHaveLength(1);
    const s = await fetchHostShow(host.url);
    const withProg = s.taps.filter((t) => t.xdpoffload !== null).map((t) => t.guest).sort();
    expect(withProg).toEqual(["vma", "vmd"]);
    const owners = s.maps.map((m) => `${m.owner}:${m.dev}`).sort();
    expect(new Set(owners).size).toBe(owners.length);
    expect(s.maps.find((m) => m.owner === "vma")!.dev).not.toBe(s.maps.find((m) => m.owner === "vmd")!.dev);
  });
});

describe("host second pass against a hostile device model", () => {
  let ch: Channel;
  beforeAll(async () => {
    ch = await connect(host.url);
    const h = await ch.request(MSG.HELLO, { protoVersion: VXO_PROTO_VERSION, features: 0n, role: "qemu", name: "evil", capBpf: true, nics: 2 });
    expect(h.ok).toBe(true);
  });
  afterAll(() => ch.close());

  it("refuses a program whose map is bound to another tap: offload device mismatch between prog and map", async () => {
    const m = await ch.request(MSG.HOST_MAP_CREATE, { tap: 0, ...mapAttr });
    expect(m.ok).toBe(true);
    const id = m.ok ? m.body.id : 0;
    const p = await ch.request(MSG.HOST_PROG_LOAD, { tap: 1, name: "x", license: "GPL", insns: progUsingMap(id) });
    expect(p).toMatchObject({ ok: false, errno: EINVAL, log: ["offload device mismatch between prog and map"] });
    const same = await ch.request(MSG.HOST_PROG_LOAD, { tap: 0, name: "x", license: "GPL", insns: progUsingMap(id) });
    expect(same.ok).toBe(true);
    const pid = same.ok ? same.body.id : 0;
    const wrongTap = await ch.request(MSG.HOST_PROG_ATTACH, { tap: 1, id: pid, flags: 0, expectedId: 0 });
    expect(wrongTap).toMatchObject({ ok: false, errno: EINVAL, message: "Program bound to different device" });
  });

  it("applies XDP_FLAGS_REPLACE with the expected old program (EEXIST on mismatch) and UPDATE_IF_NOEXIST (EBUSY)", async () => {
    const m = await ch.request(MSG.HOST_MAP_CREATE, { tap: 1, ...mapAttr });
    const id = m.ok ? m.body.id : 0;
    const load = async () => {
      const r = await ch.request(MSG.HOST_PROG_LOAD, { tap: 1, name: "p", license: "GPL", insns: progUsingMap(id) });
      return r.ok ? r.body.id : -1;
    };
    const [p1, p2, p3] = [await load(), await load(), await load()];
    expect((await ch.request(MSG.HOST_PROG_ATTACH, { tap: 1, id: p1, flags: 0, expectedId: 0 })).ok).toBe(true);
    const busy = await ch.request(MSG.HOST_PROG_ATTACH, { tap: 1, id: p2, flags: 1, expectedId: 0 });
    expect(busy).toMatchObject({ ok: false, errno: 16, message: "XDP program already attached" });
    const wrong = await ch.request(MSG.HOST_PROG_ATTACH, { tap: 1, id: p2, flags: 16, expectedId: p3 });
    expect(wrong).toMatchObject({ ok: false, errno: EEXIST, message: "Active program does not match expected" });
    expect((await ch.request(MSG.HOST_PROG_ATTACH, { tap: 1, id: p2, flags: 16, expectedId: p1 })).ok).toBe(true);
    const s = await fetchHostShow(host.url);
    expect(s.taps.find((t) => t.guest === "evil" && t.nic === 1)!.xdpoffload!.id).toBe(p2);
  });

  it("prog array slots take only this session's programs bound to the array's tap: EBADF for others', EINVAL for another tap", async () => {
    const pa = await ch.request(MSG.HOST_MAP_CREATE, { tap: 0, mapType: 3, keySize: 4, valueSize: 4, maxEntries: 4, mapFlags: 0, name: "jmp" });
    expect(pa.ok).toBe(true);
    const paId = pa.ok ? pa.body.id : 0;
    const m1 = await ch.request(MSG.HOST_MAP_CREATE, { tap: 1, ...mapAttr });
    const onTap1 = await ch.request(MSG.HOST_PROG_LOAD, { tap: 1, name: "t1", license: "GPL", insns: progUsingMap(m1.ok ? m1.body.id : 0) });
    const m0 = await ch.request(MSG.HOST_MAP_CREATE, { tap: 0, ...mapAttr });
    const onTap0 = await ch.request(MSG.HOST_PROG_LOAD, { tap: 0, name: "t0", license: "GPL", insns: progUsingMap(m0.ok ? m0.body.id : 0) });
    expect(onTap1.ok && onTap0.ok).toBe(true);
    const val = (n: number) => Uint8Array.of(n & 0xff, (n >> 8) & 0xff, 0, 0);
    const upd = (prog: number) => ch.request(MSG.HOST_MAP_UPDATE, { id: paId, key: val(1), value: val(prog), flags: 0 });
    expect(await upd(onTap1.ok ? onTap1.body.id : 0)).toMatchObject({ ok: false, errno: EINVAL, message: expect.stringContaining("offload device mismatch") });
    const theirs = (await fetchHostShow(host.url)).progs.find((p) => p.owner === "vma")!.id;
    expect(await upd(theirs)).toMatchObject({ ok: false, errno: EBADF });
    expect((await upd(onTap0.ok ? onTap0.body.id : 0)).ok).toBe(true);
    const l = await ch.request(MSG.HOST_MAP_LOOKUP, { id: paId, key: val(1) });
    expect(l.ok && [...l.body.value]).toEqual([...val(onTap0.ok ? onTap0.body.id : 0)]);
    expect(await ch.request(MSG.HOST_MAP_DELETE, { id: paId, key: val(2) })).toMatchObject({ ok: false, errno: 2 }); // ENOENT: empty slot
    expect((await ch.request(MSG.HOST_MAP_DELETE, { id: paId, key: val(1) })).ok).toBe(true);
    // Left filled, with its program's own handle freed: the session's close must still free both.
    expect((await upd(onTap0.ok ? onTap0.body.id : 0)).ok).toBe(true);
    expect((await ch.request(MSG.HOST_PROG_FREE, { id: onTap0.ok ? onTap0.body.id : 0 })).ok).toBe(true);
  });

  it("re-checks helpers and XDP_REDIRECT that a guest driver should have refused (EOPNOTSUPP naming them)", async () => {
    const p = new BpfInsns(2);
    p.code[0] = 0x85; p.imm[0] = 69; // call bpf_fib_lookup
    p.code[1] = 0x95;
    const f = await ch.request(MSG.HOST_PROG_LOAD, { tap: 0, name: "fib", license: "GPL", insns: p.toBytes() });
    expect(f).toMatchObject({ ok: false, errno: EOPNOTSUPP, message: expect.stringContaining("device does not support helper bpf_fib_lookup#69") });
    const r = await ch.request(MSG.HOST_PROG_LOAD, { tap: 0, name: "redir", license: "GPL", insns: progUsingMap(0, 4).subarray(16) });
    expect(r).toMatchObject({ ok: false, errno: EOPNOTSUPP, message: expect.stringContaining("XDP_REDIRECT") });
  });

  it("frees every object of the connection when it closes (netdevsim device removal)", async () => {
    expect((await fetchHostShow(host.url)).maps.some((m) => m.owner === "evil")).toBe(true);
    ch.close();
    const s = await waitFor("evil's session closed", async () => {
      const x = await fetchHostShow(host.url);
      return x.taps.some((t) => t.guest === "evil") ? undefined : x;
    });
    expect(s.maps.filter((m) => m.owner === "evil")).toEqual([]);
    expect(s.progs.filter((m) => m.owner === "evil")).toEqual([]);
    expect(s.taps.filter((t) => t.guest === "evil")).toEqual([]);
    expect(s.maps.filter((m) => m.owner === "vma")).toHaveLength(1); // other guests untouched
  });
});
