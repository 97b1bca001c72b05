// A guest's virtio-net datapath on a thread of the host process: the guest
// kernel's vCPU running virtnet_poll() (virtnet.ts) over the device's two
// shared-memory frame queues, with its own BPF kernel and memory (only frames
// cross, as they cross between processes). Used where a whole guest process is
// not wanted: the host datapath's tests and benches and `runDatapath()`.
// Started by virtnet_thread.ts. The loop: apply the device's frames (used
// entries, interrupts), run NAPI while scheduled, and sleep in Atomics.wait on
// the queue's doorbell when neither has anything, as a halted vCPU waits for
// an interrupt.
import { parentPort, workerData } from "node:worker_threads";
import type { BpfMemory } from "../../shared/bpf/runtime/memory.ts";
import { FutexWaker } from "../../shared/sched/futex.ts";
import { StatBlock } from "../../shared/sched/stats.ts";
import { STEP_RAN, threadCpuMs } from "../../shared/sched/sched.ts";
import { localGuest } from "./virtnet_task.ts";
import { GUEST_THREAD_STATS, type GuestThreadData } from "./virtnet_thread.ts";

const d = workerData as GuestThreadData;
const host = { memory: d.hostMemory } as unknown as BpfMemory;
const i32 = new Int32Array(d.hostMemory.buffer);
const stopIdx = d.stop >> 2;
const { task, sink } = localGuest(host, d, d.vhost.addr, new FutexWaker(i32, d.vhost.addr >> 2), d.prog, d.ifindex);
sink.stopped = () => Atomics.load(i32, stopIdx) !== 0;
const qp = task.qp, toDriver = task.toDriver;
const stats = StatBlock.at(host, d.stats, GUEST_THREAD_STATS);

const NE = qp.stats.length;
function publish(): void {
  const v = stats.v;
  for (let i = 0; i < NE; i++) v[i] = qp.stats[i]!;
  v[NE] = qp.polls;
  v[NE + 1] = qp.pollsFull;
  v[NE + 2] = qp.xdpExceptions;
  v[NE + 3] = qp.refills;
  v[NE + 4] = qp.refillOom;
  v[NE + 5] = qp.rxvq.interrupts;
  v[NE + 6] = sink.kicks;
  v[NE + 7] = sink.stalls;
  v[NE + 8] = qp.rxvq.copies;
  v[NE + 9] = qp.dev.needsReset ? 1 : 0;
  v[NE + 10] = qp.xdpVerdicts[0]!;
  v[NE + 11] = qp.xdpVerdicts[1]!;
  v[NE + 12] = qp.xdpVerdicts[2]!;
  v[NE + 13] = qp.xdpVerdicts[3]!;
  v[NE + 14] = qp.txCompleted;
  v[NE + 15] = qp.txvq.copies;
}

publish();
parentPort!.postMessage({ ready: true });
const c0 = threadCpuMs();
for (;;) {
  if (Atomics.load(i32, stopIdx) !== 0) break;
  if (task.step() === STEP_RAN) {
    publish();
    continue;
  }
  toDriver.setWaiting(true);
  const bell = toDriver.bell();
  if (toDriver.pending() === 0 && !qp.napiScheduled && Atomics.load(i32, stopIdx) === 0) Atomics.wait(i32, toDriver.bellIdx, bell);
  toDriver.setWaiting(false);
}
publish();
parentPort!.postMessage({ stopped: true, cpuMs: threadCpuMs() - c0, reason: qp.dev.reason });
