// Stand-in for the guest side of the RX virtqueue until the cross-process
// virtqueue lands: vhost hands each frame that goes on to the guest (XDP_PASS
// of the offloaded program, or every frame without one) to a ptr_ring, and a
// consumer (any one thread) counts and returns them. No payload is copied
// here: the copy into guest memory (tun_put_user_xdp / copy_to_iter) belongs
// to the virtqueue and will be counted there.
import type { BpfMemory } from "../../shared/bpf/runtime/memory.ts";
import { StatBlock } from "../../shared/sched/stats.ts";
import { PtrRing } from "./ptr_ring.ts";
import type { PagePool } from "./page_pool.ts";
import type { CaptureRing } from "./capture.ts";

export const GUEST_STUB_STATS = ["delivered", "ring_full", "consumed"] as const;
const G_DELIVERED = 0, G_RING_FULL = 1, G_CONSUMED = 2;

export interface GuestStubShared {
  ring: number;
  /** Producer (vhost) counters, consumer counters. */
  stats: number;
  consumerStats: number;
}

export function guestStubInit(mem: BpfMemory, size = 256): GuestStubShared {
  return {
    ring: PtrRing.init(mem, size).addr, stats: StatBlock.init(mem, GUEST_STUB_STATS).addr,
    consumerStats: StatBlock.init(mem, GUEST_STUB_STATS).addr,
  };
}

export class GuestStub {
  readonly ring: PtrRing;
  /** This side's counters (vhost: delivered, ring_full; consumer: consumed). */
  readonly stats: StatBlock;
  readonly #pool: PagePool;
  readonly #tmp: Uint32Array;
  /** Capture point "guest rx": frames handed to the guest; null when off. */
  capture: CaptureRing | null;

  constructor(mem: BpfMemory, sh: GuestStubShared, pool: PagePool, isConsumer: boolean) {
    this.ring = PtrRing.at(mem, sh.ring);
    this.stats = StatBlock.at(mem, isConsumer ? sh.consumerStats : sh.stats, GUEST_STUB_STATS);
    this.#pool = pool;
    this.#tmp = new Uint32Array(64);
    this.capture = null;
  }

  /** vhost side: one frame for the guest; a full ring drops it (the guest had no rx buffers). */
  deliver(h: number): void {
    if (this.ring.isFull()) {
      this.stats.v[G_RING_FULL]++;
      this.#pool.put(h);
      return;
    }
    // Captured before it is produced: once in the ring the consumer may recycle it at once.
    if (this.capture !== null) this.capture.captureXdp(this.#pool.ctxOf(h));
    this.ring.produce(h);
    this.stats.v[G_DELIVERED]++;
  }

  /** Consumer side: takes up to `budget` frames, counts and returns them. Returns how many. */
  poll(budget: number): number {
    let done = 0;
    while (done < budget) {
      const n = this.ring.consumeBatched(this.#tmp, 0, Math.min(64, budget - done));
      if (n === 0) break;
      this.#pool.putBulk(this.#tmp, n);
      done += n;
    }
    this.stats.v[G_CONSUMED] += done;
    return done;
  }
}
