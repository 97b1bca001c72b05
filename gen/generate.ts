// Regenerates every generated file of the tree: `npx tsx gen/generate.ts`.
// Order matters: opcodes.ts first (interp_core.gen.ts reads the decoder, which imports it).
import { readFileSync, writeFileSync } from "node:fs";
import { OPCODES_PATH, opcodesSource } from "./opcodes.ts";

const write = (path: string, text: string) => {
  let old = "";
  try {
    old = readFileSync(path, "utf8");
  } catch {
    // a new file
  }
  if (old === text) return;
  writeFileSync(path, text);
  console.log(`wrote ${path}`);
};

write(OPCODES_PATH, opcodesSource());
const { INTERP_GEN_PATH, interpCoreSource } = await import("./interp_core.ts");
write(INTERP_GEN_PATH, await interpCoreSource());
