/**
 * Child cgroups of the test's own cgroup (cgroup v2), for real processes to
 * run in. A cgroup's id is its directory's inode. Disposing kills what still
 * runs in it (only processes the test started there) and removes it.
 */
import { existsSync, mkdirSync, readFileSync, rmdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { cgroupV2Mount } from "../../src/bpf/process-hooks.ts";
import { waitFor } from "./wait-for.ts";

let counter = 0;

export class TestCgroup implements AsyncDisposable {
  private constructor(
    /** The directory under the cgroup v2 mount. */
    readonly dir: string,
    /** The path as /proc/<pid>/cgroup and the agent print it. */
    readonly path: string,
    readonly id: number,
  ) {}

  /** A new child of this process's cgroup, named nf-<name>-<pid>-<n>. */
  static create(name: string): TestCgroup {
    const mount = cgroupV2Mount();
    if (!mount) throw new Error("no cgroup v2 hierarchy is mounted");
    const own = readFileSync("/proc/self/cgroup", "utf8").split("\n").find((l) => l.startsWith("0::"))!.slice(3);
    const path = join(own, `nf-${name}-${process.pid}-${counter++}`);
    const dir = join(mount, path);
    mkdirSync(dir);
    return new TestCgroup(dir, path, statSync(dir).ino);
  }

  /** Runs `cmd` inside this cgroup (the shell moves itself in, then execs: the pid is the command's). */
  spawn(cmd: string[], options: { stdout?: "pipe" | "ignore"; stderr?: "pipe" | "ignore" } = {}) {
    return Bun.spawn(["sh", "-c", `echo $$ > '${this.dir}/cgroup.procs' && exec "$@"`, "sh", ...cmd], {
      stdin: "ignore",
      stdout: options.stdout ?? "ignore",
      stderr: options.stderr ?? "ignore",
    });
  }

  pids(): number[] {
    if (!existsSync(this.dir)) return [];
    return readFileSync(join(this.dir, "cgroup.procs"), "utf8").split("\n").filter(Boolean).map(Number);
  }

  /** cgroup.events "populated": any task (exiting ones included) in it or below; undefined once it is gone. */
  populated(): boolean | undefined {
    if (!existsSync(this.dir)) return undefined;
    return /^populated 1$/m.test(readFileSync(join(this.dir, "cgroup.events"), "utf8"));
  }

  async [Symbol.asyncDispose]() {
    for (const pid of this.pids()) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // exited meanwhile
      }
    }
    // cgroup.procs drops a task when it exits, but the cgroup stays busy (rmdir: EBUSY) until the
    // exited task is released too (reaped by its parent, this test process, asynchronously): the
    // kernel says when, by "populated 0" in cgroup.events.
    // Kernels differ in when that turns: rmdir's own EBUSY is the final word, asked until it succeeds.
    await waitFor(`cgroup ${this.path} to be unpopulated (cgroup.events) and removed`, () => {
      if (this.populated()) return false;
      try {
        rmdirSync(this.dir);
        return true;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "EBUSY") return false;
        throw e;
      }
    });
  }
}
