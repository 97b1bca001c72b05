// Protocol fuzz in CI: 10k malformed or mutated frames against a running shim
// and a running host (real processes). No crash, every well-framed request
// answered, and the endpoint's state unchanged (the endpoints are configured
// so that no mutated request can create anything: the shim has zero quotas,
// the host session lacks CAP_BPF). test/long/fuzz_proto.ts runs 100k.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Procs, waitFor, type VxoProc } from "../helpers/procs.ts";
import { fuzzEndpoint } from "../helpers/proto_fuzz.ts";
import { fetchHostShow } from "../../cli/host_cmd.ts";
import { monitorRemote } from "../../cli/monitor_cmd.ts";
import { MSG_SAMPLES } from "../helpers/proto_samples.ts";

const FRAMES = 5000; // per endpoint: 10k in all
const procs = new Procs();
let host: VxoProc, qemu: VxoProc;

beforeAll(async () => {
  host = await procs.host();
  qemu = await procs.qemu(host.url, "fz", ["--max-maps", "0", "--max-insns", "0"]);
});
afterAll(() => procs.stopAll());

describe("protocol fuzz", () => {
  it(`the host answers every well-framed request among ${FRAMES} mutated frames and keeps its state`, async () => {
    const before = await fetchHostShow(host.url);
    const hello = { ...(MSG_SAMPLES.HELLO as object), role: "qemu", name: "fuzz", capBpf: false };
    const r = await fuzzEndpoint(host.url, FRAMES, 0x5eed1, hello);
    expect(r.sent).toBe(FRAMES);
    expect(r.wellFramed).toBeGreaterThan(FRAMES / 4);
    expect(r.answered).toBe(r.wellFramed);
    expect(r.errnoReplies).toBeGreaterThan(0);
    const after = await waitFor("fuzz session closed", async () => {
      const s = await fetchHostShow(host.url);
      return s.guests.some((g) => g.name === "fuzz") ? undefined : s;
    });
    expect(after.maps).toEqual(before.maps);
    expect(after.progs).toEqual(before.progs);
    expect(after.guests.map((g) => g.name)).toEqual(before.guests.map((g) => g.name)); // the fuzz session went away
    expect(await Promise.race([host.exited, Promise.resolve("running")])).toBe("running");
  });

  it(`the shim answers every well-framed request among ${FRAMES} mutated frames and keeps its state`, async () => {
    const before = await monitorRemote(qemu.url, "info offload");
    const r = await fuzzEndpoint(qemu.url, FRAMES, 0x5eed2, MSG_SAMPLES.HELLO);
    expect(r.answered).toBe(r.wellFramed);
    expect(r.wellFramed).toBeGreaterThan(FRAMES / 4);
    // The fuzz driver disconnected: wait for the device to notice.
    const after = await waitFor("driver gone", async () => {
      const m = await monitorRemote(qemu.url, "info offload");
      return m.output.includes("guest (none)") ? m : undefined;
    });
    const strip = (s: string) => s.replace(/ctrl commands \d+/, "").replace(/guest \S+/, "");
    expect(strip(after.output)).toBe(strip(before.output));
    expect(after.output).toContain("maps 0/0");
    expect((await fetchHostShow(host.url)).maps).toEqual([]);
    expect(await Promise.race([qemu.exited, Promise.resolve("running")])).toBe("running");
  });
});
