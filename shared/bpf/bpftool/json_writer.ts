// bpftool's JSON writer (tools/bpf/bpftool/json_writer.c): the separator and
// depth rules that give bpftool's exact spacing, compact (-j) or pretty (-p,
// and the text view of BTF-formatted map entries): a name starts a new
// indented line, array elements stay on the line of their '[', a closing
// bracket goes on its own line only when the container was not empty.

export class JsonWriter {
  readonly pretty: boolean;
  #out = "";
  #depth = 0;
  /** The separator owed before the next value ("," after a value, "" at a container's start). */
  #sep = "";

  constructor(pretty: boolean) {
    this.pretty = pretty;
  }

  /** What was written so far. */
  get text(): string {
    return this.#out;
  }

  #eol(): void {
    if (!this.pretty) return;
    this.#out += "\n" + "    ".repeat(this.#depth);
  }

  /** End of the previous record: its separator. */
  #eor(): void {
    this.#out += this.#sep;
    this.#sep = ",";
  }

  #begin(c: string): void {
    this.#eor();
    this.#out += c;
    this.#depth++;
    this.#sep = "";
  }

  #end(c: string): void {
    this.#depth--;
    if (this.#sep !== "") this.#eol();
    this.#out += c;
    this.#sep = ",";
  }

  /** jsonw_puts(): a quoted string with json_writer's escapes. */
  #puts(s: string): void {
    let q = '"';
    for (const ch of s) {
      switch (ch) {
        case "\t": q += "\\t"; break;
        case "\n": q += "\\n"; break;
        case "\r": q += "\\r"; break;
        case "\f": q += "\\f"; break;
        case "\b": q += "\\b"; break;
        case "\\": q += "\\\\"; break;
        case '"': q += '\\"'; break;
        default: q += ch;
      }
    }
    this.#out += q + '"';
  }

  startObject(): void {
    this.#begin("{");
  }
  endObject(): void {
    this.#end("}");
  }
  startArray(): void {
    this.#begin("[");
  }
  endArray(): void {
    this.#end("]");
  }

  /** jsonw_name(): `"name":` (with a space when pretty) on a new line. */
  name(n: string): void {
    this.#eor();
    this.#eol();
    this.#sep = "";
    this.#puts(n);
    this.#out += this.pretty ? ": " : ":";
  }

  /** jsonw_printf(): a value written as is. */
  raw(v: string): void {
    this.#eor();
    this.#out += v;
  }

  string(v: string): void {
    this.#eor();
    this.#puts(v);
  }

  bool(v: boolean): void {
    this.raw(v ? "true" : "false");
  }

  null(): void {
    this.raw("null");
  }

  /** Text another printf() put on the same stdout meanwhile (no separator, no state change). */
  interleave(s: string): void {
    this.#out += s;
  }
}
