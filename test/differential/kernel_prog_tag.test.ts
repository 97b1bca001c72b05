// Program tags against the Linux kernel: for every program of every sample
// object, our bpf_prog_calc_tag() (shared/bpf/runtime/prog.ts progTag, the
// Linux 6.18 SHA-256 form) equals the tag `bpftool prog show` reports for the
// same program loaded by `bpftool prog loadall`. Kernels before 6.18 digest
// the same bytes with SHA-1: that form is accepted only when the running
// kernel (uname -r) is older than 6.18, never by a recorded answer.
// Skips (loudly) when not root or bpftool is missing; under CI=true that is a failure.
import { describe, expect, it } from "vitest";
import { execa } from "execa";
import { createHash } from "node:crypto";
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { openObject } from "../../shared/bpf/libbpf/object.ts";
import { progTagInput } from "../../shared/bpf/runtime/prog.ts";
import { loadObjectProgOurs } from "../shared/bpf/verifier/corpus/ours.ts";
import { kernelOracleUnavailable } from "../helpers/kernel_oracle.ts";
import { compareKernelVersions, formatKernelVersion, runningKernelVersion } from "../helpers/kernel_version.ts";
import { BUDGET_SAMPLES, PROGRAMS_DIR, REPO_ROOT, KERNEL_CANNOT_OPEN } from "../helpers/repo.ts";

/** Objects bpftool (libbpf 1.x) refuses before any BPF_PROG_LOAD: no kernel tag to compare. */

const KV = runningKernelVersion();
/** The tags a kernel of the running version may report for these bytes. */
function acceptedTags(tagInput: Uint8Array, ours: string): string[] {
  if (compareKernelVersions(KV, [6, 18, 0]) >= 0) return [ours];
  return [ours, createHash("sha1").update(tagInput).digest("hex").slice(0, 16)];
}

const unavailable = kernelOracleUnavailable(REPO_ROOT);
if (unavailable !== null) console.warn(`\n*** PROGRAM TAG DIFFERENTIAL SKIPPED: ${unavailable} ***\n`);

/** Loads every program of `obj` with bpftool; tag by program (ELF symbol) name, or null when the kernel refuses the object. */
async function kernelTags(obj: string): Promise<Map<string, string> | null> {
  const pin = `/sys/fs/bpf/vxo-tag-${process.pid}-${path.basename(obj, ".o")}`;
  try {
    const r = await execa("bpftool", ["prog", "loadall", obj, pin, "type", "xdp"], { reject: false });
    if (r.exitCode !== 0) return null;
    const tags = new Map<string, string>();
    for (const name of readdirSync(pin)) {
      const show = await execa("bpftool", ["-j", "prog", "show", "pinned", path.join(pin, name)]);
      tags.set(name, (JSON.parse(show.stdout) as { tag: string }).tag); // pinned under the program's full name
    }
    return tags;
  } finally {
    await execa("rm", ["-rf", pin], { reject: false });
  }
}

describe.skipIf(unavailable !== null)(`program tags against Linux ${formatKernelVersion(KV)}`, () => {
  // budget samples: the kernel refuses them after seconds of verification, so they have no tag to compare
  const objects = readdirSync(PROGRAMS_DIR).filter((f) => f.endsWith(".o") && !(f in KERNEL_CANNOT_OPEN) && BUDGET_SAMPLES[f] === undefined).sort();
  it("covers the sample objects", () => {
    expect(objects.length).toBeGreaterThanOrEqual(5);
  });

  let compared = 0;
  for (const obj of objects) {
    it(`${obj}: our tag of each program equals bpftool prog show's`, async () => {
      const objPath = path.join(PROGRAMS_DIR, obj);
      const kernel = await kernelTags(objPath);
      const spec = openObject(readFileSync(objPath), { file: objPath });
      if (kernel === null) {
        // The kernel refuses the object, so there is no tag to compare: we must refuse it too
        // (the fault itself is compared in kernel_verifier.test.ts).
        const loads = spec.progs.filter((p) => p.autoload).map((ps) => loadObjectProgOurs(spec, ps).load);
        expect(loads.some((l) => l.prog === null), `${obj}: the kernel refuses it and we load every program`).toBe(true);
        return;
      }
      for (const ps of spec.progs.filter((p) => p.autoload)) {
        const { load } = loadObjectProgOurs(spec, ps);
        expect(load.prog, `${obj} ${ps.name}: errno ${load.errno}`).not.toBeNull();
        const ours = load.prog!.tag;
        const k = kernel!.get(ps.name);
        expect(k, `${obj} ${ps.name}: loaded by bpftool`).toBeDefined();
        expect(acceptedTags(progTagInput(load.prog!.insns), ours), `${obj} ${ps.name}: kernel tag ${k}`).toContain(k);
        compared++;
      }
    });
  }
  it("compared at least one program per loadable object", () => {
    expect(compared).toBeGreaterThanOrEqual(objects.length - 1);
  });
});

describe.runIf(unavailable !== null && process.env.CI === "true")("program tag differential under CI", () => {
  it("has the kernel, root and bpftool", () => {
    expect.fail(`CI must run the program tag differential: ${unavailable}`);
  });
});
