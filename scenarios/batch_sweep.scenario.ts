// vhost's consume batch (VHOST_NET_BATCH / the RFC's MAX_TAP_BATCH, 64) from 1
// to 256, beside the measured sweep of the anchor note (C4: vhost TX with
// XDP_DROP on the tap; C5: vhost RX into the guest).
import type { CellSpec, Mode, Scenario } from "./types.ts";

const BATCHES = [1, 2, 4, 8, 16, 32, 64, 128, 256];
const cells: CellSpec[] = [];
for (const mode of ["offload", "non_offload"] as Mode[]) {
  for (const b of BATCHES) cells.push({ id: `xdp1/${mode} batch=${b}`, case: 1, program: "xdp1", mode, vhostBatch: b, x: b, series: `case1 xdp1 ${mode.replace("_", "-")}` });
}

export const scenario: Scenario = {
  name: "batch-sweep",
  title: "vhost batch 1..256 (Case 1, xdp1)",
  description: "Case 1, xdp1 offloaded and not, with vhost consuming 1 to 256 packets per tun_recvmsg; beside the anchor's " +
    "measured VHOST_NET_BATCH sweep (C4 vhost TX to an XDP_DROP tap, C5 vhost RX into a guest). The emulator's vhost consumes 64.",
  topology: {},
  cells,
  table: { kind: "sweep", xLabel: "vhost batch", logX: true },
  expectations: [
    { kind: "rises", what: "batching pays: 64 beats 1", source: "model", metric: "mpps",
      pairs: [["xdp1/offload batch=1", "xdp1/offload batch=64"], ["xdp1/non_offload batch=1", "xdp1/non_offload batch=64"]] },
  ],
};
