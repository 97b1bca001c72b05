// A learning bridge between the NIC and the tap (net/bridge: br_handle_frame
// -> br_fdb_update (learning) -> br_forward / br_flood -> dev_queue_xmit ->
// the port's ndo_start_xmit, tun_net_xmit() for the tap). The forwarding
// database maps a source MAC to the port it was seen on (an open-addressing
// table on typed arrays, so that neither lookups nor learning allocate); unknown unicast, multicast and broadcast destinations are flooded
// to every other port. Flooding to more than one port needs a copy of the
// frame per extra port (the skb clone whose data tun would then have to
// copy): made and counted here.
import type { BpfMemory } from "../../shared/bpf/runtime/memory.ts";
import { StatBlock } from "../../shared/sched/stats.ts";
import type { PagePool } from "../../shared/net/page_pool.ts";
import type { NetifReceive } from "./nic.ts";

/** A bridge port: its device's ifindex and transmit function (ndo_start_xmit). */
export interface BridgePort {
  readonly ifindex: number;
  /** Takes the frame (sends or drops and returns it). */
  ndoStartXmit(h: number): number;
}

export const BRIDGE_STATS = ["rx", "forwarded", "flooded", "dropped", "learned", "copies", "fdb_full"] as const;
const B_RX = 0, B_FWD = 1, B_FLOOD = 2, B_DROP = 3, B_LEARNED = 4, B_COPIES = 5, B_FDB_FULL = 6;

/** FDB slots (a power of two); learning stops when 3/4 full (the kernel's fdb_max_learned, bounded). */
export const BR_FDB_SLOTS = 4096;

/** The forwarding database: MAC (16 high bits, 32 low bits) -> port index. */
class Fdb {
  readonly #hi: Uint32Array;
  readonly #lo: Uint32Array;
  readonly #port: Int32Array;
  readonly #mask: number;
  count: number;
  constructor(slots: number) {
    this.#hi = new Uint32Array(slots);
    this.#lo = new Uint32Array(slots);
    this.#port = new Int32Array(slots).fill(-1);
    this.#mask = slots - 1;
    this.count = 0;
  }
  #slot(hi: number, lo: number): number {
    let i = (Math.imul(lo ^ Math.imul(hi, 0x9e3779b1), 0x85ebca6b) >>> 20) & this.#mask;
    while (this.#port[i] !== -1 && (this.#hi[i] !== hi || this.#lo[i] !== lo)) i = (i + 1) & this.#mask;
    return i;
  }
  /** Port of the MAC, -1 when unknown. */
  get(hi: number, lo: number): number {
    return this.#port[this.#slot(hi, lo)]!;
  }
  /** Learns or moves the MAC; returns 1 when it changed, 0 when already so, -1 when the table is full. */
  set(hi: number, lo: number, port: number): number {
    const i = this.#slot(hi, lo);
    if (this.#port[i] === port) return 0;
    if (this.#port[i] === -1) {
      if (this.count >= ((this.#mask + 1) * 3) >> 2) return -1;
      this.count++;
      this.#hi[i] = hi;
      this.#lo[i] = lo;
    }
    this.#port[i] = port;
    return 1;
  }
}

export class Bridge implements NetifReceive {
  readonly stats: StatBlock;
  readonly #ports: BridgePort[];
  readonly #fdb: Fdb;
  readonly #mem: BpfMemory;
  readonly #pool: PagePool;

  constructor(mem: BpfMemory, statsAddr: number, pool: PagePool) {
    this.stats = StatBlock.at(mem, statsAddr, BRIDGE_STATS);
    this.#ports = [];
    this.#fdb = new Fdb(BR_FDB_SLOTS);
    this.#mem = mem;
    this.#pool = pool;
  }

  static initStats(mem: BpfMemory): number {
    return StatBlock.init(mem, BRIDGE_STATS).addr;
  }

  /** brctl addif. */
  addPort(p: BridgePort): void {
    this.#ports.push(p);
  }

  /** The rx handler of every port: learn, then forward or flood. @see br_handle_frame() */
  netifReceiveSkb(h: number, ifindex: number): void {
    const s = this.stats.v, u8 = this.#mem.u8, d = this.#pool.dataOf(h);
    s[B_RX]++;
    let inPort = -1;
    for (let i = 0; i < this.#ports.length; i++) if (this.#ports[i]!.ifindex === ifindex) inPort = i;
    // Learning ignores multicast sources (br_fdb_update only learns valid unicast ones).
    if (inPort >= 0 && (u8[d + 6]! & 1) === 0) {
      const r = this.#fdb.set(macHi(u8, d + 6), macLo(u8, d + 6), inPort);
      if (r > 0) s[B_LEARNED]++;
      else if (r < 0) s[B_FDB_FULL]++;
    }
    const dst = (u8[d]! & 1) === 0 ? this.#fdb.get(macHi(u8, d), macLo(u8, d)) : -1;
    if (dst >= 0) {
      if (dst === inPort) {
        s[B_DROP]++;
        this.#pool.recycleDirect(h);
        return;
      }
      s[B_FWD]++;
      this.#ports[dst]!.ndoStartXmit(h);
      return;
    }
    this.#flood(h, inPort);
  }

  /** @see br_flood() */
  #flood(h: number, inPort: number): void {
    const s = this.stats.v, ports = this.#ports, pool = this.#pool;
    let first = -1;
    for (let i = 0; i < ports.length; i++) {
      if (i === inPort) continue;
      if (first < 0) {
        first = i;
        continue;
      }
      // Every extra port gets its own copy.
      const c = pool.alloc();
      if (c === 0) {
        s[B_DROP]++;
        continue;
      }
      const dv = this.#mem.dv, ctx = pool.ctxOf(h);
      const data = dv.getUint32(ctx, true), len = dv.getUint32(ctx + 4, true) - data;
      this.#mem.u8.copyWithin(pool.dataOf(c), data, data + len);
      pool.prepare(dv, c, len, dv.getUint32(ctx + 12, true), 0);
      s[B_COPIES]++;
      s[B_FLOOD]++;
      ports[i]!.ndoStartXmit(c);
    }
    if (first < 0) {
      s[B_DROP]++;
      pool.recycleDirect(h);
      return;
    }
    s[B_FLOOD]++;
    ports[first]!.ndoStartXmit(h);
  }
}

/** The first two bytes of the MAC at `off`. */
function macHi(u8: Uint8Array, off: number): number {
  return u8[off]! << 8 | u8[off + 1]!;
}

/** The last four bytes of the MAC at `off`, as a u32. */
function macLo(u8: Uint8Array, off: number): number {
  return (u8[off + 2]! << 24 | u8[off + 3]! << 16 | u8[off + 4]! << 8 | u8[off + 5]!) >>> 0;
}
