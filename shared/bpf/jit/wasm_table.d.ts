// The WebAssembly.Table part of the JS API (WebAssembly JS API §4.4), which
// shared/wasm_globals.d.ts does not declare; the JIT keeps every compiled
// program's entry in one funcref table per VM so that tail calls can cross modules.
declare namespace WebAssembly {
  interface TableDescriptor { element: "anyfunc" | "funcref"; initial: number; maximum?: number }
  class Table {
    constructor(descriptor: TableDescriptor);
    readonly length: number;
    grow(delta: number): number;
  }
}
