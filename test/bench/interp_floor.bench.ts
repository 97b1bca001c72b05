// Floor of switch-dispatch interpretation in this Node/V8: a 40-insn program of
// trivial eBPF-like ops (8 opcodes, registers as lo/hi int32 pairs, one bounds-
// checked load) run through a minimal switch loop. It bounds what any JS
// interpreter of the reference kind can reach; compare with `bpftool prog run`.
// Usage: npx tsx test/bench/interp_floor.bench.ts
const N = 40;
const code = new Uint8Array(N), dst = new Uint8Array(N), imm = new Int32Array(N);
const ops: number[] = [0x07, 0xb7, 0x5f, 0x61, 0x15, 0xbf, 0x77, 0x4f];
for (let i = 0; i < N - 1; i++) { code[i] = ops[i % ops.length]!; dst[i] = (i % 9) + 1; imm[i] = i; }
code[N - 1] = 0x95;
const R = new Int32Array(22);
const mem = new DataView(new ArrayBuffer(4096));
function run(): number {
  let pc = 0;
  for (;;) {
    const c = code[pc]; const d = dst[pc] << 1;
    switch (c) {
      case 0x07: { const s = (R[d] >>> 0) + (imm[pc] >>> 0); R[d] = s | 0; R[d + 1] = (R[d + 1] + (imm[pc] >> 31) + (s > 0xffffffff ? 1 : 0)) | 0; pc++; continue; }
      case 0xb7: R[d] = imm[pc]; R[d + 1] = imm[pc] >> 31; pc++; continue;
      case 0x5f: R[d] &= R[2]; R[d + 1] &= R[3]; pc++; continue;
      case 0x61: { const a = (R[d] & 1023) + 8; if (a >= 0 && a + 4 <= 4096) R[d] = mem.getInt32(a, true); R[d + 1] = 0; pc++; continue; }
      case 0x15: pc++; continue;
      case 0xbf: R[d] = R[4]; R[d + 1] = R[5]; pc++; continue;
      case 0x77: R[d] = R[d] >>> 3 | (R[d + 1] << 29); R[d + 1] = R[d + 1] >>> 3; pc++; continue;
      case 0x4f: R[d] |= R[6]; R[d + 1] |= R[7]; pc++; continue;
      case 0x95: return R[0];
      default: return -1;
    }
  }
}
let acc = 0;
for (let i = 0; i < 2e5; i++) acc += run();
const t0 = process.hrtime.bigint();
const n = 5e6;
for (let i = 0; i < n; i++) acc += run();
const t1 = process.hrtime.bigint();
console.log(`${Number(t1 - t0) / n} ns per 40-insn run, ${(Number(t1 - t0) / n / N).toFixed(2)} ns/insn`, acc & 1);
