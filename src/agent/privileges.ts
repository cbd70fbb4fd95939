/** Whether this process may load and attach BPF programs, read from /proc/self/status. */
import { readFileSync } from "node:fs";

const CAP_NET_ADMIN = 12n;
const CAP_SYS_ADMIN = 21n;
const CAP_BPF = 39n;

export function effectiveCapabilities(status = readFileSync("/proc/self/status", "utf8")): bigint {
  const line = status.split("\n").find((l) => l.startsWith("CapEff:"));
  return line ? BigInt("0x" + line.split(/\s+/)[1]) : 0n;
}

/** A one-line reason when loading would fail for lack of privilege; undefined when allowed. */
export function missingPrivilege(caps = effectiveCapabilities()): string | undefined {
  const has = (cap: bigint) => (caps >> cap) & 1n;
  const canLoad = has(CAP_BPF) || has(CAP_SYS_ADMIN);
  if (canLoad && has(CAP_NET_ADMIN)) return undefined;
  return "loading BPF programs needs root, or CAP_BPF (or CAP_SYS_ADMIN) with CAP_NET_ADMIN — run it with sudo";
}
