// Reference interpreter: the oracle every faster engine is checked against.
// Mirrors ___bpf_prog_run() in kernel/bpf/core.c and uBPF's ubpf_exec_ex(). The
// source is interp_core.ts; what runs is its generated twin interp_core.gen.ts
// (the same code with every opcode and register name replaced by its number, so
// that V8 compiles the dispatch switch to a jump table): see interp_core.ts.
export { interpRun } from "./interp_core.gen.ts";
