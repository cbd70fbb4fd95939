/**
 * Every flow seen in the last 40 s, with its totals since it was first seen
 * and its samples for the rate windows. Batches go in as they arrive; stats
 * come out for a given instant. A flow with no sample inside the longest
 * window is forgotten (its rates are all zero by then).
 */
import { addressText, macText, protocolName } from "../../flow/flow-format.ts";
import type { FlowBatch, FlowRecord, KernelCounters } from "../../flow/flow-record.ts";
import { RateWindows, type WindowRates } from "./rate-windows.ts";

/** What identifies a flow, in text, computed once when the flow is first seen. */
export interface FlowIdentity {
  key: string;
  interface: string;
  direction: "ingress" | "egress";
  ethType: number;
  /** Protocol name: "UDP", "TCP", "ICMP", or the EtherType name for non-IP flows. */
  protocol: string;
  srcAddr: string;
  dstAddr: string;
  srcPort: number;
  dstPort: number;
  srcMac: string;
  dstMac: string;
}

/** A flow at one instant: identity, totals since first seen, rates over the windows. */
export interface FlowStat {
  id: FlowIdentity;
  bytes: number;
  packets: number;
  /** OR of every record's TCP flags. */
  tcpFlags: number;
  dscp: number;
  firstSeenMs: number;
  lastSeenMs: number;
  rates: WindowRates;
}

interface FlowEntry {
  id: FlowIdentity;
  windows: RateWindows;
  bytes: number;
  packets: number;
  tcpFlags: number;
  dscp: number;
  firstSeenMs: number;
  lastSeenMs: number;
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");

export function flowKey(r: FlowRecord): string {
  return `${r.ifindex}|${r.direction}|${r.ethType}|${r.protocol}|${hex(r.srcAddr)}|${r.srcPort}|${hex(r.dstAddr)}|${r.dstPort}`;
}

export function flowIdentity(r: FlowRecord, key = flowKey(r)): FlowIdentity {
  return {
    key,
    interface: r.interface,
    direction: r.direction,
    ethType: r.ethType,
    protocol: protocolName(r.protocol, r.ethType),
    srcAddr: addressText(r.srcAddr, r.ethType),
    dstAddr: addressText(r.dstAddr, r.ethType),
    srcPort: r.srcPort,
    dstPort: r.dstPort,
    srcMac: macText(r.srcMac),
    dstMac: macText(r.dstMac),
  };
}

export class FlowTable {
  private readonly entries = new Map<string, FlowEntry>();
  /** The kernel's counters at the latest batch (they only grow). */
  counters: KernelCounters = { ringbufPackets: 0, droppedPackets: 0, droppedBytes: 0, mapErrors: 0, truncated: 0 };
  batches = 0;
  lastBatchAtMs: number | undefined;

  /** `observedSinceMs`: when counting began; rate windows are shortened to it at the start. */
  constructor(public observedSinceMs: number) {}

  /** Counting began at `ms` after all (a source that learns it late, as a remote one does). */
  observeFrom(ms: number) {
    this.observedSinceMs = ms;
  }

  /** Adds one eviction's records, sampled at the eviction's time. */
  ingest(batch: FlowBatch) {
    const at = batch.evictedAtMs;
    for (const r of batch.records) {
      const key = flowKey(r);
      let entry = this.entries.get(key);
      if (!entry) {
        entry = { id: flowIdentity(r, key), windows: new RateWindows(), bytes: 0, packets: 0, tcpFlags: 0, dscp: r.dscp, firstSeenMs: r.startMs, lastSeenMs: r.endMs };
        this.entries.set(key, entry);
      }
      entry.windows.add(at, r.bytes, r.packets);
      entry.bytes += r.bytes;
      entry.packets += r.packets;
      entry.tcpFlags |= r.tcpFlags;
      entry.dscp = r.dscp;
      entry.firstSeenMs = Math.min(entry.firstSeenMs, r.startMs);
      entry.lastSeenMs = Math.max(entry.lastSeenMs, r.endMs);
    }
    this.counters = batch.counters;
    this.batches++;
    this.lastBatchAtMs = at;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Every flow still inside the longest window at `nowMs`, with its rates then. */
  stats(nowMs: number): FlowStat[] {
    const out: FlowStat[] = [];
    for (const [key, e] of this.entries) {
      e.windows.prune(nowMs);
      if (e.windows.empty) {
        this.entries.delete(key);
        continue;
      }
      out.push({
        id: e.id,
        bytes: e.bytes,
        packets: e.packets,
        tcpFlags: e.tcpFlags,
        dscp: e.dscp,
        firstSeenMs: e.firstSeenMs,
        lastSeenMs: e.lastSeenMs,
        rates: e.windows.rates(nowMs, this.observedSinceMs),
      });
    }
    return out;
  }
}
