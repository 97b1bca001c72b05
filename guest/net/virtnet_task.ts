// A guest's virtio-net datapath as a task a driver runs (shared/sched/sched.ts):
// one step applies the device's frames (used entries, interrupts) from the
// queue towards the guest and runs NAPI while it is scheduled. The guest
// thread (virtnet_worker.ts) loops over step() and sleeps on the queue's
// doorbell; single-thread drivers (tests, the virtual clock) call step() or
// pump() themselves. `localGuest()` builds one over a host datapath's device
// queues with its own guest kernel, as a guest process has.
import { readFileSync } from "node:fs";
import { BpfKernel } from "../../shared/bpf/syscall.ts";
import { loadObject } from "../../shared/bpf/libbpf/libbpf.ts";
import { openObject } from "../../shared/bpf/libbpf/object.ts";
import type { BpfMemory } from "../../shared/bpf/runtime/memory.ts";
import { STEP_RAN, STEP_SLEEP, type Task, type Waker } from "../../shared/sched/sched.ts";
import { ShmFrameQueue } from "../../shared/virtio/shm_frame_queue.ts";
import { VhostDev } from "../../host/net/vhost.ts";
import { KICK_RX, KickSink, kickVhost } from "../../host/net/vhost_user.ts";
import { VirtnetQueuePair } from "./virtnet.ts";

export class VirtnetGuestTask implements Task {
  readonly qp: VirtnetQueuePair;
  readonly toDriver: ShmFrameQueue;
  readonly kickDev: VhostDev;
  readonly pollDeadlineNs = 0;
  /** Frames from the device applied. */
  framesIn: number;

  constructor(qp: VirtnetQueuePair, toDriver: ShmFrameQueue, kickDev: VhostDev) {
    this.qp = qp;
    this.toDriver = toDriver;
    this.kickDev = kickDev;
    this.framesIn = 0;
  }

  /** Applies the device's frames, then one NAPI poll if scheduled. STEP_SLEEP when neither had anything. */
  step(): number {
    const q = this.toDriver;
    let worked = false;
    for (;;) {
      const fb = q.peek();
      if (fb === null) break;
      this.qp.receive(fb.u8, 0, fb.len);
      this.framesIn++;
      // vhost stopped on a full queue towards us: this release lets its RX work go on.
      if (q.release()) kickVhost(this.kickDev, KICK_RX);
      worked = true;
    }
    if (this.qp.napiScheduled) {
      this.qp.poll();
      worked = true;
    }
    return worked ? STEP_RAN : STEP_SLEEP;
  }

  /** Steps until idle (single-thread drivers). Returns the steps that did something. */
  pump(): number {
    let n = 0;
    while (this.step() === STEP_RAN) n++;
    return n;
  }

  pollCheck(): boolean {
    return false;
  }

  pollEnd(): void {}
}

export interface LocalGuestShared {
  toDevice: number;
  toDriver: number;
  kickStats: number;
}

/**
 * A guest over `host`'s device queues: its own BPF kernel on a shared memory, `prog` (an object
 * file, or null) in its DRV slot, doorbells waking vhost through `waker`. The receive ring is
 * posted (open()) before it returns, so vhost finds buffers on its first run.
 */
export function localGuest(host: BpfMemory, sh: LocalGuestShared, vhostAddr: number, waker: Waker, prog: string | null,
  ifindex = 2): { task: VirtnetGuestTask; kernel: BpfKernel; sink: KickSink } {
  const toDevice = ShmFrameQueue.at(host.memory.buffer, sh.toDevice);
  const toDriver = ShmFrameQueue.at(host.memory.buffer, sh.toDriver);
  const kickDev = VhostDev.at(host, vhostAddr, sh.kickStats, waker, false);
  const sink = new KickSink(toDevice, toDriver, kickDev);
  const kernel = new BpfKernel({ sharedMemory: true });
  kernel.addNetdev(ifindex, "eth0");
  const qp = new VirtnetQueuePair({ mem: kernel.mem, vm: kernel.vm, sink, ifindex });
  if (prog !== null) qp.xdpProg = loadObject(kernel, openObject(readFileSync(prog), { file: prog })).progList[0] ?? null;
  toDevice.userWord = qp.memSize;
  qp.open();
  return { task: new VirtnetGuestTask(qp, toDriver, kickDev), kernel, sink };
}
