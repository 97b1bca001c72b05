// The traffic generator and the wire (net/core/pktgen.c on NIC-A, 10G wire to
// NIC-B): packet templates built once into the (shared) BPF memory, either
// `flows` UDP-over-IPv4 packets of `size` bytes (one source port per flow) or
// the packets of a pcap file (replay, in file order), sent round robin into
// NIC-B's receive side. An optional rate spaces departures as
// pktgen's `delay` does: the generator spins until the next departure time
// (its own real behaviour, not an imitated cost). A line rate caps the rate
// at what the wire carries (10G: 14.88 Mpps at 64 bytes: 20 bytes of
// preamble and inter-frame gap per frame).
import type { BpfMemory } from "../../shared/bpf/runtime/memory.ts";
import { buildFrame } from "../../shared/net/packets.ts";
import { IPPROTO_UDP } from "../../shared/net/headers.ts";
import { ENOMEM, EINVAL, KernelError } from "../../shared/errno.ts";
import { XDP_MAX_DATA_SZ } from "../../shared/bpf/runtime/xdp.ts";
import type { PcapPacket } from "../../shared/net/pcap.ts";
import { StatBlock } from "../../shared/sched/stats.ts";
import { REAL_CLOCK, type Clock } from "../../shared/sched/sched.ts";
import type { Nic } from "./nic.ts";

export const PKTGEN_STATS = ["sent", "missed_at_nic"] as const;
const P_SENT = 0, P_MISSED = 1;

/** Wire overhead per frame: preamble + SFD (8) + inter-frame gap (12) + FCS (4) not in `size`. */
export const WIRE_OVERHEAD_BYTES = 24;

export interface PktgenConfig {
  /** Frame size without FCS (pktgen's pkt_size), >= 60. */
  size: number;
  flows: number;
  /** Packets per second, 0 for as fast as possible. */
  ratePps: number;
  /** Line rate in bits per second, 0 for none. */
  lineBps: number;
}

export interface PktgenShared {
  /** Table of (address, length) u32 pairs, one per template. */
  table: number;
  count: number;
  stats: number;
}

/** Copies `pkts` into `mem` as templates (setup time, owner thread). Throws KernelError. */
function templatesInit(mem: BpfMemory, pkts: readonly Uint8Array[]): PktgenShared {
  if (pkts.length === 0) throw new KernelError(EINVAL, "pktgen: no packets to send");
  let bytes = 0;
  for (const p of pkts) {
    if (p.length < 14 || p.length > XDP_MAX_DATA_SZ) throw new KernelError(EINVAL, `pktgen: packet of ${p.length} bytes out of 14..${XDP_MAX_DATA_SZ}`);
    bytes += (p.length + 63) & ~63;
  }
  const table = mem.alloc(8 * pkts.length, 64), data = mem.alloc(bytes, 64);
  if (table === 0 || data === 0) throw new KernelError(ENOMEM, "pktgen: no memory for templates");
  const u32 = new Uint32Array(mem.memory.buffer);
  let at = data;
  for (let i = 0; i < pkts.length; i++) {
    mem.u8.set(pkts[i]!, at);
    u32[(table >> 2) + 2 * i] = at;
    u32[(table >> 2) + 2 * i + 1] = pkts[i]!.length;
    at += (pkts[i]!.length + 63) & ~63;
  }
  return { table, count: pkts.length, stats: StatBlock.init(mem, PKTGEN_STATS).addr };
}

/** `flows` UDP/IPv4 templates of `size` bytes (setup time, owner thread). */
export function pktgenInit(mem: BpfMemory, size: number, flows: number): PktgenShared {
  if (!Number.isInteger(size) || size < 60 || size > 1514) throw new KernelError(EINVAL, `pktgen: size ${size} out of 60..1514`);
  if (!Number.isInteger(flows) || flows < 1 || flows > 65535) throw new KernelError(EINVAL, `pktgen: flows ${flows} out of 1..65535`);
  const pkts: Uint8Array[] = [];
  for (let f = 0; f < flows; f++) pkts.push(buildFrame({ l3: "ipv4", l4: IPPROTO_UDP, frameLen: size, srcPort: 9 + f }).subarray(0, size));
  return templatesInit(mem, pkts);
}

/** The packets of a pcap file as templates, replayed in file order (the captured bytes of each). */
export function pktgenInitPcap(mem: BpfMemory, packets: readonly PcapPacket[]): PktgenShared {
  return templatesInit(mem, packets.map((p) => p.data));
}

export class Pktgen {
  readonly stats: StatBlock;
  readonly #sh: PktgenShared;
  readonly #u32: Uint32Array;
  readonly #clock: Clock;
  #flow: number;
  /** Nanoseconds between departures (0: back to back). */
  readonly #gapNs: number;
  #nextNs: number;

  constructor(mem: BpfMemory, sh: PktgenShared, cfg: PktgenConfig, clock: Clock = REAL_CLOCK) {
    this.stats = StatBlock.at(mem, sh.stats, PKTGEN_STATS);
    this.#sh = sh;
    this.#u32 = new Uint32Array(mem.memory.buffer);
    this.#clock = clock;
    this.#flow = 0;
    const rateGap = cfg.ratePps > 0 ? 1e9 / cfg.ratePps : 0;
    const lineGap = cfg.lineBps > 0 ? ((cfg.size + WIRE_OVERHEAD_BYTES) * 8 * 1e9) / cfg.lineBps : 0;
    this.#gapNs = Math.max(rateGap, lineGap);
    this.#nextNs = 0;
  }

  /**
   * Sends into `nic` up to `n` packets whose departure time has come, waiting (spinning) for the
   * first one if none has. Back to back without a rate. Returns how many it sent (>= 1 when n >= 1).
   */
  xmit(nic: Nic, n: number): number {
    const s = this.stats.v, sh = this.#sh, u32 = this.#u32, tw = sh.table >> 2;
    let sent = 0;
    if (this.#gapNs > 0 && n > 0) {
      const clock = this.#clock;
      let now = clock.nowNs();
      if (this.#nextNs === 0) this.#nextNs = now;
      while (now < this.#nextNs) now = clock.nowNs();
      // Everything due by now goes out in this burst (the NIC polls after it).
      let due = 1 + Math.floor((now - this.#nextNs) / this.#gapNs);
      if (due > n) due = n;
      this.#nextNs += due * this.#gapNs;
      n = due;
    }
    let missed = 0, flow = this.#flow;
    const count = sh.count;
    for (; sent < n; sent++) {
      const t = tw + 2 * flow;
      if (nic.wireReceive(u32[t]!, u32[t + 1]!) !== 0) missed++;
      if (++flow === count) flow = 0;
    }
    this.#flow = flow;
    // The burst's descriptors become visible to the poll, its counters to readers.
    nic.wireFlush();
    s[P_SENT] += sent;
    s[P_MISSED] += missed;
    return sent;
  }
}
