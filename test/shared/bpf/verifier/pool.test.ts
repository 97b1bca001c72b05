// Verification off the event loop (shared/bpf/verifier/pool.ts): the worker
// path and the in-process path give the same answer (errno, message, log,
// counters, insn aux) on every sample object and on rejected programs; workers
// are reused; device hooks given as data run in the worker; a cancelled
// verification stops its worker, answers the canceller's errno and keeps no
// map reference; closing the pool answers loads in flight with EINTR.
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { BpfKernel, type ProgLoadResult } from "../../../../shared/bpf/syscall.ts";
import { loadObject, loadObjectAsync, type LoadedObject } from "../../../../shared/bpf/libbpf/libbpf.ts";
import { openObject, type BpfObjectSpec } from "../../../../shared/bpf/libbpf/object.ts";
import type { BpfMap } from "../../../../shared/bpf/maps/map.ts";
import { VerifierPool } from "../../../../shared/bpf/verifier/pool.ts";
import { ECANCELED, EINTR, ENOTCONN, EOPNOTSUPP, KernelError } from "../../../../shared/errno.ts";
import { BUDGET_SAMPLES, PROGRAMS_DIR } from "../../../helpers/repo.ts";
import { createVerifierHooks } from "../../../fixtures/verifier/hooks_nfp_like.ts";

const pool = new VerifierPool();
afterAll(() => pool.close());

const spec = (f: string): BpfObjectSpec => openObject(readFileSync(path.join(PROGRAMS_DIR, f)), { file: f });

/** What a load answered, in comparable form. */
function outcome(l: LoadedObject) {
  const ok = l.progList.map((p) => ({
    name: p.name, stats: [p.verifierStats!.processedInsns, p.verifierStats!.totalStates, p.verifierStats!.peakStates],
    aux: p.insnAux === null ? null : [Array.from(p.insnAux.accessKind), Array.from(p.insnAux.accessProven), Array.from(p.insnAux.seen)],
  }));
  const bad = l.failures.map((f) => {
    const r = f.result as Extract<ProgLoadResult, { prog: null }>;
    return { name: f.spec.name, errno: r.errno, message: r.message, log: r.log };
  });
  return { ok, bad };
}

/** Loads one program of `s` (its maps created first) in a fresh kernel; returns the kernel, maps and instructions. */
function oneProg(s: BpfObjectSpec) {
  const k = new BpfKernel();
  const maps = s.maps.map((m) => k.mapCreate(m.attr) as BpfMap);
  const ps = s.progs[0]!;
  const insns = ps.insns.clone();
  for (const r of ps.mapRelocs) insns.imm[r.insnIdx] = maps[r.mapIdx]!.id;
  return { k, maps, attr: { progType: ps.progType, insns, license: s.license, name: ps.name, subprogs: ps.subprogs } };
}

describe("worker and in-process verification", () => {
  const objs = readdirSync(PROGRAMS_DIR).filter((f) => f.endsWith(".o") && BUDGET_SAMPLES[f] === undefined).sort();
  it("covers the samples, a rejected one among them", () => {
    expect(objs.length).toBeGreaterThanOrEqual(11);
    expect(objs).toContain("xdp_bad_access.o");
  });
  for (const f of objs) {
    for (const level of f === "xdp1.o" || f === "xdp_bad_access.o" ? [1, 2] : [1]) {
      it(`${f} at log level ${level}: same errno, log, counters and insn aux`, async () => {
        const s = spec(f);
        const inProc = new BpfKernel(), worker = new BpfKernel();
        inProc.verifierLogLevel = worker.verifierLogLevel = level;
        const a = outcome(loadObject(inProc, s, { keepGoing: true }));
        const b = outcome(await loadObjectAsync(worker, s, { keepGoing: true, verifier: pool }));
        expect(b).toEqual(a);
        expect(a.ok.length + a.bad.length).toBeGreaterThan(0);
        if (f === "xdp_bad_access.o") expect(a.bad.map((x) => x.errno)).toEqual([13]);
        expect(worker.lastVerifierLog).toEqual(inProc.lastVerifierLog);
      });
    }
  }
  it("reuses its workers across loads", () => {
    // one for the load, one spare while it runs; sequential loads start no more
    expect(pool.spawned).toBeLessThanOrEqual(2);
    expect(pool.running).toBe(0);
  });
  it("runs device hooks given as data in the worker, as in process", async () => {
    const arg = { helpers: [] as number[] };
    const hooks = { module: new URL("../../../fixtures/verifier/hooks_nfp_like.ts", import.meta.url).href, arg };
    const x = oneProg(spec("xdp1.o")), y = oneProg(spec("xdp1.o"));
    const a = x.k.progLoad({ ...x.attr, offload: createVerifierHooks(arg) });
    const b = await y.k.progLoadAsync({ ...y.attr, offloadHooks: hooks }, pool);
    expect(a.errno).toBe(EOPNOTSUPP);
    expect(b.errno).toBe(a.errno);
    expect(b.log).toEqual(a.log);
    expect(a.log).toContain(`[dev] prepare ${x.attr.insns.len} insns`);
    expect(a.log!.some((l) => l.startsWith("[dev] unsupported function id: 1 (r1=map_ptr("))).toBe(true);
  });
});

describe("cancelling a verification", () => {
  it("keeps serving other loads while one walks its budget, then stops it with the canceller's errno", async () => {
    const s = spec("xdp_spin.o");
    const k = new BpfKernel();
    const ac = new AbortController();
    const ps = s.progs[0]!;
    // log level 1: a rejected load walks twice, the second time formatting its log (the longest load there is)
    const busy = k.progLoadAsync({ progType: ps.progType, insns: ps.insns, license: s.license, name: ps.name, signal: ac.signal, logLevel: 1 }, pool);
    let settled = false;
    void busy.then(() => (settled = true));
    const t0 = performance.now();
    const other = await k.progLoadAsync(oneProg(spec("xdp_pass.o")).attr, pool);
    expect(other.errno).toBe(0);
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(settled).toBe(false); // the busy one was verifying all along
    expect(pool.running).toBe(1);
    const t1 = performance.now();
    ac.abort(new KernelError(ENOTCONN, "the device was reset meanwhile"));
    const r = await busy;
    expect(performance.now() - t1).toBeLessThan(2000);
    expect(r.prog).toBeNull();
    expect(r.errno).toBe(ENOTCONN);
    expect(pool.running).toBe(0);
    expect([...k.progs.keys()]).toEqual([other.prog!.id]);
  });
  it("releases the map references of a cancelled load (its maps go when their creator closes them)", async () => {
    const x = oneProg(spec("xdp1.o"));
    const ac = new AbortController();
    const p = x.k.progLoadAsync({ ...x.attr, signal: ac.signal }, pool);
    ac.abort(); // before the worker can answer
    const r = await p;
    expect(r.errno).toBe(ECANCELED);
    expect(x.k.mapFree(x.maps[0]!.id)).toBe(0);
    expect(x.k.maps.size).toBe(0);
    expect(x.k.progs.size).toBe(0);
    // a load that completes keeps its map alive past the creator's close
    const y = oneProg(spec("xdp1.o"));
    expect((await y.k.progLoadAsync(y.attr, pool)).errno).toBe(0);
    y.k.mapFree(y.maps[0]!.id);
    expect(y.k.maps.size).toBe(1);
  });
  it("answers loads in flight with EINTR when the pool closes, and ends its threads", async () => {
    const p2 = new VerifierPool();
    const s = spec("xdp_spin.o");
    const ps = s.progs[0]!;
    const k = new BpfKernel();
    const busy = k.progLoadAsync({ progType: ps.progType, insns: ps.insns, license: s.license, name: ps.name }, p2);
    await p2.close();
    const r = await busy;
    expect(r.errno).toBe(EINTR);
    expect(p2.threads).toBe(0);
    expect((await k.progLoadAsync(oneProg(spec("xdp_pass.o")).attr, p2)).errno).toBe(EINTR);
  });
});
