// Control-plane benchmark (not CI-gating), through a real shim and host process:
// guest-to-host map update throughput with pipelined VIRTIO_NET_CTRL_BPF
// commands, the p50/p99 round trip of one lookup, and the guest's `bpftool map
// dump` of a 65,536-entry offloaded hash map (one MAP_LOOKUP_BATCH through the
// device, then bpftool's formatting). The driver side runs in this process (it is
// the guest kernel's virtio_net), so does the guest's bpftool for the dump. Each
// figure is printed beside its target with the ratio; the CPU time per process
// and the load average go with them (three processes share two cores). The
// phases are measured after a warm-up of the same commands (JIT, buffers).
// Placement: the update and round-trip phases run twice, first with the three
// processes co-located on one CPU (`cpu=0`, set with taskset on their threads),
// then on the scheduler's placement (every CPU). In QEMU the control queue
// handler and the host kernel's bpf() are one thread of control (the QEMU
// thread makes the syscall) and the guest's virtnet_send_command() spins on the
// vCPU; here they are three processes, and a sequential round trip pays a wake
// of each process it crosses. On a VM whose idle vCPUs halt (this machine: no
// guest halt polling), waking a process on an idle CPU costs tens to hundreds
// of microseconds and a round trip pays that up to twice; on one CPU a wake is
// a context switch. Both figures are printed; `cpu=none` skips the co-located phase.
// Usage: npm run bench:ctrl [-- updates=20000 window=256 rtts=2000 warmup=20000 dump=65536 cpu=0]
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { Procs } from "../helpers/procs.ts";
import { VirtioNetDriver } from "../../guest/virtio_net.ts";
import { GuestKernel } from "../../guest/netdev.ts";
import { GuestMapOps, bpftoolCommand } from "../../guest/bpftool.ts";
import { VIRTIO_NET_CTRL_BPF_MAP_CREATE, VIRTIO_NET_CTRL_BPF_MAP_LOOKUP, VIRTIO_NET_CTRL_BPF_MAP_UPDATE } from "../../shared/virtio/virtio_net.ts";
import { BPF_MAP_TYPE_HASH, BPF_MAP_UPDATE_BATCH } from "../../shared/bpf/isa/uapi.ts";
import { numberSetting } from "../helpers/script_args.ts";
import { formatWakeLatency, measureWakeLatency } from "../helpers/wake_latency.ts";

const UPDATES = numberSetting("updates", 20_000);
const WINDOW = numberSetting("window", 256);
const RTTS = numberSetting("rtts", 2_000);
const WARMUP = numberSetting("warmup", 20_000);
const DUMP = numberSetting("dump", 65_536);

const CPU = process.argv.slice(2).find((a) => a.startsWith("cpu="))?.slice(4) ?? "0";

const TARGET_UPDATES_PER_SEC = 50_000;
const TARGET_P50_US = 100;
const TARGET_DUMP_MS = 1_000;

/**
 * Pins every thread of `pids` to `cpus` (a taskset list); threads created later inherit it.
 * Returns null, or why it could not (taskset missing, CPU not there).
 */
function place(pids: number[], cpus: string): string | null {
  try {
    for (const pid of pids) execFileSync("taskset", ["-a", "-p", "-c", cpus, String(pid)], { stdio: "pipe" });
    return null;
  } catch (e) {
    return (e as Error).message.split("\n")[0]!;
  }
}

/** utime + stime of a process in ms (/proc/PID/stat fields 14 and 15). */
function cpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100;
}

const procs = new Procs({ debug: false });
try {
  const host = await procs.host();
  const qemu = await procs.qemu(host.url, "bench");
  const drv = await VirtioNetDriver.probe(qemu.url, "bench");
  const c = await drv.bpfCmd(VIRTIO_NET_CTRL_BPF_MAP_CREATE, { mapType: 1, keySize: 4, valueSize: 8, maxEntries: 4096, mapFlags: 0, name: "bench" });
  if (!c.ok) throw new Error(`map create failed: ${c.message}`);
  const handle = c.data.handle;
  const key = (i: number) => new Uint8Array(new Uint32Array([i % 4096]).buffer);
  const value = new Uint8Array(8);
  let errors = 0;

  /** `n` updates with WINDOW commands in flight; returns seconds. */
  const pipelined = async (n: number): Promise<number> => {
    let next = 0, done = 0;
    const t0 = process.hrtime.bigint();
    await new Promise<void>((resolve) => {
      const issue = () => {
        if (next >= n) return;
        const i = next++;
        void drv.bpfCmd(VIRTIO_NET_CTRL_BPF_MAP_UPDATE, { handle, key: key(i), value, flags: 0 }).then((r) => {
          if (!r.ok) errors++;
          if (++done === n) resolve();
          else issue();
        });
      };
      for (let w = 0; w < Math.min(WINDOW, n); w++) issue();
    });
    return Number(process.hrtime.bigint() - t0) / 1e9;
  };
  /** `n` lookups one at a time; returns their round trips in us. */
  const sequential = async (n: number): Promise<number[]> => {
    const rtt: number[] = [];
    for (let i = 0; i < n; i++) {
      const s = process.hrtime.bigint();
      const r = await drv.bpfCmd(VIRTIO_NET_CTRL_BPF_MAP_LOOKUP, { handle, key: key(i) });
      rtt.push(Number(process.hrtime.bigint() - s) / 1e3);
      if (!r.ok) errors++;
    }
    return rtt;
  };

  if (WARMUP > 0) {
    await pipelined(Math.max(WARMUP, 4096)); // also fills every key the lookups ask for
    await sequential(Math.ceil(WARMUP / 10));
  }
  const warmErrors = errors;
  const pids = [host.pid, qemu.pid, process.pid];
  /** One update phase and one round-trip phase, with the CPU time of each process. */
  const measure = async () => {
    const cpu0 = { host: cpuMs(host.pid), qemu: cpuMs(qemu.pid), self: process.cpuUsage() };
    const load0 = loadavg();
    const upSec = await pipelined(UPDATES);
    const rtt = (await sequential(RTTS)).sort((a, b) => a - b);
    const pct = (p: number) => rtt[Math.min(rtt.length - 1, Math.floor((p / 100) * rtt.length))]!;
    const self = process.cpuUsage(cpu0.self);
    const cpu = { host: cpuMs(host.pid) - cpu0.host, qemu: cpuMs(qemu.pid) - cpu0.qemu, self: (self.user + self.system) / 1000 };
    return { ups: UPDATES / upSec, upSec, p50: pct(50), p99: pct(99), max: rtt.at(-1)!, cpu, load0 };
  };
  type Phase = Awaited<ReturnType<typeof measure>>;
  const phases: { name: string; r: Phase }[] = [];
  let placeErr: string | null = CPU === "none" ? "cpu=none" : place(pids, CPU);
  if (placeErr === null) {
    await sequential(200); // settle on the new CPU
    phases.push({ name: `co-located on CPU ${CPU}`, r: await measure() });
  }
  const all = `0-${cpus().length - 1}`; // cpus(): availableParallelism() follows our own affinity
  if (placeErr === null) placeErr = place(pids, all);
  phases.push({ name: `scheduler's placement, CPUs ${all}`, r: await measure() });

  // bpftool map dump of a DUMP-entry hash map offloaded to the host, filled with one UPDATE_BATCH.
  const k = new GuestKernel();
  const attr = { mapType: BPF_MAP_TYPE_HASH, keySize: 4, valueSize: 8, maxEntries: DUMP, mapFlags: 0, name: "dump" };
  const m = k.bpf.mapCreate(attr);
  if (typeof m === "number") throw new Error(`guest map create ${m}`);
  const mc = await drv.bpfCmd(VIRTIO_NET_CTRL_BPF_MAP_CREATE, attr);
  if (!mc.ok) throw new Error(`map create failed: ${mc.message}`);
  k.offloadedMaps.set(m.id, { handle: mc.data.handle, map: m });
  const keys = new Uint8Array(new Uint32Array(Array.from({ length: DUMP }, (_, i) => Math.imul(i, 2654435761) >>> 0)).buffer);
  const values = new Uint8Array(DUMP * 8).map((_, i) => i & 0xff);
  const b = { inBatch: null, outBatch: new Uint8Array(4), keys, values, count: DUMP, elemFlags: 0, flags: 0 };
  const urc = await new GuestMapOps(k, drv).batch(BPF_MAP_UPDATE_BATCH, m, b);
  if (urc !== 0 || b.count !== DUMP) throw new Error(`update_batch: ${urc}, ${b.count} of ${DUMP}`);
  const dumpOnce = async () => {
    const io = { out: [] as string[], err: [] as string[], files: new Map<string, Uint8Array>() };
    const t0 = process.hrtime.bigint();
    const status = await bpftoolCommand(k, drv, ["map", "dump", "id", String(m.id)], io);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (status !== 0 || io.out.at(-1) !== `Found ${DUMP} elements`) {
      errors++;
      console.error(`dump: status ${status}, last line ${io.out.at(-1)}`);
    }
    return ms;
  };
  await dumpOnce(); // warm-up
  const dumpMs = await dumpOnce();

  const fmt = (x: number) => x.toFixed(x < 10 ? 2 : x < 1000 ? 1 : 0);
  if (placeErr !== null) console.log(`placement: ${placeErr}`);
  for (const { name, r } of phases) {
    console.log(`[${name}]`);
    console.log(`guest->host map update (pipelined, window ${WINDOW}): ${UPDATES} updates in ${r.upSec.toFixed(3)} s = ${r.ups.toFixed(0)} updates/s` +
      `   target >= ${TARGET_UPDATES_PER_SEC}/s, ratio ${(r.ups / TARGET_UPDATES_PER_SEC).toFixed(2)}x`);
    console.log(`round trip (map lookup, sequential, ${RTTS}): p50 ${fmt(r.p50)} us  p99 ${fmt(r.p99)} us  max ${fmt(r.max)} us` +
      `   target p50 <= ${TARGET_P50_US} us, ratio ${(r.p50 / TARGET_P50_US).toFixed(2)}x`);
    console.log(`cpu ms (updates + round trips): host ${r.cpu.host.toFixed(0)}  qemu ${r.cpu.qemu.toFixed(0)}  guest(driver, this process) ${r.cpu.self.toFixed(0)}` +
      `; load average before ${r.load0.map((x) => x.toFixed(2)).join(" ")}`);
  }
  console.log(`[both placements]`);
  console.log(formatWakeLatency(await measureWakeLatency()));
  console.log(`bpftool map dump (guest, offloaded hash map of ${DUMP} entries, one MAP_LOOKUP_BATCH): ${fmt(dumpMs)} ms` +
    `   target < ${TARGET_DUMP_MS} ms, ratio ${(dumpMs / TARGET_DUMP_MS).toFixed(2)}x`);
  console.log(`errors: ${errors} (${warmErrors} in the warm-up of ${Math.max(WARMUP, 4096)} updates and ${Math.ceil(WARMUP / 10)} lookups)`);
  console.log(`load average after: ${loadavg().map((x) => x.toFixed(2)).join(" ")}`);
  console.log(`node ${process.version}, ${process.platform}/${process.arch}`);
  drv.ch.close();
} finally {
  await procs.stopAll();
}
