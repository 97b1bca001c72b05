// Protocol fuzz, long run: 100k mutated frames (half to a host, half to a
// shim, both real processes), the CI test's engine with more iterations.
// Usage: npx tsx test/long/fuzz_proto.ts [frames=100000] [seed=1]
import { Procs } from "../helpers/procs.ts";
import { fuzzEndpoint } from "../helpers/proto_fuzz.ts";
import { MSG_SAMPLES } from "../helpers/proto_samples.ts";
import { fetchHostShow } from "../../cli/host_cmd.ts";

const frames = Number(process.argv[2] ?? 100_000);
const seed = Number(process.argv[3] ?? 1);
const procs = new Procs();
let failed = false;
try {
  const host = await procs.host();
  const qemu = await procs.qemu(host.url, "fz", ["--max-maps", "0", "--max-insns", "0"]);
  const hostHello = { ...(MSG_SAMPLES.HELLO as object), role: "qemu", name: "fuzz", capBpf: false };
  for (const [what, url, hello, s] of [["host", host.url, hostHello, seed], ["shim", qemu.url, MSG_SAMPLES.HELLO, seed + 1]] as const) {
    const t0 = process.hrtime.bigint();
    const r = await fuzzEndpoint(url, Math.floor(frames / 2), s, hello, 60_000);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    const ok = r.answered === r.wellFramed;
    failed ||= !ok;
    console.log(`${what}: sent ${r.sent}  well-framed ${r.wellFramed}  answered ${r.answered} (errno ${r.errnoReplies}, ok ${r.okReplies})  ${ms.toFixed(0)} ms  ${ok ? "OK" : "UNANSWERED"}`);
  }
  const s = await fetchHostShow(host.url);
  console.log(`host objects after: maps ${s.maps.length} progs ${s.progs.length}`);
  for (const p of [host, qemu]) {
    const alive = (await Promise.race([p.exited, Promise.resolve("running")])) === "running";
    failed ||= !alive;
    console.log(`${p.kind} pid ${p.pid}: ${alive ? "running" : "DIED"}`);
  }
} finally {
  await procs.stopAll();
}
process.exitCode = failed ? 1 : 0;
