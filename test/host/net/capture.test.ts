// Capture points and pcap replay of the host datapath, checked with tcpdump:
// every capture file reads back with `tcpdump -r`, the tap's Rx-path capture
// shows xdp2's MAC swap, and a pcap replayed by pktgen through the offloaded
// xdp1 gives per-protocol map counts equal to what tcpdump counts in it.
import { describe, expect, it } from "vitest";
import { execa } from "execa";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { HostDatapath, runDatapath } from "../../../host/net/datapath.ts";
import { buildFrame } from "../../../shared/net/packets.ts";
import { IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP } from "../../../shared/net/headers.ts";
import { writePcapFile } from "../../helpers/pcap_file.ts";
import { PROGRAMS_DIR } from "../../helpers/repo.ts";

let tcpdumpMissing: string | null = null;
try {
  execFileSync("tcpdump", ["--version"], { stdio: "ignore" });
} catch {
  tcpdumpMissing = "tcpdump not found";
  console.warn("capture tests SKIPPED: tcpdump not found (.ci/run installs it)");
}

/** Lines tcpdump prints for `file` with `filter` (one per packet). */
async function tcpdumpCount(file: string, filter: string[] = []): Promise<number> {
  const r = await execa("tcpdump", ["-r", file, "-nn", ...filter]);
  return r.stdout.split("\n").filter((l) => l.trim() !== "").length;
}

const writePcap = writePcapFile;

describe.skipIf(tcpdumpMissing !== null)("pcap capture points and replay", () => {
  it("each capture point writes a pcap tcpdump reads; tap rx shows xdp2's MAC swap", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "vxo-cap-"));
    const d = await HostDatapath.start({
      programsDir: PROGRAMS_DIR, nicProg: null, offloadProg: "xdp2.o", rxProg: "xdp_drop.o", count: 0, captureDir: dir, flows: 4,
    });
    try {
      await d.pktgen(300);
      await d.drain();
    } finally {
      await d.stop();
    }
    const c = d.counters();
    expect(c.tun_xdp!.off_tx).toBe(300);
    expect(await tcpdumpCount(path.join(dir, "nic_rx.pcap"))).toBe(300);
    expect(await tcpdumpCount(path.join(dir, "tap_tx.pcap"))).toBe(300);
    expect(await tcpdumpCount(path.join(dir, "tap_rx.pcap"))).toBe(300);
    expect(await tcpdumpCount(path.join(dir, "guest_rx.pcap"))).toBe(0);
    expect(await tcpdumpCount(path.join(dir, "nic_rx.pcap"), ["udp src port 10"])).toBe(75);
    const first = async (f: string) => (await execa("tcpdump", ["-r", path.join(dir, f), "-nn", "-e", "-c", "1"])).stdout;
    const macs = (line: string) => /([0-9a-f:]{17}) > ([0-9a-f:]{17})/.exec(line)!.slice(1, 3);
    const [s0, d0] = macs(await first("nic_rx.pcap"));
    expect(macs(await first("tap_rx.pcap"))).toEqual([d0, s0]);
  }, 120_000);

  it("a replayed pcap gives the per-protocol counts tcpdump reports for the file (xdp1's map)", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "vxo-replay-"));
    const file = path.join(dir, "mix.pcap");
    const pkts: Uint8Array[] = [];
    const add = (n: number, f: () => Uint8Array) => { for (let i = 0; i < n; i++) pkts.push(f()); };
    add(7, () => buildFrame({ l3: "ipv4", l4: IPPROTO_UDP, frameLen: 64 }).subarray(0, 64));
    add(5, () => buildFrame({ l3: "ipv4", l4: IPPROTO_TCP, frameLen: 80 }).subarray(0, 80));
    add(3, () => buildFrame({ l3: "ipv4", l4: IPPROTO_ICMP, frameLen: 98 }).subarray(0, 98));
    add(4, () => buildFrame({ l3: "ipv6", l4: IPPROTO_UDP, frameLen: 90 }).subarray(0, 90));
    add(2, () => buildFrame({ l3: "arp", frameLen: 60 }).subarray(0, 60));
    // interleave
    pkts.sort((a, b) => (a.length * 7919) % 13 - (b.length * 7919) % 13);
    writePcap(file, pkts);
    const r = await runDatapath({
      programsDir: PROGRAMS_DIR, nicProg: null, offloadProg: "xdp1.o", rxProg: null, count: pkts.length * 10, pcap: file,
    });
    const udp = await tcpdumpCount(file, ["udp"]), tcp = await tcpdumpCount(file, ["tcp"]);
    const icmp = await tcpdumpCount(file, ["icmp"]), ip = await tcpdumpCount(file, ["ip or ip6"]);
    const all = await tcpdumpCount(file);
    expect(r.rxcnt).toEqual(new Map([[IPPROTO_UDP, 10 * udp], [IPPROTO_TCP, 10 * tcp], [IPPROTO_ICMP, 10 * icmp], [0, 10 * (all - ip)]]));
  }, 120_000);
});
