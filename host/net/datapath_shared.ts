// The addresses of one host datapath's shared structures (all in the host
// kernel's shared BPF memory), as the owner thread lays them out and the
// datapath threads find them (sent once in workerData).
import type { NicShared } from "./nic.ts";
import type { TunShared } from "./tun.ts";
import type { VhostVirtioShared } from "./vhost_net.ts";
import type { PktgenShared } from "./pktgen.ts";

export interface VhostShared {
  addr: number;
  wakerStats: number;
  workerStats: number;
  netStats: number;
  /** Waker-side counters of the control plane's own wakes (control work). */
  ctlStats: number;
}

/** Capture rings of the four capture points (0: off). */
export interface CaptureShared {
  nicRx: number;
  tapTx: number;
  tapRx: number;
  guestRx: number;
}

export interface DatapathShared {
  memory: WebAssembly.Memory;
  pool: number;
  trace: number;
  nic: NicShared;
  tun: TunShared;
  vhost: VhostShared;
  /** The guest's virtqueues as vhost reaches them (frame queues to and from the guest's side). */
  virtio: VhostVirtioShared;
  devmapStats: number;
  bridgeStats: number;
  pktgen: PktgenShared;
  captures: CaptureShared;
}
