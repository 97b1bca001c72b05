// Builds dist/ from the TypeScript sources with esbuild: one ESM bundle per
// entry point (ENTRIES), code shared between them and everything behind a
// dynamic import() split into chunks (so each subcommand loads its own).
// The bundle is what bin/vxo.js runs; it is never committed (.gitignore).
//
//   node bin/build.js          build (npm run build; npm's `prepare` on npm ci)
//   freshEntry(name)           dist/NAME.js if it was built from the sources as they are now, else null
//   setup()                    vitest globalSetup: build before the suite, so spawned vxo runs current code
//
// dist/manifest.json lists every source file the bundle was made from with its
// mtime and size; bin/vxo.js compares them (one stat per file, well under a
// millisecond) and rebuilds when one changed, so dist/ is never run stale.
// npm packages are bundled as well (loading them through Node's ESM-to-CJS
// path cost ws alone ~30 ms), except native and optional ones (EXTERNAL),
// which the `require` defined in each output file finds in node_modules.
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const DIST = path.join(ROOT, "dist");
const MANIFEST = path.join(DIST, "manifest.json");
/**
 * Checked besides the sources: this file (the build's options) and npm's record
 * of node_modules (rewritten by every npm install/ci/update), since the npm
 * packages are bundled too.
 */
const EXTRA_INPUTS = ["bin/build.js", "package.json", "node_modules/.package-lock.json"];

/**
 * Generated sources (gen/generate.ts writes them; never committed): the
 * interpreter's run loop as V8 runs it, with the opcode names of
 * interp_core.ts inlined as literals. Rewritten before a build when one of
 * GEN_INPUTS is newer, and those inputs count as the bundle's sources too.
 */
const GENERATED = ["shared/bpf/runtime/interp_core.gen.ts"];
const GEN_INPUTS = [
  "gen/generate.ts", "gen/interp_core.ts", "gen/opcodes.ts", "shared/bpf/runtime/interp_core.ts",
  "shared/bpf/isa/insn_table.ts", "shared/bpf/runtime/interp_decode.ts", "shared/bpf/isa/uapi.ts",
];

/** Runs gen/generate.ts (through tsx) when a generated file is missing or older than an input. */
export function generate() {
  const mtime = (f) => {
    try {
      return statSync(path.join(ROOT, f)).mtimeMs;
    } catch {
      return -1;
    }
  };
  const newestInput = Math.max(...GEN_INPUTS.map(mtime));
  if (GENERATED.every((f) => mtime(f) >= newestInput)) return false;
  execFileSync(process.execPath, ["--import", "tsx", "gen/generate.ts"], { cwd: ROOT, stdio: ["ignore", "ignore", "inherit"] });
  return true;
}

/**
 * Entry points: dist/<out>.js is built from <in>. Besides these, every
 * `*_worker.ts` under SOURCE_DIRS (a worker_threads Worker's script, which Node
 * loads by path, not by import) is an entry named after its file: it lands at
 * dist/<name>_worker.js, in the same folder as every chunk, so that bundled
 * code finds it as `new URL("./<name>_worker.js", import.meta.url)` (and the
 * sources, run through tsx, as "./<name>_worker.ts"). Add a line here for any
 * other file loaded by path.
 */
export const ENTRIES = [
  { in: "cli/vxo.ts", out: "vxo" },
];
const SOURCE_DIRS = ["cli", "shared", "guest", "qemu-shim", "host"];

/** ENTRIES plus the worker scripts found in the sources. */
export function entryPoints() {
  const all = [...ENTRIES];
  const walk = (rel) => {
    let names;
    try {
      names = readdirSync(path.join(ROOT, rel), { withFileTypes: true });
    } catch {
      return;
    }
    for (const d of names) {
      const f = `${rel}/${d.name}`;
      if (d.isDirectory()) walk(f);
      else if (d.name.endsWith("_worker.ts")) all.push({ in: f, out: d.name.slice(0, -3) });
    }
  };
  for (const dir of SOURCE_DIRS) walk(dir);
  const seen = new Map();
  for (const e of all) {
    if (seen.has(e.out)) throw new Error(`two entry points would both be dist/${e.out}.js: ${seen.get(e.out)} and ${e.in}`);
    seen.set(e.out, e.in);
  }
  return all;
}

/** Packages left to node_modules: msgpackr's native string extractor, ws's optional native helpers. */
const EXTERNAL = ["msgpackr-extract", "bufferutil", "utf-8-validate"];

/** Files of an older build are removed once they are this old (a running process may still import them). */
const STALE_OUTPUT_MS = 60 * 60 * 1000;

/** dist/NAME.js as a file URL if dist/ is up to date with every source it was built from; null otherwise. */
export function freshEntry(name) {
  let m;
  try {
    m = JSON.parse(readFileSync(MANIFEST, "utf8"));
  } catch {
    return null;
  }
  if (m.version !== 1 || !m.entries.includes(name)) return null;
  for (const [file, mtimeMs, size] of m.inputs) {
    let st;
    try {
      st = statSync(path.join(ROOT, file));
    } catch {
      return null;
    }
    if (st.mtimeMs !== mtimeMs || st.size !== size) return null;
  }
  return pathToFileURL(path.join(DIST, `${name}.js`)).href;
}

/**
 * Bundles entryPoints() into dist/. Each output is written to a temporary name and
 * renamed into place (chunks first, entries next, manifest last), so that
 * processes starting meanwhile (a test suite spawning many) see either the old
 * build or the new one, and concurrent builds of the same sources agree.
 * Throws with esbuild's messages when the sources do not build.
 */
export async function build() {
  const esbuild = await import("esbuild");
  const started = Date.now();
  generate();
  const entries = entryPoints();
  const r = await esbuild.build({
    absWorkingDir: ROOT,
    entryPoints: entries,
    outdir: DIST,
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "node",
    target: "node20",
    external: EXTERNAL,
    banner: { js: 'import { createRequire as __vxoCreateRequire } from "node:module"; const require = __vxoCreateRequire(import.meta.url);' },
    sourcemap: "linked",
    sourcesContent: false,
    metafile: true,
    write: false,
    logLevel: "silent",
    chunkNames: "[name]-[hash]",
  });
  const inputs = [];
  const sources = Object.keys(r.metafile.inputs).filter((f) => !f.startsWith("node_modules/"));
  for (const file of [...sources, ...EXTRA_INPUTS, ...GEN_INPUTS]) {
    let st;
    try {
      st = statSync(path.join(ROOT, file));
    } catch {
      continue; // no .package-lock.json (an npm that keeps none)
    }
    // A file saved while esbuild read it may be in the bundle in its old form: record it as changed.
    inputs.push([file, st.mtimeMs >= started ? -1 : st.mtimeMs, st.size]);
  }
  mkdirSync(DIST, { recursive: true });
  const entryFiles = new Set(entries.map((e) => path.join(DIST, `${e.out}.js`)));
  const written = new Set(r.outputFiles.map((f) => f.path));
  const ordered = [...r.outputFiles.filter((f) => !entryFiles.has(f.path)), ...r.outputFiles.filter((f) => entryFiles.has(f.path))];
  for (const f of ordered) writeAtomic(f.path, f.contents);
  writeAtomic(MANIFEST, JSON.stringify({ version: 1, entries: entries.map((e) => e.out), inputs }) + "\n");
  written.add(MANIFEST);
  for (const name of readdirSync(DIST)) {
    const p = path.join(DIST, name);
    if (written.has(p)) continue;
    try {
      if (Date.now() - statSync(p).mtimeMs > STALE_OUTPUT_MS) rmSync(p, { force: true });
    } catch {
      // removed by a concurrent build
    }
  }
  return { entries: entries.map((e) => `${e.out}.js`), files: r.outputFiles.filter((f) => f.path.endsWith(".js")).length, inputs: sources.length, ms: Date.now() - started };
}

function writeAtomic(file, data) {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, data);
  renameSync(tmp, file);
}

/** vitest globalSetup: the tests spawn bin/vxo.js, which must run the sources under test. */
export async function setup() {
  await build();
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const s = await build();
    process.stdout.write(`dist/: ${s.entries.join(", ")} and ${s.files - s.entries.length} chunks from ${s.inputs} sources in ${s.ms} ms\n`);
  } catch (e) {
    process.stderr.write(`${formatError(e)}\n`);
    process.exitCode = 1;
  }
}

/** esbuild's errors as `file:line:col: error: text` lines. */
export function formatError(e) {
  if (Array.isArray(e?.errors) && e.errors.length > 0) {
    return e.errors.map((m) => (m.location ? `${m.location.file}:${m.location.line}:${m.location.column}: error: ${m.text}` : `error: ${m.text}`)).join("\n");
  }
  return String(e?.message ?? e);
}
