// Reference interpreter: the oracle every faster engine is checked against.
// Mirrors ___bpf_prog_run() in kernel/bpf/core.c (flat dispatch on the opcode,
// registers in a preallocated Int32Array as lo/hi pairs) and uBPF's
// ubpf_exec_ex(); every memory access is bounds-checked against the regions
// the program may touch (defence in depth behind the verifier). Nothing in
// the run loop allocates or throws: faults are recorded on the VM.
import type { BpfProg } from "./prog.ts";
import {
  BpfVm, FAULT_BAD_HELPER, FAULT_BAD_INSN, FAULT_BUDGET, FAULT_CALL_DEPTH, FAULT_NONE, FAULT_READ,
  FAULT_UNWIND, FAULT_WRITE,
} from "./vm.ts";
import { res, mul64, udivmod64, sdivmod64, lsh64, rsh64, arsh64, bswap16, bswap32, ugt64, sgt64 } from "./alu64.ts";
import { BPF_FUNC_tail_call, MAX_BPF_STACK, MAX_CALL_FRAMES, MAX_TAIL_CALL_CNT } from "./uapi.ts";

const R10 = 20; // index of r10's low half in vm.regs

/**
 * Runs `prog` with r1 = (r1lo, r1hi). Returns FAULT_NONE with r0 in vm.regs[0..1],
 * or a FAULT_* kind with vm.faultPc/faultAddr set. The caller sets up regions
 * (context, packet, map values) on the VM beforehand.
 */
export function interpRun(vm: BpfVm, prog: BpfProg, r1lo: number, r1hi: number): number {
  const R = vm.regs;
  R.fill(0);
  R[2] = r1lo;
  R[3] = r1hi;
  R[4] = vm.r2Init;
  R[R10] = vm.stackTop;
  vm.frameDepth = 0;
  vm.tailCallCnt = 0;
  vm.fault = FAULT_NONE;
  vm.prog = prog;
  let budget = vm.budgetInit;
  let insns = prog.insns;
  let code = insns.code, dstA = insns.dst, srcA = insns.src, offA = insns.off, immA = insns.imm;
  let ldLo = prog.ldLo, ldHi = prog.ldHi;
  let dv = vm.mem.dv;
  let pc = 0;
  let a = 0, v = 0, blo = 0, bhi = 0, s = 0;

  for (;;) {
    const c = code[pc];
    const d = dstA[pc]! << 1;
    switch (c) {
      // ---- ALU64, immediate operand (sign-extended to 64 bits) and register operand ----
      case 0x07: blo = immA[pc]!; bhi = blo >> 31; {
        const lo = R[d]!, sum = (lo >>> 0) + (blo >>> 0);
        R[d] = sum | 0;
        R[d + 1] = (R[d + 1]! + bhi + (sum > 0xffffffff ? 1 : 0)) | 0;
        pc++;
        continue;
      }
      case 0x0f: s = srcA[pc]! << 1; blo = R[s]!; bhi = R[s + 1]!; {
        const lo = R[d]!, sum = (lo >>> 0) + (blo >>> 0);
        R[d] = sum | 0;
        R[d + 1] = (R[d + 1]! + bhi + (sum > 0xffffffff ? 1 : 0)) | 0;
        pc++;
        continue;
      }
      case 0x17: blo = immA[pc]!; bhi = blo >> 31; sub64(R, d, blo, bhi); pc++; continue;
      case 0x1f: s = srcA[pc]! << 1; sub64(R, d, R[s]!, R[s + 1]!); pc++; continue;
      case 0x27: blo = immA[pc]!; mul64(R[d]!, R[d + 1]!, blo, blo >> 31); R[d] = res[0]!; R[d + 1] = res[1]!; pc++; continue;
      case 0x2f: s = srcA[pc]! << 1; mul64(R[d]!, R[d + 1]!, R[s]!, R[s + 1]!); R[d] = res[0]!; R[d + 1] = res[1]!; pc++; continue;
      case 0x37: blo = immA[pc]!; div64(R, d, blo, blo >> 31, offA[pc]!, 0); pc++; continue;
      case 0x3f: s = srcA[pc]! << 1; div64(R, d, R[s]!, R[s + 1]!, offA[pc]!, 0); pc++; continue;
      case 0x97: blo = immA[pc]!; div64(R, d, blo, blo >> 31, offA[pc]!, 1); pc++; continue;
      case 0x9f: s = srcA[pc]! << 1; div64(R, d, R[s]!, R[s + 1]!, offA[pc]!, 1); pc++; continue;
      case 0x47: blo = immA[pc]!; R[d] = R[d]! | blo; R[d + 1] = R[d + 1]! | (blo >> 31); pc++; continue;
      case 0x4f: s = srcA[pc]! << 1; R[d] = R[d]! | R[s]!; R[d + 1] = R[d + 1]! | R[s + 1]!; pc++; continue;
      case 0x57: blo = immA[pc]!; R[d] = R[d]! & blo; R[d + 1] = R[d + 1]! & (blo >> 31); pc++; continue;
      case 0x5f: s = srcA[pc]! << 1; R[d] = R[d]! & R[s]!; R[d + 1] = R[d + 1]! & R[s + 1]!; pc++; continue;
      case 0xa7: blo = immA[pc]!; R[d] = R[d]! ^ blo; R[d + 1] = R[d + 1]! ^ (blo >> 31); pc++; continue;
      case 0xaf: s = srcA[pc]! << 1; R[d] = R[d]! ^ R[s]!; R[d + 1] = R[d + 1]! ^ R[s + 1]!; pc++; continue;
      case 0x67: lsh64(R[d]!, R[d + 1]!, immA[pc]!); R[d] = res[0]!; R[d + 1] = res[1]!; pc++; continue;
      case 0x6f: lsh64(R[d]!, R[d + 1]!, R[srcA[pc]! << 1]!); R[d] = res[0]!; R[d + 1] = res[1]!; pc++; continue;
      case 0x77: rsh64(R[d]!, R[d + 1]!, immA[pc]!); R[d] = res[0]!; R[d + 1] = res[1]!; pc++; continue;
      case 0x7f: rsh64(R[d]!, R[d + 1]!, R[srcA[pc]! << 1]!); R[d] = res[0]!; R[d + 1] = res[1]!; pc++; continue;
      case 0xc7: arsh64(R[d]!, R[d + 1]!, immA[pc]!); R[d] = res[0]!; R[d + 1] = res[1]!; pc++; continue;
      case 0xcf: arsh64(R[d]!, R[d + 1]!, R[srcA[pc]! << 1]!); R[d] = res[0]!; R[d + 1] = res[1]!; pc++; continue;
      case 0x87: { const lo = R[d]!; R[d] = -lo | 0; R[d + 1] = (~R[d + 1]! + (lo === 0 ? 1 : 0)) | 0; pc++; continue; }
      case 0xb7: blo = immA[pc]!; R[d] = blo; R[d + 1] = blo >> 31; pc++; continue;
      case 0xbf: {
        s = srcA[pc]! << 1;
        const o = offA[pc]!;
        if (o === 0) {
          R[d] = R[s]!;
          R[d + 1] = R[s + 1]!;
        } else {
          // movsx: sign-extend the low 8/16/32 bits of src to 64 bits
          const x = o === 8 ? (R[s]! << 24) >> 24 : o === 16 ? (R[s]! << 16) >> 16 : R[s]!;
          R[d] = x;
          R[d + 1] = x >> 31;
        }
        pc++;
        continue;
      }
      case 0xd7: { // bswap16/32/64 (ALU64 | END | TO_LE)
        const w = immA[pc]!;
        if (w === 16) { R[d] = bswap16(R[d]!); R[d + 1] = 0; }
        else if (w === 32) { R[d] = bswap32(R[d]!); R[d + 1] = 0; }
        else { const lo = R[d]!; R[d] = bswap32(R[d + 1]!); R[d + 1] = bswap32(lo); }
        pc++;
        continue;
      }

      // ---- ALU (32-bit; the result is zero-extended into the 64-bit register) ----
      case 0x04: R[d] = (R[d]! + immA[pc]!) | 0; R[d + 1] = 0; pc++; continue;
      case 0x0c: R[d] = (R[d]! + R[srcA[pc]! << 1]!) | 0; R[d + 1] = 0; pc++; continue;
      case 0x14: R[d] = (R[d]! - immA[pc]!) | 0; R[d + 1] = 0; pc++; continue;
      case 0x1c: R[d] = (R[d]! - R[srcA[pc]! << 1]!) | 0; R[d + 1] = 0; pc++; continue;
      case 0x24: R[d] = Math.imul(R[d]!, immA[pc]!); R[d + 1] = 0; pc++; continue;
      case 0x2c: R[d] = Math.imul(R[d]!, R[srcA[pc]! << 1]!); R[d + 1] = 0; pc++; continue;
      case 0x34: R[d] = div32(R[d]!, immA[pc]!, offA[pc]!); R[d + 1] = 0; pc++; continue;
      case 0x3c: R[d] = div32(R[d]!, R[srcA[pc]! << 1]!, offA[pc]!); R[d + 1] = 0; pc++; continue;
      case 0x94: R[d] = mod32(R[d]!, immA[pc]!, offA[pc]!); R[d + 1] = 0; pc++; continue;
      case 0x9c: R[d] = mod32(R[d]!, R[srcA[pc]! << 1]!, offA[pc]!); R[d + 1] = 0; pc++; continue;
      case 0x44: R[d] = R[d]! | immA[pc]!; R[d + 1] = 0; pc++; continue;
      case 0x4c: R[d] = R[d]! | R[srcA[pc]! << 1]!; R[d + 1] = 0; pc++; continue;
      case 0x54: R[d] = R[d]! & immA[pc]!; R[d + 1] = 0; pc++; continue;
      case 0x5c: R[d] = R[d]! & R[srcA[pc]! << 1]!; R[d + 1] = 0; pc++; continue;
      case 0xa4: R[d] = R[d]! ^ immA[pc]!; R[d + 1] = 0; pc++; continue;
      case 0xac: R[d] = R[d]! ^ R[srcA[pc]! << 1]!; R[d + 1] = 0; pc++; continue;
      case 0x64: R[d] = R[d]! << (immA[pc]! & 31); R[d + 1] = 0; pc++; continue;
      case 0x6c: R[d] = R[d]! << (R[srcA[pc]! << 1]! & 31); R[d + 1] = 0; pc++; continue;
      case 0x74: R[d] = R[d]! >>> (immA[pc]! & 31); R[d + 1] = 0; pc++; continue;
      case 0x7c: R[d] = R[d]! >>> (R[srcA[pc]! << 1]! & 31); R[d + 1] = 0; pc++; continue;
      case 0xc4: R[d] = R[d]! >> (immA[pc]! & 31); R[d + 1] = 0; pc++; continue;
      case 0xcc: R[d] = R[d]! >> (R[srcA[pc]! << 1]! & 31); R[d + 1] = 0; pc++; continue;
      case 0x84: R[d] = -R[d]! | 0; R[d + 1] = 0; pc++; continue;
      case 0xb4: R[d] = immA[pc]!; R[d + 1] = 0; pc++; continue;
      case 0xbc: {
        const o = offA[pc]!, x = R[srcA[pc]! << 1]!;
        R[d] = o === 8 ? (x << 24) >> 24 : o === 16 ? (x << 16) >> 16 : x;
        R[d + 1] = 0;
        pc++;
        continue;
      }
      case 0xd4: { // le16/32/64: a no-op on little-endian apart from truncation
        const w = immA[pc]!;
        if (w === 16) { R[d] = R[d]! & 0xffff; R[d + 1] = 0; }
        else if (w === 32) R[d + 1] = 0;
        pc++;
        continue;
      }
      case 0xdc: { // be16/32/64
        const w = immA[pc]!;
        if (w === 16) { R[d] = bswap16(R[d]!); R[d + 1] = 0; }
        else if (w === 32) { R[d] = bswap32(R[d]!); R[d + 1] = 0; }
        else { const lo = R[d]!; R[d] = bswap32(R[d + 1]!); R[d + 1] = bswap32(lo); }
        pc++;
        continue;
      }

      // ---- Jumps ----
      case 0x05: v = offA[pc]!; pc += v + 1; if (v < 0 && --budget < 0) return stop(vm, FAULT_BUDGET, pc); continue;
      case 0x06: v = immA[pc]!; pc += v + 1; if (v < 0 && --budget < 0) return stop(vm, FAULT_BUDGET, pc); continue;
      case 0x15: case 0x1d: case 0x25: case 0x2d: case 0x35: case 0x3d: case 0x45: case 0x4d:
      case 0x55: case 0x5d: case 0x65: case 0x6d: case 0x75: case 0x7d: case 0xa5: case 0xad:
      case 0xb5: case 0xbd: case 0xc5: case 0xcd: case 0xd5: case 0xdd: {
        if ((c & 0x08) === 0) {
          blo = immA[pc]!;
          bhi = blo >> 31;
        } else {
          s = srcA[pc]! << 1;
          blo = R[s]!;
          bhi = R[s + 1]!;
        }
        if (cond64(c & 0xf0, R[d]!, R[d + 1]!, blo, bhi)) {
          v = offA[pc]!;
          pc += v + 1;
          if (v < 0 && --budget < 0) return stop(vm, FAULT_BUDGET, pc);
        } else pc++;
        continue;
      }
      case 0x16: case 0x1e: case 0x26: case 0x2e: case 0x36: case 0x3e: case 0x46: case 0x4e:
      case 0x56: case 0x5e: case 0x66: case 0x6e: case 0x76: case 0x7e: case 0xa6: case 0xae:
      case 0xb6: case 0xbe: case 0xc6: case 0xce: case 0xd6: case 0xde: {
        blo = (c & 0x08) === 0 ? immA[pc]! : R[srcA[pc]! << 1]!;
        if (cond32(c & 0xf0, R[d]!, blo)) {
          v = offA[pc]!;
          pc += v + 1;
          if (v < 0 && --budget < 0) return stop(vm, FAULT_BUDGET, pc);
        } else pc++;
        continue;
      }

      // ---- Calls and exit ----
      case 0x85: case 0x8d: {
        const sr = srcA[pc]!;
        if (c === 0x85 && sr === 1) {
          // bpf-to-bpf call: push a frame; callee gets its own 512-byte stack slice
          if (vm.frameDepth + 1 >= MAX_CALL_FRAMES) return stop(vm, FAULT_CALL_DEPTH, pc);
          if (--budget < 0) return stop(vm, FAULT_BUDGET, pc);
          const f = vm.frameDepth;
          const sv = vm.savedRegs, base = f * 10;
          for (let k = 0; k < 10; k++) sv[base + k] = R[12 + k]!; // r6..r10
          vm.savedPc[f] = pc + 1;
          vm.savedProg[f] = vm.prog;
          vm.frameDepth = f + 1;
          R[R10] = vm.stackTop - (f + 1) * MAX_BPF_STACK;
          R[R10 + 1] = 0;
          pc += immA[pc]! + 1;
          continue;
        }
        if (sr !== 0 && c === 0x85) return stop(vm, FAULT_BAD_INSN, pc);
        const id = c === 0x85 ? immA[pc]! : R[d]!;
        if (id === BPF_FUNC_tail_call) {
          const target = tailCallTarget(vm, R);
          if (target !== null) {
            vm.tailCallCnt++;
            vm.prog = target;
            insns = target.insns;
            code = insns.code; dstA = insns.dst; srcA = insns.src; offA = insns.off; immA = insns.imm;
            ldLo = target.ldLo; ldHi = target.ldHi;
            pc = 0;
            if (--budget < 0) return stop(vm, FAULT_BUDGET, pc);
            continue;
          }
          pc++;
          continue;
        }
        const fn = id >= 0 ? vm.helpers[id] : undefined;
        if (fn === undefined) return stop(vm, FAULT_BAD_HELPER, pc);
        vm.faultPc = pc;
        fn(vm);
        if (vm.fault !== FAULT_NONE) {
          if (vm.fault === FAULT_UNWIND) {
            vm.fault = FAULT_NONE;
            return FAULT_NONE;
          }
          vm.faultPc = pc;
          return vm.fault;
        }
        dv = vm.mem.dv;
        pc++;
        continue;
      }
      case 0x95: {
        const f = vm.frameDepth;
        if (f === 0) {
          vm.budget = budget;
          return FAULT_NONE;
        }
        const nf = f - 1;
        const sv = vm.savedRegs, base = nf * 10;
        for (let k = 0; k < 10; k++) R[12 + k] = sv[base + k]!;
        pc = vm.savedPc[nf]!;
        const p = vm.savedProg[nf]!;
        vm.savedProg[nf] = null;
        vm.frameDepth = nf;
        if (p !== vm.prog) {
          // a tail call inside the callee replaced its program; resume the caller's
          vm.prog = p;
          insns = p.insns;
          code = insns.code; dstA = insns.dst; srcA = insns.src; offA = insns.off; immA = insns.imm;
          ldLo = p.ldLo; ldHi = p.ldHi;
        }
        continue;
      }

      // ---- ld_imm64 (value resolved at load time) ----
      case 0x18: R[d] = ldLo[pc]!; R[d + 1] = ldHi[pc]!; pc += 2; continue;

      // ---- Loads ----
      case 0x61: case 0x69: case 0x71: case 0x79: case 0x81: case 0x89: case 0x91: {
        s = srcA[pc]! << 1;
        a = (R[s]! >>> 0) + offA[pc]!;
        const size = c === 0x79 ? 8 : c === 0x61 || c === 0x81 ? 4 : c === 0x69 || c === 0x89 ? 2 : 1;
        if (R[s + 1] !== 0 || a < 0 || !vm.canRead(a, size)) return stopAt(vm, FAULT_READ, pc, R[s]! + offA[pc]!, size);
        switch (c) {
          case 0x61: R[d] = dv.getInt32(a, true); R[d + 1] = 0; break;
          case 0x69: R[d] = dv.getUint16(a, true); R[d + 1] = 0; break;
          case 0x71: R[d] = dv.getUint8(a); R[d + 1] = 0; break;
          case 0x79: R[d] = dv.getInt32(a, true); R[d + 1] = dv.getInt32(a + 4, true); break;
          case 0x81: v = dv.getInt32(a, true); R[d] = v; R[d + 1] = v >> 31; break;
          case 0x89: v = dv.getInt16(a, true); R[d] = v; R[d + 1] = v >> 31; break;
          default: v = dv.getInt8(a); R[d] = v; R[d + 1] = v >> 31; break;
        }
        pc++;
        continue;
      }

      // ---- Stores (immediate and register) ----
      case 0x62: case 0x6a: case 0x72: case 0x7a: case 0x63: case 0x6b: case 0x73: case 0x7b: {
        a = (R[d]! >>> 0) + offA[pc]!;
        const sz = c & 0x18;
        const size = sz === 0x18 ? 8 : sz === 0x00 ? 4 : sz === 0x08 ? 2 : 1;
        if (R[d + 1] !== 0 || a < 0 || !vm.canWrite(a, size)) return stopAt(vm, FAULT_WRITE, pc, R[d]! + offA[pc]!, size);
        if ((c & 0x07) === 0x02) {
          blo = immA[pc]!;
          bhi = blo >> 31;
        } else {
          s = srcA[pc]! << 1;
          blo = R[s]!;
          bhi = R[s + 1]!;
        }
        if (size === 4) dv.setInt32(a, blo, true);
        else if (size === 8) { dv.setInt32(a, blo, true); dv.setInt32(a + 4, bhi, true); }
        else if (size === 2) dv.setInt16(a, blo, true);
        else dv.setInt8(a, blo);
        pc++;
        continue;
      }

      // ---- Atomics ----
      case 0xc3: case 0xdb: {
        a = (R[d]! >>> 0) + offA[pc]!;
        const size = c === 0xdb ? 8 : 4;
        if (R[d + 1] !== 0 || a < 0 || !vm.canWrite(a, size)) return stopAt(vm, FAULT_WRITE, pc, R[d]! + offA[pc]!, size);
        if (!atomic(R, dv, a, size, srcA[pc]! << 1, immA[pc]!)) return stop(vm, FAULT_BAD_INSN, pc);
        pc++;
        continue;
      }

      default:
        return stop(vm, FAULT_BAD_INSN, pc);
    }
  }
}

function stop(vm: BpfVm, kind: number, pc: number): number {
  vm.fault = kind;
  vm.faultPc = pc;
  return kind;
}

function stopAt(vm: BpfVm, kind: number, pc: number, addr: number, size: number): number {
  vm.fault = kind;
  vm.faultPc = pc;
  vm.faultAddr = addr;
  vm.faultSize = size;
  return kind;
}

function sub64(R: Int32Array, d: number, blo: number, bhi: number): void {
  const lo = R[d]!;
  R[d] = (lo - blo) | 0;
  R[d + 1] = (R[d + 1]! - bhi - (lo >>> 0 < blo >>> 0 ? 1 : 0)) | 0;
}

/** BPF_DIV / BPF_MOD (which = 0 / 1) on 64 bits; off = 1 selects the signed form. */
function div64(R: Int32Array, d: number, blo: number, bhi: number, off: number, which: number): void {
  if (blo === 0 && bhi === 0) {
    if (which === 0) {
      R[d] = 0;
      R[d + 1] = 0;
    }
    return; // modulo by zero leaves dst unchanged
  }
  if (off === 1) sdivmod64(R[d]!, R[d + 1]!, blo, bhi, which);
  else udivmod64(R[d]!, R[d + 1]!, blo, bhi, which);
  R[d] = res[0]!;
  R[d + 1] = res[1]!;
}

function div32(x: number, y: number, off: number): number {
  if (y === 0) return 0;
  if (off === 1) {
    if (x === -0x80000000 && y === -1) return x;
    return (x / y) | 0;
  }
  return ((x >>> 0) / (y >>> 0)) | 0;
}

function mod32(x: number, y: number, off: number): number {
  if (y === 0) return x;
  if (off === 1) return x % y | 0;
  return ((x >>> 0) % (y >>> 0)) | 0;
}

function cond64(op: number, alo: number, ahi: number, blo: number, bhi: number): boolean {
  switch (op) {
    case 0x10: return alo === blo && ahi === bhi;
    case 0x50: return alo !== blo || ahi !== bhi;
    case 0x20: return ugt64(alo, ahi, blo, bhi);
    case 0x30: return !ugt64(blo, bhi, alo, ahi);
    case 0xa0: return ugt64(blo, bhi, alo, ahi);
    case 0xb0: return !ugt64(alo, ahi, blo, bhi);
    case 0x60: return sgt64(alo, ahi, blo, bhi);
    case 0x70: return !sgt64(blo, bhi, alo, ahi);
    case 0xc0: return sgt64(blo, bhi, alo, ahi);
    case 0xd0: return !sgt64(alo, ahi, blo, bhi);
    default: return ((alo & blo) | (ahi & bhi)) !== 0; // JSET
  }
}

function cond32(op: number, a: number, b: number): boolean {
  switch (op) {
    case 0x10: return a === b;
    case 0x50: return a !== b;
    case 0x20: return a >>> 0 > b >>> 0;
    case 0x30: return a >>> 0 >= b >>> 0;
    case 0xa0: return a >>> 0 < b >>> 0;
    case 0xb0: return a >>> 0 <= b >>> 0;
    case 0x60: return a > b;
    case 0x70: return a >= b;
    case 0xc0: return a < b;
    case 0xd0: return a <= b;
    default: return (a & b) !== 0;
  }
}

/** BPF_ATOMIC: add/or/and/xor [fetch], xchg, cmpxchg. Returns false for an invalid imm. */
function atomic(R: Int32Array, dv: DataView, a: number, size: number, s: number, op: number): boolean {
  const oldLo = dv.getInt32(a, true);
  const oldHi = size === 8 ? dv.getInt32(a + 4, true) : 0;
  const slo = R[s]!, shi = size === 8 ? R[s + 1]! : 0;
  let nlo = 0, nhi = 0;
  switch (op & ~1) {
    case 0x00: { const sum = (oldLo >>> 0) + (slo >>> 0); nlo = sum | 0; nhi = (oldHi + shi + (sum > 0xffffffff ? 1 : 0)) | 0; break; }
    case 0x40: nlo = oldLo | slo; nhi = oldHi | shi; break;
    case 0x50: nlo = oldLo & slo; nhi = oldHi & shi; break;
    case 0xa0: nlo = oldLo ^ slo; nhi = oldHi ^ shi; break;
    case 0xe0: if (op !== 0xe1) return false; nlo = slo; nhi = shi; break;
    case 0xf0: {
      if (op !== 0xf1) return false;
      const eq = size === 8 ? R[0] === oldLo && R[1] === oldHi : R[0] === oldLo;
      if (eq) {
        dv.setInt32(a, slo, true);
        if (size === 8) dv.setInt32(a + 4, shi, true);
      }
      R[0] = oldLo;
      R[1] = oldHi;
      return true;
    }
    default: return false;
  }
  dv.setInt32(a, nlo, true);
  if (size === 8) dv.setInt32(a + 4, nhi, true);
  if ((op & 1) !== 0) {
    R[s] = oldLo;
    R[s + 1] = oldHi;
  }
  return true;
}

/** bpf_tail_call(ctx, prog_array, index): the next program, or null to fall through. */
function tailCallTarget(vm: BpfVm, R: Int32Array): BpfProg | null {
  if (R[5] !== 0) return null;
  const map = vm.env.mapByAddr(R[4]! >>> 0) as { progAt?: (i: number) => unknown; maxEntries: number } | undefined;
  if (map === undefined || map.progAt === undefined) return null;
  const index = R[6]! >>> 0;
  if (index >= map.maxEntries) return null;
  if (vm.tailCallCnt >= MAX_TAIL_CALL_CNT) return null;
  return (map.progAt(index) as BpfProg | null) ?? null;
}
