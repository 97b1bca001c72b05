// BPF helper functions: one table of Linux ids, prototypes (struct
// bpf_func_proto: argument and return types, for the verifier) and runtime
// implementations (net/core/filter.c, kernel/bpf/helpers.c). Helper sets are
// chosen per environment: the XDP set of a kernel, or uBPF's test helpers for
// the conformance vectors (where id 5 returns its argument).
import {
  BPF_FUNC_csum_diff, BPF_FUNC_fib_lookup, BPF_FUNC_get_prandom_u32, BPF_FUNC_get_smp_processor_id,
  BPF_FUNC_ktime_get_boot_ns, BPF_FUNC_ktime_get_ns, BPF_FUNC_map_delete_elem, BPF_FUNC_map_lookup_elem,
  BPF_FUNC_map_update_elem, BPF_FUNC_redirect, BPF_FUNC_redirect_map, BPF_FUNC_tail_call, BPF_FUNC_trace_printk,
  BPF_FUNC_xdp_adjust_head, BPF_FUNC_xdp_adjust_meta, BPF_FUNC_xdp_adjust_tail, BPF_FUNC_xdp_get_buff_len,
  BPF_FUNC_probe_read_kernel,
  ETH_HLEN, XDP_ABORTED, XDP_REDIRECT, BPF_FIB_LKUP_RET_NOT_FWDED
} from "../isa/uapi.ts";
import { EINVAL, EACCES, EAFNOSUPPORT, EFAULT } from "../../errno.ts";
import { BpfVm, FAULT_HELPER_ARG, FAULT_UNWIND, XDP_CTX_FRAME_START, XDP_CTX_FRAME_SZ, XDP_CTX_REDIRECT, XDP_CTX_REDIRECT_MAP, type HelperFn } from "./vm.ts";
import type { BpfMap } from "../maps/map.ts";

// enum bpf_arg_type / bpf_return_type (include/linux/bpf.h), the kinds the verifier checks.
export const ARG_DONTCARE = 0;
export const ARG_CONST_MAP_PTR = 1;
export const ARG_PTR_TO_MAP_KEY = 2;
export const ARG_PTR_TO_MAP_VALUE = 3;
export const ARG_PTR_TO_MEM = 4; // readable memory of the size in the next argument
export const ARG_PTR_TO_MEM_OR_NULL = 5;
export const ARG_PTR_TO_UNINIT_MEM = 6; // memory the helper writes
export const ARG_CONST_SIZE = 7;
export const ARG_CONST_SIZE_OR_ZERO = 8;
export const ARG_PTR_TO_CTX = 9;
export const ARG_ANYTHING = 10;
export const ARG_PTR_TO_CONST_STR = 11;

export const RET_INTEGER = 0;
export const RET_VOID = 1;
export const RET_PTR_TO_MAP_VALUE_OR_NULL = 2;

export interface HelperProto {
  readonly id: number;
  readonly ret: number;
  readonly args: readonly number[];
  /** Only for GPL-compatible programs (gpl_only). */
  readonly gplOnly: boolean;
  /** Changes packet data: packet pointers are invalidated after the call (bpf_helper_changes_pkt_data). */
  readonly changesPktData: boolean;
}

const P = (id: number, ret: number, args: number[], gplOnly = false, changesPktData = false): HelperProto =>
  ({ id, ret, args, gplOnly, changesPktData });

/** Prototypes of the helpers an XDP program may call (xdp_func_proto + bpf_base_func_proto). */
export const XDP_HELPER_PROTOS: ReadonlyMap<number, HelperProto> = new Map([
  P(BPF_FUNC_map_lookup_elem, RET_PTR_TO_MAP_VALUE_OR_NULL, [ARG_CONST_MAP_PTR, ARG_PTR_TO_MAP_KEY]),
  P(BPF_FUNC_map_update_elem, RET_INTEGER, [ARG_CONST_MAP_PTR, ARG_PTR_TO_MAP_KEY, ARG_PTR_TO_MAP_VALUE, ARG_ANYTHING]),
  P(BPF_FUNC_map_delete_elem, RET_INTEGER, [ARG_CONST_MAP_PTR, ARG_PTR_TO_MAP_KEY]),
  P(BPF_FUNC_ktime_get_ns, RET_INTEGER, []),
  P(BPF_FUNC_trace_printk, RET_INTEGER, [ARG_PTR_TO_MEM, ARG_CONST_SIZE, ARG_ANYTHING, ARG_ANYTHING, ARG_ANYTHING], true),
  P(BPF_FUNC_get_prandom_u32, RET_INTEGER, []),
  P(BPF_FUNC_get_smp_processor_id, RET_INTEGER, []),
  P(BPF_FUNC_tail_call, RET_VOID, [ARG_PTR_TO_CTX, ARG_CONST_MAP_PTR, ARG_ANYTHING]),
  P(BPF_FUNC_redirect, RET_INTEGER, [ARG_ANYTHING, ARG_ANYTHING]),
  P(BPF_FUNC_csum_diff, RET_INTEGER, [ARG_PTR_TO_MEM_OR_NULL, ARG_CONST_SIZE_OR_ZERO, ARG_PTR_TO_MEM_OR_NULL, ARG_CONST_SIZE_OR_ZERO, ARG_ANYTHING]),
  P(BPF_FUNC_xdp_adjust_head, RET_INTEGER, [ARG_PTR_TO_CTX, ARG_ANYTHING], false, true),
  P(BPF_FUNC_redirect_map, RET_INTEGER, [ARG_CONST_MAP_PTR, ARG_ANYTHING, ARG_ANYTHING]),
  // Upstream xdp_func_proto() offers bpf_xdp_adjust_meta unconditionally. A kernel build that does not is
  // found by the differential's helper probe (test/helpers/helper_probe.ts), not followed here.
  P(BPF_FUNC_xdp_adjust_meta, RET_INTEGER, [ARG_PTR_TO_CTX, ARG_ANYTHING], false, true),
  P(BPF_FUNC_xdp_adjust_tail, RET_INTEGER, [ARG_PTR_TO_CTX, ARG_ANYTHING], false, true),
  P(BPF_FUNC_fib_lookup, RET_INTEGER, [ARG_PTR_TO_CTX, ARG_PTR_TO_MEM, ARG_CONST_SIZE, ARG_ANYTHING]),
  P(BPF_FUNC_ktime_get_boot_ns, RET_INTEGER, []),
  P(BPF_FUNC_xdp_get_buff_len, RET_INTEGER, [ARG_PTR_TO_CTX]),
  P(BPF_FUNC_probe_read_kernel, RET_INTEGER, [ARG_PTR_TO_UNINIT_MEM, ARG_CONST_SIZE_OR_ZERO, ARG_ANYTHING], true),
].map((p) => [p.id, p]));

// ---- runtime helpers ----

function setR0(vm: BpfVm, v: number): void {
  vm.regs[0] = v | 0;
  vm.regs[1] = v < 0 ? -1 : 0;
}

function setR0Double(vm: BpfVm, v: number): void {
  const hi = Math.floor(v / 4294967296);
  vm.regs[0] = (v - hi * 4294967296) | 0;
  vm.regs[1] = hi | 0;
}

function argMap(vm: BpfVm, r: number): BpfMap | undefined {
  if (vm.regs[2 * r + 1] !== 0) return undefined;
  return vm.env.mapByAddr(vm.regs[2 * r]! >>> 0);
}

/** Validates a pointer argument; records FAULT_HELPER_ARG and returns -1 when out of bounds. */
function argPtr(vm: BpfVm, r: number, size: number, write: boolean): number {
  const a = vm.regs[2 * r]! >>> 0;
  if (vm.regs[2 * r + 1] !== 0 || !(write ? vm.canWrite(a, size) : vm.canRead(a, size))) {
    vm.setFault(FAULT_HELPER_ARG, a, size);
    return -1;
  }
  return a;
}

/** bpf_map_lookup_elem(); exported so that engines can recognise it in a VM's helper table. */
export const mapLookupElem: HelperFn = (vm) => {
  const map = argMap(vm, 1);
  if (map === undefined) { vm.setFault(FAULT_HELPER_ARG, vm.regs[2]!, 0); return; }
  const k = argPtr(vm, 2, map.keySize, false);
  if (k < 0) return;
  vm.regs[0] = map.lookupElem(k);
  vm.regs[1] = 0;
};

const mapUpdateElem: HelperFn = (vm) => {
  const map = argMap(vm, 1);
  if (map === undefined) { vm.setFault(FAULT_HELPER_ARG, vm.regs[2]!, 0); return; }
  const k = argPtr(vm, 2, map.keySize, false);
  if (k < 0) return;
  const v = argPtr(vm, 3, map.valueSize, false);
  if (v < 0) return;
  setR0(vm, map.updateElem(k, v, vm.regs[8]!));
};

const mapDeleteElem: HelperFn = (vm) => {
  const map = argMap(vm, 1);
  if (map === undefined) { vm.setFault(FAULT_HELPER_ARG, vm.regs[2]!, 0); return; }
  const k = argPtr(vm, 2, map.keySize, false);
  if (k < 0) return;
  setR0(vm, map.deleteElem(k));
};

const ktimeGetNs: HelperFn = (vm) => {
  setR0Double(vm, Math.floor(performance.now() * 1e6));
};

const getPrandomU32: HelperFn = (vm) => {
  // xorshift128
  const s = vm.rnd;
  let t = s[3]!;
  const x = s[0]!;
  s[3] = s[2]!;
  s[2] = s[1]!;
  s[1] = x;
  t ^= t << 11;
  t ^= t >>> 8;
  s[0] = t ^ x ^ (x >>> 19);
  vm.regs[0] = s[0]! | 0;
  vm.regs[1] = 0;
};

const getSmpProcessorId: HelperFn = (vm) => {
  vm.regs[0] = vm.cpu;
  vm.regs[1] = 0;
};

const traceScratch = new Uint8Array(512);

const tracePrintk: HelperFn = (vm) => {
  const size = vm.regs[4]! >>> 0;
  const fmt = argPtr(vm, 1, size, false);
  if (fmt < 0) return;
  // The string formatting runs only when someone listens (trace pipe open).
  const sink = vm.env.tracePrintk;
  if (sink === undefined) { setR0(vm, 0); return; }
  const line = formatTrace(vm, fmt, size);
  if (line === null) { setR0(vm, -EINVAL); return; }
  sink(line);
  setR0(vm, line.length + 1);
};

function formatTrace(vm: BpfVm, fmt: number, size: number): string | null {
  const u8 = vm.mem.u8;
  let n = 0;
  while (n < size && n < traceScratch.length && u8[fmt + n] !== 0) n++;
  if (n === size) return null; // not NUL-terminated within fmt_size: -EINVAL
  const f = Buffer.from(u8.subarray(fmt, fmt + n)).toString("latin1");
  let arg = 3;
  let out = "";
  for (let i = 0; i < f.length; i++) {
    const ch = f[i]!;
    if (ch !== "%") { out += ch; continue; }
    let j = i + 1;
    if (f[j] === "%") { out += "%"; i = j; continue; }
    let width = 32;
    let hasL = 0;
    while (f[j] === "l") { hasL++; j++; }
    if (hasL > 0) width = 64;
    const conv = f[j];
    if (arg > 5) return null; // at most 3 arguments
    const lo = vm.regs[2 * arg]!, hi = vm.regs[2 * arg + 1]!;
    arg++;
    const v64 = (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
    switch (conv) {
      case "d": case "i": out += width === 64 ? BigInt.asIntN(64, v64).toString() : String(lo); break;
      case "u": out += width === 64 ? v64.toString() : String(lo >>> 0); break;
      case "x": out += width === 64 ? v64.toString(16) : (lo >>> 0).toString(16); break;
      case "p": out += "0x" + v64.toString(16); break;
      case "c": out += String.fromCharCode(lo & 0xff); break;
      case "s": {
        const a = lo >>> 0;
        let s = "";
        for (let k = 0; k < 64 && vm.canRead(a + k, 1) && u8[a + k] !== 0; k++) s += String.fromCharCode(u8[a + k]!);
        out += s;
        break;
      }
      default: return null;
    }
    i = j;
  }
  return out;
}

const redirect: HelperFn = (vm) => {
  const flags = vm.regs[4]! | vm.regs[5]!;
  if (flags !== 0) { setR0(vm, XDP_ABORTED); return; }
  const dv = vm.mem.dv;
  dv.setUint32(vm.ctxLo + XDP_CTX_REDIRECT, vm.regs[2]!, true);
  dv.setUint32(vm.ctxLo + XDP_CTX_REDIRECT_MAP, 0, true);
  setR0(vm, XDP_REDIRECT);
};

const BPF_F_ACTION_MASK = 3; // XDP_ABORTED | XDP_DROP | XDP_PASS | XDP_TX
const BPF_F_BROADCAST = 1 << 3;
const BPF_F_EXCLUDE_INGRESS = 1 << 4;

const redirectMap: HelperFn = (vm) => {
  const map = argMap(vm, 1) as (BpfMap & { ifindexAt?: (k: number) => number }) | undefined;
  if (map === undefined) { vm.setFault(FAULT_HELPER_ARG, vm.regs[2]!, 0); return; }
  const flags = vm.regs[6]!;
  if (vm.regs[7] !== 0 || (flags & ~(BPF_F_ACTION_MASK | BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS)) !== 0) {
    setR0(vm, XDP_ABORTED);
    return;
  }
  const ifindex = map.ifindexAt !== undefined && vm.regs[5] === 0 ? map.ifindexAt(vm.regs[4]! >>> 0) : 0;
  if (ifindex === 0) { setR0(vm, flags & BPF_F_ACTION_MASK); return; }
  const dv = vm.mem.dv;
  dv.setUint32(vm.ctxLo + XDP_CTX_REDIRECT, ifindex, true);
  dv.setUint32(vm.ctxLo + XDP_CTX_REDIRECT_MAP, map.id, true);
  setR0(vm, XDP_REDIRECT);
};

/** sizeof(struct xdp_frame) on 64-bit: headroom the frame metadata keeps at data_hard_start. */
export const XDP_FRAME_SIZE = 40;
/** SKB_DATA_ALIGN(sizeof(struct skb_shared_info)) on x86-64: tailroom reserved at the frame end. */
export const SKB_SHARED_INFO_SIZE = 320;

function ctxOf(vm: BpfVm): number {
  // The verifier guarantees r1 is the context; the runtime checks it anyway.
  if (vm.regs[3] !== 0 || vm.regs[2]! >>> 0 !== vm.ctxLo || vm.ctxLo === 0) {
    vm.setFault(FAULT_HELPER_ARG, vm.regs[2]!, 0);
    return 0;
  }
  return vm.ctxLo;
}

const xdpAdjustHead: HelperFn = (vm) => {
  const ctx = ctxOf(vm);
  if (ctx === 0) return;
  const dv = vm.mem.dv, off = vm.regs[4]!;
  const data = dv.getUint32(ctx, true), dataEnd = dv.getUint32(ctx + 4, true), meta = dv.getUint32(ctx + 8, true);
  const metalen = data - meta;
  const start = dv.getUint32(ctx + XDP_CTX_FRAME_START, true) + XDP_FRAME_SIZE + metalen;
  const nd = data + off;
  if (nd < start || nd > dataEnd - ETH_HLEN) { setR0(vm, -EINVAL); return; }
  if (metalen !== 0) vm.mem.u8.copyWithin(meta + off, meta, data);
  dv.setUint32(ctx + 8, meta + off, true);
  dv.setUint32(ctx, nd, true);
  vm.refreshPacket();
  setR0(vm, 0);
};

const xdpAdjustMeta: HelperFn = (vm) => {
  const ctx = ctxOf(vm);
  if (ctx === 0) return;
  const dv = vm.mem.dv, off = vm.regs[4]!;
  const data = dv.getUint32(ctx, true), meta = dv.getUint32(ctx + 8, true);
  const nm = meta + off;
  const frameEnd = dv.getUint32(ctx + XDP_CTX_FRAME_START, true) + XDP_FRAME_SIZE;
  if (nm < frameEnd || nm > data) { setR0(vm, -EINVAL); return; }
  const metalen = data - nm;
  if ((metalen & 3) !== 0 || metalen > 32) { setR0(vm, -EACCES); return; }
  dv.setUint32(ctx + 8, nm, true);
  vm.refreshPacket();
  setR0(vm, 0);
};

const xdpAdjustTail: HelperFn = (vm) => {
  const ctx = ctxOf(vm);
  if (ctx === 0) return;
  const dv = vm.mem.dv, off = vm.regs[4]!;
  const data = dv.getUint32(ctx, true), dataEnd = dv.getUint32(ctx + 4, true);
  const hardEnd = dv.getUint32(ctx + XDP_CTX_FRAME_START, true) + dv.getUint32(ctx + XDP_CTX_FRAME_SZ, true) - SKB_SHARED_INFO_SIZE;
  const ne = dataEnd + off;
  if (ne > hardEnd || ne < data + ETH_HLEN) { setR0(vm, -EINVAL); return; }
  if (off > 0) vm.mem.u8.fill(0, dataEnd, ne);
  dv.setUint32(ctx + 4, ne, true);
  vm.refreshPacket();
  setR0(vm, 0);
};

const xdpGetBuffLen: HelperFn = (vm) => {
  const ctx = ctxOf(vm);
  if (ctx === 0) return;
  const dv = vm.mem.dv;
  setR0(vm, dv.getUint32(ctx + 4, true) - dv.getUint32(ctx, true));
};

const csumScratch = new Uint32Array(128);

/** bpf_csum_diff(): x86-64 csum_partial over ~from words then to words, 32-bit folded. */
const csumDiff: HelperFn = (vm) => {
  const fromSize = vm.regs[4]! >>> 0, toSize = vm.regs[8]! >>> 0;
  const diffSize = fromSize + toSize;
  if (((fromSize | toSize) & 3) !== 0 || diffSize > 512 || vm.regs[5] !== 0 || vm.regs[9] !== 0) {
    setR0(vm, -EINVAL);
    return;
  }
  const from = fromSize === 0 ? 0 : argPtr(vm, 1, fromSize, false);
  if (from < 0) return;
  const to = toSize === 0 ? 0 : argPtr(vm, 3, toSize, false);
  if (to < 0) return;
  const dv = vm.mem.dv;
  let sum = vm.regs[10]! >>> 0;
  let n = 0;
  for (let i = 0; i < fromSize; i += 4) csumScratch[n++] = ~dv.getUint32(from + i, true);
  for (let i = 0; i < toSize; i += 4) csumScratch[n++] = dv.getUint32(to + i, true);
  for (let i = 0; i < n; i++) sum += csumScratch[i]!;
  while (sum > 0xffffffff) sum = (sum % 4294967296) + Math.floor(sum / 4294967296);
  vm.regs[0] = sum | 0;
  vm.regs[1] = 0;
};

/** struct bpf_fib_lookup is 64 bytes. */
const BPF_FIB_LOOKUP_SIZE = 64;
const BPF_FIB_LOOKUP_FLAGS = 0x3f; // DIRECT | OUTPUT | SKIP_NEIGH | TBID | SRC | MARK
const AF_INET = 2, AF_INET6 = 10;

const fibLookup: HelperFn = (vm) => {
  const ctx = ctxOf(vm);
  if (ctx === 0) return;
  const plen = vm.regs[6]! >>> 0;
  const flags = vm.regs[8]!;
  if (vm.regs[9] !== 0 || (flags & ~BPF_FIB_LOOKUP_FLAGS) !== 0) { setR0(vm, -EINVAL); return; }
  if (plen < BPF_FIB_LOOKUP_SIZE) { setR0(vm, -EINVAL); return; }
  const p = argPtr(vm, 2, plen, true);
  if (p < 0) return;
  const family = vm.mem.u8[p]!;
  if (family !== AF_INET && family !== AF_INET6) { setR0(vm, -EAFNOSUPPORT); return; }
  const be = vm.env.fibLookup;
  setR0(vm, be === undefined ? BPF_FIB_LKUP_RET_NOT_FWDED : be(vm, p, plen, flags, ctx));
};

/**
 * bpf_probe_read_kernel(dst, size, unsafe_ptr): copies size bytes from any address;
 * an address outside the program-visible regions reads as a fault: dst is zeroed, -EFAULT.
 */
const probeReadKernel: HelperFn = (vm) => {
  const n = vm.regs[4]! >>> 0;
  const dst = n === 0 ? 0 : argPtr(vm, 1, n, true);
  if (dst < 0) return;
  const src = vm.regs[6]! >>> 0;
  const u8 = vm.mem.u8;
  if (vm.regs[7] !== 0 || !vm.canRead(src, n)) {
    u8.fill(0, dst, dst + n);
    setR0(vm, -EFAULT);
    return;
  }
  u8.copyWithin(dst, src, src + n);
  setR0(vm, 0);
};

/** The helpers of an XDP program in our emulated kernel, indexed by id. */
export const XDP_HELPERS: ReadonlyArray<HelperFn | undefined> = buildTable([
  [BPF_FUNC_map_lookup_elem, mapLookupElem],
  [BPF_FUNC_map_update_elem, mapUpdateElem],
  [BPF_FUNC_map_delete_elem, mapDeleteElem],
  [BPF_FUNC_ktime_get_ns, ktimeGetNs],
  [BPF_FUNC_trace_printk, tracePrintk],
  [BPF_FUNC_get_prandom_u32, getPrandomU32],
  [BPF_FUNC_get_smp_processor_id, getSmpProcessorId],
  [BPF_FUNC_redirect, redirect],
  [BPF_FUNC_csum_diff, csumDiff],
  [BPF_FUNC_xdp_adjust_head, xdpAdjustHead],
  [BPF_FUNC_redirect_map, redirectMap],
  [BPF_FUNC_xdp_adjust_meta, xdpAdjustMeta],
  [BPF_FUNC_xdp_adjust_tail, xdpAdjustTail],
  [BPF_FUNC_fib_lookup, fibLookup],
  [BPF_FUNC_ktime_get_boot_ns, ktimeGetNs],
  [BPF_FUNC_xdp_get_buff_len, xdpGetBuffLen],
  [BPF_FUNC_probe_read_kernel, probeReadKernel],
]);

// ---- uBPF's test helpers (ubpf_plugin/test_helpers.h), for the conformance vectors ----

const gatherBytes: HelperFn = (vm) => {
  const R = vm.regs;
  vm.regs[1] = R[2]! & 0xff;
  vm.regs[0] = ((R[4]! & 0xff) << 24) | ((R[6]! & 0xff) << 16) | ((R[8]! & 0xff) << 8) | (R[10]! & 0xff);
};
const memfrob: HelperFn = (vm) => {
  const n = vm.regs[4]! >>> 0;
  const a = argPtr(vm, 1, n, true);
  if (a < 0) return;
  const u8 = vm.mem.u8;
  for (let i = 0; i < n; i++) u8[a + i] = u8[a + i]! ^ 42;
  setR0(vm, 0);
};
const noOp: HelperFn = (vm) => setR0(vm, 0);
const sqrti: HelperFn = (vm) => {
  const v = (vm.regs[3]! >>> 0) * 4294967296 + (vm.regs[2]! >>> 0);
  setR0Double(vm, Math.floor(Math.sqrt(v)));
};
const strcmpExt: HelperFn = (vm) => {
  const u8 = vm.mem.u8;
  let a = vm.regs[2]! >>> 0, b = vm.regs[4]! >>> 0;
  for (;;) {
    if (!vm.canRead(a, 1)) { vm.setFault(FAULT_HELPER_ARG, a, 1); return; }
    if (!vm.canRead(b, 1)) { vm.setFault(FAULT_HELPER_ARG, b, 1); return; }
    const x = u8[a]!, y = u8[b]!;
    if (x !== y || x === 0) { setR0(vm, x - y); return; }
    a++;
    b++;
  }
};
const unwind: HelperFn = (vm) => {
  vm.regs[0] = vm.regs[2]!;
  vm.regs[1] = vm.regs[3]!;
  if (vm.regs[0] === 0 && vm.regs[1] === 0) vm.setFault(FAULT_UNWIND, 0, 0);
};

export const UBPF_TEST_HELPERS: ReadonlyArray<HelperFn | undefined> = buildTable([
  [0, gatherBytes], [1, memfrob], [2, noOp], [3, sqrti], [4, strcmpExt], [5, unwind],
]);

function buildTable(entries: Array<[number, HelperFn]>): Array<HelperFn | undefined> {
  const t: Array<HelperFn | undefined> = [];
  for (const [id, fn] of entries) t[id] = fn;
  return t;
}

