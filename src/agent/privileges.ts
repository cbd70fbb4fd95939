/**
 * Whether this process may load and attach the flow programs, read from
 * /proc/self/status before the kernel is asked: the answer names what is
 * missing, in the words of NEEDED_PRIVILEGES (the EPERM hint and the README
 * say the same).
 */
import { readFileSync } from "node:fs";
import { NEEDED_PRIVILEGES } from "../bpf/errors.ts";

// include/uapi/linux/capability.h
export const CAP_NET_ADMIN = 12n;
export const CAP_SYS_ADMIN = 21n;
export const CAP_BPF = 39n;

export function effectiveCapabilities(status = readFileSync("/proc/self/status", "utf8")): bigint {
  const line = status.split("\n").find((l) => l.startsWith("CapEff:"));
  return line ? BigInt("0x" + line.split(/\s+/)[1]) : 0n;
}

/**
 * A one-line reason when loading would fail for lack of privilege; undefined
 * when allowed. Loading needs CAP_BPF (CAP_SYS_ADMIN covers it, and is the
 * only way before 5.8); TC programs also need CAP_NET_ADMIN, to load and to attach.
 */
export function missingPrivilege(caps = effectiveCapabilities()): string | undefined {
  const has = (cap: bigint) => ((caps >> cap) & 1n) === 1n;
  const lacking: string[] = [];
  if (!has(CAP_BPF) && !has(CAP_SYS_ADMIN)) lacking.push("CAP_BPF");
  if (!has(CAP_NET_ADMIN)) lacking.push("CAP_NET_ADMIN");
  if (lacking.length === 0) return undefined;
  return `loading BPF programs needs ${NEEDED_PRIVILEGES}; this process lacks ${lacking.join(" and ")} — run it with sudo, or grant those capabilities`;
}
