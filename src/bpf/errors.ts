/**
 * One error shape for everything the kernel side can refuse: what was being
 * done, why, and what to do ("attaching tcx ingress to eth0: EPERM (operation
 * not permitted) — needs root, or CAP_BPF and CAP_NET_ADMIN …").
 */
import { release } from "node:os";

/**
 * What loading and attaching the flow programs needs: the one privilege text.
 * The pre-checks of `run` and `top` (src/agent/privileges.ts) and the EPERM
 * hint all say it through privilegeHint(), `run --help` and the README quote
 * it (test/agent/privileges.test.ts holds them to it). CAP_PERFMON is not in
 * it: the programs compare packet pointers only in the forms the verifier
 * accepts without it (test/e2e/least-privilege.test.ts).
 */
export const NEEDED_PRIVILEGES =
  "root, or CAP_BPF and CAP_NET_ADMIN (CAP_SYS_ADMIN instead of CAP_BPF on kernels before 5.8; CAP_PERFMON is not needed)";

/**
 * What to do about missing privilege, for the pre-checks and for EPERM.
 * Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK and refuse with
 * EPERM past it; libbpf raises the limit itself, which needs
 * CAP_SYS_RESOURCE when the hard limit is lower.
 */
export function privilegeHint(kernelRelease = release()): string {
  const [major = 0, minor = 0] = kernelRelease.split(".").map((n) => parseInt(n, 10));
  const memlock = major < 5 || (major === 5 && minor < 11);
  return `needs ${NEEDED_PRIVILEGES}: run it with sudo, or grant those capabilities${
    memlock ? `; kernel ${kernelRelease} also counts BPF memory against RLIMIT_MEMLOCK: raise it (ulimit -l unlimited, LimitMEMLOCK=infinity)` : ""
  }`;
}

const errnoNames: Record<number, [string, string]> = {
  1: ["EPERM", "operation not permitted"],
  2: ["ENOENT", "no such file or directory"],
  7: ["E2BIG", "argument list too long"],
  11: ["EAGAIN", "interrupted, try again"],
  12: ["ENOMEM", "out of memory"],
  13: ["EACCES", "permission denied (the verifier rejected the program)"],
  16: ["EBUSY", "device or resource busy"],
  17: ["EEXIST", "already exists"],
  19: ["ENODEV", "no such device"],
  22: ["EINVAL", "invalid argument"],
  95: ["EOPNOTSUPP", "operation not supported"],
  524: ["ENOTSUPP", "not supported by this kernel"],
  4003: ["LIBBPF_ERRNO__LOAD", "the kernel refused to load the program"],
  4007: ["LIBBPF_ERRNO__VERIFY", "the verifier rejected the program"],
};

/** "EACCES", or "errno 4242" for a number we have no name for. */
export function errnoName(errno: number): string {
  return errnoNames[errno]?.[0] ?? `errno ${errno}`;
}

/** EACCES is left without one: from a load it is the verifier's verdict (verifier-log.ts reads why). */
function hintFor(errno: number): string | undefined {
  if (errno === 1) return privilegeHint();
  if (errno === 12) return "lower --cache-max-flows, or raise RLIMIT_MEMLOCK on kernels before 5.11";
  if (errno === 524 || errno === 95) return "this kernel lacks the feature; kernel 5.8 or newer is required, 6.6 for TCX";
  return undefined;
}

export class BpfError extends Error {
  override readonly name = "BpfError";
  constructor(
    readonly doing: string,
    readonly why: string,
    readonly hint?: string,
    options?: { cause?: unknown; errno?: number; details?: string[] },
  ) {
    super(`${doing}: ${why}${hint ? ` — ${hint}` : ""}`, options);
    this.errno = options?.errno;
    this.details = options?.details ?? [];
  }
  readonly errno: number | undefined;
  /** Extra lines (the verifier log's tail), shown under --log-level debug or on request. */
  readonly details: string[];

  static fromErrno(doing: string, errno: number, details?: string[]): BpfError {
    const [name, text] = errnoNames[errno] ?? [`errno ${errno}`, "unknown error"];
    return new BpfError(doing, `${name} (${text})`, hintFor(errno), { errno, details });
  }
}
