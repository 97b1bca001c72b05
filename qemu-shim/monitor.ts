// The human monitor of one VM (QEMU monitor/hmp-cmds.c subset): `info status`,
// `info offload`, `info migrate`, `migrate URI`, `system_reset`, `help`. Errors
// are printed as HMP does ("Error: ..."), and also returned as errno.
import { EINVAL, KernelError } from "../shared/errno.ts";
import { MSG } from "../shared/proto/messages.ts";
import type { Channel } from "../shared/proto/channel.ts";
import type { VirtioNetDevice } from "./virtio_net.ts";

const HELP = [
  "help                    -- show this help",
  "info status             -- show the VM status",
  "info offload            -- show XDP offload state, quotas and host objects of this device",
  "info migrate            -- show migration blockers",
  "migrate uri             -- migrate to URI (file:PATH); refused while XDP offload is active",
  "system_reset            -- reset the system (frees every offloaded object)",
].join("\n");

/** Runs one monitor command line; returns its output. Throws KernelError for HMP errors. */
export async function monitorCommand(dev: VirtioNetDevice, name: string, cmdline: string): Promise<string> {
  const argv = cmdline.trim().split(/\s+/).filter((s) => s !== "");
  const o = dev.offload;
  const mig = o.migration;
  switch (argv[0]) {
    case undefined:
      return "";
    case "help":
    case "?":
      return HELP + "\n";
    case "info":
      switch (argv[1]) {
        case "status":
          return `VM status: ${mig.runState}\n`;
        case "migrate":
          return mig.blockers.length === 0 ? "No migration blockers\n" : mig.blockers.map((b) => `blocker: ${b}`).join("\n") + "\n";
        case "offload": {
          const q = o.quotas;
          const lines = [
            `net0: guest ${dev.guestName || "(none)"}  xdp-offload ${dev.hasOffload ? "negotiated" : "off"}  fd-remap ${o.remap}`,
            `  host ${o.host !== null && o.host.isOpen ? "connected" : "disconnected"}`,
            `  maps ${o.fds.maps.size}/${q.maxMaps}  map-bytes ${o.mapBytes}/${q.maxMapBytes}  max-insns ${q.maxInsns}  max-cmds-per-sec ${q.maxCmdsPerSec || "unlimited"}`,
            `  progs ${o.fds.progs.size}  attached ${o.attachedHandle === 0 ? "none" : `handle ${o.attachedHandle}`}`,
            `  ctrl commands ${dev.ctrlCount}`,
          ];
          return lines.join("\n") + "\n";
        }
        default:
          throw new KernelError(EINVAL, `unknown info command '${argv[1] ?? ""}'`);
      }
    case "migrate": {
      const uri = argv[argv.length - 1];
      if (argv.length < 2 || uri === undefined) throw new KernelError(EINVAL, "Parameter 'uri' is missing");
      mig.migrate(uri, () => ({ name, guest: dev.guestName, features: dev.guestFeatures.toString(16) }));
      return "";
    }
    case "system_reset":
      await dev.systemReset("system_reset from the monitor");
      return "";
    default:
      throw new KernelError(EINVAL, `unknown command: '${argv[0]}'`);
  }
}

/** Registers the MONITOR handler on a connection. */
export function attachMonitor(ch: Channel, dev: VirtioNetDevice, name: string): void {
  ch.handle(MSG.MONITOR, async (req) => ({ output: await monitorCommand(dev, name, req.cmdline) }));
}
