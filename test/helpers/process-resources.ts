/** What a process holds, from /proc: its open fds and its resident memory. */
import { readdirSync, readFileSync } from "node:fs";

export function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** VmRSS of /proc/<pid>/status, KiB. */
export function rssKiB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, "latin1")
    .split("\n")
    .find((l) => l.startsWith("VmRSS:"));
  if (!line) throw new Error(`/proc/${pid}/status has no VmRSS (a zombie?)`);
  return Number(line.split(/\s+/)[1]);
}
