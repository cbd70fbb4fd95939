/**
 * Drops per flow (--enable-drops): the kernel's drop records (bpf/drops.bpf.c,
 * one per flow key a dropped packet had) joined to an eviction's flows by
 * flow key, as a sparse column beside FlowColumns.
 *
 * A record whose flow is not in this eviction waits for the next one, once:
 * its packet may have been counted by TC after the flows map was swapped
 * (the drop comes later in the same packet's life). If the next eviction has
 * no such flow either, the packet never reached a TC hook (a netfilter OUTPUT
 * rule dropped it before egress): the record becomes a flow row of its own,
 * with 0 packets and the drops (a drop-only flow).
 */
import { DROP_RECORD, FLOW_KEY, FLOW_METRICS } from "../bpf/flow-layout.ts";
import type { DropRows } from "../bpf/drop-maps.ts";
import { dropReasonName, type DropReasons } from "../bpf/drop-reasons.ts";
import type { FlowRows } from "./flow-rows.ts";

/** What the kernel dropped of a flow over the interval, and why (the latest drop). */
export interface FlowDrops {
  /** Packets dropped (a GSO skb counts its segments). */
  packets: number;
  /** Their IP bytes (IP header and payload; what nft counters and IPFIX droppedOctetDeltaCount count). */
  bytes: number;
  /** The latest drop's reason, by the running kernel's name (enum skb_drop_reason without its prefix: "NETFILTER_DROP"). */
  reason: string;
  /** Its number in the running kernel's enum (numbers change between kernels; the name is what to compare). */
  reasonCode: number;
  /** The TCP state of the dropped packet's socket (1 ESTABLISHED … 12 NEW_SYN_RECV); 0: no socket known (most ingress drops). */
  tcpState: number;
  /** The latest dropped packet's TCP flags (FIN 0x01 … CWR 0x80, NS 0x100); 0 for other protocols. */
  tcpFlags: number;
}

/** Linux TCP states (include/net/tcp_states.h), by number. */
const TCP_STATES = ["", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT", "CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING", "NEW_SYN_RECV", "BOUND_INACTIVE"] as const;

/** A TCP state's name ("ESTABLISHED"); "" for 0 (none known), "STATE<n>" past the known ones. */
export function tcpStateName(state: number): string {
  return TCP_STATES[state] ?? `STATE${state}`;
}

/** A flow key's bytes as a Map key. */
function keyString(bytes: Uint8Array, at: number): string {
  let s = "";
  for (let i = at; i < at + FLOW_KEY.size; i++) s += String.fromCharCode(bytes[i]!);
  return s;
}

const K = FLOW_KEY.fields;

/** ifindex, direction and both ports of the flow key at `at`, as one number (equal keys, equal numbers). */
function signature(bytes: Uint8Array, at: number): number {
  const ifindex = bytes[at + K.ifindex.offset]! | (bytes[at + K.ifindex.offset + 1]! << 8) | (bytes[at + K.ifindex.offset + 2]! << 16);
  const ports = bytes[at + K.src_port.offset]! | (bytes[at + K.src_port.offset + 1]! << 8) | (bytes[at + K.dst_port.offset]! << 16) | (bytes[at + K.dst_port.offset + 1]! << 24);
  return (ifindex * 2 + bytes[at + K.direction.offset]!) * 4294967296 + (ports >>> 0);
}

interface PendingDrop {
  drops: FlowDrops;
  /** The key's bytes, for a drop-only row. */
  key: Uint8Array;
  /** CLOCK_MONOTONIC ns of its latest drop: the drop-only row's first and last seen. */
  lastNs: bigint;
  /** Evictions it has waited through. */
  waited: number;
}

const R = DROP_RECORD.fields;
const M = FLOW_METRICS.fields;

export class DropJoiner {
  private pending = new Map<string, PendingDrop>();
  private readonly metricRow = new Uint32Array(FLOW_METRICS.size / 4);
  private readonly metricView = new DataView(this.metricRow.buffer);

  /** Dropped packets left out because their device is not watched (summed over joins). */
  unwatchedPackets = 0;

  constructor(
    private readonly reasons: DropReasons,
    /**
     * Whether the agent captures on this device (was attached in the
     * interval): drops on other devices of its namespace (excluded by
     * --interfaces, lo when not selected) are counted, not reported.
     */
    private readonly watched: (ifindex: number) => boolean = () => true,
  ) {}

  /**
   * `rows`: this drain of the drops map. Joins each record to the row of
   * `flows` with its key (adding to what waited); records that waited once
   * already, or all of them when `final`, are appended to `flows` as
   * drop-only rows. Returns the drops column by row, or undefined when no
   * flow has drops. Call before the rows' times are converted: appended rows
   * carry monotonic times like the rest.
   */
  join(rows: DropRows, flows: FlowRows, final = false): ReadonlyMap<number, FlowDrops> | undefined {
    const byKey = this.pending;
    this.pending = new Map();
    const view = new DataView(rows.records.buffer, rows.records.byteOffset, rows.records.byteLength);
    const keyView = new DataView(rows.keys.buffer, rows.keys.byteOffset, rows.keys.byteLength);
    for (let i = 0; i < rows.count; i++) {
      const at = i * DROP_RECORD.size;
      const k = i * FLOW_KEY.size;
      if (!this.watched(keyView.getUint32(k + K.ifindex.offset, true))) {
        this.unwatchedPackets += Number(view.getBigUint64(at + R.packets.offset, true));
        continue;
      }
      const key = keyString(rows.keys, k);
      const drops: FlowDrops = {
        packets: Number(view.getBigUint64(at + R.packets.offset, true)),
        bytes: Number(view.getBigUint64(at + R.bytes.offset, true)),
        reasonCode: view.getUint32(at + R.latest_reason.offset, true),
        reason: "",
        tcpState: rows.records[at + R.tcp_state.offset]!,
        tcpFlags: view.getUint16(at + R.tcp_flags.offset, true),
      };
      drops.reason = dropReasonName(this.reasons, drops.reasonCode);
      const lastNs = view.getBigUint64(at + R.last_ns.offset, true);
      const earlier = byKey.get(key);
      if (earlier) {
        // The same flow's drops from the last interval, still unjoined: this record is the latest.
        drops.packets += earlier.drops.packets;
        drops.bytes += earlier.drops.bytes;
        byKey.set(key, { drops, key: earlier.key, lastNs, waited: earlier.waited });
      } else byKey.set(key, { drops, key: rows.keys.slice(k, k + FLOW_KEY.size), lastNs, waited: 0 });
    }
    if (byKey.size === 0) return undefined;
    // A cheap number per key (device, ports) first: with drops on a few flows of 100k, only rows that share
    // one build the full string key.
    const signatures = new Set<number>();
    for (const pending of byKey.values()) signatures.add(signature(pending.key, 0));
    const byRow = new Map<number, FlowDrops>();
    const count = flows.count;
    for (let row = 0; row < count && byKey.size > 0; row++) {
      if (!signatures.has(signature(flows.keys, row * FLOW_KEY.size))) continue;
      const key = keyString(flows.keys, row * FLOW_KEY.size);
      const pending = byKey.get(key);
      if (!pending) continue;
      byRow.set(row, pending.drops);
      byKey.delete(key);
    }
    for (const [key, pending] of byKey) {
      if (!final && pending.waited === 0) {
        pending.waited = 1;
        this.pending.set(key, pending);
        continue;
      }
      byRow.set(this.appendDropOnly(flows, pending), pending.drops);
    }
    return byRow.size ? byRow : undefined;
  }

  /** Drops waiting for their flow (records kept for one more eviction). */
  get waiting(): number {
    return this.pending.size;
  }

  /** A flow row of 0 packets at the drop's time, sampling 1: the drops are all it says. */
  private appendDropOnly(flows: FlowRows, pending: PendingDrop): number {
    this.metricRow.fill(0);
    this.metricView.setBigUint64(M.first_seen_ns.offset, pending.lastNs, true);
    this.metricView.setBigUint64(M.last_seen_ns.offset, pending.lastNs, true);
    this.metricView.setUint32(M.sampling.offset, 1, true);
    const key = new Uint32Array(pending.key.buffer, pending.key.byteOffset, FLOW_KEY.size / 4);
    return flows.append(key, 0, this.metricRow, 0);
  }
}
