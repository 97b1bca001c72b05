// The performance model (scenarios/model): every cell at a tiny packet count
// with conservation, the wake mechanism's outcome (Case 2 offload pays about
// one wake per packet, Case 1 offload one per NAPI poll at most), copies into
// the guest only without offload, verdicts from the real programs, the fitted
// profile's residuals and the calibration's parameter count.
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { runModel, runModelSync, type ModelOptions } from "../../../scenarios/model/index.ts";
import { loadProfile, PARAM_NAMES, PROFILES_DIR, withCosts } from "../../../scenarios/model/profile.ts";
import { ANCHOR_PLAN_FITS, FITS, SENSITIVITY } from "../../../scenarios/model/calibrate.ts";
import { FIGURE_SPECS, figure, hasFigures } from "../../../scenarios/model/figures.ts";
import { SHARED_REFERENCE } from "../../../scenarios/reference/published.ts";
import { steadyRate } from "../../../scenarios/model/sim.ts";

const TINY: Record<1 | 2, number> = { 1: 3000, 2: 12000 };
if (!hasFigures()) console.warn(`SKIP model tests against the RFC's figures: ${SHARED_REFERENCE} is absent`);

describe("performance model", () => {
  for (const f of FIGURE_SPECS) {
    it(`${f.label}: case ${f.case} ${f.program} ${f.mode} at a tiny packet count conserves every packet`, async () => {
      const r = await runModel({ case: f.case, program: f.program, mode: f.mode, packets: TINY[f.case] });
      expect(r.sent).toBe(TINY[f.case]);
      expect(r.dropped + r.tx + r.passed + r.errors).toBe(r.sent);
      expect(r.mpps).toBeGreaterThan(0);
      expect(Number.isFinite(r.mpps)).toBe(true);
      // Verdicts come from the programs: xdp1 drops, xdp2 sends back; nothing else.
      if (f.program === "xdp1") expect([r.dropped > 0, r.tx]).toEqual([true, 0]);
      else expect([r.tx > 0, r.dropped]).toEqual([true, 0]);
      expect(r.passed).toBe(0);
      // Copies across the guest boundary (vhost_net rx_copies + tx_copies) only when the program runs in
      // the guest: one into it per packet, and one back out per XDP_TX that found room on the send queue.
      if (f.mode === "offload") expect(r.copiesPerPacket).toBe(0);
      else if (f.program === "xdp1") expect(r.copiesPerPacket).toBe(1);
      else {
        expect(r.copiesPerPacket).toBeGreaterThan(1.9);
        expect(r.copiesPerPacket).toBeLessThanOrEqual(2);
      }
      expect(r.perGuestMpps).toHaveLength(1);
    });
  }

  it("wakes per packet: Case 2 offload in [0.5, 1.1] (one sk_data_ready per packet), Case 1 offload below 0.05 (one per NAPI poll)", async () => {
    for (const program of ["xdp1", "xdp2"] as const) {
      const c2 = await runModel({ case: 2, program, mode: "offload", packets: 30000 });
      expect(c2.wakesPerPacket, program).toBeGreaterThanOrEqual(0.5);
      expect(c2.wakesPerPacket, program).toBeLessThanOrEqual(1.1);
      expect(c2.batchMean, program).toBe(1);
      const c1 = await runModel({ case: 1, program, mode: "offload", packets: 20000 });
      expect(c1.wakesPerPacket, program).toBeLessThan(0.05);
      // Batches emerge from the arrivals: the consumer finds bulks of 16 and more.
      expect(c1.batchMean!, program).toBeGreaterThan(16);
    }
  });

  it("runs the datapath's own vhost-net handlers and the guest's queue pair: their counters carry the run", () => {
    const r = runModelSync({ case: 2, program: "xdp2", mode: "non_offload", packets: 12000 }, loadProfile());
    const c = r.sim.perGuest[0]!.counters, vn = c.vhost_net!, g = c.guest!;
    // handle_rx copied each packet into a guest receive buffer the guest's NAPI then took.
    expect(vn.rx_runs).toBeGreaterThan(0);
    expect(vn.rx_copies).toBe(g.rx_queue_0_packets);
    expect(g.rx_copies).toBe(vn.rx_copies);
    // Every interrupt vhost_net_signal_used raised reached the guest (which also takes the device's re-check interrupts).
    expect(g.interrupts).toBeGreaterThanOrEqual(vn.rx_signals!);
    // The guest's XDP_TX came back through handle_tx -> tun_sendmsg -> the tap's Rx-path program (xdp_drop).
    expect(vn.tx_copies).toBe(g.xdp_tx);
    expect(c.tun_sendmsg!.rxp_drop).toBe(vn.tx_copies);
    // The ring-event work is the transport's and the model's transport is shared memory: never run.
    expect(vn.evt_runs).toBe(0);
  });

  it("Case 2 non-offload: each short handle_rx run re-arms, the next arrival finds the poll armed with the worker running and pays c_wq, not a wake", () => {
    const p = loadProfile("fitted");
    const o: ModelOptions = { case: 2, program: "xdp1", mode: "non_offload", packets: 60000 };
    const r = runModelSync(o, p);
    const c = r.sim.perGuest[0]!.counters, vn = c.vhost_net!, w = c.vhost_wakers!, sdr = c.tun_xmit!.sk_data_ready!;
    // vhost needs about the gap between arrivals per packet (F_rx + c_rx + the interrupt at the end
    // of each run): one consume per packet, about one packet and one interrupt per run.
    expect(r.batchMean).toBeCloseTo(1, 1);
    expect(vn.rx_packets! / vn.rx_runs!).toBeLessThan(2);
    expect(vn.rx_signals! / vn.rx_runs!).toBeGreaterThan(0.9);
    // So the producer seldom finds it asleep, and mostly finds the poll armed while it signals.
    expect(r.wakesPerPacket).toBeLessThan(0.3);
    expect((w.wake_queued! + w.wake_running!) / sdr).toBeGreaterThan(0.5);
    // The armed path is what costs: without c_wq the same run is faster, by about c_wq per such call.
    const free = runModelSync(o, withCosts(p, { c_wq: 0 }));
    expect(free.mpps).toBeGreaterThan(r.mpps * 1.05);
    // Busy polling keeps the poll disarmed: no armed calls, no wakes, faster.
    const polled = runModelSync({ ...o, busyPollUs: 50 }, p);
    const pw = polled.sim.perGuest[0]!.counters.vhost_wakers!;
    expect(pw.wake_queued! + pw.wake_running! + pw.wakes!).toBe(0);
    expect(polled.mpps).toBeGreaterThan(r.mpps * 1.05);
  });

  it("the wake costs the producer: without C_wake Case 2 offload runs at the producer's own rate 1/(c_p + c_sdr)", () => {
    const p = loadProfile();
    const o: ModelOptions = { case: 2, program: "xdp1", mode: "offload", packets: 30000 };
    const paid = runModelSync(o, p).mpps;
    const free = runModelSync(o, withCosts(p, { C_wake: p.costs.c_sdr })).mpps;
    expect(paid).toBeCloseTo(1e3 / (p.costs.c_p + p.costs.C_wake), 2);
    expect(free).toBeCloseTo(1e3 / (p.costs.c_p + p.costs.c_sdr), 2);
  });

  it("busy polling (held out): offload pays a wake every other packet (re-arm after the peek), non-offload keeps polling", async () => {
    const off = await runModel({ case: 2, program: "xdp1", mode: "offload", packets: 30000, busyPollUs: 50 });
    const non = await runModel({ case: 2, program: "xdp1", mode: "non_offload", packets: 30000, busyPollUs: 50 });
    expect(off.wakesPerPacket).toBeCloseTo(0.5, 2);
    expect(non.wakesPerPacket).toBeLessThan(0.01);
    expect(non.mpps).toBeGreaterThan(off.mpps);
  });

  it("hooks, vhost batch and several guests run and conserve", async () => {
    const runs: ModelOptions[] = [
      { case: 2, program: "xdp1", mode: "offload", packets: 6000, hook: "net_xmit" },
      { case: 1, program: "xdp2", mode: "offload", packets: 3000, hook: "xdp_xmit" },
      { case: 1, program: "xdp1", mode: "non_offload", packets: 3000, vhostBatch: 1 },
      { case: 1, program: "xdp1", mode: "offload", packets: 4000, guests: 4 },
      { case: 2, program: "xdp2", mode: "non_offload", packets: 8000, guests: 2 },
    ];
    for (const o of runs) {
      const r = await runModel(o);
      expect(r.dropped + r.tx + r.passed + r.errors, JSON.stringify(o)).toBe(r.sent);
      expect(r.perGuestMpps, JSON.stringify(o)).toHaveLength(o.guests ?? 1);
      expect(r.mpps, JSON.stringify(o)).toBeGreaterThan(0);
    }
    // The program in the producer's context: nothing reaches vhost, so no wake finds work.
    const net = await runModel({ case: 2, program: "xdp1", mode: "offload", packets: 6000, hook: "net_xmit" });
    expect(net.wakesPerPacket).toBe(0);
    expect(net.batchMean).toBeUndefined();
    // One vhost_net_buf_produce per packet: batch 1.
    const b1 = await runModel({ case: 1, program: "xdp1", mode: "non_offload", packets: 3000, vhostBatch: 1 });
    expect(b1.batchMean).toBe(1);
  });

  it("placement is configuration: vhost and vCPU on one CPU serialise (F1 falls), still conserving", async () => {
    const apart = await runModel({ case: 1, program: "xdp1", mode: "non_offload", packets: 20000 });
    const shared = await runModel({ case: 1, program: "xdp1", mode: "non_offload", packets: 20000, placement: { softirq: 0, vhost: 1, vcpu: 1 } });
    expect(shared.dropped + shared.tx + shared.passed + shared.errors).toBe(shared.sent);
    expect(shared.mpps).toBeLessThan(apart.mpps * 0.9);
    await expect(runModel({ case: 1, program: "xdp1", mode: "offload", packets: 10, placement: { softirq: -1, vhost: 1, vcpu: 2 } })).rejects.toThrow(/placement/);
  });

  it.skipIf(!hasFigures())("the fitted profile reproduces the four figures it was fitted on (residuals within 1%)", () => {
    const p = loadProfile("fitted");
    for (const fs of FITS) {
      const f = figure(fs.figure);
      const r = runModelSync({ case: f.case, program: f.program, mode: f.mode, packets: f.case === 1 ? 60000 : 150000 }, p);
      expect(Math.abs(r.mpps - f.paper) / f.paper, `${fs.param} on ${fs.figure}`).toBeLessThan(0.01);
    }
  });

  it("calibration fits at most 4 parameters, each on its own figure; every other parameter keeps its cited prior", () => {
    expect(FITS.length).toBeLessThanOrEqual(4);
    expect(new Set(FITS.map((f) => f.figure)).size).toBe(FITS.length);
    expect(new Set(FITS.map((f) => f.param)).size).toBe(FITS.length);
    const prior = JSON.parse(readFileSync(path.join(PROFILES_DIR, "default.json"), "utf8"));
    const fitted = JSON.parse(readFileSync(path.join(PROFILES_DIR, "fitted.json"), "utf8"));
    const fittedNames = PARAM_NAMES.filter((n) => String(fitted.params[n].source).startsWith("fitted:"));
    expect(fittedNames.sort()).toEqual(FITS.map((f) => f.param).sort());
    for (const n of PARAM_NAMES) {
      // Each prior names an anchor label of cost-model-anchors.md (A1.., B.., C.., D.., E.., G..) or its section.
      expect(String(prior.params[n].source), n).toMatch(/^(?:[ABCDEG]\d+|anchors §)/);
      if (!fittedNames.includes(n)) expect(fitted.params[n].value, n).toBe(prior.params[n].value);
    }
    // The sensitivity sweep moves unfitted parameters only (a fitted one would be refitted away).
    for (const sv of SENSITIVITY) {
      expect(PARAM_NAMES, sv.param).toContain(sv.param);
      expect(fittedNames, sv.param).not.toContain(sv.param);
      expect(sv.values.length, sv.param).toBeGreaterThan(0);
    }
    // The anchor note's plan printed beside this one is a plan of the same size.
    expect(ANCHOR_PLAN_FITS.length).toBe(FITS.length);
  });

  it("runModel says which RFC cell a parameter was fitted on, only for that cell as measured", async () => {
    const fitted = JSON.parse(readFileSync(path.join(PROFILES_DIR, "fitted.json"), "utf8")) as { calibration?: { fitted: Array<{ param: string; figure: string }> } };
    const fits = fitted.calibration?.fitted ?? [];
    expect(fits.length).toBe(FITS.length);
    for (const fit of fits) {
      const spec = FIGURE_SPECS.find((f) => f.label === fit.figure)!;
      const o: ModelOptions = { case: spec.case, program: spec.program, mode: spec.mode, packets: 2000, profile: "fitted" };
      expect((await runModel(o)).fittedOn).toEqual({ figure: fit.figure, param: fit.param });
      // A what-if of the same cell is a prediction.
      expect((await runModel({ ...o, busyPollUs: 50 })).fittedOn).toBeUndefined();
    }
    const held = FIGURE_SPECS.find((f) => !fits.some((x) => x.figure === f.label))!;
    expect((await runModel({ case: held.case, program: held.program, mode: held.mode, packets: 2000, profile: "fitted" })).fittedOn).toBeUndefined();
  });

  it("steadyRate measures the middle 80% of the verdicts", () => {
    const log = { t: [] as number[], n: [] as number[], total: 0, add(t: number, n: number) { this.total += n; this.t.push(t); this.n.push(this.total); } };
    // 1000 verdicts at 1 per 100 ns after a slow start: 0.01 per ns.
    log.add(0, 1);
    for (let i = 1; i < 1000; i++) log.add(50_000 + 100 * i, 1);
    expect(steadyRate([log as never])).toBeCloseTo(0.01, 4);
  });
});
