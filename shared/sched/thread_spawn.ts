// Starting a datapath thread (a worker_threads Worker) from its module's URL.
// From the sources (tsx, vitest) the worker first registers tsx's loader
// (tsx/esm/api register(); Node 20 workers do not inherit it), then imports
// the .ts module; from the bundle (dist/, bin/build.js makes every
// *_worker.ts an entry beside the chunks) it runs <name>.js from the same
// folder. The verifier pool (shared/bpf/verifier/pool.ts) starts its workers
// the same way.
import { Worker, type TransferListItem } from "node:worker_threads";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";

let tsxApi: string | null = null;

/** URL of tsx's ESM API (its "import" export; the CJS one cannot register ESM hooks from a worker). */
function tsxApiUrl(): string {
  if (tsxApi === null) {
    const meta = import.meta as ImportMeta & { resolve?: (s: string) => string };
    tsxApi = typeof meta.resolve === "function" ? meta.resolve("tsx/esm/api")
      : pathToFileURL(createRequire(import.meta.url).resolve("tsx/esm/api").replace(/\.cjs$/, ".mjs")).href;
  }
  return tsxApi;
}

/**
 * A Worker running `moduleUrl` (the caller's `new URL("./x_worker.ts", import.meta.url)`) with
 * `workerData`. Running from the bundle, that URL points into dist/, where x_worker.js is.
 */
export function spawnTsWorker(moduleUrl: string | URL, workerData: unknown, transferList?: readonly TransferListItem[]): Worker {
  const url = typeof moduleUrl === "string" ? moduleUrl : moduleUrl.href;
  const opts = { workerData, transferList: transferList as TransferListItem[] | undefined };
  if (!import.meta.url.endsWith(".ts")) return new Worker(new URL(url.replace(/\.ts$/, ".js")), opts);
  const boot = `import(${JSON.stringify(tsxApiUrl())}).then((m) => { m.register(); return import(${JSON.stringify(url)}); })` +
    `.catch((e) => { process.nextTick(() => { throw e; }); });`;
  return new Worker(boot, { ...opts, eval: true });
}
