// `vxo guest --qemu URL --name NAME` runs a guest kernel; `vxo guest exec NAME
// -- <command>` runs `ip`/`bpftool` inside it. The exec client reads the object
// files named after `obj`/`object` and sends their bytes along, because the
// guest has no filesystem of its own. The control channel and the guest
// kernel are imported when a command needs them (they are slow to load).
import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { ENOENT, KernelError } from "../shared/errno.ts";
import { withProc } from "./remote.ts";

/** The files a guest command line refers to (`obj FILE`). */
export function filesOf(argv: readonly string[]): Array<{ path: string; data: Uint8Array }> {
  const out: Array<{ path: string; data: Uint8Array }> = [];
  for (let i = 0; i + 1 < argv.length; i++) {
    if (argv[i] !== "obj" && argv[i] !== "object") continue;
    const path = argv[i + 1]!;
    try {
      out.push({ path, data: new Uint8Array(readFileSync(path)) });
    } catch (e) {
      throw new KernelError(ENOENT, `Cannot read ${path}: ${(e as Error).message}`);
    }
  }
  return out;
}

/** Runs one command in a guest; returns its status and output. */
export async function guestExecRemote(nameOrUrl: string, argv: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  const files = filesOf(argv);
  return withProc("guest", nameOrUrl, "guest-exec", async (ch, MSG) => {
    const r = await ch.request(MSG.EXEC, { argv, files }, 120_000);
    if (!r.ok) throw new KernelError(r.errno, `Cannot run command in guest ${nameOrUrl}: ${r.message}`);
    return r.body;
  });
}

/** Registers `vxo guest`. */
export function addGuestCommands(program: Command): void {
  const guest = program.command("guest").description("the guest kernel (virtio_net driver side) and its tools");
  guest
    .command("run", { isDefault: true })
    .description("run a guest kernel process (default: `vxo guest --qemu URL --name NAME`)")
    .requiredOption("--qemu <url>", "device model: VM name or ws:// URL")
    .requiredOption("--name <name>", "guest name (runtime directory)")
    .option("--listen <url>", "ws://HOST:PORT for exec clients", "ws://127.0.0.1:0")
    .action(async (o: { qemu: string; name: string; listen: string }) => {
      const [{ runGuest }, { lookupProc }] = await Promise.all([import("../guest/main.ts"), import("../shared/runtime_dir.ts")]);
      process.exitCode = await runGuest({ qemu: lookupProc("qemu", o.qemu), name: o.name, listen: o.listen });
    });
  guest
    .command("exec")
    .description("run ip or bpftool inside the guest: vxo guest exec NAME -- ip link show")
    .argument("<guest>", "guest name or ws:// URL")
    .argument("<command...>", "command line (after --)")
    .action(async (name: string, argv: string[]) => {
      const r = await guestExecRemote(name, argv);
      process.stdout.write(r.stdout);
      process.stderr.write(r.stderr);
      process.exitCode = r.status;
    });
}
