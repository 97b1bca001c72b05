// Starting a thread (a worker_threads Worker) from its module's URL: the
// datapath's threads and the verifier pool's (shared/bpf/verifier/pool.ts).
// From the sources (tsx, vitest) the worker first registers tsx's loader
// (tsx/esm/api register(); Node 20 workers do not inherit it), then imports
// the .ts module; from the bundle (dist/, bin/build.js makes every
// *_worker.ts an entry beside the chunks) it runs <name>.js from the same
// folder.
import { Worker, type TransferListItem, type WorkerOptions } from "node:worker_threads";
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
 * `opts` (workerData, transferList, resourceLimits...). Running from the bundle, that URL
 * points into dist/, where x_worker.js is.
 */
export function startWorker(moduleUrl: string | URL, opts: Omit<WorkerOptions, "eval"> = {}): Worker {
  const url = typeof moduleUrl === "string" ? moduleUrl : moduleUrl.href;
  if (!import.meta.url.endsWith(".ts")) return new Worker(new URL(url.replace(/\.ts$/, ".js")), opts);
  const boot = `import(${JSON.stringify(tsxApiUrl())}).then((m) => { m.register(); return import(${JSON.stringify(url)}); })` +
    `.catch((e) => { process.nextTick(() => { throw e; }); });`;
  return new Worker(boot, { ...opts, eval: true });
}

/** startWorker() with `workerData` and the objects to transfer with it. */
export function spawnTsWorker(moduleUrl: string | URL, workerData: unknown, transferList?: readonly TransferListItem[]): Worker {
  return startWorker(moduleUrl, { workerData, transferList: transferList as TransferListItem[] | undefined });
}
