// The model side of a scenario: the performance model's runModel()
// (scenarios/model/index.ts, the discrete-event simulation in virtual time) run
// once per cell. Loaded when a run needs it; a module that does not export
// runModel() is said in every model cell instead of a figure. Tests inject a double
// through RunOptions.runModel; what `vxo scenario run` and `npm start` print
// always comes from the real module.
import path from "node:path";
import { pathToFileURL } from "node:url";
import type { CellSpec, ModelResult, RunModel } from "../types.ts";
import { REPO_ROOT } from "./paths.ts";

export type ModelCell =
  | { status: "ok"; result: ModelResult; conserved: boolean; ms: number }
  | { status: "unavailable" | "error"; reason: string };

export const MODEL_MODULE = path.join(REPO_ROOT, "scenarios", "model", "index.ts");

/** The model module as the runner uses it: runModel() and, if it says, its own packet count per case. */
export interface ModelModule { runModel: RunModel; defaultPackets?: (kase: 1 | 2) => number }

/** scenarios/model/index.ts's runModel (and defaultPackets), or why there is none. */
export async function loadRunModel(): Promise<ModelModule | { unavailable: string }> {
  const url = pathToFileURL(MODEL_MODULE).href;
  let mod: { runModel?: unknown; defaultPackets?: unknown };
  try {
    // Under tsx (npm start) and vitest the .ts loads as it is; from the CLI's bundle through tsx's loader.
    // Never bundled: the model finds its profiles and the sample programs beside its own sources.
    mod = (await import(/* @vite-ignore */ url)) as typeof mod;
  } catch (e) {
    if ((e as { code?: string }).code !== "ERR_UNKNOWN_FILE_EXTENSION") throw e;
    // tsx from node_modules as it is (a specifier esbuild leaves alone: bundled, tsx's loader cannot find its own files).
    const tsxApi = "tsx/esm/api";
    const { tsImport } = (await import(/* @vite-ignore */ tsxApi)) as typeof import("tsx/esm/api");
    mod = (await tsImport(url, import.meta.url)) as typeof mod;
  }
  if (typeof mod.runModel !== "function") return { unavailable: `${MODEL_MODULE} does not export runModel()` };
  return {
    runModel: mod.runModel as RunModel,
    ...(typeof mod.defaultPackets === "function" ? { defaultPackets: mod.defaultPackets as (kase: 1 | 2) => number } : {}),
  };
}

/** Runs the model for one cell. A thrown error becomes the cell's reason. */
export async function runModelCell(runModel: RunModel, cell: CellSpec, packets: number, profile: string | undefined): Promise<ModelCell> {
  const t0 = performance.now();
  try {
    const result = await runModel({
      case: cell.case, program: cell.program, mode: cell.mode, packets,
      ...(cell.hook !== undefined ? { hook: cell.hook } : {}),
      ...(cell.busyPollUs !== undefined ? { busyPollUs: cell.busyPollUs } : {}),
      ...(cell.vhostBatch !== undefined ? { vhostBatch: cell.vhostBatch } : {}),
      ...(cell.guests !== undefined ? { guests: cell.guests } : {}),
      ...(profile !== undefined ? { profile } : {}),
    });
    const conserved = result.sent === result.dropped + result.tx + result.passed + result.errors;
    return { status: "ok", result, conserved, ms: performance.now() - t0 };
  } catch (e) {
    return { status: "error", reason: `the model failed: ${e instanceof Error ? e.message : String(e)}` };
  }
}
