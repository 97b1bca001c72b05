// The RFC's claim about Case 2, not fitted on: "vhost polling improves both
// numbers, but then non-offload also improves and stays higher than offload".
// Case 2 without and with vhost busy polling (QEMU's poll-us), both modes.
import { paperCells, type CellSpec, type Scenario } from "./types.ts";

const POLL_US = 50;
const label = (c: CellSpec, x: string): CellSpec => ({ ...c, x, series: `${c.program} ${c.mode.replace("_", "-")}` });

export const scenario: Scenario = {
  name: "case2-vhost-poll",
  title: `Case 2 with vhost busy polling (${POLL_US} us) — held out`,
  description: "Case 2 (bridge -> tun_net_xmit) with the vhost worker sleeping when idle (the RFC's measurement) and busy-polling " +
    `for ${POLL_US} us before it sleeps. Not fitted on: the RFC says polling raises both figures and non-offload stays above offload.`,
  topology: {},
  cells: [
    ...paperCells(2, {}, "nopoll ").map((c) => label(c, "no poll")),
    ...paperCells(2, { busyPollUs: POLL_US }, "poll ").map((c) => label(c, `poll ${POLL_US} us`)),
  ],
  table: { kind: "sweep", xLabel: "vhost polling" },
  expectations: [
    { kind: "rises", what: "busy polling raises every Case 2 figure", source: "model", metric: "mpps",
      pairs: [["nopoll xdp1/non_offload", "poll xdp1/non_offload"], ["nopoll xdp1/offload", "poll xdp1/offload"],
        ["nopoll xdp2/non_offload", "poll xdp2/non_offload"], ["nopoll xdp2/offload", "poll xdp2/offload"]] },
    { kind: "greater", what: "with polling, xdp1 non-offload stays above offload (the RFC's claim)", source: "model", metric: "mpps",
      a: "poll xdp1/non_offload", b: "poll xdp1/offload" },
    { kind: "greater", what: "with polling, xdp2 non-offload stays above offload (the RFC's claim)", source: "model", metric: "mpps",
      a: "poll xdp2/non_offload", b: "poll xdp2/offload" },
    { kind: "between", what: "with polling, the producer rarely finds vhost asleep", source: "model", metric: "wakesPerPacket",
      cells: ["poll xdp1/non_offload", "poll xdp1/offload", "poll xdp2/non_offload", "poll xdp2/offload"], max: 0.5 },
  ],
};
