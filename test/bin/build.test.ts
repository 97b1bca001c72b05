// bin/vxo.js never runs a stale bundle: a throwaway project (bin/ copied, a
// two-module cli/vxo.ts, node_modules linked) is run the way users run vxo,
// and its sources are changed between runs, including a change that keeps
// the file's size (caught by the mtime) and one in a module imported lazily.
import { describe, expect, it, beforeAll, afterAll } from "vitest";
import { execa } from "execa";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { REPO_ROOT } from "../helpers/repo.ts";

let proj = "";
const run = (env: Record<string, string> = {}) =>
  execa("node", [path.join(proj, "bin/vxo.js"), "hello"], { reject: false, env: { VXO_TSX: "", ...env } });

function writeSources(main: string, sub: string): void {
  writeFileSync(path.join(proj, "cli/vxo.ts"),
    `export async function main(argv: string[]): Promise<number> {\n  const { word } = await import("./sub.ts");\n  process.stdout.write(\`${main} \${word()} \${argv[2]}\\n\`);\n  return 0;\n}\n`);
  writeFileSync(path.join(proj, "cli/sub.ts"), `export const word = (): string => "${sub}";\n`);
}

beforeAll(() => {
  proj = mkdtempSync(path.join(tmpdir(), "vxo-build-"));
  mkdirSync(path.join(proj, "bin"));
  mkdirSync(path.join(proj, "cli"));
  for (const f of ["vxo.js", "build.js"]) copyFileSync(path.join(REPO_ROOT, "bin", f), path.join(proj, "bin", f));
  writeFileSync(path.join(proj, "package.json"), JSON.stringify({ type: "module", private: true }) + "\n");
  symlinkSync(path.join(REPO_ROOT, "node_modules"), path.join(proj, "node_modules"));
  writeSources("one", "alpha");
});

afterAll(() => {
  if (proj) rmSync(proj, { recursive: true, force: true });
});

describe("bin/vxo.js and dist/", () => {
  it("builds dist/ when there is none (a clone without npm's prepare) and runs it, silently", async () => {
    const r = await run();
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("one alpha hello");
    expect(r.exitCode).toBe(0);
    const m = JSON.parse(readFileSync(path.join(proj, "dist/manifest.json"), "utf8")) as { inputs: Array<[string, number, number]> };
    expect(m.inputs.map((i) => i[0])).toEqual(expect.arrayContaining(["cli/vxo.ts", "cli/sub.ts", "bin/build.js", "package.json"]));
  });

  it("runs the bundle while no source changed", async () => {
    // A difference only the bundle has (same length): it shows which one ran.
    const dist = path.join(proj, "dist");
    const chunk = readdirSync(dist).map((f) => path.join(dist, f)).find((f) => f.endsWith(".js") && readFileSync(f, "utf8").includes('"alpha"'))!;
    writeFileSync(chunk, readFileSync(chunk, "utf8").replace('"alpha"', '"ALPHA"'));
    expect((await run()).stdout).toBe("one ALPHA hello");
  });

  it("rebuilds after an edit that keeps the file's size (its mtime changed), in a module imported lazily", async () => {
    const sub = path.join(proj, "cli/sub.ts");
    const before = statSync(sub);
    writeFileSync(sub, readFileSync(sub, "utf8").replace("alpha", "omega"));
    utimesSync(sub, before.atime, new Date(before.mtimeMs + 2000));
    expect(statSync(sub).size).toBe(before.size);
    expect((await run()).stdout).toBe("one omega hello");
  });

  it("rebuilds after an edit of the entry module (size changed)", async () => {
    writeSources("three", "gamma");
    const r = await run();
    expect(r.stdout).toBe("three gamma hello");
    expect(r.stderr).toBe("");
  });

  it("bundles a *_worker.ts as dist/<name>_worker.js, where bundled code finds it beside itself", async () => {
    writeFileSync(path.join(proj, "cli/echo_worker.ts"),
      `import { parentPort } from "node:worker_threads";\nimport { word } from "./sub.ts";\nparentPort!.on("message", (m: string) => { parentPort!.postMessage(\`\${m} \${word()}\`); });\n`);
    writeFileSync(path.join(proj, "cli/vxo.ts"),
      `import { Worker } from "node:worker_threads";\nexport async function main(): Promise<number> {\n  const w = new Worker(new URL("./echo_worker.js", import.meta.url));\n  const reply = await new Promise<string>((resolve) => { w.once("message", resolve); w.postMessage("from worker:"); });\n  process.stdout.write(reply);\n  await w.terminate();\n  return 0;\n}\n`);
    const r = await run();
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("from worker: gamma");
    expect(existsSync(path.join(proj, "dist/echo_worker.js"))).toBe(true);
  });

  it("VXO_TSX=1 runs the sources through tsx", async () => {
    writeSources("four", "delta");
    const r = await run({ VXO_TSX: "1" });
    expect(r.stdout).toBe("four delta hello");
    expect(r.stderr).toBe("");
  });

  it("falls back to tsx, saying so on stderr, when the sources do not build", async () => {
    writeSources("five", "epsilon");
    writeFileSync(path.join(proj, "cli/broken.ts"), "export const x = ;\n");
    writeFileSync(path.join(proj, "cli/vxo.ts"), readFileSync(path.join(proj, "cli/vxo.ts"), "utf8") +
      "export async function never(): Promise<unknown> { return import(\"./broken.ts\"); }\n");
    const r = await run();
    expect(r.stderr).toMatch(/^vxo: cannot build dist\/, running the sources with tsx: cli\/broken\.ts:1:\d+: error: /);
    // tsx loads only what runs: this command never imports the broken module.
    expect(r.stdout).toBe("five epsilon hello");
    expect(existsSync(path.join(proj, "dist/vxo.js"))).toBe(true);
  });

  it("asks for npm ci when the npm packages are missing (a fresh clone)", async () => {
    rmSync(path.join(proj, "node_modules"));
    rmSync(path.join(proj, "dist"), { recursive: true, force: true });
    const r = await run();
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toBe(`vxo: its npm packages are not installed: run \`npm ci\` in ${proj}/`);
    expect(r.stdout).toBe("");
  });
});
