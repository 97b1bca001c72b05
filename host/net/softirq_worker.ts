// The producer thread of the host datapath (the "softirq" CPU): pktgen and the
// wire feed NIC-B, whose NAPI poll (budget 64) runs its native XDP program
// and then either redirects into the devmap (Case 1: bulk 16, flush per poll
// into tun_xdp_xmit) or passes frames up to the bridge (Case 2: tun_net_xmit
// per packet). sk_data_ready() wakes the vhost worker through its futex word.
// Started as a worker_threads Worker by datapath.ts; runs `count` packets,
// polls until NIC-B's ring is empty, reports and exits. With a warm-up it
// first runs `warmup` packets (V8 optimises the paths of every thread), says
// so, and blocks until the owner has drained the datapath and read the
// counters, so that the measured packets meet warm code.
import { parentPort, workerData } from "node:worker_threads";
import { BpfThreadKernel, type BpfThreadImage } from "../../shared/bpf/thread_view.ts";
import { FutexWaker } from "../../shared/sched/futex.ts";
import { threadCpuMs } from "../../shared/sched/sched.ts";
import type { PktgenConfig } from "./pktgen.ts";
import type { DatapathShared } from "./datapath_shared.ts";
import { buildProducer } from "./datapath_parts.ts";

export interface SoftirqThreadData {
  sh: DatapathShared;
  image: BpfThreadImage;
  nicProgId: number;
  /** TUN_XDP_IN_*, and the programs the producer runs for the net_xmit/xdp_xmit placements (0: none). */
  placement: number;
  offloadProgId: number;
  rxProgId: number;
  count: number;
  /** Packets sent before the measured `count` (0: none), then `go` (an Int32Array word) is awaited. */
  warmup: number;
  go: SharedArrayBuffer | null;
  pktgen: PktgenConfig;
  cpu: number;
}

const d = workerData as SoftirqThreadData;
const k = new BpfThreadKernel(d.image, d.cpu);
const prog = (id: number) => (id === 0 ? null : k.progs.get(id)!);
const p = buildProducer(k.mem, d.sh, k.vm, {
  nic: prog(d.nicProgId), placement: d.placement, offload: prog(d.offloadProgId), rx: prog(d.rxProgId),
}, (i32, idx) => new FutexWaker(i32, idx), d.pktgen);
if (d.warmup > 0 && d.go !== null) {
  p.run(d.warmup);
  parentPort!.postMessage({ warm: true });
  const go = new Int32Array(d.go);
  while (Atomics.load(go, 0) === 0) Atomics.wait(go, 0, 0);
}
const t0 = performance.now(), c0 = threadCpuMs();
p.run(d.count);
parentPort!.postMessage({ wallMs: performance.now() - t0, cpuMs: threadCpuMs() - c0 });
