/** The address netobserv's Record.agent_ip reports for this host when --agent-ip is not given. */
import { networkInterfaces } from "node:os";

/**
 * The first non-internal IPv4 of the host (interfaces in the order the kernel
 * lists them), else the first non-internal IPv6 that is not link-local, else
 * 127.0.0.1.
 */
export function hostAddress(interfaces = networkInterfaces()): string {
  const all = Object.values(interfaces).flatMap((list) => list ?? []);
  const v4 = all.find((a) => a.family === "IPv4" && !a.internal);
  if (v4) return v4.address;
  const v6 = all.find((a) => a.family === "IPv6" && !a.internal && !a.address.toLowerCase().startsWith("fe80:"));
  return v6?.address ?? "127.0.0.1";
}
