// Shared by the ELF and object tests: opening an object libbpf must refuse
// (bpf_object__open()'s error path) and getting the KernelError it refuses with.
import { KernelError } from "../../../../shared/errno.ts";
import { openObject } from "../../../../shared/bpf/libbpf/object.ts";

/** The KernelError openObject() throws for `b`; fails the test when it opens or throws something else. */
export function openErr(b: Uint8Array, file = "xdp1.o"): KernelError {
  try {
    openObject(b, { file });
  } catch (e) {
    if (e instanceof KernelError) return e;
    throw e;
  }
  throw new Error("openObject() accepted an object it should refuse");
}
