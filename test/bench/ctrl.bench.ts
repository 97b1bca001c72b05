// Control-plane benchmark (not CI-gating): guest-to-host map update throughput
// with pipelined VIRTIO_NET_CTRL_BPF commands, and the p50/p99 round trip of
// one lookup, through a real shim and host process. The driver side runs in
// this process (it is the guest kernel's virtio_net). Prints CPU time per
// process: three processes share two cores.
// Usage: npm run bench:ctrl [-- updates=20000 window=256 rtts=2000]
import { readFileSync } from "node:fs";
import { Procs } from "../helpers/procs.ts";
import { VirtioNetDriver } from "../../guest/virtio_net.ts";
import { VIRTIO_NET_CTRL_BPF_MAP_CREATE, VIRTIO_NET_CTRL_BPF_MAP_LOOKUP, VIRTIO_NET_CTRL_BPF_MAP_UPDATE } from "../../shared/virtio/virtio_net.ts";
import { numberSetting } from "../helpers/script_args.ts";

const UPDATES = numberSetting("updates", 20_000);
const WINDOW = numberSetting("window", 256);
const RTTS = numberSetting("rtts", 2_000);

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
  const cpu0 = { host: cpuMs(host.pid), qemu: cpuMs(qemu.pid), self: process.cpuUsage() };

  // Pipelined updates: keep WINDOW commands in flight.
  let next = 0, done = 0, errors = 0;
  const t0 = process.hrtime.bigint();
  await new Promise<void>((resolve) => {
    const issue = () => {
      if (next >= UPDATES) return;
      const i = next++;
      void drv.bpfCmd(VIRTIO_NET_CTRL_BPF_MAP_UPDATE, { handle, key: key(i), value, flags: 0 }).then((r) => {
        if (!r.ok) errors++;
        if (++done === UPDATES) resolve();
        else issue();
      });
    };
    for (let w = 0; w < WINDOW; w++) issue();
  });
  const upSec = Number(process.hrtime.bigint() - t0) / 1e9;

  // Round trips, one at a time.
  const rtt: number[] = [];
  for (let i = 0; i < RTTS; i++) {
    const s = process.hrtime.bigint();
    const r = await drv.bpfCmd(VIRTIO_NET_CTRL_BPF_MAP_LOOKUP, { handle, key: key(i) });
    rtt.push(Number(process.hrtime.bigint() - s) / 1e3);
    if (!r.ok) errors++;
  }
  rtt.sort((a, b) => a - b);
  const pct = (p: number) => rtt[Math.min(rtt.length - 1, Math.floor((p / 100) * rtt.length))]!;
  const self = process.cpuUsage(cpu0.self);
  console.log(`guest->host map update (pipelined, window ${WINDOW}): ${UPDATES} updates in ${upSec.toFixed(3)} s = ${(UPDATES / upSec).toFixed(0)} updates/s`);
  console.log(`round trip (map lookup, sequential, ${RTTS}): p50 ${pct(50).toFixed(1)} us  p99 ${pct(99).toFixed(1)} us  max ${rtt.at(-1)!.toFixed(1)} us`);
  console.log(`errors: ${errors}`);
  console.log(`cpu ms: host ${(cpuMs(host.pid) - cpu0.host).toFixed(0)}  qemu ${(cpuMs(qemu.pid) - cpu0.qemu).toFixed(0)}  guest(driver, this process) ${((self.user + self.system) / 1000).toFixed(0)}`);
  console.log(`node ${process.version}, ${process.platform}/${process.arch}`);
  drv.ch.close();
} finally {
  await procs.stopAll();
}
