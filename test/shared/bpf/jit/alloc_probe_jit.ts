// Child-process probe for the no-allocation rule on the JIT paths: run under
// `node --trace-gc`, it warms up, prints BEGIN, runs N packets through
// runXdp(jitRun), N through runXdpBatch (64 frames per call) and N batches of
// one frame, prints END.
// V8 prints one line per scavenge, so the parent counts collections in between.
import { readFileSync } from "node:fs";
import path from "node:path";
import { openObject } from "../../../../shared/bpf/libbpf/object.ts";
import { BpfKernel } from "../../../../shared/bpf/syscall.ts";
import { loadObject } from "../../../../shared/bpf/libbpf/libbpf.ts";
import { XdpFrame, runXdp } from "../../../../shared/bpf/runtime/xdp.ts";
import { jitRun } from "../../../../shared/bpf/runtime/engine.ts";
import { runXdpBatch } from "../../../../shared/bpf/runtime/batch.ts";
import { buildFrame } from "../../../../shared/net/packets.ts";
import { IPPROTO_UDP } from "../../../../shared/net/headers.ts";
import { PROGRAMS_DIR } from "../../../helpers/repo.ts";

const [objFile, runsArg] = process.argv.slice(2);
const runs = Number(runsArg ?? "1000000");
const spec = openObject(readFileSync(path.join(PROGRAMS_DIR, objFile!)), { file: objFile });
const kernel = new BpfKernel();
const prog = loadObject(kernel, spec).progList[0]!;
const pkt = buildFrame({ l3: "ipv4", l4: IPPROTO_UDP, frameLen: 64 });
const frames: XdpFrame[] = [];
for (let i = 0; i < 64; i++) {
  const f = new XdpFrame(kernel.vm);
  f.prepare(kernel.vm, pkt.length, 1, 0);
  kernel.mem.u8.set(pkt, f.dataAddr());
  frames.push(f);
}
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
