// The classic libpcap savefile (pcap/pcap.h struct pcap_file_header, the
// record header of sf-pcap.c; pcap-savefile(5)): a 24-byte global header
// (magic, version 2.4, thiszone, sigfigs, snaplen, link type) and per packet a
// 16-byte record header (ts_sec, ts_usec or ts_nsec, incl_len, orig_len)
// followed by incl_len captured bytes.
//
// - PcapWriter: a capture point on a hot path. Records are appended to one
//   preallocated buffer and handed to the sink (a file descriptor, through
//   fs.writeSync, or a callback such as a stream's write) when the buffer
//   fills, on flush() and on close(): nothing is allocated per packet and
//   capture() never throws (failures are counted as drops).
// - parsePcap(): a whole file into records (microsecond or nanosecond magic,
//   either byte order). A truncated or malformed file is KernelError(EINVAL)
//   with a message saying where; pcapng (tcpdump's `-w` default is still
//   pcap) is refused by name.
// - PcapReplay: the frames of a file, loaded once into one contiguous buffer,
//   copied in order (looping if asked) into a caller's buffer: pktgen's
//   replay source, allocation-free after load.
// - l4ProtoOf(): the L4 protocol key the sample xdp1 counts under
//   (scenarios/programs/xdp_parse.h parse_frame()), for per-protocol counts.
import { closeSync, openSync, readFileSync, writeSync } from "node:fs";
import { EINVAL, EIO, EMSGSIZE, KernelError } from "../errno.ts";
import { ETH_HLEN, ETH_P_8021AD, ETH_P_8021Q, ETH_P_IP, ETH_P_IPV6, IPV4_HLEN, IPV6_HLEN, VLAN_HLEN } from "./headers.ts";

/** TCPDUMP_MAGIC: microsecond timestamps. */
export const PCAP_MAGIC_US = 0xa1b2c3d4;
/** NSEC_TCPDUMP_MAGIC: nanosecond timestamps. */
export const PCAP_MAGIC_NS = 0xa1b23c4d;
/** pcapng's Section Header Block type (the first 4 bytes of a pcapng file, in either byte order). */
export const PCAPNG_BT_SHB = 0x0a0d0d0a;
export const PCAP_VERSION_MAJOR = 2;
export const PCAP_VERSION_MINOR = 4;
/** LINKTYPE_ETHERNET (DLT_EN10MB). */
export const LINKTYPE_ETHERNET = 1;
/** The link type field's low 26 bits are the type (LT_LINKTYPE); the upper bits carry FCS information. */
export const LT_LINKTYPE_MASK = 0x03ffffff;
/** libpcap's MAXIMUM_SNAPLEN (what tcpdump -s 0 means). */
export const MAXIMUM_SNAPLEN = 262144;
export const PCAP_HDR_LEN = 24;
export const PCAP_REC_HDR_LEN = 16;

export type PcapPrecision = "us" | "ns";

/**
 * The global header of an Ethernet capture (setup time; allocates). Nanosecond
 * precision unless told otherwise, as the datapath's capture points write it.
 */
export function pcapHeader(snaplen: number, precision: PcapPrecision = "ns", linktype = LINKTYPE_ETHERNET): Uint8Array {
  const b = new Uint8Array(PCAP_HDR_LEN);
  writePcapHeader(new DataView(b.buffer), 0, snaplen, precision, linktype);
  return b;
}

function writePcapHeader(dv: DataView, off: number, snaplen: number, precision: PcapPrecision, linktype: number): void {
  dv.setUint32(off, precision === "ns" ? PCAP_MAGIC_NS : PCAP_MAGIC_US, true);
  dv.setUint16(off + 4, PCAP_VERSION_MAJOR, true);
  dv.setUint16(off + 6, PCAP_VERSION_MINOR, true);
  dv.setInt32(off + 8, 0, true); // thiszone: always 0 (UTC)
  dv.setUint32(off + 12, 0, true); // sigfigs: always 0
  dv.setUint32(off + 16, snaplen, true);
  dv.setUint32(off + 20, linktype, true);
}

/**
 * Writes a nanosecond-precision record header at out[off..off+16): time in ns
 * since the epoch, captured and original lengths. Allocates nothing.
 */
export function pcapRecordHeader(out: DataView, off: number, tsNs: number, caplen: number, len: number): void {
  const sec = Math.floor(tsNs / 1e9);
  out.setUint32(off, sec, true);
  out.setUint32(off + 4, Math.floor(tsNs - sec * 1e9), true);
  out.setUint32(off + 8, caplen, true);
  out.setUint32(off + 12, len, true);
}

// ---------------------------------------------------------------- writer --

function put32le(b: Uint8Array, at: number, v: number): void {
  b[at] = v & 0xff;
  b[at + 1] = (v >>> 8) & 0xff;
  b[at + 2] = (v >>> 16) & 0xff;
  b[at + 3] = (v >>> 24) & 0xff;
}

/** Where a writer's full buffer goes: a file descriptor (fs.writeSync) or a function that consumes buf[0..len) before returning. */
export type PcapSink = number | ((buf: Uint8Array, len: number) => boolean | void);

export interface PcapWriterOptions {
  /** Bytes kept of each frame (incl_len <= snaplen); default MAXIMUM_SNAPLEN. */
  snaplen?: number;
  /** Timestamp precision of the file (its magic); default "us", as tcpdump -w writes. */
  precision?: PcapPrecision;
  linktype?: number;
  /** Size of the preallocated record buffer; default 1 MiB, at least one full record. */
  bufferSize?: number;
  /** With a file descriptor sink: close it in close() (as pcap_dump_close() fcloses its file). Default false. */
  closeFd?: boolean;
}

/**
 * A capture point writing a pcap file (tcpdump -w's side of libpcap:
 * pcap_dump_open(), pcap_dump(), pcap_dump_flush(), pcap_dump_close()).
 * The global header is written on construction (into the buffer).
 */
export class PcapWriter {
  readonly snaplen: number;
  readonly precision: PcapPrecision;
  readonly linktype: number;
  /** Records written into the buffer (and so, unless a later flush fails, into the file). */
  captured = 0;
  /** Records lost: the sink failed, or capture() after close(). */
  dropped = 0;
  /** Bytes handed to the sink so far. */
  bytesWritten = 0;
  /** Flushes of the buffer to the sink. */
  flushes = 0;
  /** The first failure of the sink (then every later record is dropped). */
  error: KernelError | null = null;
  readonly #sink: PcapSink;
  readonly #buf: Uint8Array;
  readonly #dv: DataView;
  readonly #nsPerTick: number;
  #len = 0;
  /** Records in the buffer not yet handed to the sink. */
  #pending = 0;
  #closed = false;
  readonly #closeFd: boolean;

  /** Creates (truncates) `file` and writes into it; close() closes it (setup time; throws KernelError). */
  static open(file: string, opts: Omit<PcapWriterOptions, "closeFd"> = {}): PcapWriter {
    let fd: number;
    try {
      fd = openSync(file, "w");
    } catch (e) {
      const errno = typeof (e as { errno?: unknown }).errno === "number" ? Math.abs((e as { errno: number }).errno) : EIO;
      throw new KernelError(errno, `pcap: cannot create ${file}: ${(e as Error).message}`, { cause: e });
    }
    try {
      return new PcapWriter(fd, { ...opts, closeFd: true });
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }

  constructor(sink: PcapSink, opts: PcapWriterOptions = {}) {
    const snaplen = opts.snaplen ?? MAXIMUM_SNAPLEN;
    if (!Number.isInteger(snaplen) || snaplen < 1 || snaplen > MAXIMUM_SNAPLEN) {
      throw new KernelError(EINVAL, `pcap: snaplen ${snaplen} out of 1..${MAXIMUM_SNAPLEN}`);
    }
    const precision = opts.precision ?? "us";
    if (precision !== "us" && precision !== "ns") throw new KernelError(EINVAL, `pcap: precision ${String(precision)} is neither us nor ns`);
    const size = Math.max(opts.bufferSize ?? 1 << 20, PCAP_HDR_LEN + PCAP_REC_HDR_LEN + snaplen);
    this.snaplen = snaplen;
    this.precision = precision;
    this.linktype = opts.linktype ?? LINKTYPE_ETHERNET;
    this.#sink = sink;
    this.#buf = new Uint8Array(size);
    this.#dv = new DataView(this.#buf.buffer);
    this.#nsPerTick = precision === "ns" ? 1 : 1000;
    this.#closeFd = opts.closeFd === true && typeof sink === "number";
    writePcapHeader(this.#dv, 0, snaplen, precision, this.linktype);
    this.#len = PCAP_HDR_LEN;
  }

  /**
   * Records the frame bytes[offset..offset+len) seen at tsSec.tsNsec
   * (seconds since the epoch, nanoseconds within the second; the file keeps
   * microseconds or nanoseconds per its precision). Two numbers rather than
   * one nanosecond double: measured with the --trace-gc probe, a double of
   * today's epoch nanoseconds handed to this call allocated (a boxed number,
   * 15 scavenges over 2M records) where seconds and nanoseconds split at the
   * call site do not. Keeps min(len, snaplen) bytes; a tsNsec out of
   * 0..999999999 or a range outside `bytes` drops the record.
   * Hot path: allocates nothing, never throws; returns false when the record
   * was dropped.
   */
  capture(bytes: Uint8Array, offset: number, len: number, tsSec: number, tsNsec: number): boolean {
    if (this.#closed || this.error !== null || len < 0 || offset < 0 || !(tsNsec >= 0 && tsNsec < 1e9) ||
      offset + (len < this.snaplen ? len : this.snaplen) > bytes.length) {
      this.dropped++;
      return false;
    }
    const incl = len < this.snaplen ? len : this.snaplen;
    if (this.#len + PCAP_REC_HDR_LEN + incl > this.#buf.length && !this.#flushBuffer()) {
      this.dropped++;
      return false;
    }
    const buf = this.#buf, at = this.#len;
    // Little-endian stores by hand (int32 truncation drops a fractional nanosecond).
    const frac = this.#nsPerTick === 1 ? tsNsec : (tsNsec / 1000) | 0;
    put32le(buf, at, tsSec);
    put32le(buf, at + 4, frac);
    put32le(buf, at + 8, incl);
    put32le(buf, at + 12, len);
    for (let i = 0, o = at + PCAP_REC_HDR_LEN; i < incl; i++) buf[o + i] = bytes[offset + i]!;
    this.#len = at + PCAP_REC_HDR_LEN + incl;
    this.#pending++;
    this.captured++;
    return true;
  }

  /** Hands the buffered records to the sink (pcap_dump_flush()). Throws the sink's failure as KernelError. */
  flush(): void {
    if (!this.#flushBuffer()) throw this.error!;
  }

  /** Flushes and stops (pcap_dump_close(); a file descriptor is closed only with closeFd). Throws the sink's failure. */
  close(): void {
    if (this.#closed) return;
    const ok = this.#flushBuffer();
    this.#closed = true;
    if (this.#closeFd) closeSync(this.#sink as number);
    if (!ok) throw this.error!;
  }

  get closed(): boolean {
    return this.#closed;
  }

  #flushBuffer(): boolean {
    if (this.error !== null) return false;
    if (this.#len === 0) return true;
    const n = this.#len;
    try {
      const sink = this.#sink;
      if (typeof sink === "number") {
        let done = 0;
        while (done < n) done += writeSync(sink, this.#buf, done, n - done);
      } else if (sink(this.#buf, n) === false) {
        throw new KernelError(EIO, "pcap: the sink refused the records");
      }
    } catch (e) {
      // Capture-point semantics: the records are lost, counted, and the error kept for flush()/close().
      const errno = e instanceof KernelError ? e.errno : typeof (e as { errno?: unknown }).errno === "number" ? Math.abs((e as { errno: number }).errno) : EIO;
      this.error = new KernelError(errno, `pcap: writing ${n} bytes failed: ${(e as Error).message}`, { cause: e });
      this.dropped += this.#pending;
      this.captured -= this.#pending;
      this.#pending = 0;
      this.#len = 0;
      return false;
    }
    this.bytesWritten += n;
    this.flushes++;
    this.#pending = 0;
    this.#len = 0;
    return true;
  }
}

/**
 * A sink for a Node stream (fs.WriteStream, a socket): each flush hands the
 * stream a copy of the batch, since the writer reuses its buffer. Allocates
 * per flush, not per packet.
 */
export function streamSink(stream: { write(chunk: Uint8Array): boolean }): PcapSink {
  return (buf, len) => {
    stream.write(buf.slice(0, len));
  };
}

// ---------------------------------------------------------------- reader --

export interface PcapPacket {
  /** Timestamp in ns since the epoch (a double: see PcapWriter.capture()). */
  tsNs: number;
  /** The captured bytes (incl_len of them). */
  data: Uint8Array;
  /** orig_len: the frame's length on the wire. */
  len: number;
}

export interface PcapRecord extends PcapPacket {
  tsSec: number;
  /** ts_usec or ts_nsec as stored (microseconds or nanoseconds, per the file's precision). */
  tsFrac: number;
  /** Offset of the record header in the file. */
  fileOffset: number;
}

export interface PcapFile {
  precision: PcapPrecision;
  /** Byte order the file was written in. */
  littleEndian: boolean;
  versionMajor: number;
  versionMinor: number;
  thiszone: number;
  snaplen: number;
  /** The link type field with the FCS bits masked off (LINKTYPE_ETHERNET = 1). */
  linktype: number;
  records: PcapRecord[];
  /** Same objects as `records` (the datapath's name for them). */
  packets: PcapRecord[];
}

function einval(what: string, name: string | undefined): KernelError {
  return new KernelError(EINVAL, `pcap: ${name === undefined ? "" : `${name}: `}${what}`);
}

/** A savefile's global header, as parsed. */
export type PcapFileHeader = Omit<PcapFile, "records" | "packets">;

/**
 * Incremental savefile parser (sf-pcap.c's reader fed in pieces): push()
 * the bytes as they arrive, get the records completed so far; end() checks
 * that the file did not stop inside a header or a record. Same checks and
 * messages as parsePcap() (which is push(all) + end()). A record's data are a
 * view of the pushed chunk when the record lies within one chunk, else of a
 * copy joining the pieces.
 */
export class PcapStreamParser {
  header: PcapFileHeader | null = null;
  /** Records returned so far. */
  count = 0;
  readonly #name: string | undefined;
  /** Bytes of an incomplete header or record carried to the next push(). */
  #rest: Uint8Array = new Uint8Array(0);
  /** File offset of #rest[0]. */
  #fileOff = 0;
  #ended = false;

  constructor(name?: string) {
    this.#name = name;
  }

  push(chunk: Uint8Array): PcapRecord[] {
    if (!(chunk instanceof Uint8Array)) throw einval("input is not a byte array", this.#name);
    if (this.#ended) throw einval("data pushed after the end of the file", this.#name);
    let buf = chunk;
    if (this.#rest.length > 0) {
      buf = new Uint8Array(this.#rest.length + chunk.length);
      buf.set(this.#rest, 0);
      buf.set(chunk, this.#rest.length);
    }
    const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    const out: PcapRecord[] = [];
    let off = 0;
    if (this.header === null) {
      if (buf.length >= 4) checkMagic(buf, dv, this.#name);
      if (buf.length < PCAP_HDR_LEN) return this.#keep(buf, 0, out);
      this.header = parseFileHeader(dv, this.#name);
      off = PCAP_HDR_LEN;
    }
    const h = this.header, le = h.littleEndian, name = this.#name;
    const scale = h.precision === "ns" ? 1 : 1000, fracMax = h.precision === "ns" ? 1e9 : 1e6;
    while (off + PCAP_REC_HDR_LEN <= buf.length) {
      const n = this.count + 1, at = this.#fileOff + off;
      const tsSec = dv.getUint32(off, le), tsFrac = dv.getUint32(off + 4, le);
      const incl = dv.getUint32(off + 8, le), len = dv.getUint32(off + 12, le);
      if (incl > h.snaplen) throw einval(`packet ${n} at offset ${at}: incl_len ${incl} is larger than the snaplen ${h.snaplen}`, name);
      if (tsFrac >= fracMax) {
        throw einval(`packet ${n} at offset ${at}: sub-second timestamp ${tsFrac} out of range for ${h.precision} precision`, name);
      }
      const data = off + PCAP_REC_HDR_LEN;
      if (data + incl > buf.length) break;
      out.push({ tsNs: tsSec * 1e9 + tsFrac * scale, tsSec, tsFrac, data: buf.subarray(data, data + incl), len, fileOffset: at });
      this.count = n;
      off = data + incl;
    }
    return this.#keep(buf, off, out);
  }

  /** The file is complete: throws EINVAL when it stopped inside a header or a record. */
  end(): void {
    this.#ended = true;
    const rest = this.#rest, name = this.#name;
    if (this.header === null) throw einval(`truncated file header: ${rest.length} of ${PCAP_HDR_LEN} bytes`, name);
    if (rest.length === 0) return;
    const n = this.count + 1, at = this.#fileOff;
    if (rest.length < PCAP_REC_HDR_LEN) {
      throw einval(`truncated record header of packet ${n} at offset ${at}: ${rest.length} of ${PCAP_REC_HDR_LEN} bytes`, name);
    }
    const incl = new DataView(rest.buffer, rest.byteOffset, rest.byteLength).getUint32(8, this.header.littleEndian);
    throw einval(`truncated packet ${n} at offset ${at}: incl_len ${incl}, only ${rest.length - PCAP_REC_HDR_LEN} bytes left`, name);
  }

  #keep(buf: Uint8Array, off: number, out: PcapRecord[]): PcapRecord[] {
    // Copied: the caller may reuse its chunk's memory once push() returns.
    this.#rest = buf.slice(off);
    this.#fileOff += off;
    return out;
  }
}

function checkMagic(bytes: Uint8Array, dv: DataView, name: string | undefined): void {
  if (dv.getUint32(0, true) === PCAPNG_BT_SHB) {
    throw einval("this is a pcapng file (Section Header Block 0x0a0d0d0a), not a classic pcap savefile: pcapng is not supported; convert it with `tcpdump -r IN -w OUT` or `editcap -F pcap IN OUT`", name);
  }
  const le = dv.getUint32(0, true), be = dv.getUint32(0, false);
  if (le !== PCAP_MAGIC_US && le !== PCAP_MAGIC_NS && be !== PCAP_MAGIC_US && be !== PCAP_MAGIC_NS) {
    const hex = [0, 1, 2, 3].map((i) => bytes[i]!.toString(16).padStart(2, "0")).join(" ");
    throw einval(`bad magic ${hex}: not a pcap savefile (expected a1b2c3d4 or a1b23c4d in either byte order)`, name);
  }
}

function parseFileHeader(dv: DataView, name: string | undefined): PcapFileHeader {
  const m = dv.getUint32(0, true);
  const le = m === PCAP_MAGIC_US || m === PCAP_MAGIC_NS;
  const precision: PcapPrecision = dv.getUint32(0, le) === PCAP_MAGIC_NS ? "ns" : "us";
  const versionMajor = dv.getUint16(4, le), versionMinor = dv.getUint16(6, le);
  if (versionMajor !== PCAP_VERSION_MAJOR) {
    throw einval(`unsupported savefile version ${versionMajor}.${versionMinor} (only ${PCAP_VERSION_MAJOR}.x)`, name);
  }
  const snaplen = dv.getUint32(16, le);
  if (snaplen === 0 || snaplen > MAXIMUM_SNAPLEN) {
    throw einval(`snaplen ${snaplen} in the file header is out of 1..${MAXIMUM_SNAPLEN}`, name);
  }
  return {
    precision, littleEndian: le, versionMajor, versionMinor, thiszone: dv.getInt32(8, le), snaplen,
    linktype: dv.getUint32(20, le) & LT_LINKTYPE_MASK,
  };
}

/**
 * Parses a whole savefile. Record data are views into `bytes` (no copy).
 * Throws KernelError(EINVAL) naming the offset on a truncated or malformed
 * file, and on pcapng, which it does not read.
 */
export function parsePcap(bytes: Uint8Array, name?: string): PcapFile {
  const p = new PcapStreamParser(name);
  const records = p.push(bytes);
  p.end();
  return { ...p.header!, records, packets: records };
}

/** Reads and parses a savefile from disk (throws KernelError: the open's errno, or EINVAL). */
export function readPcapFile(file: string): PcapFile {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    const errno = typeof (e as { errno?: unknown }).errno === "number" ? Math.abs((e as { errno: number }).errno) : EIO;
    throw new KernelError(errno, `pcap: cannot read ${file}: ${(e as Error).message}`, { cause: e });
  }
  return parsePcap(bytes, file);
}

/** The records of a savefile read from a stream (fs.createReadStream, a pipe from `tcpdump -w -`), as they complete. */
export async function* pcapStreamRecords(stream: AsyncIterable<Uint8Array>, name?: string): AsyncGenerator<PcapRecord, PcapFileHeader> {
  const p = new PcapStreamParser(name);
  for await (const chunk of stream) yield* p.push(chunk);
  p.end();
  return p.header!;
}

/** parsePcap() under the datapath's name (records with copies of their bytes are not needed: views suffice). */
export function readPcap(bytes: Uint8Array, name?: string): PcapFile {
  return parsePcap(bytes, name);
}

// ------------------------------------------------------------ classifier --

/**
 * The key xdp1 counts a frame under (scenarios/programs/xdp1.c over
 * xdp_parse.h parse_frame()): skip up to two VLAN tags (802.1Q or 802.1ad,
 * in any order), then the IPv4 protocol or the IPv6 next header (not
 * chasing extension headers); 0 for a runt, a cut VLAN or IP header, or a
 * non-IP ethertype. Allocates nothing.
 */
export function l4ProtoOf(frame: Uint8Array, offset = 0, len = frame.length - offset): number {
  const end = offset + len;
  let off = offset + ETH_HLEN;
  if (off > end) return 0;
  let proto = (frame[off - 2]! << 8) | frame[off - 1]!;
  for (let i = 0; i < 2; i++) {
    if (proto !== ETH_P_8021Q && proto !== ETH_P_8021AD) break;
    if (off + VLAN_HLEN > end) return 0;
    proto = (frame[off + 2]! << 8) | frame[off + 3]!;
    off += VLAN_HLEN;
  }
  if (proto === ETH_P_IP) return off + IPV4_HLEN > end ? 0 : frame[off + 9]!;
  if (proto === ETH_P_IPV6) return off + IPV6_HLEN > end ? 0 : frame[off + 6]!;
  return 0;
}

// ---------------------------------------------------------------- replay --

export interface PcapReplayOptions {
  /** Start over at the first frame after the last; default false. */
  loop?: boolean;
}

/**
 * pktgen's pcap source: the frames of a file in order. Loading copies every
 * frame's captured bytes into one buffer; next() then copies one frame into
 * the caller's buffer and allocates nothing. Only Ethernet captures.
 */
export class PcapReplay {
  /** Frames in the file. */
  readonly count: number;
  /** Largest incl_len (the buffer size next() needs). */
  readonly maxFrameLen: number;
  readonly loop: boolean;
  /** Index of the frame next() copies next. */
  index = 0;
  /** Times the file was started over. */
  loops = 0;
  /** Frames skipped because the caller's buffer was too small. */
  skipped = 0;
  /** orig_len and timestamp of the frame the last next() returned. */
  lastOrigLen = 0;
  lastTsNs = 0;
  readonly #data: Uint8Array;
  readonly #off: Uint32Array;
  readonly #len: Uint32Array;
  readonly #origLen: Uint32Array;
  readonly #ts: Float64Array;

  constructor(file: PcapFile | Uint8Array, opts: PcapReplayOptions = {}) {
    const f = file instanceof Uint8Array ? parsePcap(file) : file;
    if (f.linktype !== LINKTYPE_ETHERNET) {
      throw new KernelError(EINVAL, `pcap: link type ${f.linktype} cannot be replayed: only LINKTYPE_ETHERNET (1)`);
    }
    const n = f.records.length;
    let total = 0, max = 0;
    for (const r of f.records) {
      total += r.data.length;
      if (r.data.length > max) max = r.data.length;
    }
    this.count = n;
    this.maxFrameLen = max;
    this.loop = opts.loop ?? false;
    this.#data = new Uint8Array(total);
    this.#off = new Uint32Array(n);
    this.#len = new Uint32Array(n);
    this.#origLen = new Uint32Array(n);
    this.#ts = new Float64Array(n);
    let at = 0;
    for (let i = 0; i < n; i++) {
      const r = f.records[i]!;
      this.#data.set(r.data, at);
      this.#off[i] = at;
      this.#len[i] = r.data.length;
      this.#origLen[i] = r.len;
      this.#ts[i] = r.tsNs;
      at += r.data.length;
    }
  }

  /**
   * Copies the next frame into dst[dstOff..) and returns its length
   * (incl_len); 0 when the file is over (and not looping) or empty;
   * -EMSGSIZE, skipping the frame, when it does not fit. Never throws or
   * allocates.
   */
  next(dst: Uint8Array, dstOff = 0): number {
    if (this.index >= this.count) {
      if (!this.loop || this.count === 0) return 0;
      this.index = 0;
      this.loops++;
    }
    const i = this.index++;
    const len = this.#len[i]!, src = this.#off[i]!;
    if (dstOff + len > dst.length) {
      this.skipped++;
      return -EMSGSIZE;
    }
    dst.set(this.#data.subarray(src, src + len), dstOff);
    this.lastOrigLen = this.#origLen[i]!;
    this.lastTsNs = this.#ts[i]!;
    return len;
  }

  /** Back to the first frame. */
  rewind(): void {
    this.index = 0;
  }

  /** A view of frame i's captured bytes (setup and tests; allocates the view). */
  frame(i: number): Uint8Array {
    if (!Number.isInteger(i) || i < 0 || i >= this.count) throw new KernelError(EINVAL, `pcap: no frame ${i} (file has ${this.count})`);
    return this.#data.subarray(this.#off[i]!, this.#off[i]! + this.#len[i]!);
  }

  /** orig_len of frame i. */
  origLen(i: number): number {
    return this.#origLen[i] ?? 0;
  }

  /**
   * Frames per xdp1 key (l4ProtoOf) over one pass of the file, times `passes`:
   * what xdp1's rxcnt map holds after `passes` replays of it.
   */
  protoCounts(passes = 1): Float64Array {
    const out = new Float64Array(256);
    for (let i = 0; i < this.count; i++) out[l4ProtoOf(this.#data, this.#off[i]!, this.#len[i]!)]! += passes;
    return out;
  }
}
