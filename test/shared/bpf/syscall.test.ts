// BpfKernel object lifetime: map references held by loaded programs
// (bpf_prog_aux->used_maps), as bpf_map_put() and bpf_free_used_maps() do.
import { describe, expect, it } from "vitest";
import { BpfKernel } from "../../../shared/bpf/syscall.ts";
import { assemble } from "../../../shared/bpf/isa/asm.ts";
import { BPF_MAP_TYPE_ARRAY, BPF_PROG_TYPE_XDP } from "../../../shared/bpf/isa/uapi.ts";
import { EBADF } from "../../../shared/errno.ts";

function kernelWithProg() {
  const kernel = new BpfKernel();
  const map = kernel.mapCreate({ mapType: BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: 8, maxEntries: 4, mapFlags: 0, name: "cnt" });
  if (typeof map === "number") throw new Error(`mapCreate ${map}`);
  const text = `
    stw [%r10-4], 0
    mov %r2, %r10
    add %r2, -4
    lddw %r1, map_fd ${map.id}
    call 1
    mov %r0, 2
    exit`;
  const res = kernel.progLoad({ progType: BPF_PROG_TYPE_XDP, insns: assemble(text), license: "GPL", name: "p" });
  if (res.prog === null) throw new Error(res.message);
  return { kernel, map, prog: res.prog };
}

describe("BpfKernel map lifetime", () => {
  it("mapFree() keeps a map alive while a loaded program uses it, and frees it with the program", () => {
    const { kernel, map, prog } = kernelWithProg();
    const used = kernel.mem.usedBytes;
    expect(kernel.mapFree(map.id)).toBe(0);
    expect(kernel.maps.has(map.id)).toBe(true);
    expect(kernel.mapByAddr(map.addr)).toBe(map);
    expect(kernel.mem.usedBytes).toBe(used);
    expect(kernel.mapFree(map.id)).toBe(-EBADF); // the creator's reference is gone already
    expect(kernel.progFree(prog.id)).toBe(0);
    expect(kernel.maps.has(map.id)).toBe(false);
    expect(kernel.mapByAddr(map.addr)).toBeUndefined();
    expect(kernel.mem.usedBytes).toBeLessThan(used);
  });

  it("progFree() leaves a map the user still holds", () => {
    const { kernel, map, prog } = kernelWithProg();
    expect(kernel.progFree(prog.id)).toBe(0);
    expect(kernel.maps.has(map.id)).toBe(true);
    expect(kernel.mapFree(map.id)).toBe(0);
    expect(kernel.maps.has(map.id)).toBe(false);
  });
});
