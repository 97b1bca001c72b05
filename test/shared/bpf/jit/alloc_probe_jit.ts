// Child-process probe for the no-allocation rule on the JIT paths: run under
// `node --trace-gc`, it warms up, prints BEGIN, runs N packets through
// runXdp(jitRun), N through runXdpBatch (64 frames per call) and N batches of
// one frame, prints END.
// V8 prints one line per scavenge, so the parent counts collections in between.
import { XdpFrame, runXdp } from "../../../../shared/bpf/runtime/xdp.ts";
import { jitRun } from "../../../../shared/bpf/runtime/engine.ts";
import { runXdpBatch } from "../../../../shared/bpf/runtime/batch.ts";
import { setUpAllocProbe } from "../../../helpers/alloc_probe_setup.ts";

const { runs, kernel, prog, newFrame } = setUpAllocProbe();
const frames: XdpFrame[] = [];
for (let i = 0; i < 64; i++) frames.push(newFrame());
const verdicts = new Uint32Array(64);
const f0 = frames[0]!;
let acc = 0;
for (let i = 0; i < 50000; i++) acc += runXdp(kernel.vm, prog, f0, jitRun);
for (let i = 0; i < 5000; i++) acc += runXdpBatch(kernel.vm, prog, frames, 64, verdicts);
process.stdout.write("BEGIN\n");
for (let i = 0; i < runs; i++) acc += runXdp(kernel.vm, prog, f0, jitRun);
for (let i = 0; i < runs / 64; i++) acc += runXdpBatch(kernel.vm, prog, frames, 64, verdicts);
for (let i = 0; i < runs; i++) acc += runXdpBatch(kernel.vm, prog, frames, 1, verdicts);
process.stdout.write(`END ${acc}\n`);
