// `ip link set dev eth0 xdp*|off` and `ip [-j] [-d] link show` inside the
// guest, with iproute2's flags, output and error wording (ip/iplink_xdp.c
// xdp_parse(), xdp_dump() and xdp_dump_json(); ip/ipaddress.c
// print_linkinfo(); lib/libnetlink.c prints extack as "Error: <msg>."). Which
// slot a request acts on is decided by dev_xdp_attach() (shared/net/dev_xdp.ts).
import { openObject, type BpfObjectSpec, type BpfProgSpec } from "../shared/bpf/libbpf/object.ts";
import { loadObjectAsync } from "../shared/bpf/libbpf/libbpf.ts";
import { XDP_FLAGS_DRV_MODE, XDP_FLAGS_HW_MODE, XDP_FLAGS_SKB_MODE, XDP_FLAGS_UPDATE_IF_NOEXIST } from "../shared/bpf/isa/uapi.ts";
import { ENOENT, KernelError } from "../shared/errno.ts";
import { ExtackError, XDP_ATTACHED_DRV, XDP_ATTACHED_HW, XDP_ATTACHED_MULTI, XDP_ATTACHED_SKB, type GuestKernel, type XdpMode } from "./netdev.ts";
import { XDP_MODES } from "../shared/net/dev_xdp.ts";
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

/** iproute2's extack printing: "Error: msg." (a period added when missing). */
function extack(io: ToolIo, msg: string): number {
  io.err.push(`Error: ${msg}${msg.endsWith(".") ? "" : "."}`);
  return 2;
}

/** The program to attach: `program NAME` (the section then ignored, as iproute2 with libbpf), else the section's first. */
function selectProg(spec: BpfObjectSpec, sec: string | undefined, name?: string): BpfProgSpec {
  if (name !== undefined) {
    const q = spec.progs.find((x) => x.name === name);
    if (q === undefined) throw new KernelError(ENOENT, `Program ${name} not found in object`);
    return q;
  }
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
  // xdp_parse(): the mode word's flag ("xdp" has none), UPDATE_IF_NOEXIST unless -force.
  const flags = (mode === "default" ? 0 : MODE_FLAG[mode]) | (force ? 0 : XDP_FLAGS_UPDATE_IF_NOEXIST);
  if (i === a.length - 1 && (a[i] === "off" || a[i] === "none")) return detach(k, drv, flags, io);
  let file: string | undefined, sec: string | undefined, progName: string | undefined;
  for (; i < a.length; i++) {
    if (a[i] === "obj" || a[i] === "object") file = a[++i];
    else if (a[i] === "sec" || a[i] === "section") sec = a[++i];
    else if (a[i] !== "" && "program".startsWith(a[i]!) && a[i]!.length >= 4) progName = a[++i];
    else if (a[i] === "verbose") continue;
    else return extack(io, `either "dev" is duplicate, or "${a[i]}" is a garbage`);
  }
  if (file === undefined) return extack(io, "No object file given");
  const bytes = io.files.get(file);
  if (bytes === undefined) return extack(io, `Cannot open object ${file}: No such file or directory`);
  try {
    const spec = openObject(bytes, { file });
    const ps = selectProg(spec, sec, progName);
    // dev_xdp_attach() picks the slot (a mode-less request means DRV on virtio_net).
    const m = k.eth0.checkAttach(-1, flags, 0);
    if (m === "hw") await xdpOffloadAttach(k, drv, spec, ps, flags, 0);
    else await attachLocal(k, spec, ps, m, flags);
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

async function attachLocal(k: GuestKernel, spec: BpfObjectSpec, ps: BpfProgSpec, m: XdpMode, flags: number): Promise<void> {
  k.eth0.checkAttach(-1, flags, 0);
  // verified on the verifier's worker thread: the guest keeps answering meanwhile
  const loaded = await loadObjectAsync(k.bpf, spec, { only: (p) => p.name === ps.name, privileged: true });
  const prog = loaded.progs.get(ps.name)!;
  k.loadedAt.set(prog.id, new Date());
  const old = k.eth0.slots[m];
  k.eth0.slots[m] = { progId: prog.id, mapIds: [...loaded.maps.values()].map((x) => x.id) };
  k.syncDatapathXdp();
  if (old !== null) k.freeLocal(old);
}

/** `... xdp* off`: IFLA_XDP_FD -1 with the mode word's flags; dev_xdp_attach() picks the slot or refuses. */
async function detach(k: GuestKernel, drv: VirtioNetDriver, flags: number, io: ToolIo): Promise<number> {
  try {
    const m = k.eth0.checkAttach(0, flags, 0);
    if (m === "hw") await xdpOffloadDetach(k, drv);
    else {
      const old = k.eth0.slots[m];
      k.eth0.slots[m] = null;
      k.syncDatapathXdp();
      if (old !== null) k.freeLocal(old);
    }
  } catch (e) {
    if (!(e instanceof KernelError)) throw e;
    return extack(io, e.message);
  }
  return 0;
}

/** XDP_ATTACHED_* of a single slot. */
const ATTACHED: Record<XdpMode, number> = { skb: XDP_ATTACHED_SKB, drv: XDP_ATTACHED_DRV, hw: XDP_ATTACHED_HW };
/** xdp_dump()'s words: the mode after "mtu N", the prog/xdp suffix of each slot when several are attached. */
const ATTACHED_WORD: Record<number, string> = { [XDP_ATTACHED_DRV]: "xdp", [XDP_ATTACHED_SKB]: "xdpgeneric", [XDP_ATTACHED_HW]: "xdpoffload", [XDP_ATTACHED_MULTI]: "xdpmulti" };
const MULTI_SUFFIX: Record<XdpMode, string> = { skb: "generic", drv: "drv", hw: "offload" };

/**
 * bpf_dump_prog_info() (iproute2 lib/bpf_glue.c): id, name, tag, jited, and
 * with -d load_time (ns since boot) and created_by_uid. The guest kernel does
 * not JIT and keeps no BTF, so jited is 0 and btf_id is not printed.
 */
function progInfo(k: GuestKernel, id: number, details: boolean): { json: Record<string, unknown>; text: string } {
  const p = k.bpf.progs.get(id);
  const json: Record<string, unknown> = { id };
  let text = `id ${id} `;
  if (p !== undefined) {
    json.name = p.name;
    json.tag = p.tag;
    json.jited = 0;
    text += `name ${p.name} tag ${p.tag} `;
    const at = k.loadedAt.get(id);
    const loadTime = at === undefined ? 0 : Math.max(0, at.getTime() - k.bootTime) * 1e6;
    if (details && loadTime !== 0) {
      json.load_time = loadTime;
      json.created_by_uid = 0;
      text += `load_time ${loadTime} created_by_uid 0 `;
    }
  }
  return { json, text };
}

/** Device attributes `ip -d` adds (as a virtio_net NIC and lo report them). */
function detailsOf(isEth: boolean): Array<[string, string, string | number]> {
  const d: Array<[string, string, string | number]> = [
    ["promiscuity", "promiscuity", 0], ["allmulti", " allmulti", 0], ["min_mtu", "minmtu", isEth ? 68 : 0], ["max_mtu", "maxmtu", isEth ? 65535 : 0],
    ["inet6_addr_gen_mode", "addrgenmode", "eui64"], ["num_tx_queues", "numtxqueues", 1], ["num_rx_queues", "numrxqueues", 1],
    ["gso_max_size", "gso_max_size", 65536], ["gso_max_segs", "gso_max_segs", 65535], ["tso_max_size", "tso_max_size", isEth ? 65536 : 524280],
    ["tso_max_segs", "tso_max_segs", 65535], ["gro_max_size", "gro_max_size", 65536],
  ];
  if (isEth) d.push(["parentbus", "parentbus", "virtio"], ["parentdev", "parentdev", "virtio0"]);
  return d;
}

/**
 * `ip link show`: print_linkinfo() of iproute2 ip/ipaddress.c with xdp_dump()
 * (ip/iplink_xdp.c) for IFLA_XDP as rtnl_xdp_fill() reports it: the program
 * id only when a single slot is used, every slot in SKB, DRV, HW order.
 */
function linkShow(k: GuestKernel, args: string[], json: boolean, details: boolean, io: ToolIo): number {
  const dev = args[0] === "dev" ? args[1] : args[0];
  const e = k.eth0;
  if (dev !== undefined && dev !== e.name && dev !== "lo") return extack(io, `Device "${dev}" does not exist`);
  const mode = e.attachedMode();
  const used = XDP_MODES.filter((m) => e.slots[m] !== null);
  const single = used.length === 1 ? e.slots[used[0]!]!.progId : 0;
  const links = [
    { isEth: false, base: { ifindex: 1, ifname: "lo", flags: ["LOOPBACK", "UP", "LOWER_UP"], mtu: 65536 },
      rest: { qdisc: "noqueue", operstate: "UNKNOWN", linkmode: "DEFAULT", group: "default", txqlen: 1000, link_type: "loopback", address: "00:00:00:00:00:00", broadcast: "00:00:00:00:00:00" } },
    { isEth: true, base: { ifindex: e.ifindex, ifname: e.name, flags: ["BROADCAST", "MULTICAST", "UP", "LOWER_UP"], mtu: e.mtu },
      rest: { qdisc: "pfifo_fast", operstate: "UP", linkmode: "DEFAULT", group: "default", txqlen: 1000, link_type: "ether", address: e.mac, broadcast: "ff:ff:ff:ff:ff:ff" } },
  ].filter((l) => dev === undefined || l.base.ifname === dev);
  if (json) {
    const out = links.map((l) => {
      const o: Record<string, unknown> = { ...l.base };
      if (l.isEth && used.length > 0) {
        // xdp_dump_json(): mode, the single program, and the "attached" list.
        o.xdp = {
          mode, ...(single !== 0 ? { prog: progInfo(k, single, details).json } : {}),
          attached: used.map((m) => ({ mode: ATTACHED[m], prog: progInfo(k, e.slots[m]!.progId, details).json })),
        };
      }
      Object.assign(o, l.rest);
      if (details) for (const [key, , v] of detailsOf(l.isEth)) o[key] = v;
      return o;
    });
    io.out.push(JSON.stringify(out));
    return 0;
  }
  for (const l of links) {
    const r = l.rest;
    const xdpWord = l.isEth && used.length > 0 ? `${ATTACHED_WORD[mode]} ` : "";
    io.out.push(`${l.base.ifindex}: ${l.base.ifname}: <${l.base.flags.join(",")}> mtu ${l.base.mtu} ${xdpWord}qdisc ${r.qdisc} state ${r.operstate} mode ${r.linkmode} group ${r.group} qlen ${r.txqlen}`);
    const det = details ? " " + detailsOf(l.isEth).map(([, word, v]) => `${word} ${v} `).join("") : "";
    io.out.push(`    link/${r.link_type} ${r.address} brd ${r.broadcast}${det}`);
    if (!l.isEth) continue;
    if (single !== 0) io.out.push(`    prog/xdp ${progInfo(k, single, details).text}`);
    else for (const m of used) io.out.push(`    prog/xdp${MULTI_SUFFIX[m]} ${progInfo(k, e.slots[m]!.progId, details).text}`);
  }
  return 0;
}
