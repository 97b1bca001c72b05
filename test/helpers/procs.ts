// Spawns vxo host/qemu/guest processes with execa on 127.0.0.1 ephemeral
// ports, waits for their "listening ws://..." line with a deadline, and kills
// only the children it started (by pid). Each test file gets its own runtime
// directory so that names never collide across files.
import { execa, type ResultPromise } from "execa";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { VXO_BIN } from "./repo.ts";
import { untilListening } from "../../scenarios/runner/children.ts";

export interface VxoProc {
  readonly kind: string;
  readonly url: string;
  readonly pid: number;
  /** stderr so far (JSON-lines log). */
  readonly stderr: () => string;
  /** Resolves with the exit code (or signal name) when the process ends. */
  readonly exited: Promise<number | string>;
  kill(signal?: NodeJS.Signals): void;
}

/** A set of processes sharing a runtime directory; `stopAll()` ends them. */
export class Procs {
  readonly runtimeDir: string;
  /** Children validate what they send (VXO_DEBUG=1); benchmarks turn it off. */
  readonly isDebug: boolean;
  readonly #procs: VxoProc[];

  constructor(opts: { debug?: boolean } = {}) {
    this.runtimeDir = mkdtempSync(path.join(tmpdir(), "vxo-test-"));
    this.isDebug = opts.debug ?? true;
    this.#procs = [];
  }

  get env(): Record<string, string> {
    return { VXO_RUNTIME_DIR: this.runtimeDir, VXO_DEBUG: this.isDebug ? "1" : "0" };
  }

  /** Starts `vxo ARGS` and waits (deadline) for its `listening URL` line. */
  async start(kind: string, args: string[], deadlineMs = 20_000): Promise<VxoProc> {
    const child: ResultPromise = execa("node", [VXO_BIN, ...args], {
      env: this.env, reject: false, buffer: false, stdin: "ignore", cleanup: true,
    });
    let err = "";
    child.stderr!.on("data", (d: Buffer) => {
      err += d.toString();
    });
    const exited = child.then((r) => (r.signal ? r.signal : (r.exitCode ?? -1)));
    const url = await untilListening(child, exited, kind, () => err, deadlineMs);
    const p: VxoProc = {
      kind, url, pid: child.pid!, stderr: () => err, exited,
      kill: (signal = "SIGTERM") => {
        try {
          process.kill(child.pid!, signal);
        } catch {
          // already gone
        }
      },
    };
    this.#procs.push(p);
    return p;
  }

  host(extra: string[] = [], name = "host"): Promise<VxoProc> {
    return this.start("host", ["host", "--listen", "ws://127.0.0.1:0", "--name", name, ...extra]);
  }

  qemu(hostUrl: string, name: string, extra: string[] = []): Promise<VxoProc> {
    return this.start("qemu", ["qemu", "--host", hostUrl, "--listen", "ws://127.0.0.1:0", "--name", name, ...extra]);
  }

  guest(qemuUrl: string, name: string): Promise<VxoProc> {
    return this.start("guest", ["guest", "--qemu", qemuUrl, "--name", name, "--listen", "ws://127.0.0.1:0"]);
  }

  /** Runs a one-shot `vxo ARGS` CLI command. */
  async cli(args: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }> {
    const r = await execa("node", [VXO_BIN, ...args], { env: this.env, reject: false, timeout: 60_000 });
    return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
  }

  /** SIGTERM to every child still running, then wait for them (deadline), then SIGKILL stragglers. */
  async stopAll(deadlineMs = 10_000): Promise<void> {
    for (const p of this.#procs) p.kill("SIGTERM");
    const all = Promise.all(this.#procs.map((p) => p.exited));
    const timer = new Promise<"late">((r) => setTimeout(() => r("late"), deadlineMs).unref());
    if ((await Promise.race([all, timer])) === "late") for (const p of this.#procs) p.kill("SIGKILL");
    await all;
    this.#procs.length = 0;
    rmSync(this.runtimeDir, { recursive: true, force: true });
  }
}

/** Re-evaluates `fn` when polled until it returns a non-undefined value or the deadline passes. */
export async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, deadlineMs = 10_000): Promise<T> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${deadlineMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Compiles a small XDP program with clang (-target bpf) into `dir`; returns the object path. */
export async function compileBpf(dir: string, name: string, src: string): Promise<string> {
  const { writeFileSync } = await import("node:fs");
  const c = path.join(dir, `${name}.c`), o = path.join(dir, `${name}.o`);
  writeFileSync(c, src);
  const arch = process.arch === "arm64" ? "aarch64" : "x86_64";
  await execa("clang", ["-O2", "-g", "-target", "bpf", `-I/usr/include/${arch}-linux-gnu`, "-c", c, "-o", o]);
  return o;
}

/** Source of an XDP program returning `ret`, using array maps named in `maps` (type, max_entries, value size). */
export function xdpSource(ret: string, maps: Array<{ name: string; type: string; entries: number; valueBytes: number }> = []): string {
  const decls = maps.map((m) => `struct {\n\t__uint(type, ${m.type});\n\t__uint(max_entries, ${m.entries});\n\t__type(key, __u32);\n\t__uint(value_size, ${m.valueBytes});\n} ${m.name} SEC(".maps");\n`).join("\n");
  const uses = maps.map((m) => `\tif (bpf_map_lookup_elem(&${m.name}, &k)) n++;`).join("\n");
  return `#include <linux/bpf.h>\n#include <bpf/bpf_helpers.h>\n${decls}\nSEC("xdp")\nint prog(struct xdp_md *ctx)\n{\n\t__u32 k = 0; int n = 0;\n${uses}\n\treturn n > 100 ? XDP_DROP : ${ret};\n}\nchar _license[] SEC("license") = "GPL";\n`;
}

/** True while process `pid` exists (signal 0: nothing is sent). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
