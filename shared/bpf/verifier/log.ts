// The verifier log: struct bpf_verifier_log (kernel/bpf/log.c) reduced to
// lines. Level 1 keeps only the path that failed (pop_stack() rewinds the log
// to where the branch was pushed) and, on success, only the statistics line;
// level 2 keeps every path with "from X to Y" headers and pruning notes.
// print_insn_state()'s column alignment of the post-insn state is reproduced.

export const BPF_LOG_LEVEL1 = 1;
export const BPF_LOG_LEVEL2 = 2;
export const BPF_LOG_STATS = 4;

const BPF_LOG_ALIGNMENT = 40;
/** Lines added between two flattenings of the log's strings. */
const FLATTEN_BATCH = 4096;
const BPF_LOG_MIN_ALIGNMENT = 8;

/** Padding print_insn_state() puts between an insn and its ";" state note. */
function vlogAlignment(pos: number): number {
  const x = Math.max(pos + BPF_LOG_MIN_ALIGNMENT / 2, BPF_LOG_ALIGNMENT);
  return Math.ceil(x / BPF_LOG_MIN_ALIGNMENT) * BPF_LOG_MIN_ALIGNMENT - pos - 1;
}

/** Verifier log lines with the kernel's rewind and alignment rules. */
export class VerifierLog {
  readonly level: number;
  readonly lines: string[] = [];
  /** Index of the last printed insn line while nothing else followed it, else -1. */
  #insnLine = -1;
  #insnLen = 0;
  /** Lines below this index are flat strings (see #flatten()). */
  #flat = 0;

  constructor(level: number) {
    this.level = level;
  }

  get enabled(): boolean {
    return (this.level & (BPF_LOG_LEVEL1 | BPF_LOG_LEVEL2)) !== 0;
  }
  get level2(): boolean {
    return (this.level & BPF_LOG_LEVEL2) !== 0;
  }

  /** verbose(): one or more message lines. */
  line(s: string): void {
    for (const l of s.split("\n")) this.lines.push(l);
    this.#insnLine = -1;
  }

  /**
   * Flattens the ropes the lines were concatenated into once FLATTEN_BATCH lines have piled up
   * (they rarely do before a level-1 rewind drops them): a 700k-line log of kept paths is then
   * 700k strings, not 700k string trees the GC traces and copies.
   */
  #flatten(): void {
    const end = this.lines.length - 1; // the last line may still grow
    for (let k = this.#flat; k < end; k++) this.lines[k]!.charCodeAt(0); // flattens in place
    this.#flat = end;
  }

  /** "N: (op) text" for an insn about to be checked. */
  insn(idx: number, text: string): void {
    const l = `${idx}: ${text}`;
    if (this.lines.length - this.#flat >= FLATTEN_BATCH) this.#flatten();
    this.lines.push(l);
    this.#insnLine = this.lines.length - 1;
    this.#insnLen = l.length + 1; // the kernel counts the newline
  }

  /** print_insn_state(): `state` (leading-space list) after the last insn, or as "N:state". */
  insnState(idx: number, state: string): void {
    if (this.#insnLine >= 0 && this.#insnLine === this.lines.length - 1) {
      this.lines[this.#insnLine] += " ".repeat(vlogAlignment(this.#insnLen)) + ";" + state;
    } else {
      this.lines.push(`${idx}:${state}`);
    }
    this.#insnLine = -1;
  }

  /** Current end of the log (line count and length of the last line), for rewind(). */
  get pos(): number {
    const last = this.lines.length > 0 ? this.lines[this.lines.length - 1]!.length : 0;
    return this.lines.length * 0x100000 + last;
  }

  /** Level-1 pop_stack(): drops what the finished path printed after `pos`. */
  rewind(pos: number): void {
    const n = Math.floor(pos / 0x100000), last = pos % 0x100000;
    this.lines.length = Math.min(n, this.lines.length);
    if (this.#flat > this.lines.length - 1) this.#flat = Math.max(0, this.lines.length - 1);
    if (n > 0 && this.lines.length === n) this.lines[n - 1] = this.lines[n - 1]!.slice(0, last);
    this.#insnLine = -1;
  }

  /** Appends to the last line (the level-1 resume note after a rewind). */
  append(s: string): void {
    if (this.lines.length === 0) this.lines.push(s.trimStart());
    else this.lines[this.lines.length - 1] += s;
    this.#insnLine = -1;
  }

  clear(): void {
    this.lines.length = 0;
    this.#flat = 0;
    this.#insnLine = -1;
  }
}
