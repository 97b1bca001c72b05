// The performance model's entry point (issue 12): runModel() runs the
// discrete-event simulation of sim.ts (the datapath's own components on a
// virtual clock, costs from a profile) for one cell of the RFC's tables or a
// what-if (hook placement, busy polling, vhost batch, several guests).
import path from "node:path";
import { fileURLToPath } from "node:url";
import { EINVAL, KernelError } from "../../shared/errno.ts";
import { Sim, type SimResult } from "./sim.ts";
import { loadProfile, type Profile } from "./profile.ts";
import { VHOST_NET_BATCH } from "../../host/net/vhost_net.ts";
import { FIGURE_SPECS } from "./figures.ts";

export { loadFigures, hasFigures, FiguresUnavailableError, FIGURE_SPECS, FIGURE_TOLERANCE, RATIO_TOLERANCE, type Figure } from "./figures.ts";
export { evaluate, formatEvaluation, type Evaluation } from "./evaluate.ts";
export { loadProfile, type Profile } from "./profile.ts";

export const PROGRAMS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "programs");

export interface ModelOptions {
  case: 1 | 2;
  program: "xdp1" | "xdp2";
  mode: "offload" | "non_offload";
  /** Packets the generator sends (at G_cap; what NIC-B has no room for is missed, as at line rate). */
  packets: number;
  /** Where the offloaded program runs (offload only): the RFC's tun_recvmsg (default) or tun_net_xmit / tun_xdp_xmit. */
  hook?: "recvmsg" | "net_xmit" | "xdp_xmit";
  /** vhost busy-poll timeout in us (VHOST_SET_VRING_BUSYLOOP_TIMEOUT, QEMU poll-us); 0 = off (default). */
  busyPollUs?: number;
  /** Entries per vhost_net_buf_produce / TX submit (VHOST_NET_BATCH, default 64; tun's consume takes at most 64). */
  vhostBatch?: number;
  /** Guests on the host, each with its own tap, vhost worker and vCPU; their NIC queues share the softirq CPU. */
  guests?: number;
  /** Profile name in scenarios/model/profiles (default: "fitted" when present, else "default") or a path. */
  profile?: string;
  /** CPUs of guest 0's tasks (guest i: vhost + 2i, vcpu + 2i); default the profile's (0, 1, 2). Equal numbers share a CPU. */
  placement?: { softirq: number; vhost: number; vcpu: number };
}

export interface ModelResult {
  /** Aggregate rate of the measured program's verdicts (offloaded program, or the guest's), steady part of the run. */
  mpps: number;
  perGuestMpps?: number[];
  sent: number;
  dropped: number;
  tx: number;
  passed: number;
  errors: number;
  /** Wakes the producers paid (vhost worker asleep) per packet that reached the tap (put into its ring, or run through a producer-side hook). */
  wakesPerPacket: number;
  /**
   * Packet copies across the guest boundary per packet the program processed, from vhost-net's
   * counters (rx_copies into guest receive buffers + tx_copies of the guest's transmits): 0 with
   * offload, 1 for xdp1 and 2 for xdp2 (XDP_TX comes back out through handle_tx) without.
   */
  copiesPerPacket: number;
  /** Mean non-empty tun_consume_packets batch. */
  batchMean?: number;
  /**
   * When this run is one of the RFC's eight cells as measured (default hook, no busy poll,
   * batch 64, one guest, the profile's placement) and the profile's calibration fitted a
   * parameter on that figure: which (a report marks the cell as fitted, not predicted).
   */
  fittedOn?: { figure: string; param: string };
}

/** Default packet counts: enough verdicts for a steady rate, each run well under 3 s. */
export function defaultPackets(c: 1 | 2): number {
  return c === 1 ? 60_000 : 150_000;
}

function check(o: ModelOptions): void {
  const bad = (m: string): never => {
    throw new KernelError(EINVAL, `runModel: ${m}`);
  };
  if (o.case !== 1 && o.case !== 2) bad(`case ${String(o.case)} is not 1 or 2`);
  if (o.program !== "xdp1" && o.program !== "xdp2") bad(`program ${String(o.program)} is not xdp1 or xdp2`);
  if (o.mode !== "offload" && o.mode !== "non_offload") bad(`mode ${String(o.mode)} is not offload or non_offload`);
  if (!Number.isInteger(o.packets) || o.packets < 1) bad(`packets ${o.packets} is not a positive integer`);
  if (o.hook !== undefined && !["recvmsg", "net_xmit", "xdp_xmit"].includes(o.hook)) bad(`hook ${o.hook} unknown`);
  if (o.busyPollUs !== undefined && !(o.busyPollUs >= 0)) bad(`busyPollUs ${o.busyPollUs} < 0`);
  if (o.vhostBatch !== undefined && (!Number.isInteger(o.vhostBatch) || o.vhostBatch < 1 || o.vhostBatch > 4096)) bad(`vhostBatch ${o.vhostBatch} out of 1..4096`);
  if (o.guests !== undefined && (!Number.isInteger(o.guests) || o.guests < 1 || o.guests > 64)) bad(`guests ${o.guests} out of 1..64`);
  if (o.placement !== undefined) {
    for (const k of ["softirq", "vhost", "vcpu"] as const) {
      const v = o.placement[k];
      if (!Number.isInteger(v) || v < 0) bad(`placement.${k} ${String(v)} is not a CPU number`);
    }
  }
}

/** Runs the model synchronously with an already loaded profile (calibration). */
export function runModelSync(o: ModelOptions, profile: Profile): ModelResult & { sim: SimResult } {
  check(o);
  const sim = new Sim({
    case: o.case, program: o.program, mode: o.mode, packets: o.packets, hook: o.hook ?? "recvmsg",
    busyPollUs: o.busyPollUs ?? 0, vhostBatch: o.vhostBatch ?? VHOST_NET_BATCH, guests: o.guests ?? 1, programsDir: PROGRAMS_DIR,
  }, o.placement === undefined ? profile : { ...profile, placement: o.placement });
  const r = sim.run();
  let sent = 0, dropped = 0, tx = 0, passed = 0, errors = 0, wakes = 0, ring = 0, copies = 0, processed = 0, consumed = 0, batches = 0;
  for (const g of r.perGuest) {
    sent += g.sent;
    dropped += g.dropped;
    tx += g.tx;
    passed += g.passed;
    errors += g.errors;
    wakes += g.wakes;
    ring += g.ringPackets;
    copies += g.copies;
    processed += g.processed;
    consumed += g.consumed;
    batches += g.batches;
  }
  return {
    mpps: r.mpps, perGuestMpps: r.perGuest.map((g) => g.mpps), sent, dropped, tx, passed, errors,
    wakesPerPacket: Math.max(ring, processed) > 0 ? wakes / Math.max(ring, processed) : 0, copiesPerPacket: processed > 0 ? copies / processed : 0,
    batchMean: batches > 0 ? consumed / batches : undefined, sim: r,
  };
}

/** The RFC figure a parameter of `profile` was fitted on, if `o` is that figure's cell as measured. */
export function fittedOn(o: ModelOptions, profile: Profile): { figure: string; param: string } | undefined {
  if ((o.hook ?? "recvmsg") !== "recvmsg" || (o.busyPollUs ?? 0) !== 0 || (o.vhostBatch ?? VHOST_NET_BATCH) !== VHOST_NET_BATCH ||
    (o.guests ?? 1) !== 1 || o.placement !== undefined) return undefined;
  const spec = FIGURE_SPECS.find((f) => f.case === o.case && f.program === o.program && f.mode === o.mode);
  const cal = profile.spec.calibration as { fitted?: Array<{ param?: unknown; figure?: unknown }> } | undefined;
  const fit = spec === undefined ? undefined : cal?.fitted?.find((x) => x.figure === spec.label);
  return fit === undefined || typeof fit.param !== "string" ? undefined : { figure: spec!.label, param: fit.param };
}

export async function runModel(opts: ModelOptions): Promise<ModelResult> {
  const profile = loadProfile(opts.profile);
  const { sim: _sim, ...res } = runModelSync(opts, profile);
  void _sim;
  const fit = fittedOn(opts, profile);
  return fit === undefined ? res : { ...res, fittedOn: fit };
}
