// Generator of shared/bpf/isa/opcodes.ts: one named constant per row of
// INSN_TABLE, named as ___bpf_prog_run()'s jumptable labels the opcode in
// kernel/bpf/core.c (ALU64_ADD_K, JMP32_JEQ_X, LDX_MEM_W...). Written to a file
// rather than computed at load time so that the names are plain `const` numbers
// tsc knows (a typo is a compile error) and no second list can drift from the
// table (test/gen/generated.test.ts compares the file with this output).
// Kernel counterpart: the BPF_INSN_MAP() X-macro that names core.c's labels.
import { fileURLToPath } from "node:url";
import { INSN_TABLE } from "../shared/bpf/isa/insn_table.ts";

/** Path of the generated file. */
export const OPCODES_PATH = fileURLToPath(new URL("../shared/bpf/isa/opcodes.ts", import.meta.url));

const hex = (n: number) => `0x${n.toString(16).padStart(2, "0")}`;

/** Opcode value of each name (what opcodes.ts exports), straight from the table. */
export function opcodeValues(): Map<string, number> {
  const m = new Map<string, number>();
  for (const d of INSN_TABLE) if (d !== undefined) m.set(d.name, d.code);
  return m;
}

/** The text of opcodes.ts for the current INSN_TABLE. */
export function opcodesSource(): string {
  const lines = [
    "// Opcode names, as ___bpf_prog_run()'s jumptable labels them in kernel/bpf/core.c.",
    "// GENERATED from INSN_TABLE (insn_table.ts) by gen/opcodes.ts: do not edit; regenerate",
    "// with `npx tsx gen/generate.ts` (test/gen/generated.test.ts checks this file).",
    "// The v4 forms that share an opcode with an older one are told apart by off, as in",
    "// core.c: sdiv/smod are ALU*_DIV_*/ALU*_MOD_* with off 1, movsx is ALU*_MOV_X with",
    "// off 8/16/32.",
  ];
  for (const d of INSN_TABLE) {
    if (d === undefined) continue;
    lines.push(`export const ${d.name} = ${hex(d.code)}; // ${d.mnemonic}${d.isa > 1 ? ` (v${d.isa})` : ""}`);
  }
  return lines.join("\n") + "\n";
}
