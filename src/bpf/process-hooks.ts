/**
 * The process-attribution hooks (bpf/owner.h) attached to the root of the
 * cgroup v2 tree, one BPF link each (bpf_link_create, what libbpf's
 * bpf_program__attach_cgroup does): they then run for every process on the
 * host, whatever its cgroup or network namespace. Closing a link detaches
 * it, and the kernel closes them when the process dies, so nothing stays
 * attached after the agent. Attaching is all or nothing.
 */
import { accessSync, closeSync, openSync, readFileSync } from "node:fs";
import { BpfError } from "./errors.ts";
import { closeFd, linkCreate } from "./libbpf.ts";
import type { ProcessMaps } from "./process-maps.ts";

/** The first cgroup2 mount point in a mounts table (/proc/<pid>/mounts). */
export function cgroupV2MountIn(mounts: string): string | undefined {
  for (const line of mounts.split("\n")) {
    const [, where, type] = line.split(" ");
    if (type === "cgroup2" && where) return where.replace(/\\040/g, " ");
  }
  return undefined;
}

/**
 * Where the cgroup v2 hierarchy is mounted (/sys/fs/cgroup, or
 * /sys/fs/cgroup/unified on a hybrid host): from this process's mounts, else
 * through the root of its parent or of init, the first we may enter
 * (`ip netns exec` remounts /sys without the cgroup mounts, but the
 * hierarchy is the same one: /proc/<pid>/root/<mount>).
 */
export function cgroupV2Mount(): string | undefined {
  const own = cgroupV2MountIn(readFileSync("/proc/self/mounts", "utf8"));
  if (own) return own;
  for (const pid of [process.ppid, 1]) {
    try {
      const mount = cgroupV2MountIn(readFileSync(`/proc/${pid}/mounts`, "utf8"));
      if (!mount) continue;
      const path = `/proc/${pid}/root${mount}`;
      accessSync(path);
      return path;
    } catch {
      // gone, or not ours to enter
    }
  }
  return undefined;
}

export class ProcessHooks implements Disposable {
  private open = true;
  private constructor(
    private readonly links: number[],
    /** The cgroup v2 mount the hooks are attached to. */
    readonly cgroupRoot: string,
  ) {}

  static attach(maps: ProcessMaps, cgroupRoot = cgroupV2Mount()): ProcessHooks {
    if (!cgroupRoot)
      throw new BpfError("attaching the process hooks", "no cgroup v2 hierarchy is mounted", "mount cgroup2 (mount -t cgroup2 none /sys/fs/cgroup), or run with --enable-process=false");
    let cgroupFd: number;
    try {
      cgroupFd = openSync(cgroupRoot, "r");
    } catch (cause) {
      throw new BpfError(`attaching the process hooks to ${cgroupRoot}`, `cannot open it: ${(cause as Error).message}`, "run as root, or with --enable-process=false", { cause });
    }
    const links: number[] = [];
    try {
      for (const program of maps.programs)
        links.push(linkCreate(program.fd, cgroupFd, program.attachType, `attaching cgroup/${program.hook} to ${cgroupRoot}`));
    } catch (error) {
      for (const link of links) closeFd(link);
      throw error;
    } finally {
      closeSync(cgroupFd);
    }
    return new ProcessHooks(links, cgroupRoot);
  }

  /** Detaches every hook. Idempotent. */
  close() {
    if (!this.open) return;
    this.open = false;
    for (const link of this.links) closeFd(link);
  }

  [Symbol.dispose]() {
    this.close();
  }
}
