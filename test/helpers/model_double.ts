// A stand-in for scenarios/model/index.ts's runModel() in tests of the
// scenario runner and its reports (never in what `npm start` or `vxo scenario
// run` print): figures that move with every option, fates that conserve.
import type { ModelOpts, ModelResult } from "../../scenarios/types.ts";

const BASE: Record<string, number> = {
  "1 xdp1 non_offload": 2.4, "1 xdp1 offload": 12.5, "1 xdp2 non_offload": 1.55, "1 xdp2 offload": 7.0,
  "2 xdp1 non_offload": 1.0, "2 xdp1 offload": 0.98, "2 xdp2 non_offload": 1.08, "2 xdp2 offload": 1.0,
};

export const modelCalls: ModelOpts[] = [];

export async function runModelDouble(o: ModelOpts): Promise<ModelResult> {
  modelCalls.push(o);
  const batch = o.vhostBatch ?? 64, guests = o.guests ?? 1, poll = o.busyPollUs ?? 0;
  const hook = o.hook === "net_xmit" ? 0.8 : o.hook === "xdp_xmit" ? 0.9 : 1;
  const mpps = BASE[`${o.case} ${o.program} ${o.mode}`]! * (batch / (batch + 4)) * (64 + 4) / 64 * hook * (poll > 0 ? (o.mode === "offload" ? 1.3 : 1.5) : 1);
  const sent = o.packets;
  const run = Math.floor(sent * 0.95);
  return {
    mpps: mpps * guests, perGuestMpps: Array.from({ length: guests }, () => mpps),
    sent, dropped: o.program === "xdp1" ? run : 0, tx: o.program === "xdp2" ? run : 0, passed: 0, errors: sent - run,
    wakesPerPacket: poll > 0 ? 0.1 : o.case === 2 ? 0.93 : 0.01, copiesPerPacket: o.mode === "offload" ? 0 : 1, batchMean: o.case === 2 ? 1.1 : Math.min(batch, 48),
  };
}
