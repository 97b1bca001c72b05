// The device model's limits and privileges: each quota with its errno and
// nothing partially created (ENOSPC maps and map bytes, E2BIG insns, EAGAIN
// command rate), --no-cap-bpf (EPERM from the host), --xdp-offload off
// (EOPNOTSUPP in the guest), capability negotiation (a host that does not
// offer hash maps: EOPNOTSUPP naming the map type).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Procs, compileBpf, xdpSource, type VxoProc } from "../helpers/procs.ts";
import { PROGRAMS_DIR } from "../helpers/repo.ts";
import { guestExecRemote } from "../../cli/guest_cmd.ts";
import { fetchHostShow } from "../../cli/host_cmd.ts";

const P = (n: string) => path.join(PROGRAMS_DIR, `${n}.o`);
const procs = new Procs();
let host: VxoProc;
let tmp: string;
let twoMaps: string, bigMap: string;

/** Starts a shim with `opts` and a guest behind it; returns an exec function. */
async function vm(name: string, opts: string[], hostUrl = host.url) {
  const q = await procs.qemu(hostUrl, name, opts);
  const g = await procs.guest(q.url, name);
  return { q, g, exec: (...argv: string[]) => guestExecRemote(g.url, argv) };
}

async function objectsOf(name: string, hostUrl = host.url) {
  const s = await fetchHostShow(hostUrl);
  return { maps: s.maps.filter((m) => m.owner === name).length, progs: s.progs.filter((p) => p.owner === name).length };
}

const offload = (o: string) => ["ip", "link", "set", "dev", "eth0", "xdpoffload", "obj", o];

beforeAll(async () => {
  tmp = mkdtempSync(path.join(tmpdir(), "vxo-quota-"));
  [host, twoMaps, bigMap] = await Promise.all([
    procs.host(),
    compileBpf(tmp, "two_maps", xdpSource("XDP_PASS", [
      { name: "first", type: "BPF_MAP_TYPE_ARRAY", entries: 16, valueBytes: 8 },
      { name: "second", type: "BPF_MAP_TYPE_ARRAY", entries: 16, valueBytes: 8 },
    ])),
    compileBpf(tmp, "big_map", xdpSource("XDP_PASS", [{ name: "big", type: "BPF_MAP_TYPE_ARRAY", entries: 65536, valueBytes: 64 }])),
  ]);
});
afterAll(() => procs.stopAll());

describe("quotas in the shim", () => {
  it("--max-maps: the second map gets ENOSPC and the first is freed again", async () => {
    const { exec } = await vm("qmaps", ["--max-maps", "1"]);
    const r = await exec(...offload(twoMaps));
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/map 'second': failed to create: No space left on device\(-28\): Cannot create map second: device quota of 1 offloaded maps reached \(ENOSPC\)/);
    expect(await objectsOf("qmaps")).toEqual({ maps: 0, progs: 0 });
    expect((await exec(...offload(P("xdp1")))).status).toBe(0); // one map fits
  });

  it("--max-map-bytes: a map over the budget gets ENOSPC, nothing is created", async () => {
    const { exec } = await vm("qbytes", ["--max-map-bytes", "1048576"]);
    const r = await exec(...offload(bigMap));
    expect(r.stderr).toMatch(/Cannot create map big: 4194304 bytes would exceed the device quota of 1048576 map bytes \(0 in use\) \(ENOSPC\)/);
    expect(await objectsOf("qbytes")).toEqual({ maps: 0, progs: 0 });
  });

  it("--max-insns: a longer program gets E2BIG and its maps are freed", async () => {
    const { exec } = await vm("qinsns", ["--max-insns", "10"]);
    const r = await exec(...offload(P("xdp1")));
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/Cannot load program xdp_prog1: 51 insns exceed the device limit of 10 \(E2BIG\)/);
    expect(await objectsOf("qinsns")).toEqual({ maps: 0, progs: 0 });
    expect((await exec(...offload(P("xdp_drop")))).status).toBe(0); // 2 insns
  });

  it("--max-cmds-per-sec: commands past the device's budget get EAGAIN, a dump refused so prints no element", async () => {
    const { exec } = await vm("qrate", ["--max-cmds-per-sec", "5"]);
    // Three commands for the offload (map, prog, attach) fit in the bucket of 5.
    expect((await exec(...offload(P("xdp1")))).status).toBe(0);
    const id = JSON.parse((await exec("bpftool", "-j", "map", "show")).stdout)[0].id as number;
    // A dump is one VIRTIO_NET_CTRL_BPF_MAP_LOOKUP_BATCH: lookups in a row (one command each) drain the bucket.
    // (until one is refused: a loaded machine may run them slower than the bucket refills)
    const statuses: number[] = [];
    while (statuses.length < 500 && !statuses.includes(256 - 11)) {
      statuses.push((await exec("bpftool", "map", "lookup", "id", String(id), "key", "0", "0", "0", "0")).status);
    }
    expect(statuses[0]).toBe(0);
    expect(statuses).toContain(256 - 11);
    // bpftool's map_dump(): a refused walk ends without a message and is the status (-EAGAIN); rxcnt has
    // BTF, so what it printed is the (empty) JSON array of its entries, with no "Found N elements".
    let d = await exec("bpftool", "map", "dump", "id", String(id));
    for (let i = 0; i < 500 && d.status === 0; i++) d = await exec("bpftool", "map", "dump", "id", String(id));
    expect([d.status, d.stderr, d.stdout]).toEqual([256 - 11, "", "[]\n"]);
    expect(await objectsOf("qrate")).toEqual({ maps: 1, progs: 1 }); // refused commands changed nothing
  });
});

describe("privilege and features", () => {
  it("--no-cap-bpf: the host refuses map creation with EPERM", async () => {
    const { exec } = await vm("nocap", ["--no-cap-bpf"]);
    const r = await exec(...offload(P("xdp1")));
    expect(r.stderr).toMatch(/map 'rxcnt': failed to create: Operation not permitted\(-1\): .*lacks CAP_BPF \(EPERM\)/);
    const d = await exec(...offload(P("xdp_drop"))); // no maps: the program load is refused
    expect(d.stderr).toMatch(/BPF program load failed on the device: Cannot load program xdp_drop: Operation not permitted: the device model lacks CAP_BPF \(EPERM\)/);
    expect(await objectsOf("nocap")).toEqual({ maps: 0, progs: 0 });
  });

  it("--xdp-offload off: the feature is not negotiated and xdpoffload fails with EOPNOTSUPP; xdpdrv still works", async () => {
    const { exec } = await vm("nofeat", ["--xdp-offload", "off"]);
    const r = await exec(...offload(P("xdp1")));
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toBe("Error: virtio_net: XDP offload is not supported by the device (VIRTIO_NET_F_XDP_OFFLOAD not negotiated) (EOPNOTSUPP).");
    expect((await exec("ip", "link", "set", "dev", "eth0", "xdpdrv", "obj", P("xdp1"))).status).toBe(0);
    expect(await objectsOf("nofeat")).toEqual({ maps: 0, progs: 0 });
  });

  it("a host that offers only array maps: hash maps are refused with EOPNOTSUPP naming the type", async () => {
    const h2 = await procs.host(["--offload-map-types", "array"], "host2");
    const { exec } = await vm("arrayonly", [], h2.url);
    const src = xdpSource("XDP_PASS", [{ name: "h", type: "BPF_MAP_TYPE_HASH", entries: 16, valueBytes: 8 }]);
    const r = await exec(...offload(await compileBpf(tmp, "hash_only", src)));
    expect(r.stderr.trim()).toBe("Error: Cannot offload map h: device does not support offloading hash maps (EOPNOTSUPP).");
    expect((await exec(...offload(P("xdp1")))).status).toBe(0);
    expect(await objectsOf("arrayonly", h2.url)).toEqual({ maps: 1, progs: 1 });
  });
});
