// Verifier test cases as data, in the manner of the kernel's
// tools/testing/selftests/bpf/verifier/*.c and progs/verifier_*.c: a program,
// its maps, the expected verdict, errno and log line, and for accepted
// programs the return value on a packet. Programs are written in the syntax
// the verifier log prints (shared/bpf/isa/asm.ts assembleKernel) plus a few
// extensions for what that syntax cannot name:
//   rN = map_fd K            ld_imm64 src=BPF_PSEUDO_MAP_FD, imm = index K into the case's maps
//   rN = map_value K OFF     ld_imm64 src=BPF_PSEUDO_MAP_VALUE, imm = K, second imm = OFF
//   call @label              bpf-to-bpf call (src=BPF_PSEUDO_CALL) to a label
//   raw CODE DST SRC OFF IMM one instruction given field by field (malformed input)
import { assembleKernel } from "../../../../../shared/bpf/isa/asm.ts";
import { BpfInsns } from "../../../../../shared/bpf/isa/insn.ts";
import { buildFrame } from "../../../../../shared/net/packets.ts";
import { BPF_CALL, BPF_JMP, BPF_PSEUDO_CALL } from "../../../../../shared/bpf/isa/uapi.ts";
import type { RawCase, RawMapDef } from "../../../../helpers/raw_loader.ts";
import { kernelInRange, type KernelVersion } from "../../../../helpers/kernel_version.ts";
import { helperIdsCalled } from "../../../../helpers/helper_probe.ts";

/**
 * What the Linux kernels of one version range answer for a case
 * (test/helpers/kernel_version.ts kernelInRange syntax: ">=6.18.44", "<6.18.44").
 * Ranges may overlap where the version that changed the answer is not known
 * exactly: each answer is then accepted there.
 */
export interface KernelAnswer {
  range: string;
  result: "ACCEPT" | "REJECT";
  errno?: number;
  err?: string;
  retval?: number;
  /** Why kernels differ here (the change, or the builds the answer was seen on). */
  note?: string;
}

/** One corpus case. */
export interface VerifierCase {
  /** Unique, stable: "area/what". */
  name: string;
  /** Program text (see the file header), or build() for generated programs. */
  asm?: string;
  build?: () => BpfInsns;
  maps?: readonly RawMapDef[];
  result: "ACCEPT" | "REJECT";
  /** Expected errno of a rejection (EACCES, EINVAL, E2BIG...). */
  errno?: number;
  /** Substring of the kernel's first error line (rejections). */
  err?: string;
  /** Expected XDP return value on `packet` (accepted cases). */
  retval?: number;
  /** Packet for the run; defaults to PKT_UDP4 (64-byte IPv4/UDP frame). */
  packet?: Uint8Array;
  /** Offload target ifindex (device-bound programs). */
  ifindex?: number;
  /** Too slow for the kernel's complexity limit in CI loops: run only in the differential and script. */
  slow?: boolean;
  /**
   * Version-dependent cases: every recorded kernel answer by version range.
   * The case's own result/errno/err/retval are then the NEWEST kernels' answer
   * (one entry with a range open above must equal them): our verifier follows
   * it, the differential judges the running kernel by its version.
   */
  kernel?: readonly KernelAnswer[];
}

/** The answers recorded for kernels of version `v`: the case's own when it has no per-version record. */
export function kernelAnswersFor(c: VerifierCase, v: KernelVersion): KernelAnswer[] {
  if (c.kernel === undefined) return [{ range: "*", result: c.result, errno: c.errno, err: c.err, retval: c.retval }];
  return c.kernel.filter((a) => kernelInRange(v, a.range));
}

/** 64-byte IPv4/UDP frame: the default packet of accepted cases. */
export const PKT_UDP4 = buildFrame({ l3: "ipv4", l4: 17, frameLen: 64 });
/** 14-byte frame (Ethernet header only). */
export const PKT_ETH_ONLY = buildFrame({ l3: "raw", frameLen: 14 });

const MAGIC = 0x7e; // high byte of the placeholder ld_imm64 a map reference becomes before patching
const RAW_REG = 14; // placeholder "if r14 == K goto +0" stands for raw insn K
const CALL_REG = 15; // placeholder "if r15 == 0x5ca1 goto L" stands for "call L"
const CALL_TAG = 0x5ca1;

/** Assembles a case program: kernel syntax plus the map_fd/map_value/call @/raw extensions. */
export function assembleCase(text: string): BpfInsns {
  const raws: Array<[number, number, number, number, number]> = [];
  const lines = text.split("\n").map((line) => {
    let m: RegExpExecArray | null;
    if ((m = /^(\s*(?:[A-Za-z_]\w*:\s*)?)r(\d+) = map_fd (\d+)\s*$/.exec(line)) !== null) {
      return `${m[1]}r${m[2]} = 0x${hex8((MAGIC << 24) | (1 << 16))}${hex8(Number(m[3]))} ll`;
    }
    if ((m = /^(\s*(?:[A-Za-z_]\w*:\s*)?)r(\d+) = map_value (\d+) (\d+)\s*$/.exec(line)) !== null) {
      return `${m[1]}r${m[2]} = 0x${hex8((MAGIC << 24) | (2 << 16) | Number(m[4]))}${hex8(Number(m[3]))} ll`;
    }
    if ((m = /^(\s*(?:[A-Za-z_]\w*:\s*)?)call @([A-Za-z_]\w*)\s*$/.exec(line)) !== null) {
      return `${m[1]}if r${CALL_REG} == ${CALL_TAG} goto ${m[2]}`;
    }
    if ((m = /^(\s*(?:[A-Za-z_]\w*:\s*)?)raw (\S+) (\S+) (\S+) (\S+) (\S+)\s*$/.exec(line)) !== null) {
      raws.push([Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])]);
      return `${m[1]}if r${RAW_REG} == ${raws.length - 1} goto pc+0`;
    }
    return line;
  });
  const p = assembleKernel(lines.join("\n"));
  for (let i = 0; i < p.len; i++) {
    const code = p.code[i]!;
    if (code === 0x18 && i + 1 < p.len && p.imm[i + 1]! >>> 24 === MAGIC) {
      const kind = (p.imm[i + 1]! >>> 16) & 0xff;
      p.src[i] = kind;
      p.imm[i + 1] = kind === 2 ? p.imm[i + 1]! & 0xffff : 0;
      i++;
    } else if (code === (BPF_JMP | 0x10) && p.dst[i] === CALL_REG && p.imm[i] === CALL_TAG) {
      p.set(i, BPF_JMP | BPF_CALL, 0, BPF_PSEUDO_CALL, 0, p.off[i]!);
    } else if (code === (BPF_JMP | 0x10) && p.dst[i] === RAW_REG && p.off[i] === 0 && raws[p.imm[i]!] !== undefined) {
      const r = raws[p.imm[i]!]!;
      p.set(i, r[0], r[1], r[2], r[3], r[4]);
    }
  }
  return p;
}

function hex8(v: number): string {
  return (v >>> 0).toString(16).padStart(8, "0");
}

/** The case's instructions. */
export function caseInsns(c: VerifierCase): BpfInsns {
  if (c.build !== undefined) return c.build();
  if (c.asm === undefined) throw new Error(`${c.name}: neither asm nor build`);
  return assembleCase(c.asm);
}

/** The raw-loader request for a case (kernel side). */
export function rawCaseOf(c: VerifierCase, insns = caseInsns(c)): RawCase {
  return {
    name: c.name, insns, maps: c.maps ?? [], ifindex: c.ifindex,
    data: c.result === "ACCEPT" || c.kernel?.some((a) => a.result === "ACCEPT") === true ? (c.packet ?? PKT_UDP4) : undefined,
  };
}

/**
 * The helpers a case needs the kernel to offer: every helper id its program
 * calls (BPF_CALL, src_reg 0). Derived, never written per case: the
 * differential probes each distinct id once (test/helpers/helper_probe.ts) and
 * does not judge a case the kernel refuses for a helper this kernel build does
 * not offer (judge.ts unofferedHelperRejection).
 */
export function caseHelpers(c: VerifierCase, insns = caseInsns(c)): number[] {
  return helperIdsCalled(insns);
}

/** N copies of a line, for repetitive programs. */
export function rep(line: string, n: number): string {
  return Array.from({ length: n }, () => line).join("\n");
}

/** Map definitions used across the corpus. */
export const ARRAY_8: RawMapDef = { type: 2, keySize: 4, valueSize: 8, maxEntries: 4 };
export const ARRAY_48: RawMapDef = { type: 2, keySize: 4, valueSize: 48, maxEntries: 1 };
export const HASH_8_16: RawMapDef = { type: 1, keySize: 8, valueSize: 16, maxEntries: 16 };
export const PROG_ARRAY: RawMapDef = { type: 3, keySize: 4, valueSize: 4, maxEntries: 4 };
export const DEVMAP: RawMapDef = { type: 14, keySize: 4, valueSize: 4, maxEntries: 4 };
export const PERCPU_ARRAY_8: RawMapDef = { type: 6, keySize: 4, valueSize: 8, maxEntries: 2 };
