// Paths shared by tests: the repo root, the sample programs, ../shared beside the repo.
import path from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const PROGRAMS_DIR = path.join(REPO_ROOT, "scenarios/programs");
export const SHARED_DIR = path.resolve(REPO_ROOT, "../shared");
export const VXO_BIN = path.join(REPO_ROOT, "bin/vxo.js");
