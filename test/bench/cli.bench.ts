// CLI start-time benchmark (not CI-gating): wall time of whole `vxo` commands,
// from spawn to exit, beside `node -e ''` (the floor: starting Node itself).
// Each round runs every command once, in turn, so that the machine's drift
// falls on all of them alike; figures are medians over the rounds, and each
// ratio is the median of the rounds' own ratios to `node -e ''`.
// `guest exec` runs against a host, shim and guest this script starts (with
// xdp1.o offloaded from the guest first), and stops at the end. Its time
// includes the guest's own work: a dump of rxcnt's 256 entries is 512 control
// commands to the host (get_next_key + lookup each, as bpftool does them), so
// the same request is also timed from a client already connected, and a
// `bpftool map show` (one command, no host round trip) shows the start alone.
// Usage: npm run bench:cli [-- runs=10 tsx=1]   (tsx=1: also VXO_TSX=1, the sources through tsx)
import { spawn } from "node:child_process";
import path from "node:path";
import { Procs } from "../helpers/procs.ts";
import { connectCli } from "../../shared/proto/channel.ts";
import { MSG } from "../../shared/proto/messages.ts";
import { PROGRAMS_DIR, REPO_ROOT, VXO_BIN } from "../helpers/repo.ts";
import { numberSetting } from "../helpers/script_args.ts";

const RUNS = numberSetting("runs", 10);
const WITH_TSX = numberSetting("tsx", 0) === 1;
const XDP1 = path.join(PROGRAMS_DIR, "xdp1.o");
const GUEST = "bench-cli";

interface Cmd {
  label: string;
  argv: string[];
  env?: Record<string, string>;
  ms: number[];
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * Runs `node ARGV` to completion; returns the wall time in ms from spawn to exit. Throws if it fails.
 * Asynchronous, so that this process keeps draining the host's, shim's and guest's output meanwhile.
 */
function timeRun(c: Cmd, env: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(process.execPath, c.argv, { cwd: REPO_ROOT, env: { ...process.env, ...env, ...c.env }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (code === 0) resolve(ms);
      else reject(new Error(`${c.label}: exit ${code ?? signal}\n${out}`));
    });
  });
}

const procs = new Procs({ debug: false });
try {
  const host = await procs.host();
  const qemu = await procs.qemu(host.url, GUEST);
  const guestUrl = (await procs.guest(qemu.url, GUEST)).url;
  const off = await procs.cli(["guest", "exec", GUEST, "--", "ip", "link", "set", "dev", "eth0", "xdpoffload", "obj", XDP1, "sec", "xdp"]);
  if (off.exitCode !== 0) throw new Error(`offloading xdp1.o failed:\n${off.stdout}${off.stderr}`);

  const vxo = (label: string, args: string[], env?: Record<string, string>): Cmd => ({ label, argv: [VXO_BIN, ...args], env, ms: [] });
  const floor: Cmd = { label: "node -e ''", argv: ["-e", ""], ms: [] };
  const cmds: Cmd[] = [
    floor,
    vxo("vxo --help", ["--help"]),
    vxo("vxo prog load xdp1.o", ["prog", "load", XDP1]),
    vxo(`vxo guest exec ${GUEST} -- bpftool map dump name rxcnt`, ["guest", "exec", GUEST, "--", "bpftool", "map", "dump", "name", "rxcnt"]),
    vxo(`vxo guest exec ${GUEST} -- bpftool map show`, ["guest", "exec", GUEST, "--", "bpftool", "map", "show"]),
  ];
  if (WITH_TSX) {
    for (const c of cmds.slice(1)) cmds.push(vxo(`${c.label} (VXO_TSX=1)`, c.argv.slice(1), { VXO_TSX: "1" }));
  }
  // One untimed round: builds dist/ if a source changed, fills the page cache.
  // The dump request alone, from this process's client connected once (no Node start, no imports).
  const ch = await connectCli(guestUrl, "bench-cli");
  const dumpWork = async (): Promise<number> => {
    const t0 = process.hrtime.bigint();
    const r = await ch.request(MSG.EXEC, { argv: ["bpftool", "map", "dump", "name", "rxcnt"], files: [] }, 60_000);
    if (!r.ok || r.body.status !== 0) throw new Error(`dump from a connected client failed: ${r.ok ? r.body.stderr : r.message}`);
    return Number(process.hrtime.bigint() - t0) / 1e6;
  };
  const work: number[] = [];
  for (const c of cmds) await timeRun(c, procs.env);
  await dumpWork();
  for (let i = 0; i < RUNS; i++) {
    for (const c of cmds) c.ms.push(await timeRun(c, procs.env));
    work.push(await dumpWork());
  }
  ch.close();

  const width = Math.max(...cmds.map((c) => c.label.length));
  console.log(`start-to-exit wall time, median of ${RUNS} interleaved runs`);
  console.log(`${"command".padEnd(width)}  median ms   min ms   x node -e ''`);
  for (const c of cmds) {
    const ratio = median(c.ms.map((ms, i) => ms / floor.ms[i]!));
    console.log(`${c.label.padEnd(width)}  ${median(c.ms).toFixed(1).padStart(9)}  ${Math.min(...c.ms).toFixed(1).padStart(7)}  ${ratio.toFixed(2).padStart(12)}`);
  }
  console.log(`the dump request from a connected client: median ${median(work).toFixed(1)} ms (the guest's and host's work, in every guest exec of it)`);
  // The dump's start: its wall time less the same request's work, round by round.
  const dump = cmds[3]!;
  const start = dump.ms.map((ms, i) => ms - work[i]!);
  const startRatio = median(start.map((ms, i) => ms / floor.ms[i]!));
  console.log(`${"  start of the dump (wall less its work)".padEnd(width)}  ${median(start).toFixed(1).padStart(9)}  ${Math.min(...start).toFixed(1).padStart(7)}  ${startRatio.toFixed(2).padStart(12)}`);
  console.log(`node ${process.version}, ${process.platform}/${process.arch}; target: each vxo command within 2x of node -e ''`);
} finally {
  await procs.stopAll();
}
