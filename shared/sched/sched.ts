// What a datapath component needs from whoever runs it, so that the same
// component code runs on real threads (host/net, this process) and under the
// discrete-event virtual clock of the performance model: a clock, a way to
// wake a sleeping task, and the result of one step of a task's loop.
// Counterparts: wake_up_process()/try_to_wake_up() (kernel/sched/core.c) and
// the schedule() at the bottom of a kthread's loop (drivers/vhost/vhost.c
// vhost_worker()).
import { readFileSync } from "node:fs";

/** One step of a task's loop ran; call step() again. */
export const STEP_RAN = 0;
/** The task found nothing to do and set itself TASK_INTERRUPTIBLE: sleep until woken. */
export const STEP_SLEEP = 1;
/** The task busy-polls: call pollCheck() until it is true or the task's poll deadline passes, then step() again. */
export const STEP_POLL = 2;

/** Task states in a task's futex word (a subset of the kernel's). */
export const TASK_RUNNING = 0;
export const TASK_INTERRUPTIBLE = 1;

/** Time source in nanoseconds (real: process.hrtime; virtual: the event clock). */
export interface Clock {
  nowNs(): number;
}

/**
 * Delivers a wake-up to a task whose state word a waker just moved from TASK_INTERRUPTIBLE
 * to TASK_RUNNING (the component did the test; this only makes the sleeper run).
 * Real: Atomics.notify on the word. Virtual: schedule the task's next step at now + latency.
 */
export interface Waker {
  notify(): void;
}

/** A task a driver runs: a loop body as step(), and the busy-poll hooks. */
export interface Task {
  /** One iteration of the loop: STEP_RAN, STEP_SLEEP or STEP_POLL. */
  step(): number;
  /** During STEP_POLL: true when polling should stop (data or work arrived). */
  pollCheck(): boolean;
  /** During STEP_POLL: when polling gives up, in Clock ns. */
  readonly pollDeadlineNs: number;
  /** Called by the driver when a poll ended (found work or timed out), before the next step(). */
  pollEnd(found: boolean): void;
}

/** process.hrtime as a Clock (allocation-free: hrtime.bigint would allocate a BigInt per call). */
export const REAL_CLOCK: Clock = {
  nowNs(): number {
    return performance.now() * 1e6;
  },
};

/**
 * CPU time (user + system) of the calling thread in ms, from /proc/thread-self/stat (fields 14
 * and 15, in USER_HZ = 100 ticks); NaN where /proc is missing. Setup and report time only.
 */
export function threadCpuMs(): number {
  try {
    // A synchronous read runs on the calling thread, so thread-self is this thread.
    const f = readFileSync("/proc/thread-self/stat", "utf8").split(") ")[1]!.split(" ");
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100;
  } catch {
    return NaN;
  }
}
