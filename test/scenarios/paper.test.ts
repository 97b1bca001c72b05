// The repository's copy of the published figures
// (scenarios/reference/published_results.json, what a clone without ../shared
// prints) against ../shared/reference: the RFC's tables against
// published-results.json, the December re-run and the C4/C5 batch sweeps
// against cost-model-anchors.md. Skips loudly when ../shared is absent.
import { describe, expect, it } from "vitest";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { readRepoCopy, readSharedTables, SHARED_RESULTS } from "../../scenarios/runner/paper.ts";
import { SHARED_DIR } from "../../scenarios/runner/paths.ts";

const ANCHORS = path.join(SHARED_DIR, "reference", "cost-model-anchors.md");
const isShared = existsSync(SHARED_RESULTS) && existsSync(ANCHORS);
if (!isShared) console.warn(`SKIP published figures check: ${SHARED_RESULTS} or ${ANCHORS} is absent`);

describe.skipIf(!isShared)("scenarios/reference/published_results.json against ../shared/reference", () => {
  const copy = readRepoCopy();

  it("the RFC's Case 1 and Case 2 tables equal published-results.json's", () => {
    const shared = readSharedTables();
    expect(copy.rfc.case1).toEqual(shared.case1);
    expect(copy.rfc.case2).toEqual(shared.case2);
    const src = JSON.parse(readFileSync(SHARED_RESULTS, "utf8")) as { rfc_virtio_net_xdp_offload: { source: string } };
    expect(src.rfc_virtio_net_xdp_offload.source).toMatch(/^003_/);
  });

  it("the December re-run equals cost-model-anchors.md §0 (F1..F8)", () => {
    const md = readFileSync(ANCHORS, "utf8");
    const row = /^\| re-run \(Dec\) \|(.*)\|\s*$/m.exec(md);
    expect(row, "re-run (Dec) row").not.toBeNull();
    const f = row![1]!.split("|").map((s) => Number(s.trim()));
    expect(f).toHaveLength(8);
    const r = copy.rerun;
    expect([r.case1.xdp1.non_offload, r.case1.xdp1.offload, r.case1.xdp2.non_offload, r.case1.xdp2.offload,
      r.case2.xdp1.non_offload, r.case2.xdp1.offload, r.case2.xdp2.non_offload, r.case2.xdp2.offload]).toEqual(f);
    expect(md).toContain(copy.rerun.citation.match(/Message-ID (\S+)/)![1]!);
  });

  it("the vhost batch sweeps equal rows C4 and C5 of cost-model-anchors.md", () => {
    const md = readFileSync(ANCHORS, "utf8");
    for (const [label, key] of [["C4", "C4_tx"], ["C5", "C5_rx"]] as const) {
      const line = md.split("\n").find((l) => l.startsWith(`| ${label} |`));
      expect(line, label).toBeDefined();
      const figures = line!.split("|")[3]!;
      const points: Record<string, number> = {};
      for (const m of figures.matchAll(/(?:B=)?(\d+): \**(\d+\.\d+)\**/g)) points[m[1]!] = Number(m[2]);
      expect(copy.vhostBatchSweep[key].mpps, label).toEqual(points);
    }
  });
});
