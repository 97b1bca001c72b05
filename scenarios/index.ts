// Every scenario `vxo scenario list` shows and `vxo scenario run all` runs, in
// order. To add one: write scenarios/NAME.scenario.ts exporting `scenario`
// (see types.ts) and list it here.
import type { Scenario } from "./types.ts";
import { scenario as case1 } from "./case1.scenario.ts";
import { scenario as case2 } from "./case2.scenario.ts";
import { scenario as case2VhostPoll } from "./case2_vhost_poll.scenario.ts";
import { scenario as hookPlacement } from "./hook_placement.scenario.ts";
import { scenario as batchSweep } from "./batch_sweep.scenario.ts";
import { scenario as multiGuest } from "./multi_guest.scenario.ts";

export const SCENARIOS: readonly Scenario[] = [case1, case2, case2VhostPoll, hookPlacement, batchSweep, multiGuest];

/** The scenarios named (`all`: every one); unknown names throw, naming the known ones. */
export function pickScenarios(names: string[]): Scenario[] {
  if (names.length === 1 && names[0] === "all") return [...SCENARIOS];
  return names.map((n) => {
    const s = SCENARIOS.find((x) => x.name === n);
    if (s === undefined) throw new Error(`Unknown scenario '${n}' (known: ${SCENARIOS.map((x) => x.name).join(", ")}, all)`);
    return s;
  });
}
