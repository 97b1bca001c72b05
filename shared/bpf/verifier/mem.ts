// Memory access checks: check_mem_access() with its per-region parts
// (check_packet_access, check_map_access / check_mem_region_access,
// check_ctx_access + xdp_is_valid_access, check_stack_read/write_fixed_off
// and their variable-offset forms, check_stack_range_initialized for helper
// arguments) from kernel/bpf/verifier.c and net/core/filter.c.
import { EACCES, EINVAL } from "../../errno.ts";
import { BPF_F_RDONLY_PROG, XDP_MD_DATA, XDP_MD_DATA_END, XDP_MD_DATA_META, XDP_MD_EGRESS_IFINDEX, XDP_MD_RX_QUEUE_INDEX, XDP_MD_SIZE } from "../isa/uapi.ts";
import { ACCESS_CTX, ACCESS_MAP_VALUE, ACCESS_PACKET, ACCESS_STACK } from "../runtime/prog.ts";
import type { Env } from "./env.ts";
import { markChainPrecision, markSlotPrecision, pushJmpHistory, stackAccessFlags } from "./precision.ts";
import { verboseLinfo } from "./linfo.ts";
import {
  CONST_PTR_TO_MAP, PTR_TO_CTX, PTR_TO_MAP_VALUE, PTR_TO_PACKET, PTR_TO_PACKET_END, PTR_TO_PACKET_META, PTR_TO_STACK, Reg,
  S64_MIN, SCALAR_VALUE, baseType, coerceToSize, markPtr, markScalarConst, markUnknown, regIsConstZero, regTypeStr,
} from "./reg_state.ts";
import { s64, tnumStr } from "./tnum.ts";
import { BPF_REG_SIZE, type FuncState, MAX_BPF_STACK, STACK_INVALID, STACK_MISC, STACK_SPILL, STACK_ZERO } from "./stack.ts";

export const BPF_READ = 1;
export const BPF_WRITE = 2;
const BPF_MAX_VAR_OFF = 1n << 29n;

/** The kernel struct behind a map pointer, as BTF names it in "only read from ... is supported". */
function mapStructName(t: number): string {
  switch (t) {
    case 1: case 5: case 9: case 10: return "bpf_htab";
    case 2: case 3: case 4: case 6: case 8: return "bpf_array";
    case 14: case 25: return "bpf_dtab";
    case 16: return "bpf_cpu_map";
    case 17: return "xsk_map";
    default: return "bpf_map";
  }
}

/** __check_mem_access(): [off, off+size) inside [0, memSize). */
function checkMemRange(env: Env, regno: number, off: number, size: number, memSize: number, zeroOk: boolean): number {
  if (off >= 0 && (size > 0 || (zeroOk && size === 0)) && off + size <= memSize) return 0;
  const r = env.regs[regno]!;
  switch (baseType(r.type)) {
    case PTR_TO_MAP_VALUE:
      return env.fail(EACCES, `invalid access to map value, value_size=${memSize} off=${off} size=${size}`);
    case PTR_TO_PACKET:
    case PTR_TO_PACKET_META:
    case PTR_TO_PACKET_END:
      return env.fail(EACCES, `invalid access to packet, off=${off} size=${size}, R${regno}(id=${r.id},off=${off},r=${r.range})`);
    default:
      return env.fail(EACCES, `invalid access to memory, mem_size=${memSize} off=${off} size=${size}`);
  }
}

/** check_packet_access(). */
export function checkPacketAccess(env: Env, regno: number, off: number, size: number, zeroOk: boolean): number {
  const r = env.regs[regno]!;
  if (r.smin < 0n) {
    return env.fail(EACCES, `R${regno} min value is negative, either use unsigned index or do a if (index >=0) check.`);
  }
  const e = r.range < 0 ? -EINVAL : checkMemRange(env, regno, off, size, r.range, zeroOk);
  if (e < 0) {
    env.verbose(`R${regno} offset is outside of the packet`);
    return e;
  }
  return 0;
}

/** check_map_access() (check_mem_region_access over the value). */
export function checkMapAccess(env: Env, regno: number, off: number, size: number, zeroOk: boolean): number {
  const r = env.regs[regno]!;
  const vs = r.map?.valueSize ?? 0;
  const smin = r.smin;
  if (smin < 0n && (smin === S64_MIN || Number(smin) + off < 0)) {
    return env.fail(EACCES, `R${regno} min value is negative, either use unsigned index or do a if (index >=0) check.`);
  }
  let e = checkMemRange(env, regno, Number(smin) + off, size, vs, zeroOk);
  if (e < 0) {
    env.verbose(`R${regno} min value is outside of the allowed memory range`);
    return e;
  }
  if (r.umax >= BPF_MAX_VAR_OFF) {
    return env.fail(EACCES, `R${regno} unbounded memory access, make sure to bounds check any such access`);
  }
  e = checkMemRange(env, regno, Number(r.umax) + off, size, vs, zeroOk);
  if (e < 0) {
    env.verbose(`R${regno} max value is outside of the allowed memory range`);
    return e;
  }
  return 0;
}

function mapWriteOk(env: Env, r: Reg, off: number, size: number): number {
  if (r.map !== null && (r.map.mapFlags & BPF_F_RDONLY_PROG) !== 0) {
    return env.fail(EACCES, `write into map forbidden, value_size=${r.map.valueSize} off=${off} size=${size}`);
  }
  return 0;
}

/** __check_ptr_off_reg() for ctx: no fixed or variable offset. */
export function checkPtrOffReg(env: Env, r: Reg, regno: number): number {
  const ts = regTypeStr(r.type);
  if (r.off < 0) return env.fail(EACCES, `negative offset ${ts} ptr R${regno} off=${r.off} disallowed`);
  if (r.off) return env.fail(EACCES, `dereference of modified ${ts} ptr R${regno} off=${r.off} disallowed`);
  if (r.vm !== 0n || r.vv !== 0n) return env.fail(EACCES, `variable ${ts} access var_off=${tnumStr(r.varOff)} disallowed`);
  return 0;
}

/** xdp_is_valid_access() with __is_valid_xdp_access(). */
function xdpValidAccess(env: Env, off: number, size: number, t: number): boolean {
  if (off < 0 || off >= XDP_MD_SIZE || off % size !== 0 || size !== 4) return false;
  if (off === XDP_MD_EGRESS_IFINDEX) return false;
  if (t === BPF_WRITE) return env.opts.devBound === true && off === XDP_MD_RX_QUEUE_INDEX;
  return true;
}

/** Stack bounds (check_stack_access_within_bounds); `what` is "write to", "read from" or "indirect access to". */
function stackBounds(env: Env, regno: number, off: number, size: number, what: string, errno = EACCES): { min: number; max: number } | number {
  const r = env.regs[regno]!;
  let min: number, max: number;
  if (r.vm === 0n) {
    min = Number(s64(r.vv)) + off;
    max = min + size;
  } else {
    if (r.smax >= BPF_MAX_VAR_OFF || r.smin <= -BPF_MAX_VAR_OFF) {
      return env.fail(EACCES, `invalid unbounded variable-offset ${what} stack R${regno}`);
    }
    min = Number(r.smin) + off;
    max = Number(r.smax) + off + size;
  }
  if (min < -MAX_BPF_STACK || max > 0 || size < 0) {
    if (r.vm === 0n) return env.fail(errno, `invalid ${what} stack R${regno} off=${off} size=${size}`);
    return env.fail(EINVAL, `invalid variable-offset ${what} stack R${regno} var_off=${tnumStr(r.varOff)} off=${off} size=${size}`);
  }
  return { min, max };
}

/** mark_stack_slot_misc(). */
function slotMisc(env: Env, f: FuncState, k: number): void {
  const t = f.slotType[k]!;
  if (t === STACK_ZERO) return;
  if (t === STACK_INVALID && env.allowUninitStack) return;
  f.slotType[k] = STACK_MISC;
}

/** Drops a spilled register from slot spi, leaving its initialised bytes as misc. */
function scrubSpill(f: FuncState, spi: number): void {
  if (!f.isSpilled(spi)) return;
  for (let j = 0; j < BPF_REG_SIZE; j++) {
    const k = spi * BPF_REG_SIZE + j;
    if (f.slotType[k] !== STACK_INVALID) f.slotType[k] = STACK_MISC;
  }
  f.setSpilled(spi, null);
}

/** check_stack_write_fixed_off(). `valueRegno` < 0 for BPF_ST (immediate `imm`) or helper writes. */
function stackWriteFixed(env: Env, f: FuncState, off: number, size: number, valueRegno: number, isSt: boolean, imm: number): number {
  const slot = -off - 1;
  const spi = slot >> 3;
  const reg = valueRegno >= 0 ? env.regs[valueRegno]! : null;
  env.scratchSlot(spi);
  if (off % BPF_REG_SIZE === 0 && size === BPF_REG_SIZE) env.stackLive?.write(env, f.frameno, spi);
  if (!env.allowPtrLeaks && f.isSpilled(spi) && size !== BPF_REG_SIZE && f.spilled[spi]!.type !== SCALAR_VALUE) {
    return env.fail(EACCES, "attempt to corrupt spilled pointer on stack");
  }
  const aligned = off % BPF_REG_SIZE === 0;
  let spillReg: Reg | null = null;
  if (reg !== null && aligned && reg.type === SCALAR_VALUE && env.bpfCapable) spillReg = reg.clone();
  else if (reg === null && aligned && isSt && imm !== 0 && env.bpfCapable) {
    spillReg = new Reg();
    markScalarConst(spillReg, BigInt(imm));
  } else if (reg !== null && reg.type !== SCALAR_VALUE) {
    if (size !== BPF_REG_SIZE) return env.fail(EACCES, "invalid size of register spill");
    spillReg = reg.clone();
  }
  if (spillReg !== null) {
    f.setSpilled(spi, spillReg);
    pushJmpHistory(env, stackAccessFlags(f.frameno, spi), -1);
    let j = BPF_REG_SIZE;
    for (; j > BPF_REG_SIZE - size; j--) f.slotType[spi * BPF_REG_SIZE + j - 1] = STACK_SPILL;
    for (; j > 0; j--) slotMisc(env, f, spi * BPF_REG_SIZE + j - 1);
    return 0;
  }
  let type = STACK_MISC;
  if ((reg !== null && regIsConstZero(reg)) || (isSt && imm === 0)) {
    // STACK_ZERO is not backtracked: the zero must be exact wherever it came from
    if (reg !== null) markChainPrecision(env, valueRegno);
    type = STACK_ZERO;
  }
  for (let k = 0; k < size; k++) {
    const s = (slot - k) >> 3;
    scrubSpill(f, s);
    env.scratchSlot(s);
  }
  for (let k = 0; k < size; k++) f.slotType[slot - k] = type;
  return 0;
}

/** check_stack_read_fixed_off(). dst < 0: only check (helper reads use stackRangeInit). */
function stackReadFixed(env: Env, f: FuncState, off: number, size: number, dst: number): number {
  const slot = -off - 1;
  const spi = slot >> 3;
  env.stackLive?.read(env, f.frameno, spi);
  env.scratchSlot(spi);
  if (f.isSpilled(spi)) {
    const sp = f.spilled[spi]!;
    if (size !== BPF_REG_SIZE) {
      if (sp.type !== SCALAR_VALUE) return env.fail(EACCES, "invalid size of register fill");
      let spillSize = 0;
      for (let j = BPF_REG_SIZE - 1; j >= 0 && f.slotType[spi * BPF_REG_SIZE + j] === STACK_SPILL; j--) spillSize++;
      if (size <= spillSize && off % BPF_REG_SIZE === 0) {
        if (dst >= 0) {
          const r = env.regs[dst]!;
          r.copyFrom(sp);
          coerceToSize(r, size);
        }
        pushJmpHistory(env, stackAccessFlags(f.frameno, spi), -1);
        return 0;
      }
      for (let k = 0; k < size; k++) {
        const t = f.slotType[slot - k]!;
        if (t === STACK_INVALID && !env.allowUninitStack) {
          return env.fail(EACCES, `invalid read from stack off ${off}+${k} size ${size}`);
        }
      }
      if (dst >= 0) markUnknown(env.regs[dst]!);
      if (dst >= 0) coerceToSize(env.regs[dst]!, size);
      return 0;
    }
    let full = true;
    for (let k = 1; k < BPF_REG_SIZE; k++) if (f.slotType[slot - k] !== STACK_SPILL) full = false;
    if (full) {
      if (dst >= 0) env.regs[dst]!.copyFrom(sp);
      pushJmpHistory(env, stackAccessFlags(f.frameno, spi), -1);
      return 0;
    }
    if (sp.type !== SCALAR_VALUE) return env.fail(EACCES, "corrupted spill memory");
    for (let k = 0; k < size; k++) {
      if (f.slotType[slot - k] === STACK_INVALID && !env.allowUninitStack) {
        return env.fail(EACCES, `invalid read from stack off ${off}+${k} size ${size}`);
      }
    }
    if (dst >= 0) markUnknown(env.regs[dst]!);
    return 0;
  }
  let zeros = 0;
  for (let k = 0; k < size; k++) {
    const t = f.slotType[slot - k]!;
    if (t === STACK_MISC || t === STACK_SPILL) continue;
    if (t === STACK_ZERO) {
      zeros++;
      continue;
    }
    if (t === STACK_INVALID && env.allowUninitStack) continue;
    return env.fail(EACCES, `invalid read from stack off ${off}+${k} size ${size}`);
  }
  if (dst >= 0) {
    const r = env.regs[dst]!;
    if (zeros === size) markScalarConst(r, 0n);
    else {
      markUnknown(r);
      coerceToSize(r, size);
    }
  }
  return 0;
}

/** Stack access through a pointer; fixed or variable offset. */
function stackAccess(env: Env, regno: number, off: number, size: number, t: number, valueRegno: number, isSt: boolean, imm: number): number {
  const r = env.regs[regno]!;
  const b = stackBounds(env, regno, off, size, t === BPF_WRITE ? "write to" : "read from");
  if (typeof b === "number") return b;
  const f = env.frameOf(r);
  f.growStack(-b.min);
  env.updateStackDepth(f, -b.min);
  if (r.vm === 0n) {
    const o = Number(s64(r.vv)) + off;
    return t === BPF_WRITE ? stackWriteFixed(env, f, o, size, valueRegno, isSt, imm) : stackReadFixed(env, f, o, size, valueRegno);
  }
  // variable offset: writes make every byte in range misc, reads need every byte initialised
  for (let a = b.min; a < b.max; a++) {
    const k = -a - 1;
    const spi = k >> 3;
    env.scratchSlot(spi);
    if (t === BPF_WRITE) {
      if (f.isSpilled(spi) && f.spilled[spi]!.type !== SCALAR_VALUE && !env.allowPtrLeaks) {
        return env.fail(EACCES, `spilled ptr in range of var-offset stack write; insn ${env.insnIdx}, ptr off: ${a}`);
      }
      scrubSpill(f, spi);
      f.slotType[k] = STACK_MISC;
    } else if ((env.stackLive?.read(env, f.frameno, spi), f.slotType[k] === STACK_INVALID) && !env.allowUninitStack) {
      return env.fail(EACCES, `invalid variable-offset read from stack R${regno} var_off=${tnumStr(r.varOff)} off=${off} size=${size}`);
    }
  }
  if (t === BPF_READ && valueRegno >= 0) {
    markUnknown(env.regs[valueRegno]!);
    coerceToSize(env.regs[valueRegno]!, size);
  }
  return 0;
}

/**
 * check_mem_access(): insn-level load/store through register `regno` at insn offset `off`.
 * `valueRegno` is the loaded (READ) or stored (WRITE) register, -1 for BPF_ST.
 */
export function checkMemAccess(env: Env, regno: number, off: number, size: number, t: number, valueRegno: number,
  isSt = false, imm = 0): number {
  const r = env.regs[regno]!;
  let e: number;
  if (r.type === PTR_TO_STACK) {
    const o = r.off + off + (r.vm === 0n ? Number(s64(r.vv)) : 0);
    if (r.vm === 0n && o % size !== 0) {
      return env.fail(EACCES, `misaligned stack access off ${s64(r.vv)}+${r.off}+${off} size ${size}`);
    }
  }
  off += r.off;
  switch (r.type) {
    case PTR_TO_MAP_VALUE: {
      if (t === BPF_WRITE && valueRegno >= 0 && env.isPointerValue(valueRegno)) {
        return env.fail(EACCES, `R${valueRegno} leaks addr into map`);
      }
      if (t === BPF_WRITE && (e = mapWriteOk(env, r, off, size)) < 0) return e;
      if ((e = checkMapAccess(env, regno, off, size, false)) < 0) return e;
      env.recordAccess(ACCESS_MAP_VALUE);
      if (t === BPF_READ && valueRegno >= 0) markUnknown(env.regs[valueRegno]!);
      break;
    }
    case PTR_TO_CTX: {
      if (t === BPF_WRITE && valueRegno >= 0 && env.isPointerValue(valueRegno)) {
        return env.fail(EACCES, `R${valueRegno} leaks addr into ctx`);
      }
      if ((e = checkPtrOffReg(env, r, regno)) < 0) return e;
      if (!xdpValidAccess(env, off, size, t)) {
        e = env.fail(EACCES, `invalid bpf_context access off=${off} size=${size}`);
        verboseLinfo(env, env.insnIdx, "; ");
        return e;
      }
      env.recordAccess(ACCESS_CTX);
      if (t === BPF_READ && valueRegno >= 0) {
        const d = env.regs[valueRegno]!;
        if (off === XDP_MD_DATA) markPtr(d, PTR_TO_PACKET);
        else if (off === XDP_MD_DATA_META) markPtr(d, PTR_TO_PACKET_META);
        else if (off === XDP_MD_DATA_END) markPtr(d, PTR_TO_PACKET_END);
        else markUnknown(d);
      }
      break;
    }
    case PTR_TO_STACK:
      if ((e = stackAccess(env, regno, off, size, t, valueRegno, isSt, imm)) < 0) return e;
      env.recordAccess(ACCESS_STACK);
      break;
    case PTR_TO_PACKET:
    case PTR_TO_PACKET_META: {
      if (t === BPF_WRITE && valueRegno >= 0 && env.isPointerValue(valueRegno)) {
        return env.fail(EACCES, `R${valueRegno} leaks addr into packet`);
      }
      if ((e = checkPacketAccess(env, regno, off, size, false)) < 0) return e;
      env.recordAccess(ACCESS_PACKET);
      if (t === BPF_READ && valueRegno >= 0) markUnknown(env.regs[valueRegno]!);
      break;
    }
    case CONST_PTR_TO_MAP:
      if (t === BPF_WRITE && env.allowPtrLeaks && r.map !== null) {
        return env.fail(EACCES, `only read from ${mapStructName(r.map.mapType)} is supported`);
      }
      return env.fail(EACCES, `R${regno} invalid mem access '${regTypeStr(r.type)}'`);
    default:
      return env.fail(EACCES, `R${regno} invalid mem access '${regTypeStr(r.type)}'`);
  }
  if (t === BPF_READ && valueRegno >= 0 && size < 8 && env.regs[valueRegno]!.type === SCALAR_VALUE && r.type !== PTR_TO_STACK) {
    coerceToSize(env.regs[valueRegno]!, size);
  }
  return 0;
}

/**
 * check_helper_mem_access(): a helper reads (or, raw, writes) `size` bytes at register `regno`.
 * Returns 0 or -errno.
 */
export function checkHelperMem(env: Env, regno: number, size: number, zeroOk: boolean, write: boolean): number {
  const r = env.regs[regno]!;
  let e: number;
  switch (baseType(r.type)) {
    case PTR_TO_PACKET:
    case PTR_TO_PACKET_META:
      return checkPacketAccess(env, regno, r.off, size, zeroOk);
    case PTR_TO_MAP_VALUE:
      if (write && (e = mapWriteOk(env, r, r.off, size)) < 0) return e;
      return checkMapAccess(env, regno, r.off, size, zeroOk);
    case PTR_TO_STACK:
      return stackRangeInit(env, regno, r.off, size, zeroOk, write);
    default:
      return env.fail(EACCES, `R${regno} type=${regTypeStr(r.type)} expected=fp`);
  }
}

/** check_stack_range_initialized(): the bytes a helper reads are initialised; raw writes mark them misc. */
function stackRangeInit(env: Env, regno: number, off: number, size: number, zeroOk: boolean, write: boolean): number {
  const r = env.regs[regno]!;
  if (size === 0 && zeroOk) return 0;
  const b = stackBounds(env, regno, off, size, write ? "write to" : "read from", EINVAL);
  if (typeof b === "number") return b;
  const f = env.frameOf(r);
  f.growStack(-b.min);
  env.updateStackDepth(f, -b.min);
  for (let a = b.min; a < b.max; a++) {
    const k = -a - 1;
    const spi = k >> 3;
    if (write) {
      env.scratchSlot(spi);
      if (f.isSpilled(spi)) scrubSpill(f, spi);
      f.slotType[k] = STACK_MISC;
      continue;
    }
    env.stackLive?.read(env, f.frameno, spi);
    const t = f.slotType[k]!;
    if (t !== STACK_INVALID || env.allowUninitStack) continue;
    if (r.vm === 0n) return env.fail(EACCES, `invalid read from stack R${regno} off ${b.min}+${a - b.min} size ${size}`);
    return env.fail(EACCES, `invalid read from stack R${regno} var_off ${tnumStr(r.varOff)}+${off} size ${size}`);
  }
  return 0;
}

/** Reads a constant key from the stack for map nullness elision: the value, or null when unknown. */
export function constStackKey(env: Env, regno: number, keySize: number): bigint | null {
  const r = env.regs[regno]!;
  if (r.type !== PTR_TO_STACK || r.vm !== 0n) return null;
  const f = env.frameOf(r);
  const o = r.off + Number(s64(r.vv));
  if (o < -MAX_BPF_STACK || o + keySize > 0) return null;
  const slot = -o - 1, spi = slot >> 3;
  if (f.isSpilled(spi) && o % BPF_REG_SIZE === 0) {
    const sp = f.spilled[spi]!;
    let spillSize = 0;
    for (let j = BPF_REG_SIZE - 1; j >= 0 && f.slotType[spi * BPF_REG_SIZE + j] === STACK_SPILL; j--) spillSize++;
    if (sp.type === SCALAR_VALUE && sp.vm === 0n && spillSize === keySize) {
      // the verifier relies on this constant: it must be exact in the checkpoints above
      markSlotPrecision(env, f.frameno, spi);
      return sp.vv;
    }
    return null;
  }
  for (let k = 0; k < keySize; k++) if (f.slotType[slot - k] !== STACK_ZERO) return null;
  return 0n;
}

