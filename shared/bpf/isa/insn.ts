// struct bpf_insn encode/decode (include/uapi/linux/bpf.h): 8 bytes,
// opcode:8 dst_reg:4 src_reg:4 off:s16 imm:s32, little endian.
// Programs are kept as struct-of-arrays so that hot loops index typed arrays.

export const BPF_INSN_SZ = 8;

/** A program's instructions as parallel typed arrays, one slot per 8-byte insn. */
export class BpfInsns {
  readonly len: number;
  readonly code: Uint8Array;
  readonly dst: Uint8Array;
  readonly src: Uint8Array;
  readonly off: Int16Array;
  readonly imm: Int32Array;
  constructor(len: number) {
    this.len = len;
    this.code = new Uint8Array(len);
    this.dst = new Uint8Array(len);
    this.src = new Uint8Array(len);
    this.off = new Int16Array(len);
    this.imm = new Int32Array(len);
  }

  /** Decodes raw little-endian bytes; a trailing partial insn is ignored by the caller's length check. */
  static fromBytes(bytes: Uint8Array, byteOff = 0, byteLen = bytes.length - byteOff): BpfInsns {
    const n = Math.floor(byteLen / BPF_INSN_SZ);
    const p = new BpfInsns(n);
    const dv = new DataView(bytes.buffer, bytes.byteOffset + byteOff, n * BPF_INSN_SZ);
    for (let i = 0; i < n; i++) {
      const o = i * BPF_INSN_SZ;
      p.code[i] = dv.getUint8(o);
      const regs = dv.getUint8(o + 1);
      p.dst[i] = regs & 0x0f;
      p.src[i] = regs >> 4;
      p.off[i] = dv.getInt16(o + 2, true);
      p.imm[i] = dv.getInt32(o + 4, true);
    }
    return p;
  }

  /** Builds from [code, dst, src, off, imm] tuples. */
  static fromTuples(t: ReadonlyArray<readonly [number, number, number, number, number]>): BpfInsns {
    const p = new BpfInsns(t.length);
    for (let i = 0; i < t.length; i++) p.set(i, t[i]![0], t[i]![1], t[i]![2], t[i]![3], t[i]![4]);
    return p;
  }

  set(i: number, code: number, dst: number, src: number, off: number, imm: number): void {
    this.code[i] = code;
    this.dst[i] = dst;
    this.src[i] = src;
    this.off[i] = off;
    this.imm[i] = imm;
  }

  toBytes(): Uint8Array {
    const out = new Uint8Array(this.len * BPF_INSN_SZ);
    const dv = new DataView(out.buffer);
    for (let i = 0; i < this.len; i++) {
      const o = i * BPF_INSN_SZ;
      dv.setUint8(o, this.code[i]!);
      dv.setUint8(o + 1, (this.dst[i]! & 0x0f) | ((this.src[i]! & 0x0f) << 4));
      dv.setInt16(o + 2, this.off[i]!, true);
      dv.setInt32(o + 4, this.imm[i]!, true);
    }
    return out;
  }

  clone(): BpfInsns {
    const p = new BpfInsns(this.len);
    p.code.set(this.code);
    p.dst.set(this.dst);
    p.src.set(this.src);
    p.off.set(this.off);
    p.imm.set(this.imm);
    return p;
  }

  /** Concatenates programs (libbpf appends subprograms after the main one). */
  static concat(parts: readonly BpfInsns[]): BpfInsns {
    const p = new BpfInsns(parts.reduce((a, b) => a + b.len, 0));
    let at = 0;
    for (const q of parts) {
      p.code.set(q.code, at);
      p.dst.set(q.dst, at);
      p.src.set(q.src, at);
      p.off.set(q.off, at);
      p.imm.set(q.imm, at);
      at += q.len;
    }
    return p;
  }
}
