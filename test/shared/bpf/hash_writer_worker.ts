// Worker side of the HASH locking test in thread_view.test.ts: through its view
// of the map (the image's first map), inserts and deletes keys base..base+63
// `n` times while the main thread does the same on other keys.
import { parentPort, workerData } from "node:worker_threads";
import { BpfThreadKernel, type BpfThreadImage } from "../../../shared/bpf/thread_view.ts";

const { image, mapId, n, base, flagsAddr } = workerData as {
  image: BpfThreadImage; mapId: number; n: number; base: number; flagsAddr: number;
};
const k = new BpfThreadKernel(image, 1);
const map = k.maps.get(mapId)!;
const flags = new Int32Array(image.memory.buffer);
const key = new Uint8Array(4), dv = new DataView(key.buffer), one = new Uint8Array(8);
let errors = 0;
Atomics.store(flags, flagsAddr >> 2, 1);
for (let i = 0; i < n; i++) {
  dv.setUint32(0, base + (i & 63), true);
  if (map.sysUpdate(key, one, 0) !== 0) errors++;
  if (map.sysDelete(key) !== 0) errors++;
}
Atomics.store(flags, (flagsAddr >> 2) + 1, 1);
parentPort!.postMessage({ errors });
