// `npm run bench:datapath [-- --count N] [-- --json]`: the RFC's Case 1 and
// Case 2 runs through the host datapath on real threads (host/net): wall-clock
// Mpps of the measured program, CPU time of the process and of each datapath
// thread, wakes and copies per packet. Not CI-gating; on a shared 2-core
// machine the figures move with the load.
// Only the offload rows exist so far: the non-offload rows need the guest's
// virtqueue and virtio-net NAPI (issue 11, remaining work) and are listed as
// pending. With --json the last line is the JSON array of the rows.
import { runDatapath } from "../../host/net/datapath.ts";
import { PROGRAMS_DIR } from "../helpers/repo.ts";

const args = process.argv.slice(2);
const count = Number(args[args.indexOf("--count") + 1] ?? NaN) || 2_000_000;
const json = args.includes("--json");

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
    const cpu0 = process.cpuUsage();
    const r = await runDatapath({
      programsDir: PROGRAMS_DIR, nicProg: c === 1 ? "xdp_redirect_map.o" : null, offloadProg: `${program}.o`,
      rxProg: "xdp_drop.o", count,
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
      `errors ${row.errors}; CPU ms: process ${((cpu.user + cpu.system) / 1000).toFixed(0)}, producer thread ` +
      `${r.producerCpuMs.toFixed(0)}, vhost thread ${(r.vhostLoop.cpuMs ?? NaN).toFixed(0)}`);
  }
}
console.log("non-offload rows: pending (they need the guest's virtqueue and virtio-net NAPI)");
if (json) console.log(JSON.stringify(rows));
