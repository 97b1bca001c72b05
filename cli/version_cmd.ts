// `vxo -V|--version` (commander's version option: the package version) and
// `vxo version [--json]`, which answers as bpftool's `version` command does
// (tools/bpf/bpftool/main.c do_version(): the tool's version, then what it runs on).
import { readFileSync } from "node:fs";
import type { Command } from "commander";

/** The version in the package's package.json. */
export function vxoVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string };
  return pkg.version;
}

export function addVersionCommands(program: Command): void {
  const version = vxoVersion();
  program.version(version, "-V, --version", "output the version number");
  program.command("version")
    .option("--json", "JSON output")
    .description("print the version of vxo and of the Node.js it runs on (bpftool version)")
    .action((o: { json?: boolean }) => {
      if (o.json) process.stdout.write(JSON.stringify({ version, node_version: process.versions.node }) + "\n");
      else process.stdout.write(`vxo v${version}\nusing node v${process.versions.node}\n`);
    });
}
