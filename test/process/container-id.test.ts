/** Container ids from cgroup paths, as containerd, CRI-O and Docker lay them out (src/process/container-id.ts). */
import { expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CgroupPaths } from "../../src/process/cgroup-paths.ts";
import { containerIdOf } from "../../src/process/container-id.ts";

const ID = "0123456789abcdef".repeat(4);
const OTHER = "fedcba9876543210".repeat(4);

test.each([
  [`/system.slice/docker-${ID}.scope`, ID],
  [`/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234.slice/cri-containerd-${ID}.scope`, ID],
  [`/kubepods.slice/kubepods-pod1.slice/crio-${ID}.scope`, ID],
  [`/kubepods.slice/kubepods-pod1.slice/crio-${ID}.scope/container`, ID],
  [`/docker/${ID}`, ID],
  [`/docker/${ID}/docker/${OTHER}`, OTHER], // the innermost container
  [`/kubepods.slice/kubepods-pod1.slice/crio-conmon-${ID}.scope`, undefined], // CRI-O's monitor, not the container
  [`/system.slice/docker.service`, undefined],
  [`/user.slice/user-0.slice/session-1.scope`, undefined],
  [`/system.slice/docker-${ID.slice(1)}.scope`, undefined], // 63 hex digits
  [`/`, undefined],
])("%s → %s", (path, id) => {
  expect(containerIdOf(path)).toBe(id);
});

test("cgroup ids resolve to paths by their directory's inode; unknown ids walk again at most once per interval", () => {
  const root = mkdtempSync(join(tmpdir(), "cgroup-paths-"));
  try {
    mkdirSync(join(root, "system.slice", `docker-${ID}.scope`), { recursive: true });
    let now = 0;
    const paths = new CgroupPaths(root, 1000, () => now);
    const ino = (p: string) => statSync(join(root, p)).ino;
    expect(paths.resolve(ino("."))).toEqual({ path: "/" });
    expect(paths.resolve(ino(`system.slice/docker-${ID}.scope`))).toEqual({ path: `/system.slice/docker-${ID}.scope`, containerId: ID });
    mkdirSync(join(root, "late"));
    expect(paths.resolve(ino("late"))).toBeUndefined(); // the last walk was just now
    now = 1000;
    expect(paths.resolve(ino("late"))).toEqual({ path: "/late" });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
