// The published figures beside which every report prints the model's and the
// emulator's: the RFC's two tables (Nov 2019), the same author's re-run of them
// (Dec 2019) and the vhost batch sweep (C4/C5 of the anchor note), read from
// ../shared/reference (scenarios/reference/published.ts). A clone without it
// has no published figures: the reports still carry the model and the emulator,
// print "n/a (../shared/reference missing)" (null in the JSON) for the paper's
// cells, compute no error against them, and say so loudly.
import path from "node:path";
import { MISSING, readPublished, SHARED_RESULTS, type PaperTable } from "../reference/published.ts";
import { REPO_ROOT } from "./paths.ts";

export { MISSING, SHARED_RESULTS, type PaperTable };

export interface Paper {
  citation: string;
  rerunCitation: string;
  sweepCitation: string;
  /** null when ../shared/reference/published-results.json is absent. */
  case1: PaperTable | null;
  case2: PaperTable | null;
  /** null when ../shared/reference/cost-model-anchors.md is absent. */
  rerun: { case1: PaperTable; case2: PaperTable } | null;
  sweep: { C4_tx: Record<string, number>; C5_rx: Record<string, number> } | null;
  /** Where the figures were read (or that they were not). */
  source: string;
  /** False when any of ../shared/reference's files is absent (a user's clone). */
  isSharedAvailable: boolean;
  /** Said loudly in every report when isSharedAvailable is false. */
  note: string | null;
}

/** The RFC's tables as ../shared/reference/published-results.json gives them (throws when it is absent). */
export function readSharedTables(file = SHARED_RESULTS): { case1: PaperTable; case2: PaperTable } {
  const p = readPublished(file);
  if (p.rfc === null) throw new Error(`${file} is absent`);
  return { case1: p.rfc.case1, case2: p.rfc.case2 };
}

/** The figures from ../shared/reference; what is absent is null, and the note says so. */
export function loadPaper(sharedFile = SHARED_RESULTS): Paper {
  const p = readPublished(sharedFile);
  const rel = (f: string) => path.relative(REPO_ROOT, f);
  const isSharedAvailable = p.missing.length === 0;
  return {
    citation: p.rfc?.citation ?? MISSING,
    rerunCitation: p.rerun?.citation ?? MISSING,
    sweepCitation: p.sweep?.citation ?? MISSING,
    case1: p.rfc?.case1 ?? null, case2: p.rfc?.case2 ?? null,
    rerun: p.rerun === null ? null : { case1: p.rerun.case1, case2: p.rerun.case2 },
    sweep: p.sweep === null ? null : { C4_tx: p.sweep.C4_tx, C5_rx: p.sweep.C5_rx },
    source: isSharedAvailable ? `${p.rfc!.source}; ${path.join(path.dirname(sharedFile), "cost-model-anchors.md")}`
      : p.rfc !== null ? `${p.rfc.source} (${MISSING} for the re-run and the batch sweep)` : MISSING,
    isSharedAvailable,
    note: isSharedAvailable ? null
      : `${p.missing.map(rel).join(" and ")} ${p.missing.length > 1 ? "are" : "is"} absent (../shared is not beside this clone): ` +
        "the published figures they hold are printed as n/a (null in report.json) and no error or target miss is computed against them; " +
        "the model and emulator columns are this checkout's own",
  };
}
