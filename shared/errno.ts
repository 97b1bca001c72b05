// Linux errno values (asm-generic/errno-base.h, asm-generic/errno.h) and the
// boundary error type. Never invent codes; kernel-internal ENOTSUPP (524) is
// never sent across a process boundary: use EOPNOTSUPP.

export const EPERM = 1;
export const ENOENT = 2;
export const ESRCH = 3;
export const EINTR = 4;
export const EIO = 5;
export const ENXIO = 6;
export const E2BIG = 7;
export const ENOEXEC = 8;
export const EBADF = 9;
export const EAGAIN = 11;
export const ENOMEM = 12;
export const EACCES = 13;
export const EFAULT = 14;
export const EBUSY = 16;
export const EEXIST = 17;
export const EXDEV = 18;
export const ENODEV = 19;
export const ENOTDIR = 20;
export const EISDIR = 21;
export const EINVAL = 22;
export const ENFILE = 23;
export const EMFILE = 24;
export const ENOSPC = 28;
export const ERANGE = 34;
export const EDEADLK = 35;
export const ENAMETOOLONG = 36;
export const ENOSYS = 38;
export const ELOOP = 40;
export const ENOMSG = 42;
export const EPROTO = 71;
export const EBADMSG = 74;
export const EOVERFLOW = 75;
export const EMSGSIZE = 90;
export const EPROTONOSUPPORT = 93;
export const EAFNOSUPPORT = 97;
export const EOPNOTSUPP = 95;
export const EADDRINUSE = 98;
export const ENETDOWN = 100;
export const ECONNRESET = 104;
export const ENOBUFS = 105;
export const ENOTCONN = 107;
export const ETIMEDOUT = 110;
export const ECONNREFUSED = 111;
export const EALREADY = 114;
export const ECANCELED = 125;

const NAMES: Record<number, string> = {
  [EPERM]: "EPERM", [ENOENT]: "ENOENT", [ESRCH]: "ESRCH", [EINTR]: "EINTR", [EIO]: "EIO",
  [ENXIO]: "ENXIO", [E2BIG]: "E2BIG", [ENOEXEC]: "ENOEXEC", [EBADF]: "EBADF", [EAGAIN]: "EAGAIN",
  [ENOMEM]: "ENOMEM", [EACCES]: "EACCES", [EFAULT]: "EFAULT", [EBUSY]: "EBUSY", [EEXIST]: "EEXIST",
  [EXDEV]: "EXDEV", [ENODEV]: "ENODEV", [ENOTDIR]: "ENOTDIR", [EISDIR]: "EISDIR", [EINVAL]: "EINVAL",
  [ENFILE]: "ENFILE", [EMFILE]: "EMFILE", [ENOSPC]: "ENOSPC", [ERANGE]: "ERANGE", [EDEADLK]: "EDEADLK",
  [ENAMETOOLONG]: "ENAMETOOLONG", [ENOSYS]: "ENOSYS", [ELOOP]: "ELOOP", [ENOMSG]: "ENOMSG",
  [EPROTO]: "EPROTO", [EBADMSG]: "EBADMSG", [EOVERFLOW]: "EOVERFLOW", [EMSGSIZE]: "EMSGSIZE",
  [EPROTONOSUPPORT]: "EPROTONOSUPPORT", [EAFNOSUPPORT]: "EAFNOSUPPORT", [EOPNOTSUPP]: "EOPNOTSUPP", [EADDRINUSE]: "EADDRINUSE",
  [ENETDOWN]: "ENETDOWN", [ECONNRESET]: "ECONNRESET", [ENOBUFS]: "ENOBUFS", [ENOTCONN]: "ENOTCONN",
  [ETIMEDOUT]: "ETIMEDOUT", [ECONNREFUSED]: "ECONNREFUSED", [EALREADY]: "EALREADY", [ECANCELED]: "ECANCELED",
};

const STRINGS: Record<number, string> = {
  [EPERM]: "Operation not permitted", [ENOENT]: "No such file or directory", [E2BIG]: "Argument list too long",
  [EBADF]: "Bad file descriptor", [EAGAIN]: "Resource temporarily unavailable", [ENOMEM]: "Cannot allocate memory",
  [EACCES]: "Permission denied", [EFAULT]: "Bad address", [EBUSY]: "Device or resource busy",
  [EEXIST]: "File exists", [ENODEV]: "No such device", [EINVAL]: "Invalid argument",
  [ENOSPC]: "No space left on device", [ERANGE]: "Numerical result out of range", [ENOSYS]: "Function not implemented",
  [ELOOP]: "Too many levels of symbolic links", [EMSGSIZE]: "Message too long", [EOPNOTSUPP]: "Operation not supported",
  [ENOTCONN]: "Transport endpoint is not connected", [ETIMEDOUT]: "Connection timed out",
  [EOVERFLOW]: "Value too large for defined data type", [ENOEXEC]: "Exec format error",
};

/** Linux name of an errno value (positive or negative), e.g. 22 -> "EINVAL". */
export function errnoName(errno: number): string {
  return NAMES[Math.abs(errno)] ?? `E${Math.abs(errno)}`;
}

/** strerror(3) text of an errno value. */
export function strerror(errno: number): string {
  return STRINGS[Math.abs(errno)] ?? `Unknown error ${Math.abs(errno)}`;
}

/** Errno value of a name ("EINVAL" -> 22), or 0 when unknown. */
export function errnoByName(name: string): number {
  for (const k in NAMES) if (NAMES[k] === name) return Number(k);
  return 0;
}

/** True for a kernel-style negative errno return value. */
export function isErr(ret: number): boolean {
  return ret < 0 && ret >= -4095;
}

/**
 * Error thrown at API and process boundaries (tier 3 of the error model).
 * Hot paths return -errno instead and never throw.
 */
export class KernelError extends Error {
  readonly errno: number;
  readonly code: string;
  readonly log: readonly string[] | undefined;
  constructor(errno: number, message: string, options?: ErrorOptions & { log?: readonly string[] }) {
    super(message, options);
    this.name = "KernelError";
    this.errno = Math.abs(errno);
    this.code = errnoName(errno);
    this.log = options?.log;
  }
}
