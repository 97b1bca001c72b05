// Runs a bare instruction stream on a memory buffer, as the bpf_conformance
// plugin and uBPF's test VM do: r1 = buffer address, r2 = its length,
// structural checks first, uBPF's test helpers, a bounded instruction budget.
import { BpfInsns } from "../../shared/bpf/isa/insn.ts";
import { BpfMemory } from "../../shared/bpf/runtime/memory.ts";
import { BpfProg } from "../../shared/bpf/runtime/prog.ts";
import { BpfVm } from "../../shared/bpf/runtime/vm.ts";
import { interpRun } from "../../shared/bpf/runtime/interp.ts";
import { jitRun, type BpfEngine } from "../../shared/bpf/runtime/engine.ts";
import { checkStructure } from "../../shared/bpf/verifier/structural.ts";
import { UBPF_TEST_HELPERS } from "../../shared/bpf/runtime/helpers.ts";
import { EFAULT } from "../../shared/errno.ts";
import { BPF_PROG_TYPE_UNSPEC } from "../../shared/bpf/isa/uapi.ts";

export type RawResult = { errno: 0; r0: bigint } | { errno: number; message: string };

type RawVm = { mem: BpfMemory; vm: BpfVm; buf: number; bufLen: number };
let plainVm: RawVm | null = null;
let sharedVm: RawVm | null = null;

/**
 * The JIT on a shared WebAssembly.Memory (what host/net's threads run on): runRaw() gives this
 * engine a VM whose memory is shared, so that the module imports a shared memory and BPF
 * atomics compile to wasm atomics. Same contract as jitRun.
 */
export const jitRunOnSharedMemory: BpfEngine = (vm, prog, r1lo, r1hi) => jitRun(vm, prog, r1lo, r1hi);

/**
 * Runs `insns` on a copy of `mem` (r1 = its address, r2 = its length) with uBPF's
 * test helpers. Returns r0, or errno with a message for structural errors and runtime faults.
 */
export function runRaw(insns: BpfInsns, mem: Uint8Array, env: "ubpf", engine: BpfEngine = interpRun): RawResult {
  void env;
  const e = checkStructure(insns, { maxInsns: 65536 });
  if (e !== null) return { errno: e.errno, message: `Failed to load code: ${e.message} (insn ${e.pc})` };
  const onShared = engine === jitRunOnSharedMemory;
  let shared = onShared ? sharedVm : plainVm;
  if (shared === null) {
    const m = BpfMemory.create({ shared: onShared });
    const vm = new BpfVm(m, UBPF_TEST_HELPERS, { mapByAddr: () => undefined });
    shared = { mem: m, vm, buf: m.alloc(65536, 64), bufLen: 65536 };
    vm.budgetInit = 1_000_000;
    if (onShared) sharedVm = shared;
    else plainVm = shared;
  }
  const { mem: m, vm } = shared;
  if (mem.length > shared.bufLen) {
    m.free(shared.buf, shared.bufLen, 64);
    shared.bufLen = mem.length;
    shared.buf = m.alloc(mem.length, 64);
  }
  const addr = mem.length === 0 ? 0 : shared.buf;
  if (mem.length > 0) m.u8.set(mem, addr);
  vm.extLo = addr;
  vm.extHi = addr + mem.length;
  const prog = new BpfProg({ id: 0, name: "raw", progType: BPF_PROG_TYPE_UNSPEC, insns, usedMaps: [], gplCompatible: true });
  vm.r2Init = mem.length;
  const fault = engine(vm, prog, addr, 0);
  vm.r2Init = 0;
  if (fault !== 0) return { errno: EFAULT, message: `runtime error: ${vm.faultMessage()}` };
  return { errno: 0, r0: vm.reg64(0) };
}
