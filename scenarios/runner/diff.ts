// `vxo report diff OLD.json NEW.json`: figure by figure (every cell's model
// Mpps, wakes and copies per packet, and the emulator's median Mpps with its
// range over the runs), what changed. An emulator figure whose ranges overlap
// is within its spread, not a change; one run on either side has no spread to
// judge by and says so. The model is deterministic: any difference is a change.
import type { Report } from "./report.ts";
import { REPORT_SCHEMA } from "./report.ts";

export interface FigureDiff {
  figure: string;
  old: string;
  new: string;
  changePct: number | null;
  verdict: "same" | "changed" | "within spread" | "no spread (one run)" | "only in old" | "only in new" | "no figure";
}

type Fig = { v: number; min: number; max: number; n: number } | null;

function figures(rep: Report): Map<string, { fig: Fig; why?: string; exact: boolean }> {
  const out = new Map<string, { fig: Fig; why?: string; exact: boolean }>();
  for (const c of rep.cells) {
    const pre = `${rep.scenario} ${c.id}`;
    for (const m of ["mpps", "wakesPerPacket", "copiesPerPacket"] as const) {
      out.set(`${pre} model ${m}`, c.model.status === "ok"
        ? { fig: { v: c.model.result[m], min: c.model.result[m], max: c.model.result[m], n: 1 }, exact: true }
        : { fig: null, why: c.model.reason, exact: true });
    }
    out.set(`${pre} emulator mpps`, c.emulator.status === "ok"
      ? { fig: { v: c.emulator.mpps.median, min: c.emulator.mpps.min, max: c.emulator.mpps.max, n: c.emulator.mpps.n }, exact: false }
      : { fig: null, why: c.emulator.reason, exact: false });
  }
  return out;
}

// A missing figure's reason is in its report; here it is just n/a.
const show = (f: Fig, _why?: string) => (f === null ? "n/a"
  : f.n > 1 ? `${fmt(f.v)} [${fmt(f.min)}-${fmt(f.max)}] n=${f.n}` : fmt(f.v));
const fmt = (v: number) => (Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(3) : v.toPrecision(3));

/** Compares two reports of the same scenario figure by figure. Throws EINVAL-style errors on a bad file. */
export function diffReports(a: Report, b: Report): { lines: FigureDiff[]; notes: string[] } {
  for (const r of [a, b]) if (r.schema !== REPORT_SCHEMA) throw new Error(`not a vxo scenario report (schema ${String(r.schema)}, want ${REPORT_SCHEMA})`);
  const notes: string[] = [];
  if (a.scenario !== b.scenario) notes.push(`different scenarios: ${a.scenario} vs ${b.scenario}`);
  if (a.options.packets !== b.options.packets) notes.push(`packets per run differ: ${a.options.packets} vs ${b.options.packets}`);
  if (a.environment.git.commit !== b.environment.git.commit) notes.push(`sources: ${a.environment.git.commit ?? "?"} -> ${b.environment.git.commit ?? "?"}`);
  if (a.environment.machine.hostname !== b.environment.machine.hostname || a.environment.machine.cpuModel !== b.environment.machine.cpuModel) {
    notes.push(`different machines: ${a.environment.machine.hostname} (${a.environment.machine.cpuModel}) vs ${b.environment.machine.hostname} (${b.environment.machine.cpuModel})`);
  }
  notes.push(`load average at the end: ${a.environment.machine.loadavg.join(" ")} vs ${b.environment.machine.loadavg.join(" ")}`);
  const fa = figures(a), fb = figures(b);
  const lines: FigureDiff[] = [];
  for (const key of new Set([...fa.keys(), ...fb.keys()])) {
    const x = fa.get(key), y = fb.get(key);
    if (x === undefined || y === undefined) {
      lines.push({ figure: key, old: x === undefined ? "" : show(x.fig, x.why), new: y === undefined ? "" : show(y.fig, y.why), changePct: null,
        verdict: x === undefined ? "only in new" : "only in old" });
      continue;
    }
    const o = x.fig, n = y.fig;
    if (o === null || n === null) {
      lines.push({ figure: key, old: show(o, x.why), new: show(n, y.why), changePct: null, verdict: o === null && n === null ? "no figure" : o === null ? "only in new" : "only in old" });
      continue;
    }
    const changePct = o.v === 0 ? (n.v === 0 ? 0 : null) : ((n.v - o.v) / Math.abs(o.v)) * 100;
    let verdict: FigureDiff["verdict"];
    if (x.exact) verdict = o.v === n.v ? "same" : "changed";
    else if (o.n < 2 || n.n < 2) verdict = "no spread (one run)";
    else verdict = o.max >= n.min && n.max >= o.min ? "within spread" : "changed";
    lines.push({ figure: key, old: show(o), new: show(n), changePct, verdict });
  }
  return { lines, notes };
}

export function renderDiff(d: { lines: FigureDiff[]; notes: string[] }, color: (s: string) => string = (s) => s): string {
  const head = ["figure", "old", "new", "change", "verdict"];
  const rows = d.lines.map((l) => [l.figure, l.old, l.new, l.changePct === null ? "" : `${l.changePct >= 0 ? "+" : ""}${l.changePct.toFixed(1)}%`, l.verdict]);
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((s, i) => (i === 3 ? s.padStart(w[i]!) : s.padEnd(w[i]!))).join("  ").trimEnd();
  const out = [line(head)];
  for (const r of rows) out.push(r[4] === "changed" ? color(line(r)) : line(r));
  const changed = d.lines.filter((l) => l.verdict === "changed").length;
  out.push("", `${changed} of ${d.lines.length} figures changed beyond their spread` +
    `; ${d.lines.filter((l) => l.verdict === "within spread").length} moved within it`, ...d.notes.map((n) => `note: ${n}`));
  return out.join("\n") + "\n";
}
