// Host-side bookkeeping of offloaded objects: one session per connected shim
// (one guest), the taps it owns, and the maps and programs it created, with
// the reference counts the kernel keeps (a program pins its maps, an attached
// program stays alive after its fd is closed). Freeing a session frees every
// object it owns, as netdevsim's nsim_bpf_uninit()/device removal does
// (kernel/bpf/offload.c bpf_offload_dev_netdev_unregister()).
import type { BpfKernel } from "../shared/bpf/syscall.ts";
import type { OffloadCaps } from "../shared/proto/messages.ts";
import { Tap } from "./tap.ts";
import { ECANCELED, KernelError } from "../shared/errno.ts";

/** A connected shim and the guest behind it. */
export class HostSession {
  readonly id: number;
  readonly guest: string;
  readonly capBpf: boolean;
  readonly taps: Tap[];
  readonly maps: Set<number>;
  readonly progs: Set<number>;
  readonly caps: OffloadCaps;
  readonly connectedAt: string;
  /** Aborted by a reset or close: the session's loads still verifying stop. */
  #loads: AbortController;
  /** The session's loads verify one at a time (one worker per guest at most). */
  #loadChain: Promise<unknown>;

  constructor(id: number, guest: string, capBpf: boolean, caps: OffloadCaps) {
    this.id = id;
    this.guest = guest;
    this.capBpf = capBpf;
    this.taps = [];
    this.maps = new Set();
    this.progs = new Set();
    this.caps = caps;
    this.connectedAt = new Date().toISOString();
    this.#loads = new AbortController();
    this.#loadChain = Promise.resolve();
  }

  /** Signal of the session's current incarnation (a load takes it when it arrives). */
  get loadSignal(): AbortSignal {
    return this.#loads.signal;
  }

  /** Runs `fn` after the session's earlier loads. */
  serializeLoad<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#loadChain.then(fn);
    this.#loadChain = run.catch(() => undefined);
    return run;
  }

  /** Stops the session's pending loads (they answer `reason`'s errno). */
  cancelLoads(reason: KernelError): void {
    this.#loads.abort(reason);
    this.#loads = new AbortController();
  }
}

interface ObjInfo {
  session: HostSession;
  tap: Tap;
  /** Guest handle refs (1 while the guest holds it) plus program refs (maps) or attach refs (progs). */
  refs: number;
}

/** All offload objects of one host kernel. */
export class OffloadState {
  readonly kernel: BpfKernel;
  readonly sessions: Set<HostSession>;
  readonly taps: Tap[];
  readonly mapInfo: Map<number, ObjInfo>;
  readonly progInfo: Map<number, ObjInfo>;
  #nextSession: number;
  #nextTap: number;
  #nextIfindex: number;

  constructor(kernel: BpfKernel) {
    this.kernel = kernel;
    this.sessions = new Set();
    this.taps = [];
    this.mapInfo = new Map();
    this.progInfo = new Map();
    this.#nextSession = 1;
    this.#nextTap = 0;
    this.#nextIfindex = 100;
  }

  /** Opens a session with `nics` taps (tapN names as QEMU's -netdev tap picks them). */
  openSession(guest: string, capBpf: boolean, nics: number, caps: OffloadCaps): HostSession {
    const s = new HostSession(this.#nextSession++, guest, capBpf, caps);
    for (let i = 0; i < nics; i++) {
      const t = new Tap(`tap${this.#nextTap++}`, this.#nextIfindex++, guest, i);
      this.kernel.addNetdev(t.ifindex, t.name);
      s.taps.push(t);
      this.taps.push(t);
    }
    this.sessions.add(s);
    return s;
  }

  /** Map `id` if `s` owns it. */
  ownedMap(s: HostSession, id: number): ObjInfo | undefined {
    const i = this.mapInfo.get(id);
    return i !== undefined && i.session === s ? i : undefined;
  }

  ownedProg(s: HostSession, id: number): ObjInfo | undefined {
    const i = this.progInfo.get(id);
    return i !== undefined && i.session === s ? i : undefined;
  }

  addMap(s: HostSession, tap: Tap, id: number): void {
    this.mapInfo.set(id, { session: s, tap, refs: 1 });
    s.maps.add(id);
  }

  /** A loaded program holds a reference on each map it uses. */
  addProg(s: HostSession, tap: Tap, id: number, usedMapIds: readonly number[]): void {
    this.progInfo.set(id, { session: s, tap, refs: 1 });
    s.progs.add(id);
    for (const m of usedMapIds) {
      const mi = this.mapInfo.get(m);
      if (mi !== undefined) mi.refs++;
    }
  }

  putMap(id: number): void {
    const i = this.mapInfo.get(id);
    if (i === undefined || --i.refs > 0) return;
    this.mapInfo.delete(id);
    i.session.maps.delete(id);
    this.kernel.mapFree(id);
  }

  putProg(id: number): void {
    const i = this.progInfo.get(id);
    if (i === undefined || --i.refs > 0) return;
    const prog = this.kernel.progs.get(id);
    this.progInfo.delete(id);
    i.session.progs.delete(id);
    this.kernel.progFree(id);
    if (prog !== undefined) for (const m of prog.usedMaps) this.putMap(m.id);
  }

  /** Attaches (or, with id 0, detaches) the offloaded program of `tap`; the slot holds a reference. */
  setTapProg(tap: Tap, id: number): void {
    const old = tap.progId;
    if (old === id) return;
    if (id !== 0) this.progInfo.get(id)!.refs++;
    tap.progId = id;
    if (old !== 0) this.putProg(old);
  }

  /** Frees every object of a session (reset keeps the taps; close removes them). Returns counts freed. */
  resetSession(s: HostSession, removeTaps: boolean): { maps: number; progs: number } {
    // pending verifications first: a cancelled load releases its map references before the maps go
    s.cancelLoads(new KernelError(ECANCELED, `verification cancelled: session of ${s.guest} ${removeTaps ? "closed" : "reset"}`));
    const counts = { maps: s.maps.size, progs: s.progs.size };
    for (const t of s.taps) t.progId = 0;
    for (const id of [...s.progs]) {
      this.progInfo.delete(id);
      this.kernel.progFree(id);
    }
    s.progs.clear();
    for (const id of [...s.maps]) {
      this.mapInfo.delete(id);
      this.kernel.mapFree(id);
    }
    s.maps.clear();
    if (removeTaps) {
      for (const t of s.taps) {
        this.kernel.netdevs.delete(t.ifindex);
        const k = this.taps.indexOf(t);
        if (k >= 0) this.taps.splice(k, 1);
      }
      this.sessions.delete(s);
    }
    return counts;
  }
}
