// Where the repository is, from the sources (scenarios/runner/) and from the
// CLI's bundle (dist/) alike: the first folder upwards holding bin/vxo.js.
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

function findRoot(): string {
  let d = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(path.join(d, "bin", "vxo.js")) && existsSync(path.join(d, "package.json"))) return d;
    const up = path.dirname(d);
    if (up === d) throw new Error(`cannot find the vxo repository above ${fileURLToPath(import.meta.url)}`);
    d = up;
  }
}

export const REPO_ROOT = findRoot();
export const VXO_BIN = path.join(REPO_ROOT, "bin", "vxo.js");
export const PROGRAMS_DIR = path.join(REPO_ROOT, "scenarios", "programs");
/** ../shared beside the repository (the project's reference folder; absent in a user's clone). */
export const SHARED_DIR = path.resolve(REPO_ROOT, "..", "shared");
export const DEFAULT_REPORTS_DIR = path.join(REPO_ROOT, "reports");
