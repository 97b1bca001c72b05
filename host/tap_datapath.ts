// The datapath behind each tap of the `vxo host` daemon: one HostDatapath
// (host/net/datapath.ts) per tap, laid out in the daemon's BpfKernel (a shared
// memory), so that the program a guest offloaded to the tap runs on the tap's
// vhost thread and updates the very maps the guest reads through its shim.
// In the kernel this is the tun device and its vhost-net worker living as long
// as the tap (drivers/net/tun.c, drivers/vhost/net.c): started here lazily, at
// the first attach or the first traffic, and stopped (its Workers terminated)
// when the tap goes (session close, reset, host exit).
//
// Host configuration, not the guest's: where the offloaded program runs
// (--xdp-offload-hook, tun_recvmsg by default as in the RFC) and the tap's own
// Rx-path XDP program (--tap-rx-prog, xdp_drop.o by default: the RFC's dropper
// of what the offloaded program sent back with XDP_TX). Traffic comes from
// `vxo host pktgen`: pktgen -> NIC-A -> wire -> NIC-B -> (Case 1: NIC-B's
// native XDP redirect through a devmap to the tap; Case 2: the bridge) -> tun
// -> vhost. NIC-B's redirect program (xdp_redirect_map.o, slot 0 -> the tap) is
// the host's own, loaded at the first Case 1 run.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { fileURLToPath } from "node:url";
import path from "node:path";
import net from "node:net";
import type { BpfKernel } from "../shared/bpf/syscall.ts";
import { loadObject } from "../shared/bpf/libbpf/libbpf.ts";
import { openObject } from "../shared/bpf/libbpf/object.ts";
import type { BpfProg } from "../shared/bpf/runtime/prog.ts";
import { BPF_MAP_TYPE_DEVMAP } from "../shared/bpf/isa/uapi.ts";
import { EBUSY, EINVAL, ENODEV, ENOENT, KernelError } from "../shared/errno.ts";
import { PCAP_HDR_LEN, PCAP_REC_HDR_LEN, readPcap } from "../shared/net/pcap.ts";
import { CaptureFile, CaptureRing } from "./net/capture.ts";
import type { CaptureShared } from "./net/datapath_shared.ts";
import { HostDatapath, datapathFates, layoutDatapath, subCounters, type DatapathFates, type VirtioState } from "./net/datapath.ts";
import { TUN_XDP_PLACEMENTS } from "./net/tun.ts";
import { PagePool } from "../shared/net/page_pool.ts";
import { XDP_FRAME_SZ } from "../shared/bpf/runtime/xdp.ts";
import { XDP_CTX_BLOCK } from "../shared/bpf/runtime/vm.ts";
import type { LogFn } from "../shared/runtime_dir.ts";
import type { Tap } from "./tap.ts";

/** Where the offloaded program runs (tun_recvmsg in vhost, or the producer's tun_net_xmit / tun_xdp_xmit). */
export type XdpOffloadHook = (typeof TUN_XDP_PLACEMENTS)[number];
export const XDP_OFFLOAD_HOOKS: readonly XdpOffloadHook[] = TUN_XDP_PLACEMENTS;

/** The sample programs beside the sources and beside dist/ (both one level below the repository root). */
export const SCENARIO_PROGRAMS = fileURLToPath(new URL("../scenarios/programs/", import.meta.url));
export const DEFAULT_TAP_RX_PROG = path.join(SCENARIO_PROGRAMS, "xdp_drop.o");
const REDIRECT_PROG = path.join(SCENARIO_PROGRAMS, "xdp_redirect_map.o");

export interface TapDatapathConfig {
  hook: XdpOffloadHook;
  /** The tap's Rx-path XDP program (an object file), null for none. */
  tapRxProg: string | null;
  /** Frames in each tap's page_pool. */
  poolFrames?: number;
  /** Each tap's vhost busyloop timeout (QEMU's poll-us, in ns here); 0 or absent: off. */
  busyloopTimeoutNs?: number;
  log: LogFn;
}

/** `vxo host pktgen` parameters (pktgen's own names: count, pkt_size, rate, flows). */
export interface PktgenParams {
  count: number;
  size: number;
  ratePps: number;
  flows: number;
  /** 1: NIC-B redirects through its devmap to the tap; 2: NIC-B passes to the bridge. */
  case: number;
  /** A pcap file's bytes to replay instead of generated UDP packets. */
  pcap: Uint8Array | null;
  /**
   * Packets sent first, by the same producer thread, and not counted: the report's figures and
   * counters start once they drained (0: none).
   */
  warmup?: number;
}

/** What `vxo host pktgen` prints at the end. */
export interface PktgenReport {
  tap: string;
  guest: string;
  case: number;
  hook: XdpOffloadHook;
  count: number;
  size: number;
  flows: number;
  /** The offloaded program's name, or null when the tap has none. */
  offload: string | null;
  /** From the first packet until vhost drained the last; the producer's run (c) and the drain (d). */
  usec: number;
  usecProducer: number;
  usecDrain: number;
  pps: number;
  /** Packets the measured XDP program (the offloaded one; NIC-B's without one) ran on. */
  xdpPackets: number;
  xdpMpps: number;
  /** Packets sent before the measured ones and not counted here. */
  warmup: number;
  /**
   * Of the warm-up, the packets the measured program ran on or will run on: the offloaded
   * program's verdicts, or (no offload) the packets vhost placed in the guest, whose program
   * counts them too. A reader of the program's own map takes these off.
   */
  warmupProgramPackets: number;
  /** Fates of this run's packets (sent = dropped + tx + passed + errors). */
  fates: DatapathFates;
  /** Counters moved by this run, per stage. */
  delta: Record<string, Record<string, number>>;
}

/** One tap in `vxo host stats`. */
export interface TapStats {
  tap: string;
  ifindex: number;
  guest: string;
  nic: number;
  running: boolean;
  hook: XdpOffloadHook;
  offload: string | null;
  rxProg: string | null;
  counters: Record<string, Record<string, number>>;
  fates: DatapathFates | null;
  /** The device end of the guest's rings: broken (needs reset, as QEMU's virtio_error()) and why. */
  virtio: VirtioState | null;
  /** A guest's data channel is connected. */
  guestConnected: boolean;
}

export interface HostStats {
  taps: TapStats[];
  /** Per guest: its taps' counters and fates summed. */
  guests: Array<{ guest: string; taps: string[]; counters: Record<string, Record<string, number>>; fates: DatapathFates }>;
}

/** `vxo host capture --point` names (tcpdump on the NIC, on the tap's two directions, in the guest). */
export const CAPTURE_POINT_KEYS: Readonly<Record<string, keyof CaptureShared>> = {
  "nic-rx": "nicRx", "tap-tx": "tapTx", "tap-rx": "tapRx", "guest-rx": "guestRx",
};
export type CapturePointName = string;

export interface CaptureResult {
  pcap: Uint8Array;
  captured: number;
  /** Records lost because the capture ring was full (the packets themselves went on). */
  dropped: number;
}

interface Capture {
  id: number;
  tap: Tap;
  point: string;
  ring: CaptureRing;
  file: CaptureFile;
  dir: string;
  count: number;
  start: number;
  dropped0: number;
  deadline: number;
  timer: NodeJS.Timeout;
  done: Promise<CaptureResult>;
  resolve: (r: CaptureResult) => void;
}

interface Entry {
  dp: Promise<HostDatapath>;
  /** The data channel's listener (VHOST_NET_SET_BACKEND), its path, the guest memory size announced. */
  backend: { server: net.Server; path: string; memSize: number } | null;
  /** NIC-B's redirect program (Case 1), loaded at the first Case 1 run. */
  redirect: BpfProg | null;
  rx: BpfProg | null;
  /** Operations on one tap's datapath run one at a time. */
  chain: Promise<unknown>;
  nicIfindex: number;
}

function loadHostProg(kernel: BpfKernel, file: string): BpfProg {
  const loaded = loadObject(kernel, openObject(readFileSync(file), { file }));
  const p = loaded.progList[0];
  if (p === undefined) throw new KernelError(EINVAL, `${file}: no program`);
  return p;
}

function freeHostProg(kernel: BpfKernel, p: BpfProg | null): void {
  if (p === null) return;
  const maps = p.usedMaps.map((m) => m.id);
  kernel.progFree(p.id);
  for (const id of maps) kernel.mapFree(id);
}

/** The datapaths of every tap of one host kernel. */
export class TapDatapaths {
  readonly kernel: BpfKernel;
  readonly cfg: TapDatapathConfig;
  readonly #entries: Map<Tap, Entry>;
  readonly #stopping: Map<Tap, Promise<void>>;
  readonly #captures: Map<number, Capture>;
  #nextCapture: number;

  constructor(kernel: BpfKernel, cfg: TapDatapathConfig) {
    if (!kernel.mem.shared) throw new KernelError(EINVAL, "tap datapaths need a kernel on a shared memory");
    this.kernel = kernel;
    this.cfg = cfg;
    this.#entries = new Map();
    this.#stopping = new Map();
    this.#captures = new Map();
    this.#nextCapture = 1;
  }

  /**
   * Starts recording at `point` of `tap`'s datapath (started if need be): resolves with a capture id
   * once the point records. One capture per point at a time (EBUSY).
   */
  captureStart(tap: Tap, point: CapturePointName, count: number, timeoutMs: number): Promise<number> {
    const key = CAPTURE_POINT_KEYS[point];
    if (key === undefined) throw new KernelError(EINVAL, `Unknown capture point '${point}' (${Object.keys(CAPTURE_POINT_KEYS).join(", ")})`);
    return this.#run(tap, async (dp) => {
      for (const c of this.#captures.values()) {
        if (c.tap === tap && c.point === point) throw new KernelError(EBUSY, `Cannot capture at ${point} of ${tap.name}: a capture is running there`);
      }
      const ring = CaptureRing.at(this.kernel.mem, dp.sh.captures[key]);
      const dir = mkdtempSync(path.join(tmpdir(), "vxo-capture-"));
      const file = new CaptureFile(path.join(dir, `${point}.pcap`), ring);
      const id = this.#nextCapture++;
      let resolve: (r: CaptureResult) => void = () => {};
      const done = new Promise<CaptureResult>((r) => {
        resolve = r;
      });
      const c: Capture = {
        id, tap, point, ring, file, dir, count, start: ring.written, dropped0: ring.dropped, done, resolve,
        // The capture ring is filled by the datapath's Workers; this thread writes it to the pcap file on a
        // 5 ms timer (the consumer's poll: its event loop cannot block on the ring) and ends at the count or deadline.
        timer: setInterval(() => {
          c.file.drain();
          if (c.ring.written - c.start >= c.count || Date.now() > c.deadline) this.#captureEnd(c);
        }, 5),
        deadline: Date.now() + timeoutMs,
      };
      this.#captures.set(id, c);
      ring.enabled = true;
      return id;
    });
  }

  /** Waits for capture `id` to end (its count reached, its timeout, or the datapath stopped); the pcap file's bytes. */
  captureWait(id: number): Promise<CaptureResult> {
    const c = this.#captures.get(id);
    if (c === undefined) throw new KernelError(ENOENT, `No capture ${id}`);
    return c.done;
  }

  /** Ends capture `id` now (its client went away). */
  captureStop(id: number): void {
    const c = this.#captures.get(id);
    if (c !== undefined) this.#captureEnd(c);
  }

  #captureEnd(c: Capture): void {
    if (!this.#captures.delete(c.id)) return;
    clearInterval(c.timer);
    c.ring.enabled = false;
    c.file.close();
    const bytes = readFileSync(c.file.path);
    rmSync(c.dir, { recursive: true, force: true });
    // tcpdump -c N: the first N records (the writer may have recorded a few more before it saw the switch).
    let off = PCAP_HDR_LEN, n = 0;
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    while (off + PCAP_REC_HDR_LEN <= bytes.length && n < c.count) {
      off += PCAP_REC_HDR_LEN + dv.getUint32(off + 8, true);
      n++;
    }
    c.resolve({ pcap: new Uint8Array(bytes.subarray(0, off)), captured: n, dropped: c.ring.dropped - c.dropped0 });
  }

  /** Whether `tap` has a datapath, running or stopping. */
  has(tap: Tap): boolean {
    return this.#entries.has(tap) || this.#stopping.has(tap);
  }

  #entry(tap: Tap): Entry {
    let e = this.#entries.get(tap);
    if (e !== undefined) return e;
    const k = this.kernel, nicIfindex = 10000 + tap.ifindex;
    const rx = this.cfg.tapRxProg === null ? null : loadHostProg(k, this.cfg.tapRxProg);
    k.addNetdev(nicIfindex, `nicb-${tap.name}`);
    const sh = layoutDatapath(k, 64, 1, this.cfg.poolFrames ?? 4096, { ifindex: { nic: nicIfindex, tap: tap.ifindex }, capture: true });
    // The capture points exist from the start (the vhost thread takes its own at start) and record
    // only while `vxo host capture` runs.
    for (const a of Object.values(sh.captures)) CaptureRing.at(k.mem, a).enabled = false;
    const prog = tap.progId === 0 ? null : k.progs.get(tap.progId) ?? null;
    const dp = HostDatapath.startWith({
      programsDir: SCENARIO_PROGRAMS, nicProg: null, offloadProg: null, rxProg: null, placement: this.cfg.hook, count: 0,
      timeoutMs: 120_000, busyloopTimeoutNs: this.cfg.busyloopTimeoutNs ?? 0,
    }, { kernel: k, sh, nicProg: null, offload: prog, rx });
    e = { dp, backend: null, redirect: null, rx, chain: dp, nicIfindex };
    this.#entries.set(tap, e);
    const entry = e;
    dp.then(() => this.cfg.log("datapath_start", { tap: tap.name, guest: tap.guest, hook: this.cfg.hook, rxProg: rx?.name ?? null }),
      (err: unknown) => {
        // The next attach or run tries again from scratch.
        this.cfg.log("datapath_error", { tap: tap.name, error: String(err) });
        if (this.#entries.get(tap) === entry) {
          this.#entries.delete(tap);
          freeHostProg(k, entry.rx);
          k.netdevs.delete(nicIfindex);
        }
      });
    return e;
  }

  /** Runs `fn` on `tap`'s datapath (started if need be) after the operations queued before it. */
  #run<T>(tap: Tap, fn: (dp: HostDatapath, e: Entry) => Promise<T>): Promise<T> {
    const e = this.#entry(tap);
    const r = e.chain.then(() => e.dp).then((dp) => fn(dp, e));
    e.chain = r.catch(() => undefined);
    return r;
  }

  /**
   * VHOST_NET_SET_BACKEND from the guest's device model: the tap's datapath runs, and a Unix
   * socket listens for the guest's data channel (one guest at a time; a new connection after the
   * old one closed is a new driver instance, which starts with a device reset). Returns its path.
   */
  vhostBackend(tap: Tap, memSize: number): Promise<string> {
    if (memSize <= 0) throw new KernelError(EINVAL, "vhost backend: guest memory size must be positive");
    return this.#run(tap, async (dp, e) => {
      if (e.backend !== null) {
        e.backend.memSize = memSize;
        return e.backend.path;
      }
      const sock = path.join(tmpdir(), `vxo-vhost-${process.pid}-${tap.ifindex}-${Math.random().toString(36).slice(2, 8)}.sock`);
      const backend = { server: net.createServer(), path: sock, memSize };
      backend.server.on("connection", (s) => {
        try {
          dp.attachGuestSocket(s, backend.memSize);
          this.cfg.log("vhost_connect", { tap: tap.name, guest: tap.guest });
        } catch (err) {
          this.cfg.log("vhost_refused", { tap: tap.name, error: String(err) });
        }
      });
      await new Promise<void>((resolve, reject) => {
        backend.server.once("error", reject);
        backend.server.listen(sock, () => resolve());
      });
      e.backend = backend;
      return sock;
    });
  }

  /** Hands `prog` (loaded in this kernel; null detaches) to `tap`'s datapath as its offloaded program. */
  attach(tap: Tap, prog: BpfProg | null): Promise<void> {
    if (prog === null && !this.#entries.has(tap)) return Promise.resolve();
    return this.#run(tap, (dp) => dp.attachOffloadProg(prog));
  }

  /**
   * Hands `progs` (and what their tail calls reach) to `tap`'s running datapath before a prog
   * array slot names them, and waits for the vhost thread to pass a point between two handler
   * runs: programs it ran from a slot emptied before the call are no longer running (the
   * grace period a slot's old program waits for, as synchronize_rcu()). Nothing to do without a
   * datapath (one started later exports the slots' programs itself).
   */
  addProgs(tap: Tap, progs: readonly BpfProg[]): Promise<void> {
    if (!this.#entries.has(tap)) return Promise.resolve();
    return this.#run(tap, (dp) => dp.addProgs(progs));
  }

  /** Stops `tap`'s datapath (its Workers terminated) and frees the host's own programs of it. */
  stop(tap: Tap): Promise<void> {
    const e = this.#entries.get(tap);
    if (e === undefined) return this.#stopping.get(tap) ?? Promise.resolve();
    this.#entries.delete(tap);
    const p = this.#stop(tap, e);
    this.#stopping.set(tap, p);
    void p.finally(() => {
      if (this.#stopping.get(tap) === p) this.#stopping.delete(tap);
    });
    return p;
  }

  async #stop(tap: Tap, e: Entry): Promise<void> {
    for (const c of this.#captures.values()) if (c.tap === tap) this.#captureEnd(c);
    if (e.backend !== null) {
      e.backend.server.close();
      rmSync(e.backend.path, { force: true });
    }
    // Not after the queued operations: a pktgen run in progress ends (ECANCELED) with the datapath.
    let stopped = false;
    try {
      const dp = await e.dp;
      await dp.stop();
      stopped = true;
    } catch {
      // it never started (logged then), or a thread did not exit in time: its memory stays allocated
    }
    await e.chain;
    if (stopped) {
      // Both threads are gone: the frames (the bulk of a datapath's memory) go back to the allocator,
      // where the next tap's page_pool of the same size finds them. The rings and counter blocks
      // (a few KiB) are not reclaimed.
      const pool = PagePool.at(this.kernel.mem, (await e.dp).sh.pool);
      this.kernel.mem.free(pool.frameBase, pool.count * XDP_FRAME_SZ, XDP_FRAME_SZ);
      this.kernel.mem.free(pool.ctxBase, pool.count * XDP_CTX_BLOCK, 64);
    }
    freeHostProg(this.kernel, e.redirect);
    freeHostProg(this.kernel, e.rx);
    this.kernel.netdevs.delete(e.nicIfindex);
    this.cfg.log("datapath_stop", { tap: tap.name, guest: tap.guest });
  }

  /** Stops every datapath, including those already stopping (their taps went). */
  async stopAll(): Promise<void> {
    await Promise.all([...[...this.#entries.keys()].map((t) => this.stop(t)), ...this.#stopping.values()]);
  }

  /** One `vxo host pktgen` run into `tap`: sends, waits for vhost to drain it, reports this run's counters. */
  pktgen(tap: Tap, p: PktgenParams): Promise<PktgenReport> {
    if (p.case !== 1 && p.case !== 2) throw new KernelError(EINVAL, `pktgen: case ${p.case} is not 1 (devmap redirect) or 2 (bridge)`);
    return this.#run(tap, async (dp, e) => {
      if (p.case === 1 && e.redirect === null) {
        const r = loadHostProg(this.kernel, REDIRECT_PROG);
        for (const m of r.usedMaps) {
          if (m.mapType !== BPF_MAP_TYPE_DEVMAP) continue;
          const rc = m.sysUpdate(Uint8Array.of(0, 0, 0, 0), new Uint8Array(new Uint32Array([tap.ifindex]).buffer), 0);
          if (rc !== 0) throw new KernelError(-rc, `Cannot point NIC-B's devmap at ${tap.name}`);
        }
        e.redirect = r;
      }
      let size = p.size;
      if (p.pcap !== null) {
        const f = readPcap(p.pcap, "pcap");
        dp.setTemplates({ pcap: f.packets });
        size = Math.round(f.packets.reduce((a, q) => a + q.data.length, 0) / Math.max(1, f.packets.length));
      } else {
        dp.setTemplates({ size: p.size, flows: p.flows });
      }
      const warmup = p.warmup ?? 0;
      const start = dp.counters();
      let before = start;
      const offRuns = (c: Record<string, Record<string, number>>) => {
        const t = c.tun_xdp!;
        return t.off_drop! + t.off_tx! + t.off_pass! + t.off_redirect! + t.off_aborted! + t.off_unknown!;
      };
      const r = await dp.pktgen(p.count, { nicProg: p.case === 1 ? e.redirect : null, ratePps: p.ratePps, size, flows: p.flows,
        timeoutMs: Math.max(120_000, p.ratePps > 0 ? ((p.count + warmup) / p.ratePps) * 2000 + 60_000 : 0),
        warmup, onWarm: async () => {
          await dp.drain();
          before = dp.counters();
        } });
      const w = subCounters(before, start);
      const warmupProgramPackets = dp.offload !== null ? offRuns(w) : w.vhost_net?.rx_packets ?? 0;
      const t1 = performance.now();
      await dp.drain();
      const drainMs = performance.now() - t1;
      const delta = subCounters(dp.counters(), before);
      const tx = delta.tun_xdp!;
      const xdpPackets = dp.offload !== null
        ? tx.off_drop! + tx.off_tx! + tx.off_pass! + tx.off_redirect! + tx.off_aborted! + tx.off_unknown!
        : ((n) => n.xdp_drop! + n.xdp_tx! + n.xdp_pass! + n.xdp_redirect! + n.xdp_aborted! + n.xdp_unknown!)(delta.nic!);
      const usec = (r.wallMs + drainMs) * 1000;
      return {
        tap: tap.name, guest: tap.guest, case: p.case, hook: this.cfg.hook, count: p.count, size, flows: p.flows,
        offload: dp.offload?.name ?? null, usec: Math.round(usec), usecProducer: Math.round(r.wallMs * 1000),
        usecDrain: Math.round(drainMs * 1000), pps: Math.round(delta.pktgen!.sent! / (usec / 1e6)),
        xdpPackets, xdpMpps: xdpPackets / usec, warmup, warmupProgramPackets, fates: datapathFates(delta), delta,
      };
    });
  }

  /** Counters of every tap (zeros and running: false for taps whose datapath has not started). */
  async stats(taps: readonly Tap[]): Promise<HostStats> {
    const out: HostStats = { taps: [], guests: [] };
    for (const t of taps) {
      const e = this.#entries.get(t);
      const dp = e === undefined ? null : await e.dp.catch(() => null);
      const counters = dp === null ? {} : dp.counters();
      out.taps.push({
        tap: t.name, ifindex: t.ifindex, guest: t.guest, nic: t.nic, running: dp !== null, hook: this.cfg.hook,
        offload: dp?.offload?.name ?? null, rxProg: e?.rx?.name ?? null, counters, fates: dp === null ? null : datapathFates(counters),
        virtio: dp === null ? null : { ...dp.virtio }, guestConnected: dp?.hasGuest ?? false,
      });
    }
    for (const ts of out.taps) {
      let g = out.guests.find((x) => x.guest === ts.guest);
      if (g === undefined) {
        g = { guest: ts.guest, taps: [], counters: {}, fates: { sent: 0, dropped: 0, tx: 0, passed: 0, errors: 0 } };
        out.guests.push(g);
      }
      g.taps.push(ts.tap);
      for (const [stage, c] of Object.entries(ts.counters)) {
        const d = (g.counters[stage] ??= {});
        for (const [k, v] of Object.entries(c)) d[k] = k === "batch_max" ? Math.max(d[k] ?? 0, v) : (d[k] ?? 0) + v;
      }
      if (ts.fates !== null) for (const k of Object.keys(g.fates) as Array<keyof DatapathFates>) g.fates[k] += ts.fates[k];
    }
    return out;
  }
}

/** The tap named `name` (or the first tap when empty). Throws ENODEV. */
export function findTap(taps: readonly Tap[], name: string): Tap {
  const t = name === "" ? taps[0] : taps.find((x) => x.name === name);
  if (t === undefined) throw new KernelError(ENODEV, name === "" ? "Cannot send: no tap (no guest connected)" : `Cannot find device "${name}"`);
  return t;
}

/** `vxo host stats` as ethtool -S prints: a header per device, then "     name: value". */
export function renderHostStats(s: HostStats): string {
  const lines: string[] = [];
  const block = (c: Record<string, Record<string, number>>) => {
    for (const [stage, kv] of Object.entries(c)) for (const [k, v] of Object.entries(kv)) lines.push(`     ${stage}.${k}: ${v}`);
  };
  for (const t of s.taps) {
    lines.push(`${t.tap}: guest ${t.guest} nic ${t.nic} hook ${t.hook}${t.offload === null ? "" : ` xdpoffload ${t.offload}`}` +
      `${t.rxProg === null ? "" : ` rx_prog ${t.rxProg}`}${t.running ? "" : " datapath not started"}` +
      `${t.running && !t.guestConnected ? " no guest" : ""}`);
    if (t.virtio?.broken === true) lines.push(`     virtio: NEEDS_RESET (${t.virtio.reason})`);
    if (t.fates !== null) {
      const f = t.fates;
      lines.push(`     sent: ${f.sent}`, `     dropped: ${f.dropped}`, `     tx: ${f.tx}`, `     passed: ${f.passed}`, `     errors: ${f.errors}`);
    }
    block(t.counters);
  }
  for (const g of s.guests) {
    const f = g.fates;
    lines.push(`guest ${g.guest}: taps ${g.taps.join(",")}`);
    lines.push(`     sent: ${f.sent}`, `     dropped: ${f.dropped}`, `     tx: ${f.tx}`, `     passed: ${f.passed}`, `     errors: ${f.errors}`);
  }
  if (lines.length === 0) lines.push("no taps");
  return lines.join("\n") + "\n";
}

/** pktgen's "Result:" lines (/proc/net/pktgen/DEV), then the fates and the counters this run moved. */
export function renderPktgen(r: PktgenReport): string {
  const bps = Math.round(r.pps * r.size * 8);
  const f = r.fates;
  const lines = [
    `Params: count ${r.count}  warmup: ${r.warmup}  pkt_size: ${r.size}  flows: ${r.flows}  case: ${r.case}  dst: ${r.tap} (guest ${r.guest})  ` +
      `xdp_offload_hook: ${r.hook}  xdpoffload: ${r.offload ?? "none"}`,
    `Result: OK: ${r.usec}(c${r.usecProducer}+d${r.usecDrain}) usec, ${f.sent} (${r.size}byte,0frags)`,
    `  ${r.pps}pps ${Math.round(bps / 1e6)}Mb/sec (${bps}bps) errors: ${f.errors}`,
    `  xdp: ${r.xdpPackets} packets, ${r.xdpMpps.toFixed(3)} Mpps`,
    `  sent: ${f.sent}  dropped: ${f.dropped}  tx: ${f.tx}  passed: ${f.passed}  errors: ${f.errors}`,
  ];
  for (const [stage, kv] of Object.entries(r.delta)) {
    for (const [k, v] of Object.entries(kv)) if (v !== 0) lines.push(`     ${stage}.${k}: ${v}`);
  }
  return lines.join("\n") + "\n";
}
