// `vxo monitor NAME|URL <command...>`: one human-monitor command against a
// running device model (QEMU's HMP over -monitor), output as HMP prints it.
import type { Command } from "commander";
import { connectCli } from "../shared/proto/channel.ts";
import { MSG } from "../shared/proto/messages.ts";
import { lookupProc } from "../shared/runtime_dir.ts";

/** Runs one monitor command; returns HMP's output, or the error line HMP prints ("Error: ..."). */
export async function monitorRemote(nameOrUrl: string, cmdline: string): Promise<{ ok: boolean; output: string }> {
  const ch = await connectCli(lookupProc("qemu", nameOrUrl), "monitor");
  try {
    const r = await ch.request(MSG.MONITOR, { cmdline });
    return r.ok ? { ok: true, output: r.body.output } : { ok: false, output: `Error: ${r.message}\n` };
  } finally {
    ch.close();
  }
}

/** Registers `vxo monitor`. */
export function addMonitorCommands(program: Command): void {
  program
    .command("monitor")
    .description("run a monitor command in a VM's device model (info status, info offload, migrate URI, system_reset)")
    .argument("<vm>", "VM name or ws:// URL of its device model")
    .argument("<command...>", "monitor command line")
    .action(async (vm: string, cmd: string[]) => {
      const r = await monitorRemote(vm, cmd.join(" "));
      process.stdout.write(r.output);
      if (!r.ok) process.exitCode = 1;
    });
}
