// `npm run bench:verify`: verification time of each sample object, ours
// (BpfKernel.progLoad through shared/bpf/verifier, as `vxo prog load` runs it,
// log level 1) beside the Linux kernel's: the BPF_PROG_LOAD syscall alone (raw
// loader, test/helpers/bpf_load_raw.c, log level 1) and the whole `bpftool
// prog loadall` command (process start, ELF parsing, map creation included).
// Ours is reported cold (the object's first load in this process) and warm
// (median of --rounds loads after --warmup unmeasured rounds over every object); the kernel's as
// the median of --rounds. Ours is timed as CPU time (process.cpuUsage, all
// threads) beside wall time: the kernel (CONFIG_PREEMPT_NONE here) runs the
// syscall without being preempted, while on a loaded machine a user-space
// verifier's wall time mostly measures the other runnable processes; the
// ratios use CPU time. Then the budget samples (BUDGET_SAMPLES: programs
// that walk the whole 1M-insn budget), one load each side, both times printed.
// Needs root, gcc and bpftool for the kernel columns; prints our figures alone otherwise.
// Usage: tsx test/bench/verify.bench.ts [--rounds 15] [--warmup 40] [--no-budget]
import { execa } from "execa";
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { openObject } from "../../shared/bpf/libbpf/object.ts";
import { errnoName } from "../../shared/errno.ts";
import { loadObjectProgOurs, rawObjectProg } from "../shared/bpf/verifier/corpus/ours.ts";
import { kernelLoadRaw, rawLoaderUnavailable } from "../helpers/raw_loader.ts";
import { kernelOracleUnavailable } from "../helpers/kernel_oracle.ts";
import { BUDGET_SAMPLES, PROGRAMS_DIR, REPO_ROOT, KERNEL_CANNOT_OPEN } from "../helpers/repo.ts";
import { numberFlag } from "../helpers/script_args.ts";

const rounds = numberFlag("--rounds", 15);
// JIT tiers settle only after dozens of loads: a long-running vxo process is that warm
const warmup = numberFlag("--warmup", 40);
const budget = !process.argv.includes("--no-budget");
/** Objects libbpf 1.x (bpftool 7) cannot open: no kernel column. */

function median(a: number[]): number {
  const s = [...a].sort((x, y) => x - y);
  return s.length === 0 ? NaN : s[Math.floor(s.length / 2)]!;
}

const ms = (ns: number) => (Number.isNaN(ns) ? "-" : (ns / 1e6).toFixed(3));
const ratio = (a: number, b: number) => (Number.isNaN(a) || Number.isNaN(b) || b === 0 ? "-" : (a / b).toFixed(2));

const why = rawLoaderUnavailable() ?? kernelOracleUnavailable(REPO_ROOT);
if (why !== null) console.log(`kernel columns skipped: ${why}`);

const rows: string[][] = [[
  "object", "progs", "insns", "verdict", "ours cold cpu ms", "ours warm cpu ms", "ours warm wall ms", "kernel syscall ms", "bpftool ms",
  "warm/syscall", "cold/syscall", "warm/bpftool",
]];
// budget-exhausting samples would take the whole run: they are timed by test/long/verify_budget.ts
const objects = readdirSync(PROGRAMS_DIR).filter((f) => f.endsWith(".o") && BUDGET_SAMPLES[f] === undefined).sort().map((obj) => {
  const objPath = path.join(PROGRAMS_DIR, obj);
  const spec = openObject(readFileSync(objPath), { file: objPath });
  return { obj, objPath, spec, progs: spec.progs.filter((p) => p.autoload) };
});
type Obj = (typeof objects)[number];
/** One load of every program of `o`: CPU and wall ns, and the verdict. */
function loadOurs(o: Obj): { cpu: number; wall: number; verdict: string } {
  let cpu = 0, wall = 0, verdict = "ok";
  for (const ps of o.progs) {
    const { load, ns, cpuNs } = loadObjectProgOurs(o.spec, ps);
    cpu += cpuNs;
    wall += ns;
    if (load.prog === null) verdict = errnoName(load.errno);
  }
  return { cpu, wall, verdict };
}
// Cold: each object's first load in this process (in file order, so later objects meet code the
// earlier ones warmed). Then the warm-up, --warmup rounds over every object: V8 optimises the
// verifier on background threads whose CPU time counts, and a vxo process that has loaded a few
// hundred programs is that warm; only then the measured rounds, object by object.
const cold = new Map(objects.map((o) => [o.obj, loadOurs(o).cpu]));
for (let r = 0; r < warmup; r++) for (const o of objects) loadOurs(o);
for (const o of objects) {
  const { obj, objPath, spec, progs } = o;
  const insns = progs.reduce((n, p) => n + p.insns.len, 0);
  const ours: number[] = [], oursWall: number[] = [];
  let verdict = "ok";
  for (let r = 0; r < rounds; r++) {
    const x = loadOurs(o);
    ours.push(x.cpu);
    oursWall.push(x.wall);
    verdict = x.verdict;
  }
  let syscall = NaN, bpftool = NaN;
  if (why === null && !(obj in KERNEL_CANNOT_OPEN)) {
    const reqs = progs.map((ps) => ({ name: ps.name, ...rawObjectProg(spec, ps) }));
    const sys: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const res = await kernelLoadRaw(reqs);
      sys.push(res.reduce((n, x) => n + x.loadNs, 0));
      if (r === 0) verdict += `/${res.every((x) => x.errno === 0) ? "ok" : errnoName(res.find((x) => x.errno !== 0)!.errno)}`;
    }
    syscall = median(sys);
    const wall: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const pin = `/sys/fs/bpf/vxo-bench-${process.pid}`;
      const t0 = process.hrtime.bigint();
      await execa("bpftool", ["prog", "loadall", objPath, pin, "type", "xdp"], { reject: false });
      wall.push(Number(process.hrtime.bigint() - t0));
      await execa("rm", ["-rf", pin], { reject: false });
    }
    bpftool = median(wall);
  }
  const med = median(ours);
  rows.push([
    obj, String(progs.length), String(insns), verdict, ms(cold.get(obj)!), ms(med), ms(median(oursWall)), ms(syscall), ms(bpftool),
    ratio(med, syscall), ratio(cold.get(obj)!, syscall), ratio(med, bpftool),
  ]);
}

const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
for (const r of rows) console.log(r.map((c, i) => (i === 0 || i === 3 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  "));
console.log(`\nwarm: median of ${rounds} rounds after ${warmup} unmeasured rounds over every object; cold: first load; kernel: median of ${rounds}; ` +
  `verdict = ours/kernel (raw BPF_PROG_LOAD without BTF: .rodata not frozen there)`);

// Programs that walk the verifier's whole 1M-insn budget: one load each side (seconds).
if (budget) {
  const brows: string[][] = [["budget object", "verdict", "processed", "ours cpu ms", "ours wall ms", "kernel syscall ms", "ours cpu/syscall"]];
  for (const obj of Object.keys(BUDGET_SAMPLES).sort()) {
    const objPath = path.join(PROGRAMS_DIR, obj);
    const spec = openObject(readFileSync(objPath), { file: objPath });
    for (const ps of spec.progs.filter((p) => p.autoload)) {
      const { load, ns, cpuNs } = loadObjectProgOurs(spec, ps);
      let k = NaN, verdict = load.errno === 0 ? "ok" : errnoName(load.errno), processed = String(load.prog?.verifierStats?.processedInsns ?? "-");
      const m = /processed (\d+) insns/.exec((load.log ?? []).join("\n"));
      if (m !== null) processed = m[1]!;
      if (why === null) {
        const [res] = await kernelLoadRaw([{ name: ps.name, ...rawObjectProg(spec, ps) }]);
        k = res!.loadNs;
        verdict += `/${res!.errno === 0 ? "ok" : errnoName(res!.errno)}`;
      }
      brows.push([`${obj} ${ps.name}`, verdict, processed, ms(cpuNs), ms(ns), ms(k), ratio(cpuNs, k)]);
    }
  }
  const bw = brows[0]!.map((_, i) => Math.max(...brows.map((r) => r[i]!.length)));
  console.log("");
  for (const r of brows) console.log(r.map((c, i) => (i <= 1 ? c.padEnd(bw[i]!) : c.padStart(bw[i]!))).join("  "));
  console.log("one load each (log level 1 both); verdict = ours/kernel");
}
