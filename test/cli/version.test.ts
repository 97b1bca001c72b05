// `vxo -V|--version` (commander's version option) and `vxo version [--json]`
// (as bpftool's `version` command: the tool's version, then what it runs on),
// as a user runs them: a real process, the version of package.json.
import { describe, expect, it } from "vitest";
import { execa } from "execa";
import { readFileSync } from "node:fs";
import path from "node:path";
import { REPO_ROOT, VXO_BIN } from "../helpers/repo.ts";

const vxo = (...args: string[]) => execa("node", [VXO_BIN, ...args], { reject: false });
const version = (JSON.parse(readFileSync(path.join(REPO_ROOT, "package.json"), "utf8")) as { version: string }).version;

describe("vxo version", () => {
  for (const flag of ["--version", "-V"]) {
    it(`${flag} prints the package version and exits 0`, async () => {
      const r = await vxo(flag);
      expect([r.exitCode, r.stdout, r.stderr]).toEqual([0, version, ""]);
    });
  }

  it("`vxo version` prints vxo vX.Y.Z and the Node.js it runs on, like bpftool version", async () => {
    const r = await vxo("version");
    expect(r.exitCode).toBe(0);
    expect(r.stdout.split("\n")).toEqual([`vxo v${version}`, `using node v${process.versions.node}`]);
    const j = await vxo("version", "--json");
    expect(JSON.parse(j.stdout)).toEqual({ version, node_version: process.versions.node });
  });

  it("--help lists -V, --version", async () => {
    expect((await vxo("--help")).stdout).toMatch(/^\s+-V, --version\s+output the version number$/m);
  });
});
