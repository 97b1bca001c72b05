// The learning bridge of Case 2 (host/net/bridge.ts, net/bridge's
// br_handle_frame/br_fdb_update/br_flood): learning from source MACs,
// forwarding to a learned port, flooding to every other port with one counted
// copy per extra port, and no frame lost or leaked.
import { describe, expect, it } from "vitest";
import { BpfMemory } from "../../../shared/bpf/runtime/memory.ts";
import { buildFrame } from "../../../shared/net/packets.ts";
import { IPPROTO_UDP } from "../../../shared/net/headers.ts";
import { PagePool } from "../../../shared/net/page_pool.ts";
import { Bridge, type BridgePort } from "../../../host/net/bridge.ts";

class Port implements BridgePort {
  readonly got: number[] = [];
  readonly ifindex: number;
  readonly pool: PagePool;
  constructor(ifindex: number, pool: PagePool) {
    this.ifindex = ifindex;
    this.pool = pool;
  }
  ndoStartXmit(h: number): number {
    this.got.push(h);
    this.pool.recycleDirect(h);
    return 0;
  }
}

const A = [2, 0, 0, 0, 0, 0xa], B = [2, 0, 0, 0, 0, 0xb], C = [2, 0, 0, 0, 0, 0xc];

describe("learning bridge", () => {
  it("floods unknown destinations (one copy per extra port), learns sources, then forwards", () => {
    const mem = BpfMemory.create();
    const pool = PagePool.create(mem, 64);
    const br = new Bridge(mem, Bridge.initStats(mem), pool);
    const p1 = new Port(1, pool), p2 = new Port(2, pool), p3 = new Port(3, pool);
    br.addPort(p1);
    br.addPort(p2);
    br.addPort(p3);
    const send = (src: number[], dst: number[], inIfindex: number) => {
      const pkt = buildFrame({ l3: "ipv4", l4: IPPROTO_UDP, frameLen: 64, srcMac: src, dstMac: dst });
      const h = pool.alloc();
      pool.prepare(mem.dv, h, 64, inIfindex, 0);
      mem.u8.set(pkt.subarray(0, 64), pool.dataOf(h));
      br.netifReceiveSkb(h, inIfindex);
    };
    send(A, B, 1); // B unknown: flood to ports 2 and 3 (one copy); A learned on port 1
    expect([p1.got.length, p2.got.length, p3.got.length]).toEqual([0, 1, 1]);
    expect(br.stats.read()).toMatchObject({ rx: 1, flooded: 2, copies: 1, learned: 1, forwarded: 0 });
    send(B, A, 2); // A known on port 1: forwarded; B learned on port 2
    expect([p1.got.length, p2.got.length, p3.got.length]).toEqual([1, 1, 1]);
    send(C, B, 3); // B known on port 2
    expect(p2.got.length).toBe(2);
    send(C, B, 2); // C moves to port 2; B's port is the ingress: dropped
    expect(br.stats.read()).toMatchObject({ rx: 4, forwarded: 2, dropped: 1, learned: 4 });
    send(A, [0xff, 0xff, 0xff, 0xff, 0xff, 0xff], 1); // broadcast: flooded
    expect(br.stats.read()).toMatchObject({ flooded: 4, copies: 2 });
    expect(pool.freeCountQuiesced()).toBe(64);
  });
});
