// The BPF address space: one linear memory (a WebAssembly.Memory, so that the
// JIT can address it directly) holding every byte a program may touch: packet
// frames, xdp_md contexts, stacks and map values. A BPF pointer is a 32-bit
// offset into it (upper register half zero). Page 0 stays unmapped so that
// NULL never aliases an object. Counterpart: the kernel's direct map, with
// page_pool frames and map value areas carved out of it.
//
// Shared mode (BpfMemory.create({ shared: true })): the memory is a shared
// WebAssembly.Memory (its buffer a SharedArrayBuffer) that other host threads
// attach to (BpfMemory.attach) to run programs and move frames without
// copying. One thread owns the allocator (the one that created the memory:
// BPF objects are created there); an attached thread allocates only inside an
// arena the owner carved out for it, and never grows the memory. Growth keeps
// the same SharedArrayBuffer growing in place: nothing is detached, but views
// made before the growth stay at the old length, so attached threads call
// refresh() when the owner tells them that new objects exist.

export const WASM_PAGE = 65536;
/** Addresses below this are never handed out (NULL guard). */
export const BPF_MEM_NULL_GUARD = 4096;
const MAX_PAGES = 65536; // 4 GiB, the wasm32 limit
/** Default maximum of a shared memory (V8 reserves the whole maximum up front for shared memories). */
export const SHARED_MAX_BYTES = 1 << 30;

export interface BpfMemoryOptions {
  /** Initial size in bytes (rounded up to pages). */
  initialBytes?: number;
  /** A shared memory that other threads can attach to. */
  shared?: boolean;
  /** Maximum size in bytes (shared memories only; default SHARED_MAX_BYTES). */
  maxBytes?: number;
}

/**
 * Linear memory with a size-class allocator. Allocation happens at setup time
 * (map creation, frame pools, program load), never per packet.
 */
export class BpfMemory {
  readonly memory: WebAssembly.Memory;
  /** True when the memory is shared between threads (its buffer is a SharedArrayBuffer). */
  readonly shared: boolean;
  /** Byte view; replaced when the memory grows, so re-read it after alloc(). */
  u8: Uint8Array;
  dv: DataView;
  /** Bytes handed out and not freed. */
  usedBytes: number;
  #brk: number;
  /** Allocations stay below this address (an arena's end, or the memory's maximum). */
  readonly #limit: number;
  /** False in an attached thread: its arena is fixed, the memory never grows from here. */
  readonly #canGrow: boolean;
  #maxPages = MAX_PAGES;
  readonly #free: Map<number, number[]>;

  constructor(initialBytes = 16 * WASM_PAGE, opts: { shared?: boolean; maxBytes?: number; memory?: WebAssembly.Memory;
    arena?: readonly [number, number] } = {}) {
    if (opts.memory !== undefined) {
      this.memory = opts.memory;
    } else {
      const pages = Math.max(1, Math.ceil(initialBytes / WASM_PAGE));
      const max = opts.shared === true ? Math.min(MAX_PAGES, Math.ceil((opts.maxBytes ?? SHARED_MAX_BYTES) / WASM_PAGE)) : MAX_PAGES;
      this.memory = new WebAssembly.Memory({ initial: Math.min(pages, max), maximum: max, shared: opts.shared === true });
      this.#maxPages = max;
    }
    this.shared = typeof SharedArrayBuffer !== "undefined" && this.memory.buffer instanceof SharedArrayBuffer;
    this.u8 = new Uint8Array(this.memory.buffer);
    this.dv = new DataView(this.memory.buffer);
    this.usedBytes = 0;
    this.#brk = opts.arena !== undefined ? opts.arena[0] : BPF_MEM_NULL_GUARD;
    this.#limit = opts.arena !== undefined ? opts.arena[1] : this.#maxPages * WASM_PAGE;
    this.#canGrow = opts.arena === undefined;
    this.#free = new Map();
  }

  /** A memory with the given options (the owner's side). */
  static create(opts: BpfMemoryOptions = {}): BpfMemory {
    return new BpfMemory(opts.initialBytes ?? 16 * WASM_PAGE, { shared: opts.shared, maxBytes: opts.maxBytes });
  }

  /**
   * Another thread's handle on a shared memory: the same bytes, an allocator confined to
   * [arena[0], arena[1]) (a block the owner allocated for this thread), no growth.
   */
  static attach(memory: WebAssembly.Memory, arena: readonly [number, number]): BpfMemory {
    return new BpfMemory(0, { memory, arena });
  }

  /**
   * Re-creates the views when the memory grew (in another thread, or in place for a shared
   * memory). Returns true when they changed. Allocates only when they did.
   */
  refresh(): boolean {
    const buf = this.memory.buffer;
    if (buf.byteLength === this.u8.length && this.u8.buffer === buf) return false;
    this.u8 = new Uint8Array(buf);
    this.dv = new DataView(buf);
    return true;
  }

  /** Current size of the address space in bytes. */
  get byteLength(): number {
    return this.memory.buffer.byteLength;
  }

  /**
   * Allocates `bytes` zeroed bytes aligned to `align` (a power of two, at most 4096).
   * Returns the address, or 0 when the 4 GiB space is exhausted (callers map that to -ENOMEM).
   */
  alloc(bytes: number, align = 8): number {
    const size = roundUp(Math.max(bytes, 1), Math.max(align, 8));
    const list = this.#free.get(size);
    if (list !== undefined && list.length > 0) {
      for (let i = list.length - 1; i >= 0; i--) {
        const a = list[i]!;
        if ((a & (align - 1)) === 0) {
          list.splice(i, 1);
          this.u8.fill(0, a, a + size);
          this.usedBytes += size;
          return a;
        }
      }
    }
    const addr = roundUp(this.#brk, align);
    const end = addr + size;
    if (end > this.#limit) return 0;
    if (end > this.memory.buffer.byteLength) {
      if (!this.#canGrow) return 0;
      const want = Math.max(Math.ceil(end / WASM_PAGE), Math.min(this.#maxPages, 2 * (this.memory.buffer.byteLength / WASM_PAGE)));
      this.memory.grow(want - this.memory.buffer.byteLength / WASM_PAGE);
      this.u8 = new Uint8Array(this.memory.buffer);
      this.dv = new DataView(this.memory.buffer);
    }
    this.#brk = end;
    this.usedBytes += size;
    return addr;
  }

  /** Returns a block from alloc() (same bytes and align) to the allocator. */
  free(addr: number, bytes: number, align = 8): void {
    if (addr === 0) return;
    const size = roundUp(Math.max(bytes, 1), Math.max(align, 8));
    let list = this.#free.get(size);
    if (list === undefined) {
      list = [];
      this.#free.set(size, list);
    }
    list.push(addr);
    this.usedBytes -= size;
  }

  /** Copies bytes in from JS (API edge). */
  write(addr: number, src: Uint8Array): void {
    this.u8.set(src, addr);
  }

  /** Copies bytes out to a new array (API edge, never on a hot path). */
  read(addr: number, len: number): Uint8Array {
    return this.u8.slice(addr, addr + len);
  }
}

export function roundUp(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}
