// Trace events of the datapath into a fixed ring in the (shared) BPF memory,
// written without allocating by any thread and read by the control plane:
// the counterpart of the xdp:xdp_exception tracepoint (include/trace/events/xdp.h,
// trace_xdp_exception(dev, prog, act)) that `perf record -e xdp:xdp_exception`
// or xdpdump show for XDP_ABORTED, unknown actions and failed redirects.
import type { BpfMemory } from "../../shared/bpf/runtime/memory.ts";
import { ENOMEM, KernelError } from "../../shared/errno.ts";

/** Event ids. */
export const TRACE_XDP_EXCEPTION = 1;

const REC_WORDS = 4; // event, prog id, action, ifindex
const HDR_WORDS = 16; // [0]: records written (wraps the ring)

export interface TraceRecord {
  event: number;
  progId: number;
  action: number;
  ifindex: number;
}

export class TraceRing {
  readonly addr: number;
  readonly cap: number;
  readonly #u32: Uint32Array;
  readonly #i32: Int32Array;
  readonly #w: number;

  private constructor(mem: BpfMemory, addr: number) {
    this.addr = addr;
    this.#u32 = new Uint32Array(mem.memory.buffer);
    this.#i32 = new Int32Array(mem.memory.buffer);
    this.#w = addr >> 2;
    this.cap = this.#u32[this.#w + 1]!;
  }

  /** A ring of `cap` records (setup time). Throws KernelError(ENOMEM). */
  static init(mem: BpfMemory, cap: number): TraceRing {
    const addr = mem.alloc(4 * (HDR_WORDS + REC_WORDS * cap), 64);
    if (addr === 0) throw new KernelError(ENOMEM, "no memory for a trace ring");
    const u32 = new Uint32Array(mem.memory.buffer);
    u32.fill(0, addr >> 2, (addr >> 2) + HDR_WORDS + REC_WORDS * cap);
    u32[(addr >> 2) + 1] = cap;
    return new TraceRing(mem, addr);
  }

  static at(mem: BpfMemory, addr: number): TraceRing {
    return new TraceRing(mem, addr);
  }

  /** trace_xdp_exception(): records one event (any thread; a slot reserved with an atomic add). */
  xdpException(progId: number, action: number, ifindex: number): void {
    const seq = Atomics.add(this.#i32, this.#w, 1) >>> 0;
    const r = this.#w + HDR_WORDS + (seq % this.cap) * REC_WORDS;
    const u = this.#u32;
    u[r] = TRACE_XDP_EXCEPTION;
    u[r + 1] = progId;
    u[r + 2] = action;
    u[r + 3] = ifindex;
  }

  /** Records written since init (including overwritten ones). */
  get written(): number {
    return Atomics.load(this.#i32, this.#w) >>> 0;
  }

  /** The records still in the ring, oldest first (API edge). */
  read(): TraceRecord[] {
    const n = this.written, out: TraceRecord[] = [];
    for (let s = Math.max(0, n - this.cap); s < n; s++) {
      const r = this.#w + HDR_WORDS + (s % this.cap) * REC_WORDS;
      out.push({ event: this.#u32[r]!, progId: this.#u32[r + 1]!, action: this.#u32[r + 2]!, ifindex: this.#u32[r + 3]! });
    }
    return out;
  }
}
