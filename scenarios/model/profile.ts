// Cost profiles of the performance model: every parameter with its value,
// unit and source (an anchor label of ../shared/reference/cost-model-anchors.md
// with its citation, or "fitted: <figure>"). Read at setup time only.
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { EINVAL, ENOENT, KernelError } from "../../shared/errno.ts";

export const PROFILES_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), "profiles");

/** The parameters the model charges (names as in the anchor note §3). */
export const PARAM_NAMES = [
  "G_cap", "c_nic_redirect", "c_p", "c_sdr", "c_wq", "C_wake", "L_wake", "F_rx", "c_off", "c_gxdp", "c_inject", "c_rx",
  "c_signal", "F_tx", "c_tx", "L_irq", "c_g_irq", "c_g_poll", "c_g_pkt", "c_g_tx", "c_kick",
] as const;
export type ParamName = (typeof PARAM_NAMES)[number];

export interface ParamSpec {
  value: number;
  unit: string;
  source: string;
  /** The RFC figure this parameter is fitted on, when it is one of the fitted ones. */
  fit?: string;
  charged_at?: string;
  cpu?: string;
}

export interface ProfileFile {
  about?: string;
  placement?: { softirq: number; vhost: number; vcpu: number; note?: string };
  params: Record<ParamName, ParamSpec>;
  /** Written by calibrate: what was fitted and the residuals. */
  calibration?: unknown;
}

/** Values only (ns, or Mpps for G_cap). */
export type Costs = Record<ParamName, number>;

export interface Profile {
  name: string;
  file: string;
  spec: ProfileFile;
  costs: Costs;
  placement: { softirq: number; vhost: number; vcpu: number };
}

/** The profile used when none is named: the calibrated one when it exists, else the priors. */
export function defaultProfileName(): string {
  return existsSync(path.join(PROFILES_DIR, "fitted.json")) ? "fitted" : "default";
}

/** Loads a profile by name (profiles/NAME.json) or path. Throws KernelError(ENOENT/EINVAL). */
export function loadProfile(nameOrPath?: string): Profile {
  const name = nameOrPath ?? defaultProfileName();
  const file = name.includes("/") || name.endsWith(".json") ? path.resolve(name) : path.join(PROFILES_DIR, `${name}.json`);
  if (!existsSync(file)) throw new KernelError(ENOENT, `model profile ${file} not found`);
  const spec = JSON.parse(readFileSync(file, "utf8")) as ProfileFile;
  return profileFromSpec(name, file, spec);
}

export function profileFromSpec(name: string, file: string, spec: ProfileFile): Profile {
  const costs = {} as Costs;
  for (const p of PARAM_NAMES) {
    const s = spec.params?.[p];
    if (s === undefined || typeof s.value !== "number" || !Number.isFinite(s.value) || s.value < 0)
      throw new KernelError(EINVAL, `model profile ${file}: parameter ${p} missing or not a non-negative number`);
    if (typeof s.source !== "string" || s.source.length === 0) throw new KernelError(EINVAL, `model profile ${file}: parameter ${p} has no source`);
    costs[p] = s.value;
  }
  if (costs.G_cap <= 0) throw new KernelError(EINVAL, `model profile ${file}: G_cap must be > 0`);
  const pl = spec.placement ?? { softirq: 0, vhost: 1, vcpu: 2 };
  return { name, file, spec, costs, placement: { softirq: pl.softirq, vhost: pl.vhost, vcpu: pl.vcpu } };
}

/** A copy of `p` with some values replaced (calibration trials). */
export function withCosts(p: Profile, over: Partial<Costs>): Profile {
  return { ...p, costs: { ...p.costs, ...over } };
}
