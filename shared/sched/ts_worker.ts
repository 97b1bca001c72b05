// Starting a worker_threads Worker on a TypeScript module: the worker first
// registers tsx's loader (tsx/esm/api register()), then imports the module, so
// that host threads run the same .ts sources as the rest of the process
// (under tsx and under vitest alike; a Worker's execArgv cannot carry
// `--import tsx` on Node 20).
import { Worker, type TransferListItem } from "node:worker_threads";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";

let tsxApi: string | null = null;

function tsxApiUrl(): string {
  if (tsxApi === null) {
    const req = createRequire(import.meta.url);
    // The ESM build of tsx's API (its package exports map "tsx/esm/api" to it for import).
    const cjs = req.resolve("tsx/esm/api");
    tsxApi = pathToFileURL(cjs.replace(/\.cjs$/, ".mjs")).href;
  }
  return tsxApi;
}

/** A Worker running the module at `moduleUrl` (a file: URL of a .ts file) with `workerData`. */
export function spawnTsWorker(moduleUrl: string | URL, workerData: unknown, transferList?: readonly TransferListItem[]): Worker {
  const api = tsxApiUrl();
  const url = typeof moduleUrl === "string" ? moduleUrl : moduleUrl.href;
  const boot = `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(url)}); })` +
    `.catch((e) => { process.nextTick(() => { throw e; }); });`;
  return new Worker(boot, { eval: true, workerData, transferList: transferList as TransferListItem[] | undefined });
}
