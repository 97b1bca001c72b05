// The datapath inside the running `vxo host` (started through bin/vxo.js, so
// from the bundle, datapath Workers included): a guest offloads xdp1/xdp2 to
// its tap, `vxo host pktgen` sends Case 1 (devmap redirect) and Case 2
// (bridge) traffic, `vxo host stats --json` conserves every packet at every
// stage, the guest's `bpftool map dump` sees the counters the tap's vhost
// thread updated, XDP_TX'ed frames are dropped by the tap's Rx-path program;
// a guest exit stops its tap's datapath; SIGTERM with traffic running exits.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import path from "node:path";
import { execa } from "execa";
import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { Procs, waitFor, type VxoProc } from "../helpers/procs.ts";
import { PROGRAMS_DIR, VXO_BIN } from "../helpers/repo.ts";
import { guestExecRemote } from "../../cli/guest_cmd.ts";
import type { HostStats, PktgenReport, TapStats } from "../../host/tap_datapath.ts";

const P = (n: string) => path.join(PROGRAMS_DIR, `${n}.o`);
const procs = new Procs();
let tcpdumpMissing: string | null = null;
try {
  execFileSync("tcpdump", ["--version"], { stdio: "ignore" });
} catch (e) {
  tcpdumpMissing = String(e);
  console.warn(`SKIP capture test: tcpdump not found (${tcpdumpMissing})`);
}
let host: VxoProc;
let guest: VxoProc;

async function cliOk(args: string[]): Promise<string> {
  const r = await procs.cli(args);
  if (r.exitCode !== 0) throw new Error(`vxo ${args.join(" ")}: exit ${r.exitCode}\n${r.stderr}`);
  return r.stdout;
}

async function stats(url = host.url): Promise<HostStats> {
  return JSON.parse(await cliOk(["host", "stats", url, "--json"])) as HostStats;
}

async function pktgen(count: number, kase: number): Promise<PktgenReport> {
  return JSON.parse(await cliOk(["host", "pktgen", host.url, "--dev", "nic0", "--count", String(count), "--case", String(kase), "--json"])) as PktgenReport;
}

/** The guest's view of the offloaded rxcnt map (protocol -> count), from `bpftool map dump`. */
async function rxcnt(g: VxoProc): Promise<Map<number, number>> {
  // rxcnt has BTF (__u32 -> __u64): -j gives each entry "formatted" as numbers
  const r = await guestExecRemote(g.url, ["bpftool", "-j", "map", "dump", "name", "rxcnt"]);
  expect(r.status).toBe(0);
  const out = new Map<number, number>();
  for (const e of JSON.parse(r.stdout) as Array<{ formatted: { key: number; value: number } }>) {
    if (e.formatted.value !== 0) out.set(e.formatted.key, e.formatted.value);
  }
  return out;
}

const sum = (c: Record<string, number>, keys: string[]) => keys.reduce((a, k) => a + c[k]!, 0);
const OFF = ["off_drop", "off_tx", "off_pass", "off_redirect", "off_aborted", "off_unknown"];
const RXP = ["rxp_drop", "rxp_pass", "rxp_tx", "rxp_redirect", "rxp_aborted", "rxp_unknown"];

/** Every stage's conservation on a tap's cumulative counters (all its runs drained). */
function expectConserved(t: TapStats): void {
  const c = t.counters;
  const f = t.fates!;
  expect(f.sent).toBe(f.dropped + f.tx + f.passed + f.errors);
  expect(c.nic!.rx_packets! + c.nic!.rx_missed!).toBe(c.pktgen!.sent);
  // Case 1 frames through the devmap, Case 2 frames through the bridge, then the tun ring.
  expect(c.devmap!.enqueued).toBe(c.nic!.xdp_redirect);
  expect(c.tun_xmit!.tx_packets! + c.tun_xmit!.tx_dropped!).toBe(c.devmap!.enqueued! + c.tun_xmit!.net_xmit!);
  expect(c.tun_recv!.consumed).toBe(c.tun_xmit!.tx_packets);
  // Everything vhost consumed met the offloaded program (attached before any traffic).
  expect(sum(c.tun_xdp!, OFF)).toBe(c.tun_recv!.consumed);
  // What it sent back with XDP_TX went through the tap's Rx path, whose xdp_drop dropped it.
  expect(sum(c.tun_xdp!, RXP)).toBe(c.tun_xdp!.off_tx);
  expect(c.tun_xdp!.rxp_drop).toBe(c.tun_xdp!.off_tx);
  // What it passed was copied into the guest's receive buffers.
  expect(c.vhost_net!.rx_packets).toBe(c.tun_xdp!.off_pass);
  expect(c.vhost_net!.rx_copies).toBe(c.tun_xdp!.off_pass);
}

beforeAll(async () => {
  host = await procs.host();
  const q = await procs.qemu(host.url, "dp1");
  guest = await procs.guest(q.url, "dp1");
}, 60_000);
afterAll(() => procs.stopAll());

describe("vxo host pktgen / stats against a running host", () => {
  it("xdp1 offloaded: Case 1 then Case 2, conservation at every stage, the guest's rxcnt counts what the program saw", async () => {
    // The guest's driver started its data queues at boot: the tap's vhost backend runs.
    const s0 = await stats();
    expect(s0.taps).toHaveLength(1);
    expect(s0.taps[0]!.running).toBe(true);
    expect(host.stderr()).toContain('"event":"vhost_connect"');
    expect((await guestExecRemote(guest.url, ["ip", "link", "set", "dev", "eth0", "xdpoffload", "obj", P("xdp1")])).status).toBe(0);
    const s1 = await stats();
    expect(s1.taps[0]).toMatchObject({ running: true, hook: "recvmsg", offload: "xdp_prog1", rxProg: "xdp_drop" });

    const n = 100_000;
    const r1 = await pktgen(n, 1);
    expect(r1.fates.sent).toBe(n);
    expect(r1.fates.sent).toBe(r1.fates.dropped + r1.fates.tx + r1.fates.passed + r1.fates.errors);
    expect(r1.delta.nic!.xdp_redirect).toBe(n); // NIC-B's native program redirected every packet
    expect(r1.fates.dropped).toBeGreaterThan(0);
    expect(r1.fates.dropped).toBe(r1.xdpPackets); // xdp1 drops everything it sees
    const r2 = await pktgen(n, 2);
    expect(r2.fates.sent).toBe(n);
    expect(r2.delta.bridge!.rx).toBe(r2.delta.nic!.rx_packets); // no NIC program: up the stack to the bridge
    expect(r2.delta.tun_xmit!.net_xmit).toBeGreaterThan(0);
    expect(r2.delta.tun_xmit!.sk_data_ready).toBe(r2.delta.tun_xmit!.tx_packets); // one attempt per packet queued
    expect(r2.fates.dropped).toBe(r2.xdpPackets);

    const s = await stats();
    const t = s.taps[0]!;
    expect(t.counters.pktgen!.sent).toBe(2 * n);
    expectConserved(t);
    // A real vhost thread ran (its loop counts only move on the Worker), in the bundle's host process.
    expect(t.counters.vhost_worker!.loops).toBeGreaterThan(0);
    expect(host.stderr()).toContain('"event":"datapath_start"');
    // Single UDP flow: the map the guest reads counts proto 17 only, exactly the packets the program ran on.
    const m = await rxcnt(guest);
    expect([...m.keys()]).toEqual([17]);
    expect(m.get(17)).toBe(sum(t.counters.tun_xdp!, OFF));
    expect(m.get(17)).toBe(r1.fates.dropped + r2.fates.dropped);
    // Per guest: its one tap's fates.
    expect(s.guests.find((g) => g.guest === "dp1")!.fates).toEqual(t.fates);
  }, 120_000);

  it("xdp2 offloaded: XDP_TX'ed packets are seen and dropped at the tap's Rx path, in both cases", async () => {
    expect((await guestExecRemote(guest.url, ["ip", "-force", "link", "set", "dev", "eth0", "xdpoffload", "obj", P("xdp2")])).status).toBe(0);
    expect((await stats()).taps[0]!.offload).toBe("xdp_prog2");
    for (const kase of [1, 2]) {
      const r = await pktgen(50_000, kase);
      expect(r.fates.sent).toBe(50_000);
      expect(r.fates.tx).toBeGreaterThan(0);
      expect(r.fates.tx).toBe(r.xdpPackets);
      expect(r.delta.tun_xdp!.rxp_drop).toBe(r.fates.tx);
      expect(r.fates.sent).toBe(r.fates.dropped + r.fates.tx + r.fates.passed + r.fates.errors);
    }
    expectConserved((await stats()).taps[0]!);
    const m = await rxcnt(guest);
    expect([...m.keys()]).toEqual([17]);
  }, 120_000);

  it("detach takes the program out of the tap's datapath: traffic then passes to the guest", async () => {
    expect((await guestExecRemote(guest.url, ["ip", "link", "set", "dev", "eth0", "xdpoffload", "off"])).status).toBe(0);
    const r = await pktgen(2000, 1);
    expect(r.offload).toBeNull();
    expect(sum(r.delta.tun_xdp!, OFF)).toBe(0);
    expect(r.fates.passed + r.fates.errors).toBe(2000);
    expect(r.fates.passed).toBeGreaterThan(0);
  }, 60_000);

  it.skipIf(tcpdumpMissing !== null)("vxo host capture writes what tap-rx and nic-rx see; tcpdump -r reads it (xdp2's MAC swap at tap-rx)", async () => {
    expect((await guestExecRemote(guest.url, ["ip", "link", "set", "dev", "eth0", "xdpoffload", "obj", P("xdp2")])).status).toBe(0);
    const dir = mkdtempSync(path.join(tmpdir(), "vxo-dpcap-"));
    const files = { "tap-rx": path.join(dir, "tap_rx.pcap"), "nic-rx": path.join(dir, "nic_rx.pcap") };
    const caps = Object.entries(files).map(([point, file]) => {
      const c = execa("node", [VXO_BIN, "host", "capture", host.url, "--point", point, "--file", file, "--count", "100", "--timeout", "60"],
        { env: procs.env, reject: false, buffer: true });
      const listening = new Promise<void>((resolve) => c.stderr!.on("data", (d: Buffer) => {
        if (d.toString().includes("listening on")) resolve();
      }));
      return { c, listening };
    });
    await Promise.all(caps.map((x) => x.listening));
    await pktgen(1000, 1);
    for (const x of caps) {
      const r = await x.c;
      expect(r.exitCode, String(r.stderr)).toBe(0);
      expect(String(r.stderr)).toContain("100 packets captured");
    }
    const read = (f: string) => execFileSync("tcpdump", ["-nn", "-e", "-r", f], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] })
      .trim().split("\n");
    const nic = read(files["nic-rx"]), tapRx = read(files["tap-rx"]);
    expect(nic).toHaveLength(100);
    expect(tapRx).toHaveLength(100);
    // xdp2 swapped the MAC addresses of what it sent back: tap-rx sees nic-rx's source as destination.
    const macs = (l: string) => /^\S+ (\S+) > (\S+),/.exec(l)!.slice(1, 3);
    const [src, dst] = macs(nic[0]!);
    expect(macs(tapRx[0]!)).toEqual([dst, src]);
    expect(nic[0]).toContain("UDP");
    expect((await guestExecRemote(guest.url, ["ip", "link", "set", "dev", "eth0", "xdpoffload", "off"])).status).toBe(0);
  }, 120_000);

  it("a guest exit stops its tap's datapath (the shim resets the device)", async () => {
    expect((await guestExecRemote(guest.url, ["ip", "link", "set", "dev", "eth0", "xdpoffload", "obj", P("xdp1")])).status).toBe(0);
    expect((await stats()).taps[0]!.running).toBe(true);
    guest.kill("SIGKILL");
    await guest.exited;
    await waitFor("the tap's datapath to stop", async () => ((await stats()).taps[0]!.running ? undefined : true), 20_000);
    expect(host.stderr()).toContain('"event":"datapath_stop"');
  }, 60_000);
});

describe("--xdp-offload-hook net_xmit (the RFC's rejected placement, in the producer)", () => {
  it("same verdicts; the program runs before the tun ring, so vhost consumes nothing of what it dropped", async () => {
    const h = await procs.host(["--xdp-offload-hook", "net_xmit"], "host3");
    const q = await procs.qemu(h.url, "dp3");
    const g = await procs.guest(q.url, "dp3");
    expect((await guestExecRemote(g.url, ["ip", "link", "set", "dev", "eth0", "xdpoffload", "obj", P("xdp1")])).status).toBe(0);
    const r = JSON.parse(await cliOk(["host", "pktgen", h.url, "--dev", "nic0", "--count", "50000", "--case", "2", "--json"])) as PktgenReport;
    expect(r.hook).toBe("net_xmit");
    expect(r.fates.sent).toBe(50_000);
    expect(r.fates.dropped).toBe(50_000 - r.fates.errors);
    expect(r.fates.dropped).toBeGreaterThan(0);
    expect(r.delta.tun_recv!.consumed).toBe(0);
    expect(r.delta.vhost_wakers!.poll_attempts).toBe(0);
    const m0 = await rxcnt(g);
    expect(m0.get(17)).toBe(r.fates.dropped);
    // --warmup: sent first and not counted; the program's own map counts both, the report says how many of its runs were the warm-up's.
    const w = JSON.parse(await cliOk(["host", "pktgen", h.url, "--dev", "nic0", "--count", "30000", "--warmup", "20000", "--case", "2", "--json"])) as PktgenReport;
    expect(w.warmup).toBe(20_000);
    expect(w.fates.sent).toBe(30_000);
    expect(w.fates.dropped + w.fates.tx + w.fates.passed + w.fates.errors).toBe(30_000);
    expect(w.warmupProgramPackets).toBeGreaterThan(0);
    expect(w.warmupProgramPackets).toBeLessThanOrEqual(20_000);
    const m = await rxcnt(g);
    expect(m.get(17)! - m0.get(17)!).toBe(w.warmupProgramPackets + w.fates.dropped);
    const bad = await procs.cli(["host", "--listen", "ws://127.0.0.1:0", "--name", "host4", "--xdp-offload-hook", "ndo_start_xmit"]);
    expect(bad.exitCode).not.toBe(0);
    expect(bad.stderr).toContain("Unknown XDP offload hook 'ndo_start_xmit'");
  }, 120_000);
});

describe("host exit with traffic running", () => {
  it("SIGTERM while pktgen runs: the host exits 0 promptly, the pktgen client fails", async () => {
    const h = await procs.host([], "host2");
    const q = await procs.qemu(h.url, "dp2");
    const g = await procs.guest(q.url, "dp2");
    expect((await guestExecRemote(g.url, ["ip", "link", "set", "dev", "eth0", "xdpoffload", "obj", P("xdp1")])).status).toBe(0);
    const run = execa("node", [VXO_BIN, "host", "pktgen", h.url, "--dev", "nic0", "--count", "2000000000", "--rate", "1000000"],
      { env: procs.env, reject: false, timeout: 60_000 });
    await waitFor("traffic to flow", async () => ((await stats(h.url)).taps[0]!.counters.pktgen?.sent ?? 0) > 0 ? true : undefined, 20_000);
    const t0 = Date.now();
    h.kill("SIGTERM");
    const code = await Promise.race([h.exited, new Promise((r) => setTimeout(() => r("late"), 10_000))]);
    expect(code).toBe(0);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(h.stderr()).toContain('"event":"datapath_stop"');
    const pr = await run;
    expect(pr.exitCode).not.toBe(0);
  }, 60_000);
});
