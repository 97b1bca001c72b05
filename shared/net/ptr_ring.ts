// A fixed-size ring of u32 handles in shared memory, with the kernel's
// semantics: include/linux/ptr_ring.h. A slot is free when it holds 0; the
// producer fails with -ENOSPC when the slot at its index is still taken (no
// separate count, so producer and consumer never write the same index word);
// the consumer zeroes consumed slots lazily, `batch` at a time and in reverse
// order, so that it does not bounce the cache line the producer is writing
// (__ptr_ring_discard_one). Handles are frame addresses, never 0.
//
// Threads: the struct lives in BpfMemory (a shared memory when the host runs
// threads), so PtrRing.at() rebuilds the same ring on another thread. One
// producer and one consumer need no lock. Visibility is batched: slots are
// written and zeroed with plain stores; the producer then publishes a count
// of produced entries with one Atomics.store (a release: the frames and slots
// written before it are visible to whoever loads that count), once per entry
// for produce() and once per bulk for produceNoPublish() ... publish() (NIC
// rx descriptors per burst, tun_xdp_xmit()'s bulk under one producer lock, a
// page_pool's bulk return); the consumer loads the count once per batch (the
// acquire) and reads only slots below it. This is the kernel's
// smp_wmb()/READ_ONCE pairing, paid once per batch rather than with a
// sequentially consistent store per slot (which is what an x86 `xchg`
// costs). The producer still finds a slot free by reading it (an atomic load,
// a plain mov on x86): the consumer's lazy zeroing keeps its semantics. The
// *Locked variants take a spinlock word, as ptr_ring_produce() and
// ptr_ring_consume_batched() take producer_lock/consumer_lock, for rings with
// several producers (a page_pool's recycle ring); a producer publishes
// before it unlocks.
import type { BpfMemory } from "../bpf/runtime/memory.ts";
import { ENOMEM, ENOSPC, KernelError } from "../errno.ts";

// Word offsets in the struct (producer side, consumer side and constants on separate 64-byte lines).
const W_PRODUCER = 0;
const W_PRODUCER_LOCK = 1;
/** Entries produced (mod 2^32), the producer's own count; W_PUBLISHED is what the consumer may read. */
const W_PRODUCED = 2;
const W_PUBLISHED = 3;
const W_CONSUMER_HEAD = 16;
const W_CONSUMER_TAIL = 17;
const W_CONSUMER_LOCK = 18;
/** Entries consumed (mod 2^32): with W_PUBLISHED, what is available. */
const W_CONSUMED = 19;
const W_SIZE = 32;
const W_BATCH = 33;
const W_QUEUE = 48;
/** SMP_CACHE_BYTES * 2 / sizeof(void *) on x86-64: slots zeroed at once by the consumer. */
export const PTR_RING_BATCH = 16;

export class PtrRing {
  /** Address of the struct in BpfMemory. */
  readonly addr: number;
  readonly size: number;
  readonly #i32: Int32Array;
  /** Word index of the struct and of queue[0]. */
  readonly #w: number;
  readonly #q: number;
  readonly #batch: number;

  private constructor(buffer: ArrayBufferLike, addr: number) {
    this.addr = addr;
    this.#i32 = new Int32Array(buffer);
    this.#w = addr >> 2;
    this.#q = this.#w + W_QUEUE;
    this.size = this.#i32[this.#w + W_SIZE]!;
    this.#batch = this.#i32[this.#w + W_BATCH]!;
  }

  /** Bytes a ring of `size` slots takes. */
  static bytes(size: number): number {
    return 4 * (W_QUEUE + size);
  }

  /**
   * ptr_ring_init(): allocates and initialises a ring of `size` slots in `mem` (setup time).
   * Throws KernelError(ENOMEM) when the memory is exhausted.
   */
  static init(mem: BpfMemory, size: number): PtrRing {
    if (!Number.isInteger(size) || size < 1) throw new KernelError(ENOMEM, `ptr_ring size ${size}`);
    const addr = mem.alloc(PtrRing.bytes(size), 64);
    if (addr === 0) throw new KernelError(ENOMEM, `no memory for a ptr_ring of ${size} slots`);
    const i32 = new Int32Array(mem.memory.buffer);
    const w = addr >> 2;
    i32.fill(0, w, w + W_QUEUE + size);
    i32[w + W_SIZE] = size;
    // __ptr_ring_set_size(): a batch larger than half the ring would starve the producer.
    i32[w + W_BATCH] = PTR_RING_BATCH > (size >> 1) ? 1 : PTR_RING_BATCH;
    return new PtrRing(mem.memory.buffer, addr);
  }

  /** The ring initialised at `addr` of this memory (another thread's handle on it). */
  static at(mem: BpfMemory, addr: number): PtrRing {
    return new PtrRing(mem.memory.buffer, addr);
  }

  // ---- producer side ----

  /** True when the next produce would fail. @see __ptr_ring_full() */
  isFull(): boolean {
    const i32 = this.#i32;
    return Atomics.load(i32, this.#q + i32[this.#w + W_PRODUCER]!) !== 0;
  }

  /**
   * Stores handle `h` (non-zero) in the next slot. Returns 0, or -ENOSPC when the ring is full.
   * Caller is the only producer (or holds the producer lock). @see __ptr_ring_produce()
   */
  produce(h: number): number {
    const r = this.produceNoPublish(h);
    if (r === 0) this.publish();
    return r;
  }

  /**
   * produce() without making the entry visible yet: a bulk of these ends with one publish()
   * (before the producer lock is released, for the locked variants). @see __ptr_ring_produce()
   */
  produceNoPublish(h: number): number {
    const i32 = this.#i32, w = this.#w;
    const p = i32[w + W_PRODUCER]!;
    // A plain read, as the kernel's data_race() read of the slot: a stale value can only be a
    // handle this thread wrote before the consumer zeroed it (a false "full"), never a false "free".
    // An Atomics.load here costs ~7 ns per entry in V8, on every ring the datapath produces into.
    if (i32[this.#q + p] !== 0) return -ENOSPC;
    i32[this.#q + p] = h;
    i32[w + W_PRODUCER] = p + 1 >= this.size ? 0 : p + 1;
    i32[w + W_PRODUCED] = (i32[w + W_PRODUCED]! + 1) | 0;
    return 0;
  }

  /** Release: every entry produced so far (and the frames written before them) becomes visible to the consumer. */
  publish(): void {
    const i32 = this.#i32, w = this.#w;
    Atomics.store(i32, w + W_PUBLISHED, i32[w + W_PRODUCED]!);
  }

  /**
   * hs[off..off+n) under one producer lock and one publish; stops at the first that does not
   * fit. Returns how many it produced. @see ptr_ring_produce() (a bulk of them)
   */
  produceBulkLocked(hs: Uint32Array | Int32Array, off: number, n: number): number {
    const lock = this.#w + W_PRODUCER_LOCK;
    spinLock(this.#i32, lock);
    let i = 0;
    while (i < n && this.produceNoPublish(hs[off + i]!) === 0) i++;
    this.publish();
    Atomics.store(this.#i32, lock, 0);
    return i;
  }

  /** produce() under the producer spinlock (several producers). @see ptr_ring_produce() */
  produceLocked(h: number): number {
    const lock = this.#w + W_PRODUCER_LOCK;
    spinLock(this.#i32, lock);
    const r = this.produce(h);
    Atomics.store(this.#i32, lock, 0);
    return r;
  }

  /** spin_lock(&r->producer_lock), for a producer that produces a bulk under one lock (tun_xdp_xmit). */
  producerLock(): void {
    spinLock(this.#i32, this.#w + W_PRODUCER_LOCK);
  }

  /** Publishes what was produced under the lock, then releases it. */
  producerUnlock(): void {
    this.publish();
    Atomics.store(this.#i32, this.#w + W_PRODUCER_LOCK, 0);
  }

  // ---- consumer side ----

  /** The handle at the consumer head, 0 when empty. @see __ptr_ring_peek() */
  peek(): number {
    const i32 = this.#i32, w = this.#w;
    // Acquire: the published count; the slot below it and its frame are then visible.
    if (Atomics.load(i32, w + W_PUBLISHED) === i32[w + W_CONSUMED]) return 0;
    return i32[this.#q + i32[w + W_CONSUMER_HEAD]!]!;
  }

  /** True when there is nothing to consume (consumer side). @see __ptr_ring_empty() */
  isEmpty(): boolean {
    return this.peek() === 0;
  }

  /** Moves the head past the slot just read, zeroing slots `batch` at a time. @see __ptr_ring_discard_one() */
  #discardOne(): void {
    const i32 = this.#i32, w = this.#w, q = this.#q;
    const consumerHead = i32[w + W_CONSUMER_HEAD]!;
    let head = consumerHead + 1;
    if (head - i32[w + W_CONSUMER_TAIL]! >= this.#batch || head >= this.size) {
      // Zero in reverse order, so the producer sees the first slot free only when the whole
      // run is free (it stops at the first taken slot anyway).
      const tail = i32[w + W_CONSUMER_TAIL]!;
      while (--head >= tail) i32[q + head] = 0;
      i32[w + W_CONSUMER_TAIL] = consumerHead + 1;
    }
    let next = consumerHead + 1;
    if (next >= this.size) {
      next = 0;
      i32[w + W_CONSUMER_TAIL] = 0;
    }
    i32[w + W_CONSUMER_HEAD] = next;
  }

  /** Takes the handle at the head; 0 when empty. @see __ptr_ring_consume() */
  consume(): number {
    const h = this.peek();
    if (h !== 0) {
      this.#discardOne();
      const i32 = this.#i32;
      i32[this.#w + W_CONSUMED] = (i32[this.#w + W_CONSUMED]! + 1) | 0;
    }
    return h;
  }

  /**
   * Takes up to `n` handles into out[off..off+n). Returns how many. @see __ptr_ring_consume_batched()
   */
  consumeBatched(out: Uint32Array | Int32Array, off: number, n: number): number {
    const i32 = this.#i32, w = this.#w, q = this.#q, size = this.size, batch = this.#batch;
    // One acquire for the whole batch: every slot below the published count is readable.
    const consumed = i32[w + W_CONSUMED]!;
    const avail = (Atomics.load(i32, w + W_PUBLISHED) - consumed) | 0;
    if (avail < n) n = avail;
    if (n <= 0) return 0;
    // __ptr_ring_discard_one() per entry, on locals: head and tail written back once.
    let head = i32[w + W_CONSUMER_HEAD]!, tail = i32[w + W_CONSUMER_TAIL]!;
    for (let i = 0; i < n; i++) {
      out[off + i] = i32[q + head]!;
      let h = head + 1;
      if (h - tail >= batch || h >= size) {
        // Zero in reverse order, so the producer sees the first slot free only when the whole run is.
        while (--h >= tail) i32[q + h] = 0;
        tail = head + 1;
      }
      head++;
      if (head >= size) {
        head = 0;
        tail = 0;
      }
    }
    i32[w + W_CONSUMER_HEAD] = head;
    i32[w + W_CONSUMER_TAIL] = tail;
    i32[w + W_CONSUMED] = (consumed + n) | 0;
    return n;
  }

  /** consumeBatched() under the consumer spinlock. @see ptr_ring_consume_batched() */
  consumeBatchedLocked(out: Uint32Array | Int32Array, off: number, n: number): number {
    const lock = this.#w + W_CONSUMER_LOCK;
    spinLock(this.#i32, lock);
    const r = this.consumeBatched(out, off, n);
    Atomics.store(this.#i32, lock, 0);
    return r;
  }
}

/** spin_lock(): a real spin on a shared word (held for a few stores only). */
function spinLock(i32: Int32Array, idx: number): void {
  while (Atomics.compareExchange(i32, idx, 0, 1) !== 0) {
    // Wait for the holder to release it; no sleep: the critical sections are a few stores.
    while (Atomics.load(i32, idx) !== 0) { /* spin */ }
  }
}
