// BPF_PROG_TEST_RUN for XDP programs (net/bpf/test_run.c,
// bpf_prog_test_run_xdp): the packet goes into a page-sized frame with 256
// bytes of headroom, the program runs `repeat` times on the same buffer
// through the datapath's entry (runXdp), and the output is the frame from
// data_meta to data_end.
import type { BpfKernel } from "../syscall.ts";
import type { BpfProg } from "./prog.ts";
import { XdpFrame, XDP_MAX_DATA_SZ, runXdp } from "./xdp.ts";
import { jitCompile, jitRun, type BpfEngine } from "./engine.ts";
import { runXdpRepeat } from "./batch.ts";
import { EFAULT, EINVAL, KernelError } from "../../errno.ts";
import { ETH_HLEN } from "../isa/uapi.ts";

export interface XdpTestRunOpts {
  dataIn: Uint8Array;
  repeat?: number;
  /** xdp_md.ingress_ifindex; the kernel's test run uses the loopback device (1) unless ctx_in says otherwise. */
  ingressIfindex?: number;
  rxQueueIndex?: number;
  engine?: BpfEngine;
}

export interface XdpTestRunResult {
  retval: number;
  /** Average wall time per run in ns, over the whole repeat loop. */
  durationNs: number;
  dataOut: Uint8Array;
}

const frames = new WeakMap<BpfKernel, XdpFrame>();

/** Runs an XDP program like `bpftool prog run`. Throws KernelError (EINVAL bad input, EFAULT runtime fault). */
export function xdpTestRun(kernel: BpfKernel, prog: BpfProg, o: XdpTestRunOpts): XdpTestRunResult {
  const len = o.dataIn.length;
  if (len < ETH_HLEN) {
    throw new KernelError(EINVAL, `Cannot run program: data_in has ${len} bytes, XDP test runs need at least ETH_HLEN (14)`);
  }
  if (len > XDP_MAX_DATA_SZ) {
    throw new KernelError(EINVAL, `Cannot run program: data_in has ${len} bytes, more than the ${XDP_MAX_DATA_SZ} a linear frame holds`);
  }
  const repeat = Math.max(1, o.repeat ?? 1);
  const vm = kernel.vm;
  let f = frames.get(kernel);
  if (f === undefined) {
    f = new XdpFrame(vm);
    frames.set(kernel, f);
  }
  f.prepare(vm, len, o.ingressIfindex ?? 1, o.rxQueueIndex ?? 0);
  vm.mem.u8.set(o.dataIn, f.dataAddr());
  const engine = o.engine ?? jitRun;
  // The kernel JITs at load time: compile before the clock starts.
  if (engine === jitRun) jitCompile(vm, prog);
  let ret = 0;
  const t0 = process.hrtime.bigint();
  if (engine === jitRun) {
    // The datapath's entry: the NAPI-like batch loop, every iteration a full run on this frame.
    ret = runXdpRepeat(vm, prog, f, repeat);
  } else {
    for (let i = 0; i < repeat; i++) {
      ret = runXdp(vm, prog, f, engine);
      if (ret < 0) break;
    }
  }
  const t1 = process.hrtime.bigint();
  if (ret < 0) throw new KernelError(EFAULT, `Program stopped by the runtime: ${vm.faultMessage()}`);
  const meta = f.dataMeta(vm), end = f.dataEnd(vm);
  return { retval: ret, durationNs: Math.round(Number(t1 - t0) / repeat), dataOut: vm.mem.u8.slice(meta, end) };
}
