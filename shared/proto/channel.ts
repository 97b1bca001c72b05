// Typed request/notify over one WebSocket: sequence numbers, reply routing,
// deadlines, errno replies, receive-side validation against the message table.
// What one tick sends goes out as one frame of back-to-back envelopes (flushed
// on process.nextTick: a lone request leaves at once, a busy pipe writes one
// frame and one syscall for many commands, as a virtqueue kick covers every
// descriptor added before it). The only importer of `ws` (STYLE §8.1). Plays the part of the virtqueue
// transport between driver and device; the vhost-user socket is its nearest
// QEMU counterpart (subprojects/libvhost-user, hw/virtio/vhost-user.c).
import { WebSocket, WebSocketServer, type RawData } from "ws";
import type { AddressInfo } from "node:net";
import { Codec, peekRequestHeader, type Envelope } from "./codec.ts";
import { BATCH_FRAME_BYTES, MAX_FRAME_BYTES, MAX_FRAME_ENVELOPES, MSG, MSG_BY_OP, VXO_PROTO_VERSION, type MsgDef } from "./messages.ts";
import { validate, type Infer } from "./schema.ts";
import { EINVAL, EIO, EMSGSIZE, ENOTCONN, EOPNOTSUPP, ETIMEDOUT, KernelError } from "../errno.ts";

/** Validate outgoing bodies too (tests and VXO_DEBUG=1). */
const DEBUG = process.env.VXO_DEBUG === "1";

/**
 * Deadline of a request whose answer waits for a verifier (BPF_PROG_LOAD down to
 * the host): the verifier's 1M-insn budget bounds it, not a transport deadline
 * (virtnet_send_command() waits for the device as long as it takes); a device
 * reset or a lost connection still ends the wait at once.
 */
export const VERIFY_TIMEOUT_MS = 30 * 60_000;

/** Outcome of a request: the reply body, or the errno reply. */
export type Reply<T> = { ok: true; errno: 0; body: T } | { ok: false; errno: number; message: string; log: string[] };

type Handler = (body: unknown, ch: Channel) => unknown | Promise<unknown>;

interface Pending {
  resolve: (r: Reply<unknown>) => void;
  /** Date.now() past which the request is answered ETIMEDOUT. */
  deadline: number;
  timeoutMs: number;
  def: MsgDef;
}

/**
 * How often a channel with requests in flight looks for expired ones: one timer per
 * channel instead of one per request (a deadline fires up to this much late).
 */
const SWEEP_MS = 50;

/** Counters a fuzz run or `info` command can read. */
export interface ChannelStats {
  badFrames: number;
  errnoReplies: number;
  requests: number;
  /** Frames sent, and the envelopes they carried (their ratio: how much the batching saves). */
  framesOut: number;
  envelopesOut: number;
}

const kChannel = Symbol("vxo.channel");

/** One end of a control connection. */
export class Channel {
  readonly ws: WebSocket;
  readonly codec: Codec;
  readonly stats: ChannelStats;
  /** Free-form per-connection owner state (the session a handler works for). */
  owner: unknown;
  #seq: number;
  readonly #pending: Map<number, Pending>;
  #sweep: NodeJS.Timeout | null;
  readonly #handlers: Map<number, Handler>;
  readonly #closeHooks: Array<() => void>;
  #closed: boolean;
  /** Envelopes waiting for this tick's flush, and their bytes. */
  readonly #out: Uint8Array[];
  #outBytes: number;
  #flushQueued: boolean;

  constructor(ws: WebSocket) {
    this.ws = ws;
    this.codec = new Codec();
    this.stats = { badFrames: 0, errnoReplies: 0, requests: 0, framesOut: 0, envelopesOut: 0 };
    this.owner = null;
    this.#seq = 1;
    this.#pending = new Map();
    this.#sweep = null;
    this.#handlers = new Map();
    this.#closeHooks = [];
    this.#closed = false;
    this.#out = [];
    this.#outBytes = 0;
    this.#flushQueued = false;
    (ws as unknown as Record<symbol, Channel>)[kChannel] = this;
    ws.binaryType = "nodebuffer";
    ws.on("message", onWsMessage);
    ws.on("close", onWsClose);
    ws.on("error", onWsError);
  }

  get isOpen(): boolean {
    return !this.#closed && this.ws.readyState === WebSocket.OPEN;
  }

  /** Registers the one handler of `def`. It returns the reply body or throws KernelError. */
  handle<M extends MsgDef>(def: M, fn: (body: Infer<M["req"]>, ch: Channel) => Infer<M["res"]> | Promise<Infer<M["res"]>>): void {
    if (this.#handlers.has(def.op)) throw new Error(`handler for ${def.name} registered twice`);
    this.#handlers.set(def.op, fn as Handler);
  }

  /** Ops that have a handler (tests check the table coverage). */
  handledOps(): number[] {
    return [...this.#handlers.keys()];
  }

  /** Called once when the connection closes (either side). */
  onClose(fn: () => void): void {
    if (this.#closed) fn();
    else this.#closeHooks.push(fn);
  }

  /** Sends a request; resolves with the reply or an errno (ENOTCONN, ETIMEDOUT). Never rejects. */
  request<M extends MsgDef>(def: M, body: Infer<M["req"]>, timeoutMs = 15_000): Promise<Reply<Infer<M["res"]>>> {
    return new Promise((resolve) => {
      if (!this.isOpen) {
        resolve({ ok: false, errno: ENOTCONN, message: `Cannot send ${def.name}: channel is not connected`, log: [] });
        return;
      }
      if (DEBUG) {
        const e = validate(def.req, body);
        if (e !== null) throw new Error(`sending invalid ${def.name}: ${e}`);
      }
      const seq = this.#seq;
      this.#seq = (this.#seq + 1) >>> 0 || 1;
      this.#pending.set(seq, { resolve: resolve as (r: Reply<unknown>) => void, deadline: Date.now() + timeoutMs, timeoutMs, def });
      // The request deadlines' sweep (SWEEP_MS), unref'd: the socket keeps the process alive while a reply can still come
      if (this.#sweep === null) this.#sweep = setTimeout(sweepTick, SWEEP_MS, this).unref();
      this.#send(this.codec.encodeRequest(def.op, seq, body));
    });
  }

  /** Sends a notification (no reply). */
  notify<M extends MsgDef>(def: M, body: Infer<M["req"]>): void {
    if (this.isOpen) this.#send(this.codec.encodeRequest(def.op, 0, body));
  }

  /** Sends raw bytes as a frame of their own (fuzzers), after what this tick queued. */
  sendRaw(frame: Uint8Array): void {
    if (!this.isOpen) return;
    this.flush();
    this.ws.send(frame);
  }

  /** Queues one encoded envelope for this tick's frame. */
  #send(env: Uint8Array): void {
    if (env.length > BATCH_FRAME_BYTES) {
      this.flush(); // keeps the order
      this.stats.framesOut++;
      this.stats.envelopesOut++;
      this.ws.send(env);
      return;
    }
    if (this.#outBytes + env.length > BATCH_FRAME_BYTES || this.#out.length === MAX_FRAME_ENVELOPES) this.flush();
    this.#out.push(env);
    this.#outBytes += env.length;
    if (!this.#flushQueued) {
      this.#flushQueued = true;
      process.nextTick(flushTick, this);
    }
  }

  /** Sends what is queued now, as one frame. */
  flush(): void {
    this.#flushQueued = false;
    const n = this.#out.length;
    if (n === 0) return;
    const frame = n === 1 ? this.#out[0]! : Buffer.concat(this.#out, this.#outBytes);
    this.#out.length = 0;
    this.#outBytes = 0;
    if (this.ws.readyState !== WebSocket.OPEN) return;
    this.stats.framesOut++;
    this.stats.envelopesOut += n;
    this.ws.send(frame);
  }

  close(): void {
    this.flush();
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close();
  }

  #replyErr(op: number, seq: number, errno: number, message: string, log: readonly string[] = []): void {
    this.stats.errnoReplies++;
    if (seq === 0 || !this.isOpen) return; // notifications get no reply
    this.#send(this.codec.encodeReply(op, seq, errno, log.length > 0 ? { message, log } : { message }));
  }

  /** Receive path: decode -> validate(op) -> dispatch, for each envelope of the frame in order. */
  receive(frame: Buffer): void {
    if (frame.length > MAX_FRAME_BYTES) {
      const h = peekRequestHeader(frame);
      if (h === null) this.stats.badFrames++;
      else this.#replyErr(h.op, h.seq, EMSGSIZE, `Cannot decode frame: ${frame.length} bytes, max ${MAX_FRAME_BYTES}`);
      return;
    }
    const envs = this.codec.decodeFrame(frame);
    for (let i = 0; i < envs.length; i++) this.#receiveEnvelope(envs[i]!);
  }

  #receiveEnvelope(env: Envelope): void {
    if (env.kind === "bad") {
      this.stats.badFrames++;
      return;
    }
    if (env.kind === "reply") {
      this.#onReply(env.op, env.seq, env.errno, env.body);
      return;
    }
    this.stats.requests++;
    const def = MSG_BY_OP.get(env.op);
    const fn = this.#handlers.get(env.op);
    if (def === undefined || fn === undefined) {
      this.#replyErr(env.op, env.seq, EOPNOTSUPP, `Unknown or unsupported message op ${env.op}`);
      return;
    }
    const bad = validate(def.req, env.body);
    if (bad !== null) {
      this.#replyErr(env.op, env.seq, EINVAL, `Cannot decode ${def.name}: ${bad}`);
      return;
    }
    this.#dispatch(def, fn, env.seq, env.body);
  }

  /** Runs a handler; a synchronous one is answered in the same tick, without a promise. */
  #dispatch(def: MsgDef, fn: Handler, seq: number, body: unknown): void {
    let res: unknown;
    try {
      res = fn(body, this);
    } catch (e) {
      this.#replyThrown(def, seq, e);
      return;
    }
    if (res instanceof Promise) {
      res.then((r) => this.#replyOk(def, seq, r), (e) => this.#replyThrown(def, seq, e));
      return;
    }
    this.#replyOk(def, seq, res);
  }

  #replyThrown(def: MsgDef, seq: number, e: unknown): void {
    if (e instanceof KernelError) this.#replyErr(def.op, seq, e.errno, e.message, e.log ?? []);
    else this.#replyErr(def.op, seq, EIO, `Internal error handling ${def.name}: ${(e as Error).message}`);
  }

  #replyOk(def: MsgDef, seq: number, res: unknown): void {
    if (seq === 0 || !this.isOpen) return;
    if (DEBUG) {
      const e = validate(def.res, res);
      if (e !== null) throw new Error(`replying invalid ${def.name}: ${e}`);
    }
    this.#send(this.codec.encodeReply(def.op, seq, 0, res));
  }


  #onReply(op: number, seq: number, errno: number, body: unknown): void {
    const p = this.#pending.get(seq);
    if (p === undefined || p.def.op !== op) {
      this.stats.badFrames++;
      return;
    }
    this.#pending.delete(seq);
    if (errno !== 0) {
      const b = (typeof body === "object" && body !== null ? body : {}) as { message?: unknown; log?: unknown };
      const message = typeof b.message === "string" ? b.message : `${p.def.name} failed`;
      const log = Array.isArray(b.log) ? b.log.filter((x): x is string => typeof x === "string") : [];
      p.resolve({ ok: false, errno, message, log });
      return;
    }
    const bad = validate(p.def.res, body);
    if (bad !== null) p.resolve({ ok: false, errno: EINVAL, message: `Cannot decode ${p.def.name} reply: ${bad}`, log: [] });
    else p.resolve({ ok: true, errno: 0, body });
  }

  /** Answers the requests past their deadline with ETIMEDOUT; runs again while any are in flight. */
  sweepExpired(): void {
    this.#sweep = null;
    const now = Date.now();
    for (const [seq, p] of this.#pending) {
      if (p.deadline > now) continue;
      this.#pending.delete(seq);
      p.resolve({ ok: false, errno: ETIMEDOUT, message: `No reply to ${p.def.name} within ${p.timeoutMs} ms`, log: [] });
    }
    // Re-armed while requests wait: their deadlines (a real wait, never a cost), unref'd as above.
    if (this.#pending.size > 0 && !this.#closed) this.#sweep = setTimeout(sweepTick, SWEEP_MS, this).unref();
  }

  /** Connection gone: fail every pending request with ENOTCONN and run close hooks. */
  closed(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#sweep !== null) clearTimeout(this.#sweep);
    this.#sweep = null;
    for (const [seq, p] of this.#pending) {
      p.resolve({ ok: false, errno: ENOTCONN, message: `Connection closed before ${p.def.name} was answered`, log: [] });
      this.#pending.delete(seq);
    }
    for (const fn of this.#closeHooks.splice(0)) fn();
  }
}

function sweepTick(ch: Channel): void {
  ch.sweepExpired();
}

function flushTick(ch: Channel): void {
  ch.flush();
}

function channelOf(ws: WebSocket): Channel {
  return (ws as unknown as Record<symbol, Channel>)[kChannel]!;
}

function onWsMessage(this: WebSocket, data: RawData, isBinary: boolean): void {
  const ch = channelOf(this);
  if (!isBinary || !Buffer.isBuffer(data)) {
    ch.stats.badFrames++; // binary frames only
    return;
  }
  ch.receive(data);
}

function onWsClose(this: WebSocket): void {
  channelOf(this).closed();
}

function onWsError(this: WebSocket): void {
  // The close event follows; errors on a dying socket are not ours to throw.
}

const WS_OPTS = { perMessageDeflate: false, maxPayload: MAX_FRAME_BYTES + (1 << 20) };

/** A listening control endpoint. */
export interface Listener {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/** Parses "ws://HOST:PORT" (port 0 = ephemeral). */
export function parseWsUrl(url: string): { host: string; port: number } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new KernelError(EINVAL, `Cannot parse URL ${url}: expected ws://HOST:PORT`);
  }
  if (u.protocol !== "ws:") throw new KernelError(EINVAL, `Cannot use URL ${url}: only ws:// is supported`);
  return { host: u.hostname, port: u.port === "" ? 0 : Number(u.port) };
}

/** Listens on `url`; every accepted connection becomes a Channel handed to `onChannel`. */
export function listen(url: string, onChannel: (ch: Channel) => void): Promise<Listener> {
  const { host, port } = parseWsUrl(url);
  return new Promise((resolve, reject) => {
    const wss = new WebSocketServer({ host, port, ...WS_OPTS });
    wss.once("error", (e) => reject(new KernelError(EIO, `Cannot listen on ${url}: ${e.message}`)));
    wss.on("connection", (ws) => onChannel(new Channel(ws)));
    wss.once("listening", () => {
      const a = wss.address() as AddressInfo;
      resolve({
        url: `ws://${host}:${a.port}`,
        port: a.port,
        close: () =>
          new Promise<void>((r) => {
            for (const c of wss.clients) c.terminate();
            wss.close(() => r());
          }),
      });
    });
  });
}

/** Connects to `url`; rejects with KernelError(ENOTCONN/ECONNREFUSED-like) when it cannot. */
export function connect(url: string, timeoutMs = 10_000): Promise<Channel> {
  parseWsUrl(url);
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, WS_OPTS);
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new KernelError(ETIMEDOUT, `Cannot connect to ${url}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    ws.once("open", () => {
      clearTimeout(timer);
      ws.removeAllListeners("error");
      resolve(new Channel(ws));
    });
    ws.once("error", (e) => {
      clearTimeout(timer);
      reject(new KernelError(ENOTCONN, `Cannot connect to ${url}: ${e.message}`));
    });
  });
}

/** Connects a CLI client and sends its HELLO (role "cli": no device, no session). Throws KernelError. */
export async function connectCli(url: string, name: string): Promise<Channel> {
  const ch = await connect(url);
  const h = await ch.request(MSG.HELLO, { protoVersion: VXO_PROTO_VERSION, features: 0n, role: "cli", name, capBpf: false, nics: 0 });
  if (!h.ok) {
    ch.close();
    throw new KernelError(h.errno, `Cannot negotiate with ${url}: ${h.message}`);
  }
  return ch;
}
