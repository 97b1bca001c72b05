// `vxo host [--listen URL] [--backend host]` runs the host kernel process;
// `vxo host show [NAME|URL] [--json]` asks a running host which taps carry an
// offloaded program from which guest, and which maps each guest owns.
// What the commands run is imported when they run (the host kernel, the
// control channel), not when vxo starts.
import type { Command } from "commander";
import { EINVAL, KernelError } from "../shared/errno.ts";
import type { HostShow } from "../host/show.ts";
import { withProc } from "./remote.ts";

async function parseMapTypes(list: string): Promise<number[]> {
  const { MAP_TYPE_NAMES } = await import("../shared/bpf/isa/uapi.ts");
  return list.split(",").map((n) => {
    const e = Object.entries(MAP_TYPE_NAMES).find(([, v]) => v === n.trim());
    if (e === undefined) throw new KernelError(EINVAL, `Unknown map type '${n}'`);
    return Number(e[0]);
  });
}

/** Fetches `vxo host show` data from a running host. */
export async function fetchHostShow(nameOrUrl: string): Promise<HostShow> {
  return withProc("host", nameOrUrl, "host-show", async (ch, MSG) => {
    const r = await ch.request(MSG.HOST_SHOW, {});
    if (!r.ok) throw new KernelError(r.errno, `Cannot show host state: ${r.message}`);
    return JSON.parse(r.body.json) as HostShow;
  });
}

/** Registers `vxo host`. */
export function addHostCommands(program: Command): void {
  const host = program.command("host").description("the host kernel: offloaded maps/programs and guest taps");
  host
    .command("run", { isDefault: true })
    .description("run the host kernel process (default: `vxo host --listen URL`)")
    .option("--listen <url>", "ws://HOST:PORT to listen on (port 0: ephemeral)", "ws://127.0.0.1:0")
    .option("--backend <kind>", "execution backend", "host")
    .option("--name <name>", "name in the runtime directory", "host")
    .option("--offload-map-types <list>", "map types offered for offload", "hash,array")
    .action(async (o: { listen: string; backend: string; name: string; offloadMapTypes: string }) => {
      if (o.backend !== "host") throw new KernelError(EINVAL, `Unknown backend '${o.backend}' (supported: host)`);
      const mapTypes = await parseMapTypes(o.offloadMapTypes);
      const { runHost } = await import("../host/main.ts");
      process.exitCode = await runHost({ listen: o.listen, name: o.name, backend: "host", mapTypes });
    });
  host
    .command("show")
    .description("taps with offloaded programs, maps with owner and bytes")
    .argument("[host]", "host name or ws:// URL", "host")
    .option("--json", "JSON output")
    .action(async (name: string, o: { json?: boolean }) => {
      const s = await fetchHostShow(name);
      const { renderHostShow } = await import("../host/show.ts");
      process.stdout.write(o.json === true ? JSON.stringify(s) + "\n" : renderHostShow(s));
    });
}
