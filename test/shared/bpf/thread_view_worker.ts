// Worker side of thread_view.test.ts: rebuilds the image's programs over the
// shared memory, runs program `progId` on the prepared xdp_md blocks `ctxs`
// `rounds` times through the JIT's batch entry, and reports the verdicts and
// each frame's redirect target.
import { parentPort, workerData } from "node:worker_threads";
import { BpfThreadKernel, type BpfThreadImage } from "../../../shared/bpf/thread_view.ts";
import { runXdpBatch } from "../../../shared/bpf/runtime/batch.ts";
import { XDP_CTX_REDIRECT } from "../../../shared/bpf/runtime/vm.ts";

const { image, progId, ctxs, rounds, cpu, flagsAddr } = workerData as {
  image: BpfThreadImage; progId: number; ctxs: Uint32Array; rounds: number; cpu: number;
  /** Optional: words [started, done] the worker sets, for a test that runs beside it. */
  flagsAddr?: number;
};
const k = new BpfThreadKernel(image, cpu);
const prog = k.progs.get(progId)!;
const verdicts = new Uint32Array(ctxs.length);
const flags = new Int32Array(image.memory.buffer);
if (flagsAddr !== undefined) Atomics.store(flags, flagsAddr >> 2, 1);
for (let r = 0; r < rounds; r++) runXdpBatch(k.vm, prog, ctxs, ctxs.length, verdicts);
if (flagsAddr !== undefined) Atomics.store(flags, (flagsAddr >> 2) + 1, 1);
const redirect = [...ctxs].map((c) => k.mem.dv.getUint32(c + XDP_CTX_REDIRECT, true));
parentPort!.postMessage({ verdicts: [...verdicts], redirect });
