// check_btf_line() (kernel/bpf/verifier.c) on BPF_PROG_LOAD's line_info and
// the BTF checks of BPF_MAP_CREATE (map_check_btf): xdp1.o's own line info
// loads and prints "; ... @ file:N" notes, and each malformed variant gets
// the kernel's errno and message (the texts of check_btf_line()). The notes'
// places against the running kernel's log are judged in
// test/differential/kernel_verifier_linfo.test.ts.
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import path from "node:path";
import { openObject, type BpfObjectSpec } from "../../../../shared/bpf/libbpf/object.ts";
import { BPF_LINE_INFO_REC_SIZE, encodeLineInfo, loadObject } from "../../../../shared/bpf/libbpf/libbpf.ts";
import { BpfKernel, type BtfObject, type ProgLoadAttr } from "../../../../shared/bpf/syscall.ts";
import { E2BIG, EBADF, EINVAL } from "../../../../shared/errno.ts";
import { BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_HASH } from "../../../../shared/bpf/isa/uapi.ts";
import { PROGRAMS_DIR } from "../../../helpers/repo.ts";

const file = path.join(PROGRAMS_DIR, "xdp1.o");
const spec: BpfObjectSpec = openObject(readFileSync(file), { file });
const ps = spec.progs[0]!;

/** xdp1's map and program attributes in a fresh kernel, with its BTF loaded. */
function setup(): { k: BpfKernel; btf: BtfObject; attr: ProgLoadAttr } {
  const k = new BpfKernel();
  const btf = k.btfLoad(spec.btf!.rawData()) as BtfObject;
  const m = k.mapCreate({ ...spec.maps[0]!.attr, btfFd: btf.id });
  if (typeof m === "number") throw new Error(`map: ${m}`);
  const insns = ps.insns.clone();
  for (const r of ps.mapRelocs) insns.imm[r.insnIdx] = m.id;
  const attr: ProgLoadAttr = {
    progType: ps.progType, insns, license: spec.license, name: ps.name, logLevel: 1,
    progBtfFd: btf.id, lineInfo: encodeLineInfo(ps.lineInfo), lineInfoRecSize: BPF_LINE_INFO_REC_SIZE, lineInfoCnt: ps.lineInfo.length,
  };
  return { k, btf, attr };
}

/** The records with record `i`'s u32 field `f` (0 insn_off, 1 file_name_off, 2 line_off, 3 line_col) set to `v`. */
function withField(recs: Uint8Array, i: number, f: number, v: number): Uint8Array {
  const out = recs.slice();
  new DataView(out.buffer).setUint32(i * 16 + f * 4, v, true);
  return out;
}

describe("BPF_PROG_LOAD line_info (check_btf_line)", () => {
  it("xdp1.o's line info loads; a rejection's level-1 log carries the source lines", () => {
    expect(ps.lineInfo.length).toBeGreaterThan(5);
    const { k, attr } = setup();
    const ok = k.progLoad(attr);
    expect(ok.errno).toBe(0);
    expect(k.progBtf.get(ok.prog!.id)?.id).toBe(attr.progBtfFd);
    const lvl2 = setup();
    lvl2.k.progLoad({ ...lvl2.attr, logLevel: 2 });
    expect(lvl2.k.lastVerifierLog).toContain("; int xdp_prog1(struct xdp_md *ctx) @ xdp1.c:18");
    // without line info, no notes
    const none = setup();
    none.k.progLoad({ ...none.attr, logLevel: 2, lineInfoCnt: 0 });
    expect(none.k.lastVerifierLog.filter((l) => l.startsWith("; "))).toEqual([]);
  });

  const cases: Array<{ what: string; patch: (a: ProgLoadAttr) => ProgLoadAttr; errno: number; line: string | null }> = [
    {
      what: "insn_off not increasing", errno: EINVAL,
      patch: (a) => ({ ...a, lineInfo: withField(a.lineInfo!, 2, 0, 1) }),
      line: `Invalid line_info[2].insn_off:1 (prev_offset:${ps.lineInfo[1]!.insnIdx} prog->len:${ps.insns.len})`,
    },
    {
      what: "insn_off past the program", errno: EINVAL,
      patch: (a) => ({ ...a, lineInfo: withField(a.lineInfo!, 0, 0, 5000) }),
      line: `Invalid line_info[0].insn_off:5000 (prev_offset:0 prog->len:${ps.insns.len})`,
    },
    {
      what: "no record at the first insn", errno: EINVAL,
      patch: (a) => ({ ...a, lineInfo: a.lineInfo!.slice(16), lineInfoCnt: a.lineInfoCnt! - 1 }),
      line: "missing bpf_line_info for func#0",
    },
    {
      what: "a line_off past the string section", errno: EINVAL,
      patch: (a) => ({ ...a, lineInfo: withField(a.lineInfo!, 3, 2, 0x7fffff) }),
      line: "Invalid line_info[3].line_off or .file_name_off",
    },
    {
      what: "a file_name_off past the string section", errno: EINVAL,
      patch: (a) => ({ ...a, lineInfo: withField(a.lineInfo!, 1, 1, 0x7fffff) }),
      line: "Invalid line_info[1].line_off or .file_name_off",
    },
    {
      what: "a record at the second half of an ld_imm64", errno: EINVAL,
      patch: (a) => {
        const ld = ps.mapRelocs[0]!.insnIdx + 1;
        const recs = ps.lineInfo.filter((r) => r.insnIdx < ld).map((r) => r);
        return { ...a, lineInfo: encodeLineInfo([...recs, { ...recs[recs.length - 1]!, insnIdx: ld }]), lineInfoCnt: recs.length + 1 };
      },
      line: `Invalid insn code at line_info[${ps.lineInfo.filter((r) => r.insnIdx <= ps.mapRelocs[0]!.insnIdx).length}].insn_off`,
    },
    { what: "a record size below struct bpf_line_info", errno: EINVAL, patch: (a) => ({ ...a, lineInfoRecSize: 12 }), line: null },
    { what: "a record size not a multiple of 4", errno: EINVAL, patch: (a) => ({ ...a, lineInfoRecSize: 18 }), line: null },
    {
      what: "a larger record with a nonzero tail", errno: E2BIG,
      patch: (a) => {
        const n = a.lineInfoCnt!, big = new Uint8Array(n * 20);
        for (let i = 0; i < n; i++) big.set(a.lineInfo!.subarray(i * 16, i * 16 + 16), i * 20);
        big[20 * 2 + 17] = 1;
        return { ...a, lineInfo: big, lineInfoRecSize: 20 };
      },
      line: "nonzero tailing record in line_infoprocessed 0 insns",
    },
  ];
  for (const c of cases) {
    it(`${c.what}: ${c.line ?? "errno only"}`, () => {
      const { k, attr } = setup();
      const r = k.progLoad(c.patch(attr));
      expect(r.errno).toBe(c.errno);
      if (c.line !== null) expect(k.lastVerifierLog.find((l) => l.startsWith(c.line!)), k.lastVerifierLog.join("\n")).toBeDefined();
    });
  }

  it("a zero-padded larger record is accepted; line info without a BTF object is EBADF", () => {
    const { k, attr } = setup();
    const n = attr.lineInfoCnt!, big = new Uint8Array(n * 24);
    for (let i = 0; i < n; i++) big.set(attr.lineInfo!.subarray(i * 16, i * 16 + 16), i * 24);
    expect(k.progLoad({ ...attr, lineInfo: big, lineInfoRecSize: 24 }).errno).toBe(0);
    expect(k.progLoad({ ...attr, progBtfFd: 999 }).errno).toBe(EBADF);
  });
});

describe("BPF_MAP_CREATE with BTF (map_check_btf) and BTF object lifetime", () => {
  const b = spec.btf!;
  const u32 = b.findByName("__u32"), u64 = b.findByName("__u64");
  it("key and value types must give the map's sizes; keyless only for a DATASEC array of one element", () => {
    const k = new BpfKernel();
    const btf = k.btfLoad(b.rawData()) as BtfObject;
    const base = { mapType: BPF_MAP_TYPE_HASH, keySize: 4, valueSize: 8, maxEntries: 4, mapFlags: 0, name: "m", btfFd: btf.id };
    expect(typeof k.mapCreate({ ...base, btfKeyTypeId: u32, btfValueTypeId: u64 })).toBe("object");
    expect(k.mapCreate({ ...base, btfKeyTypeId: u64, btfValueTypeId: u64 })).toBe(-EINVAL);
    expect(k.mapCreate({ ...base, btfKeyTypeId: u32, btfValueTypeId: u32 })).toBe(-EINVAL);
    expect(k.mapCreate({ ...base, btfValueTypeId: u64 })).toBe(-EINVAL);
    expect(k.mapCreate({ ...base, mapType: BPF_MAP_TYPE_ARRAY, keySize: 8, btfKeyTypeId: u64, btfValueTypeId: u64 })).toBe(-EINVAL);
    expect(k.mapCreate({ ...base, btfFd: 77, btfKeyTypeId: u32, btfValueTypeId: u64 })).toBe(-EBADF);
    expect(k.btfLoad(new Uint8Array([1, 2, 3]))).toBe(-EINVAL);
  });

  it("the object's BTF lives while a map or program uses it (loadObject closes its own reference)", () => {
    const k = new BpfKernel();
    const o = loadObject(k, spec);
    const map = o.maps.get("rxcnt")!;
    const info = k.mapBtf.get(map.id)!;
    expect([info.keyTypeId, info.valueTypeId]).toEqual([u32, u64]);
    expect(k.progBtf.get(o.progList[0]!.id)).toBe(info.btf);
    expect(info.btf.refcnt).toBe(2);
    k.progFree(o.progList[0]!.id);
    expect(k.btfs.has(info.btf.id)).toBe(true);
    k.mapFree(map.id);
    expect(k.btfs.size).toBe(0);
  });
});
