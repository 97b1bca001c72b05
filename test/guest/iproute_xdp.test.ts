// The guest's `ip link` beside the real iproute2 and kernel: the IFLA_XDP dump
// (`ip -j link show`'s xdp object with its "attached" list, the text form's
// mode word and prog/xdp lines, -d extras) and dev_xdp_attach()'s rules for
// mode-less requests. The real side is a veth pair in a network namespace of
// this test's own (veth has native and generic XDP; no offload, and no
// netdevsim on this kernel), judged at test time; the multi-program answers
// (drv or generic + offload) exist only in the guest and are checked against
// iproute2's xdp_dump() and net/core/dev.c as they are written.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { execa } from "execa";
import path from "node:path";
import { Procs, type VxoProc } from "../helpers/procs.ts";
import { PROGRAMS_DIR, REPO_ROOT } from "../helpers/repo.ts";
import { kernelOracleUnavailable } from "../helpers/kernel_oracle.ts";
import { guestExecRemote } from "../../cli/guest_cmd.ts";

const PASS = path.join(PROGRAMS_DIR, "xdp_pass.o");
const DROP = path.join(PROGRAMS_DIR, "xdp_drop.o");
const procs = new Procs();
let host: VxoProc, qemu: VxoProc, guest: VxoProc;
const exec = (...argv: string[]) => guestExecRemote(guest.url, argv);

const unavailable = kernelOracleUnavailable(REPO_ROOT);
if (unavailable !== null) console.warn(`\n*** REAL ip/KERNEL COMPARISONS SKIPPED: ${unavailable} ***\n`);
const NETNS = `vxotest-ip-${process.pid}`;
/** Runs the real `ip -n NETNS ARGS` (options first) on the veth end "va". */
async function realIp(...args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  const opts = args.filter((a, i) => a.startsWith("-") && args.slice(0, i).every((b) => b.startsWith("-")));
  const r = await execa("ip", [...opts, "-n", NETNS, ...args.slice(opts.length)], { reject: false, stripFinalNewline: false });
  return { status: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}
/** `ip ARGS` in both places: the device is "eth0" in the guest and "va" on the real side. */
async function both(...args: string[]) {
  const g = await exec("ip", ...args);
  const r = await realIp(...args.map((a) => (a === "eth0" ? "va" : a)));
  return { g, r };
}

type Json = Record<string, unknown>;
interface LinkJson extends Json {
  xdp?: { mode: number; prog?: Json; attached: Array<{ mode: number; prog: Json }> };
}
/** A link's xdp object with what differs between two kernels (ids, load times, jited, btf_id) abstracted. */
function xdpShape(link: LinkJson): unknown {
  const prog = (p: Json) => {
    const o: Json = {};
    for (const [k, v] of Object.entries(p)) {
      if (k === "btf_id") continue; // the guest keeps no BTF objects: iproute2 omits btf_id then
      o[k] = k === "id" || k === "load_time" ? typeof v : k === "jited" ? "jited?" : v;
    }
    return o;
  };
  const x = link.xdp;
  if (x === undefined) return undefined;
  return { ...x, ...(x.prog !== undefined ? { prog: prog(x.prog) } : {}), attached: x.attached.map((a) => ({ ...a, prog: prog(a.prog) })) };
}
/** The text form with ids, load times and the jited word (the guest does not JIT) abstracted. */
const textShape = (line: string) => line.replace(/\bid \d+ /g, "id N ").replace(/load_time \d+ /, "load_time T ").replace(/jited /, "").replace(/btf_id \d+ /, "");
const linkJson = async (where: "g" | "r", ...opts: string[]): Promise<LinkJson> => {
  const out = where === "g" ? await exec("ip", ...opts, "-j", "link", "show", "dev", "eth0") : await realIp(...opts, "-j", "link", "show", "dev", "va");
  return (JSON.parse(out.stdout) as LinkJson[])[0]!;
};

beforeAll(async () => {
  host = await procs.host();
  qemu = await procs.qemu(host.url, "vm1");
  guest = await procs.guest(qemu.url, "vm1");
  if (unavailable === null) {
    await execa("ip", ["netns", "add", NETNS]);
    await execa("ip", ["-n", NETNS, "link", "add", "va", "type", "veth", "peer", "name", "vb"]);
    await execa("ip", ["-n", NETNS, "link", "set", "va", "up"]);
    await execa("ip", ["-n", NETNS, "link", "set", "vb", "up"]);
  }
});
// Each test starts from empty slots, so that one failure does not leave programs behind for the next.
beforeEach(async () => {
  for (const m of ["xdpgeneric", "xdpdrv", "xdpoffload"]) {
    await exec("ip", "link", "set", "dev", "eth0", m, "off");
    if (unavailable === null) await realIp("link", "set", "dev", "va", m, "off");
  }
});
afterAll(async () => {
  if (unavailable === null) await execa("ip", ["netns", "del", NETNS], { reject: false });
  await procs.stopAll();
});

describe.skipIf(unavailable !== null)("one program: the guest's ip answers as iproute2 6.1 on a real veth", () => {
  for (const [word, mode] of [["xdpgeneric", 2], ["xdpdrv", 1]] as const) {
    it(`${word}: ip -j [-d] link show prints xdp {mode, prog, attached: [{mode, prog}]}`, async () => {
      const { g, r } = await both("link", "set", "dev", "eth0", word, "obj", PASS, "sec", "xdp");
      expect([g.status, g.stderr]).toEqual([r.status, r.stderr]);
      const [gj, rj] = [await linkJson("g"), await linkJson("r")];
      expect(rj.xdp!.mode).toBe(mode);
      expect(xdpShape(gj)).toEqual(xdpShape(rj));
      // Same order of keys (the JSON text), and "xdp" between "mtu" and "qdisc".
      expect(JSON.stringify(xdpShape(gj))).toBe(JSON.stringify(xdpShape(rj)));
      const at = (l: LinkJson) => Object.keys(l).filter((k) => ["mtu", "xdp", "qdisc"].includes(k));
      expect(at(gj)).toEqual(at(rj));
      // Same program, same tag (SHA-1 of the instructions).
      expect(gj.xdp!.prog!.tag).toBe(rj.xdp!.prog!.tag);
      const [gd, rd] = [await linkJson("g", "-d"), await linkJson("r", "-d")];
      expect(xdpShape(gd)).toEqual(xdpShape(rd));
    });

    it(`${word}: the text form has the mode word after mtu and "    prog/xdp id N name ... tag ... " with iproute2's spacing`, async () => {
      const set = await both("link", "set", "dev", "eth0", word, "obj", PASS, "sec", "xdp");
      expect([set.g.status, set.r.status]).toEqual([0, 0]);
      for (const opts of [[], ["-d"]]) {
        const [g, r] = [await exec("ip", ...opts, "link", "show", "dev", "eth0"), await realIp(...opts, "link", "show", "dev", "va")];
        const word = (s: string) => /mtu \d+ (.*)qdisc/.exec(s)![1];
        expect(word(g.stdout)).toBe(word(r.stdout));
        const progLine = (s: string) => s.split("\n").find((l) => l.startsWith("    prog/"))!;
        expect(textShape(progLine(g.stdout))).toBe(textShape(progLine(r.stdout)));
      }
      const { g, r } = await both("link", "set", "dev", "eth0", word, "off");
      expect([g.status, g.stdout, g.stderr]).toEqual([r.status, r.stdout, r.stderr]);
      expect((await linkJson("g")).xdp).toBeUndefined();
      expect((await linkJson("r")).xdp).toBeUndefined();
    });
  }
});

/** A real virtio_net NIC of this machine (its -d details are what the guest's eth0 shows), or undefined. */
async function realVirtioNic(): Promise<string | undefined> {
  const r = await execa("ip", ["-j", "-d", "link", "show"], { reject: false });
  if (r.exitCode !== 0) return undefined;
  return (JSON.parse(String(r.stdout)) as Json[]).find((l) => l.parentbus === "virtio")?.ifname as string | undefined;
}
const virtioNic = await realVirtioNic();
if (virtioNic === undefined) console.warn("\n*** ip -d COMPARISON WITH A REAL virtio_net NIC SKIPPED: this machine has none ***\n");

describe.skipIf(virtioNic === undefined)("ip -d link show: the guest's eth0 details as a real virtio_net NIC's", () => {
  it("has the same attributes, in the same order, in JSON and on the link/ether line", async () => {
    const afterBroadcast = (l: Json) => Object.keys(l).slice(Object.keys(l).indexOf("broadcast") + 1);
    const real = (JSON.parse((await execa("ip", ["-j", "-d", "link", "show", "dev", virtioNic!])).stdout) as Json[])[0]!;
    const g = await linkJson("g", "-d");
    expect(afterBroadcast(g)).toEqual(afterBroadcast(real));
    for (const k of ["promiscuity", "allmulti", "min_mtu", "max_mtu", "inet6_addr_gen_mode", "parentbus"]) expect(g[k], k).toEqual(real[k]);
    const shape = (s: string) => s.split("\n")[1]!.replace(/^ {4}link\/ether \S+ brd \S+/, "").replace(/ \d+/g, " N").replace(/virtio\d+/, "virtioN");
    const rt = await execa("ip", ["-d", "link", "show", "dev", virtioNic!], { stripFinalNewline: false });
    expect(shape((await exec("ip", "-d", "link", "show", "dev", "eth0")).stdout)).toBe(shape(String(rt.stdout)));
  });
});

describe.skipIf(unavailable !== null)("generic + native on the real kernel and in the guest: dev_xdp_attach()'s answers", () => {
  it("with a generic program attached, native and mode-less attaches fail alike, and a mode-less off removes nothing", async () => {
    const set = await both("link", "set", "dev", "eth0", "xdpgeneric", "obj", PASS, "sec", "xdp");
    expect([set.g.status, set.r.status]).toEqual([0, 0]);
    for (const cmd of [
      ["link", "set", "dev", "eth0", "xdpdrv", "obj", DROP, "sec", "xdp"],
      ["-force", "link", "set", "dev", "eth0", "xdpdrv", "obj", DROP, "sec", "xdp"],
      ["link", "set", "dev", "eth0", "xdp", "obj", DROP, "sec", "xdp"],
      ["link", "set", "dev", "eth0", "xdp", "off"], // dev_xdp_mode(): DRV, which is empty
      ["link", "set", "dev", "eth0", "xdpdrv", "off"],
      ["link", "set", "dev", "eth0", "xdpoffload", "off"],
      ["link", "set", "dev", "eth0", "xdpgeneric", "obj", DROP, "sec", "xdp"], // UPDATE_IF_NOEXIST
    ]) {
      const { g, r } = await both(...cmd);
      expect([g.status, g.stdout, g.stderr], cmd.join(" ")).toEqual([r.status, r.stdout, r.stderr]);
      expect(xdpShape(await linkJson("g")), cmd.join(" ")).toEqual(xdpShape(await linkJson("r")));
    }
    expect((await linkJson("r")).xdp!.mode).toBe(2);
    const off = await both("link", "set", "dev", "eth0", "xdpgeneric", "off");
    expect([off.g.status, off.r.status]).toEqual([0, 0]);
  });
});

describe("several programs (offload beside native or generic): xdp_dump() and the ambiguity of a mode-less request", () => {
  const progIdOf = async (mode: number) => (await linkJson("g")).xdp!.attached.find((a) => a.mode === mode)!.prog.id;

  for (const [word, mode, suffix] of [["xdpdrv", 1, "drv"], ["xdpgeneric", 2, "generic"]] as const) {
    it(`${word} + xdpoffload: xdpmulti, no single prog, attached in SKB, DRV, HW order; the text lists prog/xdp${suffix} then prog/xdpoffload`, async () => {
      expect((await exec("ip", "link", "set", "dev", "eth0", "xdpoffload", "obj", PASS, "sec", "xdp")).status).toBe(0);
      expect((await exec("ip", "link", "set", "dev", "eth0", word, "obj", DROP, "sec", "xdp")).status).toBe(0);
      const j = await linkJson("g");
      expect(j.xdp!.mode).toBe(4); // XDP_ATTACHED_MULTI: rtnl_xdp_fill() sends no IFLA_XDP_PROG_ID
      expect(j.xdp!.prog).toBeUndefined();
      expect(j.xdp!.attached.map((a) => [a.mode, a.prog.name])).toEqual([[mode, "xdp_drop"], [3, "xdp_pass"]]);
      const t = (await exec("ip", "link", "show", "dev", "eth0")).stdout.split("\n");
      expect(t[0]).toMatch(/ mtu 1500 xdpmulti qdisc /);
      expect(t.slice(2, 4)).toEqual([
        `    prog/xdp${suffix} id ${await progIdOf(mode)} name xdp_drop tag ${j.xdp!.attached[0]!.prog.tag} `,
        `    prog/xdpoffload id ${await progIdOf(3)} name xdp_pass tag ${j.xdp!.attached[1]!.prog.tag} `,
      ]);
    });

    it(`${word} + xdpoffload: a mode-less off or attach is EINVAL "unset mode is ambiguous" and keeps both`, async () => {
      expect((await exec("ip", "link", "set", "dev", "eth0", "xdpoffload", "obj", PASS, "sec", "xdp")).status).toBe(0);
      expect((await exec("ip", "link", "set", "dev", "eth0", word, "obj", DROP, "sec", "xdp")).status).toBe(0);
      const before = (await linkJson("g")).xdp;
      expect(before!.mode).toBe(4);
      for (const cmd of [["xdp", "off"], ["xdp", "obj", PASS, "sec", "xdp"]]) {
        for (const force of [[], ["-force"]]) {
          const r = await exec("ip", ...force, "link", "set", "dev", "eth0", ...cmd);
          expect(r.status, cmd.join(" ")).toBe(2);
          expect(r.stderr).toBe("Error: More than one program loaded, unset mode is ambiguous.\n");
          expect((await linkJson("g")).xdp).toEqual(before);
        }
      }
      // With a mode, each goes on its own; then one program is left and "xdp off" means DRV again.
      expect((await exec("ip", "link", "set", "dev", "eth0", `${word}`, "off")).status).toBe(0);
      expect((await linkJson("g")).xdp!.attached.map((a) => a.mode)).toEqual([3]);
      expect((await exec("ip", "link", "set", "dev", "eth0", "xdp", "off")).status).toBe(0);
      expect((await linkJson("g")).xdp!.attached.map((a) => a.mode)).toEqual([3]);
      expect((await exec("ip", "link", "set", "dev", "eth0", "xdpoffload", "off")).status).toBe(0);
      expect((await linkJson("g")).xdp).toBeUndefined();
    });
  }

  it("the offload program alone: mode 3 with prog and a one-entry attached list, as for any single program", async () => {
    expect((await exec("ip", "link", "set", "dev", "eth0", "xdpoffload", "obj", PASS, "sec", "xdp")).status).toBe(0);
    const x = (await linkJson("g")).xdp!;
    expect(x).toEqual({ mode: 3, prog: x.prog, attached: [{ mode: 3, prog: x.prog }] });
    expect(Object.keys(x.prog!)).toEqual(["id", "name", "tag", "jited"]);
    const d = (await linkJson("g", "-d")).xdp!;
    expect(Object.keys(d.prog!)).toEqual(["id", "name", "tag", "jited", "load_time", "created_by_uid"]);
    expect((await exec("ip", "link", "set", "dev", "eth0", "xdpoffload", "off")).status).toBe(0);
  });
});
