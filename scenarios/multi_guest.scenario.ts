// Several guests on one host, each with its own tap, vhost worker and
// offloaded xdp1, each sent the same traffic at once: aggregate and per-guest
// Mpps and how fairly the host shares itself out (Jain's index).
import type { CellSpec, Scenario } from "./types.ts";

const cells: CellSpec[] = [];
for (const kase of [1, 2] as const) {
  for (const guests of [1, 2, 4, 8]) {
    cells.push({ id: `case${kase} guests=${guests}`, case: kase, program: "xdp1", mode: "offload", guests, x: guests, series: `Case ${kase} xdp1 offload` });
  }
}

export const scenario: Scenario = {
  name: "multi-guest",
  title: "1, 2, 4, 8 guests on one host (xdp1 offloaded)",
  description: "One host, N guests (a device model and a guest kernel each), xdp1 offloaded by every guest, pktgen sending " +
    "Case 1 or Case 2 traffic to every tap at once. Mpps is the aggregate; per guest and fairness beside it.",
  topology: {},
  cells,
  table: { kind: "sweep", xLabel: "guests" },
  expectations: [],
};
