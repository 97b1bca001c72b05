// The published figures beside which every report prints the model's and the
// emulator's: the RFC's two tables (Nov 2019), the same author's re-run of them
// (Dec 2019) and the vhost batch sweep (C4/C5 of the anchor note). Read from
// ../shared/reference when it is there (the project's reference folder); a
// clone without it uses the copy in scenarios/reference/published_results.json
// and every report says so loudly.
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import type { Mode, Program } from "../types.ts";
import { REPO_ROOT, SHARED_DIR } from "./paths.ts";

export type PaperTable = Record<Program, Record<Mode, number>>;

export interface Paper {
  citation: string;
  rerunCitation: string;
  sweepCitation: string;
  case1: PaperTable;
  case2: PaperTable;
  rerun: { case1: PaperTable; case2: PaperTable };
  sweep: { C4_tx: Record<string, number>; C5_rx: Record<string, number> };
  /** Where the figures were read. */
  source: string;
  /** False when ../shared/reference/published-results.json is absent (a user's clone). */
  isSharedAvailable: boolean;
  /** Said loudly in every report when isSharedAvailable is false. */
  note: string | null;
}

export const REPO_COPY = path.join(REPO_ROOT, "scenarios", "reference", "published_results.json");
export const SHARED_RESULTS = path.join(SHARED_DIR, "reference", "published-results.json");

interface RepoCopy {
  rfc: { citation: string; case1: PaperTable; case2: PaperTable };
  rerun: { citation: string; case1: PaperTable; case2: PaperTable };
  vhostBatchSweep: { citation: string; C4_tx: { mpps: Record<string, number> }; C5_rx: { mpps: Record<string, number> } };
}

/** The RFC's tables as ../shared/reference/published-results.json gives them. */
export function readSharedTables(file = SHARED_RESULTS): { case1: PaperTable; case2: PaperTable } {
  const j = JSON.parse(readFileSync(file, "utf8")) as {
    rfc_virtio_net_xdp_offload: Record<string, Record<string, Record<Mode, number>>>;
  };
  const r = j.rfc_virtio_net_xdp_offload;
  const t = (k: string): PaperTable => ({ xdp1: r[k]!.xdp1_drop!, xdp2: r[k]!.xdp2_tx! });
  return { case1: t("case1_redirect_to_tun_mpps"), case2: t("case2_via_bridge_mpps") };
}

export function readRepoCopy(): RepoCopy {
  return JSON.parse(readFileSync(REPO_COPY, "utf8")) as RepoCopy;
}

/** The figures, from ../shared when present, else the repository's copy (noted). */
export function loadPaper(sharedFile = SHARED_RESULTS): Paper {
  const copy = readRepoCopy();
  const base = {
    citation: copy.rfc.citation, rerunCitation: copy.rerun.citation, sweepCitation: copy.vhostBatchSweep.citation,
    rerun: { case1: copy.rerun.case1, case2: copy.rerun.case2 },
    sweep: { C4_tx: copy.vhostBatchSweep.C4_tx.mpps, C5_rx: copy.vhostBatchSweep.C5_rx.mpps },
  };
  if (existsSync(sharedFile)) {
    return { ...base, ...readSharedTables(sharedFile), source: sharedFile, isSharedAvailable: true, note: null };
  }
  return {
    ...base, case1: copy.rfc.case1, case2: copy.rfc.case2, source: REPO_COPY, isSharedAvailable: false,
    note: `${sharedFile} is absent (../shared is not beside this clone): the paper columns come from the repository's ` +
      `copy ${path.relative(REPO_ROOT, REPO_COPY)}, which was checked against ../shared when the tests last ran beside it`,
  };
}
