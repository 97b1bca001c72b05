// Fixtures the map tests share: a BpfMapEnv standing in for the kernel around
// a map (kernel/bpf/syscall.c map_create's callers), createMap() that throws on
// an errno, and the key/value encodings a BPF_MAP_* syscall or a program's
// stack slot would carry.
import { BpfMemory } from "../../../../shared/bpf/runtime/memory.ts";
import type { BpfMap, BpfMapAttr, BpfMapEnv } from "../../../../shared/bpf/maps/map.ts";
import { createMap } from "../../../../shared/bpf/maps/index.ts";
import { progIdOf } from "../../../../shared/bpf/maps/map_common.ts";

/** A map environment whose program table a test can fill (PROG_ARRAY, DEVMAP program fds). */
export interface TestMapEnv extends BpfMapEnv {
  readonly progs: Map<number, unknown>;
}

export interface TestMapEnvOptions {
  /** Possible CPUs (per-CPU maps keep one value each); 4 when not given. */
  nCpus?: number;
  /** Program fds progByFd() resolves, as [fd, program]; none when not given. */
  progs?: Iterable<readonly [number, unknown]>;
  /** The netdevs hasIfindex() knows; every ifindex exists when not given. */
  ifindexes?: Iterable<number>;
  /** A shared BpfMemory (what host datapath threads use); private when not given. */
  sharedMemory?: boolean;
}

export function makeMapEnv(opts: TestMapEnvOptions = {}): TestMapEnv {
  const progs = new Map<number, unknown>(opts.progs ?? []);
  const netdevs = opts.ifindexes === undefined ? null : new Set(opts.ifindexes);
  return {
    mem: BpfMemory.create({ shared: opts.sharedMemory === true }),
    nCpus: opts.nCpus ?? 4,
    cpu: 0,
    progs,
    progByFd: (fd: number) => progs.get(fd) ?? null,
    progById: (id: number) => [...progs.values()].find((p) => progIdOf(p) === id) ?? null,
    hasIfindex: (ifindex: number) => netdevs === null || netdevs.has(ifindex),
  };
}

/** createMap() that throws when the attributes are refused. `id` seeds the hash maps' jhash. */
export function createMapOk<T extends BpfMap = BpfMap>(env: BpfMapEnv, a: BpfMapAttr, id: number): T {
  const m = createMap(env, a, id);
  if (typeof m === "number") throw new Error(`createMap failed: ${m}`);
  return m as T;
}

/** A little-endian u32 key or value. */
export function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
}

/** Puts bytes in BPF memory (a program's stack slot, at least 8 bytes) and returns the address. */
export function place(env: BpfMapEnv, b: Uint8Array): number {
  const a = env.mem.alloc(Math.max(b.length, 8));
  env.mem.write(a, b);
  return a;
}

/** The map's u32 keys in BPF_MAP_GET_NEXT_KEY order from a NULL key. */
export function keysInOrder(m: Pick<BpfMap, "keySize" | "sysGetNextKey">): number[] {
  const out: number[] = [];
  const next = new Uint8Array(m.keySize);
  let cur: Uint8Array | null = null;
  while (m.sysGetNextKey(cur, next) === 0) {
    out.push(new DataView(next.buffer).getUint32(0, true));
    cur = next.slice();
    if (out.length > 10000) throw new Error("get_next_key does not end");
  }
  return out;
}
