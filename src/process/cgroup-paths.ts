/**
 * Cgroup ids to paths. A cgroup v2 id is the inode of its directory under the
 * cgroup v2 mount, so a walk of that tree (stat of every directory) maps
 * them all. Resolved ids are cached; an unknown id walks the tree again, at
 * most once per `rescanMs`, so ids of cgroups that are gone (a container
 * that exited before its flows were evicted) cost one walk, not one each.
 * Cgroups that went away are forgotten on the next walk.
 */
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import type { CgroupInfo } from "../flow/flow-columns.ts";
import { containerIdOf } from "./container-id.ts";

export class CgroupPaths {
  private known = new Map<number, CgroupInfo>();
  private lastWalkMs = -Infinity;

  constructor(
    /** The cgroup v2 mount (cgroupV2Mount()). */
    private readonly root: string,
    private readonly rescanMs = 1000,
    private readonly now: () => number = Date.now,
  ) {}

  /** The cgroup's path ("/" for the root) and container id; undefined when no such cgroup exists now. */
  readonly resolve = (id: number): CgroupInfo | undefined => {
    const found = this.known.get(id);
    if (found || this.now() - this.lastWalkMs < this.rescanMs) return found;
    this.walk();
    return this.known.get(id);
  };

  private walk() {
    this.lastWalkMs = this.now();
    const known = new Map<number, CgroupInfo>();
    const visit = (dir: string, path: string) => {
      let ino: number;
      try {
        ino = statSync(dir).ino;
      } catch {
        return; // removed meanwhile
      }
      const containerId = containerIdOf(path);
      known.set(ino, containerId ? { path, containerId } : { path });
      let entries;
      try {
        entries = readdirSync(dir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const entry of entries) if (entry.isDirectory()) visit(join(dir, entry.name), path === "/" ? `/${entry.name}` : `${path}/${entry.name}`);
    };
    visit(this.root, "/");
    this.known = known;
  }
}
