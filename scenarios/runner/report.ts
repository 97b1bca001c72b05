// The report of one scenario run (reports/<scenario>/report.json; the .md and
// .html are rendered from it): every cell's model result and emulator runs,
// the RFC-style table for case1/case2 (`rows`, Mpps), the checks of the
// scenario's expectations, and where it was made. Targets: the model within
// 15% of each paper figure, each row's offload/non-offload ratio (model and
// emulator) within 20% of the paper's; a miss is flagged, never dropped.
import type { CellSpec, Expectation, Metric, Mode, Program, Scenario, Source, TableSpec } from "../types.ts";
import type { EmulatorCell } from "./emulator.ts";
import type { Environment } from "./environment.ts";
import type { ModelCell } from "./model_side.ts";
import type { Paper } from "./paper.ts";

export const REPORT_SCHEMA = "vxo.scenario-report/1";
export const TARGETS = { figurePct: 15, ratioPct: 20 } as const;

export interface CellReport {
  id: string;
  spec: CellSpec;
  model: ModelCell | { status: "skipped"; reason: string };
  emulator: EmulatorCell | { status: "skipped"; reason: string };
}

/** An emulator figure: median and range over the runs (null with the reason when there is none). */
export interface EmulatorFigure { median: number; min: number; max: number; n: number }

export interface Row {
  program: Program;
  /** Null (both modes) without ../shared/reference: printed "n/a (../shared/reference missing)". */
  paper: Record<Mode, number | null>;
  /** The same author's re-run of the table (Dec 2019), beside the paper's (null as paper). */
  rerun: Record<Mode, number | null>;
  model: Record<Mode, number | null>;
  emulator: Record<Mode, number | null>;
  emulatorRange: Record<Mode, EmulatorFigure | null>;
  /** (model - paper) / paper, in %; null without a model or a paper figure. */
  errorPct: Record<Mode, number | null>;
  /** offload / non-offload (paper and rerun null without ../shared/reference). */
  ratio: { paper: number | null; rerun: number | null; model: number | null; emulator: number | null };
  ratioErrorPct: { model: number | null; emulator: number | null };
  /** Figures that miss their target (model vs paper 15%, ratios 20%). */
  misses: string[];
  /** Why a model or emulator figure is missing, per "source/mode". */
  unavailable: Record<string, string>;
}

export interface Check {
  what: string;
  status: "pass" | "fail" | "not_checked";
  detail: string;
}

export interface Report {
  schema: typeof REPORT_SCHEMA;
  scenario: string;
  title: string;
  description: string;
  generatedAt: string;
  durationMs: number;
  options: { packets: number; modelPackets: number | string; runs: number; modelOnly: boolean; emulatorOnly: boolean; host: string | null; profile: string | null };
  environment: Environment;
  paper: { citation: string; rerunCitation: string; source: string; isSharedAvailable: boolean; note: string | null; sweepCitation: string };
  targets: typeof TARGETS;
  table: TableSpec;
  cells: CellReport[];
  /** The RFC-style table (case1, case2 only). */
  rows: Row[] | null;
  /** Reference series beside a sweep (batch-sweep: the anchor's C4/C5), x -> Mpps; points null without ../shared/reference. */
  reference: Array<{ name: string; citation: string; points: Record<string, number> | null }>;
  checks: Check[];
}

/** The figure `metric` of a cell from `source`, or null with no figure. */
export function cellMetric(c: CellReport, source: Source, metric: Metric): number | null {
  if (source === "model") {
    if (c.model.status !== "ok") return null;
    const v = c.model.result[metric];
    return typeof v === "number" && Number.isFinite(v) ? v : null;
  }
  if (c.emulator.status !== "ok") return null;
  if (metric === "mpps") return c.emulator.mpps.median;
  const xs = c.emulator.runs.map((r) => r[metric]).filter((v): v is number => typeof v === "number");
  return xs.length === 0 ? null : xs.reduce((a, b) => a + b, 0) / xs.length;
}

const pct = (v: number, ref: number) => ((v - ref) / ref) * 100;

function reasonOf(x: CellReport["model"] | CellReport["emulator"]): string {
  return x.status === "ok" ? "" : x.reason;
}

/** The RFC-style rows of a case table from its cells (ids "xdpN/mode"). */
export function buildRows(kase: "case1" | "case2", cells: CellReport[], paper: Paper): Row[] {
  const rows: Row[] = [];
  for (const program of ["xdp1", "xdp2"] as const) {
    const get = (mode: Mode) => cells.find((c) => c.id === `${program}/${mode}`);
    const pub = paper[kase]?.[program] ?? null, re = paper.rerun?.[kase][program] ?? null;
    const row: Row = {
      program, paper: pub ?? { non_offload: null, offload: null }, rerun: re ?? { non_offload: null, offload: null },
      model: { non_offload: null, offload: null }, emulator: { non_offload: null, offload: null },
      emulatorRange: { non_offload: null, offload: null }, errorPct: { non_offload: null, offload: null },
      ratio: { paper: pub === null ? null : pub.offload / pub.non_offload,
        rerun: re === null ? null : re.offload / re.non_offload, model: null, emulator: null },
      ratioErrorPct: { model: null, emulator: null }, misses: [], unavailable: {},
    };
    for (const mode of ["non_offload", "offload"] as const) {
      const c = get(mode);
      if (c === undefined) continue;
      row.model[mode] = cellMetric(c, "model", "mpps");
      if (row.model[mode] === null) row.unavailable[`model/${mode}`] = reasonOf(c.model);
      if (c.emulator.status === "ok") {
        row.emulator[mode] = c.emulator.mpps.median;
        row.emulatorRange[mode] = c.emulator.mpps;
      } else {
        row.unavailable[`emulator/${mode}`] = reasonOf(c.emulator);
      }
      const m = row.model[mode], ref = row.paper[mode];
      if (m !== null && ref !== null) {
        row.errorPct[mode] = pct(m, ref);
        if (Math.abs(row.errorPct[mode]) > TARGETS.figurePct) row.misses.push(`model/${mode}`);
      }
    }
    for (const src of ["model", "emulator"] as const) {
      const n = row[src].non_offload, o = row[src].offload;
      if (n !== null && o !== null && n > 0) {
        row.ratio[src] = o / n;
        if (row.ratio.paper === null) continue;
        row.ratioErrorPct[src] = pct(o / n, row.ratio.paper);
        if (Math.abs(row.ratioErrorPct[src]) > TARGETS.ratioPct) row.misses.push(`ratio/${src}`);
      }
    }
    rows.push(row);
  }
  return rows;
}

/** Evaluates the scenario's expectations and the conservation of every result. */
export function buildChecks(sc: Scenario, cells: CellReport[]): Check[] {
  const checks: Check[] = [];
  const byId = new Map(cells.map((c) => [c.id, c]));
  const fmt = (v: number) => (Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(3));
  const val = (e: Expectation, id: string) => {
    const c = byId.get(id);
    return c === undefined ? null : cellMetric(c, e.source, e.metric);
  };
  for (const e of sc.expectations) {
    const what = `${e.what} (${e.source} ${e.metric})`;
    const ids = e.kind === "between" ? e.cells : e.kind === "rises" ? e.pairs.flat() : [e.a, e.b];
    const missing = ids.filter((id) => val(e, id) === null);
    if (missing.length > 0) {
      checks.push({ what, status: "not_checked", detail: `no ${e.source} figure for ${missing.join(", ")}` });
      continue;
    }
    if (e.kind === "between") {
      const bad = e.cells.filter((id) => (e.min !== undefined && val(e, id)! < e.min) || (e.max !== undefined && val(e, id)! > e.max));
      const detail = e.cells.map((id) => `${id} ${fmt(val(e, id)!)}`).join(", ") +
        ` (want ${e.min !== undefined ? `>= ${e.min}` : ""}${e.min !== undefined && e.max !== undefined ? " and " : ""}${e.max !== undefined ? `<= ${e.max}` : ""})`;
      checks.push({ what, status: bad.length === 0 ? "pass" : "fail", detail });
    } else if (e.kind === "rises") {
      const bad = e.pairs.filter(([a, b]) => !(val(e, b)! > val(e, a)!));
      checks.push({ what, status: bad.length === 0 ? "pass" : "fail",
        detail: e.pairs.map(([a, b]) => `${a} ${fmt(val(e, a)!)} -> ${b} ${fmt(val(e, b)!)}`).join(", ") });
    } else {
      const a = val(e, e.a)!, b = val(e, e.b)!;
      checks.push({ what, status: a > b ? "pass" : "fail", detail: `${e.a} ${fmt(a)} vs ${e.b} ${fmt(b)}` });
    }
  }
  const broken: string[] = [];
  let counted = 0;
  for (const c of cells) {
    if (c.model.status === "ok") {
      counted++;
      if (!c.model.conserved) broken.push(`model ${c.id}`);
    }
    if (c.emulator.status === "ok") {
      counted += c.emulator.runs.length;
      for (const [i, r] of c.emulator.runs.entries()) {
        if (r.sent !== r.dropped + r.tx + r.passed + r.errors) {
          broken.push(`emulator ${c.id} run ${i + 1} (sent ${r.sent}, dropped ${r.dropped} + tx ${r.tx} + passed ${r.passed} + errors ${r.errors})`);
        }
      }
    }
  }
  checks.push({
    what: "conservation: sent = dropped + tx + passed + errors",
    status: counted === 0 ? "not_checked" : broken.length === 0 ? "pass" : "fail",
    detail: counted === 0 ? "no results" : broken.length === 0 ? `${counted} results` : `broken in ${broken.join(", ")}`,
  });
  return checks;
}
