// Random structured XDP programs for the verifier property test and the
// false-accept hunt: packet parsing with each bounds-check form, variable
// offsets, parsing loops, map lookups with (or without) null checks, spills
// and fills, helper calls that move the packet, ALU noise. Each block may be
// generated in a deliberately broken variant (off-by-one read, missing null
// check, stale packet pointer, partial fill, ...). In the spirit of the
// kernel's tools/testing/selftests/bpf/ verifier fuzzing, written from scratch.
import type { BpfInsns } from "../../../../../shared/bpf/isa/insn.ts";
import type { RawMapDef } from "../../../../helpers/raw_loader.ts";
import { assembleCase } from "./case.ts";

/** Maps every generated program gets: [0] array (16-byte values, 4 entries), [1] hash (4-byte keys). */
export const GEN_MAPS: readonly RawMapDef[] = [
  { type: 2, keySize: 4, valueSize: 16, maxEntries: 4 },
  { type: 1, keySize: 4, valueSize: 16, maxEntries: 8 },
];

export interface GeneratedProgram {
  name: string;
  asm: string;
  insns: BpfInsns;
  maps: readonly RawMapDef[];
  /** Comma-separated kinds of the broken blocks, "" when every block was written correctly. */
  broken: string;
}

export interface GenOpts {
  name?: string;
  /** Probability that a block is generated in its broken variant. */
  brokenRate?: number;
  maxBlocks?: number;
}

/** Generator state: registers r6 = ctx, r7 = data, r8 = data_end, r9 = accumulator. */
interface Gen {
  rnd: () => number;
  lines: string[];
  label: number;
  /** Bytes after r7 proven by the last check (0 after helpers that move the packet). */
  checked: number;
  /** r7/r8 are stale (a broken block skipped the reload). */
  stale: boolean;
  brokenRate: number;
  broken: string[];
}

const int = (g: Gen, lo: number, hi: number): number => lo + Math.floor(g.rnd() * (hi - lo + 1));
const pick = <T>(g: Gen, a: readonly T[]): T => a[Math.floor(g.rnd() * a.length)]!;
const SIZES = [[1, "u8"], [2, "u16"], [4, "u32"], [8, "u64"]] as const;

function breakIt(g: Gen, kind: string): boolean {
  if (g.rnd() >= g.brokenRate) return false;
  g.broken.push(kind);
  return true;
}

/** A bounds check of r2 (= r7 + n) against r8 in one of the 8 forms; falls through when in range. */
function check(g: Gen, a: string, b: string): number {
  const k = g.label++;
  const forms: Array<[string, number]> = [
    [`if ${a} > ${b} goto out`, 0], [`if ${b} < ${a} goto out`, 0],
    [`if ${a} >= ${b} goto out`, 1], [`if ${b} <= ${a} goto out`, 1],
    [`if ${a} <= ${b} goto ok${k}\ngoto out\nok${k}:`, 0], [`if ${b} >= ${a} goto ok${k}\ngoto out\nok${k}:`, 0],
    [`if ${a} < ${b} goto ok${k}\ngoto out\nok${k}:`, 1], [`if ${b} > ${a} goto ok${k}\ngoto out\nok${k}:`, 1],
  ];
  const [text, extra] = pick(g, forms);
  g.lines.push(text);
  return extra;
}

function blockPacket(g: Gen): void {
  const n = int(g, 1, 64);
  g.lines.push("r2 = r7", `r2 += ${n}`);
  const good = n + check(g, "r2", "r8");
  g.checked = Math.max(g.checked, good);
  const [s, t] = pick(g, SIZES.filter(([sz]) => sz <= good));
  const off = breakIt(g, "packet-off-by-one") ? good - s + 1 : int(g, 0, good - s);
  if (g.rnd() < 0.3) g.lines.push(`*(${t} *)(r7 +${off}) = r9`);
  else g.lines.push(`r3 = *(${t} *)(r7 +${off})`, "r9 += r3");
}

function blockVarOff(g: Gen): void {
  if (g.checked < 1) return blockPacket(g);
  const mask = pick(g, [1, 3, 7, 15, 31, 63, 255]);
  const [s, t] = pick(g, SIZES);
  const span = int(g, s, 16);
  const off = breakIt(g, "varoff-off-by-one") ? span - s + 1 : int(g, 0, span - s);
  g.lines.push("r3 = *(u8 *)(r7 +0)", `r3 &= ${mask}`, "r2 = r7", "r2 += r3", "r4 = r2", `r4 += ${span}`, "if r4 > r8 goto out",
    `r3 = *(${t} *)(r2 +${off})`, "r9 += r3");
}

function blockParseLoop(g: Gen): void {
  const k = g.label++;
  const n = int(g, 1, 24);
  const off = breakIt(g, "loop-read-past-check") ? 1 : 0;
  g.lines.push("r4 = 0", `loop${k}: r2 = r7`, "r2 += r4", "r3 = r2", "r3 += 1", `if r3 > r8 goto end${k}`,
    `r3 = *(u8 *)(r2 +${off})`, "r9 += r3", "r4 += 1", `if r4 < ${n} goto loop${k}`, `end${k}: r9 += 0`);
}

function blockCountLoop(g: Gen): void {
  const k = g.label++;
  g.lines.push("r4 = 0", `cnt${k}: r9 += r4`, "r4 += 1", `if r4 < ${int(g, 1, 30)} goto cnt${k}`);
}

function blockLookup(g: Gen): void {
  const k = g.label++;
  const useHash = g.rnd() < 0.4;
  const keyFromPacket = useHash && g.checked >= 4 && !g.stale && g.rnd() < 0.5;
  if (keyFromPacket) g.lines.push("r2 = r7");
  else g.lines.push(`*(u32 *)(r10 -4) = ${useHash ? int(g, 0, 9) : int(g, 0, 5)}`, "r2 = r10", "r2 += -4");
  g.lines.push(`r1 = map_fd ${useHash ? 1 : 0}`, "call bpf_map_lookup_elem#1");
  // The call clobbered nothing we keep (r6-r9); r0 is the value or NULL.
  if (!breakIt(g, "missing-null-check")) g.lines.push(`if r0 == 0 goto skip${k}`);
  const [s, t] = pick(g, SIZES);
  const off = breakIt(g, "map-value-off-by-one") ? 16 - s + 1 : int(g, 0, 16 - s);
  if (g.rnd() < 0.4) g.lines.push(`*(${t} *)(r0 +${off}) = r9`);
  else g.lines.push(`r3 = *(${t} *)(r0 +${off})`, "r9 += r3");
  g.lines.push(`skip${k}: r9 += 0`);
}

function blockSpill(g: Gen): void {
  const slot = 8 * int(g, 2, 60);
  if (g.rnd() < 0.5) {
    g.lines.push(`*(u64 *)(r10 -${slot}) = r7`);
    g.lines.push(breakIt(g, "partial-fill") ? `r7 = *(u32 *)(r10 -${slot})` : `r7 = *(u64 *)(r10 -${slot})`);
  } else {
    g.lines.push(`*(u64 *)(r10 -${slot}) = r9`, `r3 = *(u64 *)(r10 -${slot})`, "r9 ^= r3");
  }
}

function blockHelper(g: Gen): void {
  const h = int(g, 0, 3);
  if (h === 0) g.lines.push("call bpf_get_prandom_u32#7", "r0 &= 0", "r9 += r0");
  else if (h === 1) g.lines.push("call bpf_ktime_get_ns#5", "r0 &= 0", "r9 += r0");
  else {
    const fn = h === 2 ? "bpf_xdp_adjust_head#44" : "bpf_xdp_adjust_tail#65";
    g.lines.push("r1 = r6", `r2 = ${pick(g, [-16, -8, -4, 0, 4, 8])}`, `call ${fn}`);
    g.checked = 0;
    if (breakIt(g, "stale-packet-pointer")) {
      g.stale = true;
    } else {
      g.stale = false;
      g.lines.push("r7 = *(u32 *)(r6 +0)", "r8 = *(u32 *)(r6 +4)");
    }
  }
}

function blockAlu(g: Gen): void {
  const w = g.rnd() < 0.3 ? "w" : "r";
  const op = pick(g, ["+=", "-=", "*=", "^=", "|=", "&=", "<<=", ">>=", "s>>=", "/=", "%="]);
  let imm = int(g, -1000, 1000);
  if (op === "<<=" || op === ">>=" || op === "s>>=") imm = int(g, 0, w === "w" ? 31 : 63);
  if ((op === "/=" || op === "%=") && imm === 0) imm = 7;
  if ((op === "/=" || op === "%=") && breakIt(g, "div-by-zero")) imm = 0;
  g.lines.push(`${w}9 ${op} ${imm}`);
}

function blockStack(g: Gen): void {
  const slot = breakIt(g, "stack-out-of-bounds") ? 520 : 8 * int(g, 1, 64);
  g.lines.push(`*(u64 *)(r10 -${slot}) = r9`);
}

function blockCtx(g: Gen): void {
  const off = breakIt(g, "ctx-bad-offset") ? pick(g, [2, 24, 20]) : pick(g, [12, 16]);
  g.lines.push(`r3 = *(u32 *)(r6 +${off})`, "r9 += r3");
}

const BLOCKS = [blockPacket, blockPacket, blockVarOff, blockParseLoop, blockCountLoop, blockLookup, blockLookup, blockSpill, blockHelper, blockAlu, blockAlu, blockStack, blockCtx];

/** One random program. */
export function generateProgram(rnd: () => number, opts: GenOpts = {}): GeneratedProgram {
  const g: Gen = { rnd, lines: [], label: 0, checked: 0, stale: false, brokenRate: opts.brokenRate ?? 0.2, broken: [] };
  g.lines.push("r6 = r1", "r7 = *(u32 *)(r6 +0)", "r8 = *(u32 *)(r6 +4)", "r9 = 0");
  const n = int(g, 1, opts.maxBlocks ?? 8);
  for (let i = 0; i < n; i++) pick(g, BLOCKS)(g);
  // A static edge to `out`, so that it is reachable in the CFG whatever the blocks were.
  g.lines.push("if r9 == 0x5eed goto out", "r0 = r9", "r0 &= 3", "exit", "out: r0 = 1", "exit");
  const asm = g.lines.join("\n");
  return { name: opts.name ?? "gen", asm, insns: assembleCase(asm), maps: GEN_MAPS, broken: g.broken.join(",") };
}

/** A random packet: 14..maxLen bytes of random content, sometimes a real-looking header. */
export function randomPacket(rnd: () => number, maxLen = 300): Uint8Array {
  const len = 14 + Math.floor(rnd() * (maxLen - 13));
  const p = new Uint8Array(len);
  for (let i = 0; i < len; i++) p[i] = Math.floor(rnd() * 256);
  return p;
}
