// Test traffic: builds Ethernet frames (optionally 802.1Q / QinQ tagged)
// carrying IPv4 or IPv6 with UDP, TCP or ICMP, and a deterministic corpus of
// valid, edge-case and malformed frames for differential runs (in the spirit
// of the kernel's pktgen and the selftests' packet builders).
import {
  ETH_P_8021AD, ETH_P_8021Q, ETH_P_ARP, ETH_P_IP, ETH_P_IPV6, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP,
  IPPROTO_GRE,
} from "./headers.ts";
import { csumFold, csumPartial } from "./checksum.ts";

export interface FrameSpec {
  dstMac?: readonly number[];
  srcMac?: readonly number[];
  /** VLAN tags outermost first; QinQ = [outer (802.1ad), inner (802.1Q)]. */
  vlans?: ReadonlyArray<{ tpid: number; vid: number }>;
  l3: "ipv4" | "ipv6" | "arp" | "raw";
  l4?: number; // IP protocol number
  srcIp?: readonly number[];
  dstIp?: readonly number[];
  srcPort?: number;
  dstPort?: number;
  /** Total frame length (without FCS); payload is filled to reach it. */
  frameLen: number;
  /** Raw ethertype when l3 = "raw". */
  ethertype?: number;
  payloadSeed?: number;
}

/** Builds one frame. Lengths shorter than the headers truncate them (runts). */
export function buildFrame(s: FrameSpec): Uint8Array {
  const full = new Uint8Array(Math.max(s.frameLen, 128 + (s.vlans?.length ?? 0) * 4));
  const dv = new DataView(full.buffer);
  full.set(s.dstMac ?? [0x02, 0x00, 0x00, 0x00, 0x00, 0x02], 0);
  full.set(s.srcMac ?? [0x02, 0x00, 0x00, 0x00, 0x00, 0x01], 6);
  let o = 12;
  for (const v of s.vlans ?? []) {
    dv.setUint16(o, v.tpid);
    dv.setUint16(o + 2, v.vid & 0x0fff);
    o += 4;
  }
  const ethertype = s.l3 === "ipv4" ? ETH_P_IP : s.l3 === "ipv6" ? ETH_P_IPV6 : s.l3 === "arp" ? ETH_P_ARP : (s.ethertype ?? 0x88b5);
  dv.setUint16(o, ethertype);
  o += 2;
  const l3Off = o;
  const total = Math.max(s.frameLen, 0);
  let seed = (s.payloadSeed ?? 1) >>> 0;
  for (let i = l3Off; i < full.length; i++) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    full[i] = seed >>> 24;
  }
  const proto = s.l4 ?? IPPROTO_UDP;
  let l4Off = -1;
  let l4Len = 0;
  if (s.l3 === "ipv4") {
    const ipLen = Math.max(total - l3Off, 20);
    full[o] = 0x45;
    full[o + 1] = 0;
    dv.setUint16(o + 2, ipLen);
    dv.setUint16(o + 4, 0x1234);
    dv.setUint16(o + 6, 0x4000);
    full[o + 8] = 64;
    full[o + 9] = proto;
    dv.setUint16(o + 10, 0);
    full.set(s.srcIp ?? [10, 0, 0, 1], o + 12);
    full.set(s.dstIp ?? [10, 0, 0, 2], o + 16);
    dv.setUint16(o + 10, csumFold(csumPartial(full, o, 20)));
    l4Off = o + 20;
    l4Len = ipLen - 20;
  } else if (s.l3 === "ipv6") {
    const payLen = Math.max(total - l3Off - 40, 0);
    dv.setUint32(o, 0x60000000);
    dv.setUint16(o + 4, payLen);
    full[o + 6] = proto;
    full[o + 7] = 64;
    full.set(s.srcIp ?? [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], o + 8);
    full.set(s.dstIp ?? [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2], o + 24);
    l4Off = o + 40;
    l4Len = payLen;
  } else if (s.l3 === "arp") {
    dv.setUint16(o, 1);
    dv.setUint16(o + 2, ETH_P_IP);
    full[o + 4] = 6;
    full[o + 5] = 4;
    dv.setUint16(o + 6, 1);
  }
  if (l4Off >= 0) {
    if (proto === IPPROTO_UDP) {
      dv.setUint16(l4Off, s.srcPort ?? 1234);
      dv.setUint16(l4Off + 2, s.dstPort ?? 5678);
      dv.setUint16(l4Off + 4, Math.max(l4Len, 8));
      dv.setUint16(l4Off + 6, 0);
    } else if (proto === IPPROTO_TCP) {
      dv.setUint16(l4Off, s.srcPort ?? 40000);
      dv.setUint16(l4Off + 2, s.dstPort ?? 80);
      dv.setUint32(l4Off + 4, 1);
      dv.setUint32(l4Off + 8, 0);
      full[l4Off + 12] = 0x50;
      full[l4Off + 13] = 0x02; // SYN
      dv.setUint16(l4Off + 14, 65535);
      dv.setUint16(l4Off + 16, 0);
      dv.setUint16(l4Off + 18, 0);
    } else if (proto === IPPROTO_ICMP || proto === IPPROTO_ICMPV6) {
      full[l4Off] = proto === IPPROTO_ICMP ? 8 : 128;
      full[l4Off + 1] = 0;
    }
  }
  return full.slice(0, total);
}

/** A named test packet. */
export interface TestPacket {
  name: string;
  bytes: Uint8Array;
}

/**
 * The differential corpus: every L3/L4 combination untagged, 802.1Q and QinQ,
 * minimum and 1500-byte sizes, runts from 0 to 59 bytes, headers cut short,
 * non-IP ethertypes, plus `randomCount` seeded random mutations.
 */
export function testCorpus(randomCount = 16, seed = 7): TestPacket[] {
  const out: TestPacket[] = [];
  const tagSets: Array<[string, FrameSpec["vlans"]]> = [
    ["", []],
    ["vlan-", [{ tpid: ETH_P_8021Q, vid: 100 }]],
    ["qinq-", [{ tpid: ETH_P_8021AD, vid: 10 }, { tpid: ETH_P_8021Q, vid: 20 }]],
  ];
  const l4s: Array<[string, number]> = [["udp", IPPROTO_UDP], ["tcp", IPPROTO_TCP], ["icmp", 0], ["gre", IPPROTO_GRE]];
  for (const [tagName, vlans] of tagSets) {
    for (const l3 of ["ipv4", "ipv6"] as const) {
      for (const [l4Name, l4v] of l4s) {
        const l4 = l4v === 0 ? (l3 === "ipv4" ? IPPROTO_ICMP : IPPROTO_ICMPV6) : l4v;
        for (const len of [64, 1500]) {
          out.push({ name: `${tagName}${l3}-${l4Name}-${len}`, bytes: buildFrame({ l3, l4, vlans, frameLen: len, payloadSeed: len + l4 }) });
        }
      }
    }
    out.push({ name: `${tagName}arp-60`, bytes: buildFrame({ l3: "arp", vlans, frameLen: 60 }) });
  }
  // Runts and truncated headers: every parser bounds check gets exercised.
  for (const len of [0, 1, 13, 14, 15, 17, 18, 20, 33, 34, 41, 53, 54, 59]) {
    out.push({ name: `runt-ipv4-udp-${len}`, bytes: buildFrame({ l3: "ipv4", l4: IPPROTO_UDP, frameLen: len }) });
  }
  for (const len of [16, 18, 21, 22, 38, 54, 61, 62]) {
    out.push({ name: `runt-ipv6-tcp-${len}`, bytes: buildFrame({ l3: "ipv6", l4: IPPROTO_TCP, frameLen: len }) });
  }
  for (const len of [16, 17, 18, 21, 22]) {
    out.push({ name: `runt-qinq-ipv4-${len}`, bytes: buildFrame({ l3: "ipv4", vlans: tagSets[2]![1], frameLen: len }) });
  }
  out.push({ name: "raw-ethertype-60", bytes: buildFrame({ l3: "raw", ethertype: 0x88b5, frameLen: 60 }) });
  out.push({ name: "ipv4-udp-3520", bytes: buildFrame({ l3: "ipv4", l4: IPPROTO_UDP, frameLen: 3520 }) });
  // Seeded random mutations of valid frames (bit flips in headers, random lengths).
  let r = seed >>> 0;
  const rnd = () => {
    r = (Math.imul(r ^ (r >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0;
    return r;
  };
  const bases = out.filter((p) => p.bytes.length >= 64 && p.bytes.length <= 1500);
  for (let i = 0; i < randomCount; i++) {
    const b = bases[rnd() % bases.length]!;
    const len = 14 + (rnd() % (b.bytes.length - 13));
    const bytes = b.bytes.slice(0, len);
    const flips = 1 + (rnd() % 4);
    for (let k = 0; k < flips; k++) {
      const at = rnd() % Math.min(len, 64);
      bytes[at] = bytes[at]! ^ (1 << (rnd() % 8));
    }
    out.push({ name: `mut${i}-${b.name}-${len}`, bytes });
  }
  return out;
}
