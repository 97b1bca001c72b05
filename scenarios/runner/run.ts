// The scenario runner: for each scenario, the model side (runModel per cell)
// and the emulator side (real processes, grouped by the host configuration
// their cells need), the checks, and reports/<scenario>/report.{json,md,html}.
// Its children are stopped at the end of every topology, on failure, and on
// SIGINT/SIGTERM (children.ts); an already running host named by URL is used,
// never stopped.
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { RunModel, Scenario } from "../types.ts";
import { DEFAULT_STEPS } from "../types.ts";
import { ChildSet, installSignalStop } from "./children.ts";
import { hostArgsFor, Topology, type EmulatorCell } from "./emulator.ts";
import { environment } from "./environment.ts";
import { loadRunModel, runModelCell, type ModelModule } from "./model_side.ts";
import { loadPaper } from "./paper.ts";
import { startProgress, type Progress } from "./progress.ts";
import { renderHtml } from "./render_html.ts";
import { renderMarkdown } from "./render.ts";
import { buildChecks, buildRows, REPORT_SCHEMA, TARGETS, type CellReport, type Report } from "./report.ts";
import { DEFAULT_REPORTS_DIR } from "./paths.ts";

export interface RunOptions {
  /** Packets per emulator run and per model run (default: DEFAULT_PACKETS for the emulator, the model's own count). */
  packets?: number;
  /** Packets per emulator run only (npm start: a modest count), when `packets` is not given. */
  emulatorPackets?: number;
  runs?: number;
  outDir?: string;
  isModelOnly?: boolean;
  isEmulatorOnly?: boolean;
  /** An already running host (ws:// URL) instead of starting one. */
  hostUrl?: string;
  /** The model's cost profile (passed to runModel). */
  profile?: string;
  /** Tests only: a stand-in for scenarios/model/index.ts. */
  runModel?: RunModel;
  /** Progress stream (default stderr); null for none. */
  progress?: NodeJS.WriteStream | null;
  /** Told of every process the run starts (pid), as it starts it. */
  onChildStart?: (c: { kind: string; name: string; pid: number }) => void;
  /** Tests only: the paper figures file in ../shared (to simulate a clone without it). */
  sharedResults?: string;
}

export const DEFAULT_PACKETS = 200_000;
export const DEFAULT_RUNS = 3;

/** Runs `scenarios` one after the other; returns their reports (also written to outDir). */
export async function runScenarios(scenarios: Scenario[], o: RunOptions = {}): Promise<Report[]> {
  const children = new ChildSet(o.onChildStart);
  const removeHandlers = installSignalStop(children);
  const runs = o.runs ?? DEFAULT_RUNS;
  const units = scenarios.reduce((a, s) => a + s.cells.length * ((o.isEmulatorOnly === true ? 0 : 1) + (o.isModelOnly === true ? 0 : runs)), 0);
  const progress = startProgress(units, o.progress === undefined ? process.stderr : o.progress);
  const out: Report[] = [];
  try {
    let model: ModelModule | { unavailable: string } = { unavailable: "model side not run (--emulator-only)" };
    if (o.isEmulatorOnly !== true) {
      try {
        model = o.runModel !== undefined ? { runModel: o.runModel } : await loadRunModel();
      } catch (e) {
        // A model that does not load is said in every model cell; the emulator side still runs.
        model = { unavailable: `cannot load the performance model: ${errText(e)}` };
      }
    }
    for (const sc of scenarios) {
      const rep = await runScenario(sc, o, children, model, progress);
      writeReport(rep, o.outDir ?? DEFAULT_REPORTS_DIR);
      out.push(rep);
    }
  } finally {
    progress.stop();
    await children.stopAll();
    removeHandlers();
  }
  return out;
}

async function runScenario(sc: Scenario, o: RunOptions, children: ChildSet, model: ModelModule | { unavailable: string }, progress: Progress): Promise<Report> {
  const t0 = Date.now();
  const packets = o.packets ?? o.emulatorPackets ?? sc.defaultPackets ?? DEFAULT_PACKETS;
  /** The model's packets for a cell: --packets, else the model's own count for the case, else the emulator's. */
  const modelPackets = (kase: 1 | 2) => o.packets ?? ("runModel" in model && model.defaultPackets !== undefined ? model.defaultPackets(kase) : packets);
  const runs = o.runs ?? DEFAULT_RUNS;
  const hostUrl = o.hostUrl ?? sc.topology.host?.url;
  const paper = loadPaper(o.sharedResults);
  const cells: CellReport[] = sc.cells.map((spec) => ({
    id: spec.id, spec,
    model: { status: "skipped", reason: "not run (--emulator-only)" },
    emulator: { status: "skipped", reason: "not run (--model-only)" },
  }));
  if (o.isEmulatorOnly !== true) {
    for (const c of cells) {
      progress.label(`${sc.name} ${c.id} (model)`);
      c.model = "runModel" in model ? await runModelCell(model.runModel, c.spec, modelPackets(c.spec.case), o.profile) : { status: "unavailable", reason: model.unavailable };
      progress.tick();
    }
  }
  if (o.isModelOnly !== true) await runEmulator(sc, cells, { packets, runs, hostUrl }, children, progress);
  const rows = sc.table.kind === "paper" ? buildRows(sc.table.table, cells, paper) : null;
  const reference = sc.name === "batch-sweep"
    ? [{ name: "anchor C4 (vhost TX)", citation: paper.sweepCitation, points: paper.sweep?.C4_tx ?? null },
      { name: "anchor C5 (vhost RX)", citation: paper.sweepCitation, points: paper.sweep?.C5_rx ?? null }]
    : [];
  return {
    schema: REPORT_SCHEMA, scenario: sc.name, title: sc.title, description: sc.description,
    generatedAt: new Date().toISOString(), durationMs: Date.now() - t0,
    options: { packets, modelPackets: o.packets === undefined && "runModel" in model && model.defaultPackets !== undefined ? "the model's own per case" : packets, runs, modelOnly: o.isModelOnly === true, emulatorOnly: o.isEmulatorOnly === true, host: hostUrl ?? null, profile: o.profile ?? null },
    environment: environment(),
    paper: { citation: paper.citation, rerunCitation: paper.rerunCitation, sweepCitation: paper.sweepCitation, source: paper.source, isSharedAvailable: paper.isSharedAvailable, note: paper.note },
    targets: TARGETS, table: sc.table, cells, rows, reference, checks: buildChecks(sc, cells),
  };
}

/** The emulator side: cells grouped by the topology they need, one topology at a time. */
async function runEmulator(sc: Scenario, cells: CellReport[], o: { packets: number; runs: number; hostUrl: string | undefined },
  children: ChildSet, progress: Progress): Promise<void> {
  const groups = new Map<string, { args: string[]; cells: CellReport[] }>();
  for (const c of cells) {
    const h = hostArgsFor(c.spec);
    if ("unavailable" in h) {
      c.emulator = { status: "unavailable", reason: h.unavailable };
      for (let i = 0; i < o.runs; i++) progress.tick();
      continue;
    }
    const g = groups.get(h.key) ?? { args: h.args, cells: [] };
    g.cells.push(c);
    groups.set(h.key, g);
  }
  let tag = 0;
  for (const [key, g] of groups) {
    const mark = children.size;
    progress.label(`${sc.name}: starting ${key}`);
    try {
      // A host named by URL runs as it was started: a hook other than its own cannot be had there.
      const topo = await Topology.start(children, { hostArgs: g.args, guests: 1, hostUrl: o.hostUrl, tag: `t${tag++}` });
      // Fewest guests first: a topology only grows.
      for (const c of [...g.cells].sort((a, b) => (a.spec.guests ?? 1) - (b.spec.guests ?? 1))) {
        progress.label(`${sc.name} ${c.id} (emulator)`);
        try {
          c.emulator = await topo.runCell(c.spec, sc.steps ?? DEFAULT_STEPS, o.packets, o.runs, () => progress.tick());
        } catch (e) {
          c.emulator = { status: "error", reason: errText(e) };
        }
      }
    } catch (e) {
      for (const c of g.cells) if (c.emulator.status === "skipped") c.emulator = { status: "error", reason: `cannot start ${key}: ${errText(e)}` } satisfies EmulatorCell;
    } finally {
      await children.stop(mark);
    }
  }
}

function errText(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split("\n").slice(0, 3).join(" ");
}

/** Writes report.json, report.md and report.html under outDir/<scenario>/; returns the folder. */
export function writeReport(rep: Report, outDir: string): string {
  const dir = path.join(outDir, rep.scenario);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, "report.json"), JSON.stringify(rep, null, 2) + "\n");
  writeFileSync(path.join(dir, "report.md"), renderMarkdown(rep));
  writeFileSync(path.join(dir, "report.html"), renderHtml(rep));
  return dir;
}
