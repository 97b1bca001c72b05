// The report's tables as text: one table model (header, cells flagged as a
// missed target or not available with a footnote) rendered for the terminal
// (missed targets in red through util.styleText, not hand-written escapes) and
// as Markdown (missed targets bold, red where the viewer honours a style, and
// marked ✗ so they survive any viewer).
import { styleText } from "node:util";

/** Styled text; whether to style at all is the caller's decision (a TTY, NO_COLOR), not the stream's. */
const style = (f: Parameters<typeof styleText>[0], t: string) => styleText(f, t, { validateStream: false });
import type { CellReport, Report, Row } from "./report.ts";
import { cellMetric, TARGETS } from "./report.ts";
import { MISSING } from "./paper.ts";

/** isMissing: a published figure absent without ../shared/reference (shown loudly, as a miss is). */
export interface TCell { text: string; isMiss?: boolean; isMissing?: boolean }
export interface TableModel { title: string; header: string[]; rows: TCell[][]; notes: string[] }

const f = (v: number | null, digits = 2) => (v === null ? "" : v.toFixed(digits));
const signed = (v: number) => `${v >= 0 ? "+" : ""}${v.toFixed(1)}%`;

/** Footnote numbers for the reasons a figure is missing (one number per distinct reason). */
class Notes {
  readonly list: string[] = [];
  ref(reason: string): string {
    let i = this.list.indexOf(reason);
    if (i < 0) i = this.list.push(reason) - 1;
    return `n/a [${i + 1}]`;
  }
}

function emulatorText(r: Row, mode: "non_offload" | "offload", notes: Notes): string {
  const e = r.emulatorRange[mode];
  if (e === null) return notes.ref(r.unavailable[`emulator/${mode}`] ?? "not run");
  return e.n > 1 ? `${e.median.toFixed(2)} (${e.min.toFixed(2)}-${e.max.toFixed(2)}, n=${e.n})` : `${e.median.toFixed(2)} (n=1)`;
}

/** The calibration fit behind a model cell of an RFC table (its figure and parameter), if any. */
function fitOf(rep: Report, program: string, mode: "non_offload" | "offload"): { figure: string; param: string } | null {
  const c = rep.cells.find((x) => x.id === `${program}/${mode}`);
  return c !== undefined && c.model.status === "ok" && c.model.result.fittedOn !== undefined ? c.model.result.fittedOn : null;
}

function paperTable(rep: Report): TableModel {
  const notes = new Notes();
  const fits: string[] = [];
  const rows: TCell[][] = rep.rows!.map((r) => {
    const model = (mode: "non_offload" | "offload"): TCell => {
      if (r.model[mode] === null) return { text: notes.ref(r.unavailable[`model/${mode}`] ?? "not run") };
      const fit = fitOf(rep, r.program, mode);
      if (fit !== null) fits.push(`${fit.figure} (${r.program} ${mode.replace("_", "-")}: ${fit.param})`);
      return { text: fit === null ? f(r.model[mode]) : `${f(r.model[mode])} (fit)`, isMiss: r.misses.includes(`model/${mode}`) };
    };
    const err = (mode: "non_offload" | "offload"): TCell => (r.errorPct[mode] === null ? { text: "" }
      : { text: signed(r.errorPct[mode]!), isMiss: r.misses.includes(`model/${mode}`) });
    const ratio = (src: "model" | "emulator"): TCell => (r.ratio[src] === null ? { text: "" }
      : { text: r.ratioErrorPct[src] === null ? r.ratio[src]!.toFixed(2) : `${r.ratio[src]!.toFixed(2)} (${signed(r.ratioErrorPct[src]!)})`,
        isMiss: r.misses.includes(`ratio/${src}`) });
    // A published figure that could not be read says so in its cell (and no error is computed against it).
    const pub = (v: number | null): TCell => (v === null ? { text: MISSING, isMissing: true } : { text: f(v) });
    return [
      { text: r.program }, pub(r.paper.non_offload), pub(r.paper.offload),
      model("non_offload"), model("offload"),
      r.paper.non_offload === null ? pub(null) : err("non_offload"), r.paper.offload === null ? pub(null) : err("offload"),
      { text: emulatorText(r, "non_offload", notes) }, { text: emulatorText(r, "offload", notes) },
      r.ratio.paper === null ? pub(null) : { text: r.ratio.paper.toFixed(2) }, ratio("model"), ratio("emulator"),
    ];
  });
  const rerun = rep.rows!.some((r) => r.ratio.rerun === null) ? MISSING
    : rep.rows!.map((r) => `${r.program} ${f(r.rerun.non_offload)} / ${f(r.rerun.offload)} (ratio ${r.ratio.rerun!.toFixed(2)})`).join(", ");
  return {
    title: `${rep.title} (Mpps)`,
    header: ["program", "paper non-offload", "paper offload", "model non-offload", "model offload", "error % non-offload",
      "error % offload", "emulator non-offload", "emulator offload", "ratio paper", "ratio model", "ratio emulator"],
    rows,
    notes: [
      `paper: ${rep.paper.citation}; the Dec 2019 re-run of the same table: ${rerun}`,
      (rep.rows!.some((r) => r.ratio.paper === null)
        ? `targets (model within ${TARGETS.figurePct}% of each paper figure, each ratio within ${TARGETS.ratioPct}%): not computed, the paper's figures are ${MISSING}. `
        : `targets: model within ${TARGETS.figurePct}% of each paper figure, each ratio (offload/non-offload) within ${TARGETS.ratioPct}% of the paper's; a miss is marked ✗. `) +
        "Emulator: wall-clock Mpps of the real processes on this machine, median (range, runs); no target",
      ...(fits.length > 0 ? [`model cells marked (fit): a parameter of the profile was fitted on that figure (${fits.join(", ")}); ` +
        "the other model cells are predicted (npm run calibrate; scenarios/model/README.md)"] : []),
      ...notes.list.map((n, i) => `[${i + 1}] ${n}`),
    ],
  };
}

function jain(xs: number[]): number {
  const s = xs.reduce((a, b) => a + b, 0), q = xs.reduce((a, b) => a + b * b, 0);
  return q === 0 ? 1 : (s * s) / (xs.length * q);
}

function sweepTable(rep: Report): TableModel {
  const notes = new Notes();
  const isMulti = rep.cells.some((c) => (c.spec.guests ?? 1) > 1);
  const refs = rep.reference;
  const header = [rep.table.kind === "sweep" ? rep.table.xLabel : "x", "cell", "model Mpps", "model wakes/pkt", "model copies/pkt",
    "model batch", "emulator Mpps", "emulator wakes/pkt", "emulator batch"];
  if (isMulti) header.push("model per-guest Mpps (fairness)", "emulator per-guest Mpps (fairness)");
  for (const r of refs) header.push(r.name);
  const rows = rep.cells.map((c: CellReport) => {
    const m = c.model.status === "ok" ? c.model.result : null;
    const e = c.emulator.status === "ok" ? c.emulator : null;
    const row: TCell[] = [
      { text: String(c.spec.x ?? "") }, { text: c.id },
      { text: m === null ? notes.ref(c.model.status === "ok" ? "" : c.model.reason) : f(m.mpps) },
      { text: m === null ? "" : f(m.wakesPerPacket, 3) }, { text: m === null ? "" : f(m.copiesPerPacket, 2) },
      { text: m?.batchMean === undefined ? "" : f(m.batchMean, 1) },
      { text: e === null ? notes.ref(c.emulator.status === "ok" ? "" : c.emulator.reason)
        : `${f(e.mpps.median)} (${f(e.mpps.min)}-${f(e.mpps.max)}, n=${e.mpps.n})` },
      { text: e === null ? "" : f(cellMetric(c, "emulator", "wakesPerPacket"), 3) },
      { text: e === null ? "" : f(cellMetric(c, "emulator", "batchMean"), 1) },
    ];
    if (isMulti) {
      const mg = m?.perGuestMpps;
      row.push({ text: mg === undefined ? "" : `${mg.map((x) => x.toFixed(2)).join(" ")} (${jain(mg).toFixed(3)})` });
      const eg = e?.runs[0]?.perGuestMpps;
      row.push({ text: eg === undefined ? "" : `${eg.map((x) => x.toFixed(2)).join(" ")} (${jain(eg).toFixed(3)})` });
    }
    for (const r of refs) {
      const v = r.points === null || c.spec.x === undefined ? undefined : r.points[String(c.spec.x)];
      row.push(r.points === null ? { text: MISSING, isMissing: true } : { text: v === undefined ? "" : f(v) });
    }
    return row;
  });
  return {
    title: rep.title,
    header, rows,
    notes: [
      ...(isMulti ? ["per-guest Mpps: each guest's own program; fairness is Jain's index (1 = equal shares); emulator per-guest from its first run"] : []),
      ...refs.map((r) => `${r.name}: ${r.citation}`),
      ...notes.list.map((n, i) => `[${i + 1}] ${n}`),
    ],
  };
}

export function tableModel(rep: Report): TableModel {
  return rep.rows !== null ? paperTable(rep) : sweepTable(rep);
}

function checkLines(rep: Report): string[] {
  return rep.checks.map((c) => `${c.status === "pass" ? "ok  " : c.status === "fail" ? "FAIL" : "n/a "} ${c.what}: ${c.detail}`);
}

/** The report for a terminal; `color` false (not a TTY, NO_COLOR) prints the ✗ marks only. */
export function renderTerminal(rep: Report, color: boolean): string {
  const t = tableModel(rep);
  const text = (c: TCell) => (c.isMiss === true ? `${c.text} ✗` : c.text);
  const widths = t.header.map((h, i) => Math.max(h.length, ...t.rows.map((r) => text(r[i]!).length)));
  const line = (cells: string[], miss: boolean[], missing?: boolean[]) => cells.map((s, i) => {
    const p = i === 0 || i === 1 ? s.padEnd(widths[i]!) : s.padStart(widths[i]!);
    return miss[i] === true && color ? style("red", p) : missing?.[i] === true && color ? style(["yellow", "bold"], p) : p;
  }).join("  ");
  const out = [color ? style("bold", t.title) : t.title];
  if (rep.paper.note !== null) out.push(color ? style(["red", "bold"], `WARNING: ${rep.paper.note}`) : `WARNING: ${rep.paper.note}`);
  out.push(line(t.header, []), line(t.header.map((h, i) => "-".repeat(widths[i]!)), []));
  for (const r of t.rows) out.push(line(r.map(text), r.map((c) => c.isMiss === true), r.map((c) => c.isMissing === true)));
  for (const n of t.notes) out.push(`  ${n}`);
  for (const l of checkLines(rep)) out.push(color && l.startsWith("FAIL") ? style("red", `  ${l}`) : `  ${l}`);
  return out.join("\n") + "\n";
}

const mdEscape = (s: string) => s.replace(/\|/g, "\\|");

export function renderMarkdown(rep: Report): string {
  const t = tableModel(rep);
  const env = rep.environment;
  const cell = (c: TCell) => (c.isMiss === true ? `<span style="color:#c00">**${mdEscape(c.text)} ✗**</span>`
    : c.isMissing === true ? `**${mdEscape(c.text)}**` : mdEscape(c.text));
  const out = [`# ${rep.title}`, "", rep.description, ""];
  if (rep.paper.note !== null) out.push(`> **WARNING: ${rep.paper.note}**`, "");
  out.push(`| ${t.header.join(" | ")} |`, `|${t.header.map((_, i) => (i < 2 ? " --- " : " ---: ")).join("|")}|`);
  for (const r of t.rows) out.push(`| ${r.map(cell).join(" | ")} |`);
  out.push("", ...t.notes.map((n) => `- ${n}`), "", "## Checks", "");
  for (const c of rep.checks) out.push(`- **${c.status === "pass" ? "pass" : c.status === "fail" ? "FAIL" : "not checked"}** ${c.what}: ${c.detail}`);
  out.push("", "## Run", "",
    `- ${rep.options.packets} packets per emulator run, ${rep.options.runs} run(s) per cell; model: ${rep.options.modelPackets} packets${rep.options.modelOnly ? ", model only" : ""}` +
      `${rep.options.emulatorOnly ? ", emulator only" : ""}${rep.options.host !== null ? `, host ${rep.options.host}` : ""}; took ${(rep.durationMs / 1000).toFixed(1)} s`,
    `- ${env.machine.cpus} x ${env.machine.cpuModel}, ${(env.machine.memBytes / 2 ** 30).toFixed(1)} GiB, load ${env.machine.loadavg.join(" ")}; ` +
      `Linux ${env.kernel}; Node ${env.node}; vxo ${env.vxo} at ${env.git.commit ?? "unknown commit"}${env.git.isDirty === true ? " (with uncommitted changes)" : ""}`,
    `- paper figures from ${rep.paper.source}`, `- generated ${rep.generatedAt}`, "");
  return out.join("\n");
}
