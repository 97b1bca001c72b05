// Where bpf_check() runs: a small pool of worker threads per process, started
// lazily on the first BPF_PROG_LOAD and reused across loads, or in process for
// tests and one-shot tools. A verification can be cancelled (its AbortSignal):
// the worker running it is terminated, as the kernel's do_check() stops on a
// pending signal, and the load is answered with the errno the canceller chose.
// Each running verification owns its worker, so cancelling one never disturbs
// another process client's load.
import type { Worker } from "node:worker_threads";
import { startWorker } from "../../sched/thread_spawn.ts";
import { ECANCELED, EINTR, EIO, ENOMEM, KernelError } from "../../errno.ts";
import type { BpfProgOffloadOps } from "../offload/offload.ts";
import { loadOffloadHooks, runVerifyRequest, type VerifyRequest, type VerifyResponse } from "./verify_job.ts";
import type { VerifyWorkerIn, VerifyWorkerOut } from "./verify_worker.ts";

/** Runs verifications. Rejects with KernelError when cancelled or when the verifier could not run. */
export interface Verifier {
  verify(req: VerifyRequest, signal?: AbortSignal): Promise<VerifyResponse>;
  /** Cancels everything in flight (answered with `reason`) and releases threads. */
  close(reason?: KernelError): Promise<void>;
}

/** The errno a cancelled verification answers with: the abort reason when it is a KernelError, else ECANCELED. */
export function cancelReason(signal: AbortSignal): KernelError {
  const r: unknown = signal.reason;
  return r instanceof KernelError ? r : new KernelError(ECANCELED, "verification cancelled");
}

/**
 * Verifies on the calling thread (tests, `vxo prog load`). The same code as the
 * worker (runVerifyRequest); hooks given as a spec are imported first, or
 * in-process hooks are used as they are.
 */
export class InProcessVerifier implements Verifier {
  readonly #ops: BpfProgOffloadOps | null;
  constructor(ops: BpfProgOffloadOps | null = null) {
    this.#ops = ops;
  }
  async verify(req: VerifyRequest, signal?: AbortSignal): Promise<VerifyResponse> {
    if (signal?.aborted) throw cancelReason(signal);
    const ops = req.hooks !== null ? await loadOffloadHooks(req.hooks) : this.#ops;
    return runVerifyRequest(req, ops);
  }
  async close(): Promise<void> {}
}

interface Job {
  req: VerifyRequest;
  signal: AbortSignal | undefined;
  resolve: (r: VerifyResponse) => void;
  reject: (e: KernelError) => void;
  onAbort: () => void;
  worker: Worker | null;
  seq: number;
}

export interface VerifierPoolOptions {
  /** Verifications running at once; more wait in FIFO order (default 8). */
  maxWorkers?: number;
  /** Idle workers kept warm (default 2: one for the next load, one spare while it runs). */
  maxIdle?: number;
  /** V8 old-space limit of a worker: a verification that outgrows it fails with ENOMEM (default 2048 MB). */
  maxOldGenerationSizeMb?: number;
}

/** A worker running verify_worker (.ts from the sources, .js beside the bundle: startWorker()). */
function spawnVerifyWorker(maxOldGenerationSizeMb: number): Worker {
  return startWorker(new URL("./verify_worker.ts", import.meta.url), { resourceLimits: { maxOldGenerationSizeMb } });
}

/** Worker threads running bpf_check(), one verification per worker at a time. */
export class VerifierPool implements Verifier {
  readonly maxWorkers: number;
  readonly maxIdle: number;
  readonly #heapMb: number;
  readonly #idle: Worker[] = [];
  readonly #busy = new Map<Worker, Job>();
  readonly #queue: Job[] = [];
  #seq = 0;
  #closed = false;
  /** Workers started so far (tests check reuse). */
  spawned = 0;

  constructor(o: VerifierPoolOptions = {}) {
    this.maxWorkers = Math.max(1, o.maxWorkers ?? 8);
    this.maxIdle = Math.max(0, o.maxIdle ?? 2);
    this.#heapMb = o.maxOldGenerationSizeMb ?? 2048;
  }

  /** Verifications running now. */
  get running(): number {
    return this.#busy.size;
  }

  /** Worker threads alive (running or idle). */
  get threads(): number {
    return this.#busy.size + this.#idle.length;
  }

  verify(req: VerifyRequest, signal?: AbortSignal): Promise<VerifyResponse> {
    return new Promise((resolve, reject) => {
      if (this.#closed) return reject(new KernelError(EINTR, "verification interrupted: the kernel is stopping"));
      if (signal?.aborted) return reject(cancelReason(signal));
      const job: Job = { req, signal, resolve, reject, onAbort: () => this.#cancel(job), worker: null, seq: ++this.#seq };
      signal?.addEventListener("abort", job.onAbort, { once: true });
      this.#queue.push(job);
      this.#pump();
    });
  }

  #pump(): void {
    while (this.#queue.length > 0 && (this.#idle.length > 0 || this.#busy.size < this.maxWorkers)) {
      const job = this.#queue.shift()!;
      const w = this.#idle.pop() ?? this.#spawn();
      w.ref();
      job.worker = w;
      this.#busy.set(w, job);
      w.postMessage({ seq: job.seq, req: job.req } satisfies VerifyWorkerIn);
    }
    // A spare while verifications run: a load arriving behind a long one starts at once,
    // without paying for a thread start.
    if (this.#idle.length === 0 && this.maxIdle > 0 && this.#busy.size > 0 && this.#busy.size < this.maxWorkers) {
      const w = this.#spawn();
      w.unref();
      this.#idle.push(w);
    }
  }

  #spawn(): Worker {
    const w = spawnVerifyWorker(this.#heapMb);
    this.spawned++;
    w.on("message", (m: VerifyWorkerOut) => this.#done(w, m));
    w.on("error", (e: Error & { code?: string }) => this.#died(w, e));
    w.on("exit", () => this.#died(w, null));
    return w;
  }

  #settle(job: Job): void {
    job.signal?.removeEventListener("abort", job.onAbort);
    job.worker = null;
  }

  #done(w: Worker, m: VerifyWorkerOut): void {
    const job = this.#busy.get(w);
    if (job === undefined || job.seq !== m.seq) return; // answer of a cancelled job
    this.#busy.delete(w);
    this.#settle(job);
    job.resolve(m.res);
    if (this.#closed || this.#idle.length >= this.maxIdle) void w.terminate();
    else {
      w.unref(); // an idle worker never keeps the process alive
      this.#idle.push(w);
    }
    this.#pump();
  }

  /** A worker ended on its own (out of memory, a crash): its job fails, the pool goes on. */
  #died(w: Worker, e: (Error & { code?: string }) | null): void {
    const k = this.#idle.indexOf(w);
    if (k >= 0) this.#idle.splice(k, 1);
    const job = this.#busy.get(w);
    if (job === undefined) return;
    this.#busy.delete(w);
    this.#settle(job);
    if (e?.code === "ERR_WORKER_OUT_OF_MEMORY") {
      job.reject(new KernelError(ENOMEM, `verifier ran out of memory (worker heap limit ${this.#heapMb} MB)`));
    } else job.reject(new KernelError(EIO, `verifier worker died: ${e?.message ?? "exited"}`));
    this.#pump();
  }

  #cancel(job: Job): void {
    const q = this.#queue.indexOf(job);
    if (q >= 0) this.#queue.splice(q, 1);
    const w = job.worker;
    if (w !== null) {
      this.#busy.delete(w);
      void w.terminate();
    }
    this.#settle(job);
    job.reject(cancelReason(job.signal!));
    this.#pump();
  }

  async close(reason = new KernelError(EINTR, "verification interrupted: the kernel is stopping")): Promise<void> {
    this.#closed = true;
    const jobs = [...this.#queue.splice(0), ...this.#busy.values()];
    const workers = [...this.#busy.keys(), ...this.#idle.splice(0)];
    this.#busy.clear();
    for (const j of jobs) {
      this.#settle(j);
      j.reject(reason);
    }
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

let processVerifier: VerifierPool | null = null;

/** This process's verifier pool (created on first use; threads start on the first load). */
export function defaultVerifier(): VerifierPool {
  processVerifier ??= new VerifierPool();
  return processVerifier;
}

/** Stops this process's verifier threads, answering loads in flight with EINTR. */
export async function shutdownVerifier(): Promise<void> {
  const p = processVerifier;
  processVerifier = null;
  if (p !== null) await p.close();
}
