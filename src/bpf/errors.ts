/**
 * One error shape for everything the kernel side can refuse: what was being
 * done, why, and what to do ("attaching tcx ingress to eth0: EPERM (operation
 * not permitted) — run as root or grant CAP_BPF and CAP_NET_ADMIN").
 */
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

function hintFor(errno: number): string | undefined {
  if (errno === 1 || errno === 13)
    return "run as root, or grant CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN (sudo netflow-agent run)";
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
