/**
 * Which process holds a BPF program: a program is alive as long as some fd
 * (or link, or tc filter) refers to it, and /proc/<pid>/fdinfo/<fd> of a
 * program fd names its `prog_id`. Used to tell a tc filter that a crashed run
 * left behind (no process holds its program) from one a running agent owns.
 */
import { readdirSync, readFileSync, readlinkSync } from "node:fs";

/** The pid of a process, other than this one, holding an fd to program `progId`; undefined if none. */
export function otherHolderOf(progId: number): number | undefined {
  const wanted = `prog_id:\t${progId}\n`;
  for (const entry of readdirSync("/proc")) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue; // gone, or a kernel thread
    }
    for (const fd of fds) {
      try {
        if (readlinkSync(`/proc/${pid}/fd/${fd}`) !== "anon_inode:bpf-prog") continue;
        if (readFileSync(`/proc/${pid}/fdinfo/${fd}`, "latin1").includes(wanted)) return pid;
      } catch {
        // closed meanwhile
      }
    }
  }
  return undefined;
}
