// memory.copy over a BpfMemory's WebAssembly.Memory, for the copies a device
// makes within one memory (the NIC's DMA of a frame from the wire into a
// page_pool buffer): one wasm function whose body is `memory.copy`, bound to
// the memory by import. In V8 a call to it moves a 64-byte frame in about half
// the time of a loop of sixteen Uint32Array word copies, and any alignment.
// The module is a handful of bytes written here (no toolchain), instantiated
// once per WebAssembly.Memory and thread.

/** (dst, src, len) => void: copies mem[src, src+len) to mem[dst, ...), overlapping or not; traps out of bounds. */
export type MemCopy = (dst: number, src: number, len: number) => void;

const cache = new WeakMap<WebAssembly.Memory, MemCopy>();

/** The module importing "e"."m" (shared limits 0..65536 pages when `shared`) and exporting "c". */
function moduleBytes(shared: boolean): Uint8Array {
  // memory limits: flags 0x03 = shared + max (a shared memory must declare one), 0x00 = min only.
  const limits = shared ? [0x03, 0x00, 0x80, 0x80, 0x04] : [0x00, 0x00];
  const imp = [0x01, 0x01, 0x65, 0x01, 0x6d, 0x02, ...limits];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version 1
    0x01, 0x07, 0x01, 0x60, 0x03, 0x7f, 0x7f, 0x7f, 0x00, // type 0: (i32, i32, i32) -> ()
    0x02, imp.length, ...imp, // import "e" "m" (memory)
    0x03, 0x02, 0x01, 0x00, // function 0 has type 0
    0x07, 0x05, 0x01, 0x01, 0x63, 0x00, 0x00, // export "c" = function 0
    // code: no locals; local.get 0, 1, 2; memory.copy 0 0; end
    0x0a, 0x0e, 0x01, 0x0c, 0x00, 0x20, 0x00, 0x20, 0x01, 0x20, 0x02, 0xfc, 0x0a, 0x00, 0x00, 0x0b,
  ]);
}

/** The memory.copy function of `memory` (made on first use in this thread). */
export function memCopyOf(memory: WebAssembly.Memory): MemCopy {
  let f = cache.get(memory);
  if (f === undefined) {
    const shared = typeof SharedArrayBuffer !== "undefined" && memory.buffer instanceof SharedArrayBuffer;
    const inst = new WebAssembly.Instance(new WebAssembly.Module(moduleBytes(shared)), { e: { m: memory } });
    f = inst.exports.c as MemCopy;
    cache.set(memory, f);
  }
  return f;
}
