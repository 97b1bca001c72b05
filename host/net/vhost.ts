// The vhost device's worker and its wake-up protocol: drivers/vhost/vhost.c
// (vhost_worker, vhost_work_queue, vhost_poll_queue, vhost_poll_wakeup,
// vhost_poll_start/stop as the net code's enable/disable_vq).
//
// State shared by the worker thread and its wakers lives in a small struct in
// the (shared) BPF memory: the worker's task state (the futex word a sleeping
// Worker waits on), the work list (llist: a bit per work), each work's
// VHOST_WORK_QUEUED bit, each poll's armed flag (on the socket's wait queue
// or not) and the stop word. Both sides build a VhostDev over the same struct
// (VhostDev.at), each with its role: the waker side counts what producers
// paid (wakes, attempts that found the worker running or already queued,
// attempts while the poll was disarmed); the worker side counts its own
// requeues and runs. Nothing here blocks: the worker's loop is step(), and a
// driver (shared/sched/futex.ts runTask on a Worker, or the virtual clock)
// sleeps on STEP_SLEEP and spins on STEP_POLL.
import type { BpfMemory } from "../../shared/bpf/runtime/memory.ts";
import { ENOMEM, KernelError } from "../../shared/errno.ts";
import { STEP_POLL, STEP_RAN, STEP_SLEEP, TASK_INTERRUPTIBLE, TASK_RUNNING, type Task, type Waker } from "../../shared/sched/sched.ts";
import { StatBlock } from "../../shared/sched/stats.ts";

// Word offsets in the struct.
export const VW_STATE = 0;
export const VW_STOP = 1;
const VW_WORK_LIST = 16;
const VW_QUEUED = 17;
const VW_POLL_ARMED = 32;
const VHOST_DEV_BYTES = 256;
/** Works (and polls) per device: RX and TX of one queue pair, room for more. */
export const VHOST_MAX_WORKS = 8;

/** Work ids of vhost-net's two virtqueues (VHOST_NET_VQ_RX, VHOST_NET_VQ_TX). */
export const VHOST_NET_VQ_RX = 0;
export const VHOST_NET_VQ_TX = 1;
/**
 * The control work: configuration changes (a program attached to the tap, a busyloop timeout)
 * applied by the worker between two handler runs. The kernel's ioctls take the vq mutex and
 * flush the worker (vhost_dev_flush: a work queued and waited for); here the worker owns its
 * objects, so the change itself is that work.
 */
export const VHOST_WORK_CTL = 2;
/**
 * The guest's ring-event work: apply the guest's frames and re-check interrupts. A guest that
 * re-enables its callback (used_event moved) tells the device by a message, where the kernel's
 * device would read the guest's memory when it next decides; the device must see it even while
 * it has nothing else to do, or an interrupt it suppressed on the old used_event is never sent.
 */
export const VHOST_NET_VQ_EVT = 3;

/** Counters of the waker side (producer threads calling vhost_poll_wakeup/vhost_work_queue). */
export const VHOST_WAKER_STATS = [
  "poll_attempts", // sk_data_ready() reaching a vhost poll (armed or not)
  "poll_disarmed", // ... while the poll was disarmed (handler running or busy polling): nothing to do
  "wake_queued", // armed, but VHOST_WORK_QUEUED already set: nothing to do
  "wake_running", // queued the work; the worker was running: no wake paid
  "wakes", // queued the work; the worker slept: one real wake (Atomics.notify / try_to_wake_up)
] as const;
export const S_POLL_ATTEMPTS = 0, S_POLL_DISARMED = 1, S_WAKE_QUEUED = 2, S_WAKE_RUNNING = 3, S_WAKES = 4;

/** Counters of the worker side. */
export const VHOST_WORKER_STATS = [
  "loops", // worker loop iterations that found work
  "sleeps", // iterations that found the list empty (STEP_SLEEP)
  "works_run",
  "requeue_self", // the worker queued its own work (weight exceeded, or ring refilled at re-arm)
  "polls", // busy polls started
] as const;
export const S_LOOPS = 0, S_SLEEPS = 1, S_WORKS_RUN = 2, S_REQUEUE_SELF = 3, S_POLLS = 4;

/** A work function: returns 0, or STEP_POLL to busy-poll before being called again (resumed). */
export type VhostWorkFn = () => number;

export class VhostDev implements Task {
  readonly addr: number;
  readonly #i32: Int32Array;
  readonly #w: number;
  readonly #waker: Waker;
  /** This side's counters (waker or worker role). */
  readonly stats: StatBlock;
  readonly #isWorker: boolean;
  /** Worker side: work functions by id. */
  readonly #works: Array<VhostWorkFn | null>;
  /** Worker side: works taken off the list and not run yet (the kernel's local llist). */
  #pending: number;
  /** Worker side: the work that asked to busy-poll, resumed after the poll; -1 when none. */
  #resume: number;
  pollDeadlineNs: number;
  /** Set by the work that requests a poll: true when pollCheck() should also look at the socket. */
  pollSource: (() => boolean) | null;

  private constructor(mem: BpfMemory, addr: number, statsAddr: number, waker: Waker, isWorker: boolean) {
    this.addr = addr;
    this.#i32 = new Int32Array(mem.memory.buffer);
    this.#w = addr >> 2;
    this.#waker = waker;
    this.#isWorker = isWorker;
    this.stats = StatBlock.at(mem, statsAddr, isWorker ? VHOST_WORKER_STATS : VHOST_WAKER_STATS);
    this.#works = new Array<VhostWorkFn | null>(VHOST_MAX_WORKS).fill(null);
    this.#pending = 0;
    this.#resume = -1;
    this.pollDeadlineNs = 0;
    this.pollSource = null;
  }

  /**
   * vhost_dev_init(): the shared struct (worker sleeping, nothing queued, polls armed) and
   * the two counter blocks. Returns their addresses. Throws KernelError(ENOMEM).
   */
  static init(mem: BpfMemory): { addr: number; wakerStats: number; workerStats: number } {
    const addr = mem.alloc(VHOST_DEV_BYTES, 64);
    if (addr === 0) throw new KernelError(ENOMEM, "no memory for a vhost device");
    const i32 = new Int32Array(mem.memory.buffer);
    const w = addr >> 2;
    i32.fill(0, w, w + (VHOST_DEV_BYTES >> 2));
    i32[w + VW_STATE] = TASK_INTERRUPTIBLE;
    for (let i = 0; i < VHOST_MAX_WORKS; i++) i32[w + VW_POLL_ARMED + i] = 1;
    return {
      addr, wakerStats: StatBlock.init(mem, VHOST_WAKER_STATS).addr, workerStats: StatBlock.init(mem, VHOST_WORKER_STATS).addr,
    };
  }

  /** A handle on the device at `addr` in the waker role (producers) or the worker role. */
  static at(mem: BpfMemory, addr: number, statsAddr: number, waker: Waker, isWorker: boolean): VhostDev {
    return new VhostDev(mem, addr, statsAddr, waker, isWorker);
  }

  /** The shared words (the driver waits on VW_STATE and stops on VW_STOP). */
  get words(): Int32Array {
    return this.#i32;
  }
  get stateIdx(): number {
    return this.#w + VW_STATE;
  }
  get stopIdx(): number {
    return this.#w + VW_STOP;
  }

  /** Worker side: registers the function of work `id` (vhost_work_init). */
  setWork(id: number, fn: VhostWorkFn): void {
    this.#works[id] = fn;
  }

  // ---- waker side (any thread) ----

  /**
   * Queues work `id` and wakes the worker if it sleeps. Returns true when a real wake was paid.
   * @see vhost_work_queue(): test_and_set_bit(VHOST_WORK_QUEUED), llist_add, wake_up_process
   */
  vhostWorkQueue(id: number): boolean {
    const i32 = this.#i32, w = this.#w, bit = 1 << id;
    const s = this.stats.v;
    if ((Atomics.or(i32, w + VW_QUEUED, bit) & bit) !== 0) {
      if (!this.#isWorker) s[S_WAKE_QUEUED]++;
      return false;
    }
    Atomics.or(i32, w + VW_WORK_LIST, bit);
    if (this.#isWorker) {
      // The worker queueing itself: it is running, no wake.
      s[S_REQUEUE_SELF]++;
      return false;
    }
    // try_to_wake_up(): only a sleeping task costs a wake.
    if (Atomics.compareExchange(i32, w + VW_STATE, TASK_INTERRUPTIBLE, TASK_RUNNING) === TASK_INTERRUPTIBLE) {
      s[S_WAKES]++;
      this.#waker.notify();
      return true;
    }
    s[S_WAKE_RUNNING]++;
    return false;
  }

  /**
   * The poll callback a socket's sk_data_ready() reaches: nothing when the poll is not on the
   * wait queue (disarmed), else queue its work. @see vhost_poll_wakeup(), vhost_poll_queue()
   */
  vhostPollWakeup(id: number): boolean {
    const s = this.stats.v;
    s[S_POLL_ATTEMPTS]++;
    if (Atomics.load(this.#i32, this.#w + VW_POLL_ARMED + id) === 0) {
      s[S_POLL_DISARMED]++;
      return false;
    }
    return this.vhostWorkQueue(id);
  }

  // ---- worker side ----

  /** vhost_poll_stop() (vhost_net_disable_vq): the poll leaves the wait queue. */
  pollDisarm(id: number): void {
    Atomics.store(this.#i32, this.#w + VW_POLL_ARMED + id, 0);
  }

  /**
   * vhost_poll_start() (vhost_net_enable_vq): back on the wait queue. The caller then checks
   * the socket (vfs_poll) and queues the work when data arrived meanwhile: arm first, check
   * second, so that a producer that found the poll disarmed is always seen (both are
   * sequentially consistent atomics).
   */
  pollArm(id: number): void {
    Atomics.store(this.#i32, this.#w + VW_POLL_ARMED + id, 1);
  }

  /** True when work is queued (vhost_has_work). */
  hasWork(): boolean {
    return Atomics.load(this.#i32, this.#w + VW_WORK_LIST) !== 0;
  }

  /**
   * One iteration of vhost_worker(): set TASK_INTERRUPTIBLE, take the whole work list; sleep
   * when empty; else run each work after clearing its VHOST_WORK_QUEUED bit.
   */
  step(): number {
    const i32 = this.#i32, w = this.#w, s = this.stats.v;
    if (this.#resume >= 0) {
      const id = this.#resume;
      this.#resume = -1;
      if (this.#runWork(id) === STEP_POLL) return STEP_POLL;
      return this.#runPending();
    }
    Atomics.store(i32, w + VW_STATE, TASK_INTERRUPTIBLE);
    const list = Atomics.exchange(i32, w + VW_WORK_LIST, 0);
    if (list === 0) {
      s[S_SLEEPS]++;
      return STEP_SLEEP;
    }
    Atomics.store(i32, w + VW_STATE, TASK_RUNNING);
    s[S_LOOPS]++;
    this.#pending = list;
    return this.#runPending();
  }

  #runPending(): number {
    while (this.#pending !== 0) {
      const id = 31 - Math.clz32(this.#pending & -this.#pending);
      this.#pending &= ~(1 << id);
      Atomics.and(this.#i32, this.#w + VW_QUEUED, ~(1 << id));
      if (this.#runWork(id) === STEP_POLL) return STEP_POLL;
    }
    return STEP_RAN;
  }

  #runWork(id: number): number {
    const fn = this.#works[id];
    if (fn === null || fn === undefined) return STEP_RAN;
    this.stats.v[S_WORKS_RUN]++;
    const r = fn();
    if (r === STEP_POLL) {
      this.stats.v[S_POLLS]++;
      this.#resume = id;
      return STEP_POLL;
    }
    return STEP_RAN;
  }

  /** During a busy poll: stop when the socket has data or other work was queued. */
  pollCheck(): boolean {
    return this.hasWork() || (this.pollSource !== null && this.pollSource());
  }

  pollEnd(_found: boolean): void {
    // The polled work runs again on the next step() (#resume) and decides what it found.
  }
}
