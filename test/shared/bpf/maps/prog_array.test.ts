// PROG_ARRAY in a kernel (shared/bpf/maps/prog_array.ts with BpfKernel): the
// slots' program references (a program closed by its loader lives on in a
// slot, the last user reference of the array empties it), the owner and
// device rules of __bpf_prog_map_compatible() at update and at load
// (bpf_check_tail_call()), and tail calls through slots in BPF memory on
// every engine (interpreter, JIT, JIT batch) and from another thread's view.
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import path from "node:path";
import { assemble } from "../../../../shared/bpf/isa/asm.ts";
import { BpfKernel } from "../../../../shared/bpf/syscall.ts";
import { loadObject } from "../../../../shared/bpf/libbpf/libbpf.ts";
import { openObject } from "../../../../shared/bpf/libbpf/object.ts";
import { XdpFrame, runXdp } from "../../../../shared/bpf/runtime/xdp.ts";
import { runXdpBatch } from "../../../../shared/bpf/runtime/batch.ts";
import { interpRun } from "../../../../shared/bpf/runtime/interp.ts";
import { jitRun } from "../../../../shared/bpf/runtime/engine.ts";
import type { BpfProg } from "../../../../shared/bpf/runtime/prog.ts";
import { BpfThreadKernel, exportBpfThread, mapThreadUnsupported, tailCallClosure } from "../../../../shared/bpf/thread_view.ts";
import { ProgArrayMap } from "../../../../shared/bpf/maps/prog_array.ts";
import { BPF_MAP_TYPE_PROG_ARRAY, BPF_PROG_TYPE_XDP, MAX_TAIL_CALL_CNT, XDP_DROP, XDP_PASS, XDP_TX } from "../../../../shared/bpf/isa/uapi.ts";
import { EINVAL } from "../../../../shared/errno.ts";
import { testCorpus } from "../../../../shared/net/packets.ts";
import { PROGRAMS_DIR } from "../../../helpers/repo.ts";

const u32 = (n: number) => Uint8Array.of(n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24);

function loadSample(kernel: BpfKernel, obj: string) {
  const file = path.join(PROGRAMS_DIR, obj);
  return loadObject(kernel, openObject(readFileSync(file), { file }));
}

function progArray(kernel: BpfKernel, mapIfindex = 0): ProgArrayMap {
  const m = kernel.mapCreate({ mapType: BPF_MAP_TYPE_PROG_ARRAY, keySize: 4, valueSize: 4, maxEntries: 4, mapFlags: 0, name: "pa", mapIfindex });
  if (typeof m === "number") throw new Error(`map create ${m}`);
  return m as ProgArrayMap;
}

/** r0 = K; exit, loaded bound to `ifindex` (0: a host program). */
function retProg(kernel: BpfKernel, k: number, ifindex = 0): BpfProg {
  const r = kernel.progLoad({ progType: BPF_PROG_TYPE_XDP, insns: assemble(`mov %r0, ${k}\nexit`), license: "GPL", name: `ret${k}`, progIfindex: ifindex });
  if (r.prog === null) throw new Error(r.message);
  return r.prog;
}

/** A program that tail-calls slot 0 of `pa` and returns 7 when that falls through. */
function callerSrc(pa: ProgArrayMap): string {
  return `mov %r6, %r1\nlddw %r2, map_fd ${pa.id}\nmov %r3, 0\ncall 12\nmov %r0, 7\nexit`;
}

describe("prog array slots and program lifetime", () => {
  it("a program closed by its loader lives on in a slot; emptying the slot frees it", () => {
    const k = new BpfKernel();
    const pa = progArray(k);
    const p = retProg(k, XDP_TX);
    expect(pa.sysUpdate(u32(0), u32(p.id), 0)).toBe(0);
    expect(k.progFree(p.id)).toBe(0);
    expect(k.progs.get(p.id)).toBe(p); // held by the slot
    expect(k.progFree(p.id)).toBe(-9); // EBADF: the loader's reference is gone
    expect(pa.progAt(0)).toBe(p);
    expect(pa.sysDelete(u32(0))).toBe(0);
    expect(k.progs.has(p.id)).toBe(false);
  });

  it("closing the array's last user reference empties it (prog_array_map_clear), which frees a program tail-calling itself", () => {
    const k = new BpfKernel();
    const pa = progArray(k);
    const r = k.progLoad({ progType: BPF_PROG_TYPE_XDP, insns: assemble(callerSrc(pa)), license: "GPL", name: "self" });
    const self = r.prog!;
    expect(pa.sysUpdate(u32(0), u32(self.id), 0)).toBe(0);
    expect(k.progFree(self.id)).toBe(0);
    expect(k.progs.has(self.id)).toBe(true); // the cycle: the slot holds the program, the program uses the map
    expect(k.mapFree(pa.id)).toBe(0);
    expect(k.progs.has(self.id)).toBe(false);
    expect(k.maps.has(pa.id)).toBe(false);
  });

  it("replacing a slot drops the old program's reference", () => {
    const k = new BpfKernel();
    const pa = progArray(k);
    const a = retProg(k, 1), b = retProg(k, 2);
    expect(pa.sysUpdate(u32(1), u32(a.id), 0)).toBe(0);
    k.progFree(a.id);
    expect(pa.sysUpdate(u32(1), u32(b.id), 0)).toBe(0);
    expect(k.progs.has(a.id)).toBe(false);
    expect(pa.progAt(1)).toBe(b);
  });
});

describe("__bpf_prog_map_compatible(): device binding and owner type", () => {
  it("refuses a device-bound program in a host prog array and a host program in an offloaded one (EINVAL), same device accepted", () => {
    const k = new BpfKernel();
    k.addNetdev(5, "tap0");
    k.addNetdev(6, "tap1");
    const host = progArray(k), off = progArray(k, 5);
    const hp = retProg(k, 2), bound = retProg(k, 2, 5), other = retProg(k, 2, 6);
    expect(host.sysUpdate(u32(0), u32(bound.id), 0)).toBe(-EINVAL);
    expect(off.sysUpdate(u32(0), u32(hp.id), 0)).toBe(-EINVAL);
    expect(off.sysUpdate(u32(0), u32(other.id), 0)).toBe(-EINVAL);
    expect(off.sysUpdate(u32(0), u32(bound.id), 0)).toBe(0);
    expect(host.sysUpdate(u32(0), u32(hp.id), 0)).toBe(0);
  });

  it("refuses at load a program that uses a prog array it could not sit in (bpf_check_tail_call())", () => {
    const k = new BpfKernel();
    k.addNetdev(5, "tap0");
    const host = progArray(k), off = progArray(k, 5);
    const load = (pa: ProgArrayMap, ifindex: number) =>
      k.progLoad({ progType: BPF_PROG_TYPE_XDP, insns: assemble(callerSrc(pa)), license: "GPL", name: "c", progIfindex: ifindex });
    const a = load(host, 5);
    expect(a.prog).toBe(null);
    expect(a.errno).toBe(EINVAL);
    expect(a.prog === null && a.message).toContain("a device-bound program cannot use a host prog array");
    const b = load(off, 0);
    expect(b.errno).toBe(EINVAL);
    expect(b.prog === null && b.message).toContain("offload device mismatch between prog and prog array");
    expect(load(off, 5).prog).not.toBe(null);
    expect(load(host, 0).prog).not.toBe(null);
    expect(off.ownerProgType).toBe(BPF_PROG_TYPE_XDP);
  });
});

describe("tail calls through slots in BPF memory", () => {
  const engines = { interp: interpRun, jit: jitRun } as const;

  function chainKernel(sharedMemory = false) {
    const k = new BpfKernel({ sharedMemory });
    const o = loadSample(k, "xdp_tail_chain.o");
    const pa = [...k.maps.values()].find((m) => m.name === "chain_progs") as ProgArrayMap;
    const p = (n: number) => o.progs.get(`xdp_chain_${n}`)!;
    return { k, pa, p };
  }

  function frameWith(k: BpfKernel, bytes: Uint8Array): XdpFrame {
    const f = new XdpFrame(k.vm);
    f.prepare(k.vm, bytes.length, 1, 0);
    k.mem.u8.set(bytes, f.dataAddr());
    return f;
  }

  const pkt = testCorpus(0).find((x) => x.name === "ipv4-udp-64")!.bytes;

  for (const [name, engine] of Object.entries(engines)) {
    it(`${name}: the three-stage chain ends where the slots end (XDP_TX, XDP_DROP, XDP_PASS)`, () => {
      const { k, pa, p } = chainKernel();
      const run = () => runXdp(k.vm, p(0), frameWith(k, pkt), engine);
      expect(run()).toBe(XDP_PASS);
      expect(pa.sysUpdate(u32(1), u32(p(1).id), 0)).toBe(0);
      expect(run()).toBe(XDP_DROP);
      expect(pa.sysUpdate(u32(2), u32(p(2).id), 0)).toBe(0);
      const f = frameWith(k, pkt);
      expect(runXdp(k.vm, p(0), f, engine)).toBe(XDP_TX);
      // Stage 2 swapped the MACs after stages 0 and 1 marked them.
      const out = k.mem.u8.slice(f.dataAddr(), f.dataAddr() + 12);
      expect(out[5]).toBe((pkt[11]! + 1) & 0xff);
      expect(out[6]).toBe(pkt[12]);
    });

    it(`${name}: xdp_tail_loop runs 1 + MAX_TAIL_CALL_CNT times, an empty slot not counted`, () => {
      const k = new BpfKernel();
      const o = loadSample(k, "xdp_tail_loop.o");
      for (const prog of ["xdp_loop_self", "xdp_loop_empty"]) {
        const f = frameWith(k, pkt);
        runXdp(k.vm, o.progs.get(prog)!, f, engine);
        expect(k.mem.u8[f.dataAddr()], prog).toBe((pkt[0]! + 1 + MAX_TAIL_CALL_CNT) & 0xff);
      }
    });
  }

  it("the JIT's batch entry agrees with one run per frame", () => {
    const { k, pa, p } = chainKernel();
    expect(pa.sysUpdate(u32(1), u32(p(1).id), 0)).toBe(0);
    const frames = [frameWith(k, pkt), frameWith(k, pkt), frameWith(k, pkt)];
    const v = new Uint32Array(3);
    runXdpBatch(k.vm, p(0), frames, 3, v);
    expect([...v]).toEqual([XDP_DROP, XDP_DROP, XDP_DROP]);
  });

  it("another thread's view reaches the programs it was given through the same slots; one it was not given reads as empty", () => {
    const { k, pa, p } = chainKernel(true);
    expect(mapThreadUnsupported(pa)).toBe(null);
    expect(pa.sysUpdate(u32(1), u32(p(1).id), 0)).toBe(0);
    expect(tailCallClosure(k, [p(0)]).map((q) => q.name)).toEqual(["xdp_chain_0", "xdp_chain_1"]);
    const t = new BpfThreadKernel(exportBpfThread(k, [p(0)]), 1);
    expect([...t.progs.keys()].sort()).toEqual([p(0).id, p(1).id].sort());
    const f = frameWith(k, pkt);
    const v = new Uint32Array(1);
    // Slot 2 filled by the owner after the export: the thread does not know xdp_chain_2 yet.
    expect(pa.sysUpdate(u32(2), u32(p(2).id), 0)).toBe(0);
    runXdpBatch(t.vm, t.progs.get(p(0).id)!, [f], 1, v);
    expect(v[0]).toBe(XDP_DROP);
    t.addImage(exportBpfThread(k, [p(2)], 0));
    runXdpBatch(t.vm, t.progs.get(p(0).id)!, [frameWith(k, pkt)], 1, v);
    expect(v[0]).toBe(XDP_TX);
    // The owner empties slot 1: the thread sees it at once (same bytes).
    expect(pa.sysDelete(u32(1))).toBe(0);
    runXdpBatch(t.vm, t.progs.get(p(0).id)!, [frameWith(k, pkt)], 1, v);
    expect(v[0]).toBe(XDP_PASS);
  });
});
