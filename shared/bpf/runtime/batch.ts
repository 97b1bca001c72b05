// NAPI-like batch entry: one call runs a program over up to 64 prepared XDP
// frames and leaves each verdict, with modified packets in place (kernel
// counterpart: a driver's NAPI poll running bpf_prog_run_xdp() per RX buffer,
// e.g. virtnet_receive() -> receive_mergeable() in drivers/net/virtio_net.c).
// The loop over frames runs inside the compiled WebAssembly, so the JS/wasm
// boundary is crossed once per batch; nothing here allocates.
import type { BpfProg } from "./prog.ts";
import { BpfVm, FAULT_NONE, FAULT_READ } from "./vm.ts";
import type { XdpFrame } from "./xdp.ts";
import { interpRun } from "./interp.ts";
import { EINVAL } from "../../errno.ts";
import { XDP_ABORTED } from "../isa/uapi.ts";
import { jitVmOf, type JitVm } from "../jit/jit_cache.ts";
import { BATCH_MAX, ST_BATCH_CTX, ST_BATCH_VERDICT, ST_STOP } from "../jit/jit_layout.ts";

/** Largest batch runXdpBatch() takes (NAPI_POLL_WEIGHT). */
export const XDP_BATCH_MAX = BATCH_MAX;

/**
 * Runs `prog` on frames[0..n) (XdpFrame objects, or the addresses of their xdp_md blocks),
 * each already prepared. verdicts[i] gets the program's return value (u32), or XDP_ABORTED
 * when the runtime stopped the program (vm.fault* describe the last such fault).
 * Returns the number of runtime faults, or -EINVAL when n is out of range.
 */
export function runXdpBatch(vm: BpfVm, prog: BpfProg, frames: ReadonlyArray<XdpFrame> | Uint32Array, n: number,
  verdicts: Uint32Array): number {
  if (n < 0 || n > BATCH_MAX || n > frames.length || n > verdicts.length) return -EINVAL;
  if (n === 0) return 0;
  const rxqWritable = prog.ifindex !== 0;
  const jv = jitVmOf(vm);
  const code = jv.code(prog);
  if (code === null) return interpBatch(vm, prog, frames, n, verdicts, rxqWritable);
  let st = jv.view();
  const base = ST_BATCH_CTX >> 2;
  if (frames instanceof Uint32Array) for (let i = 0; i < n; i++) st[base + i] = frames[i]!;
  else for (let i = 0; i < n; i++) st[base + i] = frames[i]!.ctx;
  vm.fault = FAULT_NONE;
  vm.prog = prog;
  vm.tailCallCnt = 0;
  let faults: number;
  try {
    faults = code.batch(n, rxqWritable ? 1 : 0, vm.extLo, vm.extHi, vm.budgetInit, vm.r2Init, 0, 0);
  } catch {
    // A wasm trap (only an access the verifier marked proven can cause one): the batch is aborted.
    trapped(jv, vm);
    for (let i = 0; i < n; i++) verdicts[i] = XDP_ABORTED;
    return n;
  }
  st = jv.view();
  const vb = ST_BATCH_VERDICT >> 2;
  for (let i = 0; i < n; i++) verdicts[i] = st[vb + i]!;
  vm.setXdpCtx(st[base + n - 1]! >>> 0, rxqWritable);
  return faults;
}

/**
 * BPF_PROG_TEST_RUN's repeat loop on the JIT: `repeat` full runs of `prog` on frame `f`
 * (same buffer each time, as bpf_test_run() does), through the batch entry, 64 runs per call.
 * Returns the last return value (u32), or -1 when the runtime stopped the program (vm.fault*).
 */
export function runXdpRepeat(vm: BpfVm, prog: BpfProg, f: XdpFrame, repeat: number): number {
  const rxqWritable = prog.ifindex !== 0;
  const jv = jitVmOf(vm);
  const code = jv.code(prog);
  vm.setXdpCtx(f.ctx, rxqWritable);
  if (code === null) {
    let ret = 0;
    for (let i = 0; i < repeat; i++) {
      vm.setXdpCtx(f.ctx, rxqWritable);
      if (interpRun(vm, prog, f.ctx, 0) !== FAULT_NONE) return -1;
      ret = vm.regs[0]! >>> 0;
    }
    return ret;
  }
  let st = jv.view();
  const base = ST_BATCH_CTX >> 2;
  for (let i = 0; i < BATCH_MAX; i++) st[base + i] = f.ctx;
  vm.fault = FAULT_NONE;
  vm.prog = prog;
  vm.tailCallCnt = 0;
  let left = repeat, n = 0;
  while (left > 0) {
    n = left < BATCH_MAX ? left : BATCH_MAX;
    let faults: number;
    try {
      faults = code.batch(n, rxqWritable ? 1 : 0, vm.extLo, vm.extHi, vm.budgetInit, vm.r2Init, 1, 0);
    } catch {
      trapped(jv, vm);
      faults = 1;
    }
    if (faults !== 0) {
      vm.setXdpCtx(f.ctx, rxqWritable);
      return -1;
    }
    left -= n;
  }
  st = jv.view();
  vm.setXdpCtx(f.ctx, rxqWritable);
  if (vm.fault !== FAULT_NONE) return -1;
  return st[(ST_BATCH_VERDICT >> 2) + n - 1]! >>> 0;
}

function trapped(jv: JitVm, vm: BpfVm): void {
  jv.view()[ST_STOP >> 2] = 0;
  vm.fault = FAULT_READ;
  vm.faultPc = -1;
}

function interpBatch(vm: BpfVm, prog: BpfProg, frames: ReadonlyArray<XdpFrame> | Uint32Array, n: number,
  verdicts: Uint32Array, rxqWritable: boolean): number {
  let faults = 0;
  for (let i = 0; i < n; i++) {
    const ctx = frames instanceof Uint32Array ? frames[i]! : frames[i]!.ctx;
    vm.setXdpCtx(ctx, rxqWritable);
    if (interpRun(vm, prog, ctx, 0) !== FAULT_NONE) {
      faults++;
      verdicts[i] = XDP_ABORTED;
    } else verdicts[i] = vm.regs[0]! >>> 0;
  }
  return faults;
}
