// The verifier's safety property on random structured programs (packet
// parsing with every bounds-check form, variable offsets, parsing loops, map
// lookups with null checks, spills and fills, packet-moving helpers, ALU),
// a share of them with a deliberately broken block: every program our
// verifier accepts runs on random packets without tripping the interpreter's
// runtime bounds check. Fixed seeds; test/long/property_verifier.ts runs more.
import { describe, expect, it } from "vitest";
import { errnoName } from "../../../../shared/errno.ts";
import { mulberry32 } from "../../../helpers/prng.ts";
import { runProperty } from "./corpus/property_check.ts";

const CI_PROGRAMS = 3000;
const PACKETS_PER_PROGRAM = 4;

describe("verifier property: accepted programs never fault at run time", () => {
  for (const [seed, brokenRate] of [[11, 0], [12, 0.25]] as const) {
    it(`${CI_PROGRAMS / 2} programs (seed ${seed}, broken-block rate ${brokenRate}) x ${PACKETS_PER_PROGRAM} random packets`, () => {
      const c = runProperty(mulberry32(seed), CI_PROGRAMS / 2, PACKETS_PER_PROGRAM, brokenRate);
      console.log(`property seed ${seed}: ${c.programs} programs, accepted ${c.accepted} (${c.acceptedBroken} with a broken-variant block), ` +
        `rejected ${c.rejected} (${[...c.rejectErrnos].map(([e, n]) => `${errnoName(e)} ${n}`).join(", ") || "none"}), ` +
        `${c.runs} runs, ${c.violations.length} violations`);
      expect(c.violations.slice(0, 3)).toEqual([]);
      // The generator's correct programs are accepted by the Linux kernel; ours must take most of them too.
      if (brokenRate === 0) expect(c.accepted).toBeGreaterThan(c.programs * 0.9);
      else expect(c.rejected).toBeGreaterThan(0);
    }, 300_000);
  }
});
