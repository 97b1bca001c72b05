// shared/net/pcap.ts against libpcap's own tools: files our PcapWriter writes
// are read by the real `tcpdump -r` (packet count, summaries, timestamps,
// snaplen), a file the real tcpdump captured on the loopback of a network
// namespace is read by parsePcap() with the per-protocol counts tcpdump
// reports for it, malformed files are EINVAL with a message, l4ProtoOf()
// agrees with the xdp1 program itself, and the writer's steady state
// allocates nothing (--trace-gc probe).
import { describe, expect, it } from "vitest";
import { execa } from "execa";
import { execFileSync, spawn } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import {
  LINKTYPE_ETHERNET, MAXIMUM_SNAPLEN, PCAP_HDR_LEN, PCAP_MAGIC_NS, PCAP_MAGIC_US, PCAP_REC_HDR_LEN, PcapReplay, PcapWriter,
  PcapStreamParser, l4ProtoOf, parsePcap, pcapStreamRecords, readPcap, readPcapFile, type PcapFile, type PcapPrecision,
} from "../../../shared/net/pcap.ts";
import { buildFrame, testCorpus, type FrameSpec } from "../../../shared/net/packets.ts";
import {
  ETH_P_8021AD, ETH_P_8021Q, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP,
} from "../../../shared/net/headers.ts";
import { EINVAL, EMSGSIZE, KernelError } from "../../../shared/errno.ts";
import { openObject } from "../../../shared/bpf/libbpf/object.ts";
import { loadObject } from "../../../shared/bpf/libbpf/libbpf.ts";
import { BpfKernel } from "../../../shared/bpf/syscall.ts";
import { XdpFrame, runXdp } from "../../../shared/bpf/runtime/xdp.ts";
import { PROGRAMS_DIR } from "../../helpers/repo.ts";
import { ONE_OFF_SCAVENGES, runGcProbe } from "../../helpers/gc_probe.ts";

function which(cmd: string): boolean {
  try {
    execFileSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

const tcpdumpMissing = which("tcpdump") ? null : "tcpdump not found (.ci/run installs it)";
if (tcpdumpMissing !== null) console.warn(`\n*** pcap TESTS AGAINST tcpdump SKIPPED: ${tcpdumpMissing} ***\n`);
const netnsUnavailable = tcpdumpMissing ?? (process.getuid?.() !== 0 ? "not root" : !which("ip") ? "ip not found" : null);
if (netnsUnavailable !== null) console.warn(`\n*** pcap CAPTURE BY REAL tcpdump IN A NETNS SKIPPED: ${netnsUnavailable} ***\n`);

const tmp = (): string => mkdtempSync(path.join(tmpdir(), "vxo-pcap-"));

/** Well-formed frames of every L3/L4 pair xdp1 tells apart, untagged, 802.1Q and QinQ, plus ARP (key 0). */
function mixedFrames(): Uint8Array[] {
  const tags: FrameSpec["vlans"][] = [[], [{ tpid: ETH_P_8021Q, vid: 100 }], [{ tpid: ETH_P_8021AD, vid: 10 }, { tpid: ETH_P_8021Q, vid: 20 }]];
  const out: Uint8Array[] = [];
  let port = 20000;
  for (const vlans of tags) {
    for (const l3 of ["ipv4", "ipv6"] as const) {
      for (const l4 of [IPPROTO_UDP, IPPROTO_TCP, l3 === "ipv4" ? IPPROTO_ICMP : IPPROTO_ICMPV6]) {
        out.push(buildFrame({ l3, l4, vlans, frameLen: 60 + out.length * 7, srcPort: port++, dstPort: 30000 + out.length }));
      }
    }
    out.push(buildFrame({ l3: "arp", vlans, frameLen: 60 }));
  }
  return out;
}

/** Writes `frames` through a PcapWriter (small buffer: several flushes) into a new file; returns it and the timestamps used. */
function writeFile(file: string, frames: Uint8Array[], precision: PcapPrecision, snaplen = MAXIMUM_SNAPLEN) {
  const fd = openSync(file, "w");
  const w = new PcapWriter(fd, { precision, snaplen, bufferSize: 512 });
  const ts: Array<[number, number]> = [];
  // Frames laid out in one "frame memory" at odd offsets, as a datapath hands them over.
  const mem = new Uint8Array(frames.reduce((a, f) => a + f.length + 3, 0));
  let at = 1;
  frames.forEach((f, i) => {
    mem.set(f, at);
    const t: [number, number] = [1_700_000_000 + i, 123_456_789 + i * 1001];
    ts.push(t);
    expect(w.capture(mem, at, f.length, t[0], t[1])).toBe(true);
    at += f.length + 3;
  });
  w.close();
  closeSync(fd);
  return { w, ts };
}

/** `tcpdump -r file -nn` lines (one per packet), with extra arguments. */
async function tcpdumpLines(file: string, extra: string[] = []): Promise<string[]> {
  const r = await execa("tcpdump", ["-r", file, "-nn", ...extra]);
  return r.stdout.split("\n").filter((l) => l.trim() !== "");
}

/**
 * The xdp1 key of one `tcpdump -nn` summary line: what tcpdump decoded last
 * (after any "vlan N, ... ethertype X," prefix) says which L4 protocol it saw.
 */
function protoOfTcpdumpLine(line: string): number {
  if (/: ICMP6[, ]/.test(line)) return IPPROTO_ICMPV6;
  if (/: ICMP /.test(line)) return IPPROTO_ICMP;
  if (/: UDP, /.test(line)) return IPPROTO_UDP;
  if (/: Flags \[/.test(line)) return IPPROTO_TCP;
  return 0;
}

function countsOf(keys: number[]): Record<number, number> {
  const c: Record<number, number> = {};
  for (const k of keys) c[k] = (c[k] ?? 0) + 1;
  return c;
}

function replayCounts(r: PcapReplay): Record<number, number> {
  const pc = r.protoCounts(), c: Record<number, number> = {};
  pc.forEach((n, k) => {
    if (n !== 0) c[k] = n;
  });
  return c;
}

function expectEinval(bytes: Uint8Array, msg: RegExp): void {
  let err: unknown;
  try {
    parsePcap(bytes, "bad.pcap");
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(KernelError);
  expect((err as KernelError).errno).toBe(EINVAL);
  expect((err as KernelError).message).toMatch(msg);
  expect((err as KernelError).message).toMatch(/^pcap: bad\.pcap: /);
}

/** The same savefile with every header field byte-swapped (a big-endian writer's file). */
function toBigEndian(b: Uint8Array): Uint8Array {
  const out = new Uint8Array(b), dv = new DataView(out.buffer), src = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const sw32 = (o: number) => dv.setUint32(o, src.getUint32(o, true), false);
  const sw16 = (o: number) => dv.setUint16(o, src.getUint16(o, true), false);
  [0, 8, 12, 16, 20].forEach(sw32);
  [4, 6].forEach(sw16);
  for (let off = PCAP_HDR_LEN; off < b.length;) {
    const incl = src.getUint32(off + 8, true);
    [0, 4, 8, 12].forEach((k) => sw32(off + k));
    off += PCAP_REC_HDR_LEN + incl;
  }
  return out;
}

describe("pcap writer and reader", () => {
  for (const precision of ["us", "ns"] as const) {
    it(`round trip (${precision}): header fields, bytes, lengths and timestamps back as written, in both byte orders`, () => {
      const dir = tmp(), file = path.join(dir, "rt.pcap");
      const frames = mixedFrames();
      const { w, ts } = writeFile(file, frames, precision, 256);
      expect(w.captured).toBe(frames.length);
      expect(w.dropped).toBe(0);
      expect(w.flushes).toBeGreaterThan(3); // the 512-byte buffer filled several times
      const bytes = readFileSync(file);
      expect(w.bytesWritten).toBe(bytes.length);
      for (const f of [parsePcap(bytes), parsePcap(toBigEndian(bytes))]) {
        expect(f.precision).toBe(precision);
        expect(f.linktype).toBe(LINKTYPE_ETHERNET);
        expect([f.versionMajor, f.versionMinor, f.snaplen]).toEqual([2, 4, 256]);
        expect(f.records.length).toBe(frames.length);
        f.records.forEach((r, i) => {
          expect(Buffer.from(r.data).equals(Buffer.from(frames[i]!))).toBe(true);
          expect(r.len).toBe(frames[i]!.length);
          expect(r.tsSec).toBe(ts[i]![0]);
          expect(r.tsFrac).toBe(precision === "ns" ? ts[i]![1] : Math.floor(ts[i]![1] / 1000));
        });
      }
      expect(parsePcap(toBigEndian(bytes)).littleEndian).toBe(false);
      expect(new DataView(bytes.buffer, bytes.byteOffset).getUint32(0, true)).toBe(precision === "ns" ? PCAP_MAGIC_NS : PCAP_MAGIC_US);
      rmSync(dir, { recursive: true });
    });
  }

  it("a callback sink gets the batches; a failing sink drops and counts, capture() never throws, close() reports EIO", () => {
    const chunks: Uint8Array[] = [];
    const w = new PcapWriter((buf, len) => {
      chunks.push(buf.slice(0, len));
    }, { snaplen: 64, bufferSize: 256 });
    const f = buildFrame({ l3: "ipv4", l4: IPPROTO_UDP, frameLen: 100 });
    for (let i = 0; i < 10; i++) w.capture(f, 0, f.length, 1, i);
    w.close();
    expect(w.captured).toBe(10);
    expect(w.capture(f, 0, f.length, 1, 0)).toBe(false); // after close: dropped, not thrown
    expect(w.dropped).toBe(1);
    const file = parsePcap(Buffer.concat(chunks));
    expect(file.records.map((r) => [r.data.length, r.len])).toEqual(Array(10).fill([64, 100]));

    let calls = 0;
    const bad = new PcapWriter(() => ++calls < 2, { snaplen: 64, bufferSize: 256 });
    for (let i = 0; i < 10; i++) bad.capture(f, 0, f.length, 1, i);
    expect(bad.captured + bad.dropped).toBe(10);
    expect(bad.dropped).toBeGreaterThan(0);
    expect(bad.error?.code).toBe("EIO");
    expect(() => bad.close()).toThrowError(/pcap: writing \d+ bytes failed/);
    // Bad arguments are dropped records, not exceptions.
    const w2 = new PcapWriter(() => true);
    expect(w2.capture(f, 90, 64, 1, 0)).toBe(false);
    expect(w2.capture(f, -1, 10, 1, 0)).toBe(false);
    expect(w2.dropped).toBe(2);
    expect(() => new PcapWriter(1, { snaplen: 0 })).toThrowError(KernelError);
  });

  it("readPcap (the datapath's name) is parsePcap: records are PcapPackets with tsNs", () => {
    const w: Uint8Array[] = [];
    const pw = new PcapWriter((b, n) => {
      w.push(b.slice(0, n));
    }, { precision: "ns" });
    const f = buildFrame({ l3: "ipv4", l4: IPPROTO_UDP, frameLen: 64 });
    pw.capture(f, 0, 64, 1000, 5);
    pw.close();
    const r = readPcap(Buffer.concat(w));
    expect(r.packets[0]!.tsNs).toBe(1000e9 + 5);
    expect(r.packets[0]!.len).toBe(64);
  });
});

describe("streaming", () => {
  const file = (() => {
    const dir = tmp(), f = path.join(dir, "s.pcap");
    const w = PcapWriter.open(f, { snaplen: 128, precision: "ns" });
    mixedFrames().forEach((fr, i) => w.capture(fr, 0, fr.length, 10 + i, i * 3));
    expect(w.capture(mixedFrames()[0]!, 0, 60, 1, 1e9)).toBe(false); // tsNsec out of range: dropped
    w.close();
    return f;
  })();

  it("PcapStreamParser fed in chunks of every size from 1 to 97 bytes gives parsePcap's records", () => {
    const bytes = readFileSync(file), whole = readPcapFile(file);
    expect(whole.records.length).toBe(mixedFrames().length);
    for (let size = 1; size <= 97; size++) {
      const p = new PcapStreamParser();
      const got: Array<[number, number, string]> = [];
      for (let at = 0; at < bytes.length; at += size) {
        for (const r of p.push(bytes.subarray(at, at + size))) got.push([r.tsNs, r.len, Buffer.from(r.data).toString("hex")]);
      }
      p.end();
      expect(got).toEqual(whole.records.map((r) => [r.tsNs, r.len, Buffer.from(r.data).toString("hex")]));
    }
  });

  it("pcapStreamRecords over a read stream; a truncated stream ends in EINVAL; readPcapFile of a missing file is ENOENT", async () => {
    const { createReadStream, writeFileSync } = await import("node:fs");
    let n = 0;
    for await (const r of pcapStreamRecords(createReadStream(file, { highWaterMark: 37 }))) {
      expect(l4ProtoOf(r.data)).toBe(l4ProtoOf(mixedFrames()[n]!));
      n++;
    }
    expect(n).toBe(mixedFrames().length);
    const cut = file + ".cut";
    writeFileSync(cut, readFileSync(file).subarray(0, 130));
    const it = pcapStreamRecords(createReadStream(cut, { highWaterMark: 16 }), "cut.pcap");
    await expect((async () => {
      for await (const _r of it) void _r;
    })()).rejects.toMatchObject({ errno: EINVAL, message: expect.stringMatching(/^pcap: cut\.pcap: truncated packet 2 at offset \d+/) });
    expect(() => readPcapFile(path.join(path.dirname(file), "nope.pcap"))).toThrowError(expect.objectContaining({ code: "ENOENT" }));
  });

  it.skipIf(tcpdumpMissing !== null)("records streamed from a pipe out of the real tcpdump (-r F -w -)", async () => {
    const child = spawn("tcpdump", ["-r", file, "-w", "-"], { stdio: ["ignore", "pipe", "ignore"] });
    const got: number[] = [];
    for await (const r of pcapStreamRecords(child.stdout!, "tcpdump stdout")) got.push(r.len);
    expect(got).toEqual(mixedFrames().map((f) => f.length));
  });
});

describe("malformed files: EINVAL with a message, never another exception", () => {
  const good = (() => {
    const chunks: Uint8Array[] = [];
    const w = new PcapWriter((b, n) => {
      chunks.push(b.slice(0, n));
    }, { snaplen: 200 });
    for (const f of mixedFrames().slice(0, 4)) w.capture(f, 0, f.length, 1, 2);
    w.close();
    return new Uint8Array(Buffer.concat(chunks));
  })();
  const firstRec = PCAP_HDR_LEN;

  it("truncated file header", () => expectEinval(good.subarray(0, 10), /truncated file header: 10 of 24 bytes/));
  it("empty file", () => expectEinval(new Uint8Array(0), /truncated file header: 0 of 24 bytes/));
  it("truncated record header", () => expectEinval(good.subarray(0, firstRec + 9), /truncated record header of packet 1 at offset 24: 9 of 16 bytes/));
  it("truncated record", () => expectEinval(good.subarray(0, good.length - 1), /truncated packet 4 at offset \d+: incl_len \d+, only \d+ bytes left/));
  it("incl_len > snaplen", () => {
    const b = good.slice();
    new DataView(b.buffer).setUint32(firstRec + 8, 201, true);
    expectEinval(b, /packet 1 at offset 24: incl_len 201 is larger than the snaplen 200/);
  });
  it("bad magic", () => {
    const b = good.slice();
    b.set([0xde, 0xad, 0xbe, 0xef]);
    expectEinval(b, /bad magic de ad be ef: not a pcap savefile/);
  });
  it("pcapng is refused by name", () => {
    // A pcapng Section Header Block's first bytes (as `tcpdump --pcapng -w` / dumpcap write).
    const b = new Uint8Array(28);
    new DataView(b.buffer).setUint32(0, 0x0a0d0d0a, true);
    new DataView(b.buffer).setUint32(8, 0x1a2b3c4d, true);
    expectEinval(b, /pcapng file .*not supported/);
  });
  it("unsupported version, zero snaplen, sub-second out of range", () => {
    const v = good.slice();
    new DataView(v.buffer).setUint16(4, 1, true);
    expectEinval(v, /unsupported savefile version 1\.4/);
    const s = good.slice();
    new DataView(s.buffer).setUint32(16, 0, true);
    expectEinval(s, /snaplen 0 in the file header/);
    const t = good.slice();
    new DataView(t.buffer).setUint32(firstRec + 4, 1_000_000, true);
    expectEinval(t, /sub-second timestamp 1000000 out of range for us precision/);
  });
  it("every truncation and 2000 random corruptions: a parse or KernelError(EINVAL), nothing else", () => {
    let ok = 0, einval = 0;
    const check = (b: Uint8Array) => {
      try {
        parsePcap(b);
        ok++;
      } catch (e) {
        expect(e).toBeInstanceOf(KernelError);
        expect((e as KernelError).errno).toBe(EINVAL);
        einval++;
      }
    };
    for (let n = 0; n < good.length; n++) check(good.subarray(0, n));
    let seed = 12345;
    const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
    for (let i = 0; i < 2000; i++) {
      const b = good.slice();
      for (let k = 0; k < 1 + (rnd() % 4); k++) b[rnd() % 64]! ^= 1 << (rnd() % 8);
      check(b);
    }
    expect(ok).toBeGreaterThan(4); // the record boundaries and harmless flips parse
    expect(einval).toBeGreaterThan(good.length - 10);
  });
});

describe("l4ProtoOf and PcapReplay", () => {
  it("l4ProtoOf gives the key the xdp1 program itself counts each corpus frame under (VLAN, QinQ, runts, non-IP)", () => {
    const spec = openObject(readFileSync(path.join(PROGRAMS_DIR, "xdp1.o")), { file: "xdp1.o" });
    const kernel = new BpfKernel();
    const obj = loadObject(kernel, spec);
    const prog = obj.progList[0]!, rxcnt = obj.maps.get("rxcnt")!;
    const f = new XdpFrame(kernel.vm);
    const key = new Uint8Array(4), val = new Uint8Array(8);
    const read = (k: number): bigint => {
      new DataView(key.buffer).setUint32(0, k, true);
      expect(rxcnt.sysLookup(key, val)).toBe(0);
      return new DataView(val.buffer).getBigUint64(0, true);
    };
    const corpus = testCorpus(64);
    const keys = new Set<number>();
    for (const p of corpus) {
      if (p.bytes.length < 1) continue; // no zero-length XDP frames
      const want = l4ProtoOf(p.bytes);
      keys.add(want);
      const before = read(want);
      f.prepare(kernel.vm, p.bytes.length, 1, 0);
      kernel.mem.u8.set(p.bytes, f.dataAddr());
      runXdp(kernel.vm, prog, f);
      expect(read(want), p.name).toBe(before + 1n);
    }
    expect([...keys].sort((a, b) => a - b)).toEqual(expect.arrayContaining([0, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMPV6]));
    // Offset/length form: a frame inside a larger buffer.
    const udp = buildFrame({ l3: "ipv4", l4: IPPROTO_UDP, vlans: [{ tpid: ETH_P_8021Q, vid: 1 }], frameLen: 64 });
    const big = new Uint8Array(200);
    big.set(udp, 50);
    expect(l4ProtoOf(big, 50, 64)).toBe(IPPROTO_UDP);
    expect(l4ProtoOf(big, 50, 14 + 4 + 19)).toBe(0); // IPv4 header cut
  });

  it("next() copies the frames in order into the caller's buffer, loops if asked, refuses a short buffer", () => {
    const frames = mixedFrames();
    const chunks: Uint8Array[] = [];
    const w = new PcapWriter((b, n) => {
      chunks.push(b.slice(0, n));
    }, { snaplen: 100 });
    frames.forEach((f, i) => w.capture(f, 0, f.length, 7, i));
    w.close();
    const file = parsePcap(Buffer.concat(chunks));
    const once = new PcapReplay(file);
    const buf = new Uint8Array(2048);
    expect(once.maxFrameLen).toBe(100);
    for (let i = 0; i < frames.length; i++) {
      const n = once.next(buf, 10);
      const want = Math.min(frames[i]!.length, 100);
      expect(n).toBe(want);
      expect(Buffer.from(buf.subarray(10, 10 + n)).equals(Buffer.from(frames[i]!.subarray(0, want)))).toBe(true);
      expect(once.lastOrigLen).toBe(frames[i]!.length);
    }
    expect(once.next(buf)).toBe(0);
    const looping = new PcapReplay(file, { loop: true });
    for (let i = 0; i < frames.length * 3 + 2; i++) expect(looping.next(buf)).toBeGreaterThan(0);
    expect(looping.loops).toBe(3);
    expect(looping.index).toBe(2);
    expect(looping.next(new Uint8Array(10))).toBe(-EMSGSIZE);
    expect(looping.skipped).toBe(1);
    const counts = replayCounts(once);
    expect(counts).toEqual(countsOf(frames.map((f) => l4ProtoOf(f.subarray(0, 100)))));
    expect(() => new PcapReplay({ ...file, linktype: 113 })).toThrowError(/link type 113 cannot be replayed/);
  });
});

describe.skipIf(tcpdumpMissing !== null)("the real tcpdump reads what PcapWriter writes", () => {
  for (const precision of ["us", "ns"] as const) {
    it(`tcpdump -r (${precision}): one summary per frame, addresses, ports, VLAN tags, timestamps and per-protocol counts as written`, async () => {
      const dir = tmp(), file = path.join(dir, "w.pcap");
      const frames = mixedFrames();
      const { ts } = writeFile(file, frames, precision);
      const lines = await tcpdumpLines(file, ["-tt", `--time-stamp-precision=${precision === "ns" ? "nano" : "micro"}`]);
      expect(lines.length).toBe(frames.length);
      lines.forEach((l, i) => {
        const frac = precision === "ns" ? String(ts[i]![1]).padStart(9, "0") : String(Math.floor(ts[i]![1] / 1000)).padStart(6, "0");
        expect(l.startsWith(`${ts[i]![0]}.${frac} `), l).toBe(true);
      });
      // Summaries: the ports and addresses we wrote, VLAN tags as tcpdump shows them.
      expect(lines[0]).toMatch(/IP 10\.0\.0\.1\.20000 > 10\.0\.0\.2\.30000: UDP, length \d+/);
      expect(lines[1]).toMatch(/IP 10\.0\.0\.1\.20001 > 10\.0\.0\.2\.30001: Flags \[S\]/);
      expect(lines[2]).toMatch(/IP 10\.0\.0\.1 > 10\.0\.0\.2: ICMP echo request/);
      expect(lines[3]).toMatch(/IP6 fd00::1\.20003 > fd00::2\.30003: UDP/);
      expect(lines[5]).toMatch(/IP6 fd00::1 > fd00::2: ICMP6, echo request/);
      expect(lines[6]).toMatch(/ARP/);
      const withLink = await tcpdumpLines(file, ["-e", "-t"]);
      expect(withLink[0]).toMatch(/^02:00:00:00:00:01 > 02:00:00:00:00:02, ethertype IPv4 \(0x0800\), length 60: /);
      expect(withLink[7]).toMatch(/ethertype 802\.1Q \(0x8100\), length \d+: vlan 100, p 0, ethertype IPv4 \(0x0800\), 10\.0\.0\.1\.20006 > 10\.0\.0\.2\.30007: UDP/);
      expect(withLink[14]).toMatch(/ethertype 802\.1Q-QinQ \(0x88a8\), length \d+: vlan 10, p 0, ethertype 802\.1Q \(0x8100\), vlan 20, p 0, ethertype IPv4 \(0x0800\), 10\.0\.0\.1\.20012 > 10\.0\.0\.2\.30014: UDP/);
      // Per protocol: tcpdump's reading of each line, our l4ProtoOf over our reader's records.
      const ours = countsOf(parsePcap(readFileSync(file)).records.map((r) => l4ProtoOf(r.data)));
      expect(countsOf(lines.map(protoOfTcpdumpLine))).toEqual(ours);
      expect(ours).toEqual({ 0: 3, [IPPROTO_UDP]: 6, [IPPROTO_TCP]: 6, [IPPROTO_ICMP]: 3, [IPPROTO_ICMPV6]: 3 });
      rmSync(dir, { recursive: true });
    });
  }

  it("snaplen: incl_len cut to the snaplen, orig_len kept; tcpdump -e shows the wire length and marks the cut", async () => {
    const dir = tmp(), file = path.join(dir, "snap.pcap");
    const frames = [1500, 600, 80].map((n, i) => buildFrame({ l3: "ipv4", l4: IPPROTO_UDP, frameLen: n, srcPort: 40000 + i }));
    writeFile(file, frames, "us", 96);
    const f: PcapFile = parsePcap(readFileSync(file));
    expect(f.snaplen).toBe(96);
    expect(f.records.map((r) => [r.data.length, r.len])).toEqual([[96, 1500], [96, 600], [80, 80]]);
    const lines = await tcpdumpLines(file, ["-e"]);
    expect(lines.length).toBe(3);
    expect(lines[0]).toMatch(/length 1500: /);
    expect(lines[1]).toMatch(/length 600: /);
    expect(lines[2]).toMatch(/length 80: /);
    // The UDP length field (1466) is past what was captured: tcpdump flags the truncation or prints the field.
    expect(lines[0]).toMatch(/10\.0\.0\.1\.40000 > 10\.0\.0\.2\.5678: UDP, (length 1458|bad length)/);
    rmSync(dir, { recursive: true });
  });
});

describe.skipIf(netnsUnavailable !== null)("our reader on a file the real tcpdump captured (loopback of a fresh netns)", () => {
  it("parsePcap + l4ProtoOf give the per-protocol counts tcpdump -r reports; PcapReplay replays them", async () => {
    const ns = `vxo-pcap-${process.pid}`;
    const dir = tmp(), file = path.join(dir, "lo.pcap");
    // Traffic inside the netns from a small node program: UDP over IPv4 and IPv6 to a bound receiver
    // (`udps` each), and to a closed port (`unreach` each), which the kernel answers with ICMP and
    // ICMPv6 port-unreachable errors (not rate-limited on loopback).
    const udps = 5, unreach = 3, total = 2 * udps + 4 * unreach;
    await execa("ip", ["netns", "add", ns]);
    let dump: ReturnType<typeof spawn> | undefined;
    try {
      await execa("ip", ["-n", ns, "link", "set", "lo", "up"]);
      dump = spawn("ip", ["netns", "exec", ns, "tcpdump", "-i", "lo", "-U", "-w", file, "-c", String(total)], { stdio: ["ignore", "ignore", "pipe"] });
      let err = "";
      const exited = new Promise<number | null>((res) => dump!.on("exit", (code) => res(code)));
      await new Promise<void>((res, rej) => {
        const t = setTimeout(() => rej(new Error(`tcpdump did not start listening in 15 s: ${err}`)), 15_000);
        dump!.stderr!.on("data", (d: Buffer) => {
          err += d.toString();
          if (err.includes("listening on lo")) {
            clearTimeout(t);
            res();
          }
        });
        dump!.on("exit", () => rej(new Error(`tcpdump exited: ${err}`)));
      });
      const udp = `const d=require("dgram");let left=${2 * udps};const socks=[];` +
        `const done=()=>{if(--left===0)for(const x of socks)x.close();};` +
        `for(const [fam,addr] of [["udp4","127.0.0.1"],["udp6","::1"]]){` +
        `const r=d.createSocket(fam),s=d.createSocket(fam);socks.push(r,s);r.on("message",done);` +
        `r.bind(41000,addr,()=>{for(let i=0;i<${udps};i++)s.send(Buffer.from("vxo"+i),41000,addr);` +
        `for(let i=0;i<${unreach};i++)s.send(Buffer.from("closed"+i),41001,addr);});}`;
      await execa("ip", ["netns", "exec", ns, process.execPath, "-e", udp], { timeout: 15_000 });
      const code = await Promise.race([exited, new Promise<string>((res) => setTimeout(() => res("timeout"), 15_000))]);
      expect(code, `tcpdump did not stop after ${total} packets: ${err}`).toBe(0);
      dump = undefined;

      const f = parsePcap(readFileSync(file), "lo.pcap");
      expect(f.linktype).toBe(LINKTYPE_ETHERNET);
      expect(f.records.length).toBe(total);
      const lines = await tcpdumpLines(file);
      expect(lines.length).toBe(total);
      const theirs = countsOf(lines.map(protoOfTcpdumpLine));
      const ours = countsOf(f.records.map((r) => l4ProtoOf(r.data)));
      expect(ours).toEqual(theirs);
      expect(ours).toEqual({ [IPPROTO_ICMP]: unreach, [IPPROTO_ICMPV6]: unreach, [IPPROTO_UDP]: 2 * (udps + unreach) });
      // tcpdump's own re-write in nanosecond precision reads the same, timestamps x1000.
      const nsFile = path.join(dir, "lo-ns.pcap");
      await execa("tcpdump", ["-r", file, "--time-stamp-precision=nano", "-w", nsFile]);
      const g = parsePcap(readFileSync(nsFile));
      expect(g.precision).toBe("ns");
      expect(g.records.map((r) => r.tsNs)).toEqual(f.records.map((r) => r.tsNs));
      // Replay: 4 passes over the file give 4x the counts, the frames as captured.
      const replay = new PcapReplay(f, { loop: true });
      const buf = new Uint8Array(replay.maxFrameLen);
      const seen: number[] = [];
      for (let i = 0; i < 4 * total; i++) {
        const n = replay.next(buf);
        seen.push(l4ProtoOf(buf, 0, n));
      }
      expect(countsOf(seen)).toEqual(Object.fromEntries(Object.entries(ours).map(([k, v]) => [k, 4 * v])));
      expect(replayCounts(replay)).toEqual(ours);
    } finally {
      dump?.kill("SIGINT");
      await execa("ip", ["netns", "del", ns], { reject: false });
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe("the capture point allocates nothing", () => {
  it("no scavenge over 2M records (64-byte frames and 1500-byte frames cut to a 128-byte snaplen, ~1000 flushes to /dev/null)", async () => {
    const probe = path.join(path.dirname(new URL(import.meta.url).pathname), "pcap_alloc_probe.ts");
    const { out, scavenges } = await runGcProbe(probe, ["2000000"]);
    expect(out).toMatch(/END captured=2200000 dropped=0 flushes=\d+/);
    expect(scavenges).toBeLessThanOrEqual(ONE_OFF_SCAVENGES);
  }, 120_000);
});

