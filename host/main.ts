// `vxo host` process entry: the host kernel that owns offloaded maps and
// programs and the taps of every guest NIC (the hypervisor side of the RFC:
// QEMU calls into it through libbpf). Listens for shims and CLI clients.
import { BpfKernel } from "../shared/bpf/syscall.ts";
import { listen, type Listener } from "../shared/proto/channel.ts";
import { OFFLOADABLE_MAP_TYPES, defaultCaps } from "../shared/bpf/offload/caps.ts";
import { type RunningProc, announceListening, jsonLog, runUntilSignal } from "../shared/runtime_dir.ts";
import { registerHostHandlers } from "./control.ts";
import { OffloadState } from "./offload_state.ts";
import { shutdownVerifier } from "../shared/bpf/verifier/pool.ts";
import { DEFAULT_TAP_RX_PROG, TapDatapaths, type XdpOffloadHook } from "./tap_datapath.ts";

export interface HostOptions {
  listen: string;
  name: string;
  backend: "host";
  /** Map types the host offers for offload (capability negotiation). */
  mapTypes?: readonly number[];
  /** Where the offloaded program runs in each tap's datapath (default recvmsg, the RFC's). */
  xdpOffloadHook?: XdpOffloadHook;
  /** The taps' Rx-path XDP program (default xdp_drop.o; null: none). */
  tapRxProg?: string | null;
  /** vhost busy polling of each tap's worker, in us (QEMU's tap poll-us, VHOST_SET_VRING_BUSYLOOP_TIMEOUT); 0: off. */
  pollUs?: number;
}

export interface RunningHost extends RunningProc {
  readonly state: OffloadState;
  readonly datapaths: TapDatapaths;
}

/** Starts the host: listens, prints `listening URL`, registers in the runtime dir. */
export async function startHost(o: HostOptions): Promise<RunningHost> {
  const log = jsonLog("host");
  // A shared memory: the taps' datapath threads run the offloaded programs and reach their maps.
  const state = new OffloadState(new BpfKernel({ sharedMemory: true }));
  const caps = defaultCaps(o.mapTypes ?? OFFLOADABLE_MAP_TYPES);
  const datapaths = new TapDatapaths(state.kernel, {
    hook: o.xdpOffloadHook ?? "recvmsg", tapRxProg: o.tapRxProg === undefined ? DEFAULT_TAP_RX_PROG : o.tapRxProg, log,
    busyloopTimeoutNs: (o.pollUs ?? 0) * 1000,
  });
  const l: Listener = await listen(o.listen, (ch) => registerHostHandlers(ch, state, { caps, log, datapaths }));
  const unregister = announceListening("host", o.name, l.url, log, { backend: o.backend });
  return {
    url: l.url,
    state,
    datapaths,
    stop: async () => {
      await shutdownVerifier(); // loads still verifying are answered EINTR
      unregister();
      await l.close();
      await datapaths.stopAll(); // no datapath thread outlives the host
      log("exit", {});
    },
  };
}

/** Runs until SIGTERM/SIGINT, then exits cleanly (status 0). */
export function runHost(o: HostOptions): Promise<number> {
  return runUntilSignal(startHost(o));
}
