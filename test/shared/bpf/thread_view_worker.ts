// Worker side of thread_view.test.ts: rebuilds the image's programs over the
// shared memory, runs program `progId` on the prepared xdp_md blocks `ctxs`
// `rounds` times through the JIT's batch entry, and reports the verdicts and
// each frame's redirect target.
import { parentPort, workerData } from "node:worker_threads";
import { BpfThreadKernel, type BpfThreadImage } from "../../../shared/bpf/thread_view.ts";
import { runXdpBatch } from "../../../shared/bpf/runtime/batch.ts";
import { XDP_CTX_REDIRECT } from "../../../shared/bpf/runtime/vm.ts";

const { image, progId, ctxs, rounds, cpu } = workerData as {
  image: BpfThreadImage; progId: number; ctxs: Uint32Array; rounds: number; cpu: number;
};
const k = new BpfThreadKernel(image, cpu);
const prog = k.progs.get(progId)!;
const verdicts = new Uint32Array(ctxs.length);
for (let r = 0; r < rounds; r++) runXdpBatch(k.vm, prog, ctxs, ctxs.length, verdicts);
const redirect = [...ctxs].map((c) => k.mem.dv.getUint32(c + XDP_CTX_REDIRECT, true));
parentPort!.postMessage({ verdicts: [...verdicts], redirect });
