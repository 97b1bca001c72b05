// Field combinators for the control-message table: each yields a TypeScript
// type (through Infer) and a validator built once at startup. The role of
// include/uapi/linux/virtio_net.h struct layouts plus the checks QEMU's
// virtio_net_handle_ctrl() does on what the guest hands it (sizes, ranges).

/** A field schema: `check` returns null when `v` is valid, else the reason (naming `path`). */
export interface Schema<T> {
  readonly kind: string;
  readonly check: (v: unknown, path: string) => string | null;
  /** Phantom: the decoded TypeScript type. */
  readonly _t?: T;
}

/** The TypeScript type a schema describes. */
export type Infer<S> = S extends Schema<infer T> ? T : never;

function uint(bits: number): Schema<number> {
  const max = 2 ** bits - 1;
  return {
    kind: `u${bits}`,
    check: (v, path) => {
      if (typeof v !== "number" || !Number.isInteger(v)) return `field ${path} is not an integer`;
      if (v < 0 || v > max) return `field ${path} is ${v}, out of range for u${bits}`;
      return null;
    },
  };
}

export const u8: Schema<number> = uint(8);
export const u16: Schema<number> = uint(16);
export const u32: Schema<number> = uint(32);

/** A u64 carried as bigint on the wire (int64AsType "bigint"); small values may arrive as numbers. */
export const u64: Schema<bigint | number> = {
  kind: "u64",
  check: (v, path) => {
    if (typeof v === "bigint") return v >= 0n && v < 1n << 64n ? null : `field ${path} is out of range for u64`;
    if (typeof v === "number" && Number.isInteger(v) && v >= 0) return null;
    return `field ${path} is not a u64`;
  },
};

export const bool: Schema<boolean> = {
  kind: "bool",
  check: (v, path) => (typeof v === "boolean" ? null : `field ${path} is not a boolean`),
};

/** A byte string of at most `max` bytes. */
export function bytes(max: number): Schema<Uint8Array> {
  return {
    kind: "bytes",
    check: (v, path) => {
      if (!(v instanceof Uint8Array)) return `field ${path} is not a byte string`;
      return v.length > max ? `field ${path} has ${v.length} bytes, max ${max}` : null;
    },
  };
}

/** A UTF-8 string of at most `max` characters. */
export function str(max: number): Schema<string> {
  return {
    kind: "str",
    check: (v, path) => {
      if (typeof v !== "string") return `field ${path} is not a string`;
      return v.length > max ? `field ${path} has ${v.length} characters, max ${max}` : null;
    },
  };
}

/** An array of at most `max` items of one schema. */
export function arr<T>(item: Schema<T>, max: number): Schema<T[]> {
  return {
    kind: "arr",
    check: (v, path) => {
      if (!Array.isArray(v)) return `field ${path} is not an array`;
      if (v.length > max) return `field ${path} has ${v.length} entries, max ${max}`;
      for (let i = 0; i < v.length; i++) {
        const e = item.check(v[i], `${path}[${i}]`);
        if (e !== null) return e;
      }
      return null;
    },
  };
}

/** A schema whose field may be left out of its record (an optional trailing field appended to a message). */
export interface OptSchema<T> extends Schema<T> {
  readonly optional: true;
}

/** Marks a record field optional: absent is valid, present must match `s`. */
export function opt<T>(s: Schema<T>): OptSchema<T> {
  return { kind: `opt ${s.kind}`, check: s.check, optional: true };
}

type Fields = Record<string, Schema<unknown>>;
type OptKeys<F extends Fields> = { [K in keyof F]: F[K] extends OptSchema<unknown> ? K : never }[keyof F];
type StructOf<F extends Fields> = { [K in Exclude<keyof F, OptKeys<F>>]: Infer<F[K]> } & { [K in OptKeys<F>]?: Infer<F[K]> };

// msgpackr renames a decoded "__proto__" key to "__proto_"; both are refused.
const FORBIDDEN_KEYS = new Set(["__proto__", "__proto_", "constructor", "prototype"]);

/**
 * A closed record: every field present, no extra keys, never `__proto__`/`constructor`
 * (decoded objects are untrusted and must not reach a prototype).
 */
export function struct<F extends Fields>(fields: F): Schema<StructOf<F>> {
  const names = Object.keys(fields);
  return {
    kind: "struct",
    check: (v, path) => {
      if (typeof v !== "object" || v === null || Array.isArray(v) || v instanceof Uint8Array) {
        return `field ${path || "body"} is not a record`;
      }
      const proto = Object.getPrototypeOf(v);
      if (proto !== Object.prototype && proto !== null) return `field ${path || "body"} is not a plain record`;
      const keys = Object.keys(v);
      for (const k of keys) {
        if (FORBIDDEN_KEYS.has(k)) return `field ${path ? path + "." : ""}${k} is a forbidden key`;
        if (!Object.hasOwn(fields, k)) return `field ${path ? path + "." : ""}${k} is not expected`;
      }
      for (const k of names) {
        const sub = path ? `${path}.${k}` : k;
        if (!Object.hasOwn(v, k)) {
          if ((fields[k] as Partial<OptSchema<unknown>>).optional === true) continue;
          return `field ${sub} is missing`;
        }
        const e = fields[k]!.check((v as Record<string, unknown>)[k], sub);
        if (e !== null) return e;
      }
      return null;
    },
  };
}

/** Schema of a message with no body: an empty record. */
export const none: Schema<Record<string, never>> = struct({});

/** Checks `v` against `s`; returns null or the reason ("field insns has 9001 entries, max 4096"). */
export function validate<T>(s: Schema<T>, v: unknown): string | null {
  return s.check(v, "");
}
