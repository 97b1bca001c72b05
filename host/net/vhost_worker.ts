// The vhost worker thread of one vhost-net device (the kernel's vhost-<pid>
// kthread): rebuilds the vhost side over the shared memory, reports ready,
// then runs vhost_worker()'s loop (runTask: step, Atomics.wait when the work
// list is empty, spin while busy polling) until stopped; reports its loop
// counts and exits. Started as a worker_threads Worker by datapath.ts.
//
// Configuration changes arrive on the `ctl` port while the loop runs (it never
// returns to the event loop): the control plane posts the change and queues
// VHOST_WORK_CTL, whose function reads the port synchronously
// (receiveMessageOnPort), applies the change between two handler runs and
// replies on the port.
import { parentPort, receiveMessageOnPort, workerData, type MessagePort } from "node:worker_threads";
import { BpfThreadKernel, type BpfThreadImage } from "../../shared/bpf/thread_view.ts";
import { jitVmOf } from "../../shared/bpf/jit/jit_cache.ts";
import { runTask, TaskLoopStats } from "../../shared/sched/futex.ts";
import { REAL_CLOCK, threadCpuMs } from "../../shared/sched/sched.ts";
import type { DatapathShared } from "./datapath_shared.ts";
import { VhostSide } from "./datapath_parts.ts";
import { VHOST_WORK_CTL } from "./vhost.ts";

export interface VhostThreadData {
  sh: DatapathShared;
  image: BpfThreadImage;
  ctl: MessagePort;
  offloadProgId: number;
  rxProgId: number;
  busyloopTimeoutNs: number;
  cpu: number;
}

/** Control messages (seq echoed in the reply). */
type VhostCtl =
  | { seq: number; op: "attach"; image: BpfThreadImage; offloadProgId: number }
  | { seq: number; op: "add"; image: BpfThreadImage }
  | { seq: number; op: "busyloop"; ns: number };

const d = workerData as VhostThreadData;
const k = new BpfThreadKernel(d.image, d.cpu);
const v = new VhostSide(k.mem, d.sh, k.vm, d.offloadProgId === 0 ? null : k.progs.get(d.offloadProgId)!,
  d.rxProgId === 0 ? null : k.progs.get(d.rxProgId)!, REAL_CLOCK, d.busyloopTimeoutNs);

function control(): number {
  for (;;) {
    const m = receiveMessageOnPort(d.ctl);
    if (m === undefined) return 0;
    const c = m.message as VhostCtl;
    try {
      if (c.op === "attach") {
        k.addImage(c.image);
        v.tun.xdp.offloadProg = c.offloadProgId === 0 ? null : k.progs.get(c.offloadProgId)!;
      } else if (c.op === "add") {
        // Programs a prog array slot is about to name, compiled now as the kernel JITs at load,
        // so that the first tail call into one does not wait for its code.
        k.addImage(c.image);
        const jv = jitVmOf(k.vm);
        for (const pi of c.image.progs) jv.code(k.progs.get(pi.id)!);
      } else if (c.op === "busyloop") {
        v.net.busyloopTimeoutNs = c.ns;
      }
      d.ctl.postMessage({ seq: c.seq, ok: true });
    } catch (e) {
      d.ctl.postMessage({ seq: c.seq, ok: false, error: String(e) });
    }
  }
}
v.dev.setWork(VHOST_WORK_CTL, control);
// virtio_error() on the guest's rings (cold): the control plane shows it in `vxo host stats`.
v.net.onVirtioError = (reason) => parentPort!.postMessage({ virtioError: reason });
v.net.onVirtioReset = () => parentPort!.postMessage({ virtioReset: true });

const stats = new TaskLoopStats();
parentPort!.postMessage({ ready: true });
const c0 = threadCpuMs();
runTask(v.dev, v.dev.words, v.dev.stateIdx, v.dev.stopIdx, stats);
parentPort!.postMessage({ loop: { ...stats, cpuMs: threadCpuMs() - c0 } });
