// Element recycling for LRU hash maps. Counterpart: kernel/bpf/bpf_lru_list.c.
//
// How exact this is. The kernel's LRU is approximate on purpose: elements sit
// on active/inactive lists and a lookup only sets a "ref" bit (second chance);
// free elements are cached per CPU (up to LOCAL_FREE_TARGET = 128 per CPU on
// the common list), so a map can evict while other CPUs still hold free
// elements, i.e. before it is full, and the victim is "not recently
// referenced", not strictly the least recently used.
// What we do: exact LRU order. Every element in use is on one doubly linked
// list per LRU list, most recently used at the head. A program lookup or an
// update moves the element to the head (syscall lookups do not, as in the
// kernel). A new element takes a free element of its list when there is one;
// only when none is left is the tail (least recently used) evicted. With
// BPF_F_NO_COMMON_LRU there is one list per CPU holding max_entries / nCpus
// elements (the kernel's per-CPU LRU split), and a CPU only recycles
// elements of its own list, as bpf_percpu_lru_pop_free() does.
//
// All state is typed arrays preallocated at map creation: no allocation per op.

/** LRU order and free lists over element indexes 0..nElems-1. */
export class BpfLru {
  readonly nLists: number;
  readonly #prev: Int32Array;
  readonly #next: Int32Array;
  /** Most recently used element of each list, -1 when empty. */
  readonly #head: Int32Array;
  /** Least recently used element of each list, -1 when empty. */
  readonly #tail: Int32Array;
  /** List each element belongs to (bpf_lru_node.cpu). */
  readonly #owner: Int32Array;
  readonly #freeNext: Int32Array;
  readonly #freeHead: Int32Array;

  /**
   * @param nElems element count (a multiple of nLists)
   * @param nLists 1 for the common LRU, nCpus for BPF_F_NO_COMMON_LRU
   */
  constructor(nElems: number, nLists: number) {
    this.nLists = nLists;
    this.#prev = new Int32Array(nElems).fill(-1);
    this.#next = new Int32Array(nElems).fill(-1);
    this.#head = new Int32Array(nLists).fill(-1);
    this.#tail = new Int32Array(nLists).fill(-1);
    this.#owner = new Int32Array(nElems);
    this.#freeNext = new Int32Array(nElems).fill(-1);
    this.#freeHead = new Int32Array(nLists).fill(-1);
    const perList = nElems / nLists;
    // Push in reverse so that each list hands out its lowest index first.
    for (let e = nElems - 1; e >= 0; e--) {
      const list = nLists === 1 ? 0 : Math.floor(e / perList);
      this.#owner[e] = list;
      this.#freeNext[e] = this.#freeHead[list]!;
      this.#freeHead[list] = e;
    }
  }

  /** The list a CPU allocates from. */
  listOf(cpu: number): number {
    return this.nLists === 1 ? 0 : cpu;
  }

  /** Takes a free element of `list`; returns its index or -1 when the list has none. */
  popFree(list: number): number {
    const e = this.#freeHead[list]!;
    if (e >= 0) {
      this.#freeHead[list] = this.#freeNext[e]!;
      this.#freeNext[e] = -1;
    }
    return e;
  }

  /** Returns an element that is on no list to the free list of its owner. */
  pushFree(e: number): void {
    const list = this.#owner[e]!;
    this.#freeNext[e] = this.#freeHead[list]!;
    this.#freeHead[list] = e;
  }

  /** Least recently used element of `list`, -1 when nothing is in use. */
  victim(list: number): number {
    return this.#tail[list]!;
  }

  /** Puts an element that is on no list at the most recently used end of its owner's list. */
  addHead(e: number): void {
    const list = this.#owner[e]!;
    const h = this.#head[list]!;
    this.#prev[e] = -1;
    this.#next[e] = h;
    if (h >= 0) this.#prev[h] = e;
    else this.#tail[list] = e;
    this.#head[list] = e;
  }

  /** Takes an element off its in-use list. */
  remove(e: number): void {
    const list = this.#owner[e]!;
    const p = this.#prev[e]!;
    const n = this.#next[e]!;
    if (p >= 0) this.#next[p] = n;
    else this.#head[list] = n;
    if (n >= 0) this.#prev[n] = p;
    else this.#tail[list] = p;
    this.#prev[e] = -1;
    this.#next[e] = -1;
  }

  /** Marks an in-use element as just used (bpf_lru_node_set_ref()). */
  touch(e: number): void {
    if (this.#head[this.#owner[e]!] === e) return;
    this.remove(e);
    this.addHead(e);
  }

  /** In-use elements of `list` from most to least recently used (tests and dumps). */
  order(list: number): number[] {
    const out: number[] = [];
    for (let e = this.#head[list]!; e >= 0; e = this.#next[e]!) out.push(e);
    return out;
  }
}
