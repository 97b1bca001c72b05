// A pcap file of the given frames (microsecond timestamps 1 ms apart), for
// pktgen's --pcap replay in tests.
import { writeFileSync } from "node:fs";
import { PCAP_REC_HDR_LEN, pcapHeader, pcapRecordHeader } from "../../shared/net/pcap.ts";

export function writePcapFile(file: string, pkts: readonly Uint8Array[]): void {
  const parts: Uint8Array[] = [pcapHeader(65535)];
  pkts.forEach((p, i) => {
    const h = new Uint8Array(PCAP_REC_HDR_LEN);
    pcapRecordHeader(new DataView(h.buffer), 0, 1_700_000_000e9 + i * 1000, p.length, p.length);
    parts.push(h, p);
  });
  writeFileSync(file, Buffer.concat(parts));
}
