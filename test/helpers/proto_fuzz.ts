// Protocol fuzzer shared by test/integration/proto_fuzz.test.ts (10k frames in CI) and
// test/long/fuzz_proto.ts (100k): mutates valid frames of every message (byte
// flips, truncation, insertion, splices, type swaps, deep nesting, random
// bytes), sends them to a running endpoint and checks that every well-framed
// request (a request envelope with seq != 0) gets exactly one reply.
import { Packr } from "msgpackr";
import { Codec } from "../../shared/proto/codec.ts";
import { connect, type Channel } from "../../shared/proto/channel.ts";
import { MSG, MSG_BY_OP, type MsgDef } from "../../shared/proto/messages.ts";
import { MSG_SAMPLES } from "./proto_samples.ts";

/** xorshift32: deterministic for a seed. */
export class Rng {
  #s: number;
  constructor(seed: number) {
    this.#s = seed >>> 0 || 1;
  }
  next(): number {
    let x = this.#s;
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    this.#s = x;
    return x;
  }
  int(n: number): number {
    return this.next() % n;
  }
}

const WEIRD: unknown[] = [null, true, -1, 2 ** 40, 1.5, "", "x".repeat(300), new Uint8Array(70000), [], {}, [[[]]], -(2n ** 63n), 2n ** 64n - 1n, { __proto__: 1 }];

/** A request whose body is `depth` nested one-element arrays, built byte by byte (packing it would recurse). */
function nestedFrame(codec: Codec, op: number, seq: number, depth: number): Uint8Array {
  const head = codec.encodeRequest(op, seq, 0); // ends with the body byte 0x00
  const out = new Uint8Array(head.length + depth);
  out.set(head.subarray(0, head.length - 1));
  out.fill(0x91, head.length - 1, head.length - 1 + depth);
  out[out.length - 1] = 0;
  return out;
}

/** One mutated frame built from a valid request of `def`. */
export function mutateFrame(rng: Rng, def: MsgDef, body: unknown, seq: number, packr: Packr): Uint8Array {
  const codec = new Codec();
  const kind = rng.int(8);
  if (kind === 0 && typeof body === "object" && body !== null) {
    // Type swap in one field (or an extra field).
    const o = { ...(body as Record<string, unknown>) };
    const keys = Object.keys(o);
    const k = rng.int(4) === 0 || keys.length === 0 ? `f${rng.int(5)}` : keys[rng.int(keys.length)]!;
    o[k] = WEIRD[rng.int(WEIRD.length)];
    return codec.encodeRequest(def.op, seq, o);
  }
  if (kind === 1) return nestedFrame(codec, rng.int(4) === 0 ? rng.int(0x8000) : def.op, seq, 1 + rng.int(3000));
  if (kind === 2) {
    const b = new Uint8Array(1 + rng.int(64));
    for (let i = 0; i < b.length; i++) b[i] = rng.int(256);
    return b;
  }
  if (kind === 3) return packr.pack([def.op, seq, body, rng.int(3)]); // wrong arity
  const f = new Uint8Array(codec.encodeRequest(def.op, seq, body));
  if (kind === 4) return f.subarray(0, rng.int(f.length));
  if (kind === 5) {
    const out = new Uint8Array(f.length + 1 + rng.int(8));
    const at = rng.int(f.length);
    out.set(f.subarray(0, at));
    for (let i = at; i < out.length - (f.length - at); i++) out[i] = rng.int(256);
    out.set(f.subarray(at), out.length - (f.length - at));
    return out;
  }
  const n = 1 + rng.int(4);
  for (let i = 0; i < n; i++) {
    const at = 3 + rng.int(Math.max(1, f.length - 3)); // keep the envelope header most of the time
    if (at < f.length) f[at] = rng.int(256);
  }
  return f;
}

export interface FuzzResult {
  sent: number;
  wellFramed: number;
  answered: number;
  errnoReplies: number;
  okReplies: number;
}

/**
 * Sends `count` mutated frames to `url` (after an optional HELLO) in batches,
 * waiting for the replies of each batch with a deadline.
 */
export async function fuzzEndpoint(url: string, count: number, seed: number, hello: unknown | null, deadlineMs = 20_000): Promise<FuzzResult> {
  const ch: Channel = await connect(url);
  if (hello !== null) {
    const h = await ch.request(MSG.HELLO, hello as never);
    if (!h.ok) throw new Error(`HELLO refused: ${h.message}`);
  }
  const rng = new Rng(seed);
  const packr = new Packr({ useRecords: false });
  const defs = Object.entries(MSG) as Array<[keyof typeof MSG, MsgDef]>;
  const probe = new Codec();
  const res: FuzzResult = { sent: 0, wellFramed: 0, answered: 0, errnoReplies: 0, okReplies: 0 };
  /** seq -> the op of a well-framed request waiting for its reply. */
  const pending = new Map<number, number>();
  let wake: (() => void) | null = null;
  const replyCodec = new Codec();
  ch.ws.on("message", (d: Buffer) => {
    // The endpoint batches the replies of one tick into one frame.
    for (const e of replyCodec.decodeFrame(d)) {
      if (e.kind !== "reply" || e.seq < 1_000_000 || !pending.delete(e.seq)) continue;
      res.answered++;
      if (e.errno !== 0) res.errnoReplies++;
      else res.okReplies++;
    }
    if (pending.size === 0 && wake !== null) wake();
  });
  let seq = 1_000_000;
  const BATCH = 250;
  try {
    while (res.sent < count) {
      for (let i = 0; i < BATCH && res.sent < count; i++, res.sent++) {
        const [name, def] = defs[rng.int(defs.length)]!;
        const frame = mutateFrame(rng, def, MSG_SAMPLES[name], seq++, packr);
        const e = probe.decode(frame);
        if (e.kind === "request" && e.seq >= 1_000_000 && !pending.has(e.seq) && frame.length <= 8 << 20) {
          pending.set(e.seq, e.op);
          res.wellFramed++;
        }
        ch.sendRaw(frame);
      }
      if (pending.size > 0) {
        const done = new Promise<void>((r) => (wake = r));
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<"late">((r) => (timer = setTimeout(() => r("late"), deadlineMs)));
        const outcome = await Promise.race([done, late]);
        clearTimeout(timer);
        wake = null;
        if (outcome === "late") throw new Error(`${pending.size} well-framed requests unanswered after ${deadlineMs} ms (${[...pending].slice(0, 5).map(([q, op]) => `seq ${q} op ${op} ${MSG_BY_OP.get(op)?.name ?? "unknown"}`).join(", ")})`);
      }
      if (!ch.isOpen) throw new Error("endpoint closed the connection");
    }
  } finally {
    ch.close();
  }
  return res;
}
