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
import { closeFd, linkCreate, mapLookupAndDeleteBatch } from "./libbpf.ts";
import { cgroupV2Mount } from "./process-hooks.ts";

/** enum bpf_attach_type (linux/bpf.h) BPF_CGROUP_SOCK_OPS. */
export const BPF_CGROUP_SOCK_OPS = 3;

/** One drain of tcp_rtt: `count` rows of struct sock_connection and struct rtt_record, valid until the next drain. */
export interface RttRows {
  keys: Uint8Array;
  records: Uint8Array;
  count: number;
}

const BATCH = 1024;

export class RttMaps {
  private keys = new Uint8Array(BATCH * SOCK_CONNECTION.size);
  private records = new Uint8Array(BATCH * RTT_RECORD.size);
  private readonly token = new Uint8Array(SOCK_CONNECTION.size);

  constructor(
    private readonly rttFd: number,
    /** The sock_ops program (rtt_sock_ops). */
    readonly programFd: number,
    /** The agent's network namespace (SO_NETNS_COOKIE): the connections its flows belong to. */
    readonly netnsCookie: bigint,
  ) {}

  /** Reads and deletes every record of tcp_rtt (lookup_and_delete_batch); a sample meanwhile is in this drain or the next. */
  drain(): RttRows {
    let count = 0;
    for (let first = true; ; first = false) {
      if (count + BATCH > this.keys.length / SOCK_CONNECTION.size) {
        const grown = (count + BATCH) * 2;
        const keys = new Uint8Array(grown * SOCK_CONNECTION.size);
        keys.set(this.keys.subarray(0, count * SOCK_CONNECTION.size));
        const records = new Uint8Array(grown * RTT_RECORD.size);
        records.set(this.records.subarray(0, count * RTT_RECORD.size));
        this.keys = keys;
        this.records = records;
      }
      const r = mapLookupAndDeleteBatch(this.rttFd, first, this.token, this.keys.subarray(count * SOCK_CONNECTION.size), this.records.subarray(count * RTT_RECORD.size), BATCH);
      if (!r) throw new Error("tcp_rtt: the kernel does not support batch operations on LRU hash maps (needs 5.6)");
      count += r.copied;
      if (r.done) break;
    }
    return { keys: this.keys, records: this.records, count };
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
