/**
 * Whether this process may load and attach the flow programs, read from
 * /proc/self/status before the kernel is asked. A refusal names what is
 * missing and says what is needed in the words of privilegeHint()
 * (src/bpf/errors.ts), the same text as the EPERM error and the README.
 */
import { readFileSync } from "node:fs";
import { BpfError, privilegeHint } from "../bpf/errors.ts";

// include/uapi/linux/capability.h
export const CAP_NET_ADMIN = 12n;
export const CAP_SYS_ADMIN = 21n;
export const CAP_BPF = 39n;

export function effectiveCapabilities(status = readFileSync("/proc/self/status", "utf8")): bigint {
  const line = status.split("\n").find((l) => l.startsWith("CapEff:"));
  return line ? BigInt("0x" + line.split(/\s+/)[1]) : 0n;
}

/**
 * The capabilities loading would fail for lack of; empty when allowed.
 * Loading needs CAP_BPF (CAP_SYS_ADMIN covers it, and is the only way before
 * 5.8); TC programs also need CAP_NET_ADMIN, to load and to attach.
 */
export function lackingCapabilities(caps = effectiveCapabilities()): string[] {
  const has = (cap: bigint) => ((caps >> cap) & 1n) === 1n;
  const lacking: string[] = [];
  if (!has(CAP_BPF) && !has(CAP_SYS_ADMIN)) lacking.push("CAP_BPF");
  if (!has(CAP_NET_ADMIN)) lacking.push("CAP_NET_ADMIN");
  return lacking;
}

/**
 * The one-line error for a process that may not load the programs; undefined
 * when it may. `alternative`: another way the command can do without
 * privilege (top: "watch a running agent …").
 */
export function privilegeRefusal(caps = effectiveCapabilities(), alternative?: string, kernelRelease?: string): BpfError | undefined {
  const lacking = lackingCapabilities(caps);
  if (lacking.length === 0) return undefined;
  return new BpfError("loading BPF programs", `this process lacks ${lacking.join(" and ")}`, privilegeHint(kernelRelease) + (alternative ? `, or ${alternative}` : ""));
}
