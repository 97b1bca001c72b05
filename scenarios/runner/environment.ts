// What a report records about where it was made: machine (CPUs, memory, load),
// kernel (`uname -r`), Node, the vxo version and the git commit of the sources
// (with uncommitted changes flagged), so that two reports can be compared.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { REPO_ROOT } from "./paths.ts";

export interface Environment {
  machine: { hostname: string; cpus: number; cpuModel: string; memBytes: number; arch: string; platform: string; loadavg: number[] };
  kernel: string;
  node: string;
  vxo: string;
  git: { commit: string | null; branch: string | null; isDirty: boolean | null };
}

function git(args: string[]): string | null {
  try {
    return execFileSync("git", args, { cwd: REPO_ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return null;
  }
}

export function environment(): Environment {
  const cpus = os.cpus();
  const status = git(["status", "--porcelain", "--untracked-files=no"]);
  const pkg = JSON.parse(readFileSync(path.join(REPO_ROOT, "package.json"), "utf8")) as { version: string };
  return {
    machine: {
      hostname: os.hostname(), cpus: cpus.length, cpuModel: cpus[0]?.model ?? "unknown", memBytes: os.totalmem(),
      arch: process.arch, platform: process.platform, loadavg: os.loadavg().map((x) => Math.round(x * 100) / 100),
    },
    kernel: os.release(),
    node: process.version,
    vxo: pkg.version,
    git: { commit: git(["rev-parse", "HEAD"]), branch: git(["rev-parse", "--abbrev-ref", "HEAD"]), isDirty: status === null ? null : status !== "" },
  };
}
