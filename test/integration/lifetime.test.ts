// Lifetime and migration: every host object of a guest goes away on guest
// exit (kill -9), shim exit (kill -9), system_reset and clean SIGTERM; a new
// guest reconnects to the same shim; `migrate` is blocked while offload is
// active with a QEMU-style reason, --only-migratable refuses to enable
// offload instead, and after `xdpoffload off` migration proceeds.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync, mkdtempSync, readFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Procs, waitFor, type VxoProc } from "../helpers/procs.ts";
import { PROGRAMS_DIR } from "../helpers/repo.ts";
import { guestExecRemote } from "../../cli/guest_cmd.ts";
import { fetchHostShow } from "../../cli/host_cmd.ts";
import { monitorRemote } from "../../cli/monitor_cmd.ts";

const P = (n: string) => path.join(PROGRAMS_DIR, `${n}.o`);
const procs = new Procs();
let host: VxoProc;
let tmp: string;
const offload = (g: VxoProc, o = "xdp1") => guestExecRemote(g.url, ["ip", "link", "set", "dev", "eth0", "xdpoffload", "obj", P(o)]);

/** Waits until the host has no maps or programs (and optionally no tap) of `name`. */
function hostFreed(name: string, tapGone = false) {
  return waitFor(`host to free ${name}`, async () => {
    const s = await fetchHostShow(host.url);
    const left = s.maps.some((m) => m.owner === name) || s.progs.some((p) => p.owner === name) ||
      (tapGone && s.taps.some((t) => t.guest === name));
    return left ? undefined : s;
  });
}

async function countOf(name: string) {
  const s = await fetchHostShow(host.url);
  return s.maps.filter((m) => m.owner === name).length + s.progs.filter((p) => p.owner === name).length;
}

beforeAll(async () => {
  tmp = mkdtempSync(path.join(tmpdir(), "vxo-life-"));
  host = await procs.host();
});
afterAll(() => procs.stopAll());

describe("lifetime of offloaded objects", () => {
  it("kill -9 of the guest frees its objects; a new guest reconnects to the same shim and offloads again", async () => {
    const q = await procs.qemu(host.url, "l1");
    const g = await procs.guest(q.url, "l1");
    expect((await offload(g)).status).toBe(0);
    expect(await countOf("l1")).toBe(2);
    g.kill("SIGKILL");
    await g.exited;
    const s = await hostFreed("l1");
    expect(s.taps.find((t) => t.guest === "l1")!.xdpoffload).toBeNull(); // the shim (and its tap) stay
    const g2 = await procs.guest(q.url, "l1");
    expect((await offload(g2)).status).toBe(0);
    expect(await countOf("l1")).toBe(2);
  });

  it("kill -9 of the shim frees every object and the tap of that guest; its guest exits", async () => {
    const q = await procs.qemu(host.url, "l2");
    const g = await procs.guest(q.url, "l2");
    expect((await offload(g)).status).toBe(0);
    q.kill("SIGKILL");
    await q.exited;
    await hostFreed("l2", true);
    expect(await g.exited).toBe(1); // the VM is gone with its device model
  });

  it("system_reset from the monitor frees the host objects and the guest forgets its offloaded program", async () => {
    const q = await procs.qemu(host.url, "l3");
    const g = await procs.guest(q.url, "l3");
    expect((await offload(g)).status).toBe(0);
    expect((await monitorRemote(q.url, "system_reset")).ok).toBe(true);
    await hostFreed("l3");
    await waitFor("guest to see the reset", async () => {
      const r = await guestExecRemote(g.url, ["ip", "link", "show", "dev", "eth0"]);
      return r.stdout.includes("xdpoffload") ? undefined : true;
    });
    expect((await offload(g)).status).toBe(0);
  });

  it("SIGTERM ends guest and shim cleanly (status 0), frees the host objects and removes their runtime entries", async () => {
    const q = await procs.qemu(host.url, "l4");
    const g = await procs.guest(q.url, "l4");
    expect((await offload(g)).status).toBe(0);
    const entries = () => readdirSync(procs.runtimeDir).filter((f) => f.endsWith("-l4.json")).sort();
    expect(entries()).toEqual(["guest-l4.json", "qemu-l4.json"]);
    g.kill("SIGTERM");
    expect(await g.exited).toBe(0);
    await hostFreed("l4");
    q.kill("SIGTERM");
    expect(await q.exited).toBe(0);
    await hostFreed("l4", true);
    expect(entries()).toEqual([]);
    expect(q.stderr()).toMatch(/"event":"exit"/);
  });
});

describe("host connection loss", () => {
  it("the shim reconnects to a restarted host; meanwhile the guest lost its offload and gets ENOTCONN", async () => {
    const h = await procs.host([], "hostr");
    const q = await procs.qemu(h.url, "r1");
    const g = await procs.guest(q.url, "r1");
    expect((await offload(g)).status).toBe(0);
    h.kill("SIGKILL");
    await h.exited;
    await waitFor("guest to see the device reset", async () => {
      const r = await guestExecRemote(g.url, ["ip", "link", "show", "dev", "eth0"]);
      return r.stdout.includes("xdpoffload") ? undefined : true;
    });
    const down = await offload(g);
    expect(down.stderr).toMatch(/Cannot reach the host: control channel is down \(ENOTCONN\)/);
    const h2 = await procs.host(["--listen", h.url], "hostr");
    await waitFor("shim to reconnect", async () => ((await monitorRemote(q.url, "info offload")).output.includes("host connected") ? true : undefined));
    expect((await offload(g)).status).toBe(0);
    const s = await fetchHostShow(h2.url);
    expect(s.progs.filter((p) => p.owner === "r1")).toHaveLength(1);
    // The host itself ends cleanly on SIGTERM and unregisters.
    h2.kill("SIGTERM");
    expect(await h2.exited).toBe(0);
    expect(existsSync(path.join(procs.runtimeDir, "host-hostr.json"))).toBe(false);
  });
});

describe("migration", () => {
  it("migrate is refused while offload is active with the blocker reason, and proceeds after xdpoffload off", async () => {
    const q = await procs.qemu(host.url, "m1");
    const g = await procs.guest(q.url, "m1");
    expect((await offload(g)).status).toBe(0);
    const dest = path.join(tmp, "m1.state");
    const blocked = await monitorRemote(q.url, `migrate file:${dest}`);
    expect(blocked).toEqual({
      ok: false,
      output: "Error: virtio-net: XDP offload is active: programs and maps offloaded to the host kernel cannot be migrated\n",
    });
    expect((await monitorRemote(q.url, "info migrate")).output).toContain("blocker: virtio-net: XDP offload is active");
    expect((await monitorRemote(q.url, "info status")).output).toBe("VM status: running\n");
    expect(existsSync(dest)).toBe(false);
    expect((await guestExecRemote(g.url, ["ip", "link", "set", "dev", "eth0", "xdpoffload", "off"])).status).toBe(0);
    expect(await monitorRemote(q.url, `migrate file:${dest}`)).toEqual({ ok: true, output: "" });
    expect(JSON.parse(readFileSync(dest, "utf8")).name).toBe("m1");
    expect((await monitorRemote(q.url, "info status")).output).toBe("VM status: paused (postmigrate)\n");
  });

  it("--only-migratable makes enabling offload fail instead (EACCES, QEMU's wording), leaving nothing on the host", async () => {
    const q = await procs.qemu(host.url, "m2", ["--only-migratable"]);
    const g = await procs.guest(q.url, "m2");
    const r = await offload(g);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("disallowing migration blocker (--only-migratable) for: virtio-net: XDP offload is active");
    expect(r.stderr).toMatch(/\(EACCES\)\.$/m);
    expect(await countOf("m2")).toBe(0);
    expect((await monitorRemote(q.url, "info migrate")).output).toBe("No migration blockers\n");
  });

  it("vxo monitor prints HMP's error and exits 1 while blocked", async () => {
    const q = await procs.qemu(host.url, "m3");
    const g = await procs.guest(q.url, "m3");
    expect((await offload(g, "xdp_drop")).status).toBe(0);
    const r = await procs.cli(["monitor", "m3", "migrate", `file:${path.join(tmp, "m3.state")}`]);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toMatch(/^Error: virtio-net: XDP offload is active/);
  });
});
