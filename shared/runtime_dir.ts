// Name -> URL registry of running vxo processes in $VXO_RUNTIME_DIR (default
// /tmp/vxo-<user>), the way QEMU's -name plus a QMP socket path or libvirt's
// /run/libvirt/qemu/<name>.pid let tools find a running VM without flags;
// plus the process conventions the three processes share (JSON-lines log on
// stderr, clean exit on SIGTERM).
import { createRequire } from "node:module";
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { userInfo } from "node:os";
import path from "node:path";
import { EINVAL, ENOENT, KernelError } from "./errno.ts";

export type ProcKind = "host" | "qemu" | "guest";

export interface RuntimeEntry {
  kind: ProcKind;
  name: string;
  url: string;
  pid: number;
}

/** The runtime directory, created on demand (mode 0700). */
export function runtimeDir(): string {
  const dir = process.env.VXO_RUNTIME_DIR ?? path.join("/tmp", `vxo-${userInfo().username}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}

function entryPath(kind: ProcKind, name: string): string {
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name) || name.startsWith(".")) {
    throw new KernelError(EINVAL, `Cannot use name '${name}': letters, digits, '_', '.', '-' only (1-64)`);
  }
  return path.join(runtimeDir(), `${kind}-${name}.json`);
}

/** Registers a running process; returns a function that removes the entry (if still ours). */
export function registerProc(e: RuntimeEntry): () => void {
  const p = entryPath(e.kind, e.name);
  const tmp = `${p}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(e) + "\n");
  renameSync(tmp, p);
  return () => {
    try {
      const cur = JSON.parse(readFileSync(p, "utf8")) as RuntimeEntry;
      if (cur.pid === e.pid) rmSync(p, { force: true });
    } catch {
      // already gone
    }
  };
}

/** Looks up a process by name; `nameOrUrl` starting with ws:// is returned as is. Throws ENOENT. */
export function lookupProc(kind: ProcKind, nameOrUrl: string): string {
  if (nameOrUrl.startsWith("ws://")) return nameOrUrl;
  const p = entryPath(kind, nameOrUrl);
  try {
    const e = JSON.parse(readFileSync(p, "utf8")) as RuntimeEntry;
    return e.url;
  } catch {
    throw new KernelError(ENOENT, `Cannot find ${kind} '${nameOrUrl}': no entry in ${runtimeDir()}`);
  }
}

/** Structured log function: event name plus fields. */
export type LogFn = (event: string, fields: Record<string, unknown>) => void;

/**
 * JSON-lines structured log on stderr through pino: one object per event with
 * time, level, proc, pid, event and the fields (BigInts as decimal strings).
 * Synchronous writes, so a process killed right after an event still logged it.
 */
export function jsonLog(proc: string): LogFn {
  // Loaded here, not at import: the CLI's one-shot commands look names up in this file and never log.
  const { pino } = createRequire(import.meta.url)("pino") as typeof import("pino");
  const logger = pino(
    {
      base: { proc, pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { log: (o) => bigintsToStrings(o) },
    },
    pino.destination({ dest: 2, sync: true }),
  );
  return (event, fields) => {
    logger.info({ event, ...fields });
  };
}

function bigintsToStrings(o: Record<string, unknown>): Record<string, unknown> {
  let out: Record<string, unknown> | null = null;
  for (const k of Object.keys(o)) {
    const v = o[k];
    if (typeof v === "bigint") {
      out ??= { ...o };
      out[k] = v.toString();
    }
  }
  return out ?? o;
}

/**
 * A process is up and listening at `url`: registers it in the runtime directory, prints
 * `listening URL` on stdout (what scripts and tests wait for) and logs the event with `fields`.
 * Returns the function that removes the runtime entry.
 */
export function announceListening(kind: ProcKind, name: string, url: string, log: LogFn, fields: Record<string, unknown> = {}): () => void {
  const unregister = registerProc({ kind, name, url, pid: process.pid });
  process.stdout.write(`listening ${url}\n`);
  log("listening", { url, name, ...fields });
  return unregister;
}

/** A started process (the host, a device model): where it listens and how it stops. */
export interface RunningProc {
  readonly url: string;
  stop(): Promise<void>;
}

/** A process's main loop: waits for SIGTERM or SIGINT, then stops what `started` started; status 0. */
export async function runUntilSignal(started: Promise<RunningProc>): Promise<number> {
  const p = await started;
  await untilSignal();
  await p.stop();
  return 0;
}

/** Resolves on the first SIGTERM or SIGINT. */
export function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      process.off("SIGTERM", done);
      process.off("SIGINT", done);
      resolve();
    };
    process.on("SIGTERM", done);
    process.on("SIGINT", done);
  });
}
