// The no-allocation checks of the hot paths: a probe script run under
// `node --trace-gc` warms up, prints BEGIN, does N packets' (records', runs')
// work, prints END (and its figures). Any per-packet allocation (even 16
// bytes) over 2M packets is >= 32 MB of young-generation garbage, more than
// the largest semi-space, so V8 would have to scavenge between the markers.
import { execa } from "execa";

/**
 * Runs the probe `script` (a .ts path) with `args` under --trace-gc. Returns its stdout and the
 * scavenges V8 reported between BEGIN and END. Throws when a marker is missing.
 */
export async function runGcProbe(script: string, args: readonly string[]): Promise<{ out: string; scavenges: number }> {
  const r = await execa("node", ["--trace-gc", "--import", "tsx", script, ...args]);
  const out = r.stdout, begin = out.indexOf("BEGIN\n"), end = out.indexOf("END", begin + 1);
  if (begin < 0 || end < 0) throw new Error(`probe ${script} printed no BEGIN/END:\n${out.slice(-2000)}`);
  const scavenges = out.slice(begin, end).split("\n").filter((l) => l.includes("Scavenge")).length;
  return { out, scavenges };
}
