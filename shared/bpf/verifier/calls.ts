// Calls and returns: check_helper_call() with check_func_arg() argument
// checks, check_map_func_compatibility(), clear_all_pkt_pointers();
// check_func_call()/prepare_func_exit() for bpf-to-bpf calls and
// check_return_code() for the main program (kernel/bpf/verifier.c).
import { E2BIG, EACCES, EINVAL } from "../../errno.ts";
import {
  ARG_ANYTHING, ARG_CONST_MAP_PTR, ARG_CONST_SIZE, ARG_CONST_SIZE_OR_ZERO, ARG_DONTCARE, ARG_PTR_TO_CONST_STR,
  ARG_PTR_TO_CTX, ARG_PTR_TO_MAP_KEY, ARG_PTR_TO_MAP_VALUE, ARG_PTR_TO_MEM, ARG_PTR_TO_MEM_OR_NULL,
  ARG_PTR_TO_UNINIT_MEM, RET_INTEGER, RET_PTR_TO_MAP_VALUE_OR_NULL, RET_VOID,
} from "../runtime/helpers.ts";
import {
  BPF_FUNC_NAMES, BPF_FUNC_fib_lookup, BPF_FUNC_probe_read_kernel, BPF_FUNC_trace_printk, BPF_FUNC_map_lookup_elem, 
  BPF_FUNC_redirect_map, BPF_FUNC_tail_call, BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_CPUMAP, BPF_MAP_TYPE_DEVMAP,
  BPF_MAP_TYPE_DEVMAP_HASH, BPF_MAP_TYPE_PERCPU_ARRAY, BPF_MAP_TYPE_PROG_ARRAY, BPF_MAP_TYPE_XSKMAP,
} from "../isa/uapi.ts";
import type { BpfMapInfo } from "../maps/map.ts";
import type { Env } from "./env.ts";
import { SRC_OP } from "./env.ts";
import {
  CONST_PTR_TO_MAP, PTR_MAYBE_NULL, PTR_TO_CTX, PTR_TO_MAP_KEY, PTR_TO_MAP_VALUE, PTR_TO_PACKET, PTR_TO_PACKET_END,
  PTR_TO_PACKET_META, PTR_TO_STACK, SCALAR_VALUE, markNotInit, markPtr, markUnknown, regIsConstZero,
  regTypeStr,
} from "./reg_state.ts";
import { checkHelperMem, checkPtrOffReg, constStackKey } from "./mem.ts";
import { markChainPrecision } from "./precision.ts";
import { forEachReg } from "./branches.ts";
import { FuncState, MAX_CALL_FRAMES } from "./stack.ts";

const BPF_MAX_VAR_SIZ = 1n << 29n;
/** Helpers whose ARG_PTR_TO_MEM is writable (no MEM_RDONLY in the kernel's prototype). */
const HELPER_WRITES_MEM = new Set([BPF_FUNC_fib_lookup, BPF_FUNC_probe_read_kernel]);

/** func_id_name(). */
export function funcIdName(id: number): string {
  const n = id >= 0 && id < BPF_FUNC_NAMES.length ? BPF_FUNC_NAMES[id] : undefined;
  return n === undefined ? "unknown" : `bpf_${n}`;
}

const KEY_TYPES = [PTR_TO_STACK, PTR_TO_PACKET, PTR_TO_PACKET_META, PTR_TO_MAP_KEY, PTR_TO_MAP_VALUE];
const MEM_STR = "fp, pkt, pkt_meta, map_key, map_value, mem, ringbuf_mem, buf, trusted_ptr_";

/** check_reg_type(): the register kinds an argument type accepts. */
function argTypeOk(env: Env, regno: number, arg: number): number {
  const r = env.regs[regno]!;
  let ok: boolean, exp: string;
  switch (arg) {
    case ARG_CONST_MAP_PTR: ok = r.type === CONST_PTR_TO_MAP; exp = "map_ptr"; break;
    case ARG_PTR_TO_MAP_KEY:
    case ARG_PTR_TO_MAP_VALUE: ok = KEY_TYPES.includes(r.type); exp = MEM_STR; break;
    case ARG_PTR_TO_MEM:
    case ARG_PTR_TO_MEM_OR_NULL:
    case ARG_PTR_TO_UNINIT_MEM: ok = KEY_TYPES.includes(r.type); exp = MEM_STR; break;
    case ARG_CONST_SIZE:
    case ARG_CONST_SIZE_OR_ZERO: ok = r.type === SCALAR_VALUE; exp = "scalar"; break;
    case ARG_PTR_TO_CTX: ok = r.type === PTR_TO_CTX; exp = "ctx"; break;
    case ARG_PTR_TO_CONST_STR: ok = r.type === PTR_TO_MAP_VALUE; exp = "map_value"; break;
    default: ok = true; exp = "";
  }
  if (ok) return 0;
  return env.fail(EACCES, `R${regno} type=${regTypeStr(r.type)} expected=${exp}`);
}

/** check_map_func_compatibility(). */
function mapFuncOk(env: Env, map: BpfMapInfo | null, id: number): number {
  if (map === null) return 0;
  const t = map.mapType;
  let ok = true;
  switch (t) {
    case BPF_MAP_TYPE_PROG_ARRAY: ok = id === BPF_FUNC_tail_call; break;
    case BPF_MAP_TYPE_DEVMAP:
    case BPF_MAP_TYPE_DEVMAP_HASH:
    case BPF_MAP_TYPE_XSKMAP: ok = id === BPF_FUNC_redirect_map || id === BPF_FUNC_map_lookup_elem; break;
    case BPF_MAP_TYPE_CPUMAP: ok = id === BPF_FUNC_redirect_map; break;
  }
  if (ok && id === BPF_FUNC_tail_call) ok = t === BPF_MAP_TYPE_PROG_ARRAY;
  if (ok && id === BPF_FUNC_redirect_map) {
    ok = t === BPF_MAP_TYPE_DEVMAP || t === BPF_MAP_TYPE_DEVMAP_HASH || t === BPF_MAP_TYPE_CPUMAP || t === BPF_MAP_TYPE_XSKMAP;
  }
  if (ok) return 0;
  return env.fail(EINVAL, `cannot pass map_type ${t} into func ${funcIdName(id)}#${id}`);
}

/** check_mem_size_reg(): the size argument of a mem+size pair. */
function checkMemSize(env: Env, regno: number, zeroOk: boolean, write: boolean): number {
  const r = env.regs[regno]!;
  if (r.smin < 0n) {
    return env.fail(EACCES, `R${regno} min value is negative, either use unsigned or 'var &= const'`);
  }
  if (r.umin === 0n && !zeroOk) {
    return env.fail(EACCES, `R${regno} invalid zero-sized read: u64=[${r.umin},${r.umax}]`);
  }
  if (r.umax >= BPF_MAX_VAR_SIZ) {
    return env.fail(EACCES, `R${regno} unbounded memory access, use 'var &= const' or 'if (var < const)'`);
  }
  let e = 0;
  if (!(r.umax === 0n && zeroOk && regIsConstZero(r))) e = checkHelperMem(env, regno - 1, Number(r.umax), zeroOk, write);
  if (e === 0) markChainPrecision(env, regno); // the size's range was relied on
  return e;
}

/** check_helper_call(). */
export function checkHelperCall(env: Env, i: number): number {
  const id = env.insns.imm[i]!;
  if (id < 0 || id >= BPF_FUNC_NAMES.length) return env.fail(EINVAL, `invalid func ${funcIdName(id)}#${id}`);
  const proto = env.opts.helperProtos.get(id);
  if (proto === undefined) return env.fail(EINVAL, `program of this type cannot use helper ${funcIdName(id)}#${id}`);
  if (proto.gplOnly && !env.opts.gplCompatible) {
    return env.fail(EINVAL, "cannot call GPL-restricted function from non-GPL compatible program");
  }
  let map: BpfMapInfo | null = null;
  let keyRegno = -1;
  let e: number;
  const nargs = id === BPF_FUNC_trace_printk ? 2 : 5; // the kernel checks only fmt and its size
  for (let k = 0; k < nargs; k++) {
    const arg = proto.args[k] ?? ARG_DONTCARE;
    if (arg === ARG_DONTCARE) continue;
    const regno = k + 1;
    if ((e = env.checkRegArg(regno, SRC_OP)) < 0) return e;
    const r = env.regs[regno]!;
    if (arg === ARG_ANYTHING) {
      if (env.isPointerValue(regno)) return env.fail(EACCES, `R${regno} leaks addr into helper function`);
      continue;
    }
    if (arg === ARG_PTR_TO_MEM_OR_NULL && regIsConstZero(r)) continue;
    if ((e = argTypeOk(env, regno, arg)) < 0) return e;
    switch (arg) {
      case ARG_CONST_MAP_PTR:
        map = r.map;
        break;
      case ARG_PTR_TO_MAP_KEY:
        if (map === null) return env.fail(EACCES, "invalid map_ptr to access map->key");
        if ((e = checkHelperMem(env, regno, map.keySize, false, false)) < 0) return e;
        keyRegno = regno;
        break;
      case ARG_PTR_TO_MAP_VALUE:
        if (map === null) return env.fail(EACCES, "invalid map_ptr to access map->value");
        if ((e = checkHelperMem(env, regno, map.valueSize, false, false)) < 0) return e;
        break;
      case ARG_PTR_TO_CTX:
        if ((e = checkPtrOffReg(env, r, regno)) < 0) return e;
        break;
      case ARG_CONST_SIZE:
      case ARG_CONST_SIZE_OR_ZERO: {
        const prev = proto.args[k - 1];
        const prevReg = env.regs[regno - 1]!;
        if (prev === ARG_PTR_TO_MEM_OR_NULL && regIsConstZero(prevReg)) {
          if (!regIsConstZero(r)) {
            // check_helper_mem_access() on a NULL pointer with a non-zero size
            return env.fail(EACCES, `R${regno - 1} type=${regTypeStr(prevReg.type)} expected=fp`);
          }
          break;
        }
        const write = prev === ARG_PTR_TO_UNINIT_MEM || (prev === ARG_PTR_TO_MEM && HELPER_WRITES_MEM.has(id));
        if ((e = checkMemSize(env, regno, arg === ARG_CONST_SIZE_OR_ZERO, write)) < 0) return e;
        break;
      }
      default:
        break;
    }
  }
  if (id === BPF_FUNC_tail_call && map !== null && map.mapType !== BPF_MAP_TYPE_PROG_ARRAY) {
    // the kernel prints this one without a newline: the next log text joins the line
    env.verbose("expected prog array map for tail call");
    env.joinNext = true;
    return -EINVAL;
  }
  if ((e = mapFuncOk(env, map, id)) < 0) return e;
  if (id === BPF_FUNC_tail_call && map !== null) {
    // record_func_key(): a constant in-range index is relied on (the call may be patched to a direct jump)
    const r3 = env.regs[3]!;
    if (r3.type === SCALAR_VALUE && r3.vm === 0n && r3.vv < BigInt(map.maxEntries)) markChainPrecision(env, 3);
  }
  let nonNull = false;
  if (id === BPF_FUNC_map_lookup_elem && map !== null && keyRegno > 0 &&
    (map.mapType === BPF_MAP_TYPE_ARRAY || map.mapType === BPF_MAP_TYPE_PERCPU_ARRAY)) {
    const key = constStackKey(env, keyRegno, map.keySize);
    if (key !== null && key < BigInt(map.maxEntries)) nonNull = true;
  }
  if (proto.changesPktData) {
    forEachReg(env.cur, (r) => {
      if (r.type === PTR_TO_PACKET || r.type === PTR_TO_PACKET_META || r.type === PTR_TO_PACKET_END) markUnknown(r);
    });
  }
  for (let r = 1; r <= 5; r++) {
    markNotInit(env.regs[r]!);
    env.scratchReg(r);
  }
  const r0 = env.regs[0]!;
  env.scratchReg(0);
  switch (proto.ret) {
    case RET_INTEGER:
      markUnknown(r0);
      break;
    case RET_VOID:
      markNotInit(r0);
      break;
    case RET_PTR_TO_MAP_VALUE_OR_NULL:
      markPtr(r0, nonNull ? PTR_TO_MAP_VALUE : PTR_TO_MAP_VALUE | PTR_MAYBE_NULL);
      r0.map = map;
      if (!nonNull) r0.id = ++env.idGen;
      break;
    default:
      markUnknown(r0);
  }
  return 0;
}

/** check_func_call(): enter subprogram at `target`. Returns 0 or -errno. */
export function checkFuncCall(env: Env, i: number, target: number): number {
  const st = env.cur;
  if (st.curframe + 1 >= MAX_CALL_FRAMES) {
    return env.fail(E2BIG, `the call stack of ${st.curframe + 2} frames is too deep`);
  }
  const caller = st.cur;
  const callee = new FuncState(st.curframe + 1, i, env.subprogOf(target));
  callee.initRegs(false);
  for (let r = 1; r <= 5; r++) callee.regs[r]!.copyFrom(caller.regs[r]!);
  for (let r = 1; r <= 5; r++) markNotInit(caller.regs[r]!);
  st.frames.push(callee);
  st.curframe++;
  env.scratchAll();
  return 0;
}

/** prepare_func_exit(): return from a subprogram; gives the insn to continue at, or -errno. */
export function prepareFuncExit(env: Env): number {
  const st = env.cur;
  const callee = st.cur;
  const r0 = callee.regs[0]!;
  if (r0.type === PTR_TO_STACK && r0.frameno === callee.frameno) {
    return env.fail(EINVAL, "cannot return stack pointer to the caller");
  }
  st.frames.pop();
  st.curframe--;
  st.cur.regs[0]!.copyFrom(r0);
  env.scratchAll();
  return callee.callsite + 1;
}

/** check_return_code() for the main program's exit (XDP has no range unless devmap/cpumap attached). */
export function checkReturnCode(env: Env): number {
  if (env.isPointerValue(0)) return env.fail(EACCES, "R0 leaks addr as return value");
  return 0;
}

