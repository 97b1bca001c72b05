// The vhost worker thread of one vhost-net device (the kernel's vhost-<pid>
// kthread): rebuilds the vhost side over the shared memory, reports ready,
// then runs vhost_worker()'s loop (runTask: step, Atomics.wait when the work
// list is empty, spin while busy polling) until stopped; reports its loop
// counts and exits. Started as a worker_threads Worker by datapath.ts.
import { parentPort, workerData } from "node:worker_threads";
import { BpfThreadKernel, type BpfThreadImage } from "../../shared/bpf/thread_view.ts";
import { runTask, TaskLoopStats } from "../../shared/sched/futex.ts";
import { REAL_CLOCK } from "../../shared/sched/sched.ts";
import type { DatapathShared } from "./datapath_shared.ts";
import { VhostSide } from "./datapath_parts.ts";

export interface VhostThreadData {
  sh: DatapathShared;
  image: BpfThreadImage;
  offloadProgId: number;
  rxProgId: number;
  busyloopTimeoutNs: number;
  cpu: number;
}

const d = workerData as VhostThreadData;
const k = new BpfThreadKernel(d.image, d.cpu);
const v = new VhostSide(k.mem, d.sh, k.vm, d.offloadProgId === 0 ? null : k.progs.get(d.offloadProgId)!,
  d.rxProgId === 0 ? null : k.progs.get(d.rxProgId)!, REAL_CLOCK, d.busyloopTimeoutNs);
const stats = new TaskLoopStats();
parentPort!.postMessage({ ready: true });
runTask(v.dev, v.dev.words, v.dev.stateIdx, v.dev.stopIdx, stats);
parentPort!.postMessage({ loop: { ...stats } });
