// bpf_redirect_map() on a DEVMAP, inlined by the JIT (jit_wasm.ts
// redirectMapInline, the counterpart of do_misc_fixups() turning the call into
// __bpf_xdp_redirect_map) against the interpreter's helper call: same return
// value and the same redirect target and map id left in the context, for keys
// in and out of range (high half too), present and empty entries, every flag
// the helper accepts or refuses, on a private and on a shared memory, and after
// the map changes under the compiled program. xdp_redirect_map.o (the RFC's
// Case 1 program) agrees on both engines too.
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { BpfKernel } from "../../../../shared/bpf/syscall.ts";
import { BpfInsns } from "../../../../shared/bpf/isa/insn.ts";
import { BPF_MAP_TYPE_DEVMAP, BPF_PROG_TYPE_XDP, XDP_REDIRECT } from "../../../../shared/bpf/isa/uapi.ts";
import { XdpFrame, runXdp } from "../../../../shared/bpf/runtime/xdp.ts";
import { interpRun } from "../../../../shared/bpf/runtime/interp.ts";
import { jitRun } from "../../../../shared/bpf/runtime/engine.ts";
import { runXdpBatch } from "../../../../shared/bpf/runtime/batch.ts";
import { jitVmOf } from "../../../../shared/bpf/jit/jit_cache.ts";
import { XDP_CTX_REDIRECT, XDP_CTX_REDIRECT_MAP } from "../../../../shared/bpf/runtime/vm.ts";
import { loadObject } from "../../../../shared/bpf/libbpf/libbpf.ts";
import { openObject } from "../../../../shared/bpf/libbpf/object.ts";
import { PROGRAMS_DIR } from "../../../helpers/repo.ts";

const u32le = (v: number) => { const b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, v, true); return b; };

/** A devmap of 4 (valueSize 4 or 8) with slots 1 and 3 set, and a program taking key and flags (u64 each) from the packet. */
function setup(shared: boolean, valueSize: 4 | 8) {
  const k = new BpfKernel({ sharedMemory: shared });
  k.addNetdev(5, "eth5");
  k.addNetdev(7, "eth7");
  const m = k.mapCreate({ mapType: BPF_MAP_TYPE_DEVMAP, keySize: 4, valueSize, maxEntries: 4, mapFlags: 0, name: "tx_port" });
  if (typeof m === "number") throw new Error(`map: ${m}`);
  const val = (ifindex: number) => (valueSize === 4 ? u32le(ifindex) : Uint8Array.of(...u32le(ifindex), 0, 0, 0, 0));
  expect(m.sysUpdate(u32le(1), val(5), 0)).toBe(0);
  expect(m.sysUpdate(u32le(3), val(7), 0)).toBe(0);
  const insns = BpfInsns.fromTuples([
    [0x61, 6, 1, 0, 0], // r6 = ctx->data
    [0x79, 2, 6, 0, 0], // r2 = *(u64 *)(data + 0): key
    [0x79, 3, 6, 8, 0], // r3 = *(u64 *)(data + 8): flags
    [0x18, 1, 1, 0, m.id], [0, 0, 0, 0, 0], // r1 = devmap
    [0x85, 0, 0, 0, 51], // bpf_redirect_map
    [0x95, 0, 0, 0, 0],
  ]);
  const r = k.progLoad({ progType: BPF_PROG_TYPE_XDP, insns, license: "GPL", name: "redir", verify: false });
  if (r.prog === null) throw new Error(r.message);
  return { k, m, prog: r.prog, val };
}

const KEYS: Array<[number, number]> = [[0, 0], [1, 0], [2, 0], [3, 0], [4, 0], [0xffffffff, 0], [1, 1], [3, 0x80000000]];
const FLAGS: Array<[number, number]> = [
  [0, 0], [1, 0], [2, 0], [3, 0], [8, 0], [16, 0], [0x1b, 0], [4, 0], [0x20, 0], [0x80000000, 0], [0, 1], [2, 0xffffffff],
];

/** Runs the program on (key, flags) with `engine`; returns r0 and what it left in the context. */
function run(s: ReturnType<typeof setup>, f: XdpFrame, key: [number, number], flags: [number, number],
  engine: typeof interpRun): string {
  const vm = s.k.vm;
  f.prepare(vm, 64, 2, 0);
  const dv = vm.mem.dv, d = f.dataAddr();
  dv.setUint32(d, key[0], true); dv.setUint32(d + 4, key[1], true);
  dv.setUint32(d + 8, flags[0], true); dv.setUint32(d + 12, flags[1], true);
  const ret = runXdp(vm, s.prog, f, engine);
  return `ret=${ret} ifindex=${vm.mem.dv.getUint32(f.ctx + XDP_CTX_REDIRECT, true)} map=${vm.mem.dv.getUint32(f.ctx + XDP_CTX_REDIRECT_MAP, true)}`;
}

describe("bpf_redirect_map inlined by the JIT for a DEVMAP", () => {
  for (const shared of [false, true]) {
    for (const valueSize of [4, 8] as const) {
      it(`same verdicts and redirect slots as the helper (${shared ? "shared" : "private"} memory, ${valueSize}-byte values)`, () => {
        const s = setup(shared, valueSize);
        const f = new XdpFrame(s.k.vm);
        // The compiled code never calls back into the helper for it.
        const jv = jitVmOf(s.k.vm);
        let helperCalls = 0;
        const orig = jv.helper.bind(jv);
        jv.helper = (id: number, pc: number) => { helperCalls++; return orig(id, pc); };
        const outcomes = new Set<string>();
        for (const key of KEYS) {
          for (const flags of FLAGS) {
            const a = run(s, f, key, flags, interpRun);
            expect(run(s, f, key, flags, jitRun), `key ${key} flags ${flags}`).toBe(a);
            outcomes.add(a);
          }
        }
        expect(helperCalls).toBe(0);
        // The cases reach every branch: a redirect to each present entry, the fallback action, abort.
        expect(run(s, f, [1, 0], [0, 0], jitRun)).toBe(`ret=${XDP_REDIRECT} ifindex=5 map=${s.m.id}`);
        expect(run(s, f, [3, 0], [2, 0], jitRun)).toBe(`ret=${XDP_REDIRECT} ifindex=7 map=${s.m.id}`);
        expect(run(s, f, [2, 0], [2, 0], jitRun)).toBe("ret=2 ifindex=0 map=0");
        expect(run(s, f, [1, 1], [3, 0], jitRun)).toBe("ret=3 ifindex=0 map=0");
        expect(run(s, f, [1, 0], [0x20, 0], jitRun)).toBe("ret=0 ifindex=0 map=0");
        expect(outcomes.size).toBeGreaterThanOrEqual(6);
        // The compiled program reads the map live: emptied and refilled entries are seen at once.
        expect(s.m.sysDelete(u32le(1))).toBe(0);
        expect(run(s, f, [1, 0], [1, 0], jitRun)).toBe(run(s, f, [1, 0], [1, 0], interpRun));
        expect(run(s, f, [1, 0], [1, 0], jitRun)).toBe("ret=1 ifindex=0 map=0");
        expect(s.m.sysUpdate(u32le(2), s.val(5), 0)).toBe(0);
        expect(run(s, f, [2, 0], [0, 0], jitRun)).toBe(`ret=${XDP_REDIRECT} ifindex=5 map=${s.m.id}`);
        expect(run(s, f, [2, 0], [0, 0], interpRun)).toBe(`ret=${XDP_REDIRECT} ifindex=5 map=${s.m.id}`);
      });
    }
  }

  it("xdp_redirect_map.o: the batch entry redirects every frame to the tap slot, as the interpreter does", () => {
    const file = path.join(PROGRAMS_DIR, "xdp_redirect_map.o");
    const k = new BpfKernel({ sharedMemory: true });
    k.addNetdev(3, "tap0");
    const prog = [...loadObject(k, openObject(readFileSync(file), { file })).progs.values()][0]!;
    const dm = prog.usedMaps.find((x) => x.mapType === BPF_MAP_TYPE_DEVMAP)!;
    expect(dm.sysUpdate(u32le(0), u32le(3), 0)).toBe(0);
    const frames = Array.from({ length: 8 }, () => new XdpFrame(k.vm));
    const v = new Uint32Array(8);
    for (const f of frames) f.prepare(k.vm, 64, 2, 0);
    expect(runXdpBatch(k.vm, prog, frames, 8, v)).toBe(0);
    expect([...v]).toEqual(new Array(8).fill(XDP_REDIRECT));
    for (const f of frames) {
      expect(k.vm.mem.dv.getUint32(f.ctx + XDP_CTX_REDIRECT, true)).toBe(3);
      expect(k.vm.mem.dv.getUint32(f.ctx + XDP_CTX_REDIRECT_MAP, true)).toBe(dm.id);
      f.prepare(k.vm, 64, 2, 0);
      expect(runXdp(k.vm, prog, f, interpRun)).toBe(XDP_REDIRECT);
      expect(k.vm.mem.dv.getUint32(f.ctx + XDP_CTX_REDIRECT, true)).toBe(3);
    }
  });
});
