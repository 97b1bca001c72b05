// Model vs paper for one profile: the eight figures (fitted or held out), each
// row's offload/non-offload ratio, the December re-run beside them, and the
// held-out vhost-polling claim ("vhost polling improves these numbers but in
// that case non-offload performance also improves and remains higher than the
// offload case"), with the mechanism read from the model's counters.
import { runModelSync, defaultPackets } from "./index.ts";
import { loadFigures, FIGURE_TOLERANCE, RATIO_TOLERANCE, relErr, type Figure } from "./figures.ts";
import type { Profile } from "./profile.ts";

/** Busy-poll timeout of the held-out claim (anchors §3.3: T_poll >= 50 us). */
export const CLAIM_BUSY_POLL_US = 50;

export interface FigureEval {
  label: Figure["label"];
  case: 1 | 2;
  program: "xdp1" | "xdp2";
  mode: "offload" | "non_offload";
  role: "fitted" | "held-out";
  paper: number;
  rerun: number;
  model: number;
  err: number;
  errRerun: number;
  ok: boolean;
  wakesPerPacket: number;
  /** sk_data_ready() calls that found vhost's poll armed but paid no wake (queued or running), per call. */
  armedPerPacket: number;
  batchMean: number | null;
  /** Share of the run each task's CPU was busy (guest 0): NIC softirq, vhost worker, guest vCPU (null with offload). */
  busy: { softirq: number; vhost: number; vcpu: number | null };
  /** vhost-net handle_rx: packets per run and interrupts raised per run (null when nothing went to the guest). */
  pktsPerRun: number | null;
  signalsPerRun: number | null;
  /** The counters that explain the figure, in words (every row; read it beside a miss). */
  why: string;
}

export interface RatioEval {
  case: 1 | 2;
  program: "xdp1" | "xdp2";
  paper: number;
  rerun: number;
  model: number;
  err: number;
  ok: boolean;
}

export interface BusyPollEval {
  busyPollUs: number;
  rows: Array<{ program: "xdp1" | "xdp2"; mode: "offload" | "non_offload"; without: number; with: number; rises: boolean; wakesWithout: number; wakesWith: number; armedWithout: number; armedWith: number }>;
  bothRise: boolean;
  nonOffloadAbove: boolean;
  mechanism: string;
}

export interface Evaluation {
  profile: string;
  figures: FigureEval[];
  ratios: RatioEval[];
  busyPoll: BusyPollEval;
}

/**
 * sk_data_ready() calls that found the poll armed but paid no wake (the work queued, or the
 * worker running: c_wq each), per sk_data_ready; 0 when no packet reached the tap's ring.
 */
function armedPerSdr(r: ReturnType<typeof runModelSync>): number {
  const c = r.sim.perGuest[0]!.counters, w = c.vhost_wakers!, sdr = c.tun_xmit!.sk_data_ready!;
  return sdr > 0 ? (w.wake_queued! + w.wake_running!) / sdr : 0;
}

/**
 * Lets the event loop turn between two runs. Each run's kernel memory (a shared
 * WebAssembly.Memory) is given back to the system only from a task V8 posts after the
 * collection, so hundreds of runs back to back without a turn (a calibration) held
 * gigabytes (2 GB per calibration; the sensitivity sweep ran out of the machine's 24).
 */
export function turnEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Throws FiguresUnavailableError without ../shared/reference (there is nothing to compare against). */
export async function evaluate(p: Profile, fitted: ReadonlySet<string>, packets?: { 1: number; 2: number }): Promise<Evaluation> {
  const pk = (c: 1 | 2): number => packets?.[c] ?? defaultPackets(c);
  const figures: FigureEval[] = [];
  for (const f of loadFigures()) {
    const r = runModelSync({ case: f.case, program: f.program, mode: f.mode, packets: pk(f.case) }, p);
    await turnEventLoop();
    const err = relErr(r.mpps, f.paper);
    const g = r.sim.perGuest[0]!, vn = g.counters.vhost_net!, span = r.sim.virtualNs, pl = p.placement;
    const share = (cpu: number): number => (r.sim.cpuBusyNs[cpu] ?? 0) / span;
    const busy = { softirq: share(pl.softirq), vhost: share(pl.vhost), vcpu: f.mode === "offload" ? null : share(pl.vcpu) };
    const pktsPerRun = vn.rx_packets! > 0 ? vn.rx_packets! / vn.rx_runs! : null;
    const signalsPerRun = vn.rx_packets! > 0 ? vn.rx_signals! / vn.rx_runs! : null;
    const pc = (x: number): string => `${(100 * x).toFixed(0)}%`;
    const why = `busy: softirq ${pc(busy.softirq)}, vhost ${pc(busy.vhost)}${busy.vcpu === null ? "" : `, vcpu ${pc(busy.vcpu)}`}; ` +
      `wakes/pkt ${r.wakesPerPacket.toFixed(2)}; armed without a wake ${armedPerSdr(r).toFixed(2)}/pkt; consume batch ${r.batchMean === undefined ? "-" : r.batchMean.toFixed(1)}` +
      (pktsPerRun === null ? "" : `; handle_rx ${pktsPerRun.toFixed(1)} pkts and ${signalsPerRun!.toFixed(2)} interrupts per run`) +
      (vn.tx_packets! > 0 ? `; handle_tx ${(vn.tx_packets! / vn.tx_runs!).toFixed(1)} pkts per run` : "");
    figures.push({
      label: f.label, case: f.case, program: f.program, mode: f.mode, role: fitted.has(f.label) ? "fitted" : "held-out",
      paper: f.paper, rerun: f.rerun, model: r.mpps, err, errRerun: relErr(r.mpps, f.rerun), ok: Math.abs(err) <= FIGURE_TOLERANCE,
      wakesPerPacket: r.wakesPerPacket, armedPerPacket: armedPerSdr(r), batchMean: r.batchMean ?? null, busy, pktsPerRun, signalsPerRun, why,
    });
  }
  const ratios: RatioEval[] = [];
  for (const c of [1, 2] as const) for (const program of ["xdp1", "xdp2"] as const) {
    const off = figures.find((f) => f.case === c && f.program === program && f.mode === "offload")!;
    const non = figures.find((f) => f.case === c && f.program === program && f.mode === "non_offload")!;
    const paper = off.paper / non.paper, model = off.model / non.model, err = relErr(model, paper);
    ratios.push({ case: c, program, paper, rerun: off.rerun / non.rerun, model, err, ok: Math.abs(err) <= RATIO_TOLERANCE });
  }
  const rows: BusyPollEval["rows"] = [];
  for (const program of ["xdp1", "xdp2"] as const) for (const mode of ["non_offload", "offload"] as const) {
    const base = figures.find((f) => f.case === 2 && f.program === program && f.mode === mode)!;
    const r = runModelSync({ case: 2, program, mode, packets: pk(2), busyPollUs: CLAIM_BUSY_POLL_US }, p);
    await turnEventLoop();
    rows.push({ program, mode, without: base.model, with: r.mpps, rises: r.mpps > base.model * 1.005, wakesWithout: base.wakesPerPacket, wakesWith: r.wakesPerPacket,
      armedWithout: base.armedPerPacket, armedWith: armedPerSdr(r) });
  }
  const bothRise = rows.every((r) => r.rises);
  const nonOffloadAbove = (["xdp1", "xdp2"] as const).every((pg) =>
    rows.find((r) => r.program === pg && r.mode === "non_offload")!.with > rows.find((r) => r.program === pg && r.mode === "offload")!.with);
  const off1 = rows.find((r) => r.program === "xdp1" && r.mode === "offload")!;
  const non1 = rows.find((r) => r.program === "xdp1" && r.mode === "non_offload")!;
  const mechanism =
    `with a ${CLAIM_BUSY_POLL_US} us busy poll, offload wakes/packet ${off1.wakesWithout.toFixed(2)} -> ${off1.wakesWith.toFixed(2)}: ` +
    "the poll ends at the first arrival, the offloaded program drops it inside tun_recvmsg, vhost's peek after the poll finds " +
    "nothing for the guest, so handle_rx re-arms and sleeps and the next packet pays a wake (vhost_net_rx_peek_head_len polls once per peek); " +
    `non-offload wakes/packet ${non1.wakesWithout.toFixed(2)} -> ${non1.wakesWith.toFixed(2)} and sk_data_ready finding the poll armed without a wake ` +
    `${non1.armedWithout.toFixed(2)} -> ${non1.armedWith.toFixed(2)} per packet: without polling handle_rx re-arms at the end of every short run, so the next ` +
    "arrival takes the wait-queue path (c_wq) while the worker signals the guest; packets handed to the guest keep a polling handle_rx in its loop, " +
    "the socket poll stays disarmed and the producer pays only sk_data_ready";
  return { profile: p.name, figures, ratios, busyPoll: { busyPollUs: CLAIM_BUSY_POLL_US, rows, bothRise, nonOffloadAbove, mechanism } };
}

const RED = process.stdout.isTTY ? "\x1b[31m" : "";
const RESET = process.stdout.isTTY ? "\x1b[0m" : "";

/** A relative error as a signed percentage with one decimal ("+3.4%"). */
export function pct(x: number): string {
  return `${x >= 0 ? "+" : ""}${(100 * x).toFixed(1)}%`;
}

/** The evaluation as terminal tables; misses are marked MISS (red on a terminal). */
export function formatEvaluation(ev: Evaluation): string {
  const L: string[] = [];
  const miss = (ok: boolean, s: string): string => (ok ? s : `${RED}${s} MISS${RESET}`);
  L.push(`model vs RFC (profile ${ev.profile}; targets: figure within ${100 * FIGURE_TOLERANCE}%, ratio within ${100 * RATIO_TOLERANCE}%)`);
  L.push("fig  case prog mode         role      paper  re-run  model   error    vs re-run  wakes/pkt  batch");
  for (const f of ev.figures) {
    L.push(`${f.label}   ${f.case}    ${f.program} ${f.mode.padEnd(12)} ${f.role.padEnd(9)} ${f.paper.toFixed(2).padStart(5)}  ${f.rerun.toFixed(2).padStart(6)}  ${f.model.toFixed(3).padStart(6)}  ` +
      `${miss(f.ok, pct(f.err).padStart(7))}  ${pct(f.errRerun).padStart(8)}  ${f.wakesPerPacket.toFixed(3).padStart(9)}  ${f.batchMean === null ? "   -" : f.batchMean.toFixed(1).padStart(5)}`);
  }
  L.push("");
  L.push("what the counters say (guest 0):");
  for (const f of ev.figures) L.push(`  ${f.label} ${f.ok ? "   " : "MISS"} ${f.why}`);
  L.push("");
  L.push("offload/non-offload ratio per row: paper  re-run  model  error");
  for (const r of ev.ratios) L.push(`  case ${r.case} ${r.program}:                  ${r.paper.toFixed(2).padStart(5)}  ${r.rerun.toFixed(2).padStart(6)}  ${r.model.toFixed(2).padStart(5)}  ${miss(r.ok, pct(r.err))}`);
  const held = ev.figures.filter((f) => f.role === "held-out");
  L.push("");
  L.push(`held out (not fitted): ${held.map((f) => `${f.label} ${pct(f.err)}${f.ok ? "" : " MISS"}`).join(", ")}`);
  const bp = ev.busyPoll;
  L.push("");
  L.push(`held-out claim, Case 2 with vhost busy polling (${bp.busyPollUs} us): "polling improves both, non-offload stays above offload"`);
  for (const r of bp.rows) L.push(`  ${r.program} ${r.mode.padEnd(12)} ${r.without.toFixed(3)} -> ${r.with.toFixed(3)} Mpps  ${r.rises ? "rises" : miss(false, "does not rise")}  (wakes/pkt ${r.wakesWithout.toFixed(2)} -> ${r.wakesWith.toFixed(2)}, armed without a wake ${r.armedWithout.toFixed(2)} -> ${r.armedWith.toFixed(2)})`);
  L.push(`  both rise: ${bp.bothRise ? "yes" : miss(false, "no")}; non-offload above offload: ${bp.nonOffloadAbove ? "yes" : miss(false, "no")}`);
  L.push(`  mechanism: ${bp.mechanism}`);
  return L.join("\n");
}
