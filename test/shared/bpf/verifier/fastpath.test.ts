// Differential checks of the verifier's number fast paths (issue 13: 64-bit
// bounds without BigInt on hot paths) against the general BigInt code, which
// stays the oracle: reg_bounds_sync(), adjust_scalar_min_max_vals() (64 bits:
// ADD, SUB, AND, OR, XOR, LSH, RSH, and MUL/ARSH of constants; 32 bits: all
// but MUL of non-constants, DIV and MOD; the tnum_add/sub/and/or/xor/lshift/
// rshift/arshift steps inside it), MOV of an immediate, __mark_reg_known(),
// is_branch_taken() and reg_set_min_max() (with JEQ's tnum_intersect) at both
// widths. Each case runs once with fastPaths.on false (BigInt only) and once
// with it true, on copies of the same random registers, and every field of the
// results must agree. Registers mostly lie in [0, 2^32), with the edge values
// 0, 2^31-1, 2^31, 2^32-1 and results that overflow 32 bits (the fast path
// must then hand over to the general code), some outside it (the fast path
// must stay out of the way).
import { afterEach, describe, expect, it } from "vitest";
import {
  BPF_ADD, BPF_AND, BPF_ARSH, BPF_DIV, BPF_JEQ, BPF_JGE, BPF_JGT, BPF_JLE, BPF_JLT, BPF_JNE, BPF_JSET, BPF_JSGE,
  BPF_JSGT, BPF_JSLE, BPF_JSLT, BPF_LSH, BPF_MOD, BPF_MUL, BPF_OR, BPF_RSH, BPF_SUB, BPF_XOR,
} from "../../../../shared/bpf/isa/uapi.ts";
import { adjustScalarK, adjustScalarX, scalarOp32Small, scalarOp64Small } from "../../../../shared/bpf/verifier/alu.ts";
import { isBranchTaken, regSetMinMax } from "../../../../shared/bpf/verifier/branches.ts";
import {
  Reg, S64_MAX, S64_MIN, SCALAR_VALUE, fastPaths, markScalarConst, markScalarConstN, markUnknown, regBoundsSync,
  smallScalar,
} from "../../../../shared/bpf/verifier/reg_state.ts";
import { mulberry32 } from "../../../helpers/prng.ts";

const FIELDS = [
  "type", "off", "id", "range", "map", "precise", "vv", "vm", "smin", "smax", "umin", "umax", "s32min", "s32max",
  "u32min", "u32max",
] as const;
const EDGES = [0, 1, 2, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];

function diff(a: Reg, b: Reg): string | null {
  for (const f of FIELDS) if (!Object.is(a[f], b[f])) return `${f}: BigInt path ${String(a[f])}, fast path ${String(b[f])}`;
  return null;
}
function show(r: Reg): string {
  return FIELDS.slice(6).map((f) => `${f}=${String(r[f])}`).join(" ");
}

/** Random registers: mostly tnum and bounds in [0, 2^32) (synced or not), some with wide or negative bounds. */
function gen(rnd: () => number) {
  const u32 = (): number => {
    const k = rnd();
    if (k < 0.25) return EDGES[Math.floor(rnd() * EDGES.length)]!;
    if (k < 0.5) return Math.floor(rnd() * 256);
    if (k < 0.6) return Math.floor(rnd() * 64); // shift amounts
    return Math.floor(rnd() * 0x100000000);
  };
  const mask = (): number => {
    const k = rnd();
    if (k < 0.3) return 0;
    if (k < 0.6) return 2 ** Math.floor(rnd() * 33) - 1; // low bits unknown
    if (k < 0.7) return EDGES[Math.floor(rnd() * EDGES.length)]!;
    return (u32() & u32()) >>> 0;
  };
  const big = (): bigint => {
    const k = rnd();
    if (k < 0.3) return [S64_MIN, S64_MAX, -1n, 1n << 32n, (1n << 32n) + 1n, 1n << 63n][Math.floor(rnd() * 6)]!;
    return BigInt.asIntN(64, (BigInt(Math.floor(rnd() * 0x100000000)) << 32n) | BigInt(u32()));
  };
  return (): Reg => {
    const r = new Reg();
    markUnknown(r);
    r.id = Math.floor(rnd() * 3);
    r.precise = rnd() < 0.3;
    const m = mask();
    const v = (u32() & ~m) >>> 0;
    r.vv = BigInt(v);
    r.vm = BigInt(m);
    const lo = v, hi = (v | m) >>> 0;
    const inT = (): number => lo + Math.floor(rnd() * (hi - lo + 1));
    const k = rnd();
    if (k < 0.15) {
      // wide or negative 64-bit bounds: outside the fast paths (or the sync's S64_MIN/S64_MAX case)
      if (rnd() < 0.5) { r.smin = S64_MIN; r.smax = S64_MAX; } else { r.smin = big(); r.smax = big(); }
      if (rnd() < 0.3) { r.umin = BigInt.asUintN(64, big()); r.umax = BigInt.asUintN(64, big()); }
      else { r.umin = BigInt(Math.min(inT(), inT())); r.umax = BigInt(Math.max(inT(), inT())); }
      if (rnd() < 0.2) r.vm = BigInt.asUintN(64, big()) & ~r.vv;
    } else {
      const a = inT(), b = inT();
      r.umin = BigInt(Math.min(a, b));
      r.umax = BigInt(Math.max(a, b));
      const c = inT(), d = inT();
      r.smin = BigInt(Math.min(c, d));
      r.smax = BigInt(Math.max(c, d));
      if (rnd() < 0.05) r.umin = BigInt(u32()); // inverted or inconsistent bounds
      if (rnd() < 0.05) { r.smin = BigInt(u32()); r.smax = BigInt(u32()); }
    }
    if (rnd() < 0.3) {
      r.u32min = Math.min(u32(), u32()); r.u32max = Math.max(u32(), u32());
      r.s32min = Math.min(u32() | 0, u32() | 0); r.s32max = Math.max(u32() | 0, u32() | 0);
    }
    if (rnd() < 0.6) {
      fastPaths.on = false;
      regBoundsSync(r);
    }
    return r;
  };
}

/** Runs fn on copies of the inputs with the BigInt code and then with the fast paths; the outputs must agree. */
function both<T>(inputs: Reg[], fn: (regs: Reg[]) => T): { slow: Reg[]; fast: Reg[]; rs: T; rf: T } {
  const slow = inputs.map((r) => r.clone()), fast = inputs.map((r) => r.clone());
  fastPaths.on = false;
  const rs = fn(slow);
  fastPaths.on = true;
  const rf = fn(fast);
  return { slow, fast, rs, rf };
}

const ALU_OPS = [BPF_ADD, BPF_SUB, BPF_MUL, BPF_AND, BPF_OR, BPF_XOR, BPF_LSH, BPF_RSH, BPF_ARSH, BPF_DIV, BPF_MOD];
const JMP_OPS = [BPF_JEQ, BPF_JNE, BPF_JSET, BPF_JGT, BPF_JGE, BPF_JLT, BPF_JLE, BPF_JSGT, BPF_JSGE, BPF_JSLT, BPF_JSLE];
const N = 40_000;

describe("verifier number fast paths agree with the BigInt code", () => {
  afterEach(() => {
    fastPaths.on = true;
  });

  it(`reg_bounds_sync() on ${N} random registers`, () => {
    const rnd = mulberry32(1301), next = gen(rnd);
    let fast = 0;
    for (let n = 0; n < N; n++) {
      const r = next();
      if (rnd() < 0.3) { r.smin = S64_MIN; r.smax = S64_MAX; } // what AND/OR/XOR/shifts leave
      if (rnd() < 0.1) {
        // a known value outside [0, 2^32) (low half an edge value), its bounds equal to it or not
        const v = BigInt.asUintN(64, (BigInt(Math.floor(rnd() * 2 ** 20) - 2 ** 19) << 32n) | BigInt(EDGES[Math.floor(rnd() * EDGES.length)]!));
        r.vv = v;
        r.vm = 0n;
        if (rnd() < 0.7) { r.umin = r.umax = v; r.smin = r.smax = BigInt.asIntN(64, v); }
      }
      const L = 0xffffffffn;
      if (r.vv <= L && r.vm <= L && r.umin <= L && r.umax <= L && r.smin <= L && r.smax >= 0n) fast++;
      const { slow, fast: f } = both([r], ([x]) => regBoundsSync(x!));
      const d = diff(slow[0]!, f[0]!);
      if (d !== null) expect.fail(`reg_bounds_sync of ${show(r)}: ${d}`);
    }
    console.log(`reg_bounds_sync: ${fast} of ${N} registers in the number path's domain`);
    expect(fast).toBeGreaterThan(N / 2);
  });

  it(`adjust_scalar_min_max_vals() at 64 and 32 bits on ${N} random register pairs and immediates`, () => {
    const rnd = mulberry32(1302), next = gen(rnd);
    let taken = 0, overflowed = 0, taken32 = 0;
    const L = 0xffffffffn;
    for (let n = 0; n < N; n++) {
      const op = ALU_OPS[Math.floor(rnd() * ALU_OPS.length)]!;
      const w = rnd() < 0.6 ? 64 : 32;
      const dst = next();
      if (rnd() < 0.5) {
        const src = rnd() < 0.1 ? dst : next();
        // a constant shift amount is below 64 (a reachable state: the general code would shift by 2^32)
        if ((op === BPF_LSH || op === BPF_RSH || op === BPF_ARSH) && src.vm === 0n && src.vv >= 64n) markScalarConst(src, src.vv & 63n);
        if ((op === BPF_DIV || op === BPF_MOD) && src.vm === 0n && src.vv === 0n) continue; // rejected before
        if (w === 64 && smallScalar(dst) && smallScalar(src)) {
          const probe = dst.clone();
          if (scalarOp64Small(probe, op, Number(src.vv), Number(src.vm), Number(src.umin), Number(src.umax), Number(src.smin), Number(src.smax))) taken++;
          else overflowed++;
        }
        if (w === 32 && dst.vv <= L && dst.vm <= L && src.vv <= L && src.vm <= L &&
          scalarOp32Small(dst.clone(), op, Number(src.vv), Number(src.vm), src.u32min, src.u32max, src.s32min, src.s32max)) taken32++;
        const regs = src === dst ? [dst] : [dst, src];
        const { slow, fast } = both(regs, (x) => adjustScalarX(x[0]!, x[x.length - 1]!, op, w));
        const d = diff(slow[0]!, fast[0]!);
        if (d !== null) expect.fail(`r${w} op 0x${op.toString(16)} dst ${show(dst)} src ${show(src)}: ${d}`);
      } else {
        let imm = rnd() < 0.5 ? EDGES[Math.floor(rnd() * EDGES.length)]! | 0 : Math.floor(rnd() * 300) - 20;
        if (op === BPF_LSH || op === BPF_RSH || op === BPF_ARSH) imm = Math.floor(rnd() * w); // checked before
        if ((op === BPF_DIV || op === BPF_MOD) && imm === 0) continue;
        const { slow, fast } = both([dst], ([x]) => adjustScalarK(x!, op, imm, w));
        const d = diff(slow[0]!, fast[0]!);
        if (d !== null) expect.fail(`r${w} op 0x${op.toString(16)} dst ${show(dst)} imm ${imm}: ${d}`);
      }
    }
    console.log(`alu: ${taken32} 32-bit and ${taken} 64-bit register pairs computed in numbers, ${overflowed} 64-bit ones handed to the BigInt code (result outside [0, 2^32) or no number path)`);
    // both kinds of operands are common: results inside [0, 2^32) and ones leaving it
    expect(taken).toBeGreaterThan(N / 20);
    expect(overflowed).toBeGreaterThan(N / 50);
    expect(taken32).toBeGreaterThan(N / 20);
  });

  it("MOV of an immediate (markScalarConstN) and __mark_reg_known() equal the BigInt markScalarConst", () => {
    const rnd = mulberry32(1303), next = gen(rnd);
    for (const imm of [...EDGES, ...Array.from({ length: 2000 }, () => Math.floor(rnd() * 0x100000000))]) {
      const { slow, fast } = both([next()], ([x]) => markScalarConst(x!, BigInt(imm)));
      const c = slow[0]!.clone();
      markScalarConstN(c, imm);
      const d = diff(slow[0]!, fast[0]!) ?? diff(slow[0]!, c);
      if (d !== null) expect.fail(`mov ${imm}: ${d}`);
    }
    const wide = [-1n, -(2n ** 31n), 2n ** 32n, 2n ** 63n, S64_MIN, S64_MAX, 2n ** 64n - 1n, -(2n ** 32n) - 1n];
    for (const v of [...wide, ...EDGES.map(BigInt), ...Array.from({ length: 2000 }, () => BigInt.asIntN(64, BigInt(Math.floor(rnd() * 2 ** 52)) * BigInt(Math.floor(rnd() * 2 ** 20) - 2 ** 19)))]) {
      const { slow, fast } = both([next()], ([x]) => markScalarConst(x!, v));
      const d = diff(slow[0]!, fast[0]!);
      if (d !== null) expect.fail(`markScalarConst ${v}: ${d}`);
    }
  });

  it(`is_branch_taken() and reg_set_min_max() on ${N} random register pairs`, () => {
    const rnd = mulberry32(1304), next = gen(rnd);
    let small = 0;
    for (let n = 0; n < N; n++) {
      const op = JMP_OPS[Math.floor(rnd() * JMP_OPS.length)]!;
      const is32 = rnd() < 0.3;
      const r1 = next();
      let r2 = rnd() < 0.05 ? r1 : next();
      if (rnd() < 0.4) {
        // a comparison against a constant: the common case
        r2 = new Reg();
        // often one of r1's own bounds: JNE/JLT/JSLT move a bound equal to the constant
        const own = [r1.umin, r1.umax, r1.smin, r1.smax][Math.floor(rnd() * 4)]!;
        const k = rnd();
        markScalarConst(r2, k < 0.4 && own >= 0n && own <= 0xffffffffn ? own
          : BigInt(k < 0.7 ? EDGES[Math.floor(rnd() * EDGES.length)]! : Math.floor(rnd() * 300)));
      }
      if (smallScalar(r1) && smallScalar(r2)) small++;
      const regs = r2 === r1 ? [r1] : [r1, r2];
      const bt = both(regs, (x) => isBranchTaken(x[0]!, x[x.length - 1]!, op, is32));
      if (bt.rs !== bt.rf) expect.fail(`is_branch_taken op 0x${op.toString(16)} is32 ${is32} ${show(r1)} vs ${show(r2)}: ${bt.rs} / ${bt.rf}`);
      if (bt.rs !== -1) continue; // reg_set_min_max runs only when the branch is not decided
      // taken and fall-through copies, as check_cond_jmp_op() makes them
      const sm = both([...regs, ...regs.map((r) => r.clone())], (x) => {
        const k = regs.length;
        return regSetMinMax(x[0]!, x[k - 1]!, x[k]!, x[2 * k - 1]!, op, is32).join();
      });
      if (sm.rs !== sm.rf) expect.fail(`reg_set_min_max feasibility op 0x${op.toString(16)}: ${sm.rs} / ${sm.rf}`);
      for (let k = 0; k < sm.slow.length; k++) {
        const d = diff(sm.slow[k]!, sm.fast[k]!);
        if (d !== null) expect.fail(`reg_set_min_max op 0x${op.toString(16)} is32 ${is32} ${show(r1)} vs ${show(r2)}, reg ${k}: ${d}`);
      }
    }
    console.log(`branches: ${small} of ${N} pairs with both registers in [0, 2^32)`);
    expect(small).toBeGreaterThan(N / 4);
  });

  it("the generator's registers are scalars", () => {
    const r = gen(mulberry32(1))();
    expect(r.type).toBe(SCALAR_VALUE);
  });
});
