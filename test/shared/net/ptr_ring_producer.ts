// Worker side of the ptr_ring two-thread test: produces handles 1..n into the
// ring at `addr` of the shared memory, retrying while the ring is full (a real
// poll of the slot, bounded by a deadline), then reports how many it produced.
// Modes: "single" (produce), "locked" (produceLocked), "bulk" (bursts of 1..37
// with produceNoPublish, one publish each), "bulkLocked" (produceBulkLocked of
// bursts of 1..37, the rest retried).
import { parentPort, workerData } from "node:worker_threads";
import { BpfMemory } from "../../../shared/bpf/runtime/memory.ts";
import { PtrRing } from "../../../shared/net/ptr_ring.ts";

const { memory, addr, n, deadlineMs, mode } = workerData as {
  memory: WebAssembly.Memory; addr: number; n: number; deadlineMs: number; mode: "single" | "locked" | "bulk" | "bulkLocked";
};
const mem = BpfMemory.attach(memory, [0, 0]);
const ring = PtrRing.at(mem, addr);
const deadline = Date.now() + deadlineMs;
let produced = 0, fullHits = 0;
if (mode === "single" || mode === "locked") {
  for (let h = 1; h <= n; h++) {
    while ((mode === "locked" ? ring.produceLocked(h) : ring.produce(h)) !== 0) {
      fullHits++;
      if ((fullHits & 0xfff) === 0 && Date.now() > deadline) break;
    }
    if (Date.now() > deadline && (h & 0xfff) === 0) break;
    produced = h;
  }
} else {
  // Bursts of varying length (1..37), each made visible at once.
  const burst = new Uint32Array(37);
  let next = 1, len = 1;
  while (next <= n && Date.now() <= deadline) {
    const k = Math.min(len, n - next + 1);
    for (let i = 0; i < k; i++) burst[i] = next + i;
    let done = 0;
    while (done < k) {
      let got = 0;
      if (mode === "bulkLocked") {
        got = ring.produceBulkLocked(burst, done, k - done);
      } else {
        while (done + got < k && ring.produceNoPublish(burst[done + got]!) === 0) got++;
        ring.publish();
      }
      done += got;
      if (got === 0) {
        fullHits++;
        if ((fullHits & 0xfff) === 0 && Date.now() > deadline) break;
      }
    }
    next += done;
    produced = next - 1;
    len = len === 37 ? 1 : len + 1;
  }
}
parentPort!.postMessage({ produced, fullHits });
