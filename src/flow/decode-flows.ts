/**
 * Raw map contents to FlowRecords: decode each key, merge its per-CPU values,
 * convert its times. One pass over the drained buffers, one object per flow.
 */
import type { DrainedFlows } from "../bpf/flow-maps.ts";
import { FLOW_EVENT, FLOW_KEY, FLOW_METRICS } from "../bpf/flow-layout.ts";
import type { FlowRecord } from "./flow-record.ts";

const K = FLOW_KEY.fields;
const M = FLOW_METRICS.fields;
const TWO_32 = 4294967296;

export type InterfaceNamer = (ifindex: number) => string;

function u64(view: DataView, offset: number): number {
  return view.getUint32(offset, true) + view.getUint32(offset + 4, true) * TWO_32;
}

/** Addresses are copied out (small slices are cheaper in JSC than views on a big buffer), so drain buffers can be reused. */
function decodeKey(bytes: Uint8Array, view: DataView, base: number, names: InterfaceNamer): FlowRecord {
  const ifindex = view.getUint32(base + K.ifindex.offset, true);
  return {
    ifindex,
    interface: names(ifindex),
    direction: bytes[base + K.direction.offset] === 1 ? "egress" : "ingress",
    ethType: view.getUint16(base + K.eth_protocol.offset, true),
    protocol: bytes[base + K.protocol.offset]!,
    srcAddr: bytes.slice(base + K.src_ip.offset, base + K.src_ip.offset + 16),
    dstAddr: bytes.slice(base + K.dst_ip.offset, base + K.dst_ip.offset + 16),
    srcPort: view.getUint16(base + K.src_port.offset, true),
    dstPort: view.getUint16(base + K.dst_port.offset, true),
    packets: 0,
    bytes: 0,
    startMs: 0,
    endMs: 0,
    tcpFlags: 0,
    dscp: 0,
    icmpType: 0,
    icmpCode: 0,
    srcMac: EMPTY_MAC,
    dstMac: EMPTY_MAC,
    flags: 0,
  };
}
const EMPTY_MAC = new Uint8Array(6);

/**
 * Adds one flow_metrics (one CPU's copy, or one ring buffer event) to a record.
 * Sums counts, widens the time span, ORs flags; the copy seen last gives
 * DSCP, ICMP type/code and MACs. `lastNs` tracks that copy's time.
 */
function addMetrics(record: FlowRecord, bytes: Uint8Array, view: DataView, base: number, offsetMs: number, lastNs: { v: number }) {
  const packets = u64(view, base + M.packets.offset);
  if (packets === 0) return; // a CPU that never saw the flow: all zero
  record.packets += packets;
  record.bytes += u64(view, base + M.bytes.offset);
  const first = u64(view, base + M.first_seen_ns.offset);
  const last = u64(view, base + M.last_seen_ns.offset);
  const firstMs = first / 1e6 + offsetMs;
  const lastMs = last / 1e6 + offsetMs;
  if (record.startMs === 0 || firstMs < record.startMs) record.startMs = firstMs;
  if (lastMs > record.endMs) record.endMs = lastMs;
  record.tcpFlags |= view.getUint16(base + M.tcp_flags.offset, true);
  record.flags |= bytes[base + M.flags.offset]!;
  if (last >= lastNs.v) {
    lastNs.v = last;
    record.dscp = bytes[base + M.dscp.offset]!;
    record.icmpType = bytes[base + M.icmp_type.offset]!;
    record.icmpCode = bytes[base + M.icmp_code.offset]!;
    record.srcMac = bytes.slice(base + M.src_mac.offset, base + M.src_mac.offset + 6);
    record.dstMac = bytes.slice(base + M.dst_mac.offset, base + M.dst_mac.offset + 6);
  }
}

/** Decodes drained map contents. `offsetMs`: see monotonicToWallOffsetMs. */
export function decodeFlows(drained: DrainedFlows, cpus: number, offsetMs: number, names: InterfaceNamer): FlowRecord[] {
  const { keys, values, count, valueStride } = drained;
  const keyView = new DataView(keys.buffer, keys.byteOffset, keys.byteLength);
  const valueView = new DataView(values.buffer, values.byteOffset, values.byteLength);
  const slot = valueStride / cpus;
  const records = new Array<FlowRecord>(count);
  const lastNs = { v: 0 };
  for (let i = 0; i < count; i++) {
    const record = decodeKey(keys, keyView, i * FLOW_KEY.size, names);
    lastNs.v = 0;
    for (let cpu = 0; cpu < cpus; cpu++) addMetrics(record, values, valueView, i * valueStride + cpu * slot, offsetMs, lastNs);
    records[i] = record;
  }
  return records;
}

/** A stable identity for a flow key, for folding records of the same flow together. */
export function flowKeyId(r: FlowRecord): string {
  return `${r.ifindex}|${r.direction}|${r.ethType}|${r.protocol}|${r.srcAddr.join(".")}|${r.dstAddr.join(".")}|${r.srcPort}|${r.dstPort}`;
}

/**
 * Folds ring-buffer events (one packet each, from a full map) into flows, by key.
 * Used between evictions so the ring never holds more than a drain interval.
 */
export class OverflowFolder {
  private readonly flows = new Map<string, { record: FlowRecord; lastNs: { v: number } }>();

  constructor(private readonly names: InterfaceNamer) {}

  /** `offsetMs` may differ between calls; it is read at each drain. */
  add(event: Uint8Array, offsetMs: number) {
    const view = new DataView(event.buffer, event.byteOffset, event.byteLength);
    const keyBytes = event.subarray(FLOW_EVENT.fields.key.offset, FLOW_EVENT.fields.key.offset + FLOW_KEY.size);
    const id = String.fromCharCode(...keyBytes);
    let entry = this.flows.get(id);
    if (!entry) {
      entry = { record: decodeKey(event, view, FLOW_EVENT.fields.key.offset, this.names), lastNs: { v: 0 } };
      this.flows.set(id, entry);
    }
    addMetrics(entry.record, event, view, FLOW_EVENT.fields.metrics.offset, offsetMs, entry.lastNs);
  }

  /** The folded flows; the folder starts empty again. */
  take(): FlowRecord[] {
    const out = [...this.flows.values()].map((e) => e.record);
    this.flows.clear();
    return out;
  }
}

/** Merges `extra` into `records` where keys match (same flow from map and ring). */
export function mergeFlows(records: FlowRecord[], extra: FlowRecord[]): FlowRecord[] {
  if (extra.length === 0) return records;
  const byId = new Map<string, FlowRecord>();
  for (const r of records) byId.set(flowKeyId(r), r);
  for (const e of extra) {
    const r = byId.get(flowKeyId(e));
    if (!r) {
      records.push(e);
      continue;
    }
    r.packets += e.packets;
    r.bytes += e.bytes;
    r.startMs = Math.min(r.startMs, e.startMs);
    if (e.endMs >= r.endMs) {
      r.endMs = e.endMs;
      r.dscp = e.dscp;
      r.icmpType = e.icmpType;
      r.icmpCode = e.icmpCode;
      r.srcMac = e.srcMac;
      r.dstMac = e.dstMac;
    }
    r.tcpFlags |= e.tcpFlags;
    r.flags |= e.flags;
  }
  return records;
}
