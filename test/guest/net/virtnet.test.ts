// The guest's virtio-net queue pair with a program in its DRV slot: what goes
// up the stack (napi_gro_receive, onNetifReceive) is the packet as the program
// left it, dropped packets are not handed up, and the ethtool counters say so.
// Rings, refill and NAPI without a program: test/shared/virtio.
import { describe, expect, it } from "vitest";
import { BpfKernel } from "../../../shared/bpf/syscall.ts";
import { assemble } from "../../../shared/bpf/isa/asm.ts";
import { BPF_PROG_TYPE_XDP } from "../../../shared/bpf/isa/uapi.ts";
import { devicePutUsed } from "../../../shared/virtio/vring_device.ts";
import { makePair } from "../../shared/virtio/vq_pair.ts";

// Drops packets shorter than 14 bytes or starting with 0xdd; strips 14 bytes
// (bpf_xdp_adjust_head) from the others and passes them.
const STRIP_OR_DROP = `
  mov %r6, %r1
  ldxw %r2, [%r1+0]
  ldxw %r3, [%r1+4]
  mov %r4, %r2
  add %r4, 14
  mov %r0, 1
  jgt %r4, %r3, +7
  ldxb %r5, [%r2+0]
  jeq %r5, 0xdd, +5
  mov %r1, %r6
  mov %r2, 14
  call 44
  mov %r0, 2
  exit
  exit`;

describe("virtio-net queue pair with native XDP", () => {
  it("the stack gets XDP_PASS packets from where the program moved data; drops stay below", () => {
    const kernel = new BpfKernel({ sharedMemory: true });
    kernel.addNetdev(2, "eth0");
    const res = kernel.progLoad({ progType: BPF_PROG_TYPE_XDP, insns: assemble(STRIP_OR_DROP), license: "GPL", name: "strip" });
    if (res.prog === null) throw new Error(res.message);
    const p = makePair({ bpf: kernel });
    p.qp.xdpProg = res.prog;
    const up: number[][] = [];
    p.qp.onNetifReceive = (mem, off, len) => void up.push([len, ...mem.subarray(off, off + 2)]);
    p.qp.open();
    const pkts = [Uint8Array.from({ length: 64 }, (_, i) => i), new Uint8Array(64).fill(0xdd), new Uint8Array(10)];
    for (const pkt of pkts) expect(devicePutUsed(p.devRx, pkt, 0, pkt.length)).toBe(pkt.length);
    p.dev.flush();
    while (p.qp.napiScheduled) p.qp.poll();
    expect(up).toEqual([[50, 14, 15]]);
    expect([...p.qp.xdpVerdicts]).toEqual([2, 1, 0, 0]);
    const counters = ["rx_queue_0_packets", "rx_queue_0_xdp_packets", "rx_queue_0_xdp_drops", "rx_queue_0_drops"] as const;
    expect(counters.map((n) => p.stat(n))).toEqual([3, 3, 2, 2]);
  });
});
