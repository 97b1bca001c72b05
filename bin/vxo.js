#!/usr/bin/env node
// vxo command entry. Runs dist/vxo.js, the bundle bin/build.js makes from the
// TypeScript sources (on `npm ci` and before `npm test`); rebuilds it first if
// a source changed since, so it never runs stale code. VXO_TSX=1, or a build
// that fails, runs the sources through tsx instead (slower to start).
import { build, formatError, freshEntry } from "./build.js";

let entry = process.env.VXO_TSX === "1" ? null : freshEntry("vxo");
let buildError = null;
if (entry === null && process.env.VXO_TSX !== "1") {
  try {
    await build();
    entry = freshEntry("vxo");
  } catch (e) {
    buildError = e;
  }
}
if (entry === null) {
  let tsx;
  try {
    tsx = await import("tsx/esm/api");
  } catch (e) {
    if (e?.code !== "ERR_MODULE_NOT_FOUND") throw e;
    process.stderr.write(`vxo: its npm packages are not installed: run \`npm ci\` in ${new URL("..", import.meta.url).pathname}\n`);
    process.exit(1);
  }
  if (buildError !== null) process.stderr.write(`vxo: cannot build dist/, running the sources with tsx: ${formatError(buildError).split("\n")[0]}\n`);
  tsx.register();
  entry = "../cli/vxo.ts";
}
const { main } = await import(entry);
process.exitCode = await main(process.argv);
