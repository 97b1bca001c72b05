// `npm run samples`: loads the RFC's xdp1 (count per L4 protocol, XDP_DROP) and xdp2
// (count, swap MACs, XDP_TX) samples into an emulated kernel, runs them on a
// few sample packets through the XDP test-run path and prints what happened
// (what `npm start` did before the scenarios; scenarios/quickstart.ts now).
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { openObject } from "../shared/bpf/libbpf/object.ts";
import { BpfKernel } from "../shared/bpf/syscall.ts";
import { loadObject } from "../shared/bpf/libbpf/libbpf.ts";
import { xdpTestRun } from "../shared/bpf/runtime/test_run.ts";
import { XDP_ACTION_NAMES } from "../shared/bpf/isa/uapi.ts";
import { testCorpus } from "../shared/net/packets.ts";
import { KernelError } from "../shared/errno.ts";
import { jitRun } from "../shared/bpf/runtime/engine.ts";
import { interpRun } from "../shared/bpf/runtime/interp.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
const PROTO_NAMES: Record<number, string> = { 0: "other", 1: "icmp", 6: "tcp", 17: "udp", 47: "gre", 58: "icmpv6" };

const packets = testCorpus(0).filter((p) =>
  ["ipv4-udp-64", "ipv4-tcp-1500", "ipv6-udp-64", "ipv6-icmp-64", "vlan-ipv4-tcp-64", "qinq-ipv6-udp-1500", "arp-60", "runt-ipv4-udp-20"].includes(p.name));

function mac(b: Uint8Array, off: number): string {
  return [...b.subarray(off, off + 6)].map((x) => x.toString(16).padStart(2, "0")).join(":");
}

for (const name of ["xdp1", "xdp2"]) {
  const file = path.join(here, "programs", `${name}.o`);
  const spec = openObject(readFileSync(file), { file });
  const kernel = new BpfKernel();
  const obj = loadObject(kernel, spec);
  const prog = obj.progList[0]!;
  console.log(`\n== ${name}.o: program ${prog.name}, ${prog.insns.len} insns, tag ${prog.tag}`);
  console.log("packet                      len  action        dst mac -> out dst mac");
  for (const p of packets) {
    try {
      const r = xdpTestRun(kernel, prog, { dataIn: p.bytes });
      const act = XDP_ACTION_NAMES[r.retval] ?? `unknown(${r.retval})`;
      console.log(`${p.name.padEnd(26)} ${String(p.bytes.length).padStart(5)}  ${act.padEnd(12)}  ${mac(p.bytes, 0)} -> ${mac(r.dataOut, 0)}`);
    } catch (e) {
      if (!(e instanceof KernelError)) throw e;
      console.log(`${p.name.padEnd(26)} ${String(p.bytes.length).padStart(5)}  ${e.code}: ${e.message}`);
    }
  }
  const rxcnt = obj.maps.get("rxcnt");
  if (rxcnt !== undefined) {
    const key = new Uint8Array(4), val = new Uint8Array(rxcnt.userValueSize);
    const counts: string[] = [];
    for (let proto = 0; proto < rxcnt.maxEntries; proto++) {
      new DataView(key.buffer).setUint32(0, proto, true);
      if (rxcnt.sysLookup(key, val) !== 0) continue;
      const n = new DataView(val.buffer).getBigUint64(0, true);
      if (n > 0n) counts.push(`${PROTO_NAMES[proto] ?? `proto ${proto}`}=${n}`);
    }
    console.log(`rxcnt: ${counts.join(", ")}`);
  }
  const jit = xdpTestRun(kernel, prog, { dataIn: packets[0]!.bytes, repeat: 1000000, engine: jitRun });
  // The JIT compiles before its clock starts; the interpreter's counterpart is V8 compiling
  // the interpreter itself, so an untimed warm-up run goes first (else it would weigh in).
  xdpTestRun(kernel, prog, { dataIn: packets[0]!.bytes, repeat: 100000, engine: interpRun });
  const interp = xdpTestRun(kernel, prog, { dataIn: packets[0]!.bytes, repeat: 1000000, engine: interpRun });
  console.log(`per run (${packets[0]!.name}): JIT ${jit.durationNs} ns, reference interpreter ${interp.durationNs} ns (repeat 1000000 each, after a warm-up)`);
}
