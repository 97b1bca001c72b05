// Capture points of the datapath (NIC rx, tap tx, tap rx, guest rx): what
// tcpdump on those interfaces would see, written as pcap files. The thread of
// the capture point copies up to `snaplen` bytes of each frame into a slot of
// a ring in the (shared) BPF memory, allocation-free; the control plane
// drains the ring into the file (libpcap savefile, nanosecond timestamps).
// A full ring drops the capture record, never the packet (counted, like
// AF_PACKET's tp_drops).
import { closeSync, openSync, writeSync } from "node:fs";
import type { BpfMemory } from "../../shared/bpf/runtime/memory.ts";
import { ENOMEM, KernelError } from "../../shared/errno.ts";
import { XDP_MD_DATA, XDP_MD_DATA_END } from "../../shared/bpf/isa/uapi.ts";
import { PCAP_REC_HDR_LEN, pcapHeader, pcapRecordHeader } from "../../shared/net/pcap.ts";

// Header words: [0] records written, [1] records dropped (writer); [2] slots, [3] snaplen;
// [4] enabled (the control plane's switch: a disabled point records nothing and costs one load).
const HDR_BYTES = 64;
// Slot: [0] state (0 free, 1 full), [4] caplen, [8] len, [16] timestamp (f64, ns since the epoch), data at 24.
const SLOT_HDR = 24;

export class CaptureRing {
  readonly addr: number;
  readonly slots: number;
  readonly snaplen: number;
  readonly #mem: BpfMemory;
  readonly #i32: Int32Array;
  readonly #f64: Float64Array;
  readonly #slotBytes: number;
  /** Writer's next slot / reader's next slot (each side's own). */
  #head: number;
  #tail: number;

  private constructor(mem: BpfMemory, addr: number) {
    this.addr = addr;
    this.#mem = mem;
    this.#i32 = new Int32Array(mem.memory.buffer);
    this.#f64 = new Float64Array(mem.memory.buffer);
    this.slots = this.#i32[(addr >> 2) + 2]!;
    this.snaplen = this.#i32[(addr >> 2) + 3]!;
    this.#slotBytes = (SLOT_HDR + this.snaplen + 7) & ~7;
    // Each slot written is counted in word 0: a handle made later (a producer thread's next run, a
    // new reader of a drained ring) goes on from there.
    this.#head = this.#i32[addr >> 2]!;
    this.#tail = this.#head;
  }

  /** A ring of `slots` records of up to `snaplen` bytes (setup time, owner thread). */
  static init(mem: BpfMemory, slots = 1024, snaplen = 256): CaptureRing {
    const slotBytes = (SLOT_HDR + snaplen + 7) & ~7;
    const addr = mem.alloc(HDR_BYTES + slots * slotBytes, 64);
    if (addr === 0) throw new KernelError(ENOMEM, "no memory for a capture ring");
    const i32 = new Int32Array(mem.memory.buffer);
    i32.fill(0, addr >> 2, (addr + HDR_BYTES + slots * slotBytes) >> 2);
    i32[(addr >> 2) + 2] = slots;
    i32[(addr >> 2) + 3] = snaplen;
    i32[(addr >> 2) + 4] = 1;
    return new CaptureRing(mem, addr);
  }

  static at(mem: BpfMemory, addr: number): CaptureRing {
    return new CaptureRing(mem, addr);
  }

  /** Writer (one thread): records the `len` bytes at `dataAddr`. */
  capture(dataAddr: number, len: number): void {
    const i32 = this.#i32, h = this.addr >> 2;
    if (i32[h + 4] === 0) return;
    const slot = this.addr + HDR_BYTES + (this.#head % this.slots) * this.#slotBytes;
    if (Atomics.load(i32, slot >> 2) !== 0) {
      i32[h + 1]!++;
      return;
    }
    const cap = len < this.snaplen ? len : this.snaplen;
    this.#mem.u8.copyWithin(slot + SLOT_HDR, dataAddr, dataAddr + cap);
    i32[(slot >> 2) + 1] = cap;
    i32[(slot >> 2) + 2] = len;
    this.#f64[(slot + 16) >> 3] = (performance.timeOrigin + performance.now()) * 1e6;
    Atomics.store(i32, slot >> 2, 1);
    this.#head++;
    i32[h]!++;
  }

  /** Whether the point records (set by the control plane; on from init()). */
  get enabled(): boolean {
    return Atomics.load(this.#i32, (this.addr >> 2) + 4) !== 0;
  }
  set enabled(on: boolean) {
    Atomics.store(this.#i32, (this.addr >> 2) + 4, on ? 1 : 0);
  }

  /** Writer: records the packet of the xdp_md block at `ctx` (data .. data_end); a disabled point reads nothing. */
  captureXdp(ctx: number): void {
    if (this.#i32[(this.addr >> 2) + 4] === 0) return;
    const dv = this.#mem.dv, d = dv.getUint32(ctx + XDP_MD_DATA, true);
    this.capture(d, dv.getUint32(ctx + XDP_MD_DATA_END, true) - d);
  }

  /** Records written and dropped (ring full) so far. */
  get written(): number {
    return this.#i32[this.addr >> 2]!;
  }
  get dropped(): number {
    return this.#i32[(this.addr >> 2) + 1]!;
  }

  /** Reader (one thread): appends every full slot to the pcap file open on `fd`. Returns the records written. */
  drainTo(fd: number): number {
    const i32 = this.#i32, u8 = this.#mem.u8;
    let n = 0;
    const rec = new Uint8Array(PCAP_REC_HDR_LEN), dv = new DataView(rec.buffer);
    for (;;) {
      const slot = this.addr + HDR_BYTES + (this.#tail % this.slots) * this.#slotBytes;
      if (Atomics.load(i32, slot >> 2) !== 1) return n;
      const cap = i32[(slot >> 2) + 1]!, len = i32[(slot >> 2) + 2]!;
      pcapRecordHeader(dv, 0, this.#f64[(slot + 16) >> 3]!, cap, len);
      writeSync(fd, rec);
      writeSync(fd, u8, slot + SLOT_HDR, cap);
      Atomics.store(i32, slot >> 2, 0);
      this.#tail++;
      n++;
    }
  }
}

/** A pcap file fed from a capture ring (control plane side). */
export class CaptureFile {
  readonly path: string;
  readonly ring: CaptureRing;
  #fd: number;

  constructor(path: string, ring: CaptureRing) {
    this.path = path;
    this.ring = ring;
    this.#fd = openSync(path, "w");
    writeSync(this.#fd, pcapHeader(ring.snaplen));
  }

  drain(): number {
    return this.#fd < 0 ? 0 : this.ring.drainTo(this.#fd);
  }

  close(): void {
    if (this.#fd < 0) return;
    this.drain();
    closeSync(this.#fd);
    this.#fd = -1;
  }
}
