// `npm run bench:exec`: ns per run of `vxo prog run --repeat N` beside
// `bpftool prog run ... repeat N` on the same object and packet, side by side
// in one run, several rounds, medians and the ratio. Needs root and bpftool
// for the kernel column; prints our figures alone otherwise.
import { execa } from "execa";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { buildFrame } from "../../shared/net/pktgen.ts";
import { IPPROTO_UDP } from "../../shared/net/headers.ts";
import { KernelObject, kernelOracleUnavailable } from "../helpers/kernel_oracle.ts";
import { PROGRAMS_DIR, REPO_ROOT, VXO_BIN } from "../helpers/repo.ts";

const args = process.argv.slice(2);
const arg = (k: string, d: string) => {
  const i = args.indexOf(k);
  return i >= 0 && i + 1 < args.length ? args[i + 1]! : d;
};
const repeat = Number(arg("--repeat", "1000000"));
const rounds = Number(arg("--rounds", "3"));
const engine = arg("--engine", "interp");
const progs = [["drop", "xdp_drop.o"], ["xdp1", "xdp1.o"], ["xdp2", "xdp2.o"]] as const;

const dir = mkdtempSync(path.join(tmpdir(), "vxo-bench-"));
const pkt = path.join(dir, "pkt.bin");
writeFileSync(pkt, buildFrame({ l3: "ipv4", l4: IPPROTO_UDP, frameLen: 64 }));
const unavailable = kernelOracleUnavailable(REPO_ROOT);
if (unavailable !== null) console.log(`kernel column unavailable: ${unavailable}`);

const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;

console.log(`engine ${engine}, repeat ${repeat}, ${rounds} rounds (median), 64-byte IPv4/UDP packet, node ${process.version}`);
console.log("program   vxo ns/run   kernel ns/run   ratio vxo/kernel");
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
  console.log(`${name.padEnd(8)}  ${String(o).padStart(10)}   ${String(Number.isNaN(t) ? "-" : t).padStart(13)}   ${Number.isNaN(t) ? "-" : (o / Math.max(t, 1)).toFixed(2)}`);
}

/** The object's only program, as bpftool pinned it (by function name). */
async function firstProg(ko: KernelObject): Promise<string> {
  const { readdirSync } = await import("node:fs");
  return readdirSync(`${ko.dir}/progs`).sort()[0]!;
}
