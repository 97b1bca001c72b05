// The batch map commands as a script run two ways: on the real kernel through
// test/helpers/bpf_map_batch.c (libbpf's bpf_map_lookup_batch() and friends,
// compiled with clang against libbpf-dev once per source version), and on our
// BpfKernel. Both print the same JSON lines (see the C file's header), so a test
// compares them line by line.
import { execa, execaSync } from "execa";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { BpfKernel } from "../../shared/bpf/syscall.ts";
import type { BpfMap } from "../../shared/bpf/maps/map.ts";
import {
  BPF_MAP_DELETE_BATCH, BPF_MAP_LOOKUP_AND_DELETE_BATCH, BPF_MAP_LOOKUP_BATCH, BPF_MAP_UPDATE_BATCH,
} from "../../shared/bpf/isa/uapi.ts";
import { REPO_ROOT } from "./repo.ts";

/** One JSON line of either side. */
export interface BatchLine {
  op: string;
  /** Absent on dump lines. */
  errno?: number;
  count?: number;
  out_batch?: string;
  keys?: string;
  values?: string;
}

const SRC = path.join(REPO_ROOT, "test/helpers/bpf_map_batch.c");
let binPath: string | null = null;

/** Path of the compiled helper, compiling it on first use. Throws when clang or libbpf is missing. */
export function mapBatchHelperPath(): string {
  if (binPath !== null) return binPath;
  const hash = createHash("sha1").update(readFileSync(SRC)).digest("hex").slice(0, 12);
  const dir = path.join(tmpdir(), "vxo-map-batch");
  const bin = path.join(dir, `bpf_map_batch-${hash}`);
  if (!existsSync(bin)) {
    mkdirSync(dir, { recursive: true });
    const tmp = `${bin}.${process.pid}.tmp`;
    const r = execaSync("clang", ["-O1", "-o", tmp, SRC, "-lbpf"], { reject: false });
    if (r.exitCode !== 0) {
      throw new Error(r.failed && r.exitCode === undefined ? "clang not found" : `clang -lbpf failed (libbpf-dev missing?): ${r.stderr}`);
    }
    renameSync(tmp, bin); // atomic: parallel workers never see a half-written binary
  }
  binPath = bin;
  return bin;
}

/** Why the kernel side cannot run here, or null when it can. */
export function mapBatchOracleUnavailable(): string | null {
  if (process.getuid?.() !== 0) return "not root: BPF_MAP_CREATE needs CAP_BPF";
  try {
    mapBatchHelperPath();
  } catch (e) {
    return (e as Error).message;
  }
  const r = execaSync(mapBatchHelperPath(), [], { input: "map 1 4 4 1 0\n", reject: false });
  if (r.exitCode !== 0 || !r.stdout.includes('"errno":0')) return `cannot create a map in this kernel: ${r.stdout}${r.stderr}`;
  return null;
}

/** Runs the script on the kernel. */
export async function kernelMapBatch(script: string): Promise<BatchLine[]> {
  const r = await execa(mapBatchHelperPath(), [], { input: script, reject: false, maxBuffer: 1 << 28 });
  if (r.exitCode !== 0) throw new Error(`bpf_map_batch exited ${r.exitCode}: ${r.stderr}`);
  return r.stdout.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as BatchLine);
}

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");

function parseHex(s: string, minLen: number): Uint8Array {
  const b = s === "-" ? new Uint8Array(0) : new Uint8Array(Buffer.from(s, "hex"));
  if (b.length >= minLen) return b;
  const out = new Uint8Array(minLen);
  out.set(b);
  return out;
}

/** -errno or 0 as a positive errno (never -0). */
const errnoOf = (rc: number): number => (rc === 0 ? 0 : -rc);

const BATCH_CMD: Record<string, number> = {
  lookup_batch: BPF_MAP_LOOKUP_BATCH, lookup_and_delete_batch: BPF_MAP_LOOKUP_AND_DELETE_BATCH,
  update_batch: BPF_MAP_UPDATE_BATCH, delete_batch: BPF_MAP_DELETE_BATCH,
};

/** Runs the script on a fresh BpfKernel, answering as the C helper does. */
export function ourMapBatch(script: string, k = new BpfKernel()): BatchLine[] {
  const out: BatchLine[] = [];
  let m: BpfMap | null = null;
  let obLen = 4;
  let prevOut = new Uint8Array(512).fill(0xee);
  for (const line of script.split("\n")) {
    const w = line.trim().split(/\s+/);
    const op = w[0]!;
    if (op === "") continue;
    if (op === "map") {
      const [type, ks, vs, max, flags] = w.slice(1).map(Number) as [number, number, number, number, number];
      const r = k.mapCreate({ mapType: type, keySize: ks, valueSize: vs, maxEntries: max, mapFlags: flags, name: "vxo_batch" });
      m = typeof r === "number" ? null : r;
      obLen = Math.max(4, ks);
      prevOut = new Uint8Array(512).fill(0xee);
      out.push({ op, errno: typeof r === "number" ? errnoOf(r) : 0 });
      continue;
    }
    if (m === null) throw new Error(`no map for ${line}`);
    const ks = m.keySize, vs = m.userValueSize;
    if (op === "update") {
      out.push({ op, errno: errnoOf(m.sysUpdate(parseHex(w[1]!, ks), parseHex(w[2]!, vs), Number(w[3]))) });
    } else if (op === "lookup_batch" || op === "lookup_and_delete_batch") {
      const cursor = w[1]!, n = Number(w[2]);
      const inBatch = cursor === "-" ? null : cursor === "prev" ? prevOut.slice() : parseHex(cursor, 512);
      const b = {
        inBatch, outBatch: new Uint8Array(512).fill(0xee), keys: new Uint8Array(n * ks), values: new Uint8Array(n * vs),
        count: n, elemFlags: Number(w[3]), flags: Number(w[4]),
      };
      const rc = k.mapBatch(BATCH_CMD[op]!, m.id, b);
      prevOut = b.outBatch;
      const shown = b.count <= n ? b.count : 0;
      out.push({
        op, errno: errnoOf(rc), count: b.count, out_batch: hex(b.outBatch.subarray(0, obLen)),
        keys: hex(b.keys.subarray(0, shown * ks)), values: hex(b.values.subarray(0, shown * vs)),
      });
    } else if (op === "update_batch" || op === "delete_batch") {
      const n = Number(w[1]);
      const b = {
        inBatch: null, outBatch: new Uint8Array(512).fill(0xee), keys: parseHex(w[3]!, 0),
        values: op === "update_batch" ? parseHex(w[4]!, 0) : new Uint8Array(0), count: n, elemFlags: Number(w[2]), flags: 0,
      };
      const rc = k.mapBatch(BATCH_CMD[op]!, m.id, b);
      out.push({ op, errno: errnoOf(rc), count: b.count, out_batch: hex(b.outBatch.subarray(0, obLen)), keys: "", values: "" });
    } else if (op === "dump") {
      let keys = "", values = "";
      let prev: Uint8Array | null = null;
      for (;;) {
        const nk = new Uint8Array(ks);
        if (m.sysGetNextKey(prev, nk) !== 0) break;
        const v = new Uint8Array(vs);
        if (m.sysLookup(nk, v) === 0) {
          keys += hex(nk);
          values += hex(v);
        }
        prev = nk;
      }
      out.push({ op, keys, values });
    } else {
      throw new Error(`unknown command ${op}`);
    }
  }
  return out;
}
