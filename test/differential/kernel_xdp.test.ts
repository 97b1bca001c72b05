// Differential test against the Linux kernel: every sample program, every
// packet of the corpus, through `bpftool prog run` (kernel) and `vxo prog run`
// (this emulator). Return values, output packets and final map contents must
// be identical. Skips (loudly) only when the kernel cannot load a trivial
// program here; under CI that is a failure.
import { describe, expect, it, beforeAll } from "vitest";
import { execa } from "execa";
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { openObject } from "../../shared/bpf/libbpf/object.ts";
import { BPF_MAP_TYPE_DEVMAP, BPF_MAP_TYPE_PROG_ARRAY, BPF_MAP_TYPE_HASH, BPF_MAP_TYPE_LRU_HASH, BPF_MAP_TYPE_PERCPU_ARRAY, BPF_MAP_TYPE_PERCPU_HASH } from "../../shared/bpf/isa/uapi.ts";
import { testCorpus } from "../../shared/net/packets.ts";
import { KernelObject, kernelOracleUnavailable, sumPerCpu } from "../helpers/kernel_oracle.ts";
import { BUDGET_SAMPLES, KERNEL_CANNOT_OPEN, PROGRAMS_DIR, REPO_ROOT, VXO_BIN } from "../helpers/repo.ts";

/** Objects the kernel refuses by design; the verifier issue compares verdicts for these. */
const KERNEL_REFUSES: Record<string, string> = {
  "xdp_bad_access.o": "reads the packet without a bounds check: the kernel verifier rejects it (verdicts compared by the verifier tests)",
  ...KERNEL_CANNOT_OPEN,
};

const unavailable = kernelOracleUnavailable(REPO_ROOT);
if (unavailable !== null) {
  console.warn(`\n*** KERNEL DIFFERENTIAL TESTS SKIPPED: ${unavailable} ***\n`);
}

const corpus = testCorpus(24);
const objects = readdirSync(PROGRAMS_DIR).filter((f) => f.endsWith(".o")).sort();

interface VxoLine {
  retval?: number;
  dataOut?: string;
  errno?: number;
  maps?: Record<string, Array<[string, string]>>;
}

describe.skipIf(unavailable !== null)("kernel differential (bpftool prog run vs vxo prog run)", () => {
  let pktDir = "";
  let pktFiles: string[] = [];
  beforeAll(() => {
    pktDir = mkdtempSync(path.join(tmpdir(), "vxo-pkts-"));
    pktFiles = corpus.map((p, i) => {
      const f = path.join(pktDir, `${String(i).padStart(3, "0")}-${p.name}.bin`);
      writeFileSync(f, p.bytes);
      return f;
    });
  });

  it("has a corpus of at least 50 packets with IPv4, IPv6, VLAN, QinQ, runts and 1500-byte frames", () => {
    expect(corpus.length).toBeGreaterThanOrEqual(50);
    for (const kind of ["ipv4-udp", "ipv6-tcp", "vlan-", "qinq-", "runt-", "-1500"]) {
      expect(corpus.some((p) => p.name.includes(kind)), kind).toBe(true);
    }
  });

  // Nothing to run where the kernel refuses the object or exhausts the budget; their verdicts
  // are judged by kernel_verifier.test.ts.
  it("runs every sample object the kernel loads", () => {
    const left = objects.filter((o) => KERNEL_REFUSES[o] !== undefined || BUDGET_SAMPLES[o] !== undefined);
    expect(left.sort()).toEqual([...Object.keys(KERNEL_REFUSES), ...Object.keys(BUDGET_SAMPLES)].filter((o) => objects.includes(o)).sort());
    expect(objects.length - left.length).toBeGreaterThanOrEqual(5);
  });
  for (const obj of objects) {
    if (KERNEL_REFUSES[obj] !== undefined || BUDGET_SAMPLES[obj] !== undefined) continue;
    const objPath = path.join(PROGRAMS_DIR, obj);
    const spec = openObject(readFileSync(objPath), { file: objPath });
    for (const ps of spec.progs) {
      it(`${obj} ${ps.name}: same retval, output packet and maps on ${corpus.length} packets`, async () => {
        const ko = await KernelObject.load(objPath, obj.replace(/\W/g, "_"));
        try {
          const updates: string[] = [];
          for (const ms of spec.maps) {
            if (ms.attr.mapType === BPF_MAP_TYPE_DEVMAP) {
              // Port 0 -> lo (ifindex 1), which exists in the kernel's fresh netns and in ours.
              await ko.mapUpdate(ms.name, "00000000", ms.attr.valueSize === 8 ? "0100000000000000" : "01000000");
              updates.push("--map-update", `${ms.name}=00000000:${ms.attr.valueSize === 8 ? "0100000000000000" : "01000000"}`);
            }
          }
          const kernelRuns = [];
          for (const p of corpus) kernelRuns.push(await ko.run(ps.name, p.bytes));
          // The kernel side runs once; the vxo side once per engine (JIT and reference interpreter).
          for (const engine of ["jit", "interp"]) {
          const args = [VXO_BIN, "prog", "run", objPath, "--prog", ps.name, "--json", "--engine", engine, ...updates];
          for (const f of pktFiles) args.push("--data-in", f);
          const r = await execa("node", args, { reject: false });
          const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as VxoLine);
          expect(lines.length, r.stderr).toBe(corpus.length);
          for (let i = 0; i < corpus.length; i++) {
            const k = kernelRuns[i]!, v = lines[i]!;
            const where = `${obj} ${ps.name} (${engine}) packet ${corpus[i]!.name}`;
            if (k.retval === null) {
              expect(v.errno, `${where}: kernel failed (${k.error}), vxo did not`).toBeGreaterThan(0);
              continue;
            }
            expect(v.retval, where).toBe(k.retval);
            expect(v.dataOut, where).toBe(k.dataOut);
          }
          const last = [...lines].reverse().find((l) => l.maps !== undefined);
          expect(last, "vxo printed no map dump").toBeDefined();
          for (const ms of spec.maps) {
            const kern = await ko.mapDump(ms.name);
            const ours = (last!.maps![ms.name] ?? []).map(([key, value]) => ({ key, value }));
            const t = ms.attr.mapType;
            const norm = (e: Array<{ key: string; value: string }>) => {
              const perCpu = t === BPF_MAP_TYPE_PERCPU_ARRAY || t === BPF_MAP_TYPE_PERCPU_HASH;
              const rows = e.map(({ key, value }) => ({
                key,
                // prog arrays hold program ids, which differ between kernels: compare occupancy
                value: t === BPF_MAP_TYPE_PROG_ARRAY ? "prog" : perCpu && value.length > 0 ? value : value,
              }));
              return t === BPF_MAP_TYPE_HASH || t === BPF_MAP_TYPE_LRU_HASH || t === BPF_MAP_TYPE_PERCPU_HASH
                ? rows.sort((a, b) => a.key.localeCompare(b.key)) : rows;
            };
            const oursNorm = t === BPF_MAP_TYPE_PERCPU_ARRAY || t === BPF_MAP_TYPE_PERCPU_HASH
              ? ours.map(({ key, value }) => ({ key, value: sumPerCpu(value.match(new RegExp(`.{${(value.length / 2 / 2) * 2}}`, "g")) ?? []) }))
              : ours;
            expect(norm(oursNorm), `${obj} ${ps.name} (${engine}) map ${ms.name}`).toEqual(norm(kern));
          }
          }
        } finally {
          await ko.close();
        }
      }, 180_000);
    }
  }
});

describe.runIf(unavailable !== null && process.env.CI === "true")("kernel differential under CI", () => {
  it("must be able to use the kernel oracle", () => {
    expect.fail(`CI must run the kernel differential tests: ${unavailable}`);
  });
});
