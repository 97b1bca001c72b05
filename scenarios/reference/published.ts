// The published figures the model is calibrated on and every report prints
// beside the model's and the emulator's, read at run time from the project's
// reference folder ../shared/reference (never copied into the repository,
// ../shared/STYLE.md): the RFC's two tables ("[RFC,net-next,00/18] virtio_net
// XDP offload", Nov 2019) from published-results.json, and from
// cost-model-anchors.md the same author's December re-run of them (§0) and the
// vhost batch sweeps (rows C4 and C5). A clone without ../shared has none of
// them: callers say so loudly and print "n/a"; a file that is there but not in
// the expected shape is an error naming the file and what was not found.
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import type { Mode, Program } from "../types.ts";
import { SHARED_DIR } from "../runner/paths.ts";

export type PaperTable = Record<Program, Record<Mode, number>>;

export const SHARED_REFERENCE = path.join(SHARED_DIR, "reference");
export const SHARED_RESULTS = path.join(SHARED_REFERENCE, "published-results.json");
export const SHARED_ANCHORS = path.join(SHARED_REFERENCE, "cost-model-anchors.md");

/** What a report prints in place of a published figure it could not read. */
export const MISSING = "n/a (../shared/reference missing)";

/** Which cell of the two tables each label of cost-model-anchors.md names (F1..F8, in the §0 column order). */
export const FIGURE_CELLS = [
  { label: "F1", case: 1, program: "xdp1", mode: "non_offload" },
  { label: "F2", case: 1, program: "xdp1", mode: "offload" },
  { label: "F3", case: 1, program: "xdp2", mode: "non_offload" },
  { label: "F4", case: 1, program: "xdp2", mode: "offload" },
  { label: "F5", case: 2, program: "xdp1", mode: "non_offload" },
  { label: "F6", case: 2, program: "xdp1", mode: "offload" },
  { label: "F7", case: 2, program: "xdp2", mode: "non_offload" },
  { label: "F8", case: 2, program: "xdp2", mode: "offload" },
] as const;

export const RFC_CITATION = "Prashant Bhole, Jason Wang, \"[RFC,net-next,00/18] virtio_net XDP offload\", netdev/qemu-devel, 2019-11-26 (cover letter tables)";

export class ReferenceFormatError extends Error {
  constructor(file: string, what: string) {
    super(`${file}: ${what}; the reference file's format has changed, update scenarios/reference/published.ts to read it`);
    this.name = "ReferenceFormatError";
  }
}

export interface RfcTables { citation: string; source: string; case1: PaperTable; case2: PaperTable }
export interface Rerun { citation: string; case1: PaperTable; case2: PaperTable }
export interface Sweep { citation: string; C4_tx: Record<string, number>; C5_rx: Record<string, number> }

const isMpps = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v) && v > 0;

/** The RFC's tables as published-results.json gives them. */
export function readRfcTables(file = SHARED_RESULTS): RfcTables {
  let j: unknown;
  try {
    j = JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") throw e;
    throw new ReferenceFormatError(file, `not JSON (${(e as Error).message})`);
  }
  const r = (j as { rfc_virtio_net_xdp_offload?: Record<string, unknown> }).rfc_virtio_net_xdp_offload;
  if (r === undefined || r === null || typeof r !== "object") throw new ReferenceFormatError(file, "no object rfc_virtio_net_xdp_offload");
  const table = (key: string): PaperTable => {
    const t = r[key] as Record<string, Record<string, unknown>> | undefined;
    const row = (name: string): Record<Mode, number> => {
      const x = t?.[name];
      if (x === undefined || !isMpps(x.non_offload) || !isMpps(x.offload)) {
        throw new ReferenceFormatError(file, `no rfc_virtio_net_xdp_offload.${key}.${name} {non_offload, offload} in Mpps`);
      }
      return { non_offload: x.non_offload, offload: x.offload };
    };
    return { xdp1: row("xdp1_drop"), xdp2: row("xdp2_tx") };
  };
  return {
    citation: RFC_CITATION, source: typeof r.source === "string" ? `${file} (seed ${r.source})` : file,
    case1: table("case1_redirect_to_tun_mpps"), case2: table("case2_via_bridge_mpps"),
  };
}

const cellsOf = (md: string): string[] => md.trim().replace(/^\|/, "").replace(/\|$/, "").split("|").map((s) => s.trim());
/** "12.90", "**3.64**" -> number; anything else NaN. */
const num = (s: string): number => (/^\**\d+(\.\d+)?\**$/.test(s.trim()) ? Number(s.replace(/\*/g, "")) : Number.NaN);

/** The table of §0 of cost-model-anchors.md: header "| | F1 | .. | F8 |", rows by their first cell. */
function section0(md: string, file: string): { header: string[]; rows: Map<string, string[]>; text: string } {
  const start = md.search(/^##\s*0\.\s/m);
  if (start < 0) throw new ReferenceFormatError(file, "no section \"## 0.\" (the December re-run)");
  const rest = md.slice(start);
  const next = rest.slice(3).search(/^##\s/m);
  const text = next < 0 ? rest : rest.slice(0, next + 3);
  const lines = text.split("\n").filter((l) => l.trim().startsWith("|"));
  const hi = lines.findIndex((l) => /\|\s*F1\s*\|/.test(l));
  if (hi < 0) throw new ReferenceFormatError(file, "§0 has no table with a header | F1 | ... | F8 |");
  const header = cellsOf(lines[hi]!).slice(1);
  const rows = new Map<string, string[]>();
  for (const l of lines.slice(hi + 1)) {
    const c = cellsOf(l);
    if (/^-+$/.test(c[0] ?? "")) continue;
    rows.set(c[0]!.toLowerCase(), c.slice(1));
  }
  return { header, rows, text };
}

function tablesFromLabels(values: Map<string, number>): { case1: PaperTable; case2: PaperTable } {
  const t = { case1: { xdp1: {}, xdp2: {} }, case2: { xdp1: {}, xdp2: {} } } as { case1: PaperTable; case2: PaperTable };
  for (const f of FIGURE_CELLS) t[f.case === 1 ? "case1" : "case2"][f.program][f.mode] = values.get(f.label)!;
  return t;
}

/** One row of §0's table (e.g. "re-run (Dec)", "RFC (Nov)") as label -> Mpps; throws when absent. */
export function section0Row(md: string, rowName: RegExp, file = SHARED_ANCHORS): Map<string, number> {
  const s = section0(md, file);
  const key = [...s.rows.keys()].find((k) => rowName.test(k));
  if (key === undefined) throw new ReferenceFormatError(file, `§0's table has no row matching ${rowName}`);
  const cells = s.rows.get(key)!;
  const out = new Map<string, number>();
  for (const f of FIGURE_CELLS) {
    const i = s.header.indexOf(f.label);
    const v = i < 0 ? Number.NaN : num(cells[i] ?? "");
    if (!isMpps(v)) throw new ReferenceFormatError(file, `§0's row "${key}" has no figure in Mpps for ${f.label}`);
    out.set(f.label, v);
  }
  return out;
}

/** The December re-run of the RFC's tables (§0's "re-run (Dec)" row) and its citation from §0's text. */
export function parseRerun(md: string, file = SHARED_ANCHORS): Rerun {
  const values = section0Row(md, /^re-?run/, file);
  const text = section0(md, file).text;
  const title = /"([^"]*XDP in tx path[^"]*)"\s*\(([^,)]+),\s*Message-ID\s+(\S+?)\)/.exec(text);
  const citation = title === null
    ? `${file} §0, row "re-run (Dec)"`
    : `Prashant Bhole, "${title[1]}", ${title[2]}, Message-ID ${title[3]} (same table, same setup, re-measured; ${path.basename(file)} §0)`;
  return { citation, ...tablesFromLabels(values) };
}

/** Rows C4 (vhost TX) and C5 (vhost RX) of the anchor note: Mpps by VHOST_NET_BATCH, and the source column. */
export function parseSweep(md: string, file = SHARED_ANCHORS): Sweep {
  const row = (label: string): { points: Record<string, number>; source: string } => {
    const line = md.split("\n").find((l) => new RegExp(`^\\|\\s*${label}\\s*\\|`).test(l));
    if (line === undefined) throw new ReferenceFormatError(file, `no table row | ${label} | (vhost batch sweep)`);
    const c = cellsOf(line);
    // | label | parameter | value | unit | conditions | source | kind | fig |
    const value = c[2] ?? "";
    const points: Record<string, number> = {};
    for (const m of value.matchAll(/(?:B=)?(\d+):\s*\**(\d+(?:\.\d+)?)\**/g)) points[m[1]!] = Number(m[2]);
    if (Object.keys(points).length < 2 || !/mpps/i.test(c[3] ?? "")) {
      throw new ReferenceFormatError(file, `row ${label}'s value column is not "B=1: x; 16: y; ..." in Mpps (got "${value}")`);
    }
    return { points, source: c[5] ?? "" };
  };
  const c4 = row("C4"), c5 = row("C5");
  return { citation: c4.source !== "" ? c4.source : `${file}, rows C4 and C5`, C4_tx: c4.points, C5_rx: c5.points };
}

export interface Published {
  /** null when the file is absent. */
  rfc: RfcTables | null;
  rerun: Rerun | null;
  sweep: Sweep | null;
  /** The files that were absent. */
  missing: string[];
}

/** Everything ../shared/reference gives; each part null when its file is absent (a format error throws). */
export function readPublished(results = SHARED_RESULTS, anchors = path.join(path.dirname(results), "cost-model-anchors.md")): Published {
  const missing: string[] = [];
  let rfc: RfcTables | null = null, rerun: Rerun | null = null, sweep: Sweep | null = null;
  if (existsSync(results)) rfc = readRfcTables(results);
  else missing.push(results);
  if (existsSync(anchors)) {
    const md = readFileSync(anchors, "utf8");
    rerun = parseRerun(md, anchors);
    sweep = parseSweep(md, anchors);
  } else missing.push(anchors);
  return { rfc, rerun, sweep, missing };
}
