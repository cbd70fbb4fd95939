/**
 * Process attribution in user space: attaches the kernel's socket hooks,
 * fills the kernel's maps with the sockets that were open before them, and
 * names the cgroups the flows carry. The kernel does the per-flow work
 * (bpf/owner.h); this runs once at start, and per eviction only for cgroup
 * ids not seen before.
 *
 * Owns the hooks (detached on close); the maps belong to the FlowObject.
 */
import { ProcessHooks } from "../bpf/process-hooks.ts";
import { writeConnection, writeListener, writeSocketOwner, type ProcessMaps } from "../bpf/process-maps.ts";
import type { CgroupNamer } from "../flow/flow-columns.ts";
import type { Logger } from "../log.ts";
import { CgroupPaths } from "./cgroup-paths.ts";
import { CLOSED_SOCKET_GRACE_MS, ClosedSockets } from "./closed-sockets.ts";
import { listSockets, socketHolders } from "./existing-sockets.ts";

const TCP_LISTEN = 10;
const IPPROTO_UDP = 17;

export interface SeedCounts {
  /** Sockets sock_diag listed, and those whose process was found. */
  sockets: number;
  owned: number;
  listeners: number;
  connections: number;
}

/**
 * Writes the owner, and the listener or connection entry, of every socket of
 * this namespace whose process is found. Returns what was written.
 */
export function seedExistingSockets(maps: ProcessMaps, cgroupRoot: string): SeedCounts {
  const sockets = listSockets().filter((s) => s.inode !== 0);
  const holders = socketHolders(new Set(sockets.map((s) => s.inode)), cgroupRoot);
  const counts: SeedCounts = { sockets: sockets.length, owned: 0, listeners: 0, connections: 0 };
  for (const socket of sockets) {
    const owner = holders.get(socket.inode);
    if (!owner) continue;
    counts.owned++;
    if (socket.remote.port === 0) {
      // A TCP listener, or a UDP socket bound but not connected: both answer on their port.
      const listens = socket.state === TCP_LISTEN || socket.protocol === IPPROTO_UDP;
      writeSocketOwner(maps, socket.cookie, owner, listens ? { boundPort: socket.local.port } : {});
      if (listens) {
        writeListener(maps, socket.protocol, socket.local.port, socket.cookie);
        counts.listeners++;
      }
    } else {
      writeSocketOwner(maps, socket.cookie, owner, { local: socket.local });
      writeConnection(maps, socket.protocol, socket.local, socket.remote, socket.cookie);
      counts.connections++;
    }
  }
  return counts;
}

/** How often closed sockets are read and their entries removed once their grace period is over. */
const SWEEP_MS = 1000;

export class ProcessAttribution implements Disposable {
  private readonly timer: ReturnType<typeof setInterval>;
  private constructor(
    private readonly hooks: ProcessHooks,
    private readonly paths: CgroupPaths,
    private readonly closed: ClosedSockets,
    log: Logger,
  ) {
    this.timer = setInterval(() => {
      try {
        closed.sweep();
      } catch (error) {
        log.error(`process attribution: removing closed sockets: ${error instanceof Error ? error.message : String(error)}`);
      }
    }, SWEEP_MS);
    this.timer.unref?.();
  }

  /**
   * Hooks first, then the scan: a socket opened in between is seen by one or
   * the other. `closedGraceMs`: how long a closed socket's entries stay
   * (tests shorten it; ClosedSockets also takes a clock).
   */
  static start(maps: ProcessMaps, log: Logger, closedGraceMs = CLOSED_SOCKET_GRACE_MS): ProcessAttribution {
    const closed = new ClosedSockets(maps, closedGraceMs);
    let hooks: ProcessHooks;
    try {
      hooks = ProcessHooks.attach(maps);
    } catch (error) {
      closed.close();
      throw error;
    }
    try {
      const counts = seedExistingSockets(maps, hooks.cgroupRoot);
      log.debug(
        `process attribution: ${counts.sockets} sockets open before the hooks, ${counts.owned} with their process (${counts.listeners} bound ports, ${counts.connections} connections)`,
      );
    } catch (error) {
      // Not fatal: sockets opened from now on are attributed all the same.
      log.warn(`process attribution: sockets open before the agent are not attributed: ${error instanceof Error ? error.message : String(error)}`);
    }
    return new ProcessAttribution(hooks, new CgroupPaths(hooks.cgroupRoot), closed, log);
  }

  readonly cgroups: CgroupNamer = (id) => this.paths.resolve(id);

  close() {
    clearInterval(this.timer);
    this.hooks.close();
    this.closed.close();
  }

  [Symbol.dispose]() {
    this.close();
  }
}
