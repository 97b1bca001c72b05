// The real Linux kernel as a differential oracle: loads objects with bpftool
// into a private bpffs directory, runs each bpftool in a fresh network namespace, runs programs with
// BPF_PROG_TEST_RUN (`bpftool prog run`) and dumps maps (`bpftool map dump`).
import { execa, execaSync } from "execa";
import { mkdirSync, mkdtempSync, writeFileSync, readFileSync, rmSync, existsSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

export interface KernelRun {
  /** Return value, or null when the run failed (errno text in `error`). */
  retval: number | null;
  dataOut: string;
  error: string;
}

export interface KernelMapEntry {
  key: string;
  value: string;
}

function hexBytes(a: string[]): string {
  return a.map((x) => x.replace(/^0x/, "").padStart(2, "0")).join("");
}

/** Why the kernel oracle cannot run here, or null when it can. */
export function kernelOracleUnavailable(repoRoot: string): string | null {
  if (process.getuid?.() !== 0) return "not root: bpftool prog load needs CAP_BPF/CAP_SYS_ADMIN";
  try {
    execaSync("bpftool", ["version"]);
  } catch {
    return "bpftool not found (apt-get install bpftool)";
  }
  try {
    execaSync("ip", ["-V"]);
    execaSync("nsenter", ["--version"]);
  } catch {
    return "ip (iproute2) or nsenter (util-linux) not found";
  }
  if (!existsSync("/sys/fs/bpf") || execaSync("sh", ["-c", "mount | grep -q ' /sys/fs/bpf type bpf' || mount -t bpf bpf /sys/fs/bpf"], { reject: false }).exitCode !== 0) {
    return "bpffs is not mounted at /sys/fs/bpf and could not be mounted";
  }
  const pin = `/sys/fs/bpf/vxo-probe-${process.pid}`;
  const r = execaSync("bpftool", ["prog", "load", path.join(repoRoot, "scenarios/programs/xdp_pass.o"), pin, "type", "xdp"], { reject: false });
  execaSync("rm", ["-f", pin], { reject: false });
  if (r.exitCode !== 0) return `bpftool could not load a trivial XDP program: ${r.stderr.trim()}`;
  return null;
}

/** One object loaded into the kernel, pinned in a directory of its own. */
export class KernelObject {
  readonly dir: string;
  readonly netns: string;
  readonly tmp: string;
  #n = 0;

  private constructor(dir: string, netns: string) {
    this.dir = dir;
    this.netns = netns;
    this.tmp = mkdtempSync(path.join(tmpdir(), "vxo-oracle-"));
  }

  /** `bpftool prog loadall OBJ DIR/progs type xdp pinmaps DIR/maps`. */
  static async load(obj: string, tag: string): Promise<KernelObject> {
    const id = `vxo-${tag}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
    await execa("ip", ["netns", "add", id]);
    const ko = new KernelObject(`/sys/fs/bpf/${id}`, id);
    mkdirSync(ko.dir);
    try {
      await ko.bpftool(["prog", "loadall", obj, `${ko.dir}/progs`, "type", "xdp", "pinmaps", `${ko.dir}/maps`]);
    } catch (e) {
      await ko.close();
      throw e;
    }
    return ko;
  }

  /**
   * Runs bpftool inside the object's own network namespace (nsenter --net, so
   * the mount namespace with the bpffs pins stays shared): helpers that look at
   * the stack (bpf_fib_lookup) see a pristine one, only lo, down, forwarding off,
   * and devmap entries that point at its lo stay valid between commands.
   */
  async bpftool(args: string[]): Promise<string> {
    const r = await execa("nsenter", [`--net=/run/netns/${this.netns}`, "bpftool", ...args], { reject: false });
    if (r.exitCode !== 0) throw new Error(`bpftool ${args.join(" ")}: ${r.stderr || r.stdout}`);
    return r.stdout;
  }

  async mapUpdate(map: string, keyHex: string, valueHex: string): Promise<void> {
    const bytes = (h: string) => ["hex", ...h.match(/../g)!];
    await this.bpftool(["map", "update", "pinned", `${this.dir}/maps/${map}`, "key", ...bytes(keyHex), "value", ...bytes(valueHex)]);
  }

  /** `bpftool prog run pinned PROG data_in F data_out G`. */
  async run(prog: string, data: Uint8Array, repeat = 1): Promise<KernelRun & { durationNs: number }> {
    const n = this.#n++;
    const fin = path.join(this.tmp, `in${n}`), fout = path.join(this.tmp, `out${n}`);
    writeFileSync(fin, data);
    rmSync(fout, { force: true });
    const args = ["prog", "run", "pinned", `${this.dir}/progs/${prog}`, "data_in", fin, "data_out", fout];
    if (repeat > 1) args.push("repeat", String(repeat));
    const r = await execa("nsenter", [`--net=/run/netns/${this.netns}`, "bpftool", ...args], { reject: false });
    const m = /Return value: (\d+), duration(?: \(average\))?: (\d+)ns/.exec(r.stdout);
    if (r.exitCode !== 0 || m === null) return { retval: null, dataOut: "", error: (r.stderr || r.stdout).trim(), durationNs: 0 };
    return { retval: Number(m[1]), dataOut: Buffer.from(readFileSync(fout)).toString("hex"), error: "", durationNs: Number(m[2]) };
  }

  /** Map entries as hex; per-CPU values become the per-CPU sum of each u64 word. */
  async mapDump(map: string): Promise<KernelMapEntry[]> {
    let text: string;
    try {
      text = await this.bpftool(["-j", "map", "dump", "pinned", `${this.dir}/maps/${map}`]);
    } catch {
      // Frozen read-only maps (.rodata) refuse a read-write BPF_OBJ_GET of their pin: go by id.
      text = await this.bpftool(["-j", "map", "dump", "id", String(await this.mapIdByName(map))]);
    }
    const out = JSON.parse(text) as Array<{
      key: string[]; value?: string[] | { error: string }; values?: Array<{ cpu: number; value: string[] }>;
    }>;
    // Slots that exist for get_next_key but have no value (empty devmap/prog-array slots) dump as errors.
    return out.filter((e) => Array.isArray(e.value) || Array.isArray(e.values)).map((e) => ({
      key: hexBytes(e.key),
      value: Array.isArray(e.value) ? hexBytes(e.value) : sumPerCpu(e.values!.map((v) => hexBytes(v.value))),
    }));
  }

  /**
   * Id of one of this object's maps, found through the map_ids of this object's own pinned programs
   * (not every program on the system: other processes load the same objects, with maps of the same names).
   */
  async mapIdByName(name: string): Promise<number> {
    const ids = new Set<number>();
    for (const f of readdirSync(`${this.dir}/progs`)) {
      const p = JSON.parse(await this.bpftool(["-j", "prog", "show", "pinned", `${this.dir}/progs/${f}`])) as { map_ids?: number[] };
      for (const id of p.map_ids ?? []) ids.add(id);
    }
    for (const id of ids) {
      const m = JSON.parse(await this.bpftool(["-j", "map", "show", "id", String(id)])) as { name?: string };
      if (m.name === name) return id;
    }
    throw new Error(`no map named ${name} among this object's programs' maps`);
  }

  async close(): Promise<void> {
    await execa("rm", ["-rf", this.dir], { reject: false });
    await execa("ip", ["netns", "del", this.netns], { reject: false });
    rmSync(this.tmp, { recursive: true, force: true });
  }
}

/** Adds per-CPU values word by word (u64 little endian) so runs on different CPUs compare equal. */
export function sumPerCpu(values: string[]): string {
  if (values.length === 0) return "";
  const len = values[0]!.length / 2;
  const out = Buffer.alloc(len);
  for (let w = 0; w + 8 <= len; w += 8) {
    let s = 0n;
    for (const v of values) s += Buffer.from(v, "hex").readBigUInt64LE(w);
    out.writeBigUInt64LE(BigInt.asUintN(64, s), w);
  }
  return out.toString("hex");
}
