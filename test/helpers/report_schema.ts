// Checks a scenario report (reports/<scenario>/report.json) against its
// schema (scenarios/runner/report.ts): returns the problems found, [] if none.
import type { Report } from "../../scenarios/runner/report.ts";

const isNum = (v: unknown) => typeof v === "number" && Number.isFinite(v);
const isNumOrNull = (v: unknown) => v === null || isNum(v);
const isStr = (v: unknown) => typeof v === "string";

export function reportProblems(r: Report): string[] {
  const p: string[] = [];
  const need = (ok: boolean, what: string) => {
    if (!ok) p.push(what);
  };
  need(r.schema === "vxo.scenario-report/1", `schema ${String(r.schema)}`);
  need(isStr(r.scenario) && isStr(r.title) && isStr(r.description) && !Number.isNaN(Date.parse(r.generatedAt)), "names and date");
  need(isNum(r.durationMs), "durationMs");
  const e = r.environment;
  need(isNum(e?.machine?.cpus) && isStr(e.machine.cpuModel) && isNum(e.machine.memBytes) && Array.isArray(e.machine.loadavg), "environment.machine");
  need(isStr(e?.kernel) && /^v\d+\./.test(e?.node ?? "") && isStr(e?.vxo), "environment kernel/node/vxo");
  need(e?.git !== undefined && (e.git.commit === null || /^[0-9a-f]{40}$/.test(e.git.commit)), "environment.git.commit");
  need(isNum(r.options?.packets) && isNum(r.options.runs), "options");
  need(isStr(r.paper?.citation) && isStr(r.paper.source) && typeof r.paper.isSharedAvailable === "boolean", "paper");
  need(r.targets?.figurePct === 15 && r.targets.ratioPct === 20, "targets");
  need(Array.isArray(r.cells) && r.cells.length > 0, "cells");
  for (const c of r.cells ?? []) {
    need(isStr(c.id) && c.spec?.id === c.id && (c.spec.case === 1 || c.spec.case === 2), `cell ${c.id} spec`);
    const m = c.model;
    if (m.status === "ok") {
      const x = m.result;
      need([x.mpps, x.sent, x.dropped, x.tx, x.passed, x.errors, x.wakesPerPacket, x.copiesPerPacket].every(isNum), `cell ${c.id} model result`);
    } else need(["unavailable", "error", "skipped"].includes(m.status) && isStr(m.reason) && m.reason !== "", `cell ${c.id} model status`);
    const em = c.emulator;
    if (em.status === "ok") {
      need(em.runs.length > 0 && em.mpps.n === em.runs.length && em.mpps.min <= em.mpps.median && em.mpps.median <= em.mpps.max, `cell ${c.id} emulator spread`);
      for (const x of em.runs) {
        need([x.mpps, x.usec, x.sent, x.dropped, x.tx, x.passed, x.errors, x.programRuns, x.wakesPerPacket, x.copiesPerPacket].every(isNum), `cell ${c.id} emulator run`);
      }
    } else need(["unavailable", "error", "skipped"].includes(em.status) && isStr(em.reason) && em.reason !== "", `cell ${c.id} emulator status`);
  }
  if (r.table?.kind === "paper") {
    need(Array.isArray(r.rows) && r.rows.length === 2 && r.rows[0]!.program === "xdp1" && r.rows[1]!.program === "xdp2", "rows");
    for (const row of r.rows ?? []) {
      // The published figures: numbers beside ../shared/reference, null (all of them) without it, and then no error against them.
      const isPub = r.paper.isSharedAvailable;
      const isPubNum = (v: unknown) => (isPub ? isNum(v) : v === null || isNum(v));
      for (const src of ["paper", "rerun"] as const) need(isPubNum(row[src].non_offload) && isPubNum(row[src].offload), `row ${row.program} ${src}`);
      for (const src of ["model", "emulator"] as const) need(isNumOrNull(row[src].non_offload) && isNumOrNull(row[src].offload), `row ${row.program} ${src}`);
      need(isPubNum(row.ratio.paper) && isPubNum(row.ratio.rerun) && isNumOrNull(row.ratio.model) && isNumOrNull(row.ratio.emulator), `row ${row.program} ratio`);
      if (row.paper.non_offload === null) {
        need(row.errorPct.non_offload === null && row.errorPct.offload === null && row.ratio.paper === null &&
          row.ratioErrorPct.model === null && row.ratioErrorPct.emulator === null && row.misses.length === 0, `row ${row.program}: error against a missing paper figure`);
      }
      if (!isPub) need(r.paper.note !== null && r.paper.note !== "", "paper.note: a clone without ../shared says so");
      for (const mode of ["non_offload", "offload"] as const) {
        for (const src of ["model", "emulator"] as const) {
          need(row[src][mode] !== null || isStr(row.unavailable[`${src}/${mode}`]), `row ${row.program} ${src}/${mode}: no figure and no reason`);
        }
      }
    }
  } else need(r.rows === null, "rows on a sweep");
  need(Array.isArray(r.checks) && r.checks.every((c) => ["pass", "fail", "not_checked"].includes(c.status) && isStr(c.detail)), "checks");
  return p;
}
