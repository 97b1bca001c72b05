// openObject() on the committed sample programs (scenarios/programs/*.o):
// maps, programs, relocations and subprogram linking as libbpf produces them
// (expected values cross-checked with `bpftool prog loadall` / `map show` /
// `prog dump xlated` on Linux 6.18 with libbpf 1.1), plus the libbpf error
// paths that need a semantically broken (not malformed) object.
import { describe, expect, it } from "vitest";
import { readdirSync } from "node:fs";
import { EINVAL, ENOENT, EOPNOTSUPP } from "../../../../shared/errno.ts";
import { openObject, secDef } from "../../../../shared/bpf/libbpf/object.ts";
import type { BpfObjectSpec, BpfProgSpec } from "../../../../shared/bpf/libbpf/object.ts";
import {
  BPF_F_MMAPABLE, BPF_F_NO_PREALLOC, BPF_F_RDONLY_PROG, BPF_FUNC_fib_lookup, BPF_FUNC_tail_call,
  BPF_FUNC_xdp_adjust_head, BPF_FUNC_xdp_adjust_tail, BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_DEVMAP, BPF_MAP_TYPE_HASH,
  BPF_MAP_TYPE_LRU_HASH, BPF_MAP_TYPE_PROG_ARRAY, BPF_PROG_TYPE_UNSPEC, BPF_PROG_TYPE_XDP, BPF_PSEUDO_CALL,
  BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_VALUE,
} from "../../../../shared/bpf/isa/uapi.ts";
import { insnOff, loadProgram, PROGRAMS_DIR, rels, section, setInsn, setRelSym, symbol } from "../../../fixtures/elf/elf_edit.ts";
import { openErr } from "./libbpf_test_util.ts";

const LD_IMM64 = 0x18;
const CALL = 0x85;

function open(file: string): BpfObjectSpec {
  return openObject(loadProgram(file), { file });
}

function prog(o: BpfObjectSpec, name: string): BpfProgSpec {
  const p = o.progs.find((x) => x.name === name);
  if (!p) throw new Error(`no prog ${name}`);
  return p;
}

function helperCalls(p: BpfProgSpec): number[] {
  const out: number[] = [];
  for (let i = 0; i < p.insns.len; i++) if (p.insns.code[i] === CALL && p.insns.src[i] === 0) out.push(p.insns.imm[i]!);
  return out;
}

/** Renames a section by overwriting its name in the section name table (same length). */
function renameSection(b: Uint8Array, from: string, to: string): void {
  const s = section(b, from);
  const strtab = section(b, ".strtab");
  const nameOff = new DataView(b.buffer).getUint32(s.hdrOff, true);
  for (let i = 0; i < to.length; i++) b[strtab.offset + nameOff + i] = to.charCodeAt(i);
}

const ALL = readdirSync(PROGRAMS_DIR).filter((f) => f.endsWith(".o")).sort();

describe("openObject() on every sample program", () => {
  it("finds the committed objects", () => {
    expect(ALL).toEqual(expect.arrayContaining([
      "xdp1.o", "xdp2.o", "xdp_bad_access.o", "xdp_drop.o", "xdp_fib.o", "xdp_globals.o", "xdp_hash.o",
      "xdp_legacy_maps.o", "xdp_pass.o", "xdp_redirect_map.o", "xdp_tail_call.o",
    ]));
  });

  for (const file of ALL) {
    it(`openObject() links ${file} into XDP programs whose relocations point at the right insns`, () => {
      const o = open(file);
      expect(o.license).toBe("GPL");
      expect(o.progs.length).toBeGreaterThan(0);
      for (const p of o.progs) {
        expect(p.progType).toBe(BPF_PROG_TYPE_XDP);
        expect(p.xdpFrags).toBe(false);
        expect(p.autoload).toBe(true);
        expect(p.subprogs[0]).toEqual({ name: p.name, insnOff: 0 });
        const starts = new Set(p.subprogs.map((s) => s.insnOff));
        for (const r of p.mapRelocs) {
          expect(p.insns.code[r.insnIdx]).toBe(LD_IMM64);
          expect(p.insns.src[r.insnIdx]).toBe(r.kind === "fd" ? BPF_PSEUDO_MAP_FD : BPF_PSEUDO_MAP_VALUE);
          expect(p.insns.imm[r.insnIdx]).toBe(0);
          expect(p.insns.imm[r.insnIdx + 1]).toBe(r.off);
          expect(p.insns.code[r.insnIdx + 1]).toBe(0);
          expect(o.maps[r.mapIdx]).toBeDefined();
          expect(r.kind === "value").toBe(o.maps[r.mapIdx]!.globalSection !== null);
        }
        // Every ld_imm64 that is not a plain constant carries a relocation.
        const relocated = new Set(p.mapRelocs.map((r) => r.insnIdx));
        for (let i = 0; i < p.insns.len; i++) {
          if (p.insns.code[i] === LD_IMM64 && p.insns.src[i] !== 0) expect(relocated.has(i)).toBe(true);
          if (p.insns.code[i] === CALL && p.insns.src[i] === BPF_PSEUDO_CALL) expect(starts.has(i + p.insns.imm[i]! + 1)).toBe(true);
        }
      }
    });
  }
});

describe("openObject() map and program specs", () => {
  it("openObject() reads xdp1's BTF-defined ARRAY map and its single relocation", () => {
    const o = open("xdp1.o");
    expect(o.name).toBe("xdp1");
    expect(o.maps).toHaveLength(1);
    const m = o.maps[0]!;
    expect(m.name).toBe("rxcnt");
    expect(m.attr).toMatchObject({ mapType: BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: 8, maxEntries: 256, mapFlags: 0, name: "rxcnt" });
    expect(m).toMatchObject({ secName: ".maps", globalSection: null, initData: null, pinning: 0, keyTypeName: "__u32", valueTypeName: "__u64" });
    expect(m.attr.btfKeyTypeId).toBeGreaterThan(0);
    const p = prog(o, "xdp_prog1");
    expect(p.secName).toBe("xdp");
    expect(p.mapRelocs).toEqual([{ insnIdx: expect.any(Number), mapIdx: 0, kind: "fd", off: 0 }]);
    expect(p.insns.code[p.insns.len - 1]).toBe(0x95);
  });

  it("openObject() names xdp_globals' data maps like libbpf and fills .rodata/.data", () => {
    const o = open("xdp_globals.o");
    expect(o.maps.map((m) => m.name)).toEqual(["xdp_glob.rodata", "xdp_glob.data", "xdp_glob.bss"]);
    const [ro, data, bss] = o.maps as [typeof o.maps[0], typeof o.maps[0], typeof o.maps[0]];
    expect(ro.attr).toMatchObject({ mapType: BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: 24, maxEntries: 1, mapFlags: BPF_F_RDONLY_PROG | BPF_F_MMAPABLE });
    expect(data.attr).toMatchObject({ valueSize: 16, mapFlags: BPF_F_MMAPABLE });
    expect(bss.attr).toMatchObject({ valueSize: 20, mapFlags: BPF_F_MMAPABLE });
    expect(ro.globalSection).toBe(".rodata");
    // cfg_min_len = 60, cfg_pop_head = 4, cfg_trim_tail = 2, pad, cfg_weight = 3 (u64)
    expect(Array.from(ro.initData!)).toEqual([60, 0, 0, 0, 4, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0]);
    // tx_action = XDP_TX (3), pad, static generation = 7 (u64)
    expect(Array.from(data.initData!)).toEqual([3, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0]);
    expect(bss.initData).toBeNull();
    expect(o.btf?.typeById(ro.attr.btfValueTypeId!)?.name).toBe(".rodata");
  });

  it("openObject() appends the .text subprogram once and points both calls at it", () => {
    const b = loadProgram("xdp_globals.o");
    const mainLen = Number(new DataView(b.buffer).getBigUint64(symbol(b, "xdp_globals").fileOff + 16, true)) / 8;
    const subLen = section(b, ".text").size / 8;
    const p = prog(openObject(b, { file: "xdp_globals.o" }), "xdp_globals");
    expect(p.insns.len).toBe(mainLen + subLen);
    expect(p.subprogs).toEqual([{ name: "xdp_globals", insnOff: 0 }, { name: "account", insnOff: mainLen }]);
    const calls: number[] = [];
    for (let i = 0; i < p.insns.len; i++) if (p.insns.code[i] === CALL && p.insns.src[i] === BPF_PSEUDO_CALL) calls.push(i);
    expect(calls).toHaveLength(2);
    expect(calls.map((i) => i + p.insns.imm[i]! + 1)).toEqual([mainLen, mainLen]);
    expect(helperCalls(p)).toEqual([BPF_FUNC_xdp_adjust_head, BPF_FUNC_xdp_adjust_tail]);
    // The appended copy is the .text code with only its ld_imm64 relocated.
    const text = section(b, ".text");
    for (let i = 0; i < subLen; i++) expect(p.insns.code[mainLen + i]).toBe(b[text.offset + i * 8]);
  });

  it("openObject() resolves global-data relocations to map value offsets (symbol and section-symbol forms)", () => {
    const o = open("xdp_globals.o");
    const p = prog(o, "xdp_globals");
    // As `bpftool prog dump xlated` shows them: .bss +0/+8/+16, .data +0 and +8 (the static `generation`,
    // relocated against the section symbol with the offset in imm), .rodata +0/+4/+8, and +16 from the subprogram.
    const refs = p.mapRelocs.map((r) => `${o.maps[r.mapIdx]!.name}+${r.off}`).sort();
    expect(refs).toEqual([
      "xdp_glob.bss+0", "xdp_glob.bss+16", "xdp_glob.bss+8", "xdp_glob.data+0", "xdp_glob.data+8",
      "xdp_glob.rodata+0", "xdp_glob.rodata+16", "xdp_glob.rodata+4", "xdp_glob.rodata+8",
    ]);
    expect(p.mapRelocs.every((r) => r.kind === "value")).toBe(true);
    const inSub = p.mapRelocs.filter((r) => r.insnIdx >= p.subprogs[1]!.insnOff);
    expect(inSub.map((r) => `${o.maps[r.mapIdx]!.name}+${r.off}`)).toEqual(["xdp_glob.rodata+16"]);
  });

  it("openObject() links a call relocated against the function symbol like one against the section symbol", () => {
    const b = loadProgram("xdp_globals.o");
    const account = symbol(b, "account");
    for (const r of rels(b, ".relxdp").filter((x) => x.type === 10)) {
      setRelSym(b, r, account.idx);
      const at = insnOff(b, "xdp", r.offset / 8);
      setInsn(b, at, CALL, BPF_PSEUDO_CALL << 4, 0, -1); // what clang emits for a global callee
    }
    const ref = prog(open("xdp_globals.o"), "xdp_globals");
    const p = prog(openObject(b, { file: "xdp_globals.o" }), "xdp_globals");
    expect(p.insns.toBytes()).toEqual(ref.insns.toBytes());
    expect(p.subprogs).toEqual(ref.subprogs);
  });

  it("openObject() splits xdp_tail_call's section into three programs and reads the prog-array initialiser", () => {
    const o = open("xdp_tail_call.o");
    expect(o.progs.map((p) => [p.name, p.secName])).toEqual([["xdp_tc_ipv4", "xdp"], ["xdp_tc_ipv6", "xdp"], ["xdp_tc_entry", "xdp"]]);
    expect(o.maps.map((m) => m.name)).toEqual(["jmp_table", "tc_hits"]);
    const jt = o.maps[0]!;
    expect(jt.attr).toMatchObject({ mapType: BPF_MAP_TYPE_PROG_ARRAY, keySize: 4, valueSize: 4, maxEntries: 4 });
    expect(jt.initProgs).toEqual([{ index: 0, progName: "xdp_tc_ipv4" }, { index: 1, progName: "xdp_tc_ipv6" }]);
    expect(jt.valueTypeName).toBeNull();
    const entry = prog(o, "xdp_tc_entry");
    expect(helperCalls(entry)).toContain(BPF_FUNC_tail_call);
    expect(entry.mapRelocs.filter((r) => r.mapIdx === 0)).toHaveLength(1);
    expect(prog(o, "xdp_tc_ipv4").mapRelocs).toEqual([{ insnIdx: expect.any(Number), mapIdx: 1, kind: "fd", off: 0 }]);
  });

  it("openObject() reads legacy struct bpf_map_def maps and the iproute2 'prog' section", () => {
    const o = open("xdp_legacy_maps.o");
    expect(o.maps.map((m) => [m.name, m.secName])).toEqual([["len_hist", "maps"], ["last_len", "maps"]]);
    expect(o.maps[0]!.attr).toMatchObject({ mapType: BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: 8, maxEntries: 4, mapFlags: 0 });
    expect(o.maps[1]!.attr).toMatchObject({ mapType: BPF_MAP_TYPE_HASH, keySize: 4, valueSize: 4, maxEntries: 16, mapFlags: BPF_F_NO_PREALLOC });
    const p = prog(o, "xdp_legacy");
    expect(p.secName).toBe("prog");
    expect(p.mapRelocs.map((r) => r.mapIdx)).toEqual([0, 1]);
  });

  it("openObject() keeps BTF key/value type names of hash maps", () => {
    const o = open("xdp_hash.o");
    expect(o.maps.map((m) => [m.name, m.attr.mapType, m.attr.keySize, m.attr.valueSize, m.keyTypeName, m.valueTypeName])).toEqual([
      ["src_v4", BPF_MAP_TYPE_HASH, 4, 16, "__u32", "struct src_stats"],
      ["flows", BPF_MAP_TYPE_LRU_HASH, 4, 8, "struct flow_key", "__u64"],
    ]);
  });

  it("openObject() truncates the object name like libbpf and opens the devmap", () => {
    const o = open("xdp_redirect_map.o");
    expect(o.name).toBe("xdp_redirect_ma");
    expect(o.maps.map((m) => [m.name, m.attr.mapType, m.attr.valueSize, m.attr.maxEntries])).toEqual([
      ["redir_cnt", BPF_MAP_TYPE_ARRAY, 8, 2], ["tx_port", BPF_MAP_TYPE_DEVMAP, 4, 8],
    ]);
  });

  it("openObject() keeps helper calls such as bpf_fib_lookup untouched", () => {
    expect(helperCalls(prog(open("xdp_fib.o"), "xdp_fib_fwd"))).toContain(BPF_FUNC_fib_lookup);
  });

  it("openObject() maps .BTF.ext line info to linked insns", () => {
    const p = prog(open("xdp_bad_access.o"), "xdp_bad_access");
    const l = p.lineInfo.find((x) => x.line.includes("data[12] == 0x08"))!;
    expect(l).toMatchObject({ insnIdx: 1, fileName: expect.stringMatching(/xdp_bad_access\.c$/), lineNum: 14 });
    const g = prog(open("xdp_globals.o"), "xdp_globals");
    expect(g.lineInfo.some((x) => x.insnIdx >= 48 && x.line.includes("delta * cfg_weight"))).toBe(true);
  });

  it("openObject() derives internal map names from opts.name and sanitises them", () => {
    const b = loadProgram("xdp_globals.o");
    expect(openObject(b, { name: "my-obj" }).maps[0]!.name).toBe("my_obj.rodata");
    expect(openObject(b, { file: "/x/y/ab.c.o" }).maps[2]!.name).toBe("ab.bss");
    expect(openObject(b).maps[1]!.name).toBe("obj.data");
  });

  it("secDef() recognises libbpf's XDP sections and vxo's legacy names", () => {
    expect(secDef("xdp")).toEqual({ progType: BPF_PROG_TYPE_XDP, expectedAttachType: 37, xdpFrags: false });
    expect(secDef("xdp.frags")).toEqual({ progType: BPF_PROG_TYPE_XDP, expectedAttachType: 37, xdpFrags: true });
    expect(secDef("xdp/devmap").expectedAttachType).toBe(38);
    expect(secDef("xdp.frags/cpumap")).toEqual({ progType: BPF_PROG_TYPE_XDP, expectedAttachType: 39, xdpFrags: true });
    expect(secDef("xdp_legacy").progType).toBe(BPF_PROG_TYPE_XDP);
    expect(secDef("prog").progType).toBe(BPF_PROG_TYPE_XDP);
    expect(secDef("foo").progType).toBe(BPF_PROG_TYPE_UNSPEC);
  });
});

describe("openObject() on semantically broken objects", () => {
  it("openObject() accepts an object without a license section (license \"\")", () => {
    // Rename the ELF section and its BTF DATASEC/VAR alike, or the DATASEC fix-up fails as in libbpf.
    const b = loadProgram("xdp_pass.o");
    renameSection(b, "license", "licensx");
    const btf = section(b, ".BTF");
    const text = new TextDecoder("latin1").decode(b.subarray(btf.offset, btf.offset + btf.size));
    // ELF string tables tail-merge "_license" into "license": patch every "license\0" in BTF too.
    for (let i = text.indexOf("license\0"); i >= 0; i = text.indexOf("license\0", i + 1)) b[btf.offset + i + 6] = "x".charCodeAt(0);
    expect(openObject(b).license).toBe("");
  });

  it("openObject() returns ENOENT when .maps exists but .BTF does not", () => {
    const b = loadProgram("xdp1.o");
    renameSection(b, ".BTF", ".BTX");
    const e = openErr(b, "xdp1.o");
    expect(e.errno).toBe(ENOENT);
    expect(e.message).toMatch(/BTF is required, but is missing or corrupted/);
  });

  it("openObject() returns ENOENT when a DATASEC has no ELF section, as libbpf's fix-up does", () => {
    const b = loadProgram("xdp_pass.o");
    renameSection(b, "license", "licensx");
    const e = openErr(b, "xdp_pass.o");
    expect(e.errno).toBe(ENOENT);
    expect(e.message).toBe("Cannot open BPF object: sec 'license': failed to determine size from ELF: size 0");
  });

  it("openObject() returns EINVAL when .BTF is corrupted and .maps needs it", () => {
    const b = loadProgram("xdp1.o");
    b[section(b, ".BTF").offset] = 0;
    const e = openErr(b, "xdp1.o");
    expect(e.errno).toBe(EINVAL);
    expect(e.message).toMatch(/Error loading ELF section \.BTF: Invalid BTF magic: 0xeb00/);
  });

  it("openObject() ignores a corrupted .BTF when nothing needs it", () => {
    const b = loadProgram("xdp_pass.o");
    b[section(b, ".BTF").offset] = 0;
    const o = openObject(b);
    expect(o.btf).toBeNull();
    expect(o.progs[0]!.lineInfo).toEqual([]);
  });

  it("openObject() returns EOPNOTSUPP for an unknown BTF map field", () => {
    const b = loadProgram("xdp1.o");
    const btf = section(b, ".BTF");
    const text = new TextDecoder("latin1").decode(b.subarray(btf.offset, btf.offset + btf.size));
    const at = btf.offset + text.indexOf("\0max_entries\0") + 11;
    b[at] = "z".charCodeAt(0);
    const e = openErr(b, "xdp1.o");
    expect(e.errno).toBe(EOPNOTSUPP);
    expect(e.message).toBe("Cannot open BPF object: map 'rxcnt': unknown field 'max_entriez'.");
  });

  it("openObject() returns EOPNOTSUPP for a static entry program", () => {
    const b = loadProgram("xdp1.o");
    const s = symbol(b, "xdp_prog1");
    b[s.fileOff + 4] = (0 << 4) | 2; // STB_LOCAL, STT_FUNC
    const e = openErr(b, "xdp1.o");
    expect(e.errno).toBe(EOPNOTSUPP);
    expect(e.message).toMatch(/sec 'xdp': program 'xdp_prog1' is static and not supported/);
  });

  it("openObject() returns EINVAL when a prog-array slot names something that is not a program", () => {
    const b = loadProgram("xdp_tail_call.o");
    setRelSym(b, rels(b, ".rel.maps")[1]!, symbol(b, "tc_hits").idx);
    const e = openErr(b, "xdp_tail_call.o");
    expect(e.errno).toBe(EINVAL);
    expect(e.message).toMatch(/\.maps relo #1: 'tc_hits' isn't a valid program reference: relocation #1 in section \d+ \(\.rel\.maps\)/);
  });

  it("openObject() returns EINVAL when a prog-array relocation lands outside every map", () => {
    const b = loadProgram("xdp_tail_call.o");
    const r = rels(b, ".rel.maps")[0]!;
    new DataView(b.buffer).setBigUint64(r.fileOff, 0x1000n, true);
    const e = openErr(b, "xdp_tail_call.o");
    expect(e.errno).toBe(EINVAL);
    expect(e.message).toMatch(/\.maps relo #0: cannot find map 'xdp_tc_ipv4' at rel->r_offset 4096/);
  });

  it("openObject() returns EINVAL when a call lands inside a subprogram instead of at its start", () => {
    const b = loadProgram("xdp_globals.o");
    const r = rels(b, ".relxdp").find((x) => x.type === 10)!;
    setInsn(b, insnOff(b, "xdp", r.offset / 8), CALL, BPF_PSEUDO_CALL << 4, 0, 1); // .text insn 2
    const e = openErr(b, "xdp_globals.o");
    expect(e.errno).toBe(EINVAL);
    expect(e.message).toMatch(/targets \.text insn 2, inside subprogram 'account' \(which starts at 0\)/);
  });

  it("openObject() returns EINVAL for a legacy maps section that does not divide into definitions", () => {
    const b = loadProgram("xdp_legacy_maps.o");
    const maps = section(b, "maps");
    new DataView(b.buffer).setBigUint64(maps.hdrOff + 32, BigInt(maps.size - 3), true);
    const e = openErr(b, "xdp_legacy_maps.o");
    expect(e.errno).toBe(EINVAL);
    expect(e.message).toMatch(/unable to determine legacy map definition size in xdp_legacy_maps\.o/);
  });

  it("openObject() returns EINVAL for a legacy map definition with unknown non-zero fields", () => {
    // Shrink to one map symbol so the definition becomes 40 bytes; the second map's type is then an unknown field.
    const b = loadProgram("xdp_legacy_maps.o");
    const last = symbol(b, "last_len");
    new DataView(b.buffer).setUint16(last.fileOff + 6, section(b, "license").idx, true);
    const e = openErr(b, "xdp_legacy_maps.o");
    expect(e.errno).toBe(EINVAL);
    expect(e.message).toMatch(/maps section in xdp_legacy_maps\.o: "len_hist" has unrecognized, non-zero options/);
  });
});
