// Child-process probe for the no-allocation rule: run under `node --trace-gc`,
// it warms a program up, prints BEGIN, runs it N times through runXdp, prints
// END. V8 prints a line per scavenge synchronously, so the parent counts the
// young-generation collections between the markers.
import { readFileSync } from "node:fs";
import path from "node:path";
import { openObject } from "../../shared/bpf/libbpf/object.ts";
import { BpfKernel } from "../../shared/bpf/syscall.ts";
import { loadObject } from "../../shared/bpf/libbpf/libbpf.ts";
import { XdpFrame, runXdp } from "../../shared/bpf/runtime/xdp.ts";
import { interpRun } from "../../shared/bpf/runtime/interp.ts";
import { buildFrame } from "../../shared/net/packets.ts";
import { IPPROTO_UDP } from "../../shared/net/headers.ts";
import { PROGRAMS_DIR } from "./repo.ts";

const [objFile, runsArg] = process.argv.slice(2);
const runs = Number(runsArg ?? "1000000");
const spec = openObject(readFileSync(path.join(PROGRAMS_DIR, objFile!)), { file: objFile });
const kernel = new BpfKernel();
const prog = loadObject(kernel, spec).progList[0]!;
const pkt = buildFrame({ l3: "ipv4", l4: IPPROTO_UDP, frameLen: 64 });
const f = new XdpFrame(kernel.vm);
f.prepare(kernel.vm, pkt.length, 1, 0);
kernel.mem.u8.set(pkt, f.dataAddr());
let acc = 0;
for (let i = 0; i < 50000; i++) acc += runXdp(kernel.vm, prog, f, interpRun);
process.stdout.write("BEGIN\n");
for (let i = 0; i < runs; i++) acc += runXdp(kernel.vm, prog, f, interpRun);
process.stdout.write(`END ${acc}\n`);
