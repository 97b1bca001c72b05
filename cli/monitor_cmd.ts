// `vxo monitor NAME|URL <command...>`: one human-monitor command against a
// running device model (QEMU's HMP over -monitor), output as HMP prints it.
// The control channel is imported when the command runs.
import type { Command } from "commander";
import { withProc } from "./remote.ts";

/** Runs one monitor command; returns HMP's output, or the error line HMP prints ("Error: ..."). */
export async function monitorRemote(nameOrUrl: string, cmdline: string): Promise<{ ok: boolean; output: string }> {
  return withProc("qemu", nameOrUrl, "monitor", async (ch, MSG) => {
    const r = await ch.request(MSG.MONITOR, { cmdline });
    return r.ok ? { ok: true, output: r.body.output } : { ok: false, output: `Error: ${r.message}\n` };
  });
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
