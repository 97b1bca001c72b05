// Entry of a verifier worker thread (pool.ts starts it): runs one bpf_check()
// per message, off the event loop of the process that asked, so that a
// verification walking its whole 1M-insn budget never stalls control
// messages, monitor commands or signals. The kernel runs bpf_check() in the
// loading task's context, preemptible and interruptible; a terminated worker
// is this emulator's interrupted verification.
import { parentPort } from "node:worker_threads";
import { EINVAL } from "../../errno.ts";
import { loadOffloadHooks, runVerifyRequest, type VerifyRequest, type VerifyResponse } from "./verify_job.ts";

/** Message to the worker: one request at a time. */
export interface VerifyWorkerIn {
  seq: number;
  req: VerifyRequest;
}

/** Message from the worker. */
export interface VerifyWorkerOut {
  seq: number;
  res: VerifyResponse;
}

async function serve(m: VerifyWorkerIn): Promise<void> {
  let res: VerifyResponse;
  try {
    const ops = m.req.hooks === null ? null : await loadOffloadHooks(m.req.hooks);
    res = runVerifyRequest(m.req, ops);
  } catch (e) {
    // only the hooks module can throw (bpfCheck never does): refuse the load as a driver would
    const line = `offload hooks unavailable: ${(e as Error).message}`;
    res = { errno: EINVAL, log: [line], processedInsns: 0, totalStates: 0, peakStates: 0, insnAux: null, verifyNs: 0 };
  }
  const a = res.insnAux;
  const transfer = a === null ? [] : [a.accessKind.buffer, a.accessProven.buffer, a.seen.buffer].filter((b, i, all) => all.indexOf(b) === i);
  parentPort!.postMessage({ seq: m.seq, res } satisfies VerifyWorkerOut, transfer as ArrayBuffer[]);
}

parentPort!.on("message", (m: VerifyWorkerIn) => void serve(m));
