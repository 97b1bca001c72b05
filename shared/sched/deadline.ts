// A deadline on a promise: what waits on another thread or process (a Worker
// starting or exiting, a reply) gives up with ETIMEDOUT instead of hanging. A
// deadline is never a stand-in for a cost.
import { ETIMEDOUT, KernelError } from "../errno.ts";

/** `p`, or KernelError(ETIMEDOUT) "`prefix`: timed out waiting for `what`" once `deadline` (ms since epoch) passes. */
export async function withDeadline<T>(p: Promise<T>, deadline: number, what: string, prefix = "datapath"): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new KernelError(ETIMEDOUT, `${prefix}: timed out waiting for ${what}`)),
      Math.max(0, deadline - Date.now()));
  });
  try {
    return await Promise.race([p, t]);
  } finally {
    clearTimeout(timer);
  }
}
