// Case 2 of the RFC's cover letter: NIC-B passes packets up to the bridge,
// whose tun_net_xmit puts one packet in the ring and calls sk_data_ready for
// each, waking the vhost thread nearly every time; vhost finds one packet,
// runs the program and sleeps again. The RFC: offload gains nothing here.
import { paperCells, type Scenario } from "./types.ts";

export const scenario: Scenario = {
  name: "case2",
  title: "Case 2: through the bridge",
  description: "pktgen -> NIC-A == NIC-B -> bridge -> tun_net_xmit (one packet, one wake attempt each) -> vhost -> guest. " +
    "xdp1 and xdp2, offloaded to the tap's tun_recvmsg or attached in the guest's virtio_net driver.",
  topology: {},
  cells: paperCells(2),
  table: { kind: "paper", table: "case2" },
  expectations: [
    // The RFC's explanation is about offload: vhost runs the program in tun_recvmsg, finds nothing for the
    // guest and sleeps again. Non-offload packets go on to the guest and keep handle_rx in its loop.
    { kind: "between", what: "Case 2 offload: tun_net_xmit wakes vhost for (nearly) every packet",
      source: "model", metric: "wakesPerPacket", cells: ["xdp1/offload", "xdp2/offload"], min: 0.5, max: 1.1 },
  ],
};
