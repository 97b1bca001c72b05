// A verification never stalls its process. xdp_spin.o makes the verifier walk
// its whole 1M-insn budget (the kernel answers E2BIG after seconds). While one
// guest's offload of it verifies (a) in that guest's first pass and (b) on the
// host, sent by a test driver straight through the shim past any first pass,
// another guest's offload of xdp1.o, `vxo host show` and monitor commands each
// answer within 2 s, the busy guest still runs `ip link show`, and the busy
// verification is cancelled cleanly: by system_reset (guest: ENOTCONN, host:
// ECANCELED), by the shim going away, and by SIGTERM to the busy process, which
// exits within 2 s. The test never waits for the verification to finish.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import path from "node:path";
import { Procs, waitFor, type VxoProc } from "../helpers/procs.ts";
import { PROGRAMS_DIR } from "../helpers/repo.ts";
import { guestExecRemote } from "../../cli/guest_cmd.ts";
import { fetchHostShow } from "../../cli/host_cmd.ts";
import { monitorRemote } from "../../cli/monitor_cmd.ts";
import { VirtioNetDriver } from "../../guest/virtio_net.ts";
import { openObject } from "../../shared/bpf/libbpf/object.ts";
import { VERIFY_TIMEOUT_MS } from "../../shared/proto/channel.ts";
import { VIRTIO_NET_CTRL_BPF_PROG_LOAD } from "../../shared/virtio/virtio_net.ts";
import { ECANCELED, EINTR, ENOTCONN, strerror } from "../../shared/errno.ts";

const P = (n: string) => path.join(PROGRAMS_DIR, `${n}.o`);
const DEADLINE_MS = 2000;
const procs = new Procs();
let host: VxoProc;
let qa: VxoProc, ga: VxoProc; // the guest that offloads xdp_spin
let qb: VxoProc, gb: VxoProc; // another guest, offloading xdp1
let qc: VxoProc; // a shim driven by a test driver (no guest kernel, no first pass)

const offload = (g: VxoProc, o: string) => guestExecRemote(g.url, ["ip", "link", "set", "dev", "eth0", "xdpoffload", "obj", P(o)]);
const offloadOff = (g: VxoProc) => guestExecRemote(g.url, ["ip", "link", "set", "dev", "eth0", "xdpoffload", "off"]);

/** The JSON-lines events a process logged so far. */
function events(p: VxoProc): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  for (const line of p.stderr().split("\n")) {
    try {
      out.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // not a log line
    }
  }
  return out;
}

/** Waits for the `count`-th event of `p` matching `pred`; returns it. */
function logged(p: VxoProc, what: string, pred: (e: Record<string, unknown>) => boolean, count = 1) {
  return waitFor(what, async () => events(p).filter(pred)[count - 1], 30_000);
}

/** `p`'s value, or a failure naming `what` when it is not there within `ms`. */
async function within<T>(what: string, p: Promise<T>, ms = DEADLINE_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Tracks whether a promise has settled (without turning a rejection into an unhandled one). */
function track<T>(p: Promise<T>): { p: Promise<T>; settled: () => boolean } {
  let done = false;
  p.then(() => (done = true), () => (done = true));
  return { p, settled: () => done };
}

/** What must keep answering while a verification runs somewhere: another guest, the host, the busy device's monitor. */
async function othersAnswer(busyShim: VxoProc): Promise<void> {
  const [other, show, info] = await Promise.all([
    within("another guest's xdpoffload of xdp1.o", offload(gb, "xdp1")),
    within("vxo host show", fetchHostShow(host.url)),
    within("monitor info offload of the busy device", monitorRemote(busyShim.url, "info offload")),
  ]);
  expect(other.status, other.stderr).toBe(0);
  expect(show.taps.map((t) => t.guest)).toContain("vmb");
  expect(info.ok).toBe(true);
  expect((await within("another guest's xdpoffload off", offloadOff(gb))).status).toBe(0);
}

function hostFreed(name: string) {
  return waitFor(`host to free ${name}'s objects`, async () => {
    const s = await fetchHostShow(host.url);
    return s.maps.some((m) => m.owner === name) || s.progs.some((p) => p.owner === name) ? undefined : s;
  });
}

const spinInsns = () => openObject(readFileSync(P("xdp_spin")), { file: "xdp_spin.o" }).progs[0]!.insns.toBytes();

beforeAll(async () => {
  host = await procs.host();
  [qa, qb, qc] = await Promise.all([procs.qemu(host.url, "vma"), procs.qemu(host.url, "vmb"), procs.qemu(host.url, "vmc")]);
  [ga, gb] = await Promise.all([procs.guest(qa.url, "vma"), procs.guest(qb.url, "vmb")]);
  // warm-up: the guest's and the host's verifier threads start on their first load
  expect((await offload(gb, "xdp1")).status).toBe(0);
  expect((await offloadOff(gb)).status).toBe(0);
});
afterAll(() => procs.stopAll());

describe("a long verification in a guest's first pass", () => {
  it("leaves the guest, the other guest, the host and the shim answering; system_reset cancels it with ENOTCONN", async () => {
    const busy = track(offload(ga, "xdp_spin"));
    await logged(ga, "the guest's first pass of xdp_spin", (e) => e.event === "prog_verify" && e.name === "xdp_spin");
    await othersAnswer(qa);
    const show = await within("ip link show in the busy guest", guestExecRemote(ga.url, ["ip", "link", "show", "dev", "eth0"]));
    expect(show.status).toBe(0);
    expect(busy.settled(), "xdp_spin was still verifying while the others answered").toBe(false);

    expect((await within("system_reset of the busy device", monitorRemote(qa.url, "system_reset"))).ok).toBe(true);
    const r = await within("the busy offload's answer after system_reset", busy.p);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain(strerror(ENOTCONN));
    const done = await logged(ga, "the first pass to end", (e) => e.event === "prog_verified" && e.name === "xdp_spin");
    expect(done.errno).toBe(ENOTCONN);
    // nothing left behind in the guest or on the host
    expect((await guestExecRemote(ga.url, ["bpftool", "-j", "prog", "show"])).stdout.trim()).toBe("[]");
    expect((await guestExecRemote(ga.url, ["bpftool", "-j", "map", "show"])).stdout.trim()).toBe("[]");
    await hostFreed("vma");
  });

  it("SIGTERM to the busy guest ends it within 2 s (the load answered EINTR) and frees its host objects", async () => {
    const busy = track(offload(ga, "xdp_spin"));
    await logged(ga, "a second first pass of xdp_spin", (e) => e.event === "prog_verify" && e.name === "xdp_spin", 2);
    expect(busy.settled()).toBe(false);
    ga.kill("SIGTERM");
    expect(await within("the busy guest's exit on SIGTERM", ga.exited)).toBe(0);
    const done = events(ga).filter((e) => e.event === "prog_verified" && e.name === "xdp_spin")[1];
    expect(done?.errno).toBe(EINTR);
    await within("the exec client's answer", busy.p.catch((e: Error) => e));
    await hostFreed("vma");
  });
});

describe("a long verification on the host (a guest that skips its first pass)", () => {
  it("leaves the host serving every other guest; system_reset cancels it (ECANCELED on the host, ENOTCONN to the guest)", async () => {
    const drv = await VirtioNetDriver.probe(qc.url, "vmc");
    try {
      const busy = track(drv.bpfCmd(VIRTIO_NET_CTRL_BPF_PROG_LOAD, { name: "xdp_spin", license: "GPL", insns: spinInsns() }, VERIFY_TIMEOUT_MS));
      await logged(host, "the host's pass of vmc's xdp_spin", (e) => e.event === "prog_verify" && e.guest === "vmc");
      await othersAnswer(qc);
      expect(busy.settled(), "xdp_spin was still verifying on the host while the others answered").toBe(false);

      expect((await within("system_reset of the busy device", monitorRemote(qc.url, "system_reset"))).ok).toBe(true);
      const r = await within("the raw PROG_LOAD's answer after system_reset", busy.p);
      expect(r).toMatchObject({ ok: false, errno: ENOTCONN });
      const done = await logged(host, "the host's pass to end", (e) => e.event === "prog_verified" && e.guest === "vmc");
      expect(done.errno).toBe(ECANCELED);
      await hostFreed("vmc");
    } finally {
      drv.ch.close();
    }
  });

  it("a shim that goes away takes its pending verification with it", async () => {
    const qd = await procs.qemu(host.url, "vmd");
    const drv = await VirtioNetDriver.probe(qd.url, "vmd");
    try {
      void drv.bpfCmd(VIRTIO_NET_CTRL_BPF_PROG_LOAD, { name: "xdp_spin", license: "GPL", insns: spinInsns() }, VERIFY_TIMEOUT_MS);
      await logged(host, "the host's pass of vmd's xdp_spin", (e) => e.event === "prog_verify" && e.guest === "vmd");
      qd.kill("SIGKILL");
      const done = await within("the host to drop vmd's verification", logged(host, "vmd's pass to end",
        (e) => e.event === "prog_verified" && e.guest === "vmd"));
      expect(done.errno).toBe(ECANCELED);
      const s = await within("vxo host show", fetchHostShow(host.url));
      expect(s.taps.some((t) => t.guest === "vmd")).toBe(false);
    } finally {
      drv.ch.close();
    }
  });

  it("SIGTERM to the host in the middle of a verification ends it within 2 s", async () => {
    const drv = await VirtioNetDriver.probe(qc.url, "vmc");
    try {
      const busy = track(drv.bpfCmd(VIRTIO_NET_CTRL_BPF_PROG_LOAD, { name: "xdp_spin", license: "GPL", insns: spinInsns() }, VERIFY_TIMEOUT_MS));
      await logged(host, "a second host pass of vmc's xdp_spin", (e) => e.event === "prog_verify" && e.guest === "vmc", 2);
      expect(busy.settled()).toBe(false);
      host.kill("SIGTERM");
      expect(await within("the busy host's exit on SIGTERM", host.exited)).toBe(0);
      const r = await within("the raw PROG_LOAD's answer", busy.p);
      expect(r.ok).toBe(false);
    } finally {
      drv.ch.close();
    }
  });
});
