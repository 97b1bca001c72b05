// The published figures as scenarios/reference/published.ts reads them from
// ../shared/reference: the RFC's tables from published-results.json, the
// December re-run (§0) and the C4/C5 batch sweeps from cost-model-anchors.md,
// the two files agreeing on the RFC's figures (§0's "RFC (Nov)" row). The
// parsers also on synthetic text: a changed format is an error naming the file
// and what is missing, never a silent zero. The tests of the real files skip
// loudly when ../shared is absent.
import { describe, expect, it } from "vitest";
import { existsSync, readFileSync } from "node:fs";
import {
  FIGURE_CELLS, parseRerun, parseSweep, readPublished, readRfcTables, ReferenceFormatError, section0Row,
  SHARED_ANCHORS, SHARED_RESULTS,
} from "../../scenarios/reference/published.ts";
import { loadFigures } from "../../scenarios/model/figures.ts";

const isShared = existsSync(SHARED_RESULTS) && existsSync(SHARED_ANCHORS);
if (!isShared) console.warn(`SKIP published figures from ../shared: ${SHARED_RESULTS} or ${SHARED_ANCHORS} is absent`);

describe.skipIf(!isShared)("published figures read from ../shared/reference", () => {
  it("the RFC's Case 1 and Case 2 tables from published-results.json, positive Mpps, offload 5x faster in Case 1 only", () => {
    const t = readRfcTables();
    expect(t.source).toMatch(/seed 003_/);
    for (const k of ["case1", "case2"] as const) for (const p of ["xdp1", "xdp2"] as const) {
      expect(t[k][p].non_offload).toBeGreaterThan(0);
      expect(t[k][p].offload).toBeGreaterThan(0);
    }
    expect(t.case1.xdp1.offload / t.case1.xdp1.non_offload).toBeGreaterThan(4);
    expect(t.case2.xdp1.offload / t.case2.xdp1.non_offload).toBeLessThan(1.2);
  });

  it("cost-model-anchors.md §0's \"RFC (Nov)\" row is published-results.json's table, cell for cell", () => {
    const md = readFileSync(SHARED_ANCHORS, "utf8");
    const nov = section0Row(md, /^rfc/);
    const t = readRfcTables();
    for (const c of FIGURE_CELLS) expect(nov.get(c.label), c.label).toBe(t[c.case === 1 ? "case1" : "case2"][c.program][c.mode]);
  });

  it("the December re-run: eight figures, each within 10% of the paper's (§0: spread up to 8%), cited by Message-ID", () => {
    const p = readPublished();
    expect(p.missing).toEqual([]);
    const figs = loadFigures();
    expect(figs.map((f) => f.label)).toEqual(["F1", "F2", "F3", "F4", "F5", "F6", "F7", "F8"]);
    for (const f of figs) expect(Math.abs(f.rerun - f.paper) / f.paper, f.label).toBeLessThan(0.1);
    expect(p.rerun!.citation).toMatch(/XDP in tx path.*Message-ID \S+@\S+/);
  });

  it("the vhost batch sweeps C4 (TX) and C5 (RX): Mpps by batch from 1, rising from B=1 to B=64, with their source", () => {
    const s = readPublished().sweep!;
    for (const pts of [s.C4_tx, s.C5_rx]) {
      expect(Object.keys(pts)).toContain("1");
      expect(Object.keys(pts)).toContain("64");
      expect(pts["64"]!).toBeGreaterThan(pts["1"]!);
    }
    expect(s.citation).toMatch(/vhost/);
  });
});

describe("reference parsers on synthetic text", () => {
  const sec0 = (rows: string) => `# x\n\n## 0. Noise\n\nthe follow-up series "[RFC net-next 00/14] XDP in tx path" (2019-12-18, Message-ID a@b)\n\n` +
    `| | F1 | F2 | F3 | F4 | F5 | F6 | F7 | F8 |\n|---|---|---|---|---|---|---|---|---|\n${rows}\n\n## 1. Next\n| re-run (Dec) | 9 | 9 | 9 | 9 | 9 | 9 | 9 | 9 |\n`;

  it("§0's re-run row by its header's labels, with its citation; only §0 is read", () => {
    const r = parseRerun(sec0("| re-run (Dec) | 1 | 2 | 3 | **4** | 5 | 6 | 7 | 8.5 |"), "anchors.md");
    expect(r.case1).toEqual({ xdp1: { non_offload: 1, offload: 2 }, xdp2: { non_offload: 3, offload: 4 } });
    expect(r.case2).toEqual({ xdp1: { non_offload: 5, offload: 6 }, xdp2: { non_offload: 7, offload: 8.5 } });
    expect(r.citation).toContain("Message-ID a@b");
  });

  it("a missing section, row or figure is a ReferenceFormatError naming the file", () => {
    expect(() => parseRerun("# nothing here\n", "anchors.md")).toThrow(ReferenceFormatError);
    expect(() => parseRerun("# nothing here\n", "anchors.md")).toThrow(/anchors\.md: no section "## 0\."/);
    expect(() => parseRerun(sec0("| RFC (Nov) | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 |"), "anchors.md")).toThrow(/no row matching/);
    expect(() => parseRerun(sec0("| re-run (Dec) | 1 | 2 | 3 | 4 | 5 | 6 | 7 | ? |"), "anchors.md")).toThrow(/no figure in Mpps for F8/);
  });

  it("rows C4/C5: batch -> Mpps from the value column; a changed column is an error", () => {
    const row = (l: string, v: string) => `| ${l} | sweep | ${v} | Mpps | cond | Someone, "Re: vhost batching" | M | F3 |`;
    const s = parseSweep([row("C4", "B=1: 2.29; 16: 3.40; **64: 3.64**"), row("C5", "B=1: 1.22; 64: 1.77")].join("\n"), "anchors.md");
    expect(s.C4_tx).toEqual({ 1: 2.29, 16: 3.4, 64: 3.64 });
    expect(s.C5_rx).toEqual({ 1: 1.22, 64: 1.77 });
    expect(s.citation).toContain("vhost batching");
    expect(() => parseSweep(row("C4", "B=1: 2.29; 64: 3.64"), "anchors.md")).toThrow(/no table row \| C5 \|/);
    expect(() => parseSweep([row("C4", "fast"), row("C5", "B=1: 1.22; 64: 1.77")].join("\n"), "anchors.md")).toThrow(/row C4's value column/);
  });
});
