// A learning bridge between the NIC and the tap (net/bridge: br_handle_frame
// -> br_fdb_update (learning) -> br_forward / br_flood -> dev_queue_xmit ->
// the port's ndo_start_xmit, tun_net_xmit() for the tap). The forwarding
// database maps a source MAC (48 bits kept as a number) to the port it was
// seen on; unknown unicast, multicast and broadcast destinations are flooded
// to every other port. Flooding to more than one port needs a copy of the
// frame per extra port (the skb clone whose data tun would then have to
// copy): made and counted here.
import type { BpfMemory } from "../../shared/bpf/runtime/memory.ts";
import { StatBlock } from "../../shared/sched/stats.ts";
import type { PagePool } from "./page_pool.ts";
import type { NetifReceive } from "./nic.ts";

/** A bridge port: its device's ifindex and transmit function (ndo_start_xmit). */
export interface BridgePort {
  readonly ifindex: number;
  /** Takes the frame (sends or drops and returns it). */
  ndoStartXmit(h: number): number;
}

export const BRIDGE_STATS = ["rx", "forwarded", "flooded", "dropped", "learned", "copies"] as const;
const B_RX = 0, B_FWD = 1, B_FLOOD = 2, B_DROP = 3, B_LEARNED = 4, B_COPIES = 5;

export class Bridge implements NetifReceive {
  readonly stats: StatBlock;
  readonly #ports: BridgePort[];
  readonly #fdb: Map<number, number>;
  readonly #mem: BpfMemory;
  readonly #pool: PagePool;

  constructor(mem: BpfMemory, statsAddr: number, pool: PagePool) {
    this.stats = StatBlock.at(mem, statsAddr, BRIDGE_STATS);
    this.#ports = [];
    this.#fdb = new Map();
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
    const src = mac(u8, d + 6);
    // Learning ignores multicast sources (br_fdb_update only learns valid unicast ones).
    if (inPort >= 0 && (u8[d + 6]! & 1) === 0 && this.#fdb.get(src) !== inPort) {
      this.#fdb.set(src, inPort);
      s[B_LEARNED]++;
    }
    const dst = (u8[d]! & 1) === 0 ? this.#fdb.get(mac(u8, d)) : undefined;
    if (dst !== undefined) {
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

/** The 6 bytes at `off` as one number (48 bits fit a double exactly). */
function mac(u8: Uint8Array, off: number): number {
  return (u8[off]! * 0x10000 + (u8[off + 1]! << 8 | u8[off + 2]!)) * 0x1000000 + (u8[off + 3]! << 16 | u8[off + 4]! << 8 | u8[off + 5]!);
}
