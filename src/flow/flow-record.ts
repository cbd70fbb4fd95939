/**
 * A flow as the exporters see it: one record per flow key per eviction, its
 * per-CPU values merged and its kernel times turned into wall-clock ms.
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
}

/** Counters read from the kernel at the eviction that produced a batch. */
export interface KernelCounters {
  ringbufPackets: number;
  droppedPackets: number;
  droppedBytes: number;
  mapErrors: number;
  truncated: number;
}

/** What one eviction hands to the exporters. */
export interface FlowBatch {
  records: FlowRecord[];
  /** Wall-clock ms of the eviction. */
  evictedAtMs: number;
  /** Time the eviction took (kernel batch calls + decode). */
  evictionMs: number;
  counters: KernelCounters;
}
