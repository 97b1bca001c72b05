// `vxo qemu`: the device model of one guest's virtio-net (the QEMU process),
// with its XDP offload options and quotas. The device model is imported when
// the command runs.
import type { Command } from "commander";
import { EINVAL, KernelError } from "../shared/errno.ts";

function num(v: string, what: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new KernelError(EINVAL, `Invalid ${what} '${v}': expected a non-negative integer`);
  return n;
}

/** Registers `vxo qemu`. */
export function addQemuCommands(program: Command): void {
  program
    .command("qemu")
    .description("virtio-net device model of one guest (control queue, XDP offload relay, monitor)")
    .requiredOption("--host <url>", "host name or ws:// URL")
    .option("--listen <url>", "ws://HOST:PORT for the guest and monitor clients", "ws://127.0.0.1:0")
    .option("--name <name>", "VM name (runtime directory, host show)", "vm0")
    .option("--xdp-offload <on|off>", "offer VIRTIO_NET_F_XDP_OFFLOAD", "on")
    .option("--fd-remap <shim|guest>", "who maps guest handles to host objects", "shim")
    .option("--max-maps <n>", "offloaded maps quota (ENOSPC)", "64")
    .option("--max-map-bytes <b>", "offloaded map bytes quota (ENOSPC)", String(64 << 20))
    .option("--max-insns <n>", "offloaded program size limit (E2BIG)", "1000000")
    .option("--max-cmds-per-sec <r>", "control command rate limit, 0 = none (EAGAIN)", "0")
    .option("--no-cap-bpf", "run without CAP_BPF: the host refuses loads and map creation (EPERM)")
    .option("--only-migratable", "refuse to enable anything that blocks migration")
    .action(async (o: Record<string, string | boolean>) => {
      const onOff = o.xdpOffload;
      if (onOff !== "on" && onOff !== "off") throw new KernelError(EINVAL, `Invalid --xdp-offload '${String(onOff)}': on or off`);
      const remap = o.fdRemap;
      if (remap !== "shim" && remap !== "guest") throw new KernelError(EINVAL, `Invalid --fd-remap '${String(remap)}': shim or guest`);
      const [{ runQemu }, { lookupProc }] = await Promise.all([import("../qemu-shim/main.ts"), import("../shared/runtime_dir.ts")]);
      process.exitCode = await runQemu({
        host: lookupProc("host", String(o.host)), listen: String(o.listen), name: String(o.name), xdpOffload: onOff === "on",
        fdRemap: remap, maxMaps: num(String(o.maxMaps), "--max-maps"), maxMapBytes: num(String(o.maxMapBytes), "--max-map-bytes"),
        maxInsns: num(String(o.maxInsns), "--max-insns"), maxCmdsPerSec: num(String(o.maxCmdsPerSec), "--max-cmds-per-sec"),
        capBpf: o.capBpf !== false, onlyMigratable: o.onlyMigratable === true,
      });
    });
}
