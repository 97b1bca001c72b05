// BpfVm's xdp_md handling against the uapi layout: setXdpCtx()/refreshPacket()
// spell the offsets as literals (they run per packet), so they are checked here
// against XDP_MD_*.
import { describe, expect, it } from "vitest";
import { BpfMemory } from "../../../../shared/bpf/runtime/memory.ts";
import { BpfVm } from "../../../../shared/bpf/runtime/vm.ts";
import {
  XDP_MD_DATA, XDP_MD_DATA_END, XDP_MD_DATA_META, XDP_MD_RX_QUEUE_INDEX, XDP_MD_SIZE,
} from "../../../../shared/bpf/isa/uapi.ts";

describe("BpfVm xdp_md context", () => {
  it("takes the packet bounds from data_meta and data_end, the context as struct xdp_md, rx_queue_index as its writable u32", () => {
    const mem = new BpfMemory();
    const vm = new BpfVm(mem, [], { mapByAddr: () => undefined });
    const ctx = mem.alloc(64, 64);
    mem.dv.setUint32(ctx + XDP_MD_DATA, 0x1100, true);
    mem.dv.setUint32(ctx + XDP_MD_DATA_END, 0x1140, true);
    mem.dv.setUint32(ctx + XDP_MD_DATA_META, 0x10f0, true);
    vm.setXdpCtx(ctx, true);
    expect([vm.ctxLo, vm.ctxHi]).toEqual([ctx, ctx + XDP_MD_SIZE]);
    expect([vm.pktLo, vm.pktHi]).toEqual([0x10f0, 0x1140]);
    expect([vm.ctxWrLo, vm.ctxWrHi]).toEqual([ctx + XDP_MD_RX_QUEUE_INDEX, ctx + XDP_MD_RX_QUEUE_INDEX + 4]);
    mem.dv.setUint32(ctx + XDP_MD_DATA_META, 0x10e0, true);
    mem.dv.setUint32(ctx + XDP_MD_DATA_END, 0x1150, true);
    vm.refreshPacket();
    expect([vm.pktLo, vm.pktHi]).toEqual([0x10e0, 0x1150]);
    vm.setXdpCtx(ctx, false);
    expect([vm.ctxWrLo, vm.ctxWrHi]).toEqual([0, 0]);
  });
});
