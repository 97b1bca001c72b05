// A small WebAssembly binary writer (WebAssembly Core Specification 2.0,
// §5 Binary Format): LEB128 numbers, instruction opcodes, and a module
// assembler for the handful of sections the eBPF JIT emits. Counterpart of
// the x86 emitter in arch/x86/net/bpf_jit_comp.c (emit_code()), writing wasm
// instead of machine code. Compile-time only: nothing here runs per packet.

// Value types (§5.3.1).
export const I32 = 0x7f;
export const I64 = 0x7e;
export const F64 = 0x7c;
export const BLOCK_VOID = 0x40;

// Instruction opcodes (§5.4) the JIT uses.
export const OP = {
  unreachable: 0x00, block: 0x02, loop: 0x03, if: 0x04, else: 0x05, end: 0x0b, br: 0x0c, br_if: 0x0d,
  br_table: 0x0e, return: 0x0f, call: 0x10, call_indirect: 0x11, drop: 0x1a, select: 0x1b,
  local_get: 0x20, local_set: 0x21, local_tee: 0x22,
  i32_load: 0x28, i64_load: 0x29, i64_load8_s: 0x30, i64_load8_u: 0x31, i64_load16_s: 0x32,
  i64_load16_u: 0x33, i64_load32_s: 0x34, i64_load32_u: 0x35, i32_store: 0x36, i64_store: 0x37,
  i64_store8: 0x3c, i64_store16: 0x3d, i64_store32: 0x3e,
  i32_const: 0x41, i64_const: 0x42,
  i32_eqz: 0x45, i32_eq: 0x46, i32_ne: 0x47, i32_lt_s: 0x48, i32_lt_u: 0x49, i32_gt_s: 0x4a, i32_gt_u: 0x4b,
  i32_le_s: 0x4c, i32_le_u: 0x4d, i32_ge_s: 0x4e, i32_ge_u: 0x4f,
  i64_eqz: 0x50, i64_eq: 0x51, i64_ne: 0x52, i64_lt_s: 0x53, i64_lt_u: 0x54, i64_gt_s: 0x55, i64_gt_u: 0x56,
  i64_le_s: 0x57, i64_le_u: 0x58, i64_ge_s: 0x59, i64_ge_u: 0x5a,
  i32_add: 0x6a, i32_sub: 0x6b, i32_mul: 0x6c, i32_div_s: 0x6d, i32_div_u: 0x6e, i32_rem_s: 0x6f,
  i32_rem_u: 0x70, i32_and: 0x71, i32_or: 0x72, i32_xor: 0x73, i32_shl: 0x74, i32_shr_s: 0x75,
  i32_shr_u: 0x76, i32_rotl: 0x77, i32_rotr: 0x78,
  i64_add: 0x7c, i64_sub: 0x7d, i64_mul: 0x7e, i64_div_s: 0x7f, i64_div_u: 0x80, i64_rem_s: 0x81,
  i64_rem_u: 0x82, i64_and: 0x83, i64_or: 0x84, i64_xor: 0x85, i64_shl: 0x86, i64_shr_s: 0x87,
  i64_shr_u: 0x88, i64_rotl: 0x89, i64_rotr: 0x8a,
  i32_wrap_i64: 0xa7, i64_extend_i32_s: 0xac, i64_extend_i32_u: 0xad, f64_convert_i64_s: 0xb9,
  i32_extend8_s: 0xc0, i32_extend16_s: 0xc1, i64_extend8_s: 0xc2, i64_extend16_s: 0xc3, i64_extend32_s: 0xc4,
} as const;

/** A growable byte buffer with LEB128 writers. */
export class WasmBuf {
  bytes: Uint8Array;
  len: number;
  constructor(cap = 256) {
    this.bytes = new Uint8Array(cap);
    this.len = 0;
  }

  #room(n: number): void {
    if (this.len + n <= this.bytes.length) return;
    const b = new Uint8Array(Math.max(this.bytes.length * 2, this.len + n));
    b.set(this.bytes.subarray(0, this.len));
    this.bytes = b;
  }

  u8(b: number): this {
    this.#room(1);
    this.bytes[this.len++] = b;
    return this;
  }

  raw(b: Uint8Array): this {
    this.#room(b.length);
    this.bytes.set(b, this.len);
    this.len += b.length;
    return this;
  }

  /** Unsigned LEB128 of a non-negative integer below 2^53. */
  uleb(v: number): this {
    do {
      let b = v % 128;
      v = Math.floor(v / 128);
      if (v !== 0) b |= 0x80;
      this.u8(b);
    } while (v !== 0);
    return this;
  }

  /** Signed LEB128 of a 32-bit integer. */
  sleb32(v: number): this {
    v |= 0;
    for (;;) {
      const b = v & 0x7f;
      v >>= 7;
      if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) {
        this.u8(b);
        return this;
      }
      this.u8(b | 0x80);
    }
  }

  /** Signed LEB128 of the 64-bit integer hi:lo (two's complement halves). */
  sleb64(lo: number, hi: number): this {
    lo >>>= 0;
    hi |= 0;
    for (;;) {
      const b = lo & 0x7f;
      // arithmetic shift of the 64-bit pair right by 7
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>= 7;
      const done = (hi === 0 && lo === 0 && (b & 0x40) === 0) || (hi === -1 && lo === 0xffffffff && (b & 0x40) !== 0);
      if (done) {
        this.u8(b);
        return this;
      }
      this.u8(b | 0x80);
    }
  }

  op(o: number): this {
    return this.u8(o);
  }

  i32(v: number): this {
    return this.u8(OP.i32_const).sleb32(v);
  }

  /** i64.const of a sign-extended 32-bit value. */
  i64s(v: number): this {
    return this.u8(OP.i64_const).sleb64(v | 0, v < 0 ? -1 : 0);
  }

  /** i64.const of an unsigned 32-bit value (zero-extended). */
  i64u(v: number): this {
    return this.u8(OP.i64_const).sleb64(v >>> 0, 0);
  }

  i64(lo: number, hi: number): this {
    return this.u8(OP.i64_const).sleb64(lo, hi);
  }

  get(l: number): this {
    return this.u8(OP.local_get).uleb(l);
  }

  set(l: number): this {
    return this.u8(OP.local_set).uleb(l);
  }

  tee(l: number): this {
    return this.u8(OP.local_tee).uleb(l);
  }

  /** A memory access with alignment hint 0 and a constant offset. */
  mem(o: number, offset = 0): this {
    return this.u8(o).uleb(0).uleb(offset);
  }

  /** An atomic memory op (0xfe prefix, threads proposal): natural alignment `align` (log2), constant offset. */
  atomic(o: number, align: number, offset = 0): this {
    return this.u8(0xfe).uleb(o).uleb(align).uleb(offset);
  }

  br(depth: number): this {
    return this.u8(OP.br).uleb(depth);
  }

  brIf(depth: number): this {
    return this.u8(OP.br_if).uleb(depth);
  }

  call(fn: number): this {
    return this.u8(OP.call).uleb(fn);
  }

  /** Length-prefixed copy of the content. */
  toVec(): Uint8Array {
    return this.bytes.slice(0, this.len);
  }
}

/** A function type: params and results. */
export interface FuncType {
  params: number[];
  results: number[];
}

/** A function body: local declarations (type per local, in order) and code ending with `end`. */
export interface FuncBody {
  locals: number[];
  code: WasmBuf;
}

export interface ModuleSpec {
  types: FuncType[];
  /** Imported functions (module "env"), by type index. */
  importFuncs: Array<{ name: string; type: number }>;
  /** Import the memory as env.mem (minimum pages; a shared memory also declares its maximum). */
  importMemory: { name: string; minPages: number; shared?: { maxPages: number } };
  /** Import a funcref table as env.tab (minimum size), or null. */
  importTable: { name: string; min: number } | null;
  /** Defined functions (type index and body), numbered after the imports. */
  funcs: Array<{ type: number; body: FuncBody }>;
  exports: Array<{ name: string; func: number }>;
  /** Active element segment: table offset and function indices. */
  elem: { offset: number; funcs: number[] } | null;
}

function section(out: WasmBuf, id: number, content: WasmBuf): void {
  out.u8(id).uleb(content.len).raw(content.bytes.subarray(0, content.len));
}

function name(b: WasmBuf, s: string): void {
  const e = new TextEncoder().encode(s);
  b.uleb(e.length).raw(e);
}

/** Assembles a module (§5.5) from its parts. */
export function assembleModule(m: ModuleSpec): Uint8Array {
  const out = new WasmBuf(1024);
  out.raw(new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]));
  // type section
  let s = new WasmBuf();
  s.uleb(m.types.length);
  for (const t of m.types) {
    s.u8(0x60).uleb(t.params.length);
    for (const p of t.params) s.u8(p);
    s.uleb(t.results.length);
    for (const r of t.results) s.u8(r);
  }
  section(out, 1, s);
  // import section
  s = new WasmBuf();
  s.uleb(m.importFuncs.length + 1 + (m.importTable !== null ? 1 : 0));
  for (const f of m.importFuncs) {
    name(s, "env");
    name(s, f.name);
    s.u8(0x00).uleb(f.type);
  }
  name(s, "env");
  name(s, m.importMemory.name);
  // limits flags: 0x00 min only; 0x03 min, max and shared (a shared memory must declare both).
  if (m.importMemory.shared !== undefined) s.u8(0x02).u8(0x03).uleb(m.importMemory.minPages).uleb(m.importMemory.shared.maxPages);
  else s.u8(0x02).u8(0x00).uleb(m.importMemory.minPages);
  if (m.importTable !== null) {
    name(s, "env");
    name(s, m.importTable.name);
    s.u8(0x01).u8(0x70).u8(0x00).uleb(m.importTable.min);
  }
  section(out, 2, s);
  // function section
  s = new WasmBuf();
  s.uleb(m.funcs.length);
  for (const f of m.funcs) s.uleb(f.type);
  section(out, 3, s);
  // export section
  s = new WasmBuf();
  s.uleb(m.exports.length);
  for (const e of m.exports) {
    name(s, e.name);
    s.u8(0x00).uleb(e.func);
  }
  section(out, 7, s);
  // element section
  if (m.elem !== null) {
    s = new WasmBuf();
    s.uleb(1).uleb(0);
    s.i32(m.elem.offset).u8(OP.end);
    s.uleb(m.elem.funcs.length);
    for (const f of m.elem.funcs) s.uleb(f);
    section(out, 9, s);
  }
  // code section
  s = new WasmBuf(4096);
  s.uleb(m.funcs.length);
  for (const f of m.funcs) {
    const body = new WasmBuf(f.body.code.len + 32);
    // run-length encode local declarations
    const groups: Array<[number, number]> = [];
    for (const t of f.body.locals) {
      const g = groups[groups.length - 1];
      if (g !== undefined && g[1] === t) g[0]++;
      else groups.push([1, t]);
    }
    body.uleb(groups.length);
    for (const [n, t] of groups) body.uleb(n).u8(t);
    body.raw(f.body.code.bytes.subarray(0, f.body.code.len));
    s.uleb(body.len).raw(body.bytes.subarray(0, body.len));
  }
  section(out, 10, s);
  return out.toVec();
}
