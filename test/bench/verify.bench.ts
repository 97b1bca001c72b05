// `npm run bench:verify`: verification time of each sample object, ours
// (BpfKernel.progLoad through shared/bpf/verifier, as `vxo prog load` runs it)
// beside the Linux kernel's: the BPF_PROG_LOAD syscall alone (raw loader,
// test/helpers/bpf_load_raw.c) and the whole `bpftool prog loadall` command
// (process start, ELF parsing, map creation included). Medians over several
// rounds, and the ratios. Needs root, gcc and bpftool for the kernel columns;
// prints our figures alone otherwise.
// Usage: tsx test/bench/verify.bench.ts [--rounds 7]
import { execa } from "execa";
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { openObject } from "../../shared/bpf/libbpf/object.ts";
import { errnoName } from "../../shared/errno.ts";
import { loadObjectProgOurs, rawObjectProg } from "../shared/bpf/verifier/corpus/ours.ts";
import { kernelLoadRaw, rawLoaderUnavailable } from "../helpers/raw_loader.ts";
import { kernelOracleUnavailable } from "../helpers/kernel_oracle.ts";
import { BUDGET_SAMPLES, PROGRAMS_DIR, REPO_ROOT } from "../helpers/repo.ts";
import { numberFlag } from "../helpers/script_args.ts";

const rounds = numberFlag("--rounds", 7);
/** Objects libbpf 1.x (bpftool 7) cannot open: no kernel column. */
const KERNEL_CANNOT_OPEN = new Set(["xdp_legacy_maps.o"]);

function median(a: number[]): number {
  const s = [...a].sort((x, y) => x - y);
  return s.length === 0 ? NaN : s[Math.floor(s.length / 2)]!;
}

const ms = (ns: number) => (Number.isNaN(ns) ? "-" : (ns / 1e6).toFixed(3));
const ratio = (a: number, b: number) => (Number.isNaN(a) || Number.isNaN(b) || b === 0 ? "-" : (a / b).toFixed(2));

const why = rawLoaderUnavailable() ?? kernelOracleUnavailable(REPO_ROOT);
if (why !== null) console.log(`kernel columns skipped: ${why}`);

const rows: string[][] = [["object", "progs", "insns", "verdict", "ours ms", "kernel syscall ms", "bpftool ms", "ours/syscall", "ours/bpftool"]];
// budget-exhausting samples would take the whole run: they are timed by test/long/verify_budget.ts
for (const obj of readdirSync(PROGRAMS_DIR).filter((f) => f.endsWith(".o") && BUDGET_SAMPLES[f] === undefined).sort()) {
  const objPath = path.join(PROGRAMS_DIR, obj);
  const spec = openObject(readFileSync(objPath), { file: objPath });
  const progs = spec.progs.filter((p) => p.autoload);
  const insns = progs.reduce((n, p) => n + p.insns.len, 0);
  const ours: number[] = [];
  let verdict = "ok";
  for (let r = 0; r < rounds; r++) {
    let total = 0;
    for (const ps of progs) {
      const { load, ns } = loadObjectProgOurs(spec, ps);
      total += ns;
      if (load.prog === null) verdict = errnoName(load.errno);
    }
    ours.push(total);
  }
  let syscall = NaN, bpftool = NaN;
  if (why === null && !KERNEL_CANNOT_OPEN.has(obj)) {
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
  const o = median(ours);
  rows.push([obj, String(progs.length), String(insns), verdict, ms(o), ms(syscall), ms(bpftool), ratio(o, syscall), ratio(o, bpftool)]);
}

const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
for (const r of rows) console.log(r.map((c, i) => (i === 0 || i === 3 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  "));
console.log(`\nmedians of ${rounds} rounds; verdict = ours/kernel (raw BPF_PROG_LOAD without BTF: .rodata not frozen there)`);
