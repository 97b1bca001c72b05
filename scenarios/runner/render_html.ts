// The report as one self-contained HTML page: the table (missed targets red),
// the checks, where it was made, and charts as inline SVG drawn here (no
// script, nothing fetched): grouped bars (rect.bar) for the RFC tables and
// categorical sweeps, lines with points (circle.point) for numeric sweeps.
// Every drawn figure carries data-series and data-value for the browser test.
import type { Report } from "./report.ts";
import { cellMetric } from "./report.ts";
import { tableModel } from "./render.ts";

export interface Series { name: string; values: Array<number | null> }
export interface Chart { id: string; title: string; kind: "bars" | "lines"; unit: string; x: Array<string | number>; series: Series[]; logX?: boolean }

const COLORS = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f", "#bab0ac", "#ff9da7"];
const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/** The charts of a report (what the page draws). */
export function charts(rep: Report): Chart[] {
  if (rep.rows !== null) {
    const groups = rep.rows.flatMap((r) => (["non_offload", "offload"] as const).map((m) => ({ r, m })));
    return [
      {
        id: "mpps", title: "Mpps: paper, model and emulator", kind: "bars", unit: "Mpps",
        x: groups.map((g) => `${g.r.program} ${g.m.replace("_", "-")}`),
        series: [
          { name: "paper", values: groups.map((g) => g.r.paper[g.m]) },
          { name: "model", values: groups.map((g) => g.r.model[g.m]) },
          { name: "emulator (median)", values: groups.map((g) => g.r.emulator[g.m]) },
        ],
      },
      {
        id: "ratio", title: "offload / non-offload", kind: "bars", unit: "ratio",
        x: rep.rows.map((r) => r.program),
        series: [
          { name: "paper", values: rep.rows.map((r) => r.ratio.paper) },
          { name: "model", values: rep.rows.map((r) => r.ratio.model) },
          { name: "emulator", values: rep.rows.map((r) => r.ratio.emulator) },
        ],
      },
    ];
  }
  const names = [...new Set(rep.cells.map((c) => c.spec.series ?? `${c.spec.program} ${c.spec.mode}`))];
  const isNumeric = rep.cells.every((c) => typeof c.spec.x === "number");
  const refXs = isNumeric ? rep.reference.flatMap((r) => Object.keys(r.points ?? {}).map(Number)) : [];
  const xs = [...new Set([...rep.cells.map((c) => c.spec.x ?? c.id), ...refXs])];
  if (isNumeric) (xs as number[]).sort((a, b) => a - b);
  const series: Series[] = [];
  for (const source of ["model", "emulator"] as const) {
    for (const n of names) {
      series.push({
        name: `${source}: ${n}`,
        values: xs.map((x) => {
          const c = rep.cells.find((k) => (k.spec.x ?? k.id) === x && (k.spec.series ?? `${k.spec.program} ${k.spec.mode}`) === n);
          return c === undefined ? null : cellMetric(c, source, "mpps");
        }),
      });
    }
  }
  for (const r of rep.reference) if (r.points !== null) series.push({ name: r.name, values: xs.map((x) => r.points![String(x)] ?? null) });
  return [{
    id: "sweep", title: `Mpps by ${rep.table.kind === "sweep" ? rep.table.xLabel : "cell"}`, kind: isNumeric ? "lines" : "bars",
    unit: "Mpps", x: xs, series, ...(rep.table.kind === "sweep" && rep.table.logX === true ? { logX: true } : {}),
  }];
}

const W = 720, H = 320, L = 56, R = 16, T = 28, B = 64;

function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function yAxis(max: number, unit: string): string[] {
  const out: string[] = [];
  for (let i = 0; i <= 4; i++) {
    const v = (max * i) / 4, y = T + (H - T - B) * (1 - i / 4);
    out.push(`<line x1="${L}" x2="${W - R}" y1="${y}" y2="${y}" stroke="#ddd"/>`,
      `<text x="${L - 6}" y="${y + 4}" text-anchor="end" font-size="11">${+v.toFixed(2)}</text>`);
  }
  out.push(`<text x="14" y="${T + (H - T - B) / 2}" font-size="11" transform="rotate(-90 14 ${T + (H - T - B) / 2})" text-anchor="middle">${esc(unit)}</text>`);
  return out;
}

function legend(series: Series[]): string {
  return series.map((s, i) => `<span class="key"><span class="sw" style="background:${COLORS[i % COLORS.length]}"></span>${esc(s.name)}</span>`).join(" ");
}

function svgChart(c: Chart): string {
  const vals = c.series.flatMap((s) => s.values).filter((v): v is number => v !== null && Number.isFinite(v));
  const max = niceMax(Math.max(0, ...vals));
  const ph = H - T - B, pw = W - L - R;
  const y = (v: number) => T + ph * (1 - Math.min(v, max) / max);
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" class="chart" data-chart="${c.id}" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(c.title)}">`,
    `<text x="${W / 2}" y="16" text-anchor="middle" font-size="13" font-weight="bold">${esc(c.title)}</text>`, ...yAxis(max, c.unit)];
  if (c.kind === "bars") {
    const gw = pw / c.x.length, bw = (gw * 0.8) / c.series.length;
    c.x.forEach((x, gi) => {
      const gx = L + gi * gw + gw * 0.1;
      parts.push(`<text x="${L + gi * gw + gw / 2}" y="${H - B + 16}" text-anchor="middle" font-size="11">${esc(String(x))}</text>`);
      c.series.forEach((s, si) => {
        const v = s.values[gi];
        if (v === null || v === undefined || !Number.isFinite(v)) return;
        parts.push(`<rect class="bar" data-series="${esc(s.name)}" data-value="${v}" x="${(gx + si * bw).toFixed(1)}" y="${y(v).toFixed(1)}" ` +
          `width="${(bw - 1).toFixed(1)}" height="${(T + ph - y(v)).toFixed(1)}" fill="${COLORS[si % COLORS.length]}"><title>${esc(`${s.name} ${x}: ${v.toFixed(3)}`)}</title></rect>`);
      });
    });
  } else {
    const nums = c.x as number[];
    const tx = c.logX === true ? (v: number) => Math.log2(Math.max(v, 1e-9)) : (v: number) => v;
    const lo = tx(Math.min(...nums)), hi = tx(Math.max(...nums));
    const x = (v: number) => L + (hi === lo ? pw / 2 : ((tx(v) - lo) / (hi - lo)) * pw);
    for (const v of nums) parts.push(`<text x="${x(v).toFixed(1)}" y="${H - B + 16}" text-anchor="middle" font-size="11">${v}</text>`);
    c.series.forEach((s, si) => {
      const pts = nums.map((v, i) => [v, s.values[i]] as const).filter((p): p is readonly [number, number] => p[1] !== null && p[1] !== undefined && Number.isFinite(p[1]));
      if (pts.length === 0) return;
      const col = COLORS[si % COLORS.length];
      parts.push(`<polyline class="line" fill="none" stroke="${col}" stroke-width="1.5" points="${pts.map(([a, b]) => `${x(a).toFixed(1)},${y(b).toFixed(1)}`).join(" ")}"/>`);
      for (const [a, b] of pts) {
        parts.push(`<circle class="point" data-series="${esc(s.name)}" data-value="${b}" cx="${x(a).toFixed(1)}" cy="${y(b).toFixed(1)}" r="3.5" fill="${col}"><title>${esc(`${s.name} ${a}: ${b.toFixed(3)}`)}</title></circle>`);
      }
    });
  }
  parts.push(`<line x1="${L}" x2="${W - R}" y1="${T + ph}" y2="${T + ph}" stroke="#333"/>`, "</svg>");
  return `<figure>${parts.join("")}<figcaption>${legend(c.series)}</figcaption></figure>`;
}

export function renderHtml(rep: Report): string {
  const t = tableModel(rep);
  const env = rep.environment;
  const head = t.header.map((h) => `<th>${esc(h)}</th>`).join("");
  const body = t.rows.map((r) => `<tr>${r.map((c) => (c.isMiss === true
    ? `<td class="miss" title="misses its target">${esc(c.text)} ✗</td>`
    : c.isMissing === true ? `<td class="missing" title="published figure not available">${esc(c.text)}</td>` : `<td>${esc(c.text)}</td>`)).join("")}</tr>`).join("\n");
  const checks = rep.checks.map((c) => `<li class="${c.status}"><b>${c.status === "pass" ? "pass" : c.status === "fail" ? "FAIL" : "not checked"}</b> ${esc(c.what)}: ${esc(c.detail)}</li>`).join("\n");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(rep.title)}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:12px 0}th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}
th:first-child,td:first-child,th:nth-child(2),td:nth-child(2){text-align:left}th{background:#f4f4f4}
td.miss{color:#c00;font-weight:bold;background:#fde8e8}
td.missing{color:#8a5a00;font-weight:bold;background:#fff4d6}
.warning{border:2px solid #c00;background:#fde8e8;color:#c00;font-weight:bold;padding:8px}
li.fail{color:#c00}li.not_checked{color:#777}.key{margin-right:12px;font-size:12px}
.sw{display:inline-block;width:10px;height:10px;margin-right:4px}figure{margin:16px 0}
</style></head><body>
<h1>${esc(rep.title)}</h1>
<p>${esc(rep.description)}</p>
${rep.paper.note !== null ? `<p class="warning">WARNING: ${esc(rep.paper.note)}</p>` : ""}
<table><thead><tr>${head}</tr></thead><tbody>
${body}
</tbody></table>
<ul class="notes">${t.notes.map((n) => `<li>${esc(n)}</li>`).join("")}</ul>
${charts(rep).map(svgChart).join("\n")}
<h2>Checks</h2><ul>${checks}</ul>
<h2>Run</h2><ul>
<li>${rep.options.packets} packets per emulator run, ${rep.options.runs} run(s) per cell; model: ${esc(String(rep.options.modelPackets))} packets; took ${(rep.durationMs / 1000).toFixed(1)} s</li>
<li>${env.machine.cpus} x ${esc(env.machine.cpuModel)}, load ${env.machine.loadavg.join(" ")}; Linux ${esc(env.kernel)}; Node ${esc(env.node)}; vxo ${esc(env.vxo)} at ${esc(env.git.commit ?? "unknown commit")}${env.git.isDirty === true ? " (with uncommitted changes)" : ""}</li>
<li>paper figures from ${esc(rep.paper.source)}; generated ${esc(rep.generatedAt)}</li>
</ul></body></html>
`;
}
