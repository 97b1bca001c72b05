// Setup shared by the no-allocation probes (alloc_probe.ts for the interpreter,
// test/shared/bpf/jit/alloc_probe_jit.ts for the JIT): reads `<object> [runs]`
// from argv, loads the object's first program into a fresh BpfKernel and
// makes XdpFrames holding one 64-byte IPv4/UDP frame. Runs before BEGIN, so
// what it allocates is not counted.
import { readFileSync } from "node:fs";
import path from "node:path";
import { openObject } from "../../shared/bpf/libbpf/object.ts";
import { BpfKernel } from "../../shared/bpf/syscall.ts";
import { loadObject } from "../../shared/bpf/libbpf/libbpf.ts";
import { XdpFrame } from "../../shared/bpf/runtime/xdp.ts";
import { buildFrame } from "../../shared/net/packets.ts";
import { IPPROTO_UDP } from "../../shared/net/headers.ts";
import { PROGRAMS_DIR } from "./repo.ts";

export function setUpAllocProbe(argv: readonly string[] = process.argv.slice(2)) {
  const [objFile, runsArg] = argv;
  const runs = Number(runsArg ?? "1000000");
  const spec = openObject(readFileSync(path.join(PROGRAMS_DIR, objFile!)), { file: objFile });
  const kernel = new BpfKernel();
  const prog = loadObject(kernel, spec).progList[0]!;
  const pkt = buildFrame({ l3: "ipv4", l4: IPPROTO_UDP, frameLen: 64 });
  /** A frame prepared on ifindex 1, rx queue 0, holding the packet. */
  const newFrame = (): XdpFrame => {
    const f = new XdpFrame(kernel.vm);
    f.prepare(kernel.vm, pkt.length, 1, 0);
    kernel.mem.u8.set(pkt, f.dataAddr());
    return f;
  };
  return { runs, kernel, prog, newFrame };
}
