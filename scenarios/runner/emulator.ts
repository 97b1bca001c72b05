// The emulator side of a scenario: real processes. A topology is one vxo host
// (started here, or an already running one named by URL) and per guest a
// device model and a guest kernel (`vxo qemu`, `vxo guest`), all started
// through bin/vxo.js. A cell attaches its program to every guest's eth0
// (`ip -force link set dev eth0 xdpoffload|xdpdrv obj xdpN.o`), sends pktgen's
// Case 1 or Case 2 traffic into every tap at once (`vxo host pktgen --case N
// --tap TAP --json`), and reads what the program itself counted (the guest's
// `bpftool -j map lookup name rxcnt key 17 0 0 0`, before and after each run): the figure is
// the packets the measured program ran on per microsecond of the run (Mpps),
// as the RFC measured. A mode that does not carry packets to its program in
// this build (the program counted nothing) is reported as such, never as a figure.
import { Writable } from "node:stream";
import path from "node:path";
import type { HostStats, PktgenReport } from "../../host/tap_datapath.ts";
import type { CellSpec, Hook, Step } from "../types.ts";
import type { ChildSet } from "./children.ts";
import { PROGRAMS_DIR } from "./paths.ts";

const IPPROTO_UDP = 17;
/**
 * Packets each pktgen run sends first and does not count (`vxo host pktgen --warmup`), at most:
 * the producer thread starts anew with each run, and V8 optimises its path during the first
 * tens of thousands of packets; the measured packets then meet warm code, as in a long run.
 */
const RUN_WARMUP_MAX = 100_000;
/** How long the guest may take to run its program on what vhost placed, after pktgen's run. */
const GUEST_DRAIN_DEADLINE_MS = 30_000;

/** One measured pktgen run of a cell (all its guests at once). */
export interface EmulatorRun {
  /** Packets the measured program ran on, per microsecond of the longest guest's run. */
  mpps: number;
  perGuestMpps: number[];
  /** pktgen's run (first packet until vhost drained the last) plus guestLagUs. */
  usec: number;
  /** Non-offload: how long after pktgen's run the guest's program had counted every packet placed. */
  guestLagUs: number;
  /** The lag is known to within this (one read of the program's counter). */
  guestLagBoundUs: number;
  sent: number;
  dropped: number;
  tx: number;
  passed: number;
  errors: number;
  /** Packets the program counted itself (rxcnt deltas, all guests). */
  programRuns: number;
  /** vhost worker wakes (a sleeping worker really woken) per packet that reached the tap (its ring, or a producer-side hook). */
  wakesPerPacket: number;
  /** Payload copies per packet the program ran on: the host's stages (copies, rx_copies, tx_copies) and the guest's (`ethtool -S`). */
  copiesPerPacket: number;
  /** Mean packets per non-empty tun_recvmsg consume. */
  batchMean: number | null;
}

export type EmulatorCell =
  | { status: "ok"; runs: EmulatorRun[]; mpps: Spread; notes: string[]; counters?: HostStats }
  | { status: "unavailable" | "error"; reason: string };

/** Median and range of a figure over --runs. */
export interface Spread { median: number; min: number; max: number; n: number }

export function spread(xs: number[]): Spread {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  const median = n === 0 ? NaN : n % 2 === 1 ? s[(n - 1) >> 1]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
  return { median, min: s[0] ?? NaN, max: s[n - 1] ?? NaN, n };
}

/** What the host must be started with for a cell, or why the emulator cannot run it. */
export function hostArgsFor(cell: CellSpec): { key: string; args: string[] } | { unavailable: string } {
  if (cell.vhostBatch !== undefined && cell.vhostBatch !== 64) {
    return { unavailable: `not in the emulator: its vhost consumes the RFC's fixed batch of 64 (MAX_TAP_BATCH), not ${cell.vhostBatch}` };
  }
  const hook: Hook = cell.hook ?? "recvmsg";
  // Cells needing more guests reuse the topology and add guests to it (multi-guest: 8 pairs, not 1+2+4+8).
  const pollUs = cell.busyPollUs ?? 0;
  return { key: `hook=${hook} poll-us=${pollUs}`, args: ["--xdp-offload-hook", hook, "--poll-us", String(pollUs)] };
}

interface GuestProc { name: string; url: string; tap: string; hook: string; attached: { mode: string; program: string } | null }

/** The processes of one topology. */
export class Topology {
  readonly hostUrl: string;
  readonly guests: GuestProc[];
  readonly isOwnHost: boolean;

  readonly #children: ChildSet;
  readonly #tag: string;

  private constructor(hostUrl: string, guests: GuestProc[], isOwnHost: boolean, children: ChildSet, tag: string) {
    this.hostUrl = hostUrl;
    this.guests = guests;
    this.isOwnHost = isOwnHost;
    this.#children = children;
    this.#tag = tag;
  }

  /**
   * Starts the host (unless `hostUrl` names a running one) and `guests` device models and
   * guests; finds each guest's tap in `vxo host stats`.
   */
  static async start(children: ChildSet, o: { hostArgs: string[]; guests: number; hostUrl?: string; tag: string }): Promise<Topology> {
    let hostUrl = o.hostUrl;
    if (hostUrl === undefined) {
      const h = await children.start("host", "host", ["host", "--listen", "ws://127.0.0.1:0", "--name", "host", ...o.hostArgs]);
      hostUrl = h.url;
    }
    const t = new Topology(hostUrl, [], o.hostUrl === undefined, children, o.tag);
    await t.ensureGuests(o.guests);
    return t;
  }

  /** Adds guests (a device model and a guest kernel each, started side by side) until there are `n`. */
  async ensureGuests(n: number): Promise<void> {
    const { fetchHostStats } = await import("../../cli/host_cmd.ts");
    const added: GuestProc[] = [];
    // Names unique on a shared host: the runner's pid and the topology's tag.
    const startOne = async (i: number) => {
      const name = `s${process.pid}${this.#tag}vm${i}`;
      const q = await this.#children.start("qemu", name, ["qemu", "--host", this.hostUrl, "--listen", "ws://127.0.0.1:0", "--name", name]);
      const g = await this.#children.start("guest", name, ["guest", "--qemu", q.url, "--name", name, "--listen", "ws://127.0.0.1:0"]);
      added.push({ name, url: g.url, tap: "", hook: "", attached: null });
    };
    const want: number[] = [];
    for (let i = this.guests.length + 1; i <= n; i++) want.push(i);
    if (want.length === 0) return;
    await Promise.all(want.map(startOne));
    const st = await fetchHostStats(this.hostUrl);
    for (const g of added) {
      const t = st.taps.find((x) => x.guest === g.name);
      if (t === undefined) throw new Error(`guest ${g.name} has no tap on the host at ${this.hostUrl}`);
      g.tap = t.tap;
      g.hook = t.hook;
    }
    added.sort((a, b) => a.name.localeCompare(b.name, "en", { numeric: true }));
    this.guests.push(...added);
  }

  /** Runs the cell's steps; `packets` per measured run, `runs` runs; `onRun` after each run. */
  async runCell(cell: CellSpec, steps: readonly Step[], packets: number, runs: number, onRun: () => void): Promise<EmulatorCell> {
    const n = cell.guests ?? 1;
    await this.ensureGuests(n);
    // The cell's guests are the first n; the others carry no program and get no traffic.
    for (const g of this.guests.slice(n)) await this.#detach(g);
    const active = this.guests.slice(0, n);
    const out: EmulatorRun[] = [];
    const notes: string[] = [];
    let counters: HostStats | undefined;
    const hook = cell.hook ?? "recvmsg";
    const other = active.find((g) => g.hook !== hook);
    if (other !== undefined) {
      for (let k = 0; k < runs; k++) onRun();
      return { status: "unavailable", reason: `the host at ${this.hostUrl} runs offloaded programs at ${other.hook}, not ${hook} (vxo host --xdp-offload-hook)` };
    }
    for (const step of steps) {
      switch (step.do) {
        case "attach":
          for (const g of active) await this.#attach(g, cell);
          break;
        case "detach":
          for (const g of active) await this.#detach(g);
          break;
        case "warmup":
          await this.#traffic(cell, active, step.packets);
          break;
        case "traffic":
          for (let r = 0; r < runs; r++) {
            const run = await this.#traffic(cell, active, packets);
            onRun();
            if (run.sent > 0 && run.programRuns === 0) {
              for (let k = r + 1; k < runs; k++) onRun();
              return { status: "unavailable", reason: notRunning(cell, run.sent) };
            }
            out.push(run);
          }
          break;
        case "counters": {
          const { fetchHostStats } = await import("../../cli/host_cmd.ts");
          counters = await fetchHostStats(this.hostUrl);
          break;
        }
      }
    }
    if (out.length === 0) return { status: "unavailable", reason: "the scenario's steps have no measured traffic" };
    for (const r of out) {
      if (r.sent !== r.dropped + r.tx + r.passed + r.errors) notes.push(`conservation broken: sent ${r.sent} != ${r.dropped}+${r.tx}+${r.passed}+${r.errors}`);
    }
    return { status: "ok", runs: out, mpps: spread(out.map((r) => r.mpps)), notes, counters };
  }

  async #exec(g: GuestProc, argv: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
    const { guestExecRemote } = await import("../../cli/guest_cmd.ts");
    return guestExecRemote(g.url, argv);
  }

  async #attach(g: GuestProc, cell: CellSpec): Promise<void> {
    const word = cell.mode === "offload" ? "xdpoffload" : "xdpdrv";
    if (g.attached !== null && g.attached.mode !== word) await this.#detach(g);
    const obj = path.join(PROGRAMS_DIR, `${cell.program}.o`);
    const r = await this.#exec(g, ["ip", "-force", "link", "set", "dev", "eth0", word, "obj", obj, "sec", "xdp"]);
    if (r.status !== 0) throw new Error(`${g.name}: ip link set dev eth0 ${word} obj ${cell.program}.o: ${r.stderr.trim() || `status ${r.status}`}`);
    g.attached = { mode: word, program: cell.program };
  }

  async #detach(g: GuestProc): Promise<void> {
    if (g.attached === null) return;
    const r = await this.#exec(g, ["ip", "link", "set", "dev", "eth0", g.attached.mode, "off"]);
    if (r.status !== 0) throw new Error(`${g.name}: ip link set dev eth0 ${g.attached.mode} off: ${r.stderr.trim()}`);
    g.attached = null;
  }

  /**
   * The program's own count of UDP packets, rxcnt[IPPROTO_UDP] (xdp1 and xdp2 count every packet
   * under its IP protocol; pktgen sends UDP): one `bpftool map lookup`, not a 256-key dump through
   * guest, shim and host per run.
   */
  async #rxcnt(g: GuestProc): Promise<number> {
    const r = await this.#exec(g, ["bpftool", "-j", "map", "lookup", "name", "rxcnt", "key", String(IPPROTO_UDP), "0", "0", "0"]);
    if (r.status !== 0) throw new Error(`${g.name}: bpftool map lookup name rxcnt key ${IPPROTO_UDP} 0 0 0: ${r.stderr.trim() || `status ${r.status}`}`);
    const e = JSON.parse(r.stdout) as { value: string[] };
    let v = 0;
    for (let i = e.value.length - 1; i >= 0; i--) v = v * 256 + parseInt(e.value[i]!, 16);
    return v;
  }

  /** The guest's payload copies so far (`ethtool -S eth0`: every `*copies` counter), 0 if it has none. */
  async #guestCopies(g: GuestProc): Promise<number> {
    const r = await this.#exec(g, ["ethtool", "-S", "eth0"]);
    if (r.status !== 0) return 0;
    let n = 0;
    for (const m of r.stdout.matchAll(/^\s+(\w*copies): (\d+)$/gm)) n += Number(m[2]);
    return n;
  }

  async #traffic(cell: CellSpec, guests: GuestProc[], packets: number): Promise<EmulatorRun> {
    const { runPktgen } = await import("../../cli/host_cmd.ts");
    const quiet = new Writable({ write: (_c, _e, cb) => cb() });
    const copies0 = await Promise.all(guests.map((g) => this.#guestCopies(g)));
    const before = await Promise.all(guests.map((g) => this.#rxcnt(g)));
    const warmup = Math.min(packets, RUN_WARMUP_MAX);
    const reps: PktgenReport[] = await Promise.all(guests.map((g) => runPktgen(this.hostUrl, {
      dev: "nic0", count: packets, size: 64, rate: 0, flows: 1, case: cell.case, tap: g.tap, json: true, warmup,
    }, quiet)));
    // The program also counted (or, in the guest, will count) the warm-up's packets: taken off below.
    const warm = reps.map((r) => r.warmupProgramPackets);
    const tReply = performance.now();
    // pktgen's run ends when vhost has placed the last packet in the guest; without offload the guest's
    // NAPI may still be running the program on what it was given: wait (deadline) until the program has
    // counted every packet placed, and add that lag to the run's time. The lag is known to within one
    // read of the counter (lagBoundUs): a first read that already sees all counts as no lag.
    let after = await Promise.all(guests.map((g) => this.#rxcnt(g)));
    let lagUs = 0, lagBoundUs = (performance.now() - tReply) * 1000;
    if (cell.mode === "non_offload") {
      const placed = reps.map((r) => r.delta.vhost_net?.rx_packets ?? r.fates.passed);
      const isDone = () => after.every((a, i) => a - before[i]! - warm[i]! >= placed[i]!);
      const deadline = tReply + GUEST_DRAIN_DEADLINE_MS;
      while (!isDone() && performance.now() < deadline) {
        const t = performance.now();
        after = await Promise.all(guests.map((g) => this.#rxcnt(g)));
        lagUs = (performance.now() - tReply) * 1000;
        lagBoundUs = (performance.now() - t) * 1000;
      }
    }
    const copies1 = await Promise.all(guests.map((g) => this.#guestCopies(g)));
    const guestCopies = copies1.reduce((a, c, i) => a + c - copies0[i]!, 0);
    const counts = after.map((a, i) => a - before[i]! - warm[i]!);
    const usec = Math.max(...reps.map((r) => r.usec)) + lagUs;
    const sum = (f: (r: PktgenReport) => number) => reps.reduce((a, r) => a + f(r), 0);
    // Host-side payload copies: every stage's `copies`, `rx_copies`, `tx_copies` (not the NIC's DMA).
    const hostCopies = (r: PktgenReport) => Object.values(r.delta).reduce((a, c) => a + (c.copies ?? 0) + (c.rx_copies ?? 0) + (c.tx_copies ?? 0), 0);
    const sent = sum((r) => r.fates.sent);
    const consumes = sum((r) => (r.delta.tun_recv?.consume_calls ?? 0) - (r.delta.tun_recv?.consume_empty ?? 0));
    const programRuns = counts.reduce((a, b) => a + b, 0);
    // As the model counts them: per packet that reached the tap (its ring, or a producer-side hook).
    const reached = Math.max(sum((r) => r.delta.tun_xmit?.tx_packets ?? 0), programRuns);
    return {
      mpps: usec > 0 ? programRuns / usec : 0,
      perGuestMpps: counts.map((c, i) => (reps[i]!.usec + lagUs > 0 ? c / (reps[i]!.usec + lagUs) : 0)),
      usec,
      guestLagUs: Math.round(lagUs),
      guestLagBoundUs: Math.round(lagBoundUs),
      sent,
      dropped: sum((r) => r.fates.dropped),
      tx: sum((r) => r.fates.tx),
      passed: sum((r) => r.fates.passed),
      errors: sum((r) => r.fates.errors),
      programRuns,
      wakesPerPacket: reached > 0 ? sum((r) => r.delta.vhost_wakers?.wakes ?? 0) / reached : 0,
      copiesPerPacket: programRuns > 0 ? (sum(hostCopies) + guestCopies) / programRuns : 0,
      batchMean: consumes > 0 ? sum((r) => r.delta.tun_recv?.consumed ?? 0) / consumes : null,
    };
  }
}

function notRunning(cell: CellSpec, sent: number): string {
  if (cell.mode === "non_offload") {
    return `not in the emulator yet: ${cell.program} attached in the guest's driver (xdpdrv) ran on 0 of ${sent} packets ` +
      "(this build does not carry packets into the guest: non-offload datapath of issue 11)";
  }
  return `the offloaded ${cell.program} ran on 0 of ${sent} packets (see vxo host stats)`;
}
