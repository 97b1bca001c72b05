// `vxo scenario list | run NAME... | run all [--packets N] [--runs R] [--out DIR]
// [--model-only | --emulator-only] [--host URL] [--profile FILE]` and
// `vxo report diff OLD.json NEW.json`. The runner, the scenarios and the model
// are imported when a command runs (scenarios/runner/run.ts).
import type { Command } from "commander";
import { readFileSync } from "node:fs";
import { styleText } from "node:util";
import { EINVAL, KernelError } from "../shared/errno.ts";

function intArg(what: string, min: number): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!/^\d+$/.test(v) || n < min) throw new KernelError(EINVAL, `Invalid ${what} '${v}' (at least ${min})`);
    return n;
  };
}

/** Colour on a terminal unless NO_COLOR is set (https://no-color.org), never in a pipe. */
export function useColor(stream: NodeJS.WriteStream = process.stdout): boolean {
  return stream.isTTY === true && (process.env.NO_COLOR ?? "") === "";
}

interface RunOpts { packets?: number; runs?: number; out?: string; modelOnly?: boolean; emulatorOnly?: boolean; host?: string; profile?: string }

export function addScenarioCommands(program: Command): void {
  const sc = program.command("scenario").description("the RFC's scenarios: model and emulator beside the paper, reports in reports/");
  sc.command("list")
    .description("the scenarios and what each measures")
    .option("--json", "JSON output")
    .action(async (o: { json?: boolean }) => {
      const { SCENARIOS } = await import("../scenarios/index.ts");
      if (o.json === true) {
        process.stdout.write(JSON.stringify(SCENARIOS.map((s) => ({ name: s.name, title: s.title, cells: s.cells.length }))) + "\n");
        return;
      }
      const w = Math.max(...SCENARIOS.map((s) => s.name.length));
      for (const s of SCENARIOS) process.stdout.write(`${s.name.padEnd(w)}  ${String(s.cells.length).padStart(2)} cells  ${s.title}\n`);
    });
  sc.command("run")
    .description("run scenarios (or `all`): model and emulator side, then reports/<scenario>/report.{md,json,html}")
    .argument("<names...>", "scenario names, or all")
    .option("--packets <n>", "packets per run (model and each emulator run)", intArg("packets", 1))
    .option("--runs <r>", "emulator runs per cell (median and range)", intArg("runs", 1))
    .option("--out <dir>", "reports folder (default: reports/ in the repository)")
    .option("--model-only", "only the performance model")
    .option("--emulator-only", "only the emulator (real processes)")
    .option("--host <url>", "an already running vxo host (ws://...) instead of starting one")
    .option("--profile <file>", "the model's cost profile")
    .action(async (names: string[], o: RunOpts) => {
      if (o.modelOnly === true && o.emulatorOnly === true) throw new KernelError(EINVAL, "--model-only and --emulator-only exclude each other");
      const [{ pickScenarios }, { runScenarios }, { renderTerminal }, { DEFAULT_REPORTS_DIR }, path] = await Promise.all([
        import("../scenarios/index.ts"), import("../scenarios/runner/run.ts"), import("../scenarios/runner/render.ts"),
        import("../scenarios/runner/paths.ts"), import("node:path")]);
      let scenarios;
      try {
        scenarios = pickScenarios(names);
      } catch (e) {
        throw new KernelError(EINVAL, (e as Error).message);
      }
      const out = path.resolve(o.out ?? DEFAULT_REPORTS_DIR);
      const reports = await runScenarios(scenarios, {
        ...(o.packets !== undefined ? { packets: o.packets } : {}), ...(o.runs !== undefined ? { runs: o.runs } : {}),
        outDir: out, isModelOnly: o.modelOnly === true, isEmulatorOnly: o.emulatorOnly === true,
        ...(o.host !== undefined ? { hostUrl: o.host } : {}), ...(o.profile !== undefined ? { profile: path.resolve(o.profile) } : {}),
      });
      for (const r of reports) process.stdout.write(`\n${renderTerminal(r, useColor())}`);
      process.stdout.write(`\nreports: ${reports.map((r) => path.join(out, r.scenario, "report.{md,json,html}")).join("\n         ")}\n`);
    });

  const report = program.command("report").description("scenario reports");
  report.command("diff")
    .description("what changed between two reports, figure by figure, with the spread of each")
    .argument("<old>", "the older report.json")
    .argument("<new>", "the newer report.json")
    .option("--json", "JSON output")
    .action(async (a: string, b: string, o: { json?: boolean }) => {
      const { diffReports, renderDiff } = await import("../scenarios/runner/diff.ts");
      const read = (f: string) => {
        try {
          return JSON.parse(readFileSync(f, "utf8"));
        } catch (e) {
          throw new KernelError(EINVAL, `Cannot read report ${f}: ${(e as Error).message}`);
        }
      };
      let d;
      try {
        d = diffReports(read(a), read(b));
      } catch (e) {
        if (e instanceof KernelError) throw e;
        throw new KernelError(EINVAL, (e as Error).message);
      }
      const color = useColor() ? (s: string) => styleText("red", s, { validateStream: false }) : undefined;
      process.stdout.write(o.json === true ? JSON.stringify(d) + "\n" : renderDiff(d, color));
    });
}
