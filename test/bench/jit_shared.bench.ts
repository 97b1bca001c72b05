// `npx tsx test/bench/jit_shared.bench.ts`: ns/packet of xdp1 and xdp2 through the JIT's
// batch entry (runXdpBatch, 64 frames per call), on a plain WebAssembly.Memory and on a
// shared one (what host/net's threads use: shared import, BPF atomics as wasm atomics),
// in one process, alternating rounds; prints the median of each and their ratio.
import { readFileSync } from "node:fs";
import path from "node:path";
import { buildFrame } from "../../shared/net/packets.ts";
import { IPPROTO_UDP } from "../../shared/net/headers.ts";
import { openObject } from "../../shared/bpf/libbpf/object.ts";
import { BpfKernel } from "../../shared/bpf/syscall.ts";
import { loadObject } from "../../shared/bpf/libbpf/libbpf.ts";
import { XdpFrame } from "../../shared/bpf/runtime/xdp.ts";
import { runXdpBatch } from "../../shared/bpf/runtime/batch.ts";
import { PROGRAMS_DIR } from "../helpers/repo.ts";

const packets = Number(process.argv[2] ?? "10000000");
const rounds = Number(process.argv[3] ?? "5");
const pkt = buildFrame({ l3: "ipv4", l4: IPPROTO_UDP, frameLen: 64 });

function setup(obj: string, shared: boolean) {
  const kernel = new BpfKernel({ sharedMemory: shared });
  const file = path.join(PROGRAMS_DIR, obj);
  const prog = loadObject(kernel, openObject(readFileSync(file), { file })).progList[0]!;
  const frames: XdpFrame[] = [];
  for (let i = 0; i < 64; i++) frames.push(new XdpFrame(kernel.vm));
  const verdicts = new Uint32Array(64);
  const refill = () => {
    for (const f of frames) {
      f.prepare(kernel.vm, pkt.length, 1, 0);
      kernel.mem.u8.set(pkt, f.dataAddr());
    }
  };
  return { kernel, prog, frames, verdicts, refill };
}

function timeRun(s: ReturnType<typeof setup>): number {
  const n = Math.floor(packets / 64);
  s.refill();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    // xdp2 swaps MACs in place: the bytes change, the work per packet does not.
    runXdpBatch(s.kernel.vm, s.prog, s.frames, 64, s.verdicts);
  }
  return Number(process.hrtime.bigint() - t0) / (n * 64);
}

const median = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1]!;
for (const obj of ["xdp1.o", "xdp2.o"]) {
  const plain = setup(obj, false), shared = setup(obj, true);
  timeRun(plain);
  timeRun(shared);
  const p: number[] = [], s: number[] = [];
  for (let r = 0; r < rounds; r++) {
    p.push(timeRun(plain));
    s.push(timeRun(shared));
  }
  console.log(`${obj}: plain ${median(p).toFixed(1)} ns/pkt, shared ${median(s).toFixed(1)} ns/pkt, ` +
    `shared/plain ${(median(s) / median(p)).toFixed(2)} (rounds ${p.map((x) => x.toFixed(1)).join(" ")} | ${s.map((x) => x.toFixed(1)).join(" ")})`);
}
