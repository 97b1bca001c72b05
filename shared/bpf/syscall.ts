// The BPF subsystem of one emulated kernel (guest or host): map and program
// objects with ids (kernel/bpf/syscall.c idr), BPF_MAP_CREATE and
// BPF_PROG_LOAD with ld_imm64 map resolution (resolve_pseudo_ldimm64 in
// kernel/bpf/verifier.c), the batch map commands (bpf_map_do_batch), BTF
// objects (BPF_BTF_LOAD, kernel/bpf/btf.c) that maps (map_check_btf) and
// programs (prog_btf_fd with line_info) refer to, and the execution context
// its programs run in.
import { BpfMemory } from "./runtime/memory.ts";
import { BpfVm, type BpfVmEnv, type HelperFn } from "./runtime/vm.ts";
import { BpfProg, LD_IMM64 } from "./runtime/prog.ts";
import type { BpfInsns } from "./isa/insn.ts";
import type { BpfMap, BpfMapAttr, BpfMapBatch, BpfMapEnv } from "./maps/map.ts";
import { createMap } from "./maps/index.ts";
import { ProgArrayMap } from "./maps/prog_array.ts";
import { checkStructure } from "./verifier/structural.ts";
import { XDP_HELPERS } from "./runtime/helpers.ts";
import { bpfCheck, type BpfProgOffloadOps } from "./verifier/index.ts";
import { helperProtosFor, verifyRequest, type OffloadHooksSpec, type VerifyResponse } from "./verifier/verify_job.ts";
import { InProcessVerifier, cancelReason, defaultVerifier, type Verifier } from "./verifier/pool.ts";
import { E2BIG, EBADF, EINVAL, ENODEV, ENOENT, EOPNOTSUPP, KernelError } from "../errno.ts";
import { BTF_KIND_DATASEC, BTF_KIND_INT, parseBtf, type Btf } from "./libbpf/btf.ts";
import type { LineInfoAttr } from "./verifier/linfo.ts";
import {
  BPF_F_RDONLY_PROG, BPF_MAP_TYPE_ARRAY, BPF_PROG_TYPE_XDP, BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_VALUE, MAX_USED_MAPS,
  BPF_COMPLEXITY_LIMIT_INSNS, BPF_MAXINSNS, BPF_FIB_LKUP_RET_NOT_FWDED, BPF_FIB_LKUP_RET_FWD_DISABLED,
  BPF_MAP_DELETE_BATCH, BPF_MAP_LOOKUP_AND_DELETE_BATCH, BPF_MAP_LOOKUP_BATCH, BPF_MAP_UPDATE_BATCH,
} from "./isa/uapi.ts";

export interface ProgLoadAttr {
  progType: number;
  insns: BpfInsns;
  license: string;
  name: string;
  /** Resolves the fd in a BPF_PSEUDO_MAP_FD/VALUE ld_imm64; defaults to map ids. */
  mapFd?: (fd: number) => BpfMap | undefined;
  subprogs?: ReadonlyArray<{ name: string; insnOff: number }>;
  /** Offload target netdev (prog_ifindex), 0 for none. */
  progIfindex?: number;
  /** CAP_BPF/CAP_SYS_ADMIN: privileged limits (1M insns) instead of 4096. */
  privileged?: boolean;
  /** Run the verifier (default true); false loads with insnAux null (runtime checks only). */
  verify?: boolean;
  /** Verifier log level (BPF_LOG_LEVEL1/2, | BPF_LOG_STATS); default 1. */
  logLevel?: number;
  /** Device offload hooks (bpf_prog_offload_ops plus the RFC's setup()). */
  offload?: BpfProgOffloadOps | null;
  /** The verifier-side hooks as data, for progLoadAsync() in a worker (see verify_job.ts). */
  offloadHooks?: OffloadHooksSpec;
  /** prog_btf_fd (a BTF object id here), needed with line info. */
  progBtfFd?: number;
  /** line_info: line_info_cnt records of line_info_rec_size bytes (struct bpf_line_info). */
  lineInfo?: Uint8Array;
  lineInfoRecSize?: number;
  lineInfoCnt?: number;
}

/** A BTF object (struct btf of kernel/bpf/btf.c): BPF_BTF_LOAD's type info, with its id. */
export interface BtfObject {
  readonly id: number;
  readonly btf: Btf;
  /** The bytes as loaded (what BPF_BTF_GET_FD_BY_ID + btf__load_from_kernel_by_id read back). */
  readonly data: Uint8Array;
  /** References: the loader's fd plus each map and program using it. */
  refcnt: number;
}

/** A map's BTF (map->btf, btf_key_type_id, btf_value_type_id), as BPF_OBJ_GET_INFO_BY_FD reports them. */
export interface MapBtfInfo {
  readonly btf: BtfObject;
  readonly keyTypeId: number;
  readonly valueTypeId: number;
}

/** A load between its checks and its verdict. */
interface PendingLoad {
  attr: ProgLoadAttr;
  insns: BpfInsns;
  ldMap: Map<number, BpfMap>;
  used: BpfMap[];
  ldAddr: Array<[number, number]>;
  offload: BpfProgOffloadOps | null;
  btf: BtfObject | null;
  lineInfo: LineInfoAttr | null;
  gpl: boolean;
  verify: boolean;
  privileged: boolean;
  logLevel: number;
  devBound: boolean;
}

export type ProgLoadResult = { prog: BpfProg; errno: 0; log?: string[] } | { prog: null; errno: number; message: string; log: string[] };

/** License strings the kernel treats as GPL compatible (license_is_gpl_compatible). */
export function licenseIsGplCompatible(license: string): boolean {
  return ["GPL", "GPL v2", "GPL and additional rights", "Dual BSD/GPL", "Dual MIT/GPL", "Dual MPL/GPL"].includes(license);
}


/**
 * The FIB of a kernel with no routes, as bpf_ipv4/ipv6_fib_lookup() answer in a
 * fresh network namespace: unknown ifindex -ENODEV, forwarding disabled on the
 * device FWD_DISABLED, otherwise NOT_FWDED.
 */
function fibLookupNoRoutes(vm: BpfVm, params: number, netdevs: ReadonlyMap<number, { forwarding: boolean }>): number {
  const dev = netdevs.get(vm.mem.dv.getUint32(params + 8, true));
  if (dev === undefined) return -ENODEV;
  return dev.forwarding ? BPF_FIB_LKUP_RET_NOT_FWDED : BPF_FIB_LKUP_RET_FWD_DISABLED;
}

export class BpfKernel implements BpfMapEnv {
  readonly mem: BpfMemory;
  readonly nCpus: number;
  cpu: number;
  readonly maps: Map<number, BpfMap>;
  readonly progs: Map<number, BpfProg>;
  readonly vm: BpfVm;
  readonly #mapByAddr: Map<number, BpfMap>;
  /** Loaded programs using each map (bpf_prog_aux->used_maps references). */
  readonly #mapUsers: Map<number, number>;
  /** Maps whose creator reference is closed; freed with their last user. */
  readonly #mapClosed: Set<number>;
  /** Netdevs this kernel knows (ifindex -> name, forwarding sysctl); lo is ifindex 1 as in a fresh netns. */
  readonly netdevs: Map<number, { name: string; forwarding: boolean }>;
  #nextMapId: number;
  #nextProgId: number;
  #nextBtfId = 1;
  /** BTF objects by id (the btf_idr). */
  readonly btfs: Map<number, BtfObject> = new Map();
  /** Maps created with BTF (bpf_map.btf and its type ids). */
  readonly mapBtf: Map<number, MapBtfInfo> = new Map();
  /** Programs loaded with a prog_btf_fd (prog->aux->btf). */
  readonly progBtf: Map<number, BtfObject> = new Map();
  /** Default of ProgLoadAttr.verify (loaders such as loadObject() do not pass it). */
  verifyPrograms = true;
  /** Default of ProgLoadAttr.logLevel. */
  verifierLogLevel = 1;
  /** Verifier log of the last BPF_PROG_LOAD (empty when it did not verify). */
  lastVerifierLog: string[] = [];
  /** References map slots hold on programs (PROG_ARRAY entries: bpf_prog_inc()). */
  readonly #progRefs: Map<number, number> = new Map();
  /** Programs whose loader reference is closed; freed with the last slot holding them. */
  readonly #progClosed: Set<number> = new Set();
  /** Offload hooks of device-bound programs, for destroy(). */
  readonly #progOffload: Map<number, BpfProgOffloadOps> = new Map();

  constructor(opts: { nCpus?: number; helpers?: ReadonlyArray<HelperFn | undefined>; env?: Partial<BpfVmEnv>;
    /** A shared memory, so that other host threads can run this kernel's programs on its frames (host/net). */
    sharedMemory?: boolean } = {}) {
    this.mem = BpfMemory.create({ shared: opts.sharedMemory === true });
    this.nCpus = opts.nCpus ?? 2;
    this.cpu = 0;
    this.maps = new Map();
    this.progs = new Map();
    this.#mapByAddr = new Map();
    this.#mapUsers = new Map();
    this.#mapClosed = new Set();
    this.netdevs = new Map([[1, { name: "lo", forwarding: false }]]);
    this.#nextMapId = 1;
    this.#nextProgId = 1;
    const byAddr = this.#mapByAddr;
    const netdevs = this.netdevs;
    this.vm = new BpfVm(this.mem, opts.helpers ?? XDP_HELPERS, {
      fibLookup: (vm, params) => fibLookupNoRoutes(vm, params, netdevs),
      ...opts.env,
      mapByAddr: (a) => byAddr.get(a),
    });
  }

  // BpfMapEnv
  progByFd(fd: number): unknown | null {
    return this.progs.get(fd) ?? null;
  }
  progById(id: number): unknown | null {
    return this.progs.get(id) ?? null;
  }
  progGet(prog: unknown): void {
    const id = (prog as BpfProg).id;
    this.#progRefs.set(id, (this.#progRefs.get(id) ?? 0) + 1);
  }
  progPut(prog: unknown): void {
    const id = (prog as BpfProg).id;
    const n = (this.#progRefs.get(id) ?? 1) - 1;
    if (n > 0) {
      this.#progRefs.set(id, n);
      return;
    }
    this.#progRefs.delete(id);
    if (this.#progClosed.has(id)) this.#releaseProg(prog as BpfProg);
  }
  hasIfindex(ifindex: number): boolean {
    return this.netdevs.has(ifindex);
  }
  /** Registers a netdev (devmap targets and FIB lookups need it to exist). */
  addNetdev(ifindex: number, name: string, forwarding = false): void {
    this.netdevs.set(ifindex, { name, forwarding });
  }

  /**
   * BPF_BTF_LOAD: a BTF object from the bytes of a .BTF section (with the
   * loader's fix-ups). Returns it (one reference: the caller's fd, dropped
   * with btfPut()) or -EINVAL for malformed BTF.
   */
  btfLoad(data: Uint8Array): BtfObject | number {
    let btf: Btf;
    try {
      btf = parseBtf(data);
    } catch (e) {
      if (e instanceof KernelError) return -e.errno;
      throw e;
    }
    const o: BtfObject = { id: this.#nextBtfId++, btf, data: data.slice(), refcnt: 1 };
    this.btfs.set(o.id, o);
    return o;
  }

  /** BPF_BTF_GET_FD_BY_ID: one more reference on a BTF object, or -ENOENT. */
  btfGet(id: number): BtfObject | number {
    const o = this.btfs.get(id);
    if (o === undefined) return -ENOENT;
    o.refcnt++;
    return o;
  }

  /** Drops a reference (close(btf_fd), a map or program going); the object goes with the last one (btf_put). */
  btfPut(id: number): number {
    const o = this.btfs.get(id);
    if (o === undefined) return -EBADF;
    if (--o.refcnt === 0) this.btfs.delete(id);
    return 0;
  }

  /**
   * map_check_btf(): a map created with BTF key/value type ids must get the
   * sizes it was created with from them; keyless BTF only for the
   * single-element ARRAY of a .data/.rodata/.bss section, whose value is a
   * DATASEC (array_map_check_btf); an ARRAY's key must be a 32-bit int.
   */
  #mapCheckBtf(attr: BpfMapAttr, btf: Btf, keyId: number, valueId: number): number {
    if (keyId !== 0) {
      if (btf.resolveSize(keyId) !== attr.keySize) return -EINVAL;
    } else if (attr.mapType !== BPF_MAP_TYPE_ARRAY) {
      return -EINVAL; // no map_check_btf() op accepts a keyless map
    }
    if (btf.resolveSize(valueId) !== attr.valueSize) return -EINVAL;
    if (attr.mapType === BPF_MAP_TYPE_ARRAY) {
      if (keyId === 0) {
        if (attr.maxEntries !== 1 || btf.skipModsAndTypedefs(valueId).t.kind !== BTF_KIND_DATASEC) return -EINVAL;
      } else {
        const k = btf.skipModsAndTypedefs(keyId).t;
        if (k.kind !== BTF_KIND_INT || k.intBits !== 32 || k.intOffset !== 0) return -EINVAL;
      }
    }
    return 0;
  }

  /** BPF_MAP_CREATE. Returns the map or -errno. With `btfFd`, the BTF type ids are checked and the map keeps the BTF. */
  mapCreate(attr: BpfMapAttr & { btfFd?: number }): BpfMap | number {
    const keyId = attr.btfKeyTypeId ?? 0, valueId = attr.btfValueTypeId ?? 0;
    let btf: BtfObject | null = null;
    if (attr.btfFd !== undefined && (keyId !== 0 || valueId !== 0)) {
      btf = this.btfs.get(attr.btfFd) ?? null;
      if (btf === null) return -EBADF;
      if (valueId !== 0) {
        const e = this.#mapCheckBtf(attr, btf.btf, keyId, valueId);
        if (e < 0) return e;
      }
    }
    const m = createMap(this, attr, this.#nextMapId);
    if (typeof m === "number") return m;
    if (btf !== null) {
      btf.refcnt++;
      this.mapBtf.set(m.id, { btf, keyTypeId: keyId, valueTypeId: valueId });
    }
    this.#nextMapId++;
    this.maps.set(m.id, m);
    this.#mapByAddr.set(m.addr, m);
    // The map's own flags: some types add BPF_F_RDONLY_PROG themselves (devmaps).
    this.vm.addMapRegion(m, (m.mapFlags & BPF_F_RDONLY_PROG) === 0);
    return m;
  }

  /**
   * BPF_MAP_LOOKUP_BATCH, BPF_MAP_LOOKUP_AND_DELETE_BATCH, BPF_MAP_UPDATE_BATCH and
   * BPF_MAP_DELETE_BATCH on map `id` (bpf_map_do_batch()). Returns 0 or -errno (-EBADF
   * for no such map, -EINVAL for another command); b.count and b.outBatch are left as
   * the kernel leaves them in bpf_attr, also when the answer is an errno (-ENOENT at the
   * end of a walk comes with the elements copied before it).
   */
  mapBatch(cmd: number, id: number, b: BpfMapBatch): number {
    const m = this.maps.get(id);
    if (m === undefined || this.#mapClosed.has(id)) return -EBADF;
    return mapDoBatch(cmd, m, b);
  }

  /** Drops a map (last reference gone). */
  mapFree(id: number): number {
    // Closing the creator's reference (close(map_fd)): the map lives on while a loaded
    // program still uses it, as bpf_map_put() waits for the last reference.
    const m = this.maps.get(id);
    if (m === undefined || this.#mapClosed.has(id)) return -EBADF;
    this.#mapClosed.add(id);
    // The last user reference of a prog array empties it (map_release_uref ->
    // prog_array_map_clear); the programs it held may have been its last users.
    if (m instanceof ProgArrayMap) m.clear();
    if (this.maps.get(id) === m && (this.#mapUsers.get(id) ?? 0) === 0) this.#releaseMap(m);
    return 0;
  }

  #releaseMap(m: BpfMap): void {
    const b = this.mapBtf.get(m.id);
    if (b !== undefined) {
      this.mapBtf.delete(m.id);
      this.btfPut(b.btf.id);
    }
    this.vm.removeMapRegion(m);
    this.#mapByAddr.delete(m.addr);
    this.maps.delete(m.id);
    this.#mapClosed.delete(m.id);
    this.#mapUsers.delete(m.id);
    m.free();
  }

  /** BPF_PROG_LOAD: structural checks and map resolution, then bpf_check() on this thread. */
  progLoad(attr: ProgLoadAttr): ProgLoadResult {
    const p = this.#prepareLoad(attr);
    if ("errno" in p) return p;
    let vr: VerifyResponse | null = null;
    if (p.verify) {
      const tv = process.hrtime.bigint();
      const r = bpfCheck(p.insns, (pc) => p.ldMap.get(pc), {
        progType: attr.progType, privileged: p.privileged, logLevel: p.logLevel, helperProtos: helperProtosFor(attr.progType),
        offload: p.offload, devBound: p.devBound, gplCompatible: p.gpl, lineInfo: p.lineInfo,
      });
      vr = { ...r, verifyNs: Number(process.hrtime.bigint() - tv) };
    }
    this.#getMaps(p.used);
    return this.#finishLoad(p, vr);
  }

  /**
   * BPF_PROG_LOAD with bpf_check() on `verifier` (by default this process's worker
   * pool), so that the caller's event loop keeps running meanwhile. The program's
   * maps are referenced while it verifies (bpf_prog_load() holds used_maps). When
   * `signal` aborts, the verification stops and the load answers the abort
   * reason's errno (a KernelError), ECANCELED otherwise; nothing is left behind.
   * Offload hooks given as functions cannot cross threads: such loads verify in
   * process (give `offloadHooks` to verify them in a worker).
   */
  async progLoadAsync(attr: ProgLoadAttr & { signal?: AbortSignal }, verifier?: Verifier): Promise<ProgLoadResult> {
    const p = this.#prepareLoad(attr);
    if ("errno" in p) return p;
    let vr: VerifyResponse | null = null;
    this.#getMaps(p.used);
    if (p.verify) {
      const o = p.offload;
      const fnHooks = o !== null && (o.prepare ?? o.insnHook ?? o.finalize ?? o.replaceInsn ?? o.removeInsns) !== undefined;
      const v = verifier ?? (fnHooks && attr.offloadHooks === undefined ? new InProcessVerifier(o) : defaultVerifier());
      const req = verifyRequest(p.insns, p.ldMap, {
        progType: attr.progType, privileged: p.privileged, gplCompatible: p.gpl, devBound: p.devBound, logLevel: p.logLevel,
        hooks: attr.offloadHooks ?? null, lineInfo: p.lineInfo,
      });
      try {
        vr = await v.verify(req, attr.signal);
      } catch (e) {
        this.#putMaps(p.used);
        if (!(e instanceof KernelError)) throw e;
        return { prog: null, errno: e.errno, message: e.message, log: [...(e.log ?? [])] };
      }
    }
    if (attr.signal?.aborted) {
      // cancelled after the verifier answered, before the program existed
      this.#putMaps(p.used);
      const e = cancelReason(attr.signal);
      return { prog: null, errno: e.errno, message: e.message, log: [] };
    }
    return this.#finishLoad(p, vr);
  }

  /** The part of BPF_PROG_LOAD before bpf_check(): checks, setup(), ld_imm64 map resolution. */
  #prepareLoad(attr: ProgLoadAttr): PendingLoad | { prog: null; errno: number; message: string; log: string[] } {
    const log: string[] = [];
    const fail = (errno: number, message: string) => {
      log.push(message);
      return { prog: null, errno, message, log };
    };
    if (attr.progType !== BPF_PROG_TYPE_XDP) return fail(EINVAL, `program type ${attr.progType} is not supported by this kernel`);
    const maxInsns = attr.privileged === false ? BPF_MAXINSNS : BPF_COMPLEXITY_LIMIT_INSNS;
    if (attr.insns.len === 0) return fail(E2BIG, "empty program");
    // loopback has no ndo_bpf: offloading to it fails as in bpf_prog_dev_bound_init()
    if ((attr.progIfindex ?? 0) !== 0 && this.netdevs.get(attr.progIfindex!)?.name === "lo") {
      return fail(EOPNOTSUPP, `netdev ${attr.progIfindex} (lo) does not support BPF offload`);
    }
    if (attr.insns.len > maxInsns) return fail(E2BIG, `program too large (${attr.insns.len} insns), at most ${maxInsns} allowed`);
    const insns = attr.insns.clone();
    const e = checkStructure(insns, { maxInsns, allowPseudoLdImm64: true });
    if (e !== null) return fail(e.errno, e.message);
    const offload = attr.offload ?? null;
    if (offload?.setup !== undefined) {
      const rc = offload.setup(insns);
      if (rc < 0) return fail(-rc, `offload setup refused the program (${rc})`);
    }
    const ldMap = new Map<number, BpfMap>();
    const resolve = attr.mapFd ?? ((fd: number) => this.maps.get(fd));
    const used: BpfMap[] = [];
    const ldAddr: Array<[number, number]> = [];
    for (let i = 0; i < insns.len; i++) {
      if (insns.code[i] !== LD_IMM64) continue;
      const src = insns.src[i]!;
      if (src === BPF_PSEUDO_MAP_FD || src === BPF_PSEUDO_MAP_VALUE) {
        const map = resolve(insns.imm[i]!);
        if (map === undefined) return fail(EBADF, `fd ${insns.imm[i]} is not pointing to valid bpf_map`);
        let addr = map.addr;
        if (src === BPF_PSEUDO_MAP_VALUE) {
          const off = insns.imm[i + 1]! >>> 0;
          if (map.mapType !== BPF_MAP_TYPE_ARRAY) return fail(EINVAL, "no direct value access support for this map type");
          if (map.maxEntries !== 1) return fail(EOPNOTSUPP, "direct value access needs an array map with max_entries 1");
          if (off >= map.valueSize) {
            return fail(EINVAL, `invalid access to map value pointer, value_size=${map.valueSize} off=${off}`);
          }
          addr = map.valuesStart + off;
        }
        if (!used.includes(map)) {
          if (used.length >= MAX_USED_MAPS) {
            return fail(E2BIG, `The total number of maps per program has reached the limit of ${MAX_USED_MAPS}`);
          }
          used.push(map);
        }
        insns.imm[i] = map.id; // dumps show map[id:N], as bpf_insn_prepare_dump() does
        ldAddr.push([i, addr]);
        ldMap.set(i, map);
      }
      i++;
    }
    // check_btf_info_early(): line info needs the program's BTF (prog_btf_fd)
    let btf: BtfObject | null = null;
    let lineInfo: LineInfoAttr | null = null;
    if ((attr.lineInfoCnt ?? 0) !== 0) {
      btf = this.btfs.get(attr.progBtfFd ?? 0) ?? null;
      if (btf === null) return fail(EBADF, `prog_btf_fd ${attr.progBtfFd ?? 0} is not a BTF object`);
      lineInfo = { recs: attr.lineInfo ?? new Uint8Array(0), recSize: attr.lineInfoRecSize ?? 0, cnt: attr.lineInfoCnt!, btfStrings: btf.btf.strings };
    }
    this.lastVerifierLog = [];
    return {
      attr, insns, ldMap, used, ldAddr, offload, btf, lineInfo, gpl: licenseIsGplCompatible(attr.license), verify: attr.verify ?? this.verifyPrograms,
      privileged: attr.privileged !== false, logLevel: attr.logLevel ?? this.verifierLogLevel, devBound: (attr.progIfindex ?? 0) !== 0,
    };
  }

  /** The part after bpf_check(): the program object, its ld_imm64 addresses, translate(). Takes over the map references. */
  #finishLoad(p: PendingLoad, vr: VerifyResponse | null): ProgLoadResult {
    const attr = p.attr;
    if (vr !== null) {
      this.lastVerifierLog = vr.log;
      if (vr.errno !== 0) {
        this.#putMaps(p.used);
        // the first error line follows the last insn line (or opens the log for CFG errors)
        let k = vr.log.length - 1;
        while (k >= 0 && !/^\d+: \(/.test(vr.log[k]!)) k--;
        // (verbose_linfo()'s source-line notes are not the error)
        while (k + 1 < vr.log.length && /^(; |\d+: ).* @ \S+:\d+$/.test(vr.log[k + 1]!)) k++;
        const first = vr.log[k + 1] ?? "";
        return { prog: null, errno: vr.errno, message: first, log: vr.log };
      }
    }
    const prog = new BpfProg({
      id: this.#nextProgId++, name: attr.name.slice(0, 15), progType: attr.progType, insns: p.insns, usedMaps: p.used,
      gplCompatible: p.gpl, subprogs: attr.subprogs,
    });
    for (const [i, addr] of p.ldAddr) {
      prog.ldLo[i] = addr;
      prog.ldHi[i] = 0;
    }
    prog.ifindex = attr.progIfindex ?? 0;
    if (vr !== null) {
      prog.verified = true;
      prog.insnAux = vr.insnAux;
      prog.verifierStats = { processedInsns: vr.processedInsns, totalStates: vr.totalStates, peakStates: vr.peakStates, verifyNs: vr.verifyNs };
    }
    // bpf_check_tail_call() (from bpf_prog_select_runtime()): every prog array the program
    // uses must accept it as an owner would (same type; same device, or none, as the map).
    for (const m of p.used) {
      if (m instanceof ProgArrayMap && !m.progCompatible(prog)) {
        this.#putMaps(p.used);
        const message = `program cannot share prog array ${m.id} (${m.name}): ` +
          (m.mapIfindex !== prog.ifindex ? (m.mapIfindex === 0 ? "a device-bound program cannot use a host prog array" : "offload device mismatch between prog and prog array") : "program type differs from the map's owner");
        return { prog: null, errno: EINVAL, message, log: [message] };
      }
    }
    const offload = p.offload;
    if (offload !== null) {
      const rc = offload.translate?.(prog) ?? 0;
      if (rc < 0) {
        this.#putMaps(p.used);
        const message = `offload translate failed (${rc})`;
        return { prog: null, errno: -rc, message, log: [message] };
      }
      this.#progOffload.set(prog.id, offload);
    }
    this.progs.set(prog.id, prog);
    if (p.btf !== null) {
      p.btf.refcnt++;
      this.progBtf.set(prog.id, p.btf);
    }
    return { prog, errno: 0, log: vr?.log };
  }

  /** References on maps a program being loaded uses (bpf_map_inc). */
  #getMaps(used: readonly BpfMap[]): void {
    for (const m of used) this.#mapUsers.set(m.id, (this.#mapUsers.get(m.id) ?? 0) + 1);
  }

  /** Drops those references; a map whose creator closed it goes with its last one (bpf_map_put). */
  #putMaps(used: readonly BpfMap[]): void {
    for (const m of used) {
      const n = (this.#mapUsers.get(m.id) ?? 1) - 1;
      this.#mapUsers.set(m.id, n);
      if (n === 0 && this.#mapClosed.has(m.id)) this.#releaseMap(m);
    }
  }

  /**
   * Closes the loader's reference (close(prog_fd)): the program goes now, or with the last
   * prog array slot holding it. Returns 0 or -EBADF.
   */
  progFree(id: number): number {
    const p = this.progs.get(id);
    if (p === undefined || this.#progClosed.has(id)) return -EBADF;
    this.#progClosed.add(id);
    if ((this.#progRefs.get(id) ?? 0) === 0) this.#releaseProg(p);
    return 0;
  }

  /** True while the loader's reference of program `id` is open (progFree() not called). */
  progOpen(id: number): boolean {
    return this.progs.has(id) && !this.#progClosed.has(id);
  }

  #releaseProg(p: BpfProg): void {
    const id = p.id;
    this.#progClosed.delete(id);
    this.#progOffload.get(id)?.destroy?.(p);
    this.#progOffload.delete(id);
    this.progs.delete(id);
    const b = this.progBtf.get(id);
    if (b !== undefined) {
      this.progBtf.delete(id);
      this.btfPut(b.id);
    }
    this.#putMaps(p.usedMaps); // bpf_free_used_maps()
  }

  mapByAddr(addr: number): BpfMap | undefined {
    return this.#mapByAddr.get(addr);
  }
}

/** bpf_map_do_batch() on a map the caller resolved (see BpfKernel.mapBatch()). */
export function mapDoBatch(cmd: number, m: BpfMap, b: BpfMapBatch): number {
  switch (cmd) {
    case BPF_MAP_LOOKUP_BATCH: return m.sysLookupBatch(b, false);
    case BPF_MAP_LOOKUP_AND_DELETE_BATCH: return m.sysLookupBatch(b, true);
    case BPF_MAP_UPDATE_BATCH: return m.sysUpdateBatch(b);
    case BPF_MAP_DELETE_BATCH: return m.sysDeleteBatch(b);
  }
  return -EINVAL;
}
