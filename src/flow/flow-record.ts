import type { FlowColumns } from "./flow-columns.ts";
import type { FlowDns } from "./flow-dns.ts";
import type { FlowRtt } from "./flow-rtt.ts";
import type { FlowDrops } from "./flow-drops.ts";

/**
 * A flow as an object: what `FlowColumns.record(i)` returns, for the rows a
 * person looks at, for what the collector decodes, and for tests. The export
 * hot path reads FlowColumns instead. One record per flow key per eviction,
 * times in wall-clock ms.
 */
export interface FlowRecord {
  ifindex: number;
  /** Interface name when known at eviction time, else "if<index>". */
  interface: string;
  direction: "ingress" | "egress";
  /** EtherType, e.g. 0x0800. */
  ethType: number;
  /** IP protocol number, 0 when not IP. */
  protocol: number;
  /** 16 bytes: IPv6, or IPv4-mapped IPv6 for IPv4. */
  srcAddr: Uint8Array;
  dstAddr: Uint8Array;
  srcPort: number;
  dstPort: number;
  packets: number;
  bytes: number;
  /** Wall-clock ms since the epoch. */
  startMs: number;
  endMs: number;
  tcpFlags: number;
  dscp: number;
  icmpType: number;
  icmpCode: number;
  srcMac: Uint8Array;
  dstMac: Uint8Array;
  /** FlowFlag bits: fragment, truncated. */
  flags: number;
  /** 802.1Q VLAN ID of the first packet's outermost tag; 0 or absent: untagged. */
  vlanId?: number;
  /**
   * Bytes of each packet before its IP header (Ethernet + VLAN tags, 0 on L3
   * devices); absent where unknown (flows decoded from a peer's wire format).
   */
  l2HeaderLen?: number;
  /** The process and cgroup that own the flow's local socket; absent when attribution is off (--enable-process=false). */
  owner?: FlowOwner;
  /**
   * 1-in-N sampling (--sampling, or the flow's filter rule's sample=N):
   * packets and bytes count the sampled packets only, about 1/N of the
   * wire's (times N estimates the wire). Absent: every packet.
   */
  sampling?: number;
  /** Its last DNS transaction (--enable-dns), on the flow that carried the response. */
  dns?: FlowDns;
  /** The smoothed RTT of its TCP connection over the interval (--enable-rtt), on both directions' flows. */
  rtt?: FlowRtt;
  /**
   * What the kernel dropped of it over the interval, and why (--enable-drops).
   * Drops are never sampled. A drop-only flow (dropped before any TC hook saw
   * it, e.g. by a netfilter OUTPUT rule) has 0 packets and bytes.
   */
  drops?: FlowDrops;
}

/**
 * Who a flow belongs to (bpf/owner.h), found in the kernel when the flow was
 * created. `source` says how: "socket" (egress, the packet's own socket),
 * "connection" (ingress, the local socket of the reversed 5-tuple),
 * "listener" (the socket bound to the local port), "unknown" (a local socket
 * whose process is not known: cookie and cgroup only), "none" (no local
 * socket: forwarded traffic, or packets the kernel sends itself; every
 * other field is 0).
 */
export interface FlowOwner {
  source: "socket" | "connection" | "listener" | "unknown" | "none";
  /** tgid; 0 when not known. */
  pid: number;
  /** Task command name; "" when not known. */
  comm: string;
  /** cgroup v2 id (the inode of its directory); 0 when not known. */
  cgroupId: number;
  /** SO_COOKIE of the socket (`ss -e` prints it as sk:<hex>); 0 when none. */
  socketCookie: number;
  /** Path under the cgroup v2 mount ("/system.slice/x.service"), when the cgroup still exists. */
  cgroupPath?: string;
  /** The container's id where the path names one (containerd, CRI-O, Docker layouts). */
  containerId?: string;
}

/** Counters read from the kernel at the eviction that produced a batch (totals since load). */
export interface KernelCounters {
  /** Packets carried by the overflow ring buffer (their flow did not fit in the map). */
  ringbufPackets: number;
  /** Packets not accounted in any flow (map and ring buffer both full), and their bytes. */
  droppedPackets: number;
  droppedBytes: number;
  /** Map updates that failed for a reason other than a full map. */
  mapErrors: number;
  /** Packets that ended inside a header. */
  truncated: number;
  /** Flows the kernel inserted into its maps. */
  flowsInserted: number;
}

/**
 * What one eviction hands to the exporters and listeners. Valid only during
 * that call: `flows` reads buffers the next eviction reuses (see flow-columns.ts).
 */
export interface FlowBatch {
  flows: FlowColumns;
  /** Wall-clock ms of the eviction. */
  evictedAtMs: number;
  /** Time the eviction took (kernel batch calls + decode). */
  evictionMs: number;
  counters: KernelCounters;
}
