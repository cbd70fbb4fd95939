/**
 * The container a cgroup path belongs to, as the runtimes lay their cgroups
 * out: systemd driver `…/docker-<id>.scope`, `…/cri-containerd-<id>.scope`,
 * `…/crio-<id>.scope`; cgroupfs driver `/docker/<id>`. The innermost match
 * wins (a container inside a container names the inner one). CRI-O's
 * `crio-conmon-<id>.scope` is its monitor, not the container.
 */
const CONTAINER_PATTERN = /(?:^|\/)(?:(?:docker|cri-containerd|crio)-([0-9a-f]{64})\.scope|docker\/([0-9a-f]{64}))(?=\/|$)/g;

export function containerIdOf(cgroupPath: string): string | undefined {
  let id: string | undefined;
  for (const match of cgroupPath.matchAll(CONTAINER_PATTERN)) id = match[1] ?? match[2];
  return id;
}
