/**
 * Which process holds a BPF program: a program is alive as long as some fd
 * (or link, or tc filter) refers to it, and /proc/<pid>/fdinfo/<fd> of a
 * program fd names its `prog_id`. Used to tell a tc filter that a crashed run
 * left behind (no process holds its program) from one a running agent owns.
 *
 * Reading another process's fd table needs the same uid (and no more
 * capabilities than ours) or CAP_SYS_PTRACE (the kernel's ptrace access
 * check): root sees every process, an agent running as an unprivileged uid
 * with CAP_BPF + CAP_NET_ADMIN does not. A scan that could not look
 * everywhere says so instead of answering "nobody".
 */
import { readdirSync, readFileSync, readlinkSync } from "node:fs";

export type ProgramHolder =
  /** A process other than this one holds an fd to the program. */
  | { kind: "process"; pid: number }
  /** Every process was inspected and none holds it. */
  | { kind: "none" }
  /** None of the processes inspected holds it, but `uninspected` could not be read. */
  | { kind: "unknown"; uninspected: number };

/** Who other than this process holds an fd to program `progId`. */
export function holderOf(progId: number): ProgramHolder {
  const wanted = `prog_id:\t${progId}\n`;
  let uninspected = 0;
  for (const entry of readdirSync("/proc")) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch (error) {
      // ENOENT: gone meanwhile. EACCES: another user's (or a kernel thread) — it might hold it.
      if ((error as NodeJS.ErrnoException).code === "EACCES") uninspected++;
      continue;
    }
    for (const fd of fds) {
      try {
        if (readlinkSync(`/proc/${pid}/fd/${fd}`) !== "anon_inode:bpf-prog") continue;
        if (readFileSync(`/proc/${pid}/fdinfo/${fd}`, "latin1").includes(wanted)) return { kind: "process", pid };
      } catch {
        // closed meanwhile
      }
    }
  }
  return uninspected > 0 ? { kind: "unknown", uninspected } : { kind: "none" };
}
