// Direct packet access cases: ranges from every comparison form between a
// packet pointer and data_end (or data_meta and data), either operand order,
// JMP and JMP32, each once in range and once off by one; pkt_end arithmetic;
// invalidation by the helpers that change packet data (kernel/bpf/verifier.c
// try_match_pkt_pointers, find_good_pkt_pointers, clear_all_pkt_pointers).
import { EACCES } from "../../../../../shared/errno.ts";
import { PKT_ETH_ONLY, type VerifierCase } from "./case.ts";

const LOAD = "r2 = *(u32 *)(r1 +0)\nr3 = *(u32 *)(r1 +4)";

/**
 * The comparison forms: each jumps to `out` (r0 = 1) when the 14 bytes after
 * the first pointer are missing, else falls into the access; or jumps to `ok`
 * when they are there. `a` is the advanced pointer (r4 = r2 + 14), `b` the end.
 */
const FORMS: ReadonlyArray<{ id: string; test: (a: string, b: string) => string; takenIsGood: boolean; goodBytes: number }> = [
  // a <= end on the good path: the 14 bytes before a are in the packet.
  { id: "a > end -> out", test: (a, b) => `if ${a} > ${b} goto out`, takenIsGood: false, goodBytes: 14 },
  { id: "end < a -> out", test: (a, b) => `if ${b} < ${a} goto out`, takenIsGood: false, goodBytes: 14 },
  { id: "a <= end -> ok", test: (a, b) => `if ${a} <= ${b} goto ok`, takenIsGood: true, goodBytes: 14 },
  { id: "end >= a -> ok", test: (a, b) => `if ${b} >= ${a} goto ok`, takenIsGood: true, goodBytes: 14 },
  // a < end on the good path: byte 14 is in the packet too.
  { id: "a >= end -> out", test: (a, b) => `if ${a} >= ${b} goto out`, takenIsGood: false, goodBytes: 15 },
  { id: "end <= a -> out", test: (a, b) => `if ${b} <= ${a} goto out`, takenIsGood: false, goodBytes: 15 },
  { id: "a < end -> ok", test: (a, b) => `if ${a} < ${b} goto ok`, takenIsGood: true, goodBytes: 15 },
  { id: "end > a -> ok", test: (a, b) => `if ${b} > ${a} goto ok`, takenIsGood: true, goodBytes: 15 },
];

function formProgram(setup: string, base: string, test: string, takenIsGood: boolean, readOff: number): string {
  const access = `r0 = *(u8 *)(${base} +${readOff})\nr0 = 2\nexit`;
  if (takenIsGood) return `${setup}\n${test}\nr0 = 1\nexit\nok: ${access}`;
  return `${setup}\n${test}\n${access}\nout: r0 = 1\nexit`;
}

function formCases(): VerifierCase[] {
  const out: VerifierCase[] = [];
  for (const f of FORMS) {
    const good = f.goodBytes - 1;
    for (const [kind, off] of [["good", good], ["off-by-one", good + 1]] as const) {
      const setup = `${LOAD}\nr4 = r2\nr4 += 14`;
      const bad = kind !== "good";
      out.push({
        name: `packet/data ${f.id} ${kind}`,
        asm: formProgram(setup, "r2", f.test("r4", "r3"), f.takenIsGood, off),
        ...(bad
          ? { result: "REJECT" as const, errno: EACCES, err: `invalid access to packet, off=${off} size=1` }
          : { result: "ACCEPT" as const, retval: 2 }),
      });
      const msetup = "r2 = *(u32 *)(r1 +8)\nr3 = *(u32 *)(r1 +0)\nr4 = r2\nr4 += 14";
      out.push({
        name: `packet/meta ${f.id} ${kind}`,
        asm: formProgram(msetup, "r2", f.test("r4", "r3"), f.takenIsGood, off),
        ...(bad
          ? { result: "REJECT" as const, errno: EACCES, err: `invalid access to packet, off=${off} size=1` }
          : { result: "ACCEPT" as const, retval: 1 }),
      });
    }
    out.push({
      name: `packet/jmp32 ${f.id} gives no range`,
      asm: formProgram(`${LOAD}\nr4 = r2\nr4 += 14`, "r2", f.test("w4", "w3"), f.takenIsGood, 0),
      result: "REJECT", errno: EACCES, err: "invalid access to packet, off=0 size=1",
    });
  }
  return out;
}

export const PACKET_CASES: VerifierCase[] = [
  ...formCases(),
  { name: "packet/read without check", asm: `${LOAD}\nr0 = *(u8 *)(r2 +0)\nexit`, result: "REJECT", errno: EACCES, err: "invalid access to packet, off=0 size=1, R2(id=0,off=0,r=0)" },
  {
    name: "packet/u16 read straddling the range end",
    asm: `${LOAD}\nr4 = r2\nr4 += 14\nif r4 > r3 goto out\nr0 = *(u16 *)(r2 +13)\nr0 = 2\nexit\nout: r0 = 1\nexit`,
    result: "REJECT", errno: EACCES, err: "invalid access to packet, off=13 size=2",
  },
  {
    name: "packet/u64 read at range end",
    asm: `${LOAD}\nr4 = r2\nr4 += 14\nif r4 > r3 goto out\nr0 = *(u64 *)(r2 +6)\nr0 = 2\nexit\nout: r0 = 1\nexit`,
    result: "ACCEPT", retval: 2,
  },
  {
    name: "packet/write within range",
    asm: `${LOAD}\nr4 = r2\nr4 += 14\nif r4 > r3 goto out\nr5 = 0x22\n*(u8 *)(r2 +0) = r5\nr0 = 2\nexit\nout: r0 = 1\nexit`,
    result: "ACCEPT", retval: 2,
  },
  {
    name: "packet/store imm past range",
    asm: `${LOAD}\nr4 = r2\nr4 += 14\nif r4 > r3 goto out\n*(u32 *)(r2 +12) = 0\nr0 = 2\nexit\nout: r0 = 1\nexit`,
    result: "REJECT", errno: EACCES, err: "invalid access to packet, off=12 size=4",
  },
  {
    name: "packet/negative offset before data",
    asm: `${LOAD}\nr4 = r2\nr4 += 14\nif r4 > r3 goto out\nr0 = *(u8 *)(r2 -1)\nr0 = 2\nexit\nout: r0 = 1\nexit`,
    result: "REJECT", errno: EACCES, err: "invalid access to packet, off=-1 size=1",
  },
  {
    name: "packet/range on copy after check",
    asm: `${LOAD}\nr5 = r2\nr4 = r2\nr4 += 14\nif r4 > r3 goto out\nr0 = *(u8 *)(r5 +13)\nr0 = 2\nexit\nout: r0 = 1\nexit`,
    result: "ACCEPT", retval: 2,
  },
  {
    name: "packet/advanced pointer sees the remaining range",
    asm: `${LOAD}\nr4 = r2\nr4 += 14\nif r4 > r3 goto out\nr2 += 10\nr0 = *(u32 *)(r2 +0)\nr0 = 2\nexit\nout: r0 = 1\nexit`,
    result: "ACCEPT", retval: 2,
  },
  {
    name: "packet/advanced pointer one past the range",
    asm: `${LOAD}\nr4 = r2\nr4 += 14\nif r4 > r3 goto out\nr2 += 11\nr0 = *(u32 *)(r2 +0)\nr0 = 2\nexit\nout: r0 = 1\nexit`,
    result: "REJECT", errno: EACCES, err: "invalid access to packet, off=11 size=4",
  },
  {
    name: "packet/equality with data_end gives no range",
    asm: `${LOAD}\nr4 = r2\nr4 += 14\nif r4 == r3 goto out\nr0 = *(u8 *)(r2 +0)\nr0 = 2\nexit\nout: r0 = 1\nexit`,
    result: "REJECT", errno: EACCES, err: "invalid access to packet, off=0 size=1",
  },
  {
    name: "packet/short packet takes the out path",
    asm: `${LOAD}\nr4 = r2\nr4 += 34\nif r4 > r3 goto out\nr0 = *(u8 *)(r2 +33)\nr0 = 2\nexit\nout: r0 = 1\nexit`,
    result: "ACCEPT", retval: 1, packet: PKT_ETH_ONLY,
  },
  {
    name: "packet/variable offset bounded by mask then checked",
    asm: `${LOAD}\nr4 = r2\nr4 += 1\nif r4 > r3 goto out\nr5 = *(u8 *)(r2 +0)\nr5 &= 15\nr2 += r5\nr4 = r2\nr4 += 4\nif r4 > r3 goto out\nr0 = *(u32 *)(r2 +0)\nr0 = 2\nexit\nout: r0 = 1\nexit`,
    result: "ACCEPT", retval: 2,
  },
  {
    name: "packet/variable offset above MAX_PACKET_OFF gets no range",
    asm: `${LOAD}\nr5 = *(u32 *)(r1 +12)\nr2 += r5\nr4 = r2\nr4 += 4\nif r4 > r3 goto out\nr0 = *(u32 *)(r2 +0)\nr0 = 2\nexit\nout: r0 = 1\nexit`,
    result: "REJECT", errno: EACCES, err: "invalid access to packet, off=0 size=4, R2(id=1,off=0,r=0)",
  },
  {
    name: "packet/huge constant offset",
    asm: `${LOAD}\nr2 += 0x10000\nr4 = r2\nr4 += 4\nif r4 > r3 goto out\nr0 = *(u32 *)(r2 +0)\nr0 = 2\nexit\nout: r0 = 1\nexit`,
    result: "REJECT", errno: EACCES, err: "invalid access to packet",
  },
  { name: "packet/pkt_end += 1", asm: `${LOAD}\nr3 += 1\nr0 = 2\nexit`, result: "REJECT", errno: EACCES, err: "R3 pointer arithmetic on pkt_end prohibited" },
  { name: "packet/pkt_end -= 1", asm: `${LOAD}\nr3 -= 1\nr0 = 2\nexit`, result: "REJECT", errno: EACCES, err: "R3 pointer arithmetic on pkt_end prohibited" },
  { name: "packet/pkt_end += scalar register", asm: `${LOAD}\nr5 = 1\nr3 += r5\nr0 = 2\nexit`, result: "REJECT", errno: EACCES, err: "R3 pointer arithmetic on pkt_end prohibited" },
  { name: "packet/pkt_end minus pkt is the packet length", asm: `${LOAD}\nr3 -= r2\nr0 = r3\nexit`, result: "ACCEPT", retval: 64 },
  { name: "packet/pkt minus pkt_end is minus the length", asm: `${LOAD}\nr2 -= r3\nr0 = 0\nr0 -= r2\nexit`, result: "ACCEPT", retval: 64 },
  ...invalidationCases(),
];

function invalidationCases(): VerifierCase[] {
  const helpers: Array<[string, string]> = [
    ["bpf_xdp_adjust_head#44", "r2 = 0"], ["bpf_xdp_adjust_tail#65", "r2 = 0"], ["bpf_xdp_adjust_meta#54", "r2 = 0"],
  ];
  const out: VerifierCase[] = [];
  for (const [h, arg] of helpers) {
    const short = h.replace(/^bpf_|#\d+$/g, "");
    out.push({
      name: `packet/stale pointer after ${short}`,
      asm: `r6 = r1\n${LOAD}\nr4 = r2\nr4 += 14\nif r4 > r3 goto out\nr7 = r2\nr1 = r6\n${arg}\ncall ${h}\nr0 = *(u8 *)(r7 +0)\nr0 = 2\nexit\nout: r0 = 1\nexit`,
      result: "REJECT", errno: EACCES, err: "R7 invalid mem access 'scalar'",
    });
    out.push({
      name: `packet/reload pointers after ${short}`,
      asm: `r6 = r1\nr1 = r6\n${arg}\ncall ${h}\nr2 = *(u32 *)(r6 +0)\nr3 = *(u32 *)(r6 +4)\nr4 = r2\nr4 += 14\nif r4 > r3 goto out\nr0 = *(u8 *)(r2 +13)\nr0 = 2\nexit\nout: r0 = 1\nexit`,
      result: "ACCEPT", retval: 2,
    });
  }
  out.push({
    name: "packet/spilled packet pointer invalidated by adjust_head",
    asm: `r6 = r1\n${LOAD}\n*(u64 *)(r10 -8) = r2\nr1 = r6\nr2 = 0\ncall bpf_xdp_adjust_head#44\nr2 = *(u64 *)(r10 -8)\nr0 = *(u8 *)(r2 +0)\nr0 = 2\nexit`,
    result: "REJECT", errno: EACCES, err: "R2 invalid mem access 'scalar'",
  });
  out.push({
    name: "packet/range kept across helper that does not touch the packet",
    asm: `r6 = r1\n${LOAD}\nr4 = r2\nr4 += 14\nif r4 > r3 goto out\nr7 = r2\ncall bpf_get_prandom_u32#7\nr0 = *(u8 *)(r7 +13)\nr0 = 2\nexit\nout: r0 = 1\nexit`,
    result: "ACCEPT", retval: 2,
  });
  return out;
}
