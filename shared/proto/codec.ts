// msgpack envelope codec for control messages (STYLE §8.5). The only place
// that constructs msgpackr objects, with pinned options. Requests are
// [op, seq, body], replies [op | REPLY_BIT, seq, errno, body], notifications
// [op, 0, body]. A WebSocket frame carries one or more envelopes back to back
// (the channel batches what it sends in one tick, as a virtqueue kick covers
// every descriptor made available before it). Decoding validates the envelope
// only; bodies are validated against the message table by the channel.
import { Packr, Unpackr } from "msgpackr";
import { MAX_FRAME_ENVELOPES, REPLY_BIT } from "./messages.ts";

/** Pinned msgpackr options: plain maps, no implicit shared structures, u64 as bigint. */
const OPTIONS = {
  useRecords: false,
  mapsAsObjects: true,
  int64AsType: "bigint" as const,
  moreTypes: false,
  structuredClone: false,
  bundleStrings: false,
};

/** One codec per connection (msgpackr reuses its output buffer). */
export class Codec {
  readonly #packr: Packr;
  readonly #unpackr: Unpackr;
  constructor() {
    this.#packr = new Packr(OPTIONS);
    this.#unpackr = new Unpackr(OPTIONS);
  }

  encodeRequest(op: number, seq: number, body: unknown): Uint8Array {
    return this.#packr.pack([op, seq, body]);
  }

  encodeReply(op: number, seq: number, errno: number, body: unknown): Uint8Array {
    return this.#packr.pack([op | REPLY_BIT, seq, errno, body]);
  }

  /**
   * Decodes every envelope of a frame, in order; a frame whose bytes stop being
   * msgpack ends with one "bad" entry after the envelopes before it. Never throws.
   */
  decodeFrame(frame: Uint8Array): Envelope[] {
    const out: Envelope[] = [];
    try {
      this.#unpackr.unpackMultiple(frame, (v: unknown) => {
        if (out.length === MAX_FRAME_ENVELOPES) {
          out.push({ kind: "bad", reason: `frame holds more than ${MAX_FRAME_ENVELOPES} envelopes` });
          return false;
        }
        out.push(checkEnvelope(v));
        return true;
      });
    } catch (e) {
      out.push({ kind: "bad", reason: `frame is not msgpack: ${(e as Error).message}` });
    }
    return out;
  }

  /** Decodes a frame of exactly one envelope; never throws. */
  decode(frame: Uint8Array): Envelope {
    let v: unknown;
    try {
      v = this.#unpackr.unpack(frame);
    } catch (e) {
      return { kind: "bad", reason: `frame is not msgpack: ${(e as Error).message}` };
    }
    return checkEnvelope(v);
  }
}

export type Envelope =
  | { kind: "request"; op: number; seq: number; body: unknown }
  | { kind: "reply"; op: number; seq: number; errno: number; body: unknown }
  | { kind: "bad"; reason: string };

function isU32(v: unknown): v is number {
  return typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= 0xffffffff;
}

function checkEnvelope(v: unknown): Envelope {
  if (!Array.isArray(v)) return { kind: "bad", reason: "envelope is not an array" };
  const [op, seq] = v as unknown[];
  if (!isU32(op) || op > 0xffff) return { kind: "bad", reason: "envelope op is not a u16" };
  if (!isU32(seq)) return { kind: "bad", reason: "envelope seq is not a u32" };
  if ((op & REPLY_BIT) !== 0) {
    if (v.length !== 4) return { kind: "bad", reason: "reply envelope does not have 4 entries" };
    const errno = v[2];
    if (!isU32(errno) || errno > 4095) return { kind: "bad", reason: "reply errno is not an errno" };
    return { kind: "reply", op: op & ~REPLY_BIT, seq, errno, body: v[3] };
  }
  if (v.length !== 3) return { kind: "bad", reason: "request envelope does not have 3 entries" };
  return { kind: "request", op, seq, body: v[2] };
}

/**
 * Reads op and seq of a request frame without decoding its body (used to answer an
 * oversized frame with EMSGSIZE). Returns null when the frame does not start like a
 * request envelope.
 */
export function peekRequestHeader(frame: Uint8Array): { op: number; seq: number } | null {
  if (frame.length < 3 || frame[0] !== 0x93) return null;
  let off = 1;
  const readUint = (): number | null => {
    const b = frame[off];
    if (b === undefined) return null;
    if (b <= 0x7f) { off += 1; return b; }
    if (b === 0xcc && off + 1 < frame.length) { off += 2; return frame[off - 1]!; }
    if (b === 0xcd && off + 2 < frame.length) { off += 3; return (frame[off - 2]! << 8) | frame[off - 1]!; }
    if (b === 0xce && off + 4 < frame.length) {
      const x = ((frame[off + 1]! << 24) | (frame[off + 2]! << 16) | (frame[off + 3]! << 8) | frame[off + 4]!) >>> 0;
      off += 5;
      return x;
    }
    return null;
  };
  const op = readUint();
  const seq = readUint();
  if (op === null || seq === null || op > 0xffff || (op & REPLY_BIT) !== 0) return null;
  return { op, seq };
}
