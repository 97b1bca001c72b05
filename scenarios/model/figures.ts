// The RFC's eight throughput figures (F1..F8, labels of cost-model-anchors.md)
// and the same author's December re-run of the same cells: the targets of the
// model and its calibration. Read from ../shared/reference at run time
// (scenarios/reference/published.ts), never copied into the repository; without
// ../shared there is nothing to fit or to compare against, and loadFigures()
// says so (FiguresUnavailableError). The model itself runs without them, on the
// committed profiles/fitted.json.
import { readPublished, FIGURE_CELLS, SHARED_RESULTS } from "../reference/published.ts";

export interface Figure {
  label: "F1" | "F2" | "F3" | "F4" | "F5" | "F6" | "F7" | "F8";
  case: 1 | 2;
  program: "xdp1" | "xdp2";
  mode: "offload" | "non_offload";
  /** RFC, November 2019, Mpps. */
  paper: number;
  /** Re-run, December 2019, Mpps. */
  rerun: number;
}

/** The eight cells (label, case, program, mode) without their figures. */
export const FIGURE_SPECS: ReadonlyArray<Omit<Figure, "paper" | "rerun">> = FIGURE_CELLS;

export class FiguresUnavailableError extends Error {
  readonly missing: string[];
  constructor(missing: string[]) {
    super(`the RFC's figures are not available: ${missing.join(" and ")} ${missing.length > 1 ? "are" : "is"} absent ` +
      "(../shared/reference is not beside this clone); they are read from there, never copied into the repository");
    this.name = "FiguresUnavailableError";
    this.missing = missing;
  }
}

const cache = new Map<string, readonly Figure[]>();

/** F1..F8 with the paper's and the re-run's Mpps; throws FiguresUnavailableError without ../shared/reference. */
export function loadFigures(results = SHARED_RESULTS): readonly Figure[] {
  const hit = cache.get(results);
  if (hit !== undefined) return hit;
  const p = readPublished(results);
  if (p.rfc === null || p.rerun === null) throw new FiguresUnavailableError(p.missing);
  const figs = FIGURE_CELLS.map((c) => {
    const k = c.case === 1 ? "case1" : "case2";
    return { ...c, paper: p.rfc![k][c.program][c.mode], rerun: p.rerun![k][c.program][c.mode] };
  });
  cache.set(results, figs);
  return figs;
}

/** Whether loadFigures() can read the figures (both reference files are there). */
export function hasFigures(results = SHARED_RESULTS): boolean {
  try {
    loadFigures(results);
    return true;
  } catch (e) {
    if (e instanceof FiguresUnavailableError) return false;
    throw e;
  }
}

/** Issue 12's targets: each figure within 15%, each row's offload/non-offload ratio within 20%. */
export const FIGURE_TOLERANCE = 0.15;
export const RATIO_TOLERANCE = 0.2;

export function figure(label: Figure["label"], figures: readonly Figure[] = loadFigures()): Figure {
  return figures.find((f) => f.label === label)!;
}

/** Relative error of `model` against `paper` (signed). */
export function relErr(model: number, paper: number): number {
  return (model - paper) / paper;
}
