// Case 1 of the RFC's cover letter: NIC-B's native XDP redirects every packet
// through a devmap (bulk 16, one flush per NAPI poll) into tun_xdp_xmit; vhost
// consumes 64 at a time and runs the program there (offload) or copies the
// packets into the guest, whose driver runs it (non-offload). The RFC: offload
// is about 5x faster.
import { paperCells, type Scenario } from "./types.ts";

export const scenario: Scenario = {
  name: "case1",
  title: "Case 1: XDP_REDIRECT to tun",
  description: "pktgen -> NIC-A == NIC-B, whose native XDP redirects through a devmap to the tap -> vhost -> guest. " +
    "xdp1 (count, XDP_DROP) and xdp2 (count, swap MACs, XDP_TX; the tap's Rx-path XDP drops what comes back) " +
    "offloaded to the tap's tun_recvmsg or attached in the guest's virtio_net driver.",
  topology: {},
  cells: paperCells(1),
  table: { kind: "paper", table: "case1" },
  expectations: [
    { kind: "between", what: "Case 1 offload: the producer's flush finds vhost awake, so it almost never pays a wake",
      source: "model", metric: "wakesPerPacket", cells: ["xdp1/offload", "xdp2/offload"], max: 0.05 },
    { kind: "greater", what: "xdp1: offload beats non-offload", source: "model", metric: "mpps", a: "xdp1/offload", b: "xdp1/non_offload" },
    { kind: "greater", what: "xdp2: offload beats non-offload", source: "model", metric: "mpps", a: "xdp2/offload", b: "xdp2/non_offload" },
    { kind: "greater", what: "xdp1: offload beats non-offload", source: "emulator", metric: "mpps", a: "xdp1/offload", b: "xdp1/non_offload" },
  ],
};
