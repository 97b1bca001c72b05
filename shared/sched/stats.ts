// Counter blocks in the (shared) BPF memory: a component's counters are
// float64 slots that only the thread running that side of the component
// writes (so plain increments are exact), and that any thread reads (the
// control plane's `vxo host stats`, tests, the virtual-clock model).
import type { BpfMemory } from "../bpf/runtime/memory.ts";
import { ENOMEM, KernelError } from "../errno.ts";

export class StatBlock {
  readonly addr: number;
  readonly names: readonly string[];
  /** The counters: index them with the component's S_* constants. */
  readonly v: Float64Array;

  private constructor(buffer: ArrayBufferLike, addr: number, names: readonly string[]) {
    this.addr = addr;
    this.names = names;
    this.v = new Float64Array(buffer, addr, names.length);
  }

  /** Allocates a zeroed block for `names` (setup time). Throws KernelError(ENOMEM). */
  static init(mem: BpfMemory, names: readonly string[]): StatBlock {
    const addr = mem.alloc(8 * Math.max(1, names.length), 64);
    if (addr === 0) throw new KernelError(ENOMEM, "no memory for a counter block");
    return new StatBlock(mem.memory.buffer, addr, names);
  }

  /** The block at `addr` (another thread's handle). */
  static at(mem: BpfMemory, addr: number, names: readonly string[]): StatBlock {
    return new StatBlock(mem.memory.buffer, addr, names);
  }

  /** Name -> value (API edge). */
  read(): Record<string, number> {
    const o: Record<string, number> = {};
    for (let i = 0; i < this.names.length; i++) o[this.names[i]!] = this.v[i]!;
    return o;
  }
}
