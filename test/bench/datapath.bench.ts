// `npm run bench:datapath [-- --count N] [-- --warmup N] [-- --json] [-- --tx-queue-len N]
// [-- --busyloop-us N] [-- --only 1/xdp1/offload]`: the RFC's eight runs
// (Case 1 and Case 2 x xdp1 and xdp2 x offload and non-offload) through the
// datapath on real threads: pktgen/NIC/devmap or bridge/tun on a producer
// thread, the vhost worker thread, and the guest's virtio-net NAPI on a guest
// thread with its own BPF kernel (frames cross through the device's
// shared-memory queues, as they cross a guest process's socket). Each row
// first sends --warmup packets (default 1M) that are not measured, as a long
// pktgen run's first second is not: every figure below is of the --count
// packets after it (CPU of the process and of the vhost and guest threads
// include the warm-up; the producer thread's does not). Prints
// wall-clock Mpps of the measured program (offload: the program in the host's
// tun_recvmsg; non-offload: the program in the guest's NAPI), CPU time of the
// process and of each thread, wakes and copies per packet, and under each row
// the wake-up protocol's counters (tun consume batch, handle_rx runs, and what
// each sk_data_ready found: the poll disarmed, the work queued, the worker
// running, or the worker asleep: a wake). Not CI-gating; on a
// shared 2-core machine the figures move with the load.
// With --json the last line is the JSON array of the rows
// ({case, program, mode, sent, dropped, tx, passed, errors, mpps, wakesPerPacket, copiesPerPacket}).
// --tx-queue-len sets the tap's ring (default 1000), --busyloop-us vhost's
// busy poll (QEMU's poll-us, default 0), --only runs one row ("2/xdp1/offload").
// The first line is the load average, since the threads share this machine's 2 cores; the second
// the machine's thread wake latency (test/helpers/wake_latency.ts).
import { loadavg } from "node:os";
import { runDatapath, subCounters } from "../../host/net/datapath.ts";
import { PROGRAMS_DIR } from "../helpers/repo.ts";
import { formatWakeLatency, measureWakeLatency } from "../helpers/wake_latency.ts";

const args = process.argv.slice(2);
const opt = (name: string): string | undefined => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const count = Number(opt("--count") ?? NaN) || 2_000_000;
// Sent first and not measured: the RFC's figures are a long pktgen run's steady state, not V8 optimising the paths.
const warmup = opt("--warmup") === undefined ? 1_000_000 : Number(opt("--warmup"));
const json = args.includes("--json");
const txQueueLen = opt("--tx-queue-len") === undefined ? undefined : Number(opt("--tx-queue-len"));
const busyloopUs = Number(opt("--busyloop-us") ?? 0);
const only = opt("--only");
console.log(`load average ${loadavg().map((x) => x.toFixed(2)).join(" ")}; tx_queue_len ${txQueueLen ?? 1000}, ` +
  `busyloop ${busyloopUs} us, ${count} packets per row after a warm-up of ${warmup}`);
// What a wake costs on this machine decides whether the per-packet wake of Case 2 can show at all.
console.log(formatWakeLatency(await measureWakeLatency()));

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

const sum = (c: Record<string, number>, keys: string[]) => keys.reduce((a, k) => a + (c[k] ?? 0), 0);
const rows: Row[] = [];
for (const c of [1, 2] as const) {
  for (const program of ["xdp1", "xdp2"] as const) {
    for (const mode of ["offload", "non-offload"] as const) {
      if (only !== undefined && only !== `${c}/${program}/${mode}`) continue;
      const cpu0 = process.cpuUsage();
      const off = mode === "offload";
      const r = await runDatapath({
        programsDir: PROGRAMS_DIR, nicProg: c === 1 ? "xdp_redirect_map.o" : null, offloadProg: off ? `${program}.o` : null,
        guestProg: off ? null : `${program}.o`, rxProg: "xdp_drop.o", count, warmup, txQueueLen, busyloopTimeoutNs: busyloopUs * 1000,
        timeoutMs: 300_000,
      });
      const cpu = process.cpuUsage(cpu0);
      // The measured packets' counts: the warm-up's are taken off.
      const k = r.warmupCounters === null ? r.counters : subCounters(r.counters, r.warmupCounters), g = k.guest!, vn = k.vhost_net!;
      // Packets the measured program ran on: in the host's tun_recvmsg, or in the guest's NAPI.
      const processed = off ? sum(k.tun_xdp!, ["off_drop", "off_tx", "off_pass", "off_redirect", "off_aborted", "off_unknown"])
        : sum(g, ["xdp_drop", "xdp_tx", "xdp_pass", "xdp_other"]);
      // Payload copies: into the USED record and out of it into the guest buffer (RX); into the send
      // queue's record, into the device's staging slot, into vhost's page (TX).
      const copies = vn.rx_copies! + g.rx_copies! + g.tx_copies! + vn.tx_staging_copies! + vn.tx_copies! +
        k.tun_recv!.copies! + k.bridge!.copies!;
      const row: Row = {
        case: c, program, mode, ...r.fates, mpps: processed / r.wallMs / 1000,
        wakesPerPacket: k.vhost_wakers!.wakes! / r.fates.sent, copiesPerPacket: copies / r.fates.sent,
      };
      rows.push(row);
      console.log(`case ${c} ${program} ${mode}: ${row.mpps.toFixed(3)} Mpps (${processed} of ${r.fates.sent} processed in ` +
        `${r.wallMs.toFixed(0)} ms), wakes/pkt ${row.wakesPerPacket.toFixed(4)} (+ guest doorbells ${(k.vhost_kicks!.wakes! / r.fates.sent).toFixed(4)}), ` +
        `copies/pkt ${row.copiesPerPacket.toFixed(3)}, errors ${row.errors} (tail drops at the tun ring ${k.tun_xmit!.tx_dropped}); ` +
        `CPU ms: process ${((cpu.user + cpu.system) / 1000).toFixed(0)}, producer thread ${r.producerCpuMs.toFixed(0)}, ` +
        `vhost thread ${(r.vhostLoop.cpuMs ?? NaN).toFixed(0)}, guest thread ${r.guestCpuMs.toFixed(0)}`);
      // The wake-up protocol's own counters: what decides whether a per-packet wake can arise.
      const tr = k.tun_recv!, w = k.vhost_wakers!, att = w.poll_attempts!;
      const batches = tr.consume_calls! - tr.consume_empty!;
      const pc = (x: number): string => `${att > 0 ? ((100 * x) / att).toFixed(1) : "-"}%`;
      console.log(`  counters: tun consume batch mean ${batches > 0 ? (tr.consumed! / batches).toFixed(1) : "-"} (max ${tr.batch_max}), ` +
        `handle_rx ${vn.rx_runs! > 0 ? (vn.rx_packets! / vn.rx_runs!).toFixed(1) : "-"} pkts to the guest per run, ${vn.rx_runs} runs for ${w.wakes} producer wakes; ` +
        `sk_data_ready ${att}: poll disarmed ${pc(w.poll_disarmed!)}, work queued ${pc(w.wake_queued!)}, worker running ${pc(w.wake_running!)}, woke it ${pc(w.wakes!)}`);
    }
  }
}
const ratio = (c: number, p: string) => {
  const o = rows.find((x) => x.case === c && x.program === p && x.mode === "offload");
  const n = rows.find((x) => x.case === c && x.program === p && x.mode === "non-offload");
  return o !== undefined && n !== undefined ? (o.mpps / n.mpps).toFixed(2) : "-";
};
console.log(`offload/non-offload: case 1 xdp1 ${ratio(1, "xdp1")}, xdp2 ${ratio(1, "xdp2")}; case 2 xdp1 ${ratio(2, "xdp1")}, xdp2 ${ratio(2, "xdp2")}`);
if (json) console.log(JSON.stringify(rows));
