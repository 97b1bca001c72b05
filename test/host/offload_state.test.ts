// host/offload_state.ts with prog arrays: a session's reset or close frees
// every kernel object it made, also when a prog array slot holds a program
// whose guest handle is gone and which tail-calls through that very array
// (the slot's reference and the program's map reference form a cycle that the
// array's last user reference breaks, as prog_array_map_clear() does).
import { describe, expect, it } from "vitest";
import { BpfKernel } from "../../shared/bpf/syscall.ts";
import { assemble } from "../../shared/bpf/isa/asm.ts";
import { OffloadState } from "../../host/offload_state.ts";
import { defaultCaps } from "../../shared/bpf/offload/caps.ts";
import { BPF_MAP_TYPE_PROG_ARRAY, BPF_PROG_TYPE_XDP } from "../../shared/bpf/isa/uapi.ts";

const u32 = (n: number) => Uint8Array.of(n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24);

function sessionWithCycle(st: OffloadState) {
  const k = st.kernel;
  const s = st.openSession("g", true, 1, defaultCaps());
  const tap = s.taps[0]!;
  const pa = k.mapCreate({ mapType: BPF_MAP_TYPE_PROG_ARRAY, keySize: 4, valueSize: 4, maxEntries: 4, mapFlags: 0, name: "jmp", mapIfindex: tap.ifindex });
  if (typeof pa === "number") throw new Error(`map ${pa}`);
  st.addMap(s, tap, pa.id);
  const r = k.progLoad({
    progType: BPF_PROG_TYPE_XDP, license: "GPL", name: "self", progIfindex: tap.ifindex,
    insns: assemble(`lddw %r2, map_fd ${pa.id}\nmov %r3, 0\ncall 12\nmov %r0, 2\nexit`),
  });
  if (r.prog === null) throw new Error(r.message);
  st.addProg(s, tap, r.prog.id, [pa.id]);
  expect(pa.sysUpdate(u32(0), u32(r.prog.id), 0)).toBe(0);
  return { s, pa, prog: r.prog };
}

describe("OffloadState with prog arrays", () => {
  for (const close of [false, true]) {
    it(`${close ? "closing" : "resetting"} a session frees a program held by a prog array slot and the array itself`, () => {
      const st = new OffloadState(new BpfKernel({ sharedMemory: true }));
      const { s, pa, prog } = sessionWithCycle(st);
      st.putProg(prog.id); // the guest freed its handle: the slot keeps the program
      expect(st.kernel.progs.has(prog.id)).toBe(true);
      st.resetSession(s, close);
      expect(st.kernel.progs.size).toBe(0);
      expect(st.kernel.maps.has(pa.id)).toBe(false);
    });
  }
});
