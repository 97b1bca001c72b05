// The report's table and its renderings, from synthetic cells (no processes):
// the error % and ratios against the paper, a missed target flagged in every
// rendering (ANSI red on a terminal, styled and ✗ in Markdown, class "miss" in
// HTML), a missing figure shown with its reason and never as a number, and a
// clone without ../shared said loudly, the paper's cells "n/a" with no error
// computed against them. The paper's figures are ../shared/reference's: the
// tests that compare against them skip loudly without it.
import { describe, expect, it } from "vitest";
import path from "node:path";
import { tmpdir } from "node:os";
import { stripVTControlCharacters } from "node:util";
import { scenario as case1 } from "../../scenarios/case1.scenario.ts";
import { loadPaper } from "../../scenarios/runner/paper.ts";
import { buildChecks, buildRows, REPORT_SCHEMA, TARGETS, type CellReport, type Report } from "../../scenarios/runner/report.ts";
import { renderMarkdown, renderTerminal } from "../../scenarios/runner/render.ts";
import { renderHtml } from "../../scenarios/runner/render_html.ts";
import { environment } from "../../scenarios/runner/environment.ts";
import { reportProblems } from "../helpers/report_schema.ts";

const paper = loadPaper();
const NO_SHARED = path.join(tmpdir(), "no-such-shared", "published-results.json");
if (!paper.isSharedAvailable) console.warn(`SKIP report tests against the paper's figures: ${paper.note}`);

function modelOk(mpps: number, wakes = 0.01): CellReport["model"] {
  return { status: "ok", conserved: true, ms: 1, result: { mpps, sent: 100, dropped: 90, tx: 0, passed: 0, errors: 10, wakesPerPacket: wakes, copiesPerPacket: 0 } };
}

function emuOk(xs: number[]): CellReport["emulator"] {
  const runs = xs.map((mpps) => ({ mpps, perGuestMpps: [mpps], usec: 100, guestLagUs: 0, guestLagBoundUs: 0, sent: 100, dropped: 100, tx: 0, passed: 0, errors: 0, programRuns: 100,
    wakesPerPacket: 0, copiesPerPacket: 0, batchMean: 64 }));
  const s = [...xs].sort((a, b) => a - b);
  return { status: "ok", runs, mpps: { median: s[(s.length - 1) >> 1]!, min: s[0]!, max: s[s.length - 1]!, n: s.length }, notes: [] };
}

/** Case 1 cells: xdp1 within target; xdp2 offload 30% low (a miss); xdp2 non-offload with no model. */
function cells(): CellReport[] {
  const c = (id: string, model: CellReport["model"], emulator: CellReport["emulator"]): CellReport => ({ id, spec: case1.cells.find((x) => x.id === id)!, model, emulator });
  return [
    c("xdp1/non_offload", modelOk(2.5), { status: "unavailable", reason: "non-offload datapath not wired" }),
    c("xdp1/offload", modelOk(12.4), emuOk([0.8, 0.9, 1.0])),
    c("xdp2/non_offload", { status: "error", reason: "the model failed: boom" }, emuOk([0.2, 0.3, 0.25])),
    c("xdp2/offload", modelOk(7.26 * 0.7), emuOk([0.5, 0.6, 0.55])),
  ];
}

function report(p = paper): Report {
  const cs = cells();
  return {
    schema: REPORT_SCHEMA, scenario: "case1", title: case1.title, description: case1.description, generatedAt: new Date().toISOString(),
    durationMs: 1, options: { packets: 100, modelPackets: 100, runs: 3, modelOnly: false, emulatorOnly: false, host: null, profile: null },
    environment: environment(), paper: { ...p, sweepCitation: p.sweepCitation }, targets: TARGETS, table: case1.table, cells: cs,
    rows: buildRows("case1", cs, p), reference: [], checks: buildChecks(case1, cs),
  };
}

describe.skipIf(!paper.isSharedAvailable)("buildRows()", () => {
  it("error % of the model against the paper, ratios of each source, and the misses", () => {
    const r = report();
    expect(reportProblems(r)).toEqual([]);
    const [x1, x2] = r.rows!;
    expect(x1!.errorPct.offload).toBeCloseTo(((12.4 - 12.9) / 12.9) * 100, 6);
    expect(x1!.ratio.model).toBeCloseTo(12.4 / 2.5, 6);
    expect(x1!.ratio.paper).toBeCloseTo(12.9 / 2.46, 6);
    expect(x1!.misses).toEqual([]);
    expect(x2!.errorPct.offload).toBeCloseTo(-30, 6);
    expect(x2!.misses).toEqual(["model/offload", "ratio/emulator"]);
    expect(x2!.model.non_offload).toBeNull();
    expect(x2!.unavailable["model/non_offload"]).toBe("the model failed: boom");
    expect(x1!.emulator.non_offload).toBeNull();
    expect(x1!.emulator.offload).toBe(0.9);
    expect(x1!.emulatorRange.offload).toEqual({ median: 0.9, min: 0.8, max: 1.0, n: 3 });
    expect(x2!.ratio.emulator).toBeCloseTo(0.55 / 0.25, 6);
    expect(x2!.misses).toContain("model/offload");
    // emulator ratio 2.2 vs the paper's 4.84: beyond 20%.
    expect(x2!.misses).toContain("ratio/emulator");
  });

  it("a ratio 19% off is within target, 21% off misses", () => {
    const cs = cells();
    const p = paper.case1!.xdp1;
    cs[0]!.model = modelOk(p.non_offload);
    cs[1]!.model = modelOk(p.offload * 1.19);
    expect(buildRows("case1", cs, paper)[0]!.misses).toEqual(["model/offload"]);
    cs[1]!.model = modelOk(p.offload * 1.14);
    expect(buildRows("case1", cs, paper)[0]!.misses).toEqual([]);
    cs[1]!.model = modelOk(p.offload);
    cs[0]!.model = modelOk(p.non_offload / 1.21 * 1.0);
    expect(buildRows("case1", cs, paper)[0]!.misses).toEqual(["model/non_offload", "ratio/model"]);
  });
});

describe.skipIf(!paper.isSharedAvailable)("renderings", () => {
  it("terminal: the missed cells in red (styleText), ✗ without colour, the reasons as footnotes", () => {
    const r = report();
    const colored = renderTerminal(r, true);
    const plain = renderTerminal(r, false);
    expect(plain).not.toMatch(/\x1b\[/);
    expect(stripVTControlCharacters(colored)).toBe(plain);
    const xdp2 = colored.split("\n").find((l) => l.startsWith("xdp2"))!;
    // The offload figure (5.08) and its error (-30.0%) are red; the paper's are not.
    expect(xdp2).toMatch(/\x1b\[31m\s*5\.08 ✗\x1b\[39m/);
    expect(xdp2).toMatch(/\x1b\[31m\s*-30\.0% ✗\x1b\[39m/);
    expect(xdp2).not.toMatch(/\x1b\[31m\s*7\.26/);
    expect(plain).toContain("the model failed: boom");
    expect(plain).toContain("non-offload datapath not wired");
    expect(plain).toMatch(/0\.90 \(0\.80-1\.00, n=3\)/);
    expect(plain).toMatch(/FAIL xdp2: offload beats non-offload|n\/a  xdp2: offload beats non-offload/);
  });

  it("a model cell the profile's calibration was fitted on says so (fit), with a note naming figure and parameter", () => {
    const r = report();
    const c = r.cells.find((x) => x.id === "xdp1/non_offload")!;
    if (c.model.status === "ok") c.model.result.fittedOn = { figure: "F1", param: "c_rx" };
    const plain = renderTerminal(r, false);
    expect(plain.split("\n").find((l) => l.startsWith("xdp1"))).toMatch(/2\.50 \(fit\)/);
    expect(plain).toContain("model cells marked (fit): a parameter of the profile was fitted on that figure (F1 (xdp1 non-offload: c_rx))");
    expect(plain.split("\n").find((l) => l.startsWith("xdp2"))).not.toContain("(fit)");
    expect(renderMarkdown(r)).toContain("2.50 (fit)");
    // Without a fitted cell, no note.
    expect(renderTerminal(report(), false)).not.toContain("marked (fit)");
  });

  it("markdown and html: missed cells styled red and marked ✗", () => {
    const r = report();
    const md = renderMarkdown(r);
    expect(md).toContain('<span style="color:#c00">**5.08 ✗**</span>');
    expect(md.match(/✗\*\*<\/span>/g)!.length).toBe(2 + 1); // xdp2 offload figure and error, xdp2 emulator ratio
    const html = renderHtml(r);
    expect(html.match(/<td class="miss"/g)!.length).toBe(3);
    expect(html).toContain('<svg xmlns="http://www.w3.org/2000/svg" class="chart" data-chart="mpps"');
    // 4 paper + 3 model + 3 emulator bars; ratios: 2 paper + 1 model + 1 emulator.
    expect(html.match(/<rect class="bar"/g)!.length).toBe(10 + 4);
  });

  it("beside ../shared: no warning", () => {
    expect(renderTerminal(report(), false)).not.toContain("WARNING");
  });
});

describe("without ../shared/reference", () => {
  it("the paper and re-run cells are n/a (null in the JSON), no error % or miss against them, model and emulator kept, a loud warning", () => {
    const p = loadPaper(NO_SHARED);
    expect(p.isSharedAvailable).toBe(false);
    expect([p.case1, p.case2, p.rerun, p.sweep]).toEqual([null, null, null, null]);
    const r = report(p);
    expect(reportProblems(r)).toEqual([]);
    const [x1, x2] = r.rows!;
    expect(x1!.paper).toEqual({ non_offload: null, offload: null });
    expect(x1!.rerun).toEqual({ non_offload: null, offload: null });
    expect([x1!.ratio.paper, x1!.ratio.rerun]).toEqual([null, null]);
    expect(x1!.errorPct).toEqual({ non_offload: null, offload: null });
    expect([x1!.ratioErrorPct.model, x1!.ratioErrorPct.emulator]).toEqual([null, null]);
    expect([...x1!.misses, ...x2!.misses]).toEqual([]);
    // The model's and the emulator's own figures stay.
    expect(x1!.model).toEqual({ non_offload: 2.5, offload: 12.4 });
    expect(x1!.ratio.model).toBeCloseTo(12.4 / 2.5, 6);
    expect(x1!.emulator.offload).toBe(0.9);
    const json = JSON.parse(JSON.stringify(r)) as Report;
    expect(json.rows![0]!.paper).toEqual({ non_offload: null, offload: null });
    const plain = renderTerminal(r, false), colored = renderTerminal(r, true);
    expect(plain).toMatch(/^WARNING: .*published-results\.json and .*cost-model-anchors\.md are absent/m);
    const row1 = plain.split("\n").find((l) => l.startsWith("xdp1"))!;
    // paper non-offload, paper offload, error % x2 and ratio paper: five n/a cells, the model's 2.50 and 12.40 beside them.
    expect(row1.split("n/a (../shared/reference missing)").length - 1).toBe(5);
    expect(row1).toContain("12.40");
    expect(row1).not.toContain("%");
    // No red and no ✗ in the table (the warning above it is red).
    const tableRows = (t: string) => t.split("\n").filter((l) => /^(\x1b\[\d+m)*xdp/.test(l));
    expect(tableRows(plain).join("\n")).not.toContain("✗");
    expect(tableRows(colored)).toHaveLength(2);
    expect(tableRows(colored).join("\n")).not.toMatch(/\x1b\[31m/);
    expect(colored).toMatch(/\x1b\[31m\x1b\[1mWARNING: /);
    expect(colored).toMatch(/\x1b\[1m\x1b\[33m\s*n\/a \(\.\.\/shared\/reference missing\)|\x1b\[33m\x1b\[1m\s*n\/a/);
    expect(plain).toContain("re-run of the same table: n/a (../shared/reference missing)");
    const md = renderMarkdown(r);
    expect(md).toMatch(/> \*\*WARNING: .*are absent/);
    expect(md).toContain("| **n/a (../shared/reference missing)** |");
    const html = renderHtml(r);
    expect(html).toMatch(/<p class="warning">WARNING: .*are absent/);
    expect(html.match(/<td class="missing"/g)!.length).toBe(10);
    expect(html).not.toContain('<td class="miss"');
    // No paper bars: 3 model + 3 emulator; ratios: 1 model + 1 emulator.
    expect(html.match(/<rect class="bar"/g)!.length).toBe(6 + 2);
  });
});

describe("buildChecks()", () => {
  it("passes, fails and not-checked expectations, and conservation", () => {
    const cs = cells();
    const checks = buildChecks(case1, cs);
    expect(checks.find((c) => c.what.startsWith("Case 1 offload"))!.status).toBe("pass");
    expect(checks.find((c) => c.what.startsWith("xdp1: offload beats non-offload (model"))!.status).toBe("pass");
    expect(checks.find((c) => c.what.startsWith("xdp2: offload beats non-offload (model"))!.status).toBe("not_checked");
    expect(checks.find((c) => c.what.startsWith("conservation"))!.status).toBe("pass");
    cs[1]!.model = modelOk(12.4, 0.2);
    (cs[2]!.emulator as { runs: Array<{ errors: number }> }).runs[1]!.errors = 1;
    const bad = buildChecks(case1, cs);
    expect(bad.find((c) => c.what.startsWith("Case 1 offload"))!.status).toBe("fail");
    expect(bad.find((c) => c.what.startsWith("conservation"))).toMatchObject({ status: "fail", detail: "broken in emulator xdp2/non_offload run 2 (sent 100, dropped 100 + tx 0 + passed 0 + errors 1)" });
  });
});
