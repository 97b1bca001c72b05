// The machine's wake-up latency, for the benchmarks' headers: how long a thread
// blocked in Atomics.wait (a futex) takes to run again after another thread,
// busy on its own CPU, calls Atomics.notify. On bare metal this is a few
// microseconds; in a VM whose idle vCPUs halt (no guest halt polling) it is the
// halted vCPU's wake, tens to hundreds of microseconds. The datapath's wakes
// (tun_net_xmit waking vhost, vhost interrupting the guest) and the control
// path's round trips pay it, so figures measured here are read against it.
import { Worker } from "node:worker_threads";

// The sleeper: flags that it is about to wait, waits, stamps the time it ran again.
const SLEEPER = `
const { workerData } = require("node:worker_threads");
const i32 = new Int32Array(workerData), f64 = new Float64Array(workerData, 16, 2);
for (;;) {
  Atomics.store(i32, 1, 1);
  Atomics.wait(i32, 0, 0);
  f64[1] = Number(process.hrtime.bigint());
  Atomics.store(i32, 0, 0);
  if (Atomics.load(i32, 2) === 1) break;
  Atomics.store(i32, 3, Atomics.load(i32, 3) + 1);
}`;

export interface WakeLatency {
  p10: number;
  p50: number;
  p90: number;
  /** Wakes measured. */
  n: number;
}

/** Measures `n` wakes (microseconds); the waker spins `gapUs` after the sleeper went to sleep. */
export async function measureWakeLatency(n = 300, gapUs = 50): Promise<WakeLatency> {
  const sab = new SharedArrayBuffer(64);
  const i32 = new Int32Array(sab), f64 = new Float64Array(sab, 16, 2);
  const w = new Worker(SLEEPER, { eval: true, workerData: sab });
  const exited = new Promise<void>((resolve) => w.once("exit", () => resolve()));
  const lat: number[] = [];
  const deadline = Date.now() + 10_000;
  try {
    for (let k = 0; k < n && Date.now() < deadline; k++) {
      // Wait for the sleeper to announce its wait, then let it settle into the futex.
      while (Atomics.load(i32, 1) !== 1) if (Date.now() > deadline) throw new Error("wake probe: sleeper did not start");
      Atomics.store(i32, 1, 0);
      const until = process.hrtime.bigint() + BigInt(gapUs * 1000);
      while (process.hrtime.bigint() < until);
      f64[0] = Number(process.hrtime.bigint());
      Atomics.store(i32, 0, 1);
      Atomics.notify(i32, 0);
      while (Atomics.load(i32, 3) !== k + 1) if (Date.now() > deadline) throw new Error("wake probe: sleeper did not wake");
      lat.push((f64[1]! - f64[0]!) / 1000);
    }
  } finally {
    Atomics.store(i32, 2, 1);
    Atomics.store(i32, 0, 1);
    Atomics.notify(i32, 0);
    await exited;
  }
  lat.sort((a, b) => a - b);
  const q = (p: number) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] ?? NaN;
  return { p10: q(0.1), p50: q(0.5), p90: q(0.9), n: lat.length };
}

/** One line for a benchmark header. */
export function formatWakeLatency(w: WakeLatency): string {
  return `thread wake latency (Atomics.notify from a busy thread to one asleep in Atomics.wait, ${w.n} wakes): ` +
    `p10 ${w.p10.toFixed(1)} us, p50 ${w.p50.toFixed(1)} us, p90 ${w.p90.toFixed(1)} us`;
}
