// Broken-object tests for the ELF layer of openObject() (shared/bpf/libbpf/elf.ts):
// every malformed header, section, symbol or relocation must be a
// KernelError(EINVAL) whose message names the field, section or relocation.
import { describe, expect, it } from "vitest";
import { readdirSync } from "node:fs";
import { EINVAL, ENOENT, KernelError } from "../../../../shared/errno.ts";
import { parseElf, readRels, relSymbol, sectionByName } from "../../../../shared/bpf/libbpf/elf.ts";
import { openObject } from "../../../../shared/bpf/libbpf/object.ts";
import { mulberry32 } from "../../../helpers/prng.ts";
import {
  insnOff, loadProgram, PROGRAMS_DIR, rels, section, sections, setInsn, setRelOffset, setRelSym,
  setShdrU32, setShdrU64, symbol, symbols,
} from "../../../fixtures/elf/elf_edit.ts";
import { openErr } from "./libbpf_test_util.ts";

function expectEinval(b: Uint8Array, pattern: RegExp, file = "xdp1.o"): KernelError {
  const e = openErr(b, file);
  expect(e.errno).toBe(EINVAL);
  expect(e.code).toBe("EINVAL");
  expect(e.message).toMatch(/^Cannot open BPF object: /);
  expect(e.message).toMatch(pattern);
  return e;
}

describe("parseElf()", () => {
  it("parseElf() reads sections, symbols and relocations of a good object", () => {
    const elf = parseElf(loadProgram("xdp1.o"), "xdp1.o");
    const xdp = sectionByName(elf, "xdp")!;
    expect(xdp.flags & 4).toBe(4);
    expect(xdp.data.length).toBe(xdp.size);
    expect(elf.symbols.find((s) => s.name === "xdp_prog1")?.shndx).toBe(xdp.idx);
    const relxdp = sectionByName(elf, ".relxdp")!;
    const r = readRels(elf, relxdp);
    expect(r.length).toBe(1);
    expect(relSymbol(elf, relxdp, r[0]!).name).toBe("rxcnt");
  });

  it("parseElf() accepts e_machine EM_NONE as old LLVM emitted it", () => {
    const b = loadProgram("xdp1.o");
    new DataView(b.buffer).setUint16(18, 0, true);
    expect(() => parseElf(b)).not.toThrow();
  });
});

describe("openObject() on malformed ELF headers", () => {
  it("openObject() returns EINVAL for a file truncated at any of several cut points", () => {
    const good = loadProgram("xdp1.o");
    const shoff = Number(new DataView(good.buffer).getBigUint64(40, true));
    const cuts = [0, 3, 4, 15, 16, 40, 63, 64, 200, shoff, shoff + 64, shoff + 64 * 5 + 7, good.length - 1];
    for (const cut of cuts) {
      const e = expectEinval(good.slice(0, cut), /truncated|not a proper ELF|past the end of the file/);
      expect(e.message).toMatch(cut < 64 ? /(truncated|not a proper ELF)/ : /past the end of the file \(\d+ bytes\)/);
    }
  });

  it("openObject() returns EINVAL when a cut removes only section data", () => {
    // Move the section header table to the front so a cut hits section bytes.
    const good = loadProgram("xdp1.o");
    const shoff = Number(new DataView(good.buffer).getBigUint64(40, true));
    const shnum = new DataView(good.buffer).getUint16(60, true);
    const b = new Uint8Array(good.length + shnum * 64);
    b.set(good.subarray(0, 64));
    b.set(good.subarray(shoff, shoff + shnum * 64), 64);
    b.set(good.subarray(64), 64 + shnum * 64);
    const d = new DataView(b.buffer);
    d.setBigUint64(40, 64n, true);
    for (let i = 1; i < shnum; i++) {
      const h = 64 + i * 64;
      d.setBigUint64(h + 24, d.getBigUint64(h + 24, true) + BigInt(shnum * 64), true);
    }
    expect(() => openObject(b)).not.toThrow();
    const btf = section(b, ".BTF");
    const cut = btf.offset + 10;
    const e = expectEinval(b.slice(0, cut), /section \d+ \([^)]+\) offset 0x[0-9a-f]+ size 0x[0-9a-f]+ is past the end of the file/);
    expect(e.message).toContain(`past the end of the file (${cut} bytes)`);
  });

  it("openObject() returns EINVAL for a wrong e_machine", () => {
    const b = loadProgram("xdp1.o");
    new DataView(b.buffer).setUint16(18, 62, true); // EM_X86_64
    expectEinval(b, /xdp1\.o is not a valid eBPF object file .*e_machine 62/);
  });

  it("openObject() returns EINVAL for a wrong e_type", () => {
    const b = loadProgram("xdp1.o");
    new DataView(b.buffer).setUint16(16, 2, true); // ET_EXEC
    expectEinval(b, /not a valid eBPF object file \(e_type 2/);
  });

  it("openObject() returns EINVAL for ELFCLASS32", () => {
    const b = loadProgram("xdp1.o");
    b[4] = 1;
    expectEinval(b, /is not a 64-bit ELF object/);
  });

  it("openObject() returns EINVAL for big-endian objects", () => {
    const b = loadProgram("xdp1.o");
    b[5] = 2;
    expectEinval(b, /endianness mismatch in xdp1\.o/);
  });

  it("openObject() returns EINVAL for bad magic and bad versions", () => {
    const b = loadProgram("xdp1.o");
    b[1] = 0x46;
    expectEinval(b, /not a proper ELF object/);
    const c = loadProgram("xdp1.o");
    c[6] = 2;
    expectEinval(c, /EI_VERSION 2/);
    const d = loadProgram("xdp1.o");
    new DataView(d.buffer).setUint32(20, 9, true);
    expectEinval(d, /e_version 9/);
  });

  it("openObject() returns EINVAL for a bad e_shentsize", () => {
    const b = loadProgram("xdp1.o");
    new DataView(b.buffer).setUint16(58, 40, true);
    expectEinval(b, /e_shentsize 40/);
  });

  it("openObject() returns EINVAL for an out-of-range e_shstrndx", () => {
    const b = loadProgram("xdp1.o");
    new DataView(b.buffer).setUint16(62, 200, true);
    expectEinval(b, /e_shstrndx 200 is out of range \(\d+ sections\)/);
  });

  it("openObject() returns EINVAL when e_shstrndx names a section that is not a string table", () => {
    const b = loadProgram("xdp1.o");
    const xdp = section(b, "xdp");
    new DataView(b.buffer).setUint16(62, xdp.idx, true);
    expectEinval(b, new RegExp(`e_shstrndx ${xdp.idx} names a section of type 1, not SHT_STRTAB`));
  });

  it("openObject() returns EINVAL for a section name outside the name table", () => {
    const b = loadProgram("xdp1.o");
    setShdrU32(b, section(b, "license"), "name", 0xffff);
    expectEinval(b, /section \d+ name offset 0xffff is outside the section name table/);
  });
});

describe("openObject() on malformed sections", () => {
  it("openObject() returns EINVAL naming a section whose offset is past the end", () => {
    const b = loadProgram("xdp1.o");
    const rel = section(b, ".relxdp");
    setShdrU64(b, rel, "offset", b.length - 8);
    const e = expectEinval(b, /section/);
    expect(e.message).toBe(
      `Cannot open BPF object: section ${rel.idx} (.relxdp) offset 0x${(b.length - 8).toString(16)} size 0x${rel.size.toString(16)} is past the end of the file (${b.length} bytes)`,
    );
  });

  it("openObject() returns EINVAL naming a section whose size is past the end", () => {
    const b = loadProgram("xdp1.o");
    const xdp = section(b, "xdp");
    setShdrU64(b, xdp, "size", 2 ** 40);
    expectEinval(b, new RegExp(`section ${xdp.idx} \\(xdp\\) offset 0x${xdp.offset.toString(16)} size 0x10000000000 is past the end`));
  });

  it("openObject() returns EINVAL for a symbol table with a bad entry size", () => {
    const b = loadProgram("xdp1.o");
    setShdrU64(b, section(b, ".symtab"), "entsize", 16);
    expectEinval(b, /\(\.symtab\): symbol table entsize 16/);
  });

  it("openObject() returns EINVAL when the symbol string table is missing", () => {
    const b = loadProgram("xdp1.o");
    setShdrU32(b, section(b, ".symtab"), "link", 99);
    expectEinval(b, /symbol strings section missing or invalid in xdp1\.o .*sh_link 99/);
  });

  it("openObject() returns ENOENT without a symbol table", () => {
    const b = loadProgram("xdp1.o");
    setShdrU32(b, section(b, ".symtab"), "type", 0x70000000);
    const e = openErr(b);
    expect(e.errno).toBe(ENOENT);
    expect(e.message).toMatch(/couldn't find symbol table in xdp1\.o, stripped object file\?/);
  });

  it("openObject() returns EINVAL for two symbol tables", () => {
    const b = loadProgram("xdp1.o");
    setShdrU32(b, section(b, ".llvm_addrsig"), "type", 2);
    expectEinval(b, /multiple symbol tables in xdp1\.o/);
  });

  it("openObject() returns EINVAL for a symbol name outside the string table", () => {
    const b = loadProgram("xdp1.o");
    new DataView(b.buffer).setUint32(symbol(b, "rxcnt").fileOff, 0x7fff0000, true);
    expectEinval(b, /symbol #\d+ name offset 0x7fff0000 is outside the string table/);
  });

  it("openObject() returns EINVAL for a relocation section with a bad entry size", () => {
    const b = loadProgram("xdp1.o");
    setShdrU64(b, section(b, ".relxdp"), "entsize", 24);
    expectEinval(b, /\(\.relxdp\): bad relocation section \(sh_entsize 24/);
  });

  it("openObject() returns EINVAL when a relocation section targets a missing section", () => {
    const b = loadProgram("xdp1.o");
    setShdrU32(b, section(b, ".relxdp"), "info", 99);
    expectEinval(b, /\(\.relxdp\): bad relocation section \(sh_entsize 16, sh_info 99/);
  });

  it("openObject() returns EINVAL when a program crosses its section boundary", () => {
    const b = loadProgram("xdp1.o");
    const sym = symbol(b, "xdp_prog1");
    new DataView(b.buffer).setBigUint64(sym.fileOff + 16, 0x10000n, true);
    expectEinval(b, /sec 'xdp': program at offset 0 crosses section boundary \(symbol #\d+ 'xdp_prog1'/);
  });

  it("openObject() returns EINVAL for a program whose size is not a whole number of insns", () => {
    const b = loadProgram("xdp1.o");
    const sym = symbol(b, "xdp_prog1");
    new DataView(b.buffer).setBigUint64(sym.fileOff + 16, 12n, true);
    expectEinval(b, /sec 'xdp': corrupted program 'xdp_prog1', offset 0, size 12/);
  });
});

describe("openObject() on malformed relocations", () => {
  it("openObject() returns EINVAL for a relocation offset past its section", () => {
    const b = loadProgram("xdp1.o");
    setRelOffset(b, rels(b, ".relxdp")[0]!, 0x100000);
    expectEinval(b, /sec '\.relxdp': invalid offset 0x100000 for relo #0: relocation #0 in section \d+ \(\.relxdp\) at offset 0x100000 \(symbol #\d+ 'rxcnt'\)/);
  });

  it("openObject() returns EINVAL for a misaligned relocation offset", () => {
    const b = loadProgram("xdp1.o");
    const r = rels(b, ".relxdp")[0]!;
    setRelOffset(b, r, r.offset + 3);
    expectEinval(b, /invalid offset 0x[0-9a-f]+ for relo #0/);
  });

  it("openObject() returns EINVAL for a relocation symbol index out of range", () => {
    const b = loadProgram("xdp1.o");
    setRelSym(b, rels(b, ".relxdp")[0]!, 9999);
    expectEinval(b, /relocation #0 in section \d+ \(\.relxdp\) at offset 0x[0-9a-f]+: symbol #9999 not found \(\d+ symbols\)/);
  });

  it("openObject() returns EINVAL for a relocation symbol in a section that does not exist", () => {
    const b = loadProgram("xdp1.o");
    new DataView(b.buffer).setUint16(symbol(b, "rxcnt").fileOff + 6, 99, true);
    expectEinval(b, /relocation #0 in section \d+ \(\.relxdp\).*corrupted symbol #\d+ 'rxcnt' pointing to invalid section #99/);
  });

  it("openObject() returns EINVAL for a relocation on an insn that is not ld_imm64 or call", () => {
    const b = loadProgram("xdp1.o");
    setRelOffset(b, rels(b, ".relxdp")[0]!, 0);
    const code = b[insnOff(b, "xdp", 0)]!;
    expect(code === 0x18 || code === 0x85).toBe(false);
    expectEinval(b, new RegExp(`relocation #0 .*'rxcnt'\\): prog 'xdp_prog1': invalid relo against 'rxcnt' for insns\\[0\\]\\.code 0x${code.toString(16)}$`));
  });

  it("openObject() returns EINVAL for a map relocation against a non-map data section", () => {
    const b = loadProgram("xdp1.o");
    const lic = symbol(b, "_license");
    setRelSym(b, rels(b, ".relxdp")[0]!, lic.idx);
    expectEinval(b, /prog 'xdp_prog1': bad map relo against '_license' in section 'license'/);
  });

  it("openObject() returns EINVAL for a map relocation that matches no map", () => {
    // Re-home a local label symbol into .maps at an offset where no map starts.
    const b = loadProgram("xdp1.o");
    const label = symbols(b).find((s) => s.name.startsWith("LBB"))!;
    const d = new DataView(b.buffer);
    d.setUint16(label.fileOff + 6, section(b, ".maps").idx, true);
    d.setBigUint64(label.fileOff + 8, 8n, true);
    setRelSym(b, rels(b, ".relxdp")[0]!, label.idx);
    expectEinval(b, new RegExp(`\\(symbol #${label.idx} '${label.name}'\\): prog 'xdp_prog1': map relo failed to find map for section '\\.maps', off 8`));
  });

  it("openObject() returns EINVAL for a relocation against an undefined, non-extern symbol", () => {
    const b = loadProgram("xdp1.o");
    setRelSym(b, rels(b, ".relxdp")[0]!, 0);
    expectEinval(b, /invalid relo against '' in special section 0x0; forgot to initialize global var\?\.\./);
  });

  it("openObject() returns EINVAL for a call relocation against a non-.text symbol", () => {
    const b = loadProgram("xdp_globals.o");
    const call = rels(b, ".relxdp").find((r) => r.type === 10)!;
    setRelSym(b, call, symbol(b, "xdp_globals").idx);
    expectEinval(b, /prog 'xdp_globals': bad call relo against 'xdp_globals' in section 'xdp'/, "xdp_globals.o");
  });

  it("openObject() returns EINVAL for a call relocation on a helper call", () => {
    const b = loadProgram("xdp_globals.o");
    const call = rels(b, ".relxdp").find((r) => r.type === 10)!;
    const at = insnOff(b, "xdp", call.offset / 8);
    setInsn(b, at, 0x85, 0x00, 0, 1);
    expectEinval(b, /prog 'xdp_globals': incorrect bpf_call opcode \(src_reg 0\)/, "xdp_globals.o");
  });

  it("openObject() returns EINVAL for an ld_imm64 relocation on the last insn of a section", () => {
    const b = loadProgram("xdp1.o");
    const xdp = section(b, "xdp");
    const last = xdp.size - 8;
    setInsn(b, xdp.offset + last, 0x18, 0x01, 0, 0);
    setRelOffset(b, rels(b, ".relxdp")[0]!, last);
    expectEinval(b, /ld_imm64 at insns\[\d+\] has no second half/);
  });
});

describe("openObject() fuzzing", () => {
  const objects = readdirSync(PROGRAMS_DIR).filter((f) => f.endsWith(".o")).sort().map((f) => ({ f, b: loadProgram(f) }));

  /** Byte ranges worth mutating: headers, symbols, relocations, BTF, code, maps. */
  function regions(b: Uint8Array): Array<[number, number]> {
    const d = new DataView(b.buffer);
    const shoff = Number(d.getBigUint64(40, true));
    const out: Array<[number, number]> = [[0, 64], [shoff, b.length - shoff]];
    for (const s of sections(b)) {
      if (s.type === 8 || s.size === 0 || s.name.startsWith(".debug") || s.name.startsWith(".rel.debug")) continue;
      out.push([s.offset, s.size]);
    }
    return out;
  }

  it("openObject() only ever throws KernelError on 2000 random mutations of good objects", () => {
    const rnd = mulberry32(0x5eed_0b1);
    const special = [0, 1, 0x7f, 0x80, 0xff];
    let accepted = 0;
    let rejected = 0;
    for (let iter = 0; iter < 2000; iter++) {
      const { b: good } = objects[iter % objects.length]!;
      let b = good.slice();
      const mode = Math.floor(rnd() * 5);
      if (mode === 0) {
        b = b.slice(0, Math.floor(rnd() * b.length));
      } else {
        const rs = regions(good);
        const flips = 1 + Math.floor(rnd() * 4);
        for (let k = 0; k < flips; k++) {
          const [start, len] = rs[Math.floor(rnd() * rs.length)]!;
          const at = start + Math.floor(rnd() * len);
          if (at >= b.length) continue;
          b[at] = mode === 1 ? special[Math.floor(rnd() * special.length)]! : mode === 2 ? b[at]! ^ (1 << Math.floor(rnd() * 8)) : Math.floor(rnd() * 256);
        }
      }
      try {
        openObject(b, { file: "fuzz.o" });
        accepted++;
      } catch (e) {
        if (!(e instanceof KernelError)) throw new Error(`iteration ${iter}: ${String(e)}`, { cause: e });
        expect(e.message.startsWith("Cannot open BPF object: ")).toBe(true);
        rejected++;
      }
    }
    // Both outcomes must occur, or the mutations are not reaching the parser.
    expect(accepted).toBeGreaterThan(50);
    expect(rejected).toBeGreaterThan(200);
  });

  it("openObject() only ever throws KernelError when symbols and relocations point anywhere", () => {
    const rnd = mulberry32(42);
    for (let iter = 0; iter < 300; iter++) {
      const { b: good } = objects[iter % objects.length]!;
      const b = good.slice();
      const d = new DataView(b.buffer);
      const syms = symbols(b);
      const s = syms[Math.floor(rnd() * syms.length)]!;
      const pick = Math.floor(rnd() * 3);
      if (pick === 0) d.setUint16(s.fileOff + 6, Math.floor(rnd() * 40), true);
      else if (pick === 1) d.setBigUint64(s.fileOff + 8, BigInt(Math.floor(rnd() * 64) * 8), true);
      else b[s.fileOff + 4] = Math.floor(rnd() * 256);
      try {
        openObject(b);
      } catch (e) {
        if (!(e instanceof KernelError)) throw new Error(`iteration ${iter}: ${String(e)}`, { cause: e });
      }
    }
  });
});
