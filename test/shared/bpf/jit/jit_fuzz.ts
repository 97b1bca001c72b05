// Differential fuzzer for the JIT's runtime safety (the role of the kernel's
// test_verifier/test_progs "unpriv" and bpf_jit fuzzing, and of uBPF's
// libfuzzer target): random XDP programs that skip the verifier, run on two
// identically built kernels, one through the reference interpreter and one
// through the JIT. Both must end alike (return value or fault kind, pc and
// address), leave identical memory everywhere, and no byte outside the
// regions a program may write may change (a canary check over the whole
// address space). Used by test/shared/bpf/jit/jit_safety.test.ts (bounded) and
// test/long/fuzz_jit.ts (1M runs).
import { BpfInsns } from "../../../../shared/bpf/isa/insn.ts";
import { BpfKernel } from "../../../../shared/bpf/syscall.ts";
import type { BpfMap } from "../../../../shared/bpf/maps/map.ts";
import type { BpfProg } from "../../../../shared/bpf/runtime/prog.ts";
import { XdpFrame, runXdp } from "../../../../shared/bpf/runtime/xdp.ts";
import { interpRun } from "../../../../shared/bpf/runtime/interp.ts";
import { jitRun } from "../../../../shared/bpf/runtime/engine.ts";
import { jitVmOf } from "../../../../shared/bpf/jit/jit_cache.ts";
import { ST_BYTES } from "../../../../shared/bpf/jit/jit_layout.ts";
import { runXdpBatch } from "../../../../shared/bpf/runtime/batch.ts";
import { XDP_CTX_BLOCK } from "../../../../shared/bpf/runtime/vm.ts";
import {
  BPF_FUNC_csum_diff, BPF_FUNC_get_prandom_u32, BPF_FUNC_map_lookup_elem, BPF_FUNC_map_update_elem,
  BPF_FUNC_xdp_adjust_head, BPF_FUNC_xdp_adjust_meta, BPF_FUNC_xdp_adjust_tail, BPF_MAP_TYPE_ARRAY,
  BPF_MAP_TYPE_HASH, BPF_PROG_TYPE_XDP, MAX_BPF_STACK, MAX_CALL_FRAMES,
} from "../../../../shared/bpf/isa/uapi.ts";
import { XDP_FRAME_SZ } from "../../../../shared/bpf/runtime/xdp.ts";

/** Deterministic xorshift32. */
export class Rng {
  s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 0x9e3779b9;
  }
  u32(): number {
    let x = this.s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.s = x >>> 0;
    return this.s;
  }
  int(n: number): number {
    return this.u32() % n;
  }
  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)]!;
  }
}

const ALU_OPS = [0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x80, 0x90, 0xa0, 0xb0, 0xc0];
const JMP_OPS = [0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0xa0, 0xb0, 0xc0, 0xd0];
const IMMS = [0, 1, -1, 2, 7, 8, 14, 16, 31, 32, 33, 63, 64, 255, 4096, 0x7fffffff, -0x80000000, -8, -512, 0xffff];
const OFFS = [0, 1, 2, 4, 8, 12, 14, -1, -4, -8, -16, -512, -513, -520, 16, 64, 254, 255, 256, 4000, -4096, 511];
const HELPERS = [BPF_FUNC_map_lookup_elem, BPF_FUNC_map_update_elem, BPF_FUNC_csum_diff, BPF_FUNC_get_prandom_u32,
  BPF_FUNC_xdp_adjust_head, BPF_FUNC_xdp_adjust_tail, BPF_FUNC_xdp_adjust_meta, 999];

/** A random program: a prologue giving registers pointer values, random insns, an epilogue; maybe a subprogram. */
export function genProgram(r: Rng, mapIds: readonly number[]): BpfInsns {
  const t: Array<[number, number, number, number, number]> = [];
  // Prologue: r2 = data, r3 = data_end, r4 = fp - 64, r5 = data_meta, r6 = ctx.
  t.push([0x61, 2, 1, 0, 0], [0x61, 3, 1, 4, 0], [0xbf, 4, 10, 0, 0], [0x07, 4, 0, 0, -64], [0x61, 5, 1, 8, 0], [0xbf, 6, 1, 0, 0]);
  const body = 4 + r.int(40);
  const withSub = r.int(8) === 0;
  const reg = () => r.int(10);
  // ALU destinations mostly spare the pointer registers r2..r6 set up by the prologue.
  const dreg = () => (r.int(5) === 0 ? r.int(10) : r.pick([0, 7, 8, 9]));
  // A base register and offset: mostly plausible (stack, packet, ctx), sometimes wild.
  const addr = (size: number, write = false): [number, number] => {
    const k = r.int(8);
    if (k < 3 || (write && k < 6)) return [10, -size * (1 + r.int(512 / size))];
    if (k < 5) return [2, r.int(64)];
    if (k < 6) return [r.pick([1, 6]), 4 * r.int(6)];
    return [r.pick([0, 1, 2, 3, 4, 5, 6, 10, reg()]), r.pick(OFFS)];
  };
  const imm = () => (r.int(3) === 0 ? r.u32() | 0 : r.pick(IMMS));
  for (let i = 0; i < body; i++) {
    const left = body - i;
    const k = r.int(100);
    if (k < 30) {
      const cls = r.int(2) === 0 ? 0x07 : 0x04;
      const op = r.pick(ALU_OPS);
      const x = r.int(2) === 0 ? 0x08 : 0;
      const off = (op === 0x30 || op === 0x90) ? r.int(2) : op === 0xb0 && x !== 0 && r.int(4) === 0 ? r.pick([8, 16, 32]) : 0;
      const shift = op === 0x60 || op === 0x70 || op === 0xc0;
      const k = op === 0x80 ? 0 : shift ? r.int(cls === 0x07 ? 64 : 32) : imm();
      t.push([cls | op | (op === 0x80 ? 0 : x), dreg(), x !== 0 ? r.int(11) : 0, off, x !== 0 ? 0 : k]);
    } else if (k < 36) {
      t.push([r.pick([0xd4, 0xdc, 0xd7]), dreg(), 0, 0, r.pick([16, 32, 64])]);
    } else if (k < 52) {
      const sz = r.pick([0x00, 0x08, 0x10, 0x18]);
      const sx = r.int(5) === 0 && sz !== 0x18;
      const [b, o] = addr(sz === 0x18 ? 8 : sz === 0 ? 4 : sz === 0x08 ? 2 : 1);
      t.push([(sx ? 0x81 : 0x61) | sz, dreg(), b, o, 0]);
    } else if (k < 64) {
      const sz = r.pick([0x00, 0x08, 0x10, 0x18]);
      const st = r.int(2) === 0 ? 0x62 : 0x63;
      const [b, o] = addr(sz === 0x18 ? 8 : sz === 0 ? 4 : sz === 0x08 ? 2 : 1, true);
      t.push([st | sz, b, st === 0x63 ? reg() : 0, o, st === 0x62 ? imm() : 0]);
    } else if (k < 68) {
      const op = r.pick([0x00, 0x01, 0x40, 0x41, 0x50, 0x51, 0xa0, 0xa1, 0xe1, 0xf1]);
      const w = r.int(2) === 0;
      const [b, o] = addr(w ? 4 : 8, true);
      t.push([w ? 0xc3 : 0xdb, b, r.pick([0, 7, 8, 9, reg()]), o, op]);
    } else if (k < 82) {
      const cls = r.int(3) === 0 ? 0x06 : 0x05;
      const x = r.int(2) === 0 ? 0x08 : 0;
      const back = r.int(10) === 0;
      const off = back ? -1 - r.int(Math.min(i + 6, 8)) : r.int(left);
      t.push([cls | r.pick(JMP_OPS) | x, reg(), x !== 0 ? r.int(11) : 0, off, x !== 0 ? 0 : imm()]);
    } else if (k < 92 && mapIds.length > 0) {
      // key at fp-8, r1 = map, r2 = fp-8, value pointer for update at fp-16
      const id = r.pick(mapIds);
      t.push([0x62, 10, 0, -8, r.int(6)], [0x7a, 10, 0, -16, imm()], [0x18, 1, 1, 0, id], [0, 0, 0, 0, 0]);
      t.push([0xbf, 2, 10, 0, 0], [0x07, 2, 0, 0, -8], [0xbf, 3, 10, 0, 0], [0x07, 3, 0, 0, -16], [0xb7, 4, 0, 0, 0]);
      t.push([0x85, 0, 0, 0, r.int(4) === 0 ? BPF_FUNC_map_update_elem : BPF_FUNC_map_lookup_elem]);
      if (r.int(2) === 0) t.push([0x15, 0, 0, 1, 0], [0x7a, 0, 0, r.pick([0, 4, 8, -8]), imm()]);
    } else if (k < 97) {
      const h = r.pick(HELPERS);
      if (h === BPF_FUNC_xdp_adjust_head || h === BPF_FUNC_xdp_adjust_tail || h === BPF_FUNC_xdp_adjust_meta) {
        t.push([0xbf, 1, 6, 0, 0], [0xb7, 2, 0, 0, r.pick([-14, -4, 4, 8, 14, -300, 20, -8])]);
      }
      t.push([0x85, 0, 0, 0, h]);
    } else if (withSub) {
      t.push([0x85, 0, 1, 0, 0x7fff]); // patched to the subprogram below
    } else {
      t.push([0x05, 0, 0, r.int(left), 0]);
    }
  }
  t.push([0xbf, 0, r.pick([0, 2, 3, 7]), 0, 0], [0x57, 0, 0, 0, 7], [0x95, 0, 0, 0, 0]);
  if (withSub) {
    const sub = t.length;
    for (let i = 0; i < t.length; i++) if (t[i]![0] === 0x85 && t[i]![2] === 1) t[i]![4] = sub - i - 1;
    // a subprogram: touches its own stack, maybe recurses (call depth), returns
    t.push([0x7b, 10, 1, -8, 0], [0x79, 0, 10, -8, 0], [0x07, 0, 0, 0, 1], [0x25, 0, 0, 1, r.int(12)]);
    t.push([0x85, 0, 1, 0, sub - t.length - 1], [0x95, 0, 0, 0, 0]);
  }
  return BpfInsns.fromTuples(t);
}

/** One side of the differential run: a kernel with maps and a frame. */
export class FuzzSide {
  readonly kernel: BpfKernel;
  readonly maps: BpfMap[];
  readonly frame: XdpFrame;
  constructor() {
    this.kernel = new BpfKernel();
    const a = this.kernel.mapCreate({ mapType: BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: 8, maxEntries: 4, mapFlags: 0, name: "arr" });
    const h = this.kernel.mapCreate({ mapType: BPF_MAP_TYPE_HASH, keySize: 4, valueSize: 8, maxEntries: 4, mapFlags: 0, name: "h" });
    this.maps = [a as BpfMap, h as BpfMap];
    this.frame = new XdpFrame(this.kernel.vm);
    jitVmOf(this.kernel.vm); // same allocation sequence on both sides
    this.kernel.vm.budgetInit = 2000;
  }

  load(insns: BpfInsns): BpfProg | null {
    const r = this.kernel.progLoad({ progType: BPF_PROG_TYPE_XDP, insns, license: "GPL", name: "fuzz", verify: false });
    return r.prog;
  }

  prepare(pkt: Uint8Array): void {
    const vm = this.kernel.vm;
    this.frame.prepare(vm, pkt.length, 1, 0);
    vm.mem.u8.fill(0, this.frame.frame, this.frame.frame + XDP_FRAME_SZ);
    vm.mem.u8.set(pkt, this.frame.dataAddr());
  }
}

export interface FuzzStats {
  programs: number;
  rejected: number;
  runs: number;
  faults: number;
  mismatches: string[];
  canaryViolations: number;
}

/** Writable areas: the frame, stacks, map values, the ctx block, the JIT state block. */
function writableRanges(s: FuzzSide): Array<[number, number]> {
  const vm = s.kernel.vm;
  const jv = jitVmOf(vm);
  const r: Array<[number, number]> = [
    [s.frame.frame, s.frame.frame + XDP_FRAME_SZ], [vm.stackBase, vm.stackTop], [s.frame.ctx, s.frame.ctx + XDP_CTX_BLOCK],
    [jv.stateAddr, jv.stateAddr + ST_BYTES],
  ];
  for (const m of s.maps) r.push([m.valuesStart, m.valuesEnd]);
  return r;
}

/** Compares a memory against a snapshot outside the writable ranges; returns the first differing address or -1. */
function canary(u8: Uint8Array, snap: Uint8Array, ranges: Array<[number, number]>): number {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0]);
  let pos = 0;
  for (const [lo, hi] of [...sorted, [snap.length, snap.length] as [number, number]]) {
    if (lo > pos && Buffer.compare(u8.subarray(pos, lo), snap.subarray(pos, lo)) !== 0) {
      for (let i = pos; i < lo; i++) if (u8[i] !== snap[i]) return i;
    }
    pos = Math.max(pos, hi);
  }
  return -1;
}

/**
 * Runs `programs` random programs, each on `runsPerProg` random packets, through both engines
 * (single runs and, every other program, the batch entry). Records every mismatch.
 */
export function fuzz(seed: number, programs: number, runsPerProg: number, canaryEvery = 1): FuzzStats {
  const r = new Rng(seed);
  const A = new FuzzSide(), B = new FuzzSide();
  const stats: FuzzStats = { programs: 0, rejected: 0, runs: 0, faults: 0, mismatches: [], canaryViolations: 0 };
  const snap = A.kernel.mem.u8.slice();
  const ranges = writableRanges(B);
  const verdicts = new Uint32Array(1);
  for (let p = 0; p < programs; p++) {
    const insns = genProgram(r, A.maps.map((m) => m.id));
    const pa = A.load(insns), pb = B.load(insns);
    if (pa === null || pb === null) {
      stats.rejected++;
      continue;
    }
    stats.programs++;
    for (let k = 0; k < runsPerProg; k++) {
      const len = r.pick([14, 20, 34, 60, 64, 128, 1500, 14 + r.int(200)]);
      const pkt = new Uint8Array(len);
      for (let i = 0; i < len; i++) pkt[i] = r.int(4) === 0 ? r.u32() & 0xff : i & 0xff;
      A.prepare(pkt);
      B.prepare(pkt);
      const va = A.kernel.vm, vb = B.kernel.vm;
      const ra = runXdp(va, pa, A.frame, interpRun);
      let rb: number;
      if ((p & 1) === 0) rb = runXdp(vb, pb, B.frame, jitRun);
      else {
        const faults = runXdpBatch(vb, pb, [B.frame], 1, verdicts);
        rb = faults !== 0 ? -1 : verdicts[0]!;
      }
      stats.runs++;
      const where = `seed ${seed} program ${p} run ${k}`;
      if (ra !== rb) stats.mismatches.push(`${where}: interp ${ra} (${va.faultMessage()}), jit ${rb} (${vb.faultMessage()})`);
      else if (ra < 0) {
        stats.faults++;
        if (va.fault !== vb.fault || va.faultPc !== vb.faultPc ||
            ((va.fault === 1 || va.fault === 2 || va.fault === 7) && (va.faultAddr !== vb.faultAddr || va.faultSize !== vb.faultSize))) {
          stats.mismatches.push(`${where}: interp ${va.faultMessage()}, jit ${vb.faultMessage()}`);
        }
      }
      if (Buffer.compare(va.mem.u8.subarray(0, ranges[3]![0]), vb.mem.u8.subarray(0, ranges[3]![0])) !== 0) {
        stats.mismatches.push(`${where}: memory differs between engines`);
      }
      if (canaryEvery > 0 && stats.runs % canaryEvery === 0) {
        const bad = canary(vb.mem.u8, snap, ranges);
        if (bad >= 0) {
          stats.canaryViolations++;
          stats.mismatches.push(`${where}: byte at 0x${bad.toString(16)} outside every writable region changed`);
        }
      }
      if (stats.mismatches.length > 20) return stats;
    }
    // Keep both sides' maps identical and small: reset values between programs.
    for (const s of [A, B]) for (const m of s.maps) s.kernel.mem.u8.fill(0, m.valuesStart, m.valuesEnd);
  }
  void MAX_BPF_STACK;
  void MAX_CALL_FRAMES;
  return stats;
}
