// A kernel's programs run from another thread over its shared memory
// (thread_view.ts): map values written by a Worker's program are what the
// owner's syscall side reads, devmap entries the owner writes are what the
// Worker's bpf_redirect_map() sees, and maps a thread cannot reach are refused.
import { describe, expect, it } from "vitest";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import path from "node:path";
import { BpfKernel } from "../../../shared/bpf/syscall.ts";
import { loadObject } from "../../../shared/bpf/libbpf/libbpf.ts";
import { openObject } from "../../../shared/bpf/libbpf/object.ts";
import { XdpFrame } from "../../../shared/bpf/runtime/xdp.ts";
import { exportBpfThread } from "../../../shared/bpf/thread_view.ts";
import { spawnTsWorker } from "../../../shared/sched/ts_worker.ts";
import { buildFrame } from "../../../shared/net/packets.ts";
import { IPPROTO_TCP, IPPROTO_UDP } from "../../../shared/net/headers.ts";
import { EINVAL, EOPNOTSUPP, KernelError } from "../../../shared/errno.ts";
import { XDP_DROP, XDP_REDIRECT } from "../../../shared/bpf/isa/uapi.ts";
import { PROGRAMS_DIR } from "../../helpers/repo.ts";

function load(kernel: BpfKernel, obj: string) {
  const file = path.join(PROGRAMS_DIR, obj);
  return loadObject(kernel, openObject(readFileSync(file), { file }));
}

async function runInWorker(kernel: BpfKernel, progId: number, frames: XdpFrame[], rounds: number) {
  const image = exportBpfThread(kernel, [kernel.progs.get(progId)!]);
  const ctxs = Uint32Array.from(frames.map((f) => f.ctx));
  const w = spawnTsWorker(new URL("./thread_view_worker.ts", import.meta.url), { image, progId, ctxs, rounds, cpu: 1 });
  const [msg] = await once(w, "message") as [{ verdicts: number[]; redirect: number[] }];
  await w.terminate();
  return msg;
}

describe("BPF objects from another thread", () => {
  it("xdp1 run by a Worker counts into the array map the owner reads (atomics on the shared memory)", async () => {
    const kernel = new BpfKernel({ sharedMemory: true });
    const obj = load(kernel, "xdp1.o");
    const prog = obj.progList[0]!;
    const frames: XdpFrame[] = [];
    for (let i = 0; i < 8; i++) {
      const pkt = buildFrame({ l3: "ipv4", l4: i < 5 ? IPPROTO_UDP : IPPROTO_TCP, frameLen: 64 });
      const f = new XdpFrame(kernel.vm);
      f.prepare(kernel.vm, pkt.length, 1, 0);
      kernel.mem.u8.set(pkt, f.dataAddr());
      frames.push(f);
    }
    const msg = await runInWorker(kernel, prog.id, frames, 1000);
    expect(msg.verdicts).toEqual(new Array(8).fill(XDP_DROP));
    const rxcnt = [...kernel.maps.values()].find((m) => m.name === "rxcnt")!;
    const v = new Uint8Array(8);
    const count = (proto: number) => {
      expect(rxcnt.sysLookup(Uint8Array.of(proto, 0, 0, 0), v)).toBe(0);
      return Number(new DataView(v.buffer).getBigUint64(0, true));
    };
    expect(count(IPPROTO_UDP)).toBe(5000);
    expect(count(IPPROTO_TCP)).toBe(3000);
  }, 60_000);

  it("bpf_redirect_map() in a Worker sees the devmap entry the owner wrote", async () => {
    const kernel = new BpfKernel({ sharedMemory: true });
    kernel.addNetdev(7, "tap0");
    const obj = load(kernel, "xdp_redirect_map.o");
    const prog = obj.progList[0]!;
    const txPort = [...kernel.maps.values()].find((m) => m.name === "tx_port")!;
    expect(txPort.sysUpdate(Uint8Array.of(0, 0, 0, 0), Uint8Array.of(7, 0, 0, 0), 0)).toBe(0);
    const pkt = buildFrame({ l3: "ipv4", l4: IPPROTO_UDP, frameLen: 64 });
    const f = new XdpFrame(kernel.vm);
    f.prepare(kernel.vm, pkt.length, 1, 0);
    kernel.mem.u8.set(pkt, f.dataAddr());
    const msg = await runInWorker(kernel, prog.id, [f], 1);
    expect(msg.verdicts).toEqual([XDP_REDIRECT]);
    expect(msg.redirect).toEqual([7]);
  }, 60_000);

  it("refuses programs using maps whose state is not in the shared memory (EOPNOTSUPP naming the map), and unshared kernels (EINVAL)", () => {
    const kernel = new BpfKernel({ sharedMemory: true });
    const obj = load(kernel, "xdp_hash.o");
    const prog = obj.progList[0]!;
    let err: unknown = null;
    try {
      exportBpfThread(kernel, [prog]);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(KernelError);
    expect((err as KernelError).errno).toBe(EOPNOTSUPP);
    expect((err as KernelError).message).toMatch(/hash maps keep their state in the owner thread/);
    const plain = new BpfKernel();
    const p2 = load(plain, "xdp1.o").progList[0]!;
    expect(() => exportBpfThread(plain, [p2])).toThrow(expect.objectContaining({ errno: EINVAL }));
  });
});
