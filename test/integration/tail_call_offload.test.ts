// Tail calls across offload, through real processes (host, qemu shim, guest):
// a guest offloads xdp_tail_chain (three programs, a prog array it fills with
// `bpftool map update ... value name|id PROG`), `vxo host pktgen` replays
// packets through the tap's vhost thread, and what comes out (the frames the
// chain sent back with XDP_TX, captured at tap-rx; the fates; the guest's
// view of the counters) is judged against the real kernel's `bpftool prog
// run` of the same programs with the prog array filled the same way. Then the
// 33-call limit (xdp_tail_loop, slots filled by libbpf's static initialiser),
// and the compatibility rules: offloaded and host programs do not mix (EINVAL),
// a program handle the guest does not own is EBADF at the shim.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execa } from "execa";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Procs, type VxoProc } from "../helpers/procs.ts";
import { PROGRAMS_DIR, REPO_ROOT, VXO_BIN } from "../helpers/repo.ts";
import { KernelObject, kernelOracleUnavailable, type KernelRun } from "../helpers/kernel_oracle.ts";
import { guestExecRemote } from "../../cli/guest_cmd.ts";
import { fetchHostShow } from "../../cli/host_cmd.ts";
import { testCorpus } from "../../shared/net/packets.ts";
import { pcapHeader, pcapRecordHeader, readPcap } from "../../shared/net/pcap.ts";
import type { PktgenReport } from "../../host/tap_datapath.ts";
import { MAX_TAIL_CALL_CNT, XDP_DROP, XDP_PASS, XDP_TX } from "../../shared/bpf/isa/uapi.ts";

const unavailable = kernelOracleUnavailable(REPO_ROOT);
if (unavailable !== null) console.warn(`\n*** TAIL CALL OFFLOAD vs KERNEL SKIPPED: ${unavailable} ***\n`);

const P = (n: string) => path.join(PROGRAMS_DIR, `${n}.o`);
const procs = new Procs();
let host: VxoProc, guest: VxoProc;
let tmp: string;
const exec = (...argv: string[]) => guestExecRemote(guest.url, argv);

/** Eight ordinary frames of the differential corpus (no runts: NIC-A pads nothing), as a pcap file. */
const packets = testCorpus(0).filter((p) => !p.name.startsWith("runt") && p.bytes.length >= 60).slice(0, 8);
function writePcap(file: string): void {
  const parts: Uint8Array[] = [pcapHeader(65535)];
  for (const p of packets) {
    const h = new Uint8Array(16);
    pcapRecordHeader(new DataView(h.buffer), 0, 0, p.bytes.length, p.bytes.length);
    parts.push(h, p.bytes);
  }
  writeFileSync(file, Buffer.concat(parts));
}

async function cliOk(args: string[]): Promise<string> {
  const r = await procs.cli(args);
  if (r.exitCode !== 0) throw new Error(`vxo ${args.join(" ")}: exit ${r.exitCode}\n${r.stderr}`);
  return r.stdout;
}

/** The pcap's packets once through pktgen (Case 1: NIC-B redirects each to the tap). */
async function replay(pcap: string): Promise<PktgenReport> {
  return JSON.parse(await cliOk(["host", "pktgen", host.url, "--dev", "nic0", "--pcap", pcap, "--count", String(packets.length), "--case", "1", "--json"])) as PktgenReport;
}

/** Starts `vxo host capture --point POINT` for `count` frames; resolves once it records. */
async function capture(point: string, count: number): Promise<() => Promise<string[]>> {
  const file = path.join(tmp, `${point}-${Date.now()}.pcap`);
  const c = execa("node", [VXO_BIN, "host", "capture", host.url, "--point", point, "--file", file, "--count", String(count), "--timeout", "60"],
    { env: procs.env, reject: false, buffer: true });
  await new Promise<void>((resolve, reject) => {
    c.stderr!.on("data", (d: Buffer) => {
      if (d.toString().includes("listening on")) resolve();
    });
    void c.then((r) => reject(new Error(`capture exited early: ${String(r.stderr)}`)));
  });
  return async () => {
    const r = await c;
    expect(r.exitCode, String(r.stderr)).toBe(0);
    // The capture's snaplen keeps a frame's head (orig_len is the whole frame): the kernel's output cut the same.
    return readPcap(new Uint8Array(readFileSync(file))).packets.map((p) => Buffer.from(p.data).toString("hex") + `/${p.len}`);
  };
}

/** The kernel's data_out as capture() reports it: the first `caplen` bytes in hex and the length. */
function asCaptured(dataOut: string, caplen: number): string {
  return `${dataOut.slice(0, 2 * caplen)}/${dataOut.length / 2}`;
}

/** `bpftool map dump` in the guest as key -> value hex (entries without a value left out). */
async function guestDump(name: string): Promise<Map<string, string>> {
  const r = await exec("bpftool", "-j", "map", "dump", "name", name);
  expect(r.status, r.stderr).toBe(0);
  const out = new Map<string, string>();
  for (const e of JSON.parse(r.stdout) as Array<{ key: string[]; value: string[] | { error: string } }>) {
    if (Array.isArray(e.value)) out.set(e.key.map((x) => x.slice(2)).join(""), e.value.map((x) => x.slice(2)).join(""));
  }
  return out;
}

async function guestProgId(name: string): Promise<number> {
  // One match prints the object itself, several an array (bpftool's do_show()).
  const p = JSON.parse((await exec("bpftool", "-j", "prog", "show", "name", name)).stdout) as { id: number };
  expect(Array.isArray(p)).toBe(false);
  return p.id;
}

async function kernelRuns(ko: KernelObject, prog: string): Promise<KernelRun[]> {
  const out: KernelRun[] = [];
  for (const p of packets) out.push(await ko.run(prog, p.bytes));
  return out;
}

beforeAll(async () => {
  tmp = mkdtempSync(path.join(tmpdir(), "vxo-tailcall-"));
  writePcap(path.join(tmp, "in.pcap"));
  host = await procs.host();
  const q = await procs.qemu(host.url, "tc1");
  guest = await procs.guest(q.url, "tc1");
}, 60_000);
afterAll(() => procs.stopAll());

describe.skipIf(unavailable !== null)("tail calls offloaded from a guest, judged against the kernel's bpftool prog run", () => {
  it("xdp_tail_chain: three programs on the host's vhost thread, the prog array filled from the guest, same frames and counters as the kernel", async () => {
    const a = await exec("ip", "link", "set", "dev", "eth0", "xdpoffload", "obj", P("xdp_tail_chain"), "sec", "xdp");
    expect(a.stderr).toBe("");
    expect(a.status).toBe(0);
    // All three programs verified on the host and bound to the guest's tap, the two maps beside them.
    const show = await fetchHostShow(host.url);
    const progs = show.progs.filter((p) => p.owner === "tc1");
    expect(progs.map((p) => p.name).sort()).toEqual(["xdp_chain_0", "xdp_chain_1", "xdp_chain_2"]);
    expect(progs.every((p) => p.dev === "tap0")).toBe(true);
    expect(progs.find((p) => p.attached)!.name).toBe("xdp_chain_0");
    expect(show.maps.filter((m) => m.owner === "tc1").map((m) => m.type).sort()).toEqual(["array", "prog_array"]);
    const plain = (await exec("bpftool", "prog", "show", "name", "xdp_chain_1")).stdout;
    expect(plain).toContain("offloaded_to eth0");

    // The guest fills the slots with bpftool as it would on a kernel: by name and by id.
    const id2 = await guestProgId("xdp_chain_2");
    expect((await exec("bpftool", "map", "update", "name", "chain_progs", "key", "1", "0", "0", "0", "value", "name", "xdp_chain_1")).status).toBe(0);
    const u2 = await exec("bpftool", "map", "update", "name", "chain_progs", "key", "2", "0", "0", "0", "value", "id", String(id2));
    expect(u2.stderr.trim()).toBe("Warning: updating program array via MAP_ID, make sure this map is kept open\n" +
      "         by some process or pinned otherwise update will be lost"); // as bpftool 7.1 warns
    expect(u2.status).toBe(0);
    // Lookups report the guest's program ids (the shim maps its handles back); empty slots are not
    // printed at all (bpftool's print_entry_error() for program arrays).
    const plainDump = (await exec("bpftool", "map", "dump", "name", "chain_progs")).stdout.trim().split("\n");
    expect(plainDump).toHaveLength(3);
    expect(plainDump[0]).toMatch(/^key: 01 00 00 00  value: [0-9a-f]{2} 00 00 00$/);
    expect(plainDump[2]).toBe("Found 2 elements");
    const slots = await guestDump("chain_progs");
    expect([...slots.keys()]).toEqual(["01000000", "02000000"]);
    expect(Buffer.from(slots.get("02000000")!, "hex").readUInt32LE(0)).toBe(id2);
    expect(Buffer.from(slots.get("01000000")!, "hex").readUInt32LE(0)).toBe(await guestProgId("xdp_chain_1"));
    const miss = await exec("bpftool", "map", "lookup", "name", "chain_progs", "key", "3", "0", "0", "0");
    expect(miss.stdout).toContain("Not found");

    const ko = await KernelObject.load(P("xdp_tail_chain"), "tailchain");
    try {
      const pin = (n: string) => `${ko.dir}/progs/${n}`;
      await ko.bpftool(["map", "update", "pinned", `${ko.dir}/maps/chain_progs`, "key", "1", "0", "0", "0", "value", "pinned", pin("xdp_chain_1")]);
      await ko.bpftool(["map", "update", "pinned", `${ko.dir}/maps/chain_progs`, "key", "2", "0", "0", "0", "value", "pinned", pin("xdp_chain_2")]);
      const kern = await kernelRuns(ko, "xdp_chain_0");
      expect(kern.map((r) => r.retval)).toEqual(packets.map(() => XDP_TX));
      // A slot past max_entries and a program that does not exist: bpftool's words and status, as on the kernel.
      for (const [key, prog] of [["9", ["name", "xdp_chain_1"]], ["1", ["id", "999999"]], ["1", ["name", "nosuchprog"]]] as const) {
        const k = await execa("nsenter", [`--net=/run/netns/${ko.netns}`, "bpftool", "map", "update", "pinned", `${ko.dir}/maps/chain_progs`,
          "key", key, "0", "0", "0", "value", ...prog], { reject: false });
        const g = await exec("bpftool", "map", "update", "name", "chain_progs", "key", key, "0", "0", "0", "value", ...prog);
        expect(g.status, `key ${key} value ${prog.join(" ")}`).toBe(k.exitCode);
        expect(g.stderr.trim(), `key ${key} value ${prog.join(" ")}`).toBe(String(k.stderr).trim());
      }

      const done = await capture("tap-rx", packets.length);
      const r = await replay(path.join(tmp, "in.pcap"));
      expect(r.fates.sent).toBe(packets.length);
      expect(r.fates.tx, JSON.stringify(r.fates)).toBe(packets.length);
      const frames = await done();
      expect(frames).toEqual(kern.map((k, i) => asCaptured(k.dataOut, frames[i]!.indexOf("/") / 2)));

      // On the tap's vhost thread (tun_recvmsg), every frame through the chain.
      expect(r.hook).toBe("recvmsg");
      expect(r.delta.tun_xdp!.off_tx).toBe(packets.length);
      // Same counters: each stage ran once per packet, in both kernels.
      const kernHits = await ko.mapDump("chain_hits");
      const ours = await guestDump("chain_hits");
      for (const e of kernHits) expect(ours.get(e.key), `chain_hits[${e.key}]`).toBe(e.value);

      // Steady traffic: 20,000 generated frames, every one through the three stages.
      const n = 20_000;
      const g = JSON.parse(await cliOk(["host", "pktgen", host.url, "--dev", "nic0", "--count", String(n), "--case", "1", "--json"])) as PktgenReport;
      expect(g.fates.tx + g.fates.errors).toBe(n);
      expect(g.fates.tx).toBe(g.xdpPackets);
      const after = await guestDump("chain_hits");
      const hits = (m: Map<string, string>, k: string) => Number(Buffer.from(m.get(k)!, "hex").readBigUInt64LE(0));
      for (const k of ["00000000", "01000000", "02000000"]) expect(hits(after, k) - hits(ours, k), `stage ${k}`).toBe(g.xdpPackets);
      for (const e of kernHits) await ko.mapUpdate("chain_hits", e.key, Buffer.from(after.get(e.key)!, "hex").toString("hex"));

      // Deleting slot 2 from the guest ends the chain at stage 1 (XDP_DROP), as in the kernel.
      expect((await exec("bpftool", "map", "delete", "name", "chain_progs", "key", "2", "0", "0", "0")).status).toBe(0);
      await ko.bpftool(["map", "delete", "pinned", `${ko.dir}/maps/chain_progs`, "key", "2", "0", "0", "0"]);
      const kern2 = await kernelRuns(ko, "xdp_chain_0");
      expect(kern2.map((x) => x.retval)).toEqual(packets.map(() => XDP_DROP));
      const r2 = await replay(path.join(tmp, "in.pcap"));
      expect(r2.fates.dropped, JSON.stringify(r2.fates)).toBe(packets.length);
      const kernHits2 = await ko.mapDump("chain_hits");
      const ours2 = await guestDump("chain_hits");
      for (const e of kernHits2) expect(ours2.get(e.key), `chain_hits[${e.key}] after the delete`).toBe(e.value);
    } finally {
      await ko.close();
    }
  }, 180_000);

  it("xdp_tail_loop: the 33-call limit on the vhost thread, as the kernel counts it (with and without an empty slot)", async () => {
    for (const prog of ["xdp_loop_self", "xdp_loop_empty"]) {
      // -force replaces what is attached (the chain, then the other entry); `program NAME` picks the entry.
      const a = await exec("ip", "-force", "link", "set", "dev", "eth0", "xdpoffload", "obj", P("xdp_tail_loop"), "program", prog);
      expect(a.stderr).toBe("");
      expect(a.status).toBe(0);
      const ko = await KernelObject.load(P("xdp_tail_loop"), "tailloop");
      try {
        const kern = await kernelRuns(ko, prog);
        const want = prog === "xdp_loop_self" ? XDP_PASS : XDP_TX;
        expect(kern.map((k) => k.retval)).toEqual(packets.map(() => want));
        // The frame's first byte counts the runs: 1 + MAX_TAIL_CALL_CNT in the kernel.
        expect((Buffer.from(kern[0]!.dataOut, "hex")[0]! - packets[0]!.bytes[0]! + 256) % 256).toBe(34);
        const done = want === XDP_TX ? await capture("tap-rx", packets.length) : null;
        const r = await replay(path.join(tmp, "in.pcap"));
        expect(want === XDP_TX ? r.fates.tx : r.fates.passed, JSON.stringify(r.fates)).toBe(packets.length);
        if (done !== null) {
          const frames = await done();
          expect(frames).toEqual(kern.map((k, i) => asCaptured(k.dataOut, frames[i]!.indexOf("/") / 2)));
        }
        const kernRuns = await ko.mapDump("loop_runs");
        expect((await guestDump("loop_runs")).get("00000000")).toBe(kernRuns[0]!.value);
      } finally {
        await ko.close();
      }
    }
  }, 180_000);

});

describe("prog array compatibility from the guest (no kernel needed)", () => {
  it("offloaded and host programs do not mix (EINVAL as __bpf_prog_map_compatible()), in either direction", async () => {
    // An offloaded chain and, beside it in the generic slot, the same object loaded in the guest kernel.
    expect((await exec("ip", "-force", "link", "set", "dev", "eth0", "xdpoffload", "obj", P("xdp_tail_chain"), "sec", "xdp")).status).toBe(0);
    expect((await exec("ip", "link", "set", "dev", "eth0", "xdpgeneric", "obj", P("xdp_tail_chain"), "sec", "xdp")).status).toBe(0);
    const maps = JSON.parse((await exec("bpftool", "-j", "map", "show")).stdout) as Array<{ id: number; name: string; dev?: unknown }>;
    const offPa = maps.find((m) => m.name === "chain_progs" && m.dev !== undefined)!.id;
    const localPa = maps.find((m) => m.name === "chain_progs" && m.dev === undefined)!.id;
    const progs = JSON.parse((await exec("bpftool", "-j", "prog", "show")).stdout) as Array<{ id: number; name: string; dev?: unknown }>;
    const offProg = progs.find((p) => p.name === "xdp_chain_1" && p.dev !== undefined)!.id;
    const localProg = progs.find((p) => p.name === "xdp_chain_0" && p.dev === undefined)!.id;
    const upd = (map: number, key: string, prog: number) =>
      exec("bpftool", "map", "update", "id", String(map), "key", key, "0", "0", "0", "value", "id", String(prog));
    for (const [map, prog] of [[offPa, localProg], [localPa, offProg]] as const) {
      const r = await upd(map, "1", prog);
      expect(r.stderr.trim().split("\n").at(-1)).toBe("Error: update failed: Invalid argument");
      expect(r.status).toBe(256 - 22);
    }
    // Each with its own kind is fine.
    expect((await upd(localPa, "3", localProg)).status).toBe(0);
    expect((await upd(offPa, "3", offProg)).status).toBe(0);
    // Several programs named alike: bpftool refuses the handle, as it does on a kernel.
    const two = await exec("bpftool", "map", "update", "id", String(offPa), "key", "1", "0", "0", "0", "value", "name", "xdp_chain_0");
    expect(two.stderr.trim()).toBe("Error: several programs match this handle");
    expect(two.status).toBe(255);
    expect((await exec("ip", "link", "set", "dev", "eth0", "xdpgeneric", "off")).status).toBe(0);
    expect((await exec("ip", "link", "set", "dev", "eth0", "xdpoffload", "off")).status).toBe(0);
    const s = await fetchHostShow(host.url);
    expect(s.progs.filter((p) => p.owner === "tc1")).toEqual([]);
    expect(s.maps.filter((m) => m.owner === "tc1")).toEqual([]);
  }, 120_000);
});

describe("--xdp-offload-hook net_xmit: the chain on the producer thread", () => {
  it("xdp_tail_loop's static slots reach the producer's thread: every frame runs 1 + MAX_TAIL_CALL_CNT times", async () => {
    const h = await procs.host(["--xdp-offload-hook", "net_xmit"], "host-tc2");
    const q = await procs.qemu(h.url, "tc2");
    const g = await procs.guest(q.url, "tc2");
    const a = await guestExecRemote(g.url, ["ip", "link", "set", "dev", "eth0", "xdpoffload", "obj", P("xdp_tail_loop"), "program", "xdp_loop_self"]);
    expect(a.stderr).toBe("");
    const r = JSON.parse(await cliOk(["host", "pktgen", h.url, "--dev", "nic0", "--count", "2000", "--case", "2", "--json"])) as PktgenReport;
    expect(r.hook).toBe("net_xmit");
    expect(r.xdpPackets).toBeGreaterThan(0);
    expect(r.delta.tun_xdp!.off_pass).toBe(r.xdpPackets);
    const d = await guestExecRemote(g.url, ["bpftool", "-j", "map", "lookup", "name", "loop_runs", "key", "0", "0", "0", "0"]);
    const v = JSON.parse(d.stdout) as { value: string[] };
    const runs = Number(Buffer.from(v.value.map((x) => x.slice(2)).join(""), "hex").readBigUInt64LE(0));
    expect(runs).toBe(r.xdpPackets * (1 + MAX_TAIL_CALL_CNT));
  }, 120_000);
});
