// The virtual-clock driver: a minimal discrete-event scheduler that runs the
// same component tasks as the real threads (host/net), on simulated time.
// The performance model (issue 12) builds on it: it will charge each step a
// cost from its profile; here every step takes zero time, so only the wake
// latency and the arrival times shape the result (batch sizes, wakes per
// packet, which emerge from the components' own logic).
//
// A VirtualWaker is the Waker a producer-side component calls when it moved a
// task from TASK_INTERRUPTIBLE to TASK_RUNNING: it schedules the task to run
// after `latencyNs`. Running a task means calling step() until it returns
// STEP_SLEEP or STEP_POLL. A polling task stays registered with the scheduler
// until its pollCheck() turns true after some event (it resumes at that
// event's time: arrivals end the poll at once, as a spinning CPU sees them)
// or its deadline passes (a timeout event).
import { STEP_POLL, STEP_SLEEP, type Clock, type Task, type Waker } from "./sched.ts";

export class VirtualClock implements Clock {
  t = 0;
  nowNs(): number {
    return this.t;
  }
}

interface Ev {
  at: number;
  seq: number;
  fn: () => void;
}

export class VirtualScheduler {
  readonly clock: VirtualClock;
  readonly #heap: Ev[];
  #seq: number;
  /** Events run so far. */
  events: number;
  /** Tasks busy polling (until pollCheck() or their deadline), with the number of their current poll. */
  readonly #pollers: Map<Task, number>;
  #polls: number;

  constructor() {
    this.clock = new VirtualClock();
    this.#heap = [];
    this.#seq = 0;
    this.events = 0;
    this.#pollers = new Map();
    this.#polls = 0;
  }

  /** Runs `task` until it sleeps or polls; a polling task is watched until it finds work or times out. */
  runTask(task: Task): void {
    if (runTaskVirtual(task) !== STEP_POLL) return;
    const poll = ++this.#polls;
    this.#pollers.set(task, poll);
    this.at(task.pollDeadlineNs, () => {
      // Only if this very poll is still running (the task may have polled again since).
      if (this.#pollers.get(task) !== poll) return;
      this.#pollers.delete(task);
      task.pollEnd(false);
      this.runTask(task);
    });
  }

  /** After each event: pollers that now see work stop polling and run. */
  #checkPollers(): void {
    if (this.#pollers.size === 0) return;
    for (const t of this.#pollers.keys()) {
      if (!t.pollCheck()) continue;
      this.#pollers.delete(t);
      t.pollEnd(true);
      this.runTask(t);
    }
  }

  /** Runs `fn` at virtual time `atNs` (events at the same time run in the order scheduled). */
  at(atNs: number, fn: () => void): void {
    const h = this.#heap;
    h.push({ at: atNs, seq: this.#seq++, fn });
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  /** Runs events in time order until none is left at or before `untilNs`. */
  runUntil(untilNs: number): void {
    const h = this.#heap;
    while (h.length > 0 && h[0]!.at <= untilNs) {
      const e = h[0]!;
      const last = h.pop()!;
      if (h.length > 0) {
        h[0] = last;
        let i = 0;
        for (;;) {
          const l = 2 * i + 1, r = l + 1;
          let m = i;
          if (l < h.length && before(h[l]!, h[m]!)) m = l;
          if (r < h.length && before(h[r]!, h[m]!)) m = r;
          if (m === i) break;
          [h[i], h[m]] = [h[m]!, h[i]!];
          i = m;
        }
      }
      this.clock.t = e.at;
      this.events++;
      e.fn();
      this.#checkPollers();
    }
    if (this.clock.t < untilNs) this.clock.t = untilNs;
  }
}

function before(a: Ev, b: Ev): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

/** Runs `task` (every step in zero virtual time) until it returns STEP_SLEEP or STEP_POLL, which it returns. */
export function runTaskVirtual(task: Task): number {
  for (;;) {
    const r = task.step();
    if (r === STEP_SLEEP || r === STEP_POLL) return r;
  }
}

/** wake_up_process() on the virtual clock: the woken task runs `latencyNs` later. */
export class VirtualWaker implements Waker {
  readonly #sched: VirtualScheduler;
  readonly latencyNs: number;
  /** The task to run; set once the task exists. */
  task: Task | null;
  readonly #run: () => void;

  constructor(sched: VirtualScheduler, latencyNs: number) {
    this.#sched = sched;
    this.latencyNs = latencyNs;
    this.task = null;
    this.#run = () => {
      if (this.task !== null) sched.runTask(this.task);
    };
  }

  notify(): void {
    this.#sched.at(this.#sched.clock.t + this.latencyNs, this.#run);
  }
}
