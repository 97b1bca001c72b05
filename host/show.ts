// `vxo host show`: which tap has an offloaded program from which guest, and the
// offloaded maps with owner and bytes (the RFC's point for improvement "no way on the host side to
// show whether a tap interface has offloaded XDP program attached"). Output in
// the spirit of `ip link show` / `bpftool prog show` on the host.
import { MAP_TYPE_NAMES } from "../shared/bpf/isa/uapi.ts";
import type { OffloadState } from "./offload_state.ts";

export interface HostShow {
  guests: Array<{ name: string; session: number; capBpf: boolean; connectedAt: string; maps: number; progs: number }>;
  taps: Array<{ name: string; ifindex: number; guest: string; nic: number; xdpoffload: { id: number; name: string; tag: string } | null }>;
  maps: Array<{
    id: number; type: string; name: string; owner: string; dev: string; keySize: number; valueSize: number;
    maxEntries: number; bytes: number;
    /** The BTF object of a map offloaded with BTF (absent without). */
    btfId?: number;
  }>;
  progs: Array<{
    id: number; name: string; tag: string; owner: string; dev: string; insns: number; mapIds: number[]; attached: boolean; btfId?: number;
  }>;
}

/** Snapshot of the host's offload objects. */
export function hostShowJson(st: OffloadState): HostShow {
  const k = st.kernel;
  const out: HostShow = { guests: [], taps: [], maps: [], progs: [] };
  for (const s of st.sessions) {
    out.guests.push({ name: s.guest, session: s.id, capBpf: s.capBpf, connectedAt: s.connectedAt, maps: s.maps.size, progs: s.progs.size });
  }
  for (const t of st.taps) {
    const p = t.progId === 0 ? undefined : k.progs.get(t.progId);
    out.taps.push({
      name: t.name, ifindex: t.ifindex, guest: t.guest, nic: t.nic,
      xdpoffload: p === undefined ? null : { id: p.id, name: p.name, tag: p.tag },
    });
  }
  for (const [id, info] of st.mapInfo) {
    const m = k.maps.get(id);
    if (m === undefined) continue;
    out.maps.push({
      id, type: MAP_TYPE_NAMES[m.mapType] ?? String(m.mapType), name: m.name, owner: info.session.guest, dev: info.tap.name,
      keySize: m.keySize, valueSize: m.valueSize, maxEntries: m.maxEntries, bytes: m.memBytes,
      ...(k.mapBtf.has(id) ? { btfId: k.mapBtf.get(id)!.btf.id } : {}),
    });
  }
  for (const [id, info] of st.progInfo) {
    const p = k.progs.get(id);
    if (p === undefined) continue;
    out.progs.push({
      id, name: p.name, tag: p.tag, owner: info.session.guest, dev: info.tap.name, insns: p.insns.len,
      mapIds: p.usedMaps.map((m) => m.id), attached: info.tap.progId === id,
      ...(k.progBtf.has(id) ? { btfId: k.progBtf.get(id)!.id } : {}),
    });
  }
  return out;
}

/** Plain-text rendering of a snapshot. */
export function renderHostShow(h: HostShow): string {
  const lines: string[] = [];
  for (const t of h.taps) {
    const x = t.xdpoffload === null ? "" : ` xdpoffload prog/xdp id ${t.xdpoffload.id} name ${t.xdpoffload.name} tag ${t.xdpoffload.tag}`;
    lines.push(`${t.ifindex}: ${t.name}: guest ${t.guest} nic ${t.nic}${x}`);
  }
  for (const m of h.maps) {
    lines.push(`map ${m.id}: ${m.type}  name ${m.name}  owner ${m.owner}  dev ${m.dev}`);
    lines.push(`\tkey ${m.keySize}B  value ${m.valueSize}B  max_entries ${m.maxEntries}  bytes ${m.bytes}${m.btfId !== undefined ? `  btf_id ${m.btfId}` : ""}`);
  }
  for (const p of h.progs) {
    lines.push(`prog ${p.id}: xdp  name ${p.name}  tag ${p.tag}  owner ${p.owner}  dev ${p.dev}${p.attached ? "  attached" : ""}`);
    lines.push(`\tinsns ${p.insns}${p.mapIds.length > 0 ? `  map_ids ${p.mapIds.join(",")}` : ""}${p.btfId !== undefined ? `  btf_id ${p.btfId}` : ""}`);
  }
  if (lines.length === 0) lines.push("no taps, maps or programs");
  return lines.join("\n") + "\n";
}
