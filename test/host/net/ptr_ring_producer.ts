// Worker side of the ptr_ring two-thread test: produces handles 1..n into the
// ring at `addr` of the shared memory, retrying while the ring is full (a real
// poll of the slot, bounded by a deadline), then reports how many it produced.
import { parentPort, workerData } from "node:worker_threads";
import { BpfMemory } from "../../../shared/bpf/runtime/memory.ts";
import { PtrRing } from "../../../host/net/ptr_ring.ts";

const { memory, addr, n, deadlineMs, locked } = workerData as {
  memory: WebAssembly.Memory; addr: number; n: number; deadlineMs: number; locked: boolean;
};
const mem = BpfMemory.attach(memory, [0, 0]);
const ring = PtrRing.at(mem, addr);
const deadline = Date.now() + deadlineMs;
let produced = 0, fullHits = 0;
for (let h = 1; h <= n; h++) {
  while ((locked ? ring.produceLocked(h) : ring.produce(h)) !== 0) {
    fullHits++;
    if ((fullHits & 0xfff) === 0 && Date.now() > deadline) break;
  }
  if (Date.now() > deadline && (h & 0xfff) === 0) break;
  produced = h;
}
parentPort!.postMessage({ produced, fullHits });
