// `npm start`: the RFC's two tables, Case 1 (XDP_REDIRECT to tun) and Case 2
// (through the bridge), from the performance model and from the emulator's
// real processes at a modest packet count, beside the paper's figures; then
// where the reports are. `npm start -- --packets N --runs R` for more.
import path from "node:path";
import { parseArgs } from "node:util";
import { pickScenarios } from "./index.ts";
import { DEFAULT_REPORTS_DIR } from "./runner/paths.ts";
import { renderTerminal } from "./runner/render.ts";
import { runScenarios } from "./runner/run.ts";

/** Packets per emulator run: enough to fill the rings many times over, small enough for a minute. The model runs its own count. */
const QUICK_PACKETS = 100_000;
const QUICK_RUNS = 3;

const { values } = parseArgs({ options: { packets: { type: "string" }, runs: { type: "string" }, out: { type: "string" } } });
const t0 = Date.now();
const out = path.resolve(values.out ?? DEFAULT_REPORTS_DIR);
const reports = await runScenarios(pickScenarios(["case1", "case2"]), {
  ...(values.packets !== undefined ? { packets: Number(values.packets) } : { emulatorPackets: QUICK_PACKETS }),
  runs: values.runs !== undefined ? Number(values.runs) : QUICK_RUNS,
  outDir: out,
});
const color = process.stdout.isTTY === true && (process.env.NO_COLOR ?? "") === "";
for (const r of reports) process.stdout.write(`\n${renderTerminal(r, color)}`);
process.stdout.write(`\nreports (Markdown, JSON, HTML with charts):\n`);
for (const r of reports) process.stdout.write(`  ${path.relative(process.cwd(), path.join(out, r.scenario)) || "."}/report.{md,json,html}\n`);
process.stdout.write(`\nall scenarios: node bin/vxo.js scenario list | run all (README: Scenarios and reports); ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);

