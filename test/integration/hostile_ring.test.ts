// A malicious guest against the host through real processes: it negotiates
// with its qemu-shim like any driver, starts its data queues (VHOST_START),
// connects to the host's data channel and writes rings no driver would: a
// descriptor loop, an address outside its memory, a zero-length buffer, an
// avail index running a whole ring ahead. Each marks its device broken
// (NEEDS_RESET) with QEMU's reason, told to the driver and shown by
// `vxo host stats`; the guest's reset makes it usable again. Meanwhile the
// host and another guest on it keep running, traffic included.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Procs, waitFor, type VxoProc } from "../helpers/procs.ts";
import { VirtioNetDriver } from "../../guest/virtio_net.ts";
import { MSG } from "../../shared/proto/messages.ts";
import { VhostUserChannel } from "../../shared/virtio/vhost_user_channel.ts";
import { FrameWriter, readFrame, VQF_REC_AVAIL_IDX, VQF_REC_KICK, VQF_REC_NEEDS_RESET, VQF_REC_RESET } from "../../shared/virtio/vring_frame.ts";
import { VRING_DESC_F_NEXT, VRING_DESC_F_WRITE } from "../../shared/virtio/virtio_ring.ts";
import type { HostStats, PktgenReport } from "../../host/tap_datapath.ts";

const procs = new Procs();
let host: VxoProc;
let good: VxoProc;
const MEM = 1 << 20;

async function cliOk(args: string[]): Promise<string> {
  const r = await procs.cli(args);
  if (r.exitCode !== 0) throw new Error(`vxo ${args.join(" ")}: exit ${r.exitCode}\n${r.stderr}`);
  return r.stdout;
}
const stats = async (): Promise<HostStats> => JSON.parse(await cliOk(["host", "stats", host.url, "--json"])) as HostStats;
const tapOf = async (guest: string) => (await stats()).taps.find((t) => t.guest === guest)!;
const pktgen = async (tap: string, count: number) =>
  JSON.parse(await cliOk(["host", "pktgen", host.url, "--dev", "nic0", "--tap", tap, "--count", String(count), "--case", "1",
    "--rate", "20000", "--json"])) as PktgenReport;

/** The attacker's driver end: raw records on its data channel, NEEDS_RESET reasons it was told. */
class Evil {
  readonly chan: VhostUserChannel;
  readonly w: FrameWriter;
  readonly told: string[] = [];
  private availIdx = 0;

  constructor(chan: VhostUserChannel) {
    this.chan = chan;
    this.w = new FrameWriter(chan);
    chan.onFrame = (b, off, len) => {
      readFrame(b, off, len, {
        onRecord: (type, _q, arg, bb, body) => {
          if ((type & 0xff) === VQF_REC_NEEDS_RESET) this.told.push(Buffer.from(bb.subarray(body, body + arg)).toString());
          return true;
        },
      });
    };
  }

  /** One chain of `descs` [index, next, flags, len, addr] on queue `q` as slot `availIdx`, published and kicked. */
  chain(q: number, descs: Array<[number, number, number, number, number]>, availIdx?: number): void {
    let off = this.w.beginAvail(q, this.availIdx, descs[0]![0], descs.length);
    for (const [i, next, flags, len, addr] of descs) off = this.w.availDesc(off, i, next, flags, len, addr, 0);
    this.availIdx = availIdx ?? this.availIdx + 1;
    this.w.simple(VQF_REC_AVAIL_IDX, q, this.availIdx);
    this.w.simple(VQF_REC_KICK, q, this.availIdx);
    this.w.flush();
  }

  /** Device reset (status 0): both sides start from empty rings. */
  reset(): void {
    this.availIdx = 0;
    this.w.simple(VQF_REC_RESET, 0, 0);
    this.w.flush();
  }
}

/** Traffic into the good guest: every packet accounted for, and it receives (tail drops only if a thread stalled). */
async function goodTraffic(): Promise<void> {
  const r = await pktgen((await tapOf("good")).tap, 2000);
  expect(r.fates.sent).toBe(2000);
  expect(r.fates.sent).toBe(r.fates.dropped + r.fates.tx + r.fates.passed + r.fates.errors);
  expect(r.fates.passed).toBeGreaterThan(0);
  expect(r.fates.passed + r.delta.tun_xmit!.tx_dropped!).toBe(2000);
}

let evil: Evil;
let evilTap: string;

beforeAll(async () => {
  host = await procs.host();
  const qGood = await procs.qemu(host.url, "good");
  good = await procs.guest(qGood.url, "good");
  const qEvil = await procs.qemu(host.url, "evil");
  const drv = await VirtioNetDriver.probe(qEvil.url, "evil");
  const r = await drv.ch.request(MSG.VHOST_START, { memSize: MEM });
  expect(r.ok).toBe(true);
  if (!r.ok) return;
  evil = new Evil(await VhostUserChannel.connect(r.body.path));
  evil.reset();
  await waitFor("the evil guest's data channel", async () => ((await tapOf("evil"))?.guestConnected ? true : undefined), 20_000);
  evilTap = (await tapOf("evil")).tap;
}, 60_000);
afterAll(() => procs.stopAll());

const W = VRING_DESC_F_WRITE, N = VRING_DESC_F_NEXT;
const SHAPES: Array<{ shape: string; reason: string; send: (e: Evil) => void }> = [
  { shape: "descriptor loop", reason: "Looped descriptor", send: (e) => e.chain(0, [[0, 1, W | N, 2048, 0x1000], [1, 0, W | N, 2048, 0x2000]]) },
  { shape: "address outside guest memory", reason: "virtio: bogus descriptor or out of resources",
    send: (e) => e.chain(0, [[0, 0, W, 2048, MEM + 0x1000]]) },
  { shape: "zero-length buffer", reason: "virtio: zero sized buffers are not allowed", send: (e) => e.chain(0, [[0, 0, W, 0, 0x1000]]) },
  { shape: "avail index a ring ahead", reason: "Guest moved used index from 0 to 1000", send: (e) => e.chain(0, [[0, 0, W, 2048, 0x1000]], 1000) },
];

describe("hostile rings from a guest process", () => {
  it.each(SHAPES)("$shape: the device is broken with its reason; the host and the other guest keep running", async ({ reason, send }) => {
    // From a fresh device (a shape that failed may have left it broken).
    evil.reset();
    await waitFor("a healthy device", async () => ((await tapOf("evil")).virtio!.broken ? undefined : true), 20_000);
    await goodTraffic();
    const told0 = evil.told.length;
    send(evil);
    // The receive queue is read when a packet is to be placed: traffic into the evil guest's tap.
    const r = await pktgen(evilTap, 500);
    expect(r.fates.sent).toBe(r.fates.dropped + r.fates.tx + r.fates.passed + r.fates.errors);
    const t = await waitFor("the device to be marked broken", async () => {
      const x = await tapOf("evil");
      return x.virtio?.broken === true ? x : undefined;
    }, 20_000);
    expect(t.virtio!.reason).toBe(reason);
    // The driver was told (the config interrupt after virtio_error()), with the same reason.
    await waitFor("NEEDS_RESET at the driver", async () => (evil.told.length > told0 ? true : undefined), 20_000);
    expect(evil.told.at(-1)).toBe(reason);
    // Nothing from the bad ring reached anyone: what came in was dropped or waits in tun's ring.
    expect(r.delta.vhost_net!.rx_packets).toBe(0);
    // The host answers, and the other guest's traffic still flows to the end.
    await goodTraffic();
    expect((await tapOf("good")).virtio!.broken).toBe(false);
    // A reset makes the device usable again.
    evil.reset();
    await waitFor("the reset to clear NEEDS_RESET", async () => ((await tapOf("evil")).virtio!.broken ? undefined : true), 20_000);
  }, 120_000);

  it("the other guest's own tools still work", async () => {
    const r = await procs.cli(["guest", "exec", good.url, "--", "ethtool", "-S", "eth0"]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/rx_queue_0_packets: [1-9]/);
  });
});
