// The virtqueue datapath allocates nothing per packet: device fill (copy into a
// frame record), frame codec, shadow ring, driver's used ring and copy into the
// guest buffer, NAPI poll, refill, kicks and interrupts; and the transmit
// queue (bytes shipped with descriptors, staged by the device, completions). Checked as the
// interpreter's probe is: no scavenge while 2M packets move (any per-packet
// allocation of 16 bytes or more would be >= 32 MB of young garbage).
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ONE_OFF_SCAVENGES, runGcProbe } from "../../helpers/gc_probe.ts";

describe("virtqueue datapath", () => {
  for (const ev of ["1", "0"]) {
    it(`allocates nothing per packet over 2M packets (event idx ${ev === "1" ? "on" : "off"})`, async () => {
      const probe = path.join(path.dirname(new URL(import.meta.url).pathname), "alloc_probe_vring.ts");
      const { out, scavenges } = await runGcProbe(probe, ["2000000", ev]);
      expect(out).toMatch(/END -?\d+ \d+/);
      expect(scavenges).toBeLessThanOrEqual(ONE_OFF_SCAVENGES);
      const m = /END -?\d+ (\d+) (\d+)/.exec(out)!;
      expect(Number(m[1])).toBeGreaterThanOrEqual(2_200_000);
      expect(Number(m[2])).toBeGreaterThanOrEqual(2_000_000); // as many transmitted
    }, 120_000);
  }
});
