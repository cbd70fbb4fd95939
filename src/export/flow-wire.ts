/**
 * FlowColumns straight to protobuf bytes, for the export hot path: the
 * netflow.v1 FlowBatch of an ExportRequest and the pbflow Records entries.
 * Fields are read in place from the eviction's rows (no JS object per flow).
 *
 * Why not create() + toBinary(): building one message object per flow and
 * encoding it by reflection costs 1.5-4 µs per flow in Bun, against ~0.2 µs
 * here (bench/RESULTS-export.md). These functions follow the same rules as
 * toFlowMessage (src/api/flow-message.ts) and toNetobservRecord, field by
 * field in field-number order, omitting proto3 defaults, so the bytes are
 * identical to toBinary's of the same rows (test/export/flow-wire.test.ts).
 *
 * Both messages start each record with the same key: FlowBatch.flows and
 * Records.entries are field 1, length-delimited. An encoded record is thus a
 * self-contained run of bytes (0x0a, length, body) and any run of them, back
 * to back, is a valid repeated field: the export queue stores and cuts them
 * as bytes.
 */
import { type FlowColumns, OWNER_COMM_BYTES } from "../flow/flow-columns.ts";
import type { KernelCounters } from "../flow/flow-record.ts";
import { hasPorts, ipv4Integer, isIcmp, isIp, isIpv4MappedNonZero, pbflowTcpFlags, TCP_HEADER_FLAGS } from "./netobserv-record.ts";
import { FIXED32, LENGTH_DELIMITED, VARINT, type WireWriter } from "./wire-writer.ts";

const ETH_P_IPV4 = 0x0800;
const ETH_P_IPV6 = 0x86dd;

/** What a netflow.v1 FlowBatch says besides its flows: the eviction's time, duration and kernel counters. */
export interface EvictionInfo {
  evictedAtMs: number;
  evictionMs: number;
  counters: KernelCounters;
}

/**
 * The UTF-8 of each interface's name, encoded once per ifindex for one
 * eviction's columns (a name may change between evictions: make one per batch).
 */
export class InterfaceNameBytes {
  private static readonly utf8 = new TextEncoder();
  /** Keyed by the name, not the ifindex: decoded batches (pbflow) may give one ifindex several names. */
  private readonly byName = new Map<string, Uint8Array>();

  constructor(private readonly flows: FlowColumns) {}

  of(i: number): Uint8Array {
    return this.text(this.flows.interfaceName(i));
  }

  /** The UTF-8 of any text the batch's rows repeat (interface names, cgroup paths, container ids), encoded once. */
  text(text: string): Uint8Array {
    let encoded = this.byName.get(text);
    if (!encoded) {
      encoded = InterfaceNameBytes.utf8.encode(text);
      this.byName.set(text, encoded);
    }
    return encoded;
  }
}

/** google.protobuf.Timestamp / Duration from ms, with msToTimestamp's rounding (ns kept, capped below 1 s). */
function writeTime(w: WireWriter, field: number, ms: number) {
  const seconds = Math.floor(ms / 1000);
  writeSecondsNanos(w, field, seconds, Math.min(999_999_999, Math.round((ms - seconds * 1000) * 1e6)));
}

/** google.protobuf.Duration of whole ns, as nsToDuration. */
function writeDurationNs(w: WireWriter, field: number, ns: number) {
  const seconds = Math.floor(ns / 1e9);
  writeSecondsNanos(w, field, seconds, ns - seconds * 1e9);
}

/** A Timestamp or Duration message (same two fields); zero fields are left out, as proto3 does. */
function writeSecondsNanos(w: WireWriter, field: number, seconds: number, nanos: number) {
  w.tag(field, LENGTH_DELIMITED);
  const body = w.beginMessage();
  if (seconds !== 0) {
    w.tag(1, VARINT);
    w.varint(seconds);
  }
  if (nanos !== 0) {
    w.tag(2, VARINT);
    w.varint32(nanos);
  }
  w.endMessage(body);
}

/** Flow.dns (field 31) by toDnsMessage's rules, absent without a transaction. */
function writeDns(w: WireWriter, flows: FlowColumns, i: number, texts: InterfaceNameBytes) {
  const dns = flows.dns(i);
  if (!dns) return;
  w.tag(31, LENGTH_DELIMITED);
  const body = w.beginMessage();
  writeUint(w, 1, dns.id);
  writeUint(w, 2, dns.flags);
  writeDurationNs(w, 3, dns.latencyNs);
  writeName(w, 4, texts.text(dns.name));
  w.endMessage(body);
}

/** Flow.rtt (field 32) by toRttMessage's rules, absent without a sample. */
function writeRtt(w: WireWriter, flows: FlowColumns, i: number) {
  const rtt = flows.rtt(i);
  if (!rtt) return;
  w.tag(32, LENGTH_DELIMITED);
  const body = w.beginMessage();
  writeDurationNs(w, 1, rtt.latestNs);
  writeDurationNs(w, 2, rtt.minNs);
  writeDurationNs(w, 3, rtt.maxNs);
  w.endMessage(body);
}

/**
 * Flow.drops (field 33) by toDropsMessage's rules, absent without a drop. The
 * reason's UTF-8 goes through the batch's text cache: a few reasons repeat
 * over many flows.
 */
function writeDrops(w: WireWriter, flows: FlowColumns, i: number, texts: InterfaceNameBytes) {
  const drops = flows.drops(i);
  if (!drops) return;
  w.tag(33, LENGTH_DELIMITED);
  const body = w.beginMessage();
  writeUint(w, 1, drops.packets);
  writeUint(w, 2, drops.bytes);
  writeName(w, 3, texts.text(drops.reason));
  writeUint(w, 4, drops.reasonCode);
  writeUint(w, 5, drops.tcpState);
  writeUint(w, 6, drops.tcpFlags);
  w.endMessage(body);
}

function writeUint(w: WireWriter, field: number, value: number) {
  if (value === 0) return;
  w.tag(field, VARINT);
  w.varint(value);
}

function isZero(bytes: Uint8Array, at: number): boolean {
  for (let i = at; i < at + 16; i++) if (bytes[i] !== 0) return false;
  return true;
}

/** As addressToWire: 4 bytes for IPv4 flows, none for a non-IP all-zero address, else 16. */
function writeAddress(w: WireWriter, field: number, keys: Uint8Array, at: number, ethType: number) {
  if (ethType === ETH_P_IPV4) {
    w.tag(field, LENGTH_DELIMITED);
    w.bytes(keys, at + 12, at + 16);
  } else if (ethType === ETH_P_IPV6 || !isZero(keys, at)) {
    w.tag(field, LENGTH_DELIMITED);
    w.bytes(keys, at, at + 16);
  }
}

function writeName(w: WireWriter, field: number, name: Uint8Array) {
  if (name.length === 0) return;
  w.tag(field, LENGTH_DELIMITED);
  w.bytes(name);
}

/**
 * Flow.owner (field 21) by toOwnerMessage's rules, absent when attribution
 * was off. The command name is copied from the row when it is ASCII (it
 * nearly always is); other bytes go through the string the reference
 * encodes, so that a name cut inside a character is replaced as it is there.
 */
function writeOwner(w: WireWriter, flows: FlowColumns, i: number, texts: InterfaceNameBytes) {
  const source = flows.ownerSource(i);
  if (source === 0) return;
  w.tag(21, LENGTH_DELIMITED);
  const body = w.beginMessage();
  writeUint(w, 1, source);
  writeUint(w, 2, flows.ownerPid(i));
  const comm = flows.ownerCommAt(i);
  const metrics = flows.metrics;
  let end = comm;
  let ascii = true;
  for (; end < comm + OWNER_COMM_BYTES && metrics[end] !== 0; end++) if (metrics[end]! >= 0x80) ascii = false;
  if (end > comm) {
    w.tag(3, LENGTH_DELIMITED);
    if (ascii) w.bytes(metrics, comm, end);
    else w.bytes(texts.text(flows.ownerComm(i)));
  }
  const cgroupId = flows.cgroupId(i);
  writeUint(w, 4, cgroupId);
  const cgroup = flows.cgroup(i);
  if (cgroup) {
    writeName(w, 5, texts.text(cgroup.path));
    if (cgroup.containerId) writeName(w, 6, texts.text(cgroup.containerId));
  }
  writeUint(w, 7, flows.socketCookie(i));
  w.endMessage(body);
}

/** Row i as one netflow.v1.Flow entry of FlowBatch.flows (field 1): key, length, body. */
export function writeFlowEntry(w: WireWriter, flows: FlowColumns, i: number, names: InterfaceNameBytes) {
  const ethType = flows.ethType(i);
  const macs = flows.metrics;
  w.tag(1, LENGTH_DELIMITED);
  const body = w.beginMessage();
  writeName(w, 1, names.of(i));
  writeUint(w, 2, flows.ifindex(i));
  w.tag(3, VARINT);
  w.varint32(flows.direction(i) === 1 ? 2 : 1); // netflow.v1.Direction: INGRESS 1, EGRESS 2
  writeUint(w, 4, ethType);
  // MACs are always 6 bytes in the rows (zero on L3 devices): a non-empty bytes field.
  w.tag(5, LENGTH_DELIMITED);
  w.bytes(macs, flows.srcMacAt(i), flows.srcMacAt(i) + 6);
  w.tag(6, LENGTH_DELIMITED);
  w.bytes(macs, flows.dstMacAt(i), flows.dstMacAt(i) + 6);
  writeAddress(w, 7, flows.keys, flows.srcAddrAt(i), ethType);
  writeAddress(w, 8, flows.keys, flows.dstAddrAt(i), ethType);
  writeUint(w, 9, flows.srcPort(i));
  writeUint(w, 10, flows.dstPort(i));
  writeUint(w, 11, flows.protocol(i));
  writeUint(w, 12, flows.packets(i));
  writeUint(w, 13, flows.bytes(i));
  writeTime(w, 14, flows.startMs[i]!);
  writeTime(w, 15, flows.endMs[i]!);
  writeUint(w, 16, flows.tcpFlags(i));
  writeUint(w, 17, flows.dscp(i));
  writeUint(w, 18, flows.icmpType(i));
  writeUint(w, 19, flows.icmpCode(i));
  writeUint(w, 20, flows.flags(i));
  writeOwner(w, flows, i, names);
  const sampling = flows.sampling(i);
  if (sampling > 1) writeUint(w, 30, sampling); // 1 (every packet) is left out, as toFlowMessage does
  writeDns(w, flows, i, names);
  writeRtt(w, flows, i);
  writeDrops(w, flows, i, names);
  w.endMessage(body);
}

function writeKernel(w: WireWriter, field: number, c: KernelCounters) {
  w.tag(field, LENGTH_DELIMITED);
  const body = w.beginMessage();
  writeUint(w, 1, c.ringbufPackets);
  writeUint(w, 2, c.droppedPackets);
  writeUint(w, 3, c.droppedBytes);
  writeUint(w, 4, c.mapErrors);
  writeUint(w, 5, c.truncated);
  w.endMessage(body);
}

/** FlowBatch fields 2-4, which follow the flows: evicted_at, eviction_duration, kernel. */
export function writeEvictionFields(w: WireWriter, eviction: EvictionInfo) {
  writeTime(w, 2, eviction.evictedAtMs);
  writeTime(w, 3, eviction.evictionMs);
  writeKernel(w, 4, eviction.counters);
}

/** The body of a netflow.v1.FlowBatch holding every row (no key or length of its own). */
export function writeFlowBatch(w: WireWriter, flows: FlowColumns, eviction: EvictionInfo) {
  const names = new InterfaceNameBytes(flows);
  for (let i = 0; i < flows.count; i++) writeFlowEntry(w, flows, i, names);
  writeEvictionFields(w, eviction);
}

/** A MAC as netobserv's uint64 (macNumber's value), from its 6 bytes at `at`, without going through a double. */
function writeMac(w: WireWriter, field: number, bytes: Uint8Array, at: number) {
  const hi = (bytes[at]! << 8) | bytes[at + 1]!;
  const lo = ((bytes[at + 2]! << 24) | (bytes[at + 3]! << 16) | (bytes[at + 4]! << 8) | bytes[at + 5]!) >>> 0;
  if (hi === 0 && lo === 0) return;
  w.tag(field, VARINT);
  w.varint64(hi, lo);
}

/** pbflow.IP: ipv4 as a fixed32 big-endian integer, or ipv6 as 16 bytes; nothing when pbflowIp gives none. */
function writePbflowIp(w: WireWriter, field: number, keys: Uint8Array, at: number, ethType: number) {
  const v6 = ethType === ETH_P_IPV6;
  if (!v6 && ethType !== ETH_P_IPV4 && !isIpv4MappedNonZero(keys, at)) return;
  w.tag(field, LENGTH_DELIMITED);
  const body = w.beginMessage();
  if (v6) {
    w.tag(2, LENGTH_DELIMITED);
    w.bytes(keys, at, at + 16);
  } else {
    w.tag(1, FIXED32);
    w.fixed32(ipv4Integer(keys, at + 12));
  }
  w.endMessage(body);
}

/**
 * Row i as one pbflow.Record entry of Records.entries (field 1), by
 * toNetobservRecord's rules. `agentIp` is the encoded pbflow.IP body of the agent's address.
 */
export function writePbflowRecord(w: WireWriter, flows: FlowColumns, i: number, agentIp: Uint8Array, names: InterfaceNameBytes) {
  const ethType = flows.ethType(i);
  const protocol = flows.protocol(i);
  const ip = isIp(ethType);
  const ports = hasPorts(ethType, protocol);
  const icmp = isIcmp(ethType, protocol);
  const direction = flows.direction(i); // pbflow.Direction: INGRESS 0, EGRESS 1, as ours
  const name = names.of(i);
  w.tag(1, LENGTH_DELIMITED);
  const body = w.beginMessage();
  writeUint(w, 1, ethType);
  writeUint(w, 2, direction);
  writeTime(w, 3, flows.startMs[i]!);
  writeTime(w, 4, flows.endMs[i]!);
  w.tag(5, LENGTH_DELIMITED);
  const link = w.beginMessage();
  writeMac(w, 1, flows.metrics, flows.srcMacAt(i));
  writeMac(w, 2, flows.metrics, flows.dstMacAt(i));
  w.endMessage(link);
  w.tag(6, LENGTH_DELIMITED);
  const network = w.beginMessage();
  writePbflowIp(w, 1, flows.keys, flows.srcAddrAt(i), ethType);
  writePbflowIp(w, 2, flows.keys, flows.dstAddrAt(i), ethType);
  writeUint(w, 3, ip ? flows.dscp(i) : 0);
  w.endMessage(network);
  w.tag(7, LENGTH_DELIMITED);
  const transport = w.beginMessage();
  writeUint(w, 1, ports ? flows.srcPort(i) : 0);
  writeUint(w, 2, ports ? flows.dstPort(i) : 0);
  writeUint(w, 3, ip ? protocol : 0);
  w.endMessage(transport);
  writeUint(w, 8, flows.bytes(i));
  writeUint(w, 9, flows.packets(i));
  writeName(w, 10, name);
  w.tag(12, LENGTH_DELIMITED);
  w.bytes(agentIp);
  writeUint(w, 13, pbflowTcpFlags(ethType, protocol, flows.tcpFlags(i)));
  writeUint(w, 14, icmp ? flows.icmpType(i) : 0);
  writeUint(w, 15, icmp ? flows.icmpCode(i) : 0);
  const drops = flows.drops(i);
  if (drops) {
    writeUint(w, 16, drops.bytes);
    writeUint(w, 17, drops.packets);
    writeUint(w, 18, drops.tcpFlags & TCP_HEADER_FLAGS); // as field 13: netobserv's 0x100 is SYN_ACK, not NS
    writeUint(w, 19, drops.tcpState);
    writeUint(w, 20, drops.reasonCode);
  }
  const dns = flows.dns(i);
  if (dns) {
    writeUint(w, 21, dns.id);
    writeUint(w, 22, dns.flags);
    writeDurationNs(w, 23, dns.latencyNs);
  }
  const rtt = flows.rtt(i);
  if (rtt) writeDurationNs(w, 24, rtt.maxNs);
  w.tag(26, LENGTH_DELIMITED);
  const dup = w.beginMessage();
  writeName(w, 1, name);
  writeUint(w, 2, direction);
  w.endMessage(dup);
  const sampling = flows.sampling(i);
  if (sampling > 1) writeUint(w, 29, sampling); // unsampled: absent (0), as toNetobservRecord
  if (dns) writeName(w, 32, names.text(dns.name));
  w.endMessage(body);
}
