/**
 * Every flow seen in the last 40 s, with its totals since it was first seen
 * and its samples for the rate windows. Batches go in as they arrive; stats
 * come out for a given instant. A flow with no sample inside the longest
 * window is forgotten (its rates are all zero by then).
 */
import type { FlowColumns } from "../../flow/flow-columns.ts";
import { addressText, macText, protocolName } from "../../flow/flow-format.ts";
import type { FlowBatch, FlowOwner, FlowRecord, KernelCounters } from "../../flow/flow-record.ts";
import type { FlowDns } from "../../flow/flow-dns.ts";
import type { FlowDrops } from "../../flow/flow-drops.ts";
import type { FlowRtt } from "../../flow/flow-rtt.ts";
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
  /** The process and cgroup of the flow's local socket, as first reported; absent when the agent runs without --enable-process. */
  owner?: FlowOwner;
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
  /** The latest DNS transaction the flow carried (--enable-dns). */
  dns?: FlowDns;
  /** Its connection's smoothed RTT in the latest interval that had a sample (--enable-rtt). */
  rtt?: FlowRtt;
  /** Its drops since first seen (--enable-drops): packets and bytes summed, the rest the latest drop's. */
  drops?: DropTotals;
}

/** Drops summed over a flow's intervals: the latest interval's reason, TCP state and flags, and when it was (its batch's time, ms). */
export interface DropTotals extends FlowDrops {
  lastMs: number;
}

/** A flow's RTT as the view shows, sorts and filters it: the largest smoothed RTT of its latest interval with one (as Watch's min_rtt compares). */
export function rttOf(f: FlowStat): number | undefined {
  return f.rtt?.maxNs;
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
  dns?: FlowDns;
  rtt?: FlowRtt;
  drops?: DropTotals;
}

/** The 16 address bytes at `at` in hex. */
const hex16 = (bytes: Uint8Array, at = 0) => Buffer.from(bytes.buffer, bytes.byteOffset + at, 16).toString("hex");

export function flowKey(r: FlowRecord): string {
  return `${r.ifindex}|${r.direction}|${r.ethType}|${r.protocol}|${hex16(r.srcAddr)}|${r.srcPort}|${hex16(r.dstAddr)}|${r.dstPort}`;
}

/** flowKey of row `i`, read in place (the same text as flowKey(flows.record(i))). */
export function flowKeyAt(flows: FlowColumns, i: number): string {
  const direction = flows.direction(i) === 1 ? "egress" : "ingress";
  const src = hex16(flows.keys, flows.srcAddrAt(i));
  const dst = hex16(flows.keys, flows.dstAddrAt(i));
  return `${flows.ifindex(i)}|${direction}|${flows.ethType(i)}|${flows.protocol(i)}|${src}|${flows.srcPort(i)}|${dst}|${flows.dstPort(i)}`;
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
    ...(r.owner ? { owner: r.owner } : {}),
  };
}

export class FlowTable {
  private readonly entries = new Map<string, FlowEntry>();
  /** The kernel's counters at the latest batch (they only grow). */
  counters: KernelCounters = { ringbufPackets: 0, droppedPackets: 0, droppedBytes: 0, mapErrors: 0, truncated: 0, flowsInserted: 0 };
  batches = 0;
  lastBatchAtMs: number | undefined;
  /**
   * The largest N of the 1-in-N sampled flows ingested (--sampling, a
   * rule's sample=N); 1: every flow counted every packet. Above 1 the
   * figures are estimates: a sampled flow's counts are scaled by its N.
   */
  sampling = 1;

  /** `observedSinceMs`: when counting began; rate windows are shortened to it at the start. */
  constructor(public observedSinceMs: number) {}

  /** Counting began at `ms` after all (a source that learns it late, as a remote one does). */
  observeFrom(ms: number) {
    this.observedSinceMs = ms;
  }

  /**
   * Adds one eviction's flows, sampled at the eviction's time. Reads the
   * columns during the call only (they are reused by the next eviction);
   * only a flow seen for the first time becomes an object, for its identity.
   */
  ingest(batch: FlowBatch) {
    const at = batch.evictedAtMs;
    const flows = batch.flows;
    for (let i = 0; i < flows.count; i++) {
      const key = flowKeyAt(flows, i);
      const startMs = flows.startMs[i]!;
      const endMs = flows.endMs[i]!;
      let entry = this.entries.get(key);
      if (!entry) {
        entry = { id: flowIdentity(flows.record(i), key), windows: new RateWindows(), bytes: 0, packets: 0, tcpFlags: 0, dscp: 0, firstSeenMs: startMs, lastSeenMs: endMs };
        this.entries.set(key, entry);
      } else if (!entry.id.owner && flows.ownerSource(i) !== 0) {
        entry.id.owner = flows.owner(i); // first seen from an agent without attribution, or before it was on
      }
      const rate = flows.sampling(i);
      if (rate > this.sampling) this.sampling = rate;
      const bytes = flows.bytes(i) * rate;
      const packets = flows.packets(i) * rate;
      entry.windows.add(at, bytes, packets);
      entry.bytes += bytes;
      entry.packets += packets;
      entry.tcpFlags |= flows.tcpFlags(i);
      entry.dscp = flows.dscp(i);
      entry.firstSeenMs = Math.min(entry.firstSeenMs, startMs);
      entry.lastSeenMs = Math.max(entry.lastSeenMs, endMs);
      const dns = flows.dns(i);
      if (dns) entry.dns = dns;
      const rtt = flows.rtt(i);
      if (rtt) entry.rtt = rtt;
      const drops = flows.drops(i);
      // Drops are never sampled: counted as they are.
      if (drops) entry.drops = { ...drops, packets: (entry.drops?.packets ?? 0) + drops.packets, bytes: (entry.drops?.bytes ?? 0) + drops.bytes, lastMs: at };
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
        ...(e.dns ? { dns: e.dns } : {}),
        ...(e.rtt ? { rtt: e.rtt } : {}),
        ...(e.drops ? { drops: { ...e.drops } } : {}),
        firstSeenMs: e.firstSeenMs,
        lastSeenMs: e.lastSeenMs,
        rates: e.windows.rates(nowMs, this.observedSinceMs),
      });
    }
    return out;
  }
}
