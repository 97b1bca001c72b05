// One emulated kernel's BPF objects as seen from another host thread. In the
// kernel every CPU runs programs on the same memory; here the host's datapath
// stages run on worker_threads, so the owner (the thread holding the
// BpfKernel: its allocator, ids, control-plane ops) exports the programs a
// thread will run (exportBpfThread), and the thread rebuilds them over the
// same shared WebAssembly.Memory (BpfThreadKernel): same program image, same
// map addresses, its own VM (stack and JIT state in an arena the owner
// carved for it) and CPU number. Nothing is copied per packet and no message
// crosses threads per packet.
//
// Which maps a thread can reach: those whose whole state is in the shared
// memory (ARRAY, PERCPU_ARRAY, DEVMAP with 4-byte values, HASH and
// PERCPU_HASH, which keep their table there on a shared memory, and
// PROG_ARRAY, whose slots hold program ids there). The others (LRU hashes,
// whose lookups write JS lists; DEVMAP_HASH; devmap entries with a program)
// keep state in the owner's JS objects; exporting a program that uses one
// fails with EOPNOTSUPP naming the map, never with a silently diverging copy.
//
// Tail calls: the image of a program carries every program reachable from it
// through the prog arrays it uses (their current slots, transitively), and a
// thread resolves a slot's id among the programs it was given. A program put
// into a slot later must reach the thread first (the owner adds its image,
// then writes the slot), as the kernel's program exists before it is stored;
// an id the thread does not know reads as an empty slot.
import { BpfMemory } from "./runtime/memory.ts";
import { BpfVm, type BpfVmEnv } from "./runtime/vm.ts";
import { BpfProg, type InsnAux } from "./runtime/prog.ts";
import { BpfInsns } from "./isa/insn.ts";
import { XDP_HELPERS } from "./runtime/helpers.ts";
import type { BpfKernel } from "./syscall.ts";
import type { BpfMap, BpfMapAttr, BpfMapEnv } from "./maps/map.ts";
import { ArrayMap } from "./maps/array_map.ts";
import { DevMap } from "./maps/devmap.ts";
import { HashMap } from "./maps/hashtab.ts";
import { ProgArrayMap } from "./maps/prog_array.ts";
import { EINVAL, ENOMEM, EOPNOTSUPP, KernelError } from "../errno.ts";
import {
  BPF_F_RDONLY_PROG, BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_DEVMAP, BPF_MAP_TYPE_PERCPU_ARRAY, BPF_MAP_TYPE_PROG_ARRAY, MAP_TYPE_NAMES,
} from "./isa/uapi.ts";

/** What a thread needs to rebuild one map. */
export interface BpfMapImage {
  readonly id: number;
  readonly attr: BpfMapAttr;
  readonly addr: number;
  readonly valuesStart: number;
  readonly valuesEnd: number;
  /** HASH/PERCPU_HASH: the address of the shared table; PROG_ARRAY: its slot table; 0 otherwise. */
  readonly table: number;
}

/** What a thread needs to rebuild one program (structured-cloneable). */
export interface BpfProgImage {
  readonly id: number;
  readonly name: string;
  readonly progType: number;
  readonly insns: Uint8Array;
  readonly ldLo: Int32Array;
  readonly ldHi: Int32Array;
  readonly usedMaps: readonly number[];
  readonly gplCompatible: boolean;
  readonly ifindex: number;
  readonly verified: boolean;
  readonly insnAux: InsnAux | null;
}

/** Everything a thread needs, sent once with workerData or a control message. */
export interface BpfThreadImage {
  readonly memory: WebAssembly.Memory;
  /** Block of the shared memory this thread allocates its VM state from. */
  readonly arena: readonly [number, number];
  readonly nCpus: number;
  readonly maps: readonly BpfMapImage[];
  readonly progs: readonly BpfProgImage[];
}

/** Bytes of a thread's arena by default: its VM stack and JIT state block, with room to spare. */
export const BPF_THREAD_ARENA_BYTES = 64 * 1024;

/** Null when `m` can be reached from another thread, else why not. */
export function mapThreadUnsupported(m: BpfMap): string | null {
  if (m.mapType === BPF_MAP_TYPE_ARRAY || m.mapType === BPF_MAP_TYPE_PERCPU_ARRAY) return null;
  if (m.mapType === BPF_MAP_TYPE_DEVMAP && m.valueSize === 4) return null;
  if (m instanceof HashMap && m.tableAddr !== 0) return null;
  if (m instanceof ProgArrayMap) return null;
  const what = m.mapType === BPF_MAP_TYPE_DEVMAP ? "devmap entries with a program (8-byte values)" : `${MAP_TYPE_NAMES[m.mapType] ?? `type ${m.mapType}`} maps`;
  return `map ${m.id} (${m.name}): ${what} keep their state in the owner thread and cannot be used from a datapath thread yet`;
}

/**
 * Owner side: the image of `progs` (and the maps they use) for another thread. Allocates the
 * thread's arena. Throws KernelError: EINVAL when the kernel's memory is not shared,
 * EOPNOTSUPP when a program uses a map a thread cannot reach, ENOMEM.
 */
export function exportBpfThread(kernel: BpfKernel, progs: readonly BpfProg[], arenaBytes = BPF_THREAD_ARENA_BYTES): BpfThreadImage {
  if (!kernel.mem.shared) throw new KernelError(EINVAL, "the kernel's BPF memory is not shared: create it with sharedMemory: true");
  const maps = new Map<number, BpfMapImage>();
  const all = tailCallClosure(kernel, progs);
  for (const p of all) {
    for (const m of p.usedMaps) {
      const why = mapThreadUnsupported(m);
      if (why !== null) throw new KernelError(EOPNOTSUPP, `prog ${p.id} (${p.name}): ${why}`);
      maps.set(m.id, {
        id: m.id, addr: m.addr, valuesStart: m.valuesStart, valuesEnd: m.valuesEnd,
        table: m instanceof HashMap ? m.tableAddr : m instanceof ProgArrayMap ? m.slotsAddr : 0,
        attr: {
          mapType: m.mapType, keySize: m.keySize, valueSize: m.valueSize, maxEntries: m.maxEntries, mapFlags: m.mapFlags, name: m.name,
          mapIfindex: m instanceof ProgArrayMap ? m.mapIfindex : 0,
        },
      });
    }
  }
  // An image added to a running thread (BpfThreadKernel.addImage) needs no arena: arenaBytes 0.
  const lo = arenaBytes === 0 ? 0 : kernel.mem.alloc(arenaBytes, 4096);
  if (lo === 0 && arenaBytes !== 0) throw new KernelError(ENOMEM, "no memory for a thread arena");
  return {
    memory: kernel.mem.memory, arena: [lo, lo + arenaBytes], nCpus: kernel.nCpus, maps: [...maps.values()],
    progs: all.map((p) => ({
      id: p.id, name: p.name, progType: p.progType, insns: p.insns.toBytes(), ldLo: p.ldLo, ldHi: p.ldHi,
      usedMaps: p.usedMaps.map((m) => m.id), gplCompatible: p.gplCompatible, ifindex: p.ifindex, verified: p.verified,
      insnAux: p.insnAux,
    })),
  };
}

/**
 * `progs` and every program their tail calls can reach now: the programs in the slots of the
 * prog arrays they use, and so on. Each program once, `progs` first.
 */
export function tailCallClosure(kernel: BpfKernel, progs: readonly BpfProg[]): BpfProg[] {
  const out: BpfProg[] = [];
  const seen = new Set<number>();
  const queue = [...progs];
  while (queue.length > 0) {
    const p = queue.shift()!;
    if (seen.has(p.id)) continue;
    seen.add(p.id);
    out.push(p);
    for (const m of p.usedMaps) {
      if (!(m instanceof ProgArrayMap)) continue;
      for (let i = 0; i < m.maxEntries; i++) {
        const id = m.progIdAt(i);
        const q = id === 0 ? undefined : kernel.progs.get(id);
        if (q !== undefined && !seen.has(id)) queue.push(q);
      }
    }
  }
  return out;
}

/** Thread side: the programs and maps of an image, and a VM to run them on CPU `cpu`. */
export class BpfThreadKernel implements BpfMapEnv {
  readonly mem: BpfMemory;
  readonly nCpus: number;
  cpu: number;
  readonly vm: BpfVm;
  readonly maps: Map<number, BpfMap>;
  readonly progs: Map<number, BpfProg>;
  readonly #byAddr: Map<number, BpfMap>;

  constructor(image: BpfThreadImage, cpu: number, env: Partial<BpfVmEnv> = {}) {
    this.mem = BpfMemory.attach(image.memory, image.arena);
    this.nCpus = image.nCpus;
    this.cpu = cpu;
    this.maps = new Map();
    this.progs = new Map();
    this.#byAddr = new Map();
    const byAddr = this.#byAddr;
    this.vm = new BpfVm(this.mem, XDP_HELPERS, { ...env, mapByAddr: (a) => byAddr.get(a) });
    this.vm.cpu = cpu;
    this.addImage(image);
  }

  /**
   * Adds the maps and programs of another image of the same kernel (a program attached while
   * the thread runs). The owner may have grown the memory since: the views are refreshed first.
   */
  addImage(image: BpfThreadImage): void {
    this.mem.refresh();
    for (const mi of image.maps) {
      if (this.maps.has(mi.id)) continue;
      const m = mi.attr.mapType === BPF_MAP_TYPE_DEVMAP
        ? DevMap.view(this, mi.attr, mi.id, mi.addr, mi.valuesStart)
        : mi.attr.mapType === BPF_MAP_TYPE_PROG_ARRAY
        ? ProgArrayMap.view(this, mi.attr, mi.id, mi.addr, mi.table)
        : mi.table !== 0
          ? HashMap.view(this, mi.attr, mi.id, mi.addr, mi.valuesStart, mi.valuesEnd, mi.table)
          : ArrayMap.view(this, mi.attr, mi.id, mi.addr, mi.valuesStart, mi.valuesEnd);
      this.maps.set(m.id, m);
      this.#byAddr.set(m.addr, m);
      this.vm.addMapRegion(m, (m.mapFlags & BPF_F_RDONLY_PROG) === 0);
    }
    for (const pi of image.progs) {
      if (this.progs.has(pi.id)) continue; // ids are never reused: the same program
      const insns = BpfInsns.fromBytes(pi.insns);
      const p = new BpfProg({
        id: pi.id, name: pi.name, progType: pi.progType, insns, gplCompatible: pi.gplCompatible,
        usedMaps: pi.usedMaps.map((id) => this.maps.get(id)!),
      });
      p.ldLo.set(pi.ldLo);
      p.ldHi.set(pi.ldHi);
      p.ifindex = pi.ifindex;
      p.verified = pi.verified;
      p.insnAux = pi.insnAux;
      this.progs.set(p.id, p);
    }
  }

  // BpfMapEnv: control-plane checks happen on the owner's thread.
  progByFd(_fd: number): unknown | null {
    return null;
  }
  /** Tail-call targets: the programs this thread was given. */
  progById(id: number): unknown | null {
    return this.progs.get(id) ?? null;
  }
  hasIfindex(_ifindex: number): boolean {
    return false;
  }

  mapByAddr(addr: number): BpfMap | undefined {
    return this.#byAddr.get(addr);
  }
}
