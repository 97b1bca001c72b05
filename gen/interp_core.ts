// Generator of shared/bpf/runtime/interp_core.gen.ts from interp_core.ts: the
// same text with every number constant it imports from the opcode, decoder-
// layout and uapi modules replaced by its value (`0x07 /* ALU64_ADD_K */`).
// V8 builds a jump table for a switch only when every case label is a number
// literal; with imported names as labels the interpreter ran ~10x slower on
// xdp1/xdp2, with module-level consts ~2x. So the source reads like core.c
// (case ALU64_ADD_K:) and the file V8 runs has the literals. This is the role
// v86's gen/generate_interpreter.js plays for its x86 table.
//
// The bounds checks are written once, as the functions canLoad()/canStore(),
// and expanded in place here like C macros (their definitions leave the
// output): called as functions from the 17 load/store cases, V8 left them out
// of line and xdp2 ran ~15% slower.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { opcodeValues } from "./opcodes.ts";

export const INTERP_SRC_PATH = fileURLToPath(new URL("../shared/bpf/runtime/interp_core.ts", import.meta.url));
export const INTERP_GEN_PATH = fileURLToPath(new URL("../shared/bpf/runtime/interp_core.gen.ts", import.meta.url));

/** Functions of interp_core.ts expanded at their call sites; each body is one `return <expr>;`. */
const MACROS = ["canLoad", "canStore"] as const;

/** Modules (as interp_core.ts names them) whose number constants are inlined. */
const INLINED = ["../isa/opcodes.ts", "./interp_decode.ts", "../isa/uapi.ts"] as const;
/** Written in hex (opcodes and the decoder's own ops); every other value in decimal. */
const isOpcodeName = (name: string, from: string) => from === "../isa/opcodes.ts" || /^OP_/.test(name);

/** The text of interp_core.gen.ts for the current interp_core.ts and tables. */
export async function interpCoreSource(): Promise<string> {
  const src = readFileSync(INTERP_SRC_PATH, "utf8");
  const values = new Map<string, string>();
  const ops = opcodeValues();
  const modules = new Map<string, Record<string, unknown>>();
  for (const from of INLINED) {
    modules.set(from, from === "../isa/opcodes.ts" ? Object.fromEntries(ops)
      : await import(new URL(from, new URL("../shared/bpf/runtime/", import.meta.url)).href) as Record<string, unknown>);
  }
  // Import lists: the inlined names leave them (a list left empty goes with its statement).
  let body = src.replace(/^import \{([^}]*)\} from "([^"]+)";\n/gm, (stmt, list: string, from: string) => {
    const mod = modules.get(from);
    if (mod === undefined) return stmt;
    const kept: string[] = [];
    for (const raw of list.split(",")) {
      const name = raw.trim();
      if (name === "") continue;
      const v = mod[name];
      if (typeof v === "number" && Number.isInteger(v)) {
        values.set(name, isOpcodeName(name, from) ? `0x${v.toString(16).padStart(2, "0")}` : String(v));
      } else kept.push(name);
    }
    return kept.length === 0 ? "" : `import { ${kept.join(", ")} } from "${from}";\n`;
  });
  body = expandMacros(body);
  // The file's opening comment gives way to the generated-file notice.
  const lines = body.split("\n");
  let k = 0;
  while (k < lines.length && lines[k]!.startsWith("//")) k++;
  body = lines.slice(k).join("\n");
  const head = [
    "// GENERATED from interp_core.ts by gen/interp_core.ts: do not edit, never committed.",
    "// bin/build.js rewrites it when interp_core.ts or a table it reads changes (npm ci,",
    "// npm start, npm test, vxo's rebuild); by hand: `npx tsx gen/generate.ts`. Named",
    "// constants are inlined as literals so that V8 compiles the dispatch switch to a",
    "// jump table (see gen/interp_core.ts).",
  ].join("\n");
  return `${head}\n${substituteCode(body, values)}`;
}

/** Expands the MACROS: definitions (and their doc comments) removed, every call replaced by its body. */
function expandMacros(text: string): string {
  for (const name of MACROS) {
    const def = new RegExp(`(/\\*\\*(?:(?!\\*/)[\\s\\S])*\\*/\\n)?function ${name}\\(([^)]*)\\): \\w+ \\{\\n  return ([^;]*);\\n\\}\\n\\n?`);
    const m = def.exec(text);
    if (m === null) throw new Error(`gen/interp_core.ts: no one-line definition of ${name}() in interp_core.ts`);
    const params = m[2]!.split(",").map((p) => p.split(":")[0]!.trim());
    const expr = m[3]!.replace(/\s*\n\s*/g, " ");
    text = text.slice(0, m.index) + text.slice(m.index + m[0].length);
    let out = "";
    for (let i = codeIndexOf(text, `${name}(`); i >= 0; i = codeIndexOf(text, `${name}(`)) {
      if (/[\w$.]/.test(text[i - 1] ?? "")) throw new Error(`gen/interp_core.ts: ${name} used other than as a call`);
      // The arguments, split at the commas outside brackets.
      const args: string[] = [];
      let depth = 0, j = i + name.length + 1, start = j;
      for (; depth >= 0; j++) {
        const c = text[j]!;
        if (c === "(" || c === "[") depth++;
        else if (c === ")" || c === "]") depth--;
        if ((c === "," && depth === 0) || depth < 0) {
          args.push(text.slice(start, j).trim());
          start = j + 1;
        }
      }
      if (args.length !== params.length) throw new Error(`gen/interp_core.ts: ${name}() called with ${args.length} arguments`);
      const body = expr.replace(/\b[A-Za-z_$][\w$]*\b/g, (id, at: number) => {
        const k = params.indexOf(id);
        if (k < 0 || expr[at - 1] === ".") return id;
        return /^[\w$]+$/.test(args[k]!) ? args[k]! : `(${args[k]!})`;
      });
      out += `${text.slice(0, i)}(${body})`;
      text = text.slice(j);
    }
    text = out + text;
  }
  return text;
}

/** End of the comment or string literal starting at i, or -1 when code starts there. */
function skipNonCode(text: string, i: number): number {
  const c = text[i]!, c2 = text[i + 1];
  if (c === "/" && c2 === "/") {
    const e = text.indexOf("\n", i);
    return e < 0 ? text.length : e;
  }
  if (c === "/" && c2 === "*") return text.indexOf("*/", i + 2) + 2;
  if (c === "\"" || c === "'" || c === "`") {
    let e = i + 1;
    while (e < text.length && text[e] !== c) e += text[e] === "\\" ? 2 : 1;
    return e + 1;
  }
  return -1;
}

/** First index of `needle` in code (not in a comment or string), or -1. */
function codeIndexOf(text: string, needle: string): number {
  for (let i = 0; i < text.length;) {
    const e = skipNonCode(text, i);
    if (e >= 0) {
      i = e;
      continue;
    }
    if (text.startsWith(needle, i)) return i;
    i++;
  }
  return -1;
}

/** Replaces the identifiers in `values` wherever they occur as code (not in comments, strings or after a dot). */
function substituteCode(text: string, values: ReadonlyMap<string, string>): string {
  let out = "";
  let i = 0;
  const n = text.length;
  let code = "";
  const flush = () => {
    out += code.replace(/(\.\s*)?\b([A-Za-z_$][\w$]*)\b/g, (m, dot: string | undefined, id: string) =>
      dot === undefined && values.has(id) ? `${values.get(id)!} /* ${id} */` : m);
    code = "";
  };
  while (i < n) {
    const end = skipNonCode(text, i);
    if (end < 0) {
      code += text[i]!;
      i++;
      continue;
    }
    flush();
    out += text.slice(i, end);
    i = end;
  }
  flush();
  return out;
}
