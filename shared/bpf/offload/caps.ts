// Offload capability negotiation: what a device advertises (XDP actions,
// helpers, map types, program size) and what a program needs, checked by the
// guest driver before sending (the RFC's setup() allowlist) and again by the
// host (second pass). Mirrors the role of nfp_bpf_check_helper_call() and
// nfp_bpf_check_exit() in drivers/net/ethernet/netronome/nfp/bpf/verifier.c.
import {
  BPF_FUNC_csum_diff, BPF_FUNC_fib_lookup, BPF_FUNC_get_prandom_u32, BPF_FUNC_ktime_get_ns, BPF_FUNC_map_delete_elem,
  BPF_FUNC_map_lookup_elem, BPF_FUNC_map_update_elem, BPF_FUNC_redirect, BPF_FUNC_redirect_map, BPF_FUNC_xdp_adjust_head,
  BPF_FUNC_tail_call, BPF_FUNC_xdp_adjust_meta, BPF_FUNC_xdp_adjust_tail, BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_HASH, BPF_MAP_TYPE_PROG_ARRAY, MAP_TYPE_NAMES,
  XDP_ABORTED, XDP_ACTION_NAMES, XDP_DROP, XDP_PASS, XDP_REDIRECT, XDP_TX, helperName,
} from "../isa/uapi.ts";
import type { BpfInsns } from "../isa/insn.ts";
import type { OffloadCaps } from "../../proto/messages.ts";
import { EOPNOTSUPP } from "../../errno.ts";

/** Helpers the host runs for offloaded programs: none of them exposes host state. */
export const OFFLOAD_HELPERS: readonly number[] = [
  BPF_FUNC_map_lookup_elem, BPF_FUNC_map_update_elem, BPF_FUNC_map_delete_elem, BPF_FUNC_ktime_get_ns,
  BPF_FUNC_get_prandom_u32, BPF_FUNC_csum_diff, BPF_FUNC_xdp_adjust_head, BPF_FUNC_xdp_adjust_meta, BPF_FUNC_xdp_adjust_tail,
  BPF_FUNC_tail_call,
];

/** Helpers the guest driver refuses outright, whatever the device says (they reach host state or devices). */
export const GUEST_DENIED_HELPERS: readonly number[] = [BPF_FUNC_fib_lookup, BPF_FUNC_redirect, BPF_FUNC_redirect_map];

/**
 * Map types the offload layer accepts: array and hash as kernel/bpf/offload.c, plus prog arrays
 * offloaded with their programs (each verified on the host and bound to the same tap), which the
 * kernel's offload does not do (it keeps dev-bound programs out of program maps).
 */
export const OFFLOADABLE_MAP_TYPES: readonly number[] = [BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_HASH, BPF_MAP_TYPE_PROG_ARRAY];

/** Actions a tap can apply: XDP_REDIRECT from a tap would hand the frame back to the guest (RFC). */
export const OFFLOAD_ACTIONS = (1 << XDP_ABORTED) | (1 << XDP_DROP) | (1 << XDP_PASS) | (1 << XDP_TX);

/** Default capabilities of a host. */
export function defaultCaps(mapTypes: readonly number[] = OFFLOADABLE_MAP_TYPES, maxInsns = 1_000_000): OffloadCaps {
  return { actions: OFFLOAD_ACTIONS, helpers: [...OFFLOAD_HELPERS], mapTypes: [...mapTypes], maxInsns };
}

/** What a program needs from a device. */
export interface ProgNeeds {
  /** Helper ids called, with the first calling insn. */
  helpers: Map<number, number>;
  /** Constant XDP actions returned (bit n = action n), with the first returning insn. */
  actions: Map<number, number>;
}

const CALL = 0x85; // BPF_JMP | BPF_CALL
const EXIT = 0x95; // BPF_JMP | BPF_EXIT
const JA = 0x05; // BPF_JMP | BPF_JA
const MOV64_K = 0xb7;
const MOV32_K = 0xb4;

function isExitAt(p: BpfInsns, i: number): boolean {
  if (i < 0 || i >= p.len) return false;
  if (p.code[i] === EXIT) return true;
  if (p.code[i] === JA) {
    const t = i + 1 + p.off[i]!;
    return t >= 0 && t < p.len && p.code[t] === EXIT;
  }
  return false;
}

/**
 * Scans a program for helper calls and constant return actions (`r0 = K` followed by
 * exit, or by a jump to exit, as compilers emit returns).
 */
export function progNeeds(p: BpfInsns): ProgNeeds {
  const helpers = new Map<number, number>();
  const actions = new Map<number, number>();
  for (let i = 0; i < p.len; i++) {
    const c = p.code[i]!;
    if (c === CALL && p.src[i] === 0 && !helpers.has(p.imm[i]!)) helpers.set(p.imm[i]!, i);
    if ((c === MOV64_K || c === MOV32_K) && p.dst[i] === 0 && p.imm[i]! >= 0 && p.imm[i]! <= XDP_REDIRECT && isExitAt(p, i + 1)) {
      if (!actions.has(p.imm[i]!)) actions.set(p.imm[i]!, i);
    }
    if (c === 0x18) i++; // ld_imm64 second half
  }
  return { helpers, actions };
}

/** A refusal: errno and the reason, naming what is missing. */
export interface Refusal {
  errno: number;
  message: string;
}

/** The RFC's setup() checks in the guest driver: allowlist, then XDP_REDIRECT. */
export function checkGuestAllowlist(n: ProgNeeds): Refusal | null {
  for (const [id, insn] of n.helpers) {
    if (GUEST_DENIED_HELPERS.includes(id)) {
      return { errno: EOPNOTSUPP, message: `virtio_net: helper ${helperName(id)}#${id} (insn ${insn}) is not allowed in an offloaded program` };
    }
  }
  return checkRedirect(n);
}

function checkRedirect(n: ProgNeeds): Refusal | null {
  const at = n.actions.get(XDP_REDIRECT);
  if (at === undefined) return null;
  return {
    errno: EOPNOTSUPP,
    message: `offloaded program returns XDP_REDIRECT (insn ${at}): a redirect from the host tap would send the frame back to the guest`,
  };
}

/** Checks a program against the device's advertised capabilities (EOPNOTSUPP naming what is missing). */
export function checkProgCaps(n: ProgNeeds, caps: OffloadCaps, insnCount: number): Refusal | null {
  for (const [id, insn] of n.helpers) {
    if (!caps.helpers.includes(id)) {
      return { errno: EOPNOTSUPP, message: `device does not support helper ${helperName(id)}#${id} (insn ${insn})` };
    }
  }
  const r = checkRedirect(n);
  if (r !== null) return r;
  for (const [a, insn] of n.actions) {
    if ((caps.actions & (1 << a)) === 0) {
      return { errno: EOPNOTSUPP, message: `device does not support action ${XDP_ACTION_NAMES[a] ?? a} (insn ${insn})` };
    }
  }
  if (insnCount > caps.maxInsns) {
    return { errno: EOPNOTSUPP, message: `device supports programs of at most ${caps.maxInsns} insns, program has ${insnCount}` };
  }
  return null;
}

/** Checks a map type against the device's capabilities. */
export function checkMapCaps(mapType: number, caps: OffloadCaps): Refusal | null {
  if (caps.mapTypes.includes(mapType)) return null;
  return { errno: EOPNOTSUPP, message: `device does not support offloading ${MAP_TYPE_NAMES[mapType] ?? `type ${mapType}`} maps` };
}
