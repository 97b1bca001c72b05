// `vxo guest` process entry: the guest kernel. Probes its virtio-net device
// at the shim, keeps its own BPF subsystem, and runs guest tools (`ip`,
// `bpftool`) for `vxo guest exec NAME -- ...`. The guest has no filesystem:
// object files arrive with the exec request. Exits when its device model goes
// away (the VM is gone).
import { listen, type Listener } from "../shared/proto/channel.ts";
import { MSG, VXO_PROTO_VERSION } from "../shared/proto/messages.ts";
import { EPROTO, KernelError } from "../shared/errno.ts";
import { announceListening, jsonLog, untilSignal } from "../shared/runtime_dir.ts";
import { GuestKernel } from "./netdev.ts";
import { VirtioNetDriver } from "./virtio_net.ts";
import { offloadDeviceReset } from "./xdp_offload.ts";
import { ipCommand, type ToolIo } from "./iproute.ts";
import { bpftoolCommand } from "./bpftool.ts";
import { ethtoolCommand } from "./ethtool.ts";
import { startDataplane } from "./net/dataplane.ts";
import { shutdownVerifier } from "../shared/bpf/verifier/pool.ts";

export interface GuestOptions {
  qemu: string;
  name: string;
  listen: string;
}

/** Runs one guest command line. Returns status and output. */
export async function guestExec(
  k: GuestKernel, drv: VirtioNetDriver, argv: string[], files: ReadonlyMap<string, Uint8Array>,
): Promise<{ status: number; stdout: string; stderr: string }> {
  const io: ToolIo = { out: [], err: [], files };
  let status: number;
  const tool = argv[0] ?? "";
  if (tool === "ip") status = await ipCommand(k, drv, argv.slice(1), io);
  else if (tool === "bpftool") status = await bpftoolCommand(k, drv, argv.slice(1), io);
  else if (tool === "ethtool") status = ethtoolCommand(k, argv.slice(1), io);
  else {
    io.err.push(`sh: ${tool}: command not found`);
    status = 127;
  }
  const join = (l: string[]) => (l.length === 0 ? "" : l.join("\n") + "\n");
  return { status, stdout: join(io.out), stderr: join(io.err) };
}

/** Commands that change links (`ip link set ...`): they take the rtnl lock. */
function takesRtnl(argv: readonly string[]): boolean {
  return argv[0] === "ip" && argv.includes("set");
}

/** Starts the guest; resolves when it stops (SIGTERM or device gone). Returns the exit status. */
export async function runGuest(o: GuestOptions): Promise<number> {
  const log = jsonLog("guest");
  const drv = await VirtioNetDriver.probe(o.qemu, o.name);
  const k = new GuestKernel(log);
  log("virtio_net_probe", { qemu: o.qemu, features: "0x" + drv.features.toString(16), xdpOffload: drv.hasXdpOffload });
  // eth0's data queues; without them (a host that runs no datapath) the control path still works.
  const dataplane = await startDataplane(k, drv, log).catch((e: unknown) => {
    log("dataplane_unavailable", { error: String(e) });
    return null;
  });
  drv.ch.handle(MSG.DEVICE_RESET, (req) => {
    log("device_reset", { reason: req.reason });
    offloadDeviceReset(k);
    return {};
  });
  // rtnl_lock: link changes (XDP attach/detach with their loads) run one at a time; other
  // commands run alongside, as `ip link show` answers while another task is in bpf(BPF_PROG_LOAD).
  let rtnl: Promise<unknown> = Promise.resolve();
  const l: Listener = await listen(o.listen, (ch) => {
    ch.handle(MSG.HELLO, (req) => {
      if (req.protoVersion !== VXO_PROTO_VERSION) {
        throw new KernelError(EPROTO, `Cannot negotiate: protocol version ${req.protoVersion}, guest speaks ${VXO_PROTO_VERSION}`);
      }
      return { protoVersion: VXO_PROTO_VERSION, features: drv.features, caps: drv.caps };
    });
    ch.handle(MSG.EXEC, (req) => {
      const files = new Map(req.files.map((f) => [f.path, f.data] as const));
      if (!takesRtnl(req.argv)) return guestExec(k, drv, req.argv, files);
      const run = rtnl.then(() => guestExec(k, drv, req.argv, files));
      rtnl = run.catch(() => undefined);
      return run;
    });
  });
  const unregister = announceListening("guest", o.name, l.url, log);
  const deviceGone = new Promise<number>((resolve) => drv.ch.onClose(() => resolve(1)));
  const status = await Promise.race([untilSignal().then(() => 0), deviceGone]);
  if (status !== 0) log("device_gone", { qemu: o.qemu });
  dataplane?.close();
  await shutdownVerifier(); // a load still verifying is answered EINTR
  unregister();
  drv.ch.close();
  await l.close();
  log("exit", { status });
  return status;
}
