// The host datapath of the RFC's test topology, owner side (main thread):
// lays out the shared structures in the host kernel's shared BPF memory,
// loads the programs (NIC-B's native XDP, the program offloaded to the tap,
// the tap's Rx-path dropper), starts the vhost worker thread and the producer
// ("softirq") thread, waits for the traffic to drain, stops the worker and
// gathers every stage's counters. Architecture: host/net/README.md.
import { readFileSync } from "node:fs";
import path from "node:path";
import { once } from "node:events";
import { BpfKernel } from "../../shared/bpf/syscall.ts";
import { loadObject } from "../../shared/bpf/libbpf/libbpf.ts";
import { openObject } from "../../shared/bpf/libbpf/object.ts";
import type { BpfProg } from "../../shared/bpf/runtime/prog.ts";
import { BPF_MAP_TYPE_DEVMAP } from "../../shared/bpf/isa/uapi.ts";
import { exportBpfThread } from "../../shared/bpf/thread_view.ts";
import { spawnTsWorker } from "../../shared/sched/ts_worker.ts";
import { stopTask } from "../../shared/sched/futex.ts";
import { StatBlock } from "../../shared/sched/stats.ts";
import { EINVAL, ETIMEDOUT, KernelError } from "../../shared/errno.ts";
import { PagePool } from "./page_pool.ts";
import { TraceRing, type TraceRecord } from "./trace.ts";
import { NIC_STATS, nicInit } from "./nic.ts";
import { TUN_RECV_STATS, TUN_XDP_IN_RECVMSG, TUN_XDP_PLACEMENTS, TUN_XDP_STATS, TUN_XMIT_STATS, tunInit } from "./tun.ts";
import { VhostDev, VHOST_WAKER_STATS, VHOST_WORKER_STATS } from "./vhost.ts";
import { VhostNet, VHOST_NET_STATS } from "./vhost_net.ts";
import { GUEST_STUB_STATS, GuestStub, guestStubInit } from "./guest_stub.ts";
import { DEVMAP_STATS, DevMapCpu } from "./devmap.ts";
import { BRIDGE_STATS, Bridge } from "./bridge.ts";
import { PKTGEN_STATS, pktgenInit } from "./pktgen.ts";
import type { DatapathShared } from "./datapath_shared.ts";
import type { SoftirqThreadData } from "./softirq_thread.ts";
import type { VhostThreadData } from "./vhost_thread.ts";

export const NIC_IFINDEX = 2;
export const TAP_IFINDEX = 3;

export interface DatapathOptions {
  /** Directory of the .o files. */
  programsDir: string;
  /** NIC-B's native XDP program (Case 1: xdp_redirect_map.o, slot 0 -> the tap), null for Case 2. */
  nicProg: string | null;
  /** The program the guest offloaded to the tap (run in tun_recvmsg), null for none. */
  offloadProg: string | null;
  /** The tap's own Rx-path XDP program (the RFC's dropper of XDP_TX'ed frames), null for none. */
  rxProg: string | null;
  /** Where the offloaded program runs: "recvmsg" (the RFC's choice, default), "net_xmit" or "xdp_xmit". */
  placement?: (typeof TUN_XDP_PLACEMENTS)[number];
  count: number;
  size?: number;
  flows?: number;
  ratePps?: number;
  lineBps?: number;
  busyloopTimeoutNs?: number;
  poolFrames?: number;
  timeoutMs?: number;
}

/** Every packet's final fate; sent = dropped + tx + passed + errors. */
export interface DatapathFates {
  sent: number;
  /** XDP_DROP of the measured program (NIC-B's or the offloaded one). */
  dropped: number;
  /** XDP_TX of the offloaded program (then seen by the tap's Rx path), or of NIC-B's program. */
  tx: number;
  /** Handed on to the guest. */
  passed: number;
  /**
   * Every other fate: missed at the NIC, tail drops, redirect errors, aborted/unknown actions, no room in the
   * guest, sent out of NIC-B by the bridge. (What the tap's Rx path does with XDP_TX'ed frames is under tx.)
   */
  errors: number;
}

export interface DatapathResult {
  counters: Record<string, Record<string, number>>;
  fates: DatapathFates;
  /** The offloaded program's rxcnt map (xdp1/xdp2), protocol -> count, when it has one. */
  rxcnt: Map<number, number> | null;
  trace: TraceRecord[];
  producerWallMs: number;
  vhostLoop: Record<string, number>;
}

/** Lays out the shared structures of one datapath in `kernel`'s memory (owner thread, setup time). */
export function layoutDatapath(kernel: BpfKernel, size: number, flows: number, poolFrames: number): DatapathShared {
  const mem = kernel.mem;
  const pool = PagePool.create(mem, poolFrames);
  const dev = VhostDev.init(mem);
  return {
    memory: mem.memory, pool: pool.addr, trace: TraceRing.init(mem, 256).addr,
    nic: nicInit(mem, NIC_IFINDEX), tun: tunInit(mem, TAP_IFINDEX),
    vhost: { ...dev, netStats: VhostNet.initStats(mem) },
    guest: guestStubInit(mem, 256), devmapStats: DevMapCpu.initStats(mem), bridgeStats: Bridge.initStats(mem),
    pktgen: pktgenInit(mem, size, flows),
  };
}

/** Every counter block of a datapath, by stage (API edge). */
export function readCounters(kernel: BpfKernel, sh: DatapathShared): Record<string, Record<string, number>> {
  const m = kernel.mem;
  return {
    pktgen: StatBlock.at(m, sh.pktgen.stats, PKTGEN_STATS).read(),
    nic: StatBlock.at(m, sh.nic.stats, NIC_STATS).read(),
    devmap: StatBlock.at(m, sh.devmapStats, DEVMAP_STATS).read(),
    bridge: StatBlock.at(m, sh.bridgeStats, BRIDGE_STATS).read(),
    tun_xmit: StatBlock.at(m, sh.tun.xmitStats, TUN_XMIT_STATS).read(),
    tun_recv: StatBlock.at(m, sh.tun.recvStats, TUN_RECV_STATS).read(),
    tun_xdp: StatBlock.at(m, sh.tun.xdpStats, TUN_XDP_STATS).read(),
    vhost_wakers: StatBlock.at(m, sh.vhost.wakerStats, VHOST_WAKER_STATS).read(),
    vhost_worker: StatBlock.at(m, sh.vhost.workerStats, VHOST_WORKER_STATS).read(),
    vhost_net: StatBlock.at(m, sh.vhost.netStats, VHOST_NET_STATS).read(),
    guest: StatBlock.at(m, sh.guest.stats, GUEST_STUB_STATS).read(),
    guest_consumer: StatBlock.at(m, sh.guest.consumerStats, GUEST_STUB_STATS).read(),
  };
}

/** Final fates from the counters (after the datapath drained). */
export function datapathFates(c: Record<string, Record<string, number>>): DatapathFates {
  const nic = c.nic!, tr = c.tun_xdp!, tx = c.tun_xmit!, dm = c.devmap!, br = c.bridge!, g = c.guest!;
  const dropped = nic.xdp_drop! + tr.off_drop!;
  const txd = nic.xdp_tx! + tr.off_tx!;
  const passed = g.delivered!;
  // tun_xdp_xmit's drops are counted by tun (tx_dropped) and again by the devmap (xmit_dropped): once here.
  // Bridge copies (flooding to several ports) add packets, so they are taken off the errors.
  void dm;
  const errors = nic.rx_missed! + nic.xdp_aborted! + nic.xdp_unknown! + nic.redirect_err! + nic.tx_packets! +
    br.dropped! + tx.tx_dropped! + tr.off_redirect! + tr.off_aborted! + tr.off_unknown! + g.ring_full! - br.copies!;
  return { sent: c.pktgen!.sent!, dropped, tx: txd, passed, errors };
}

function loadProg(kernel: BpfKernel, dir: string, obj: string): BpfProg {
  const file = path.join(dir, obj);
  const loaded = loadObject(kernel, openObject(readFileSync(file), { file }));
  const p = loaded.progList[0];
  if (p === undefined) throw new KernelError(EINVAL, `${obj}: no program`);
  return p;
}

/** The host kernel of one datapath with its programs loaded and its structures laid out (owner thread). */
export interface DatapathSetup {
  kernel: BpfKernel;
  sh: DatapathShared;
  nicProg: BpfProg | null;
  offload: BpfProg | null;
  rx: BpfProg | null;
}

/** Creates the host kernel (shared memory), loads the programs, fills the devmap, lays out the datapath. */
export function setupDatapath(o: DatapathOptions): DatapathSetup {
  const kernel = new BpfKernel({ sharedMemory: true });
  kernel.addNetdev(NIC_IFINDEX, "eth1");
  kernel.addNetdev(TAP_IFINDEX, "tap0");
  const nicProg = o.nicProg === null ? null : loadProg(kernel, o.programsDir, o.nicProg);
  if (nicProg !== null) {
    // The redirect target: slot 0 of the program's devmap is the tap (xdp_redirect_map_user's setup).
    for (const m of nicProg.usedMaps) {
      if (m.mapType !== BPF_MAP_TYPE_DEVMAP) continue;
      const rc = m.sysUpdate(Uint8Array.of(0, 0, 0, 0), Uint8Array.of(TAP_IFINDEX, 0, 0, 0), 0);
      if (rc !== 0) throw new KernelError(-rc, "devmap update failed");
    }
  }
  const offload = o.offloadProg === null ? null : loadProg(kernel, o.programsDir, o.offloadProg);
  const rx = o.rxProg === null ? null : loadProg(kernel, o.programsDir, o.rxProg);
  const sh = layoutDatapath(kernel, o.size ?? 64, o.flows ?? 1, o.poolFrames ?? 4096);
  return { kernel, sh, nicProg, offload, rx };
}

/** Runs `count` packets through the topology on real threads and returns every counter. */
export async function runDatapath(o: DatapathOptions): Promise<DatapathResult> {
  const { kernel, sh, nicProg, offload, rx } = setupDatapath(o);
  const placement = TUN_XDP_PLACEMENTS.indexOf(o.placement ?? "recvmsg");
  if (placement < 0) throw new KernelError(EINVAL, `unknown placement ${o.placement}`);
  const inRecvmsg = placement === TUN_XDP_IN_RECVMSG;
  const tapProgs = [offload, rx].filter((p): p is BpfProg => p !== null);
  const vImage = exportBpfThread(kernel, inRecvmsg ? tapProgs : []);
  const pImage = exportBpfThread(kernel, [...(nicProg === null ? [] : [nicProg]), ...(inRecvmsg ? [] : tapProgs)]);
  const deadline = Date.now() + (o.timeoutMs ?? 60_000);

  const vData: VhostThreadData = {
    sh, image: vImage, offloadProgId: inRecvmsg ? offload?.id ?? 0 : 0, rxProgId: inRecvmsg ? rx?.id ?? 0 : 0,
    busyloopTimeoutNs: o.busyloopTimeoutNs ?? 0, cpu: 1,
  };
  const vw = spawnTsWorker(new URL("./vhost_thread.ts", import.meta.url), vData);
  const vMsgs: Array<Record<string, unknown>> = [];
  vw.on("message", (m) => vMsgs.push(m as Record<string, unknown>));
  const vErr = once(vw, "error").then(([e]) => { throw e; });
  await Promise.race([waitFor(() => vMsgs.length > 0, deadline, "vhost thread start"), vErr]);

  const pData: SoftirqThreadData = {
    sh, image: pImage, nicProgId: nicProg?.id ?? 0, count: o.count, cpu: 0, placement,
    offloadProgId: inRecvmsg ? 0 : offload?.id ?? 0, rxProgId: inRecvmsg ? 0 : rx?.id ?? 0,
    pktgen: { size: o.size ?? 64, flows: o.flows ?? 1, ratePps: o.ratePps ?? 0, lineBps: o.lineBps ?? 0 },
  };
  const pw = spawnTsWorker(new URL("./softirq_thread.ts", import.meta.url), pData);
  const pErr = once(pw, "error").then(([e]) => { throw e; });
  const [pMsg] = await withDeadline(Promise.race([once(pw, "message"), pErr, vErr]), deadline, "the producer thread's run") as
    [{ wallMs: number }];
  // Its counters are final once it reported; do not wait for its event loop to empty.
  await withDeadline(pw.terminate(), deadline, "the producer thread's exit");

  // Drain: everything tun queued is consumed by the vhost worker; the guest stub is emptied here.
  const pool = PagePool.at(kernel.mem, sh.pool);
  const guest = new GuestStub(kernel.mem, sh.guest, pool, true);
  const tunX = StatBlock.at(kernel.mem, sh.tun.xmitStats, TUN_XMIT_STATS);
  const tunR = StatBlock.at(kernel.mem, sh.tun.recvStats, TUN_RECV_STATS);
  await Promise.race([waitFor(() => {
    guest.poll(1 << 20);
    return tunR.v[1]! === tunX.v[0]!; // consumed === tx_packets
  }, deadline, "vhost drain"), vErr]);
  const i32 = new Int32Array(kernel.mem.memory.buffer);
  const vdev = sh.vhost.addr >> 2;
  stopTask(i32, vdev, vdev + 1);
  await Promise.race([waitFor(() => vMsgs.length > 1, deadline, "vhost thread stop"), vErr]);
  await withDeadline(vw.terminate(), deadline, "the vhost thread's exit");
  guest.poll(1 << 20);

  const counters = readCounters(kernel, sh);
  let rxcnt: Map<number, number> | null = null;
  const map = offload?.usedMaps.find((m) => m.name === "rxcnt");
  if (map !== undefined) {
    rxcnt = new Map();
    const v = new Uint8Array(map.userValueSize);
    for (let k = 0; k < map.maxEntries; k++) {
      if (map.sysLookup(Uint8Array.of(k & 0xff, k >> 8, 0, 0), v) !== 0) continue;
      const n = Number(new DataView(v.buffer).getBigUint64(0, true));
      if (n !== 0) rxcnt.set(k, n);
    }
  }
  return {
    counters, fates: datapathFates(counters), rxcnt, trace: TraceRing.at(kernel.mem, sh.trace).read(),
    producerWallMs: pMsg.wallMs, vhostLoop: (vMsgs[1]!.loop ?? {}) as Record<string, number>,
  };
}

/** `p`, or ETIMEDOUT naming `what` once `deadline` (ms since epoch) passes. */
async function withDeadline<T>(p: Promise<T>, deadline: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new KernelError(ETIMEDOUT, `datapath: timed out waiting for ${what}`)),
      Math.max(0, deadline - Date.now()));
  });
  try {
    return await Promise.race([p, t]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `cond` on the event loop until true; throws ETIMEDOUT after `deadline` (ms since epoch). */
async function waitFor(cond: () => boolean, deadline: number, what: string): Promise<void> {
  while (!cond()) {
    if (Date.now() > deadline) throw new KernelError(ETIMEDOUT, `datapath: timed out waiting for ${what}`);
    await new Promise<void>((r) => setTimeout(r, 1));
  }
}
