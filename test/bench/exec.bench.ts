// `npm run bench:exec`: ns per run of `vxo prog run --repeat N --engine E` beside
// `bpftool prog run ... repeat N` on the same object and packet, side by side
// in one run, several rounds, medians and the ratio, for each engine (JIT and
// reference interpreter). Then ns/packet through the NAPI-like batch entry
// (runXdpBatch) for batch sizes 1, 16 and 64, with the number of garbage
// collections seen meanwhile (a PerformanceObserver on "gc" entries: zero
// means nothing on the batch path allocates). Needs root and bpftool for the
// kernel column; prints our figures alone otherwise.
import { execa } from "execa";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { PerformanceObserver } from "node:perf_hooks";
import { buildFrame } from "../../shared/net/packets.ts";
import { IPPROTO_UDP } from "../../shared/net/headers.ts";
import { openObject } from "../../shared/bpf/libbpf/object.ts";
import { BpfKernel } from "../../shared/bpf/syscall.ts";
import { loadObject } from "../../shared/bpf/libbpf/libbpf.ts";
import { XdpFrame } from "../../shared/bpf/runtime/xdp.ts";
import { runXdpBatch } from "../../shared/bpf/runtime/batch.ts";
import { KernelObject, kernelOracleUnavailable } from "../helpers/kernel_oracle.ts";
import { PROGRAMS_DIR, REPO_ROOT, VXO_BIN } from "../helpers/repo.ts";
import { flagArg, numberFlag } from "../helpers/script_args.ts";

const repeat = numberFlag("--repeat", 10_000_000);
const rounds = numberFlag("--rounds", 5);
const engines = flagArg("--engine", "jit,interp").split(",");
const batchPackets = numberFlag("--batch-packets", 20_000_000);
const progs = [["drop", "xdp_drop.o"], ["xdp1", "xdp1.o"], ["xdp2", "xdp2.o"]] as const;

const dir = mkdtempSync(path.join(tmpdir(), "vxo-bench-"));
const pkt = path.join(dir, "pkt.bin");
const frame = buildFrame({ l3: "ipv4", l4: IPPROTO_UDP, frameLen: 64 });
writeFileSync(pkt, frame);
const unavailable = kernelOracleUnavailable(REPO_ROOT);
if (unavailable !== null) console.log(`kernel column unavailable: ${unavailable}`);

const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;

for (const engine of engines) {
  // Both engines run the same repeat count as the kernel: the same warm-up share in every figure.
  console.log(`engine ${engine}, repeat ${repeat}, ${rounds} rounds (medians), 64-byte IPv4/UDP packet, node ${process.version}`);
  console.log("program   vxo ns/run   kernel ns/run   ratio vxo/kernel (median of the rounds' ratios, min-max)");
  for (const [name, obj] of progs) {
    const objPath = path.join(PROGRAMS_DIR, obj);
    const ko = unavailable === null ? await KernelObject.load(objPath, `bench_${name}`) : null;
    const kprog = ko !== null ? await firstProg(ko) : "";
    const pktBytes = readFileSync(pkt);
    const ours: number[] = [], theirs: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const v = await execa("node", [VXO_BIN, "prog", "run", objPath, "--data-in", pkt, "--repeat", String(repeat), "--engine", engine, "--json"]);
      ours.push(JSON.parse(v.stdout).durationNs);
      if (ko !== null) {
        const k = await ko.run(kprog, pktBytes, repeat);
        theirs.push(k.durationNs);
      }
    }
    if (ko !== null) await ko.close();
    const o = median(ours), t = theirs.length > 0 ? median(theirs) : NaN;
    // Each round's pair ran back to back: its ratio holds while the machine's speed drifts between rounds.
    const ratios = theirs.map((k, r) => ours[r]! / Math.max(k, 1));
    const ratio = ratios.length > 0
      ? `${median(ratios).toFixed(2)} (${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)})`
      : "-";
    console.log(`${name.padEnd(8)}  ${String(o).padStart(10)}   ${String(Number.isNaN(t) ? "-" : t).padStart(13)}   ${ratio}`);
  }
  console.log("");
}

// ---- batch entry (in process): the path the datapath calls ----
let gcs = 0;
const obs = new PerformanceObserver((list) => {
  gcs += list.getEntries().length;
});
obs.observe({ entryTypes: ["gc"] });
const tick = () => new Promise<void>((r) => setImmediate(r));

console.log(`batch entry (runXdpBatch, JIT), ${batchPackets} packets per figure, 64-byte IPv4/UDP, median of ${rounds}`);
console.log("program   batch   ns/packet   Mpps    GCs during run");
for (const [name, obj] of progs) {
  if (name === "drop") continue;
  const objPath = path.join(PROGRAMS_DIR, obj);
  const spec = openObject(readFileSync(objPath), { file: objPath });
  const kernel = new BpfKernel();
  const loaded = loadObject(kernel, spec);
  const prog = [...loaded.progs.values()][0]!;
  const vm = kernel.vm;
  const frames: XdpFrame[] = [];
  for (let i = 0; i < 64; i++) frames.push(new XdpFrame(vm));
  const verdicts = new Uint32Array(64);
  const refill = () => {
    for (const f of frames) {
      f.prepare(vm, frame.length, 1, 0);
      vm.mem.u8.set(frame, f.dataAddr());
    }
  };
  // Untimed warm-up (compiling the program, V8 tiering the batch loop), so that the GC column
  // counts what the steady-state batch path does.
  refill();
  for (let i = 0; i < 200000; i++) runXdpBatch(vm, prog, frames, 1 + (i & 63), verdicts);
  for (const size of [1, 16, 64]) {
    const calls = Math.floor(batchPackets / size);
    const ns: number[] = [];
    let gcSeen = 0;
    for (let r = 0; r < rounds; r++) {
      // Fresh packets each round (xdp2 swaps MACs in place, so every run rewrites them anyway).
      refill();
      await tick();
      const g0 = gcs;
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < calls; i++) runXdpBatch(vm, prog, frames, size, verdicts);
      const t1 = process.hrtime.bigint();
      await tick();
      gcSeen += gcs - g0;
      ns.push(Number(t1 - t0) / (calls * size));
    }
    const m = median(ns);
    console.log(`${name.padEnd(8)}  ${String(size).padStart(5)}   ${m.toFixed(2).padStart(9)}   ${(1000 / m).toFixed(1).padStart(5)}    ${gcSeen}`);
  }
}
obs.disconnect();

/** The object's only program, as bpftool pinned it (by function name). */
async function firstProg(ko: KernelObject): Promise<string> {
  const { readdirSync } = await import("node:fs");
  return readdirSync(`${ko.dir}/progs`).sort()[0]!;
}
