// `ethtool` in the guest: `-S DEV` prints the driver's statistics as
// ethtool(8) does ("NIC statistics:" then one "     name: value" line each,
// in the driver's order: virtio_net's rx_queue_0_* and tx_queue_0_*), and
// `-i DEV` the driver information. Other forms are refused as ethtool refuses
// what it does not know.
import type { GuestKernel } from "./netdev.ts";
import type { ToolIo } from "./iproute.ts";

export function ethtoolCommand(k: GuestKernel, argv: string[], io: ToolIo): number {
  const [opt, dev, ...rest] = argv;
  if ((opt === "-S" || opt === "--statistics" || opt === "-i" || opt === "--driver" || opt === "-d" || opt === "--register-dump") &&
    dev !== undefined && rest.length === 0) {
    if (dev !== k.eth0.name) {
      io.err.push(`netlink error: no device matches name (offset 24)`);
      io.err.push(`netlink error: No such device`);
      return 1;
    }
    if (opt === "-i" || opt === "--driver") {
      io.out.push("driver: virtio_net", "version: 1.0.0", "firmware-version: ", "expansion-rom-version: ", "bus-info: 0000:00:03.0",
        "supports-statistics: yes", "supports-test: no", "supports-eeprom-access: no", "supports-register-dump: no",
        "supports-priv-flags: no");
      return 0;
    }
    const qp = k.datapath;
    if ((opt === "-d" || opt === "--register-dump") && qp !== null) {
      // virtio_net has no get_regs; this dump is the emulator's: the driver's view of both virtqueues.
      for (const [name, vq] of [["rx", qp.rxvq], ["tx", qp.txvq]] as const) {
        const st = vq.debugState();
        io.out.push(`${name}vq: ` + Object.entries(st).map(([a, b]) => `${a}=${b}`).join(" "));
      }
      io.out.push(`napi_scheduled=${qp.napiScheduled} polls=${qp.polls} refills=${qp.refills} free_pages=${qp.pool.freeCountQuiesced()}`);
      return 0;
    }
    if (qp === null) {
      io.err.push("no stats available");
      return 95; // EOPNOTSUPP, as ethtool exits with the ioctl's errno
    }
    io.out.push("NIC statistics:");
    for (const [name, v] of qp.ethtoolStats()) io.out.push(`     ${name}: ${v}`);
    return 0;
  }
  if (opt === undefined) io.err.push("ethtool: bad command line argument(s)", "For more information run ethtool -h");
  else io.err.push(`ethtool: bad command line argument(s)`, "For more information run ethtool -h");
  return 1;
}
