// The processes a scenario run starts (vxo host, vxo qemu, vxo guest, each
// through bin/vxo.js with execa) and only those: each is remembered by pid and
// ended by pid (SIGTERM, then SIGKILL after a deadline), at the end of a run,
// on failure, and on SIGINT/SIGTERM to the runner (installSignalStop()).
// A private runtime directory keeps their names apart from the user's own
// processes. Nothing here ends a process it did not start.
import { execa, type ResultPromise } from "execa";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { VXO_BIN } from "./paths.ts";

export interface Child {
  readonly kind: string;
  readonly name: string;
  readonly url: string;
  readonly pid: number;
  /** The last 64 KiB of its stderr (JSON-lines log), for failure messages. */
  stderr(): string;
  /** Resolves with the exit code or the signal's name. */
  readonly exited: Promise<number | string>;
}

const STDERR_KEEP = 64 * 1024;

/**
 * The URL a starting vxo process announces on stdout (`listening ws://...`), or an error naming
 * `what` with its stderr once it exits first or `deadlineMs` passes (a start-up deadline).
 */
export function untilListening(proc: ResultPromise, exited: Promise<number | string>, what: string, stderr: () => string,
  deadlineMs: number): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`${what} did not print "listening" within ${deadlineMs} ms:\n${stderr()}`)), deadlineMs);
    proc.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /^listening (ws:\/\/\S+)$/m.exec(out);
      if (m !== null) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited (${code}) before listening:\n${stderr()}`));
    });
  });
}

/** The children of one run. */
export class ChildSet {
  readonly runtimeDir: string;
  readonly #children: Array<Child & { proc: ResultPromise }> = [];
  #isStopping = false;
  /** Called with each child as soon as it is spawned (before it listens). */
  readonly onStart: ((c: { kind: string; name: string; pid: number }) => void) | undefined;

  constructor(onStart?: (c: { kind: string; name: string; pid: number }) => void) {
    this.onStart = onStart;
    this.runtimeDir = mkdtempSync(path.join(tmpdir(), "vxo-scenario-"));
  }

  get env(): Record<string, string> {
    return { VXO_RUNTIME_DIR: this.runtimeDir };
  }

  /** Pids of the children still running. */
  pids(): number[] {
    return this.#children.map((c) => c.pid);
  }

  /** Starts `vxo ARGS` and waits (deadline) for its `listening ws://...` line. */
  async start(kind: string, name: string, args: string[], deadlineMs = 30_000): Promise<Child> {
    if (this.#isStopping) throw new Error(`not starting ${kind} ${name}: the run is stopping`);
    const proc = execa(process.execPath, [VXO_BIN, ...args], {
      env: this.env, reject: false, buffer: false, stdin: "ignore", cleanup: true,
    });
    let err = "";
    proc.stderr!.on("data", (d: Buffer) => {
      err += d.toString();
      if (err.length > 2 * STDERR_KEEP) err = err.slice(-STDERR_KEEP);
    });
    const exited = proc.then((r) => (r.signal ? r.signal : (r.exitCode ?? -1)));
    const child = { kind, name, url: "", pid: proc.pid!, proc, exited, stderr: () => err.slice(-STDERR_KEEP) };
    this.#children.push(child);
    this.onStart?.({ kind, name, pid: child.pid });
    child.url = await untilListening(proc, exited, `vxo ${kind} ${name}`, () => err.slice(-4000), deadlineMs);
    return child;
  }

  /**
   * Ends the children started since `mark` (all by default), newest first
   * (guests, then device models, then the host): SIGTERM each by pid, wait up
   * to `deadlineMs`, SIGKILL what is left, wait for every one of them.
   */
  async stop(mark = 0, deadlineMs = 10_000): Promise<void> {
    const mine = this.#children.splice(mark).reverse();
    for (const c of mine) kill(c.pid, "SIGTERM");
    const all = Promise.all(mine.map((c) => c.exited));
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<"late">((r) => {
      timer = setTimeout(() => r("late"), deadlineMs);
    });
    if ((await Promise.race([all, late])) === "late") for (const c of mine) kill(c.pid, "SIGKILL");
    clearTimeout(timer);
    await all;
  }

  /** How many children have been started and not stopped (a mark for stop()). */
  get size(): number {
    return this.#children.length;
  }

  /** Ends every child and removes the runtime directory. */
  async stopAll(): Promise<void> {
    this.#isStopping = true;
    await this.stop(0);
    rmSync(this.runtimeDir, { recursive: true, force: true });
  }
}

function kill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

/**
 * While a run lasts, SIGINT (Ctrl-C) and SIGTERM end its children before the
 * runner exits (status 130 / 143, as a shell reports them). Returns the
 * function that removes the handlers.
 */
export function installSignalStop(children: ChildSet, onSignal?: (sig: NodeJS.Signals) => void): () => void {
  let isHandling = false;
  const handler = (sig: NodeJS.Signals) => {
    if (isHandling) return;
    isHandling = true;
    onSignal?.(sig);
    void children.stopAll().finally(() => process.exit(sig === "SIGINT" ? 130 : 143));
  };
  process.on("SIGINT", handler);
  process.on("SIGTERM", handler);
  return () => {
    process.off("SIGINT", handler);
    process.off("SIGTERM", handler);
  };
}
