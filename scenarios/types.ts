// What a scenario is: data naming a topology (host, guests), the programs and
// how they are attached (offloaded to the host's tap, or native in the guest's
// driver), the traffic (pktgen's Case 1 or Case 2), the steps run for every
// cell, and the expectations checked on the results. The runner
// (scenarios/runner/run.ts) turns it into real processes and a performance
// model run; nothing here runs anything. The RFC's test (../shared/seeds/003_*):
//
//   pktgen -> NIC-A == wire == NIC-B --(Case 1: XDP_REDIRECT)--> tun -> vhost -> virtio-net guest
//                                    '--(Case 2: bridge)---------'

/** The RFC's two samples (samples/bpf/xdp1_kern.c, xdp2_kern.c with array maps). */
export type Program = "xdp1" | "xdp2";
/** Where the program runs: the guest's virtio_net driver (xdpdrv) or the host's tap (xdpoffload). */
export type Mode = "offload" | "non_offload";
/** Where the host runs an offloaded program (vxo host --xdp-offload-hook). */
export type Hook = "recvmsg" | "net_xmit" | "xdp_xmit";
export const MODES: readonly Mode[] = ["non_offload", "offload"];
export const PROGRAMS: readonly Program[] = ["xdp1", "xdp2"];

/** One measured configuration: a row of a sweep, one figure of a paper table. */
export interface CellSpec {
  /** Unique in the scenario ("xdp1/offload", "batch=16"). */
  id: string;
  case: 1 | 2;
  program: Program;
  mode: Mode;
  /** Default "recvmsg" (the RFC's placement). */
  hook?: Hook;
  /** vhost busy polling (QEMU's poll-us); 0 or absent: off. */
  busyPollUs?: number;
  /** Packets vhost consumes per tun_recvmsg batch; absent: the RFC's 64. */
  vhostBatch?: number;
  /** Guests on the host, each with its own tap and traffic; absent: 1. */
  guests?: number;
  /** The x value of this cell in a sweep chart (a number, or a category name). */
  x?: number | string;
  /** The series it belongs to in a sweep chart (default "PROGRAM MODE"). */
  series?: string;
}

/**
 * The steps the emulator side runs for each cell, in order, on every guest of
 * the cell's topology. `attach`: `ip -force link set dev eth0 xdpoffload|xdpdrv
 * obj PROG.o` (the other mode's slot cleared first); `warmup`: one untimed
 * pktgen run of `packets`; `traffic`: the measured `vxo host pktgen --case N`
 * runs (one per --runs), the guests' rxcnt read before and after each;
 * `counters`: `vxo host stats --json` kept in the report; `detach`: both slots off.
 */
export type Step =
  | { do: "attach" }
  | { do: "warmup"; packets: number }
  | { do: "traffic" }
  | { do: "counters" }
  | { do: "detach" };

export const DEFAULT_STEPS: readonly Step[] = [{ do: "attach" }, { do: "traffic" }, { do: "counters" }];

/** A figure a check can read from a cell's model result or emulator median. */
export type Metric = "mpps" | "wakesPerPacket" | "copiesPerPacket" | "batchMean";
export type Source = "model" | "emulator";

/** A check on the results, reported as passed, failed or not checked (with why) — never hidden. */
export type Expectation =
  | { kind: "between"; what: string; source: Source; metric: Metric; cells: string[]; min?: number; max?: number }
  | { kind: "rises"; what: string; source: Source; metric: Metric; pairs: Array<[from: string, to: string]> }
  | { kind: "greater"; what: string; source: Source; metric: Metric; a: string; b: string };

/** How the report lays the results out. */
export type TableSpec =
  /** The RFC's table: rows xdp1 and xdp2, paper / model / emulator, non-offload and offload. */
  | { kind: "paper"; table: "case1" | "case2" }
  /** One row per cell, a chart of mpps against the cells' x (line when numeric, bars otherwise). */
  | { kind: "sweep"; xLabel: string; logX?: boolean };

export interface Scenario {
  name: string;
  title: string;
  /** What it asks and why (a paragraph for the report). */
  description: string;
  /**
   * Processes: the host (started by the runner, or an already running one by
   * ws:// URL, possibly on another machine; `vxo scenario run --host URL`
   * overrides), and per guest a device model and a guest kernel, started locally.
   */
  topology: { host?: { url: string }; hostArgs?: string[] };
  cells: CellSpec[];
  steps?: Step[];
  table: TableSpec;
  expectations: Expectation[];
  /** Packets per run when --packets is not given. */
  defaultPackets?: number;
}

/** What the model helper's scenarios/model/index.ts runModel() takes (see scenarios/runner/model_side.ts). */
export interface ModelOpts {
  case: 1 | 2;
  program: Program;
  mode: Mode;
  packets: number;
  hook?: Hook;
  busyPollUs?: number;
  vhostBatch?: number;
  guests?: number;
  profile?: string;
}

/** What runModel() answers: Mpps of the measured program and every packet's fate (the model's own type). */
export type { ModelResult } from "./model/index.ts";
import type { ModelResult } from "./model/index.ts";

export type RunModel = (opts: ModelOpts) => Promise<ModelResult>;

/** The cells of an RFC table: xdp1 and xdp2, non-offload and offload, in Case `kase`. */
export function paperCells(kase: 1 | 2, extra: Partial<CellSpec> = {}, prefix = ""): CellSpec[] {
  const out: CellSpec[] = [];
  for (const program of PROGRAMS) {
    for (const mode of MODES) out.push({ id: `${prefix}${program}/${mode}`, case: kase, program, mode, ...extra });
  }
  return out;
}
