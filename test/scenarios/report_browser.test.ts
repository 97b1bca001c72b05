// Each scenario's HTML report opened in headless Chromium (Debian's chromium
// package, driven by playwright-core): the charts rendered (inline SVG with
// as many bars or points as the report.json has figures, each drawn with a
// size), no console errors; a screenshot saved beside each report.
// Skips loudly when /usr/bin/chromium is absent (.ci/run installs it).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import type { Browser } from "playwright-core";
import { SCENARIOS } from "../../scenarios/index.ts";
import { runScenarios } from "../../scenarios/runner/run.ts";
import type { Report } from "../../scenarios/runner/report.ts";
import { runModelDouble } from "../helpers/model_double.ts";

const CHROMIUM = "/usr/bin/chromium";
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) console.warn(`SKIP browser test of the HTML reports: ${CHROMIUM} not found (apt-get install chromium)`);

const out = mkdtempSync(path.join(tmpdir(), "vxo-html-"));
let browser: Browser;

beforeAll(async () => {
  if (!hasChromium) return;
  // Every scenario's model side (a test double), and case1/case2 with the emulator too (bars of all three sources).
  await runScenarios([...SCENARIOS], { packets: 2000, runs: 1, outDir: out, isModelOnly: true, runModel: runModelDouble, progress: null });
  await runScenarios(SCENARIOS.filter((s) => s.name === "case1" || s.name === "case2"),
    { packets: 3000, runs: 2, outDir: out, runModel: runModelDouble, progress: null });
  const { chromium } = await import("playwright-core");
  browser = await chromium.launch({ executablePath: CHROMIUM });
}, 180_000);
afterAll(async () => {
  await browser?.close();
});

const n = (v: number | null | undefined) => (v === null || v === undefined ? 0 : 1);

/** What report.json says the page must draw: bars or points per chart. */
function expected(r: Report): Array<{ chart: string; sel: string; count: number }> {
  if (r.rows !== null) {
    return [
      { chart: "mpps", sel: "rect.bar", count: r.rows.reduce((a, x) => a + n(x.paper.non_offload) + n(x.paper.offload) + n(x.model.non_offload) + n(x.model.offload) + n(x.emulator.non_offload) + n(x.emulator.offload), 0) },
      { chart: "ratio", sel: "rect.bar", count: r.rows.reduce((a, x) => a + n(x.ratio.paper) + n(x.ratio.model) + n(x.ratio.emulator), 0) },
    ];
  }
  const figures = r.cells.reduce((a, c) => a + n(c.model.status === "ok" ? c.model.result.mpps : null) + n(c.emulator.status === "ok" ? c.emulator.mpps.median : null), 0);
  const isNumeric = r.cells.every((c) => typeof c.spec.x === "number");
  const refs = r.reference.reduce((a, x) => a + Object.keys(x.points ?? {}).length, 0);
  return [{ chart: "sweep", sel: isNumeric ? "circle.point" : "rect.bar", count: figures + (isNumeric ? refs : 0) }];
}

describe.skipIf(!hasChromium)("HTML reports in headless Chromium", () => {
  it.each(SCENARIOS.map((s) => s.name))("%s: charts rendered with one mark per figure, no console errors", async (name) => {
    const dir = path.join(out, name);
    const r = JSON.parse(readFileSync(path.join(dir, "report.json"), "utf8")) as Report;
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    page.on("console", (m) => {
      if (m.type() === "error") errors.push(m.text());
    });
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.goto(pathToFileURL(path.join(dir, "report.html")).href);
    await expect(page.title()).resolves.toBe(r.title);
    const want = expected(r);
    expect(await page.locator("svg.chart").count()).toBe(want.length);
    for (const w of want) {
      const marks = page.locator(`svg.chart[data-chart="${w.chart}"] ${w.sel}`);
      expect(await marks.count(), `${name} ${w.chart}`).toBe(w.count);
      expect(w.count).toBeGreaterThan(0);
      // Drawn, with a size: the first and the last mark.
      for (const m of [marks.first(), marks.last()]) {
        const box = await m.boundingBox();
        expect(box!.width).toBeGreaterThan(0);
        expect(box!.height).toBeGreaterThan(0);
      }
    }
    if (r.rows !== null) {
      expect(await page.locator("table td.miss").count()).toBe(r.rows.reduce((a, x) => a + x.misses.length + x.misses.filter((m) => m.startsWith("model/")).length, 0));
    }
    await page.screenshot({ path: path.join(dir, "report.png"), fullPage: true });
    expect(existsSync(path.join(dir, "report.png"))).toBe(true);
    await page.close();
    expect(errors).toEqual([]);
  });
});
