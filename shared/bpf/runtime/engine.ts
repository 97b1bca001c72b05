// Execution-engine selection: the reference interpreter or the WebAssembly
// JIT behind the one BpfEngine contract of interpRun() (kernel counterpart:
// bpf_prog_select_runtime() choosing between the JITed image and
// ___bpf_prog_run(), with bpf_jit_enable). The JIT entry runs one program on
// the regions already set on the VM and reports exactly as the interpreter:
// FAULT_NONE with r0 in vm.regs[0..1], or a FAULT_* kind with vm.fault*.
import type { BpfProg } from "./prog.ts";
import { BpfVm, FAULT_NONE, FAULT_READ } from "./vm.ts";
import { interpRun } from "./interp.ts";
import { EINVAL, KernelError } from "../../errno.ts";
import { jitVmOf, type JitCode, type JitVm } from "../jit/jit_cache.ts";
import { ST_STOP } from "../jit/jit_layout.ts";

/**
 * An execution engine: runs `prog` with r1 = (r1lo, r1hi) on the regions set on `vm`; returns
 * FAULT_NONE with r0 in vm.regs[0..1], or a FAULT_* kind with vm.fault* (interpRun(), jitRun()).
 */
export type BpfEngine = (vm: BpfVm, prog: BpfProg, r1lo: number, r1hi: number) => number;

// One-entry lookup cache: the repeat loop and the datapath run one program on one VM back to back.
let lastVm: BpfVm | null = null;
let lastProg: BpfProg | null = null;
let lastCode: JitCode | null = null;
let lastJv: JitVm | null = null;

function lookup(vm: BpfVm, prog: BpfProg): JitCode | null {
  const jv = jitVmOf(vm);
  const code = jv.code(prog);
  lastVm = vm;
  lastProg = prog;
  lastCode = code;
  lastJv = jv;
  return code;
}

/**
 * Runs `prog` through its compiled WebAssembly (compiled on first use; programs the
 * JIT cannot take run on the interpreter). Never throws; allocates nothing once compiled.
 */
export function jitRun(vm: BpfVm, prog: BpfProg, r1lo: number, r1hi: number): number {
  let code: JitCode | null;
  let jv: JitVm;
  if (prog === lastProg && vm === lastVm) {
    code = lastCode;
    jv = lastJv!;
  } else {
    code = lookup(vm, prog);
    jv = lastJv!;
  }
  if (code === null) return interpRun(vm, prog, r1lo, r1hi);
  vm.fault = FAULT_NONE;
  vm.prog = prog;
  vm.frameDepth = 0;
  vm.tailCallCnt = 0;
  let stop: number;
  try {
    stop = code.run(r1lo, r1hi, vm.r2Init, vm.ctxLo, vm.ctxHi, vm.ctxWrLo, vm.ctxWrHi, vm.pktLo, vm.pktHi,
      vm.extLo, vm.extHi, vm.budgetInit);
  } catch {
    // A wasm trap: only an access the verifier marked proven can get here.
    vm.fault = FAULT_READ;
    vm.faultPc = -1;
    jv.view()[ST_STOP >> 2] = 0;
    return FAULT_READ;
  }
  if (stop !== 0) return vm.fault;
  let st = jv.st;
  if (st.length === 0) st = jv.view();
  vm.regs[0] = st[0]!;
  vm.regs[1] = st[1]!;
  return FAULT_NONE;
}

/** Compiles `prog` for `vm` ahead of its first run; returns the module size in bytes, or -1 if it runs interpreted. */
export function jitCompile(vm: BpfVm, prog: BpfProg): number {
  const code = jitVmOf(vm).code(prog);
  return code === null ? -1 : code.bytes;
}

/** Runs through the interpreter for the first `n` runs of each program, then through the JIT. */
export function makeTieredEngine(n: number): BpfEngine {
  const runs = new WeakMap<BpfProg, number>();
  return (vm, prog, r1lo, r1hi) => {
    const c = runs.get(prog) ?? 0;
    if (c >= n) return jitRun(vm, prog, r1lo, r1hi);
    runs.set(prog, c + 1);
    return interpRun(vm, prog, r1lo, r1hi);
  };
}

export const ENGINE_NAMES = ["jit", "interp"] as const;
export type EngineName = (typeof ENGINE_NAMES)[number];

/** The engine for a `--engine` value; throws KernelError(EINVAL) for an unknown name (API edge). */
export function engineByName(name: string): BpfEngine {
  if (name === "jit") return jitRun;
  if (name === "interp") return interpRun;
  throw new KernelError(EINVAL, `Unknown engine '${name}': expected ${ENGINE_NAMES.join(" or ")}`);
}
