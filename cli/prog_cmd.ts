// `vxo prog load|run|dump`: bpftool prog's workflow on an ELF object, against
// an in-process emulated kernel (load = bpf_object__open + BPF_PROG_LOAD,
// run = BPF_PROG_TEST_RUN, dump xlated = BPF_OBJ_GET_INFO_BY_FD xlated insns).
// Only the options live here; prog_do.ts does the work and is imported when a
// prog command runs (the ELF loader and verifier are not loaded for --help).
import type { Command } from "commander";
import type { LoadOpts, RunOpts, SelectOpts } from "./prog_do.ts";

function collect(v: string, prev: string[]): string[] {
  return [...prev, v];
}

export function addProgCommands(program: Command): void {
  const prog = program.command("prog").description("load, run and inspect XDP programs (bpftool prog)");

  prog.command("load")
    .argument("<obj>", "ELF object built with clang -O2 -g -target bpf")
    .option("--sec <name>", "ELF section of the program")
    .option("--prog <name>", "program (function) name")
    .option("--log-level <n>", "verifier log level: 1 (failing path), 2 (every insn), +4 statistics", "1")
    .option("--no-verify", "load without the verifier (runtime checks only)")
    .option("--json", "JSON output")
    .description("open the object, create its maps and load (verify) its programs")
    .action(async (obj: string, o: LoadOpts) => {
      (await import("./prog_do.ts")).doLoad(obj, o);
    });

  prog.command("run")
    .argument("<obj>", "ELF object")
    .option("--sec <name>", "ELF section of the program")
    .option("--prog <name>", "program (function) name")
    .option("--data-in <file>", "input packet (raw bytes); repeat it to run several packets in turn", collect, [])
    .option("--data-out <file>", "write the output packet here")
    .option("--repeat <n>", "run the program n times on the same buffer", "1")
    .option("--map-update <name=key:value>", "update a map before the run (hex key and value); repeatable", collect, [])
    .option("--dump-maps", "print every map after the run")
    .option("--log-level <n>", "verifier log level when the load fails", "1")
    .option("--no-verify", "run without the verifier (refused otherwise when verification fails)")
    .option("--engine <name>", "execution engine: jit (WebAssembly) or interp (reference interpreter)", "jit")
    .option("--json", "JSON output")
    .description("run the program on a packet (BPF_PROG_TEST_RUN)")
    .action(async (obj: string, o: RunOpts) => {
      if (o.dataIn.length === 0) {
        // bpftool prog run refuses a run with no input as a usage error ("'run' needs at least 4 arguments"), exit 255.
        const msg = "'run' needs at least one --data-in FILE";
        if (o.json) process.stdout.write(JSON.stringify({ error: msg }) + "\n");
        else process.stderr.write(`Error: ${msg}\n`);
        process.exitCode = 255;
        return;
      }
      await (await import("./prog_do.ts")).doRun(obj, o);
    });

  prog.command("dump")
    .argument("<what>", "xlated")
    .argument("<obj>", "ELF object")
    .option("--sec <name>", "ELF section of the program")
    .option("--prog <name>", "program (function) name")
    .description("print the program's instructions as bpftool prog dump xlated does")
    .action(async (what: string, obj: string, o: SelectOpts) => {
      (await import("./prog_do.ts")).doDump(what, obj, o);
    });
}
