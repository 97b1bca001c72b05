// The wire format of shared/proto: golden encodings, round trips of every
// message, truncations, invalid fields (EINVAL naming the field), forbidden
// keys, unknown ops (EOPNOTSUPP), oversized frames (EMSGSIZE), and handler
// coverage of the table by the host.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { Codec, peekRequestHeader } from "../../../shared/proto/codec.ts";
import { CTRL_BPF_CMDS, HOST_OPS, MAX_FRAME_BYTES, MAX_FRAME_ENVELOPES, MSG, REPLY_BIT, type MsgDef } from "../../../shared/proto/messages.ts";
import { validate, type Schema } from "../../../shared/proto/schema.ts";
import { Channel, connect, listen, type Listener } from "../../../shared/proto/channel.ts";
import { registerHostHandlers } from "../../../host/control.ts";
import { OffloadState } from "../../../host/offload_state.ts";
import { BpfKernel } from "../../../shared/bpf/syscall.ts";
import { defaultCaps } from "../../../shared/bpf/offload/caps.ts";
import { CTRL_SAMPLES, MSG_SAMPLES } from "../../helpers/proto_samples.ts";
import { EINVAL, EMSGSIZE, EOPNOTSUPP, EPROTO, ETIMEDOUT } from "../../../shared/errno.ts";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
/** Byte strings decode as Buffers: compare contents. */
const norm = (v: unknown): unknown =>
  v instanceof Uint8Array ? ["bytes", ...v] : Array.isArray(v) ? v.map(norm)
    : typeof v === "object" && v !== null ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, norm(x)])) : v;
const defs = Object.entries(MSG) as Array<[keyof typeof MSG, MsgDef]>;

describe("Codec", () => {
  const c = new Codec();

  it("encodeRequest() matches the golden bytes of HELLO, CTRL and HOST_MAP_LOOKUP", () => {
    expect(hex(c.encodeRequest(MSG.HELLO.op, 7, MSG_SAMPLES.HELLO))).toBe(
      "930107de0006ac70726f746f56657273696f6e02a86665617475726573d30400000000000000a4726f6c65a56775657374a46e616d65a2766da6636170427066c3a46e69637301",
    );
    expect(hex(c.encodeRequest(MSG.CTRL.op, 7, MSG_SAMPLES.CTRL))).toBe(
      "930207de0003a5636c617373cc80a3636d6403a464617461de0004a668616e646c6501a36b6579c40401000000a576616c7565c4080700000000000000a5666c61677300",
    );
    expect(hex(c.encodeRequest(MSG.HOST_MAP_LOOKUP.op, 7, MSG_SAMPLES.HOST_MAP_LOOKUP))).toBe("930c07de0002a2696401a36b6579c40401000000");
    expect(hex(c.encodeReply(12, 7, 2, { message: "x" }))).toBe("94cd800c0702de0001a76d657373616765a178");
  });

  it.each(defs)("decode() round-trips a valid %s request that validates against the table", (name, def) => {
    const body = MSG_SAMPLES[name];
    expect(validate(def.req, body)).toBeNull();
    const env = c.decode(c.encodeRequest(def.op, 42, body));
    expect(env.kind).toBe("request");
    if (env.kind !== "request") return;
    expect(env.op).toBe(def.op);
    expect(env.seq).toBe(42);
    expect(validate(def.req, env.body)).toBeNull();
    expect(norm(env.body)).toEqual(norm(body));
  });

  it.each(Object.keys(CTRL_BPF_CMDS).map(Number))("VIRTIO_NET_CTRL_BPF command %i has a valid sample", (cmd) => {
    const def = (CTRL_BPF_CMDS as Record<number, { req: Schema<unknown> }>)[cmd]!;
    expect(validate(def.req, (CTRL_SAMPLES as Record<number, unknown>)[cmd])).toBeNull();
  });

  it("decode() reports every truncation of a frame as bad, never throws", () => {
    const f = c.encodeRequest(MSG.HOST_PROG_LOAD.op, 9, MSG_SAMPLES.HOST_PROG_LOAD);
    for (let n = 0; n < f.length; n++) expect(c.decode(f.subarray(0, n)).kind).toBe("bad");
  });

  it("decode() refuses envelopes of the wrong shape", () => {
    const P = (v: unknown) => new Codec().decode(packAny(v));
    expect(P({ op: 1 }).kind).toBe("bad");
    expect(P([1, 2]).kind).toBe("bad");
    expect(P([1, -1, {}]).kind).toBe("bad");
    expect(P([0x10000, 1, {}]).kind).toBe("bad");
    expect(P([1 | REPLY_BIT, 1, 5000, {}]).kind).toBe("bad");
  });

  it("decodeFrame() returns every envelope of a batched frame in order, and a bad tail after the good ones", () => {
    const a = c.encodeRequest(MSG.HOST_MAP_FREE.op, 1, { id: 1 }), b = c.encodeReply(MSG.HOST_MAP_FREE.op, 2, 0, {});
    const both = Buffer.concat([a, b]);
    expect(c.decodeFrame(both).map((e) => [e.kind, "seq" in e ? e.seq : -1])).toEqual([["request", 1], ["reply", 2]]);
    expect(c.decode(both).kind).toBe("bad"); // decode() wants exactly one
    const torn = c.decodeFrame(both.subarray(0, both.length - 1));
    expect(torn.map((e) => e.kind)).toEqual(["request", "bad"]);
    // A frame of 5000 one-byte values stops at the envelope limit.
    const many = c.decodeFrame(new Uint8Array(5000));
    expect(many.length).toBe(MAX_FRAME_ENVELOPES + 1);
    expect(many.at(-1)).toMatchObject({ kind: "bad", reason: `frame holds more than ${MAX_FRAME_ENVELOPES} envelopes` });
  });

  it("peekRequestHeader() reads op and seq without decoding the body", () => {
    expect(peekRequestHeader(c.encodeRequest(300, 70000, { x: 1 }))).toEqual({ op: 300, seq: 70000 });
    expect(peekRequestHeader(new Uint8Array([0x92, 1, 2]))).toBeNull();
  });
});

function packAny(v: unknown): Uint8Array {
  // A second codec instance packs arbitrary values for envelope tests.
  const c = new Codec() as unknown as { encodeRequest: (op: number, seq: number, body: unknown) => Uint8Array };
  const frame = c.encodeRequest(0, 0, v);
  // [0, 0, v] -> v: strip the 3-byte prefix (fixarray, op 0, seq 0).
  return frame.subarray(3);
}

describe("validate()", () => {
  it("names the field: wrong type, missing, extra, out of range, too long", () => {
    const r = MSG.HOST_MAP_CREATE.req;
    const ok = MSG_SAMPLES.HOST_MAP_CREATE as Record<string, unknown>;
    expect(validate(r, { ...ok, keySize: "4" })).toBe("field keySize is not an integer");
    const { name: _n, ...noName } = ok;
    expect(validate(r, noName)).toBe("field name is missing");
    expect(validate(r, { ...ok, extra: 1 })).toBe("field extra is not expected");
    expect(validate(r, { ...ok, tap: 256 })).toBe("field tap is 256, out of range for u8");
    expect(validate(r, { ...ok, name: "x".repeat(16) })).toBe("field name has 16 characters, max 15");
    expect(validate(MSG.EXEC.req, { argv: ["a", 1], files: [] })).toBe("field argv[1] is not a string");
  });

  it("optional trailing fields (the BTF of MAP_CREATE and PROG_LOAD): absent is valid, present is checked", () => {
    const r = MSG.HOST_MAP_CREATE.req;
    const ok = MSG_SAMPLES.HOST_MAP_CREATE as Record<string, unknown>;
    expect(validate(r, ok)).toBeNull();
    expect(validate(r, { ...ok, btf: new Uint8Array(24), btfKeyTypeId: 1, btfValueTypeId: 2 })).toBeNull();
    expect(validate(r, { ...ok, btf: "x" })).toBe("field btf is not a byte string");
    expect(validate(r, { ...ok, btfKeyTypeId: -1 })).toBe("field btfKeyTypeId is -1, out of range for u32");
    expect(validate(r, { ...ok, btf: new Uint8Array((4 << 20) + 1) })).toBe(`field btf has ${(4 << 20) + 1} bytes, max ${4 << 20}`);
    const p = MSG.HOST_PROG_LOAD.req;
    const pok = MSG_SAMPLES.HOST_PROG_LOAD as Record<string, unknown>;
    expect(validate(p, { ...pok, lineInfo: new Uint8Array(16), lineInfoRecSize: 16, lineInfoCnt: 1 })).toBeNull();
    expect(validate(p, { ...pok, lineInfoCnt: 1.5 })).toBe("field lineInfoCnt is not an integer");
  });

  it("refuses __proto__ and constructor keys", () => {
    const c = new Codec();
    const frame = Buffer.from(hex(c.encodeRequest(MSG.HOST_MAP_FREE.op, 1, { id: 1, zzproto__: 1 })).replace(
      Buffer.from("zzproto__").toString("hex"), Buffer.from("__proto__").toString("hex")), "hex");
    const env = c.decode(frame);
    expect(env.kind).toBe("request");
    if (env.kind !== "request") return;
    expect(validate(MSG.HOST_MAP_FREE.req, env.body)).toMatch(/field __proto_+ is a forbidden key/);
    expect(Object.getPrototypeOf(env.body)).toBe(Object.prototype);
    expect(validate(MSG.HOST_MAP_FREE.req, JSON.parse('{"id":1,"constructor":1}'))).toBe("field constructor is a forbidden key");
  });
});

describe("Channel on a real socket", () => {
  let l: Listener;
  let ch: Channel;
  beforeAll(async () => {
    const st = new OffloadState(new BpfKernel());
    l = await listen("ws://127.0.0.1:0", (s) => registerHostHandlers(s, st, { caps: defaultCaps(), log: () => {} }));
    ch = await connect(l.url);
  });
  afterAll(async () => {
    ch.close();
    await l.close();
  });

  /** Sends a raw frame and resolves with the decoded reply. */
  function raw(frame: Uint8Array): Promise<{ op: number; seq: number; errno: number; body: unknown }> {
    return new Promise((resolve) => {
      const c = new Codec();
      const onMsg = (d: Buffer) => {
        const e = c.decodeFrame(d).find((x) => x.kind === "reply");
        if (e !== undefined && e.kind === "reply") {
          ch.ws.off("message", onMsg);
          resolve(e);
        }
      };
      ch.ws.on("message", onMsg);
      ch.sendRaw(frame);
    });
  }

  it("answers an unknown op with EOPNOTSUPP", async () => {
    const r = await raw(new Codec().encodeRequest(999, 5, {}));
    expect(r).toMatchObject({ op: 999, seq: 5, errno: EOPNOTSUPP });
  });

  it("answers a bad field with EINVAL naming the message and the field", async () => {
    const r = await raw(new Codec().encodeRequest(MSG.HOST_MAP_LOOKUP.op, 6, { id: 1, key: "nope" }));
    expect(r).toMatchObject({ errno: EINVAL, body: { message: "Cannot decode HOST_MAP_LOOKUP: field key is not a byte string" } });
  });

  it("answers a frame over maxPayload's budget with EMSGSIZE", async () => {
    const big = new Codec().encodeRequest(MSG.HOST_PROG_LOAD.op, 8, { ...(MSG_SAMPLES.HOST_PROG_LOAD as object), insns: new Uint8Array(MAX_FRAME_BYTES) });
    expect(await raw(big)).toMatchObject({ seq: 8, errno: EMSGSIZE });
  });

  it("requires HELLO before host operations (EPROTO) and then serves them", async () => {
    expect(await ch.request(MSG.HOST_MAP_FREE, { id: 1 })).toMatchObject({ ok: false, errno: EPROTO });
    const h = await ch.request(MSG.HELLO, MSG_SAMPLES.HELLO as never);
    expect(h.ok).toBe(true);
    expect(h.ok && h.body.features).toBe(1n << 58n);
    expect(await ch.request(MSG.HOST_MAP_FREE, { id: 1 })).toMatchObject({ ok: false, errno: 9 });
  });

  it("batches what one tick sends into one frame and answers every request of it, in order", async () => {
    const frames: number[] = [];
    const onMsg = (d: Buffer) => frames.push(new Codec().decodeFrame(d).length);
    ch.ws.on("message", onMsg);
    const rs = await Promise.all(Array.from({ length: 50 }, (_, i) => ch.request(MSG.HOST_MAP_FREE, { id: 100_000 + i })));
    ch.ws.off("message", onMsg);
    expect(rs.map((r) => r.errno)).toEqual(Array(50).fill(9));
    expect(rs.map((r) => !r.ok && r.message)).toEqual(rs.map((_, i) => `Cannot use map ${100_000 + i}: Bad file descriptor: not a map of this device`));
    // 50 requests in one frame; the replies come back in fewer frames than requests.
    expect(frames.reduce((a, b) => a + b, 0)).toBe(50);
    expect(frames.length).toBeLessThan(50);
  });

  it("answers a request with no reply ETIMEDOUT after its deadline (the channel's sweep), others on the channel unaffected", async () => {
    const quiet = await listen("ws://127.0.0.1:0", (s) => {
      s.handle(MSG.HOST_SHOW, () => new Promise<never>(() => {}));
      s.handle(MSG.HOST_STATS, () => ({ json: "{}" }));
    });
    const c = await connect(quiet.url);
    const t0 = Date.now();
    const late = c.request(MSG.HOST_SHOW, {}, 120);
    expect(await c.request(MSG.HOST_STATS, {})).toMatchObject({ ok: true });
    expect(await late).toEqual({ ok: false, errno: ETIMEDOUT, message: "No reply to HOST_SHOW within 120 ms", log: [] });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(120);
    c.close();
    await quiet.close();
  });

  it("ignores text frames and keeps serving the connection", async () => {
    const other = await connect(l.url);
    other.ws.send("hello");
    expect((await other.request(MSG.HOST_SHOW, {})).ok).toBe(true);
    other.close();
  });
});

describe("host/control.ts", () => {
  it("registers exactly one handler per op addressed to the host, plus HELLO", () => {
    const fake = { on: () => fake, binaryType: "" } as unknown as WebSocket;
    const ch = new Channel(fake);
    registerHostHandlers(ch, new OffloadState(new BpfKernel()), { caps: defaultCaps(), log: () => {} });
    expect(ch.handledOps().sort((a, b) => a - b)).toEqual([MSG.HELLO.op, ...HOST_OPS].sort((a, b) => a - b));
  });

  it("the table never reuses an op number", () => {
    const ops = defs.map(([, d]) => d.op);
    expect(new Set(ops).size).toBe(ops.length);
    expect(ops.every((o) => o > 0 && o < REPLY_BIT)).toBe(true);
  });
});
