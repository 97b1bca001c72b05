// BTF line info in the verifier: check_btf_line() of kernel/bpf/verifier.c
// (the BPF_PROG_LOAD line_info records: size, order, insn and string checks,
// one record at each subprogram start) and verbose_linfo()/find_linfo() of
// kernel/bpf/log.c (the "; <source line> @ <file>:<line>" notes the log
// prints before an insn that starts a new source line).
import { E2BIG, EFAULT, EINVAL } from "../../errno.ts";
import type { Env } from "./env.ts";

/** sizeof(struct bpf_line_info): insn_off, file_name_off, line_off, line_col. */
export const BPF_LINE_INFO_SIZE = 16;
/** MIN_BPF_LINEINFO_SIZE (offsetofend(line_col)) and MAX_LINEINFO_REC_SIZE (MAX_FUNCINFO_REC_SIZE). */
export const MIN_BPF_LINEINFO_SIZE = 16;
export const MAX_LINEINFO_REC_SIZE = 252;
const INT_MAX = 0x7fffffff;

/**
 * BPF_PROG_LOAD's line_info, line_info_rec_size and line_info_cnt, with the
 * string section of the program's BTF (prog_btf_fd) the records point into.
 * Plain data, so that it crosses to a verifier worker.
 */
export interface LineInfoAttr {
  recs: Uint8Array;
  recSize: number;
  cnt: number;
  btfStrings: Uint8Array;
}

/** Line info as the verifier keeps it (prog->aux->linfo), resolved for the log. */
export interface VerifierLinfo {
  /** Per insn: index of the record covering it (find_linfo()), -1 before the first. */
  readonly at: Int32Array;
  /** Per record: "<ltrim(line)> @ <basename(file)>:<line_num>". */
  readonly text: string[];
  readonly fileNameOff: Uint32Array;
  readonly lineNum: Uint32Array;
}

/** btf_name_by_offset(): the NUL-terminated string at `off`, or null past the section. */
function strAt(strs: Uint8Array, off: number): string | null {
  if (off >= strs.length) return null;
  let end = off;
  while (end < strs.length && strs[end] !== 0) end++;
  return new TextDecoder().decode(strs.subarray(off, end));
}

/** The kernel's ltrim(): skips isspace() characters. */
function ltrim(s: string): string {
  return s.replace(/^[ \t\n\v\f\r]+/, "");
}

/**
 * check_btf_line(): validates the records against the program and its
 * subprograms (`subprogStarts`, sorted) and, when valid, stores them on
 * `env.linfo`. Returns 0 or -errno with the kernel's message in the log
 * (E2BIG "nonzero tailing record in line_info" when a record's bytes past
 * struct bpf_line_info are not zero; EINVAL otherwise).
 */
export function checkBtfLine(env: Env, a: LineInfoAttr | null | undefined): number {
  if (a === null || a === undefined || a.cnt === 0) return 0;
  const p = env.insns;
  if (a.cnt > INT_MAX / BPF_LINE_INFO_SIZE) return -EINVAL;
  const rs = a.recSize;
  if (rs < MIN_BPF_LINEINFO_SIZE || rs > MAX_LINEINFO_REC_SIZE || (rs & 3) !== 0) return -EINVAL;
  // copy_from_bpfptr() of cnt * rec_size bytes the caller did not provide: EFAULT
  if (a.recs.length < a.cnt * rs) return -EFAULT;
  const dv = new DataView(a.recs.buffer, a.recs.byteOffset, a.recs.byteLength);
  const starts = env.subprogStarts;
  const text: string[] = [];
  const fileNameOff = new Uint32Array(a.cnt), lineNum = new Uint32Array(a.cnt), insnOff = new Uint32Array(a.cnt);
  let s = 0, prev = 0;
  for (let i = 0; i < a.cnt; i++) {
    const base = i * rs;
    for (let b = BPF_LINE_INFO_SIZE; b < rs; b++) {
      if (a.recs[base + b] !== 0) {
        // bpf_check_uarg_tail_zero(): the kernel writes its record size back into line_info_rec_size
        env.verbose("nonzero tailing record in line_info");
        env.joinNext = true; // printed without a newline: the statistics line follows on it
        return -E2BIG;
      }
    }
    const off = dv.getUint32(base, true);
    if ((i > 0 && off <= prev) || off >= p.len) {
      return env.fail(EINVAL, `Invalid line_info[${i}].insn_off:${off} (prev_offset:${prev} prog->len:${p.len})`);
    }
    if (p.code[off] === 0) return env.fail(EINVAL, `Invalid insn code at line_info[${i}].insn_off`);
    const fOff = dv.getUint32(base + 4, true), lOff = dv.getUint32(base + 8, true);
    const line = strAt(a.btfStrings, lOff), file = strAt(a.btfStrings, fOff);
    if (line === null || file === null) return env.fail(EINVAL, `Invalid line_info[${i}].line_off or .file_name_off`);
    if (s !== starts.length) {
      if (off === starts[s]) s++;
      else if (starts[s]! < off) return env.fail(EINVAL, `missing bpf_line_info for func#${s}`);
    }
    const lc = dv.getUint32(base + 12, true);
    insnOff[i] = off;
    fileNameOff[i] = fOff;
    lineNum[i] = lc >>> 10;
    text.push(`${ltrim(line)} @ ${file.slice(file.lastIndexOf("/") + 1)}:${lc >>> 10}`);
    prev = off;
  }
  if (s !== starts.length) {
    return env.fail(EINVAL, `missing bpf_line_info for ${starts.length - s} funcs starting from func#${s}`);
  }
  const at = new Int32Array(p.len).fill(-1);
  for (let i = 0, r = -1; i < p.len; i++) {
    while (r + 1 < a.cnt && insnOff[r + 1]! <= i) r++;
    at[i] = r;
  }
  env.linfo = { at, text, fileNameOff, lineNum };
  return 0;
}

/**
 * verbose_linfo(): when insn `i` is covered by a record other than the last
 * one printed (and not one for the same file and line), logs `prefix` and
 * the record. The last printed record survives level-1 rewinds, as
 * env->prev_linfo does.
 */
export function verboseLinfo(env: Env, i: number, prefix: string): void {
  const li = env.linfo;
  if (li === null || !env.log.enabled || i < 0 || i >= li.at.length) return;
  const r = li.at[i]!;
  const prev = env.prevLinfo;
  if (r < 0 || r === prev) return;
  if (prev >= 0 && li.fileNameOff[r] === li.fileNameOff[prev] && li.lineNum[r] === li.lineNum[prev]) return;
  env.log.line(prefix + li.text[r]!);
  env.prevLinfo = r;
}
