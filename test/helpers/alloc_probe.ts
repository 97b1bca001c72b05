// Child-process probe for the no-allocation rule: run under `node --trace-gc`,
// it warms a program up, prints BEGIN, runs it N times through runXdp, prints
// END. V8 prints a line per scavenge synchronously, so the parent counts the
// young-generation collections between the markers.
import { runXdp } from "../../shared/bpf/runtime/xdp.ts";
import { interpRun } from "../../shared/bpf/runtime/interp.ts";
import { setUpAllocProbe } from "./alloc_probe_setup.ts";

const { runs, kernel, prog, newFrame } = setUpAllocProbe();
const f = newFrame();
let acc = 0;
for (let i = 0; i < 50000; i++) acc += runXdp(kernel.vm, prog, f, interpRun);
process.stdout.write("BEGIN\n");
for (let i = 0; i < runs; i++) acc += runXdp(kernel.vm, prog, f, interpRun);
process.stdout.write(`END ${acc}\n`);
