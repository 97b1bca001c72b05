// Deliberate differences between our verifier and the Linux kernel on corpus
// cases, each with its reason. Only false rejects (the kernel accepts, we
// refuse) and differences in how a shared rejection is worded or numbered may
// be listed: a false accept (we accept, the kernel rejects) is never allowed.
// The one home of our known differences from the kernel. Differences between
// kernel versions are not ours: a case records them per version range
// (case.ts VerifierCase.kernel), and we follow the newest; nor are helpers a
// kernel build does not offer (probed: test/helpers/helper_probe.ts), where we
// follow upstream. The conformance
// vectors' list (test/conformance/known_differences.ts) is of another kind:
// uBPF harness and policy against Linux, not our verifier against the kernel.
import { EACCES, EINVAL } from "../../../../../shared/errno.ts";

/** What our verifier does instead of the kernel, and why. */
export interface DeliberateDifference {
  reason: string;
  /** Our expected verdict on the case. */
  result: "ACCEPT" | "REJECT";
  errno?: number;
  /** Substring of our first error line. */
  err?: string;
}

export const DELIBERATE: Readonly<Record<string, DeliberateDifference>> = {
  "helpers/base helper get_current_pid_tgid is allowed": {
    reason: "the kernel's bpf_base_func_proto() offers tracing helpers to privileged XDP programs; an XDP offload host has no task context to answer them, so our XDP helper set (shared/bpf/runtime/helpers.ts XDP_HELPER_PROTOS) leaves them out",
    result: "REJECT", errno: EINVAL, err: "program of this type cannot use helper bpf_get_current_pid_tgid#14",
  },
  "map/map pointer read by a privileged program (BTF struct bpf_map)": {
    reason: "reading struct bpf_map through CONST_PTR_TO_MAP needs the vmlinux BTF layout of a kernel object; our maps have no such object in BPF memory",
    result: "REJECT", errno: EACCES, err: "R1 invalid mem access 'map_ptr'",
  },
  "map/map_ptr_deref": {
    reason: "the kernel lets a privileged program read struct bpf_map fields through BTF (here the first word of the hash map's struct); our maps have no kernel struct in BPF memory to read",
    result: "REJECT", errno: EACCES, err: "R1 invalid mem access 'map_ptr'",
  },
};
