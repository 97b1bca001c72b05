// The real-thread driver: a task's state word lives in shared memory; a
// sleeping Worker blocks in Atomics.wait on it and a waker that moved it from
// TASK_INTERRUPTIBLE to TASK_RUNNING pays one Atomics.notify (a futex wake
// syscall), the counterpart of try_to_wake_up() on a sleeping task. runTask()
// is the loop a Worker runs: step(), sleep on STEP_SLEEP, spin on STEP_POLL.
import { REAL_CLOCK, STEP_POLL, STEP_SLEEP, TASK_INTERRUPTIBLE, type Clock, type Task, type Waker } from "./sched.ts";

/** Atomics.notify on word `idx` of a shared Int32Array. */
export class FutexWaker implements Waker {
  readonly #i32: Int32Array;
  readonly #idx: number;
  constructor(i32: Int32Array, idx: number) {
    this.#i32 = i32;
    this.#idx = idx;
  }
  notify(): void {
    Atomics.notify(this.#i32, this.#idx, 1);
  }
}

/** Counts of what a runTask() loop did (its own thread's figures). */
export class TaskLoopStats {
  steps = 0;
  sleeps = 0;
  /** Atomics.wait calls that returned because the word had already changed ("not-equal"). */
  sleepsSkipped = 0;
  polls = 0;
  pollSpins = 0;
  pollTimeouts = 0;
}

/**
 * Runs `task` on this thread until `stop[stopIdx]` is non-zero: step(); on STEP_SLEEP block
 * in Atomics.wait while state[stateIdx] is TASK_INTERRUPTIBLE (woken by a FutexWaker; stopTask()
 * sets the stop word and wakes it); on STEP_POLL spin on pollCheck() until the deadline.
 */
export function runTask(task: Task, i32: Int32Array, stateIdx: number, stopIdx: number, stats: TaskLoopStats,
  clock: Clock = REAL_CLOCK, sleepCheckMs = Infinity): void {
  while (Atomics.load(i32, stopIdx) === 0) {
    stats.steps++;
    const r = task.step();
    if (r === STEP_SLEEP) {
      stats.sleeps++;
      const w = Atomics.wait(i32, stateIdx, TASK_INTERRUPTIBLE, sleepCheckMs);
      if (w === "not-equal") stats.sleepsSkipped++;
    } else if (r === STEP_POLL) {
      stats.polls++;
      let found = false;
      for (;;) {
        if (task.pollCheck()) {
          found = true;
          break;
        }
        stats.pollSpins++;
        if (clock.nowNs() >= task.pollDeadlineNs || Atomics.load(i32, stopIdx) !== 0) break;
      }
      if (!found) stats.pollTimeouts++;
      task.pollEnd(found);
    }
  }
}

/** kthread_stop(): sets the stop word, moves the state word to TASK_RUNNING and wakes the task. */
export function stopTask(i32: Int32Array, stateIdx: number, stopIdx: number): void {
  Atomics.store(i32, stopIdx, 1);
  Atomics.store(i32, stateIdx, 0);
  Atomics.notify(i32, stateIdx);
}
