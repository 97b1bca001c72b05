// `vxo`: the command-line front end. Subcommands mirror the tools kernel and
// QEMU engineers already use (bpftool prog/map, ip link, QEMU monitor).
import { Command, CommanderError } from "commander";
import { KernelError } from "../shared/errno.ts";
import { addProgCommands } from "./prog_cmd.ts";
import { addHostCommands } from "./host_cmd.ts";
import { addQemuCommands } from "./qemu_cmd.ts";
import { addGuestCommands } from "./guest_cmd.ts";
import { addMonitorCommands } from "./monitor_cmd.ts";
import { addVersionCommands } from "./version_cmd.ts";
import { addScenarioCommands } from "./scenario_cmd.ts";

/** Runs the CLI; returns the process exit status. */
export async function main(argv: string[]): Promise<number> {
  const program = new Command("vxo")
    .description("virtio-net XDP offload emulator")
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  addVersionCommands(program);
  addProgCommands(program);
  addHostCommands(program);
  addQemuCommands(program);
  addGuestCommands(program);
  addMonitorCommands(program);
  addScenarioCommands(program);
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode;
    if (e instanceof KernelError) {
      process.stderr.write(`Error: ${e.message} (${e.code})\n`);
      if (e.log !== undefined && e.log.length > 0) process.stderr.write(e.log.join("\n") + "\n");
      return 1;
    }
    throw e;
  }
}
