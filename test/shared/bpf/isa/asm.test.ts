// Tests for shared/bpf/isa/asm.ts (bpf_conformance/uBPF .data dialect and kernel syntax)
// and test/helpers/data_file.ts (the .data vector reader), with literal encodings.
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { KernelError } from "../../../../shared/errno.ts";
import { assemble, assembleKernel, helperIdByName } from "../../../../shared/bpf/isa/asm.ts";
import {
  findDataFiles, insnsToRaw, parseDataFile, parseHexDump, rawToInsns, readDataFile, vectorInsns,
} from "../../../helpers/data_file.ts";
import type { BpfInsns } from "../../../../shared/bpf/isa/insn.ts";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../..");
const conformanceRoot = path.resolve(repoRoot, "../shared/conformance");

/** Each insn as the 16 hex digits of its little-endian u64 (the `-- raw` form). */
function raw(p: BpfInsns): string[] {
  return insnsToRaw(p).map((w) => w.toString(16).padStart(16, "0"));
}

function asmError(text: string): string {
  try {
    assemble(text);
  } catch (err) {
    expect(err).toBeInstanceOf(KernelError);
    expect((err as KernelError).errno).toBe(22);
    return (err as Error).message;
  }
  throw new Error("assemble() accepted " + JSON.stringify(text));
}

describe("assemble()", () => {
  it("encodes ALU64 and ALU32 in register and immediate forms", () => {
    expect(raw(assemble("mov %r0, 1\nadd32 %r9, 0xffffffff\nsub %r1, %r2\nneg32 %r1\narsh %r3, -1"))).toEqual([
      "00000001000000b7", "ffffffff00000904", "000000000000211f", "0000000000000184", "ffffffff000003c7",
    ]);
  });

  it("encodes sdiv/smod as div/mod with off = 1 and movsx as mov with off = width", () => {
    expect(raw(assemble("sdiv %r1, 3\nsmod32 %r1, %r2\nmovsx832 %r0, %r1\nmovsx1664 %r2, %r3\nmovsx3264 %r0, %r9"))).toEqual([
      "0000000300010137", "000000000001219c", "00000000000810bc", "00000000001032bf", "00000000002090bf",
    ]);
  });

  it("encodes le/be on ALU and bswap/swap on ALU64 with the width in imm", () => {
    expect(raw(assemble("le16 %r1\nbe64 %r2\nbswap32 %r0\nswap16 %r0"))).toEqual([
      "00000010000001d4", "00000040000002dc", "00000020000000d7", "00000010000000d7",
    ]);
  });

  it("encodes loads, sign-extending loads, stores and legacy packet loads", () => {
    expect(raw(assemble(
      "ldxw %r0, [%r1+4]\nldxsh %r0, [%r10-2]\nldxdw %r2, [%r1]\nstb [%r10-4], 0x1\nstxdw [%r1+0x10], %r2\nldabsh 12\nldindw %r3, -4",
    ))).toEqual([
      "0000000000041061", "00000000fffea089", "0000000000001279", "00000001fffc0a72", "000000000010217b",
      "0000000c00000028", "fffffffc00003040",
    ]);
  });

  it("encodes every lock form with the atomic op in imm", () => {
    expect(raw(assemble([
      "lock add [%r10-8], %r1", "lock fetch or32 [%r10-4], %r3", "lock and [%r1], %r2", "lock fetch xor [%r1+8], %r2",
      "lock xchg32 [%r10-8], %r1", "lock cmpxchg [%r10-8], %r1",
    ].join("\n")))).toEqual([
      "00000000fff81adb", "00000041fffc3ac3", "00000050000021db", "000000a1000821db", "000000e1fff81ac3",
      "000000f1fff81adb",
    ]);
  });

  it("encodes lddw as two slots with the high half in the second imm", () => {
    expect(raw(assemble("lddw %r0, 0x1122334455667788\nlddw %r1, -2\nexit"))).toEqual([
      "5566778800000018", "1122334400000000", "fffffffe00000118", "ffffffff00000000", "0000000000000095",
    ]);
  });

  it("encodes the ld_imm64 pseudo-source extension (map_fd, map_value, func)", () => {
    expect(raw(assemble("lddw %r1, map_fd 3\nlddw %r2, map_value 3, 8\nlddw %r3, func f\nexit\nf: exit"))).toEqual([
      "0000000300001118", "0000000000000000", "0000000300002218", "0000000800000000", "0000000200004318",
      "0000000000000000", "0000000000000095", "0000000000000095",
    ]);
  });

  it("encodes call forms: helper, callx (register in dst), local (src=1), runtime (src=2)", () => {
    const p = assemble("call 5\ncall %r2\ncallx %r3\ncall local f\ncall runtime 77\nexit\nf: exit");
    expect(raw(p)).toEqual([
      "0000000500000085", "000000000000028d", "000000000000038d", "0000000200001085", "0000004d00002085",
      "0000000000000095", "0000000000000095",
    ]);
  });

  it("resolves labels forward and backward, on their own line or before an insn", () => {
    const p = assemble("mov %r0, 10\nloop: sub %r0, 1\njne %r0, 0, loop\nja done\nmov %r0, 2\ndone:\nexit");
    expect(Array.from(p.off)).toEqual([0, 0, -2, 1, 0, 0]);
  });

  it("counts lddw as two slots when resolving labels", () => {
    expect(assemble("lddw %r0, 0x123456789\nja done\nmov %r1, 1\ndone:\nexit").off[2]).toBe(1);
  });

  it("defines an implicit exit label at the first exit", () => {
    const p = assemble("jeq %r1, 0, exit\nmov %r0, 1\nexit\nmov %r0, 2\nexit");
    expect(p.off[0]).toBe(1);
  });

  it("puts ja32 and call local targets in imm", () => {
    const p = assemble("ja32 L\nmov %r0, 1\nL: call local L\nexit");
    expect([p.imm[0], p.off[0], p.imm[2]]).toEqual([1, 0, -1]);
  });

  it("ignores comments, blank lines and a trailing ';'", () => {
    expect(raw(assemble("# header\n\n  mov %r0, 0 # zero\nexit;"))).toEqual(["00000000000000b7", "0000000000000095"]);
  });

  it("accepts r11..r15 so that structural checks can reject them later", () => {
    expect(assemble("mov %r11, 1").dst[0]).toBe(11);
  });

  it("throws EINVAL with the line number on malformed input", () => {
    expect(asmError("mov %r0, 1\nfoo %r1")).toBe("line 2: unknown mnemonic 'foo'");
    expect(asmError("mov %r16, 1")).toBe("line 1: invalid register '%r16'");
    expect(asmError("add %r1")).toBe("line 1: 'add' takes 2 operands, got 1");
    expect(asmError("mov %r0, 0x100000000")).toBe("line 1: immediate out of 32-bit range: 0x100000000");
    expect(asmError("mov %r0, -2147483649")).toBe("line 1: immediate out of 32-bit range: -2147483649");
    expect(asmError("ja +32768")).toBe("line 1: offset out of 16-bit range: +32768");
    expect(asmError("ldxw %r0, [%r1*4]")).toBe("line 1: invalid memory operand '[%r1*4]'");
    expect(asmError("ja nowhere\nexit")).toBe("line 1: undefined label 'nowhere'");
    expect(asmError("a:\nmov %r0, 1\na:\nexit")).toBe("line 3: duplicate label 'a' (first defined at line 1)");
    expect(asmError("lock nand [%r1], %r2")).toBe("line 1: invalid atomic operation 'nand [%r1] %r2'");
    expect(asmError("movsx3232 %r0, %r1")).toBe("line 1: unknown mnemonic 'movsx3232'");
    expect(asmError("call far 1")).toBe("line 1: invalid call mode 'far'");
  });

  it("throws EINVAL when a label jump does not fit in 16 bits", () => {
    const text = "ja far\n" + "mov %r0, 0\n".repeat(40000) + "far: exit";
    expect(asmError(text)).toBe("line 1: jump to 'far' out of 16-bit range");
  });
});

describe("assembleKernel()", () => {
  it("reads the verifier-log / bpftool syntax, including index and opcode prefixes", () => {
    const k = assembleKernel([
      "   0: (61) r2 = *(u32 *)(r1 +4)", "1: (07) r1 += 14", "(bf) r2 = r1", "w0 = 1", "if r2 > r3 goto pc+5",
      "if w1 < w2 goto pc-3", "r1 = 0x1122334455667788", "r1 = be16 r1", "r1 = bswap64 r1", "r1 = (s8)r2",
      "w1 s/= w2", "r1 s%= 3", "r0 = *(s8 *)(r1 +0)", "*(u16 *)(r10 -2) = 4660", "*(u64 *)(r10 -8) = r1",
      "lock *(u64 *)(r1 +0) += r2", "r0 = atomic64_fetch_add((u64 *)(r1 +0), r0)",
      "r0 = atomic_cmpxchg((u32 *)(r10 -4), r0, r1)", "r1 = atomic64_xchg((u64 *)(r10 -8), r1)",
      "call bpf_map_lookup_elem#1", "call pc+2", "gotol pc-1", "goto pc+0", "r2 = -r2", "exit",
    ].join("\n"));
    const d = assemble([
      "ldxw %r2, [%r1+4]", "add %r1, 14", "mov %r2, %r1", "mov32 %r0, 1", "jgt %r2, %r3, +5", "jlt32 %r1, %r2, -3",
      "lddw %r1, 0x1122334455667788", "be16 %r1", "bswap64 %r1", "movsx864 %r1, %r2", "sdiv32 %r1, %r2",
      "smod %r1, 3", "ldxsb %r0, [%r1]", "sth [%r10-2], 4660", "stxdw [%r10-8], %r1", "lock add [%r1], %r2",
      "lock fetch add [%r1], %r0", "lock cmpxchg32 [%r10-4], %r1", "lock xchg [%r10-8], %r1", "call 1",
      "call local +2", "ja32 -1", "ja +0", "neg %r2", "exit",
    ].join("\n"));
    expect(raw(k)).toEqual(raw(d));
  });

  it("reads llvm-objdump output with byte columns, 'll' constants, labels and <sym> targets", () => {
    const k = assembleKernel([
      "0000000000000000 <prog>:", "       0:\tb7 00 00 00 02 00 00 00\tr0 = 2",
      "       1:\t61 12 04 00 00 00 00 00\tr2 = *(u32 *)(r1 + 4)",
      "      10:\t18 01 00 00 00 00 00 00 00 00 00 00 00 00 00 00\tr1 = 0 ll",
      "       5:\t2d 21 1d 00 00 00 00 00\tif r1 > r2 goto +1 <LBB0_7>", "*(u32 *)(r10 - 4) = w1",
      "w2 = atomic_fetch_add((u32 *)(r1 + 0), w2)", "r0 = cmpxchg_64(r1 + 8, r0, r2)", "callx r3", "0000000000000118 <LBB0_7>:",
      "exit",
    ].join("\n"));
    expect(raw(k)).toEqual(raw(assemble(
      "mov %r0, 2\nldxw %r2, [%r1+4]\nlddw %r1, 0\njgt %r1, %r2, +1\nstxw [%r10-4], %r1\nlock fetch add32 [%r1], %r2\n"
      + "lock cmpxchg [%r1+8], %r2\ncall %r3\nexit",
    )));
  });

  it("skips bpftool source lines, BTF signatures and opcodes rows, and names helpers by symbol", () => {
    const k = assembleKernel([
      "int prog(struct xdp_md * ctx):", "; SEC(\"xdp\") int prog(struct xdp_md *ctx) {", "   0: (b7) r0 = 2",
      "       b7 00 00 00 02 00 00 00", "  31: (85) call bpf_ktime_get_ns#274096", "  41: (85) call pc+2#bpf_prog_715e0f2e5866e0b2_sub",
    ].join("\n"));
    expect(raw(k)).toEqual(["00000002000000b7", "0000000500000085", "0000000200001085"]);
  });

  it("throws EINVAL on map references and unparsable statements", () => {
    expect(() => assembleKernel("(18) r1 = map[id:5]")).toThrow(/line 1: map references need a map fd/);
    expect(() => assembleKernel("r1 = frobnicate(r2)")).toThrow("line 1: cannot parse 'r1 = frobnicate(r2)'");
    expect(() => assembleKernel("r1 += w2")).toThrow("line 1: mixed register widths in 'r1 += w2'");
  });

  it("maps helper names to ids", () => {
    expect([helperIdByName("bpf_map_lookup_elem"), helperIdByName("redirect_map"), helperIdByName("nope")]).toEqual([1, 51, 0]);
  });
});

describe("parseDataFile()", () => {
  it("reads every section kind, dropping comments and the licence header", () => {
    const v = parseDataFile([
      "# Copyright", "-- asm", "mov %r0, 1 # one", "exit", "-- mem", "00 01 ff", "0a0b", "-- result", "0xffffffffffffffff",
      "-- error pattern", "uBPF error: .* at PC 1", "-- no jit", "reason", "-- reload", "-- description", "text",
    ].join("\n"));
    expect(v.sections).toEqual(["asm", "mem", "result", "error pattern", "no jit", "reload", "description"]);
    expect(raw(vectorInsns(v)!)).toEqual(["00000001000000b7", "0000000000000095"]);
    expect(Array.from(v.mem!)).toEqual([0, 1, 255, 10, 11]);
    expect(v.result).toBe(0xffffffffffffffffn);
    expect([v.errorPattern, v.noJit, v.reload, v.unload, v.description]).toEqual(["uBPF error: .* at PC 1", "reason", true, false, "text"]);
  });

  it("prefers -- raw over -- asm and decodes u64 words little-endian", () => {
    const v = parseDataFile("-- asm\nexit\n-- raw\n0x00000002000000b7\n149\n");
    expect(v.raw).toEqual([0x2000000b7n, 149n]);
    expect(raw(vectorInsns(v)!)).toEqual(["00000002000000b7", "0000000000000095"]);
    expect(raw(vectorInsns(v, false)!)).toEqual(["0000000000000095"]);
  });

  it("resolves '@ file' includes, reading .hex files as hexdumps", () => {
    const files: Record<string, string> = { "d/p.asm": "mov %r0, 2\nexit\n", "d/pkt.hex": "0x0000:  0026 622f\n0x0004:  47\n" };
    const v = parseDataFile("-- asm @ p.asm\n-- mem @ pkt.hex\n-- result\n0x2\n", { dir: "d", readFile: (p) => files[p]! });
    expect(raw(vectorInsns(v)!)).toEqual(["00000002000000b7", "0000000000000095"]);
    expect(Array.from(v.mem!)).toEqual([0x00, 0x26, 0x62, 0x2f, 0x47]);
    expect(Array.from(parseHexDump("0x0010:  ab\n\n"))).toEqual([0xab]);
  });

  it("throws EINVAL naming the file and line on bad sections and values", () => {
    expect(() => parseDataFile("-- asm\nexit\n-- bogus\n", { name: "x.data" })).toThrow("x.data:3: unknown section '-- bogus'");
    expect(() => parseDataFile("-- result\n0x1\n-- result\n0x2\n", { name: "x.data" })).toThrow("x.data:3: duplicate section '-- result'");
    expect(() => parseDataFile("-- mem\n0g\n", { name: "x.data" })).toThrow("x.data:1: -- mem: invalid mem byte '0g'");
    expect(() => parseDataFile("-- result\n1 2\n", { name: "x.data" })).toThrow("x.data:1: -- result: expected one value, got 2");
  });

  it("round-trips raw words through rawToInsns/insnsToRaw", () => {
    const words = [0x5566778800001118n, 0n, 0xffffffffffffffffn];
    expect(insnsToRaw(rawToInsns(words))).toEqual(words);
  });
});

if (!existsSync(conformanceRoot)) console.warn(`\n*** SKIP the conformance .data files: ${conformanceRoot} is absent (../shared is not beside this checkout) ***\n`);
describe.skipIf(!existsSync(conformanceRoot))("the conformance .data files", () => {
  const files = existsSync(conformanceRoot) ? findDataFiles(conformanceRoot) : [];

  it("findDataFiles() lists all 417 vectors in sorted order", () => {
    expect(files.length).toBe(417);
    expect([...files].sort()).toEqual(files);
  });

  it("all parse, and every asm section assembles", () => {
    let assembled = 0;
    for (const f of files) {
      const v = readDataFile(f);
      if (v.asm !== undefined) {
        assemble(v.asm);
        assembled++;
      }
      expect(v.asm !== undefined || v.raw !== undefined || v.pyelf !== undefined, f).toBe(true);
    }
    expect(assembled).toBe(384);
  });

  it("asm and raw agree in the vectors that carry both (assembler round-trip files)", () => {
    const both = files.filter((f) => {
      const v = readDataFile(f);
      return v.asm !== undefined && v.raw !== undefined;
    });
    expect(both.map((f) => path.relative(conformanceRoot, f))).toEqual([
      "bpf_conformance/lddw.data", "ubpf/alu.data", "ubpf/alu64.data", "ubpf/jmp.data", "ubpf/ldx.data", "ubpf/st.data",
      "ubpf/stx.data",
    ]);
    for (const f of both) {
      const v = readDataFile(f);
      expect(insnsToRaw(assemble(v.asm!)), f).toEqual(v.raw);
    }
  });

  it("slot counts, mem sizes and results match bpf_conformance's INDEX.tsv (upstream assembler)", () => {
    const rows = readFileSync(path.join(conformanceRoot, "bpf_conformance/INDEX.tsv"), "utf8").trim().split("\n").slice(1);
    expect(rows.length).toBe(313);
    for (const row of rows) {
      const [file, , , slots, memBytes, r0] = row.split("\t");
      const v = readDataFile(path.join(conformanceRoot, "bpf_conformance", file!));
      expect([vectorInsns(v)!.len, v.mem?.length ?? 0, "0x" + v.result!.toString(16)], file).toEqual([Number(slots), Number(memBytes), r0]);
    }
  });
});
