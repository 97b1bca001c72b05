// `npm run calibrate`: fits the model's four free parameters, each on one named
// RFC figure (c_rx on F1, c_inject on F4, c_p on F7, C_wake on F6), prints the
// residuals of the fit, then the held-out figures (F2, F3, F5, F8), each row's
// offload/non-offload ratio, the December re-run beside them and the held-out
// vhost-polling claim, and writes profiles/fitted.json (the priors of
// profiles/default.json with the four fitted values, their sources saying so,
// and the residuals). Then, for comparison, the plan the anchor note proposes
// (§3.3: G_cap on F2 where this one fits c_p on F7), fitted the same way: the
// README says why the plan changed and what each one misses. With
// --sensitivity it then redoes the fits with each unfitted parameter the Case 2
// figures lean on at the ends of its source's range (SENSITIVITY).
//
// Each fit is a bisection of one parameter on one simulated figure (the model
// is deterministic, each figure monotone in its parameter); two passes, since
// the parameters interact little (c_inject only acts on XDP_TX of the offloaded
// program, c_rx only on delivery to the guest, c_p only on frames through the
// bridge, C_wake only where a producer finds vhost asleep).
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { loadProfile, profileFromSpec, withCosts, PROFILES_DIR, type ParamName, type Profile, type ProfileFile } from "./profile.ts";
import { evaluate, formatEvaluation, pct, turnEventLoop, type Evaluation } from "./evaluate.ts";
import { runModelSync, defaultPackets } from "./index.ts";
import { figure, FiguresUnavailableError, loadFigures, type Figure } from "./figures.ts";

export interface FitSpec {
  param: ParamName;
  figure: Figure["label"];
  lo: number;
  hi: number;
}

/**
 * The fitted parameters: at most four, each on one figure (issue 12). c_p on F7: Case 2's
 * producer cost is the figure where the producer finds vhost asleep least (vhost does RX and
 * TX work for every packet), so that c_p and C_wake (fitted on F6, one wake per packet) are
 * told apart; G_cap is the 10G line rate (A1), and F2 is held out.
 */
export const FITS: readonly FitSpec[] = [
  { param: "c_rx", figure: "F1", lo: 0, hi: 2000 },
  { param: "c_inject", figure: "F4", lo: 0, hi: 1000 },
  { param: "c_p", figure: "F7", lo: 0, hi: 5000 },
  { param: "C_wake", figure: "F6", lo: 0, hi: 5000 },
];

/**
 * The anchor note's plan (cost-model-anchors.md §3.3): G_cap on F2 and c_p left at D8's prior.
 * Printed beside the one in use, never written: under it F5 and F7 miss (README, "Calibration").
 */
export const ANCHOR_PLAN_FITS: readonly FitSpec[] = [
  { param: "G_cap", figure: "F2", lo: 1, hi: 14.88 },
  { param: "c_inject", figure: "F4", lo: 0, hi: 1000 },
  { param: "c_rx", figure: "F1", lo: 0, hi: 2000 },
  { param: "C_wake", figure: "F6", lo: 0, hi: 5000 },
];

async function simFigure(p: Profile, label: Figure["label"], packets?: number): Promise<number> {
  const f = figure(label);
  const mpps = runModelSync({ case: f.case, program: f.program, mode: f.mode, packets: packets ?? defaultPackets(f.case) }, p).mpps;
  await turnEventLoop();
  return mpps;
}

export interface FitResult {
  param: ParamName;
  figure: Figure["label"];
  prior: number;
  value: number;
  paper: number;
  model: number;
  residual: number;
  /** False when the bracket ends could not reach the figure (reported, never forced). */
  converged: boolean;
}

/** Fits FITS on `base` (two passes of bisection). Returns the fitted profile and each fit. */
export async function calibrate(base: Profile, log: (s: string) => void = () => {}, plan: readonly FitSpec[] = FITS): Promise<{ profile: Profile; fits: FitResult[] }> {
  let p = base;
  const fits = new Map<ParamName, FitResult>();
  for (let pass = 0; pass < 2; pass++) {
    for (const fs of plan) {
      const target = figure(fs.figure).paper;
      const at = (v: number): Promise<number> => simFigure(withCosts(p, { [fs.param]: v }), fs.figure);
      let lo = fs.lo, hi = fs.hi;
      let flo = await at(lo), fhi = await at(hi);
      // Rates fall as a cost rises and rise with G_cap: orient so that f(lo) <= f(hi).
      const up = fhi >= flo;
      const below = (f: number): boolean => (up ? f < target : f > target);
      let converged = true;
      if (below(up ? fhi : flo) === below(up ? flo : fhi)) converged = false;
      for (let i = 0; i < 40 && converged && hi - lo > 1e-3 * Math.max(1, Math.abs(hi)); i++) {
        const mid = (lo + hi) / 2, fm = await at(mid);
        if (below(fm)) lo = mid, flo = fm;
        else hi = mid, fhi = fm;
      }
      const value = converged ? (Math.abs(flo - target) <= Math.abs(fhi - target) ? lo : hi) : (Math.abs(flo - target) <= Math.abs(fhi - target) ? fs.lo : fs.hi);
      p = withCosts(p, { [fs.param]: value });
      const model = await simFigure(p, fs.figure);
      fits.set(fs.param, {
        param: fs.param, figure: fs.figure, prior: base.costs[fs.param], value, paper: target, model,
        residual: (model - target) / target, converged,
      });
      if (pass === 1) log(`  fit ${fs.param.padEnd(8)} on ${fs.figure}: ${value.toFixed(fs.param === "G_cap" ? 3 : 1)} (prior ${base.costs[fs.param]}), model ${model.toFixed(3)} vs paper ${target.toFixed(2)} Mpps`);
    }
  }
  return { profile: p, fits: [...fits.values()] };
}

/** The fitted profile file: the priors' spec with the fitted values and the residuals. */
export function fittedSpec(base: Profile, fits: FitResult[], ev: Evaluation): ProfileFile {
  const spec = JSON.parse(JSON.stringify(base.spec)) as ProfileFile;
  spec.about = "Fitted by `npm run calibrate` (scenarios/model/calibrate.ts) from profiles/default.json: the four parameters marked fitted; every other value is the prior with its anchor. Do not edit by hand.";
  for (const f of fits) {
    const s = spec.params[f.param];
    s.value = Number(f.value.toFixed(f.param === "G_cap" ? 4 : 2));
    s.source = `fitted: ${f.figure} = ${f.paper} Mpps (model ${f.model.toFixed(3)}); prior ${f.prior} from ${s.source}`;
  }
  spec.calibration = {
    fitted: fits.map((f) => ({ param: f.param, figure: f.figure, prior: f.prior, value: f.value, paper: f.paper, model: f.model, residual: f.residual, converged: f.converged })),
    figures: ev.figures, ratios: ev.ratios, busy_poll: ev.busyPoll,
  };
  return spec;
}

/**
 * `--sensitivity`: the unfitted parameters the Case 2 figures lean on, each moved to the ends of
 * its source's range, the four fits redone each time: do the held-out figures, the ratios and the
 * polling claim still hold?
 */
export const SENSITIVITY: ReadonlyArray<{ param: ParamName; values: number[]; range: string }> = [
  { param: "c_wq", values: [0, 64, 256], range: "0: the anchor note's R1 lump (every call without a wake at c_sdr); 2 to 8 cross-core lines of B5" },
  { param: "c_sdr", values: [20, 50], range: "anchors §3.1 R1: 20-50 ns" },
  { param: "L_wake", values: [300, 500, 2500], range: "anchors §3.3: 0.3-0.5 us; E1/E2: ~2.5 us per cross-CPU wake" },
  { param: "c_signal", values: [900, 1500], range: "E9: 0.3-1.5 us" },
  { param: "F_rx", values: [128], range: "C6 at half (its two-point fit on C5)" },
];

async function sensitivity(base: Profile): Promise<void> {
  console.log("\nsensitivity (each value: the four fits redone; held-out figures, ratios, polling claim):");
  for (const s of SENSITIVITY) {
    console.log(`  ${s.param} (prior ${base.costs[s.param]}; ${s.range})`);
    for (const v of s.values) {
      const { profile, fits } = await calibrate(withCosts(base, { [s.param]: v }));
      const ev = await evaluate({ ...profile, name: `${s.param}=${v}` }, new Set(fits.map((f) => f.figure)));
      const held = ev.figures.filter((f) => f.role === "held-out");
      const bad = held.filter((f) => !f.ok).length + ev.ratios.filter((r) => !r.ok).length;
      console.log(`    ${String(v).padStart(5)}: ${fits.map((f) => `${f.param} ${f.value.toFixed(0)}`).join(", ")}; ` +
        `held out ${held.map((f) => `${f.label} ${pct(f.err)}`).join(" ")}; ratios ${ev.ratios.map((r) => pct(r.err)).join(" ")}; ` +
        `polling ${ev.busyPoll.rows.map((r) => pct(r.with / r.without - 1)).join(" ")} (${ev.busyPoll.bothRise ? "all rise" : "NOT all rise"}, ` +
        `non-offload ${ev.busyPoll.nonOffloadAbove ? "above" : "NOT above"})${bad > 0 ? ` ${bad} MISS` : ""}`);
    }
  }
}

async function main(): Promise<void> {
  const t0 = performance.now();
  try {
    loadFigures();
  } catch (e) {
    if (!(e instanceof FiguresUnavailableError)) throw e;
    console.error(`npm run calibrate: refusing to calibrate: ${e.message}.\n` +
      "Each fitted parameter is fitted on one of those figures, so there is nothing to fit on; " +
      `${path.relative(process.cwd(), path.join(PROFILES_DIR, "fitted.json"))} is left as committed and the model keeps running on it.`);
    process.exitCode = 1;
    return;
  }
  const base = loadProfile("default");
  console.log(`calibrating on ${path.relative(process.cwd(), base.file)}: ${FITS.length} fitted parameters`);
  const { profile, fits } = await calibrate(base, (s) => console.log(s));
  console.log("\nfit residuals (model vs the figure each parameter was fitted on):");
  for (const f of fits) console.log(`  ${f.figure} ${f.param.padEnd(8)} residual ${(100 * f.residual).toFixed(2).padStart(6)}%${f.converged ? "" : "  (NOT converged: the figure is out of this parameter's reach)"}`);
  const ev = await evaluate({ ...profile, name: "fitted" }, new Set(fits.map((f) => f.figure)));
  console.log("\n" + formatEvaluation(ev));
  const spec = fittedSpec(base, fits, ev);
  const out = path.join(PROFILES_DIR, "fitted.json");
  writeFileSync(out, JSON.stringify(spec, null, 2) + "\n");
  // Read back: the written profile must load.
  profileFromSpec("fitted", out, JSON.parse(readFileSync(out, "utf8")) as ProfileFile);
  console.log(`\nwrote ${path.relative(process.cwd(), out)}`);
  // The anchor note's plan on the same priors, for comparison (not written).
  const alt = await calibrate(withCosts(base, { G_cap: 12.9 }), () => {}, ANCHOR_PLAN_FITS);
  const altEv = await evaluate({ ...alt.profile, name: "anchor plan" }, new Set(alt.fits.map((f) => f.figure)));
  console.log(`\nfor comparison, the anchor note's plan (§3.3: ${ANCHOR_PLAN_FITS.map((f) => `${f.param} on ${f.figure}`).join(", ")}; c_p at its prior ${base.costs.c_p} ns), not written:`);
  console.log(`  fitted ${alt.fits.map((f) => `${f.param} ${f.value.toFixed(f.param === "G_cap" ? 3 : 1)}`).join(", ")}`);
  console.log(`  ${altEv.figures.map((f) => `${f.label} ${f.role === "fitted" ? "fit" : pct(f.err) + (f.ok ? "" : " MISS")}`).join(", ")}`);
  console.log(`  ratios ${altEv.ratios.map((r) => `case ${r.case} ${r.program} ${r.model.toFixed(2)} (${pct(r.err)}${r.ok ? "" : " MISS"})`).join(", ")}`);
  if (process.argv.includes("--sensitivity")) await sensitivity(base);
  console.log(`\n(${((performance.now() - t0) / 1000).toFixed(1)} s)`);
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
}
