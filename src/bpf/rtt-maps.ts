/**
 * The TCP RTT tracker (bpf/rtt.h, --enable-rtt): its sock_ops program, and
 * tcp_rtt, each connection's smoothed RTT since the last drain, drained whole
 * at eviction. Holds their fds, owned by the FlowObject; present only with
 * --enable-rtt. RttHook attaches the program to the root of the cgroup v2
 * tree (as the process hooks are) and detaches it on dispose.
 */
import { closeSync, openSync } from "node:fs";
import { BpfError } from "./errors.ts";
import { RTT_RECORD, SOCK_CONNECTION } from "./flow-layout.ts";
import { closeFd, linkCreate } from "./libbpf.ts";
import { BatchDrain } from "./batch-drain.ts";
import { cgroupV2Mount } from "./process-hooks.ts";

/** enum bpf_attach_type (linux/bpf.h) BPF_CGROUP_SOCK_OPS. */
export const BPF_CGROUP_SOCK_OPS = 3;

/** One drain of tcp_rtt: `count` rows of struct sock_connection and struct rtt_record, valid until the next drain. */
export interface RttRows {
  keys: Uint8Array;
  records: Uint8Array;
  count: number;
}


export class RttMaps {
  private readonly rows = new BatchDrain("tcp_rtt", SOCK_CONNECTION.size, RTT_RECORD.size);

  constructor(
    private readonly rttFd: number,
    /** The sock_ops program (rtt_sock_ops). */
    readonly programFd: number,
    /** The agent's network namespace (SO_NETNS_COOKIE): the connections its flows belong to. */
    readonly netnsCookie: bigint,
  ) {}

  /** Reads and deletes every record of tcp_rtt (lookup_and_delete_batch); a sample meanwhile is in this drain or the next. */
  drain(): RttRows {
    return this.rows.drain(this.rttFd);
  }
}

/** The sock_ops program attached to the cgroup v2 root (one BPF link): detached on dispose, or when the process dies. */
export class RttHook implements Disposable {
  private open = true;
  private constructor(
    private readonly link: number,
    readonly cgroupRoot: string,
  ) {}

  static attach(maps: RttMaps, cgroupRoot = cgroupV2Mount()): RttHook {
    if (!cgroupRoot)
      throw new BpfError("attaching the RTT hook", "no cgroup v2 hierarchy is mounted", "mount cgroup2 (mount -t cgroup2 none /sys/fs/cgroup), or run without --enable-rtt");
    let cgroupFd: number;
    try {
      cgroupFd = openSync(cgroupRoot, "r");
    } catch (cause) {
      throw new BpfError(`attaching the RTT hook to ${cgroupRoot}`, `cannot open it: ${(cause as Error).message}`, "run as root, or without --enable-rtt", { cause });
    }
    try {
      return new RttHook(linkCreate(maps.programFd, cgroupFd, BPF_CGROUP_SOCK_OPS, `attaching sockops rtt_sock_ops to ${cgroupRoot}`), cgroupRoot);
    } finally {
      closeSync(cgroupFd);
    }
  }

  /** Detaches the program. Idempotent. */
  close() {
    if (!this.open) return;
    this.open = false;
    closeFd(this.link);
  }

  [Symbol.dispose]() {
    this.close();
  }
}
