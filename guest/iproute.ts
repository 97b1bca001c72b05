// `ip link set dev eth0 xdp*|off` and `ip link show` inside the guest, with
// iproute2's flags, output and error wording (ip/iplink_xdp.c xdp_parse() and
// xdp_dump(); lib/libnetlink.c prints extack as "Error: <msg>.").
import { openObject, type BpfObjectSpec, type BpfProgSpec } from "../shared/bpf/libbpf/object.ts";
import { loadObject } from "../shared/bpf/libbpf/libbpf.ts";
import { XDP_FLAGS_DRV_MODE, XDP_FLAGS_HW_MODE, XDP_FLAGS_SKB_MODE, XDP_FLAGS_UPDATE_IF_NOEXIST } from "../shared/bpf/isa/uapi.ts";
import { ENOENT, KernelError } from "../shared/errno.ts";
import { ExtackError, XDP_ATTACHED_MULTI, type GuestKernel, type XdpMode } from "./netdev.ts";
import { xdpOffloadAttach, xdpOffloadDetach } from "./xdp_offload.ts";
import type { VirtioNetDriver } from "./virtio_net.ts";

/** What a guest tool prints and returns. */
export interface ToolIo {
  out: string[];
  err: string[];
  files: ReadonlyMap<string, Uint8Array>;
}

const MODE_WORD: Record<string, XdpMode | "default"> = { xdp: "default", xdpdrv: "drv", xdpgeneric: "skb", xdpoffload: "hw" };
const MODE_FLAG: Record<XdpMode, number> = { skb: XDP_FLAGS_SKB_MODE, drv: XDP_FLAGS_DRV_MODE, hw: XDP_FLAGS_HW_MODE };
const MODE_NAME: Record<XdpMode, string> = { drv: "xdpdrv", skb: "xdpgeneric", hw: "xdpoffload" };

/** iproute2's extack printing: "Error: msg." (a period added when missing). */
function extack(io: ToolIo, msg: string): number {
  io.err.push(`Error: ${msg}${msg.endsWith(".") ? "" : "."}`);
  return 2;
}

function selectProg(spec: BpfObjectSpec, sec: string | undefined): BpfProgSpec {
  const p = sec === undefined ? spec.progs[0] : spec.progs.find((x) => x.secName === sec);
  if (p === undefined) throw new KernelError(ENOENT, `Program section ${sec ?? "(first)"} not found in object`);
  return p;
}

/** Runs `ip ARGS`. Returns the exit status. */
export async function ipCommand(k: GuestKernel, drv: VirtioNetDriver, argv: string[], io: ToolIo): Promise<number> {
  let json = false, force = false, details = false;
  const a = [...argv];
  while (a[0]?.startsWith("-")) {
    const o = a.shift()!;
    if (o === "-j" || o === "-json") json = true;
    else if (o === "-force") force = true;
    else if (o === "-d" || o === "-details") details = true;
    else if (o === "-p" || o === "-pretty") continue; // layout of -j output only
    else return extack(io, `Option "${o}" is unknown, try "ip -help"`);
  }
  if (a[0] !== "link" && a[0] !== "l") return extack(io, `Object "${a[0] ?? ""}" is unknown, try "ip help"`);
  const verb = a[1] ?? "show";
  if (verb === "show" || verb === "list") return linkShow(k, a.slice(2), json, details, io);
  if (verb !== "set") return extack(io, `Command "${verb}" is unknown, try "ip link help"`);
  let i = 2;
  if (a[i] === "dev") i++;
  const dev = a[i++];
  if (dev !== k.eth0.name) return extack(io, `Cannot find device "${dev ?? ""}"`);
  const word = a[i++] ?? "";
  const mode = MODE_WORD[word];
  if (mode === undefined) return extack(io, `either "dev" is duplicate, or "${word}" is a garbage`);
  // "xdp" with no mode: the driver supports native XDP, so DRV (dev_xdp_mode()).
  const m: XdpMode = mode === "default" ? "drv" : mode;
  if (a[i] === "off") {
    return detach(k, drv, m, io);
  }
  let file: string | undefined, sec: string | undefined;
  for (; i < a.length; i++) {
    if (a[i] === "obj" || a[i] === "object") file = a[++i];
    else if (a[i] === "sec" || a[i] === "section") sec = a[++i];
    else if (a[i] === "verbose") continue;
    else return extack(io, `either "dev" is duplicate, or "${a[i]}" is a garbage`);
  }
  if (file === undefined) return extack(io, "No object file given");
  const bytes = io.files.get(file);
  if (bytes === undefined) return extack(io, `Cannot open object ${file}: No such file or directory`);
  const flags = MODE_FLAG[m] | (force ? 0 : XDP_FLAGS_UPDATE_IF_NOEXIST);
  try {
    const spec = openObject(bytes, { file });
    const ps = selectProg(spec, sec);
    if (m === "hw") await xdpOffloadAttach(k, drv, spec, ps, flags, 0);
    else attachLocal(k, spec, ps, m, flags);
  } catch (e) {
    if (!(e instanceof KernelError)) throw e;
    if (e instanceof ExtackError) return extack(io, e.message);
    if (e.log !== undefined && e.log.length > 0) {
      io.err.push(e.message, "-- BEGIN PROG LOAD LOG --", ...e.log, "-- END PROG LOAD LOG --");
    }
    if (e.message.startsWith("libbpf: ")) io.err.push(`libbpf: failed to load object '${file}'`);
    return extack(io, `${e.message.replace(/^libbpf: /, "")} (${e.code})`);
  }
  return 0;
}

function attachLocal(k: GuestKernel, spec: BpfObjectSpec, ps: BpfProgSpec, m: XdpMode, flags: number): void {
  const pre = k.eth0.checkAttach(m, -1, flags, 0);
  if (pre !== null) throw new ExtackError(pre[0], pre[1]);
  const loaded = loadObject(k.bpf, spec, { only: (p) => p.name === ps.name, privileged: true });
  const prog = loaded.progs.get(ps.name)!;
  k.loadedAt.set(prog.id, new Date());
  const old = k.eth0.slots[m];
  k.eth0.slots[m] = { progId: prog.id, mapIds: [...loaded.maps.values()].map((x) => x.id) };
  if (old !== null) k.freeLocal(old);
}

async function detach(k: GuestKernel, drv: VirtioNetDriver, m: XdpMode, io: ToolIo): Promise<number> {
  try {
    if (m === "hw") await xdpOffloadDetach(k, drv);
    else {
      const old = k.eth0.slots[m];
      k.eth0.slots[m] = null;
      if (old !== null) k.freeLocal(old);
    }
  } catch (e) {
    if (!(e instanceof KernelError)) throw e;
    return extack(io, e.message);
  }
  return 0;
}

function progJson(k: GuestKernel, id: number): { id: number; name: string; tag: string; jited: number } {
  const p = k.bpf.progs.get(id);
  return { id, name: p?.name ?? "", tag: p?.tag ?? "", jited: 0 };
}

function linkShow(k: GuestKernel, args: string[], json: boolean, details: boolean, io: ToolIo): number {
  const dev = args[0] === "dev" ? args[1] : args[0];
  const lo = { ifindex: 1, ifname: "lo", flags: ["LOOPBACK", "UP", "LOWER_UP"], mtu: 65536, qdisc: "noqueue", operstate: "UNKNOWN", linkmode: "DEFAULT", group: "default", txqlen: 1000, link_type: "loopback", address: "00:00:00:00:00:00", broadcast: "00:00:00:00:00:00" };
  const e = k.eth0;
  if (dev !== undefined && dev !== e.name && dev !== "lo") return extack(io, `Device "${dev}" does not exist`);
  const mode = e.attachedMode();
  const slots = (["drv", "skb", "hw"] as const).filter((x) => e.slots[x] !== null);
  let xdp: unknown;
  if (slots.length === 1) xdp = { mode, prog: progJson(k, e.slots[slots[0]!]!.progId) };
  else if (slots.length > 1) xdp = { mode, attached: slots.map((s) => ({ mode: s === "drv" ? 1 : s === "skb" ? 2 : 3, prog: progJson(k, e.slots[s]!.progId) })) };
  const eth = {
    ifindex: e.ifindex, ifname: e.name, flags: ["BROADCAST", "MULTICAST", "UP", "LOWER_UP"], mtu: e.mtu,
    ...(xdp !== undefined ? { xdp } : {}),
    qdisc: "pfifo_fast", operstate: "UP", linkmode: "DEFAULT", group: "default", txqlen: 1000, link_type: "ether",
    address: e.mac, broadcast: "ff:ff:ff:ff:ff:ff",
  };
  const links = dev === undefined ? [lo, eth] : dev === "lo" ? [lo] : [eth];
  if (json) {
    io.out.push(JSON.stringify(links));
    return 0;
  }
  for (const l of links) {
    const isEth = l === eth;
    const word = !isEth || slots.length === 0 ? "" : mode === XDP_ATTACHED_MULTI ? " xdpmulti" : ` ${slots[0] === "drv" ? "xdp" : MODE_NAME[slots[0]!]}`;
    io.out.push(`${l.ifindex}: ${l.ifname}: <${l.flags.join(",")}> mtu ${l.mtu}${word} qdisc ${l.qdisc} state ${l.operstate} mode DEFAULT group default qlen 1000`);
    io.out.push(`    link/${l.link_type} ${l.address} brd ${l.broadcast}`);
    if (!isEth) continue;
    for (const s of slots) {
      const p = progJson(k, e.slots[s]!.progId);
      const sfx = slots.length > 1 ? (s === "drv" ? "drv" : s === "skb" ? "generic" : "offload") : "";
      io.out.push(`    prog/xdp${sfx} id ${p.id} name ${p.name} tag ${p.tag}${details && k.offloadedProgs.has(p.id) ? " offloaded" : ""}`);
    }
  }
  return 0;
}
