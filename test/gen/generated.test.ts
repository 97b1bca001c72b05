// The generated files are what their generators make of today's sources:
// shared/bpf/isa/opcodes.ts from INSN_TABLE, shared/bpf/runtime/interp_core.gen.ts
// from interp_core.ts (see gen/). A stale file fails here with the command that
// regenerates it.
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { OPCODES_PATH, opcodesSource } from "../../gen/opcodes.ts";
import { INTERP_GEN_PATH, interpCoreSource } from "../../gen/interp_core.ts";
import * as opcodes from "../../shared/bpf/isa/opcodes.ts";
import * as uapi from "../../shared/bpf/isa/uapi.ts";
import { INSN_TABLE } from "../../shared/bpf/isa/insn_table.ts";

const REGEN = "stale: run `npx tsx gen/generate.ts`";

describe("generated files", () => {
  it("opcodes.ts matches INSN_TABLE", () => {
    expect(readFileSync(OPCODES_PATH, "utf8"), REGEN).toBe(opcodesSource());
  });

  it("interp_core.gen.ts matches interp_core.ts", async () => {
    expect(readFileSync(INTERP_GEN_PATH, "utf8"), REGEN).toBe(await interpCoreSource());
  });

  it("interp_core.gen.ts dispatches on number literals only, with no macro left", () => {
    const gen = readFileSync(INTERP_GEN_PATH, "utf8");
    const code = gen.replace(/\/\*.*?\*\//g, "").replace(/\/\/.*$/gm, "");
    const labels = [...code.matchAll(/\bcase ([^:]+):/g)].map((m) => m[1]!.trim());
    expect(labels.length).toBeGreaterThan(100);
    for (const l of labels) expect(l, `case ${l}`).toMatch(/^(0x[0-9a-f]+|[0-9]+)$/);
    expect(gen).not.toMatch(/\b(canLoad|canStore)\(/);
  });

  it("names every opcode as core.c's jumptable does, and each name spells its opcode's fields", () => {
    // Read each name back into BPF_* fields: CLASS_OP_SRC, CLASS_MODE_SIZE, and core.c's few
    // exceptions (ALU*_NEG, ALU*_END_TO_LE/BE, JMP*_JA, JMP_CALL, JMP_EXIT).
    const u = uapi as unknown as Record<string, number>;
    const field = (t: string) => {
      const v = u[`BPF_${t}`];
      if (v === undefined) throw new Error(`no BPF_${t}`);
      return v;
    };
    const entries = Object.entries(opcodes);
    expect(entries.length).toBe(INSN_TABLE.filter((d) => d !== undefined).length);
    for (const [name, code] of entries) {
      const parts = name.split("_");
      const cls = field(parts[0]!);
      let want = cls;
      if (name === "JMP_CALL_X") want |= field("CALL") | field("X");
      else if (parts[1] === "END") want |= field("END") | field(`${parts[2]}_${parts[3]}`);
      else for (const t of parts.slice(1)) want |= field(t);
      expect(code, name).toBe(want);
      expect(INSN_TABLE[code]?.name, name).toBe(name);
    }
    expect(opcodes.ALU64_SUB_K).toBe(0x17);
    expect(opcodes.JMP32_JEQ_K).toBe(0x16);
    expect(opcodes.STX_ATOMIC_DW).toBe(0xdb);
    expect(opcodes.LD_IMM_DW).toBe(0x18);
  });
});
