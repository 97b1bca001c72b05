// The BPF address space: one linear memory (a WebAssembly.Memory, so that the
// JIT can address it directly) holding every byte a program may touch: packet
// frames, xdp_md contexts, stacks and map values. A BPF pointer is a 32-bit
// offset into it (upper register half zero). Page 0 stays unmapped so that
// NULL never aliases an object. Counterpart: the kernel's direct map, with
// page_pool frames and map value areas carved out of it.

export const WASM_PAGE = 65536;
/** Addresses below this are never handed out (NULL guard). */
export const BPF_MEM_NULL_GUARD = 4096;
const MAX_PAGES = 65536; // 4 GiB, the wasm32 limit

/**
 * Linear memory with a size-class allocator. Allocation happens at setup time
 * (map creation, frame pools, program load), never per packet.
 */
export class BpfMemory {
  readonly memory: WebAssembly.Memory;
  /** Byte view; replaced when the memory grows, so re-read it after alloc(). */
  u8: Uint8Array;
  dv: DataView;
  /** Bytes handed out and not freed. */
  usedBytes: number;
  #brk: number;
  readonly #free: Map<number, number[]>;

  constructor(initialBytes = 16 * WASM_PAGE) {
    const pages = Math.max(1, Math.ceil(initialBytes / WASM_PAGE));
    this.memory = new WebAssembly.Memory({ initial: pages, maximum: MAX_PAGES });
    this.u8 = new Uint8Array(this.memory.buffer);
    this.dv = new DataView(this.memory.buffer);
    this.usedBytes = 0;
    this.#brk = BPF_MEM_NULL_GUARD;
    this.#free = new Map();
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
    if (end > MAX_PAGES * WASM_PAGE) return 0;
    if (end > this.memory.buffer.byteLength) {
      const want = Math.max(Math.ceil(end / WASM_PAGE), Math.min(MAX_PAGES, 2 * (this.memory.buffer.byteLength / WASM_PAGE)));
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
