// Owner side of a guest thread (virtnet_worker.ts): lays out its counters and
// stop word in the host memory, starts it against a host datapath's device
// queues, and stops it. The counters are the guest's `ethtool -S` plus the
// driver's own counts, readable from the host thread at any time.
import { once } from "node:events";
import type { Worker } from "node:worker_threads";
import type { BpfMemory } from "../../shared/bpf/runtime/memory.ts";
import { StatBlock } from "../../shared/sched/stats.ts";
import { spawnTsWorker } from "../../shared/sched/thread_spawn.ts";
import { withDeadline } from "../../shared/sched/deadline.ts";
import { ENOMEM, KernelError } from "../../shared/errno.ts";
import { ShmFrameQueue } from "../../shared/virtio/shm_frame_queue.ts";
import { VIRTNET_ETHTOOL_STATS } from "./virtnet.ts";

export const GUEST_THREAD_STATS = [
  ...VIRTNET_ETHTOOL_STATS, "napi_polls", "napi_polls_full", "xdp_exceptions", "refills", "refill_oom", "interrupts",
  "kicks", "kick_stalls", "rx_copies", "needs_reset",
  // The DRV-slot program's verdicts (XDP_DROP, XDP_PASS or no program, XDP_TX queued, anything else)
  // and send-queue buffers the device completed.
  "xdp_drop", "xdp_pass", "xdp_tx", "xdp_other", "tx_completed",
  // Copies of transmitted packets into the send queue's records (the device cannot read guest memory).
  "tx_copies",
] as const;

export interface GuestThreadData {
  hostMemory: WebAssembly.Memory;
  toDevice: number;
  toDriver: number;
  vhost: { addr: number };
  kickStats: number;
  stats: number;
  stop: number;
  /** The guest's native XDP program (an object file), null for none. */
  prog: string | null;
  ifindex: number;
}

/** Counter block and stop word of a guest thread (owner thread, setup time). */
export function guestThreadInit(mem: BpfMemory): { stats: number; stop: number } {
  const stop = mem.alloc(8, 8);
  if (stop === 0) throw new KernelError(ENOMEM, "no memory for a guest thread");
  return { stats: StatBlock.init(mem, GUEST_THREAD_STATS).addr, stop };
}

export class GuestThread {
  readonly worker: Worker;
  readonly #mem: BpfMemory;
  readonly #d: GuestThreadData;

  private constructor(mem: BpfMemory, d: GuestThreadData, w: Worker) {
    this.#mem = mem;
    this.#d = d;
    this.worker = w;
  }

  /** Starts the guest; resolves once its receive ring is posted (its first kick went out). */
  static async start(mem: BpfMemory, d: Omit<GuestThreadData, "hostMemory">, timeoutMs = 60_000): Promise<GuestThread> {
    const data: GuestThreadData = { ...d, hostMemory: mem.memory };
    new Int32Array(mem.memory.buffer)[d.stop >> 2] = 0;
    const w = spawnTsWorker(new URL("./virtnet_worker.ts", import.meta.url), data);
    const err = once(w, "error").then(([e]) => { throw e; });
    err.catch(() => {});
    await withDeadline(Promise.race([once(w, "message"), err]), Date.now() + timeoutMs, "the guest thread's start", "guest");
    return new GuestThread(mem, data, w);
  }

  counters(): Record<string, number> {
    return StatBlock.at(this.#mem, this.#d.stats, GUEST_THREAD_STATS).read();
  }

  /** Stops the guest (its vCPU halts for good) and waits for its exit. Returns its CPU time. */
  async stop(timeoutMs = 60_000): Promise<{ cpuMs: number }> {
    const i32 = new Int32Array(this.#mem.memory.buffer);
    Atomics.store(i32, this.#d.stop >> 2, 1);
    ShmFrameQueue.at(this.#mem.memory.buffer, this.#d.toDriver).ring();
    const [m] = await withDeadline(once(this.worker, "message"), Date.now() + timeoutMs, "the guest thread's exit", "guest") as [{ cpuMs: number }];
    await this.worker.terminate();
    return { cpuMs: m.cpuMs };
  }
}
