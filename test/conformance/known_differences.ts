// Conformance vectors (shared/conformance, relative paths) that we do not run as the
// uBPF harness would, and why. Counterpart: uBPF test_framework/test_vm.py and
// test_elf.py; policy notes in shared/conformance/ubpf/README.md. Goal: only entries
// that are uBPF policy or uBPF-harness specific, never a bug of ours. Differences of
// our verifier from the Linux kernel live in test/shared/bpf/verifier/corpus/deliberate.ts.

/**
 * "skip": cannot run without uBPF's own tooling.
 * "inverted": uBPF policy that Linux does not share; the test asserts the Linux behaviour.
 */
export type KnownDifferenceKind = "skip" | "inverted";

export interface KnownDifference {
  readonly kind: KnownDifferenceKind;
  readonly reason: string;
}

const PYELF =
  "uBPF ELF-loader case: `-- pyelf` edits a template ELF that uBPF's test_elf.py builds in Python; " +
  "there is no program to load without that harness (our ELF loader is tested with its own fixtures)";

const ELF_CASES = [
  "bad-rel-offset", "bad-rel-strtab-index", "bad-rel-symbol-index", "bad-rel-symbol-name",
  "bad-rel-symbol-table-section-index", "bad-rel-type", "bad-section-header-offset", "bad-section-header-size",
  "bad-section-offset", "bad-section-size", "ehdr-short", "no-text-section", "ok", "rel-sym-not-found",
  "too-many-sections", "wrong-byte-order", "wrong-class", "wrong-machine", "wrong-osabi", "wrong-type", "wrong-version",
];

export const KNOWN_DIFFERENCES: ReadonlyMap<string, KnownDifference> = new Map<string, KnownDifference>([
  ...ELF_CASES.map((n): [string, KnownDifference] => [`ubpf/elf/${n}.data`, { kind: "skip", reason: PYELF }]),
  ["ubpf/errors/err-unknown-opcode.data", {
    kind: "inverted",
    reason: "uBPF rejects opcode 0x06, but 0x06 is BPF_JMP32|BPF_JA (gotol, ISA v4, RFC 9669) which Linux " +
      "accepts: we run it (ja32 +0; exit) and expect success",
  }],
  ["ubpf/errors/err-lddw-invalid-src.data", {
    kind: "inverted",
    reason: "uBPF rejects lddw with src=1, but src=1 is BPF_PSEUDO_MAP_FD, which map offload needs: the " +
      "encoding must pass the structural checks once a loader resolves the map (the raw runner has no maps, " +
      "and the vector has no exit, so it still fails there, for those reasons only)",
  }],
  ["ubpf/reload.data", {
    kind: "inverted",
    reason: "uBPF's VM refuses a second ubpf_load() into the same VM; BPF_PROG_LOAD keeps no such state, " +
      "so loading and running the same code twice succeeds both times",
  }],
]);
