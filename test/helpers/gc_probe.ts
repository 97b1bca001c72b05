// The no-allocation checks of the hot paths: a probe script run under
// `node --trace-gc` warms up, prints BEGIN, does N packets' (records', runs')
// work, prints END (and its figures). Any per-packet allocation (even 16
// bytes) over 2M packets is >= 32 MB of young-generation garbage, more than
// the largest semi-space, so V8 would have to scavenge between the markers.
import { execa } from "execa";

/**
 * Scavenges between the markers that do not point at the hot path: one can
 * come from outside the measured work (a stdout write buffered on the heap
 * while a loaded parent drains the pipe late, the optimizing compiler's
 * output landing), and was seen once in a full suite under load for the pcap
 * probe, whatever the record count (200k, 2M or 8M: the same single one).
 * A per-packet allocation of even 16 bytes over 2M packets is >= 32 MB, two
 * of the largest 16 MB semi-spaces, so it cannot stay under two scavenges;
 * the planted ones in these probes gave 21 to 94.
 */
export const ONE_OFF_SCAVENGES = 1;

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
