// The classic libpcap savefile format (pcap-savefile(5)): a 24-byte global
// header (magic, version 2.4, snaplen, link type) and, per packet, a 16-byte
// record header (seconds, sub-second, captured length, original length)
// followed by the captured bytes. Written with nanosecond timestamps
// (magic 0xa1b23c4d, as `tcpdump --time-stamp-precision=nano -w` does);
// read in either precision and either byte order.
import { EINVAL, KernelError } from "../errno.ts";

export const PCAP_MAGIC_US = 0xa1b2c3d4;
export const PCAP_MAGIC_NS = 0xa1b23c4d;
/** LINKTYPE_ETHERNET. */
export const LINKTYPE_ETHERNET = 1;
export const PCAP_HDR_LEN = 24;
export const PCAP_REC_HDR_LEN = 16;

/** The global header of a nanosecond-precision Ethernet capture. */
export function pcapHeader(snaplen: number): Uint8Array {
  const b = new Uint8Array(PCAP_HDR_LEN), dv = new DataView(b.buffer);
  dv.setUint32(0, PCAP_MAGIC_NS, true);
  dv.setUint16(4, 2, true);
  dv.setUint16(6, 4, true);
  dv.setUint32(16, snaplen, true);
  dv.setUint32(20, LINKTYPE_ETHERNET, true);
  return b;
}

/** Writes a record header at out[off..off+16): time in ns since the epoch, captured and original lengths. */
export function pcapRecordHeader(out: DataView, off: number, tsNs: number, caplen: number, len: number): void {
  const sec = Math.floor(tsNs / 1e9);
  out.setUint32(off, sec, true);
  out.setUint32(off + 4, Math.floor(tsNs - sec * 1e9), true);
  out.setUint32(off + 8, caplen, true);
  out.setUint32(off + 12, len, true);
}

export interface PcapPacket {
  tsNs: number;
  /** The captured bytes (caplen of them). */
  data: Uint8Array;
  /** Length on the wire. */
  len: number;
}

/** Parses a savefile (API edge). Throws KernelError(EINVAL) on a malformed file. */
export function readPcap(bytes: Uint8Array): { linktype: number; snaplen: number; packets: PcapPacket[] } {
  if (bytes.length < PCAP_HDR_LEN) throw new KernelError(EINVAL, "pcap: file shorter than its header");
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let le = true, magic = dv.getUint32(0, true);
  if (magic !== PCAP_MAGIC_US && magic !== PCAP_MAGIC_NS) {
    le = false;
    magic = dv.getUint32(0, false);
    if (magic !== PCAP_MAGIC_US && magic !== PCAP_MAGIC_NS) {
      throw new KernelError(EINVAL, `pcap: bad magic 0x${dv.getUint32(0, true).toString(16)} (pcapng is not supported)`);
    }
  }
  const scale = magic === PCAP_MAGIC_NS ? 1 : 1000;
  const snaplen = dv.getUint32(16, le), linktype = dv.getUint32(20, le);
  const packets: PcapPacket[] = [];
  let off = PCAP_HDR_LEN;
  while (off < bytes.length) {
    if (off + PCAP_REC_HDR_LEN > bytes.length) throw new KernelError(EINVAL, `pcap: truncated record header at ${off}`);
    const sec = dv.getUint32(off, le), sub = dv.getUint32(off + 4, le);
    const caplen = dv.getUint32(off + 8, le), len = dv.getUint32(off + 12, le);
    off += PCAP_REC_HDR_LEN;
    if (off + caplen > bytes.length) throw new KernelError(EINVAL, `pcap: truncated record at ${off}`);
    packets.push({ tsNs: sec * 1e9 + sub * scale, data: bytes.slice(off, off + caplen), len });
    off += caplen;
  }
  return { linktype, snaplen, packets };
}
