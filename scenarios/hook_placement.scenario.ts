// Where the host runs the offloaded program: vhost's tun_recvmsg (the RFC's
// choice), or the producer's tun_net_xmit / tun_xdp_xmit (the two it
// rejected). Same verdicts everywhere; the wakes, copies and the thread that
// pays for the program differ.
import type { CellSpec, Hook, Program, Scenario } from "./types.ts";

// A producer-side hook sees only its own path's frames: tun_xdp_xmit carries Case 1 (devmap), tun_net_xmit Case 2 (bridge).
const HOOKS: Record<1 | 2, Hook[]> = { 1: ["recvmsg", "xdp_xmit"], 2: ["recvmsg", "net_xmit"] };
const cells: CellSpec[] = [];
for (const kase of [1, 2] as const) {
  for (const program of ["xdp1", "xdp2"] as Program[]) {
    for (const hook of HOOKS[kase]) {
      cells.push({ id: `case${kase} ${program} ${hook}`, case: kase, program, mode: "offload", hook, x: hook, series: `Case ${kase} ${program}` });
    }
  }
}

export const scenario: Scenario = {
  name: "hook-placement",
  title: "Where the offloaded program runs: tun_recvmsg vs tun_net_xmit vs tun_xdp_xmit",
  description: "Case 1 and Case 2, xdp1 and xdp2 offloaded, with the host running the program in vhost's tun_recvmsg (the RFC's " +
    "placement), or in the producer: tun_xdp_xmit for Case 1 (the devmap path), tun_net_xmit for Case 2 (the bridge path); " +
    "a producer hook never sees the other path's frames. vxo host --xdp-offload-hook.",
  topology: {},
  cells,
  table: { kind: "sweep", xLabel: "hook" },
  expectations: [
    { kind: "between", what: "Case 2 at recvmsg: a wake per packet", source: "model", metric: "wakesPerPacket",
      cells: ["case2 xdp1 recvmsg", "case2 xdp2 recvmsg"], min: 0.5, max: 1.1 },
  ],
};
