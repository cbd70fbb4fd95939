/**
 * FlowRecord ⇄ netflow.v1.Flow, FlowBatch ⇄ netflow.v1.FlowBatch through the
 * generated messages: what arrives decoded (the collector, `top --connect`),
 * and the reference that the hot-path encoders, which write the same bytes
 * straight from FlowColumns (src/export/flow-wire.ts), are tested against.
 *
 * Addresses: a FlowRecord always holds 16 bytes (IPv4 as IPv4-mapped IPv6);
 * on the wire an IPv4 flow carries 4 bytes, IPv6 16, a non-IP flow none.
 * Counts are uint64 on the wire (bigint in the generated code) and numbers here.
 */
import { create } from "@bufbuild/protobuf";
import { type Duration, DurationSchema, type Timestamp, TimestampSchema } from "@bufbuild/protobuf/wkt";
import { FlowColumns, OWNER_SOURCES } from "../flow/flow-columns.ts";
import type { FlowBatch, FlowOwner, FlowRecord, KernelCounters } from "../flow/flow-record.ts";
import {
  Direction,
  type Flow,
  type FlowBatch as FlowBatchMessage,
  FlowBatchSchema,
  FlowSchema,
  type KernelCounters as KernelCountersMessage,
  KernelCountersSchema,
  type Owner,
  OwnerSchema,
  type Dns,
  type Rtt,
  RttSchema,
  DnsSchema,
  type Drops,
  DropsSchema,
} from "../gen/netflow/v1/flow_pb.ts";
import type { FlowDrops } from "../flow/flow-drops.ts";
import type { FlowDns } from "../flow/flow-dns.ts";
import type { FlowRtt } from "../flow/flow-rtt.ts";

const ETH_P_IPV4 = 0x0800;
const IPV4_MAPPED_PREFIX = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];

/** A message that cannot be a FlowRecord; the text names the field and its value. */
export class FlowMessageError extends Error {
  override readonly name = "FlowMessageError";
}

export function msToTimestamp(ms: number): Timestamp {
  const seconds = Math.floor(ms / 1000);
  // Records carry sub-millisecond times; keep them to the nanosecond.
  const nanos = Math.min(999_999_999, Math.round((ms - seconds * 1000) * 1e6));
  return create(TimestampSchema, { seconds: BigInt(seconds), nanos });
}

export function timestampToMs(ts: Timestamp | undefined): number {
  return ts ? Number(ts.seconds) * 1000 + ts.nanos / 1e6 : 0;
}

export function msToDuration(ms: number): Duration {
  const seconds = Math.floor(ms / 1000);
  const nanos = Math.min(999_999_999, Math.round((ms - seconds * 1000) * 1e6));
  return create(DurationSchema, { seconds: BigInt(seconds), nanos });
}

export function durationToMs(d: Duration | undefined): number {
  return d ? Number(d.seconds) * 1000 + d.nanos / 1e6 : 0;
}

/** A Duration of whole ns (a DNS latency), exactly. */
export function nsToDuration(ns: number): Duration {
  const seconds = Math.floor(ns / 1e9);
  return create(DurationSchema, { seconds: BigInt(seconds), nanos: ns - seconds * 1e9 });
}

export function durationToNs(d: Duration | undefined): number {
  return d ? Number(d.seconds) * 1e9 + d.nanos : 0;
}

/** netflow.v1.Dns of a flow's DNS transaction. */
export function toDnsMessage(d: FlowDns): Dns {
  return create(DnsSchema, { id: d.id, flags: d.flags, latency: nsToDuration(d.latencyNs), name: d.name });
}

export function fromDnsMessage(m: Dns): FlowDns {
  return { id: checkRange("dns.id", m.id, 0xffff), flags: checkRange("dns.flags", m.flags, 0xffff), latencyNs: durationToNs(m.latency), name: m.name };
}

/** netflow.v1.Rtt of a flow's TCP RTT. */
export function toRttMessage(r: FlowRtt): Rtt {
  return create(RttSchema, { latest: nsToDuration(r.latestNs), min: nsToDuration(r.minNs), max: nsToDuration(r.maxNs) });
}

export function fromRttMessage(m: Rtt): FlowRtt {
  return { latestNs: durationToNs(m.latest), minNs: durationToNs(m.min), maxNs: durationToNs(m.max) };
}

/** netflow.v1.Drops of a flow's drops: the reason by name and by the sending kernel's number. */
export function toDropsMessage(d: FlowDrops): Drops {
  return create(DropsSchema, {
    packets: BigInt(d.packets),
    bytes: BigInt(d.bytes),
    reason: d.reason,
    reasonCode: d.reasonCode,
    tcpState: d.tcpState,
    tcpFlags: d.tcpFlags,
  });
}

/** The name is kept as sent: it is the sending kernel's, which the number alone cannot give back here. */
export function fromDropsMessage(m: Drops): FlowDrops {
  return {
    packets: Number(m.packets),
    bytes: Number(m.bytes),
    reason: m.reason,
    reasonCode: m.reasonCode,
    tcpState: checkRange("drops.tcp_state", m.tcpState, 255),
    tcpFlags: checkRange("drops.tcp_flags", m.tcpFlags, 0xffff),
  };
}

function isZero(addr: Uint8Array): boolean {
  return addr.every((b) => b === 0);
}

function addressToWire(addr: Uint8Array, ethType: number): Uint8Array {
  if (ethType === ETH_P_IPV4) return addr.slice(12, 16);
  if (isZero(addr) && ethType !== 0x86dd) return new Uint8Array(0);
  return addr.slice();
}

function addressFromWire(field: string, wire: Uint8Array): Uint8Array {
  if (wire.length === 16) return wire.slice();
  const addr = new Uint8Array(16);
  if (wire.length === 4) {
    addr.set(IPV4_MAPPED_PREFIX);
    addr.set(wire, 12);
  } else if (wire.length !== 0) {
    throw new FlowMessageError(`${field} has ${wire.length} bytes, expected 4 (IPv4), 16 (IPv6) or 0 (not IP)`);
  }
  return addr;
}

function macFromWire(field: string, wire: Uint8Array): Uint8Array {
  if (wire.length === 6) return wire.slice();
  if (wire.length === 0) return new Uint8Array(6);
  throw new FlowMessageError(`${field} has ${wire.length} bytes, expected 6`);
}

function checkRange(field: string, value: number, max: number): number {
  if (value > max) throw new FlowMessageError(`${field} ${value} must be <= ${max}`);
  return value;
}

/**
 * netflow.v1.OwnerSource numbers are enum flow_owner_source's (bpf/flow.h):
 * OWNER_SOURCES[n] names n on both sides.
 */
function toOwnerMessage(o: FlowOwner): Owner {
  return create(OwnerSchema, {
    source: OWNER_SOURCES.indexOf(o.source),
    pid: o.pid,
    comm: o.comm,
    cgroupId: BigInt(o.cgroupId),
    cgroupPath: o.cgroupPath ?? "",
    containerId: o.containerId ?? "",
    socketCookie: BigInt(o.socketCookie),
  });
}

/** A source this version does not know (a newer agent's) reads as "unknown": the other fields still hold. */
function fromOwnerMessage(m: Owner): FlowOwner {
  if (m.source === 0) throw new FlowMessageError("owner.source 0 (unspecified) must be set");
  const source = OWNER_SOURCES[m.source] ?? "unknown";
  const owner: FlowOwner = { source, pid: m.pid, comm: m.comm, cgroupId: Number(m.cgroupId), socketCookie: Number(m.socketCookie) };
  if (m.cgroupPath) owner.cgroupPath = m.cgroupPath;
  if (m.containerId) owner.containerId = m.containerId;
  return owner;
}

export function toFlowMessage(r: FlowRecord): Flow {
  return create(FlowSchema, {
    interface: r.interface,
    ifindex: r.ifindex,
    direction: r.direction === "egress" ? Direction.EGRESS : Direction.INGRESS,
    ethType: r.ethType,
    srcMac: r.srcMac.slice(),
    dstMac: r.dstMac.slice(),
    srcAddr: addressToWire(r.srcAddr, r.ethType),
    dstAddr: addressToWire(r.dstAddr, r.ethType),
    srcPort: r.srcPort,
    dstPort: r.dstPort,
    protocol: r.protocol,
    packets: BigInt(r.packets),
    bytes: BigInt(r.bytes),
    start: msToTimestamp(r.startMs),
    end: msToTimestamp(r.endMs),
    tcpFlags: r.tcpFlags,
    dscp: r.dscp,
    icmpType: r.icmpType,
    icmpCode: r.icmpCode,
    flags: r.flags,
    owner: r.owner && toOwnerMessage(r.owner),
    sampling: r.sampling !== undefined && r.sampling > 1 ? r.sampling : 0,
    dns: r.dns && toDnsMessage(r.dns),
    rtt: r.rtt && toRttMessage(r.rtt),
    drops: r.drops && toDropsMessage(r.drops),
  });
}

/** The record a Flow describes; throws FlowMessageError for what no record can hold. */
export function fromFlowMessage(m: Flow): FlowRecord {
  if (m.direction !== Direction.INGRESS && m.direction !== Direction.EGRESS)
    throw new FlowMessageError(`direction ${m.direction} must be 1 (ingress) or 2 (egress)`);
  return {
    ifindex: m.ifindex,
    interface: m.interface || `if${m.ifindex}`,
    direction: m.direction === Direction.EGRESS ? "egress" : "ingress",
    ethType: checkRange("eth_type", m.ethType, 0xffff),
    protocol: checkRange("protocol", m.protocol, 255),
    srcAddr: addressFromWire("src_addr", m.srcAddr),
    dstAddr: addressFromWire("dst_addr", m.dstAddr),
    srcPort: checkRange("src_port", m.srcPort, 65535),
    dstPort: checkRange("dst_port", m.dstPort, 65535),
    packets: Number(m.packets),
    bytes: Number(m.bytes),
    startMs: timestampToMs(m.start),
    endMs: timestampToMs(m.end),
    tcpFlags: m.tcpFlags,
    dscp: checkRange("dscp", m.dscp, 63),
    icmpType: checkRange("icmp_type", m.icmpType, 255),
    icmpCode: checkRange("icmp_code", m.icmpCode, 255),
    srcMac: macFromWire("src_mac", m.srcMac),
    dstMac: macFromWire("dst_mac", m.dstMac),
    flags: m.flags,
    ...(m.owner ? { owner: fromOwnerMessage(m.owner) } : {}),
    ...(m.sampling > 1 ? { sampling: m.sampling } : {}),
    ...(m.dns ? { dns: fromDnsMessage(m.dns) } : {}),
    ...(m.rtt ? { rtt: fromRttMessage(m.rtt) } : {}),
    ...(m.drops ? { drops: fromDropsMessage(m.drops) } : {}),
  };
}

export function toKernelCountersMessage(c: KernelCounters): KernelCountersMessage {
  return create(KernelCountersSchema, {
    ringbufPackets: BigInt(c.ringbufPackets),
    droppedPackets: BigInt(c.droppedPackets),
    droppedBytes: BigInt(c.droppedBytes),
    mapErrors: BigInt(c.mapErrors),
    truncated: BigInt(c.truncated),
  });
}

/**
 * `flowsInserted` is not part of netflow.v1.KernelCounters: it is 0 here, and
 * Status carries it in FlowMapsState.flows_inserted.
 */
export function fromKernelCountersMessage(m: KernelCountersMessage | undefined): KernelCounters {
  return {
    ringbufPackets: Number(m?.ringbufPackets ?? 0n),
    droppedPackets: Number(m?.droppedPackets ?? 0n),
    droppedBytes: Number(m?.droppedBytes ?? 0n),
    mapErrors: Number(m?.mapErrors ?? 0n),
    truncated: Number(m?.truncated ?? 0n),
    flowsInserted: 0,
  };
}

/**
 * A batch on the wire, through one object per flow (tests and references; the
 * agent encodes from the columns). `records` replaces the batch's rows when
 * given (a filtered subset).
 */
export function toBatchMessage(batch: FlowBatch, records: readonly FlowRecord[] = batch.flows.records()): FlowBatchMessage {
  return create(FlowBatchSchema, {
    flows: records.map(toFlowMessage),
    evictedAt: msToTimestamp(batch.evictedAtMs),
    evictionDuration: msToDuration(batch.evictionMs),
    kernel: toKernelCountersMessage(batch.counters),
  });
}

/** The batch a message describes, as columns; a bad flow throws FlowMessageError naming its index. */
export function fromBatchMessage(m: FlowBatchMessage): FlowBatch {
  const records = m.flows.map((flow, index) => {
    try {
      return fromFlowMessage(flow);
    } catch (error) {
      if (error instanceof FlowMessageError) throw new FlowMessageError(`flow ${index}: ${error.message}`);
      throw error;
    }
  });
  return {
    flows: FlowColumns.fromRecords(records),
    evictedAtMs: timestampToMs(m.evictedAt),
    evictionMs: durationToMs(m.evictionDuration),
    counters: fromKernelCountersMessage(m.kernel),
  };
}
