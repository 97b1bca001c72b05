// `npm run bench:datapath [-- --count N] [-- --json] [-- --tx-queue-len N]
// [-- --busyloop-us N] [-- --only 1/xdp1]`: the RFC's Case 1 and
// Case 2 runs through the host datapath on real threads (host/net): wall-clock
// Mpps of the measured program, CPU time of the process and of each datapath
// thread, wakes and copies per packet. Not CI-gating; on a shared 2-core
// machine the figures move with the load.
// Only the offload rows exist so far: the non-offload rows need the guest's
// virtqueue and virtio-net NAPI (issue 11, remaining work) and are listed as
// pending. With --json the last line is the JSON array of the rows.
// --tx-queue-len sets the tap's ring (default 1000), --busyloop-us vhost's
// busy poll (QEMU's poll-us, default 0), --only runs one row ("2/xdp1").
// Each row also prints the tail drops at the tun ring; the first line is the
// load average, since the threads share this machine's 2 cores.
import { loadavg } from "node:os";
import { runDatapath } from "../../host/net/datapath.ts";
import { PROGRAMS_DIR } from "../helpers/repo.ts";

const args = process.argv.slice(2);
const opt = (name: string): string | undefined => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const count = Number(opt("--count") ?? NaN) || 2_000_000;
const json = args.includes("--json");
const txQueueLen = opt("--tx-queue-len") === undefined ? undefined : Number(opt("--tx-queue-len"));
const busyloopUs = Number(opt("--busyloop-us") ?? 0);
const only = opt("--only");
console.log(`load average ${loadavg().map((x) => x.toFixed(2)).join(" ")}; tx_queue_len ${txQueueLen ?? 1000}, ` +
  `busyloop ${busyloopUs} us, ${count} packets per row`);

interface Row {
  case: 1 | 2;
  program: "xdp1" | "xdp2";
  mode: "offload" | "non-offload";
  sent: number;
  dropped: number;
  tx: number;
  passed: number;
  errors: number;
  mpps: number;
  wakesPerPacket: number;
  copiesPerPacket: number;
}

const rows: Row[] = [];
for (const c of [1, 2] as const) {
  for (const program of ["xdp1", "xdp2"] as const) {
    if (only !== undefined && only !== `${c}/${program}`) continue;
    const cpu0 = process.cpuUsage();
    const r = await runDatapath({
      programsDir: PROGRAMS_DIR, nicProg: c === 1 ? "xdp_redirect_map.o" : null, offloadProg: `${program}.o`,
      rxProg: "xdp_drop.o", count, txQueueLen, busyloopTimeoutNs: busyloopUs * 1000,
    });
    const cpu = process.cpuUsage(cpu0);
    const x = r.counters.tun_xdp!;
    const processed = x.off_drop! + x.off_tx! + x.off_pass! + x.off_redirect! + x.off_aborted! + x.off_unknown!;
    const row: Row = {
      case: c, program, mode: "offload", ...r.fates, mpps: processed / r.wallMs / 1000,
      wakesPerPacket: r.counters.vhost_wakers!.wakes! / r.fates.sent,
      copiesPerPacket: (r.counters.tun_recv!.copies! + r.counters.bridge!.copies!) / r.fates.sent,
    };
    rows.push(row);
    console.log(`case ${c} ${program} offload: ${row.mpps.toFixed(3)} Mpps (${processed} of ${r.fates.sent} processed in ` +
      `${r.wallMs.toFixed(0)} ms), wakes/pkt ${row.wakesPerPacket.toFixed(4)}, copies/pkt ${row.copiesPerPacket}, ` +
      `errors ${row.errors} (tail drops at the tun ring ${r.counters.tun_xmit!.tx_dropped}); CPU ms: process ${((cpu.user + cpu.system) / 1000).toFixed(0)}, producer thread ` +
      `${r.producerCpuMs.toFixed(0)}, vhost thread ${(r.vhostLoop.cpuMs ?? NaN).toFixed(0)}`);
  }
}
console.log("non-offload rows: pending (they need the guest's virtqueue and virtio-net NAPI)");
if (json) console.log(JSON.stringify(rows));
