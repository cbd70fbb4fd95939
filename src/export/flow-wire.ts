/**
 * FlowRecords straight to protobuf bytes, for the export hot path: the
 * netflow.v1 FlowBatch of an ExportRequest and the pbflow Records entries.
 *
 * Why not create() + toBinary(): building one message object per flow and
 * encoding it by reflection costs ~3-5 µs per flow in Bun (bench/RESULTS-export.md),
 * more than the whole budget at 500k flows/s. These functions follow the same
 * rules as toFlowMessage (src/api/flow-message.ts) and toNetobservRecord, field
 * by field in field-number order, omitting proto3 defaults, so the bytes are
 * identical to toBinary's; test/export/flow-wire.test.ts checks that byte for byte.
 */
import type { EvictionInfo } from "./collector-senders.ts";
import type { FlowRecord, KernelCounters } from "../flow/flow-record.ts";
import { hasPorts, ipv4Integer, isIcmp, isIp, isIpv4MappedNonZero, macNumber, TCP_HEADER_FLAGS } from "./netobserv-record.ts";
import { FIXED32, LENGTH_DELIMITED, VARINT, type WireWriter } from "./wire-writer.ts";

const ETH_P_IPV4 = 0x0800;
const ETH_P_IPV6 = 0x86dd;

/** google.protobuf.Timestamp / Duration from ms, with msToTimestamp's rounding (ns kept, capped below 1 s). */
function writeTime(w: WireWriter, field: number, ms: number) {
  const seconds = Math.floor(ms / 1000);
  const nanos = Math.min(999_999_999, Math.round((ms - seconds * 1000) * 1e6));
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

function writeUint(w: WireWriter, field: number, value: number) {
  if (value === 0) return;
  w.tag(field, VARINT);
  w.varint(value);
}

function isZero(addr: Uint8Array): boolean {
  for (let i = 0; i < 16; i++) if (addr[i] !== 0) return false;
  return true;
}

/** As addressToWire: 4 bytes for IPv4 flows, none for a non-IP all-zero address, else 16. */
function writeAddress(w: WireWriter, field: number, addr: Uint8Array, ethType: number) {
  if (ethType === ETH_P_IPV4) {
    w.tag(field, LENGTH_DELIMITED);
    w.bytes(addr, 12, 16);
  } else if (ethType === ETH_P_IPV6 || !isZero(addr)) {
    w.tag(field, LENGTH_DELIMITED);
    w.bytes(addr);
  }
}

/** One netflow.v1.Flow, as FlowBatch field `field`. */
export function writeFlow(w: WireWriter, field: number, r: FlowRecord, names: Map<string, Uint8Array>) {
  w.tag(field, LENGTH_DELIMITED);
  const body = w.beginMessage();
  if (r.interface !== "") {
    w.tag(1, LENGTH_DELIMITED);
    w.string(r.interface, names);
  }
  writeUint(w, 2, r.ifindex);
  writeUint(w, 3, r.direction === "egress" ? 2 : 1);
  writeUint(w, 4, r.ethType);
  if (r.srcMac.length > 0) {
    w.tag(5, LENGTH_DELIMITED);
    w.bytes(r.srcMac);
  }
  if (r.dstMac.length > 0) {
    w.tag(6, LENGTH_DELIMITED);
    w.bytes(r.dstMac);
  }
  writeAddress(w, 7, r.srcAddr, r.ethType);
  writeAddress(w, 8, r.dstAddr, r.ethType);
  writeUint(w, 9, r.srcPort);
  writeUint(w, 10, r.dstPort);
  writeUint(w, 11, r.protocol);
  writeUint(w, 12, r.packets);
  writeUint(w, 13, r.bytes);
  writeTime(w, 14, r.startMs);
  writeTime(w, 15, r.endMs);
  writeUint(w, 16, r.tcpFlags);
  writeUint(w, 17, r.dscp);
  writeUint(w, 18, r.icmpType);
  writeUint(w, 19, r.icmpCode);
  writeUint(w, 20, r.flags);
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

/** The body of a netflow.v1.FlowBatch (no tag or length of its own). */
export function writeFlowBatch(w: WireWriter, records: readonly FlowRecord[], eviction: EvictionInfo, names: Map<string, Uint8Array>) {
  for (const r of records) writeFlow(w, 1, r, names);
  writeTime(w, 2, eviction.evictedAtMs);
  writeTime(w, 3, eviction.evictionMs);
  writeKernel(w, 4, eviction.counters);
}

/** pbflow.IP: ipv4 as a fixed32 big-endian integer, or ipv6 as 16 bytes; nothing when pbflowIp gives none. */
function writePbflowIp(w: WireWriter, field: number, addr: Uint8Array, ethType: number) {
  const v6 = ethType === ETH_P_IPV6;
  if (!v6 && ethType !== ETH_P_IPV4 && !isIpv4MappedNonZero(addr)) return;
  w.tag(field, LENGTH_DELIMITED);
  const body = w.beginMessage();
  if (v6) {
    w.tag(2, LENGTH_DELIMITED);
    w.bytes(addr);
  } else {
    w.tag(1, FIXED32);
    w.fixed32(ipv4Integer(addr));
  }
  w.endMessage(body);
}

/**
 * One pbflow.Record (as Records.entries, field 1), by toNetobservRecord's rules.
 * `agentIp` is the encoded pbflow.IP body of the agent's address.
 */
export function writePbflowRecord(w: WireWriter, r: FlowRecord, agentIp: Uint8Array, names: Map<string, Uint8Array>) {
  const ip = isIp(r.ethType);
  const ports = hasPorts(r);
  const icmp = isIcmp(r);
  const egress = r.direction === "egress";
  w.tag(1, LENGTH_DELIMITED);
  const body = w.beginMessage();
  writeUint(w, 1, r.ethType);
  writeUint(w, 2, egress ? 1 : 0);
  writeTime(w, 3, r.startMs);
  writeTime(w, 4, r.endMs);
  w.tag(5, LENGTH_DELIMITED);
  const link = w.beginMessage();
  writeUint(w, 1, macNumber(r.srcMac));
  writeUint(w, 2, macNumber(r.dstMac));
  w.endMessage(link);
  w.tag(6, LENGTH_DELIMITED);
  const network = w.beginMessage();
  writePbflowIp(w, 1, r.srcAddr, r.ethType);
  writePbflowIp(w, 2, r.dstAddr, r.ethType);
  writeUint(w, 3, ip ? r.dscp : 0);
  w.endMessage(network);
  w.tag(7, LENGTH_DELIMITED);
  const transport = w.beginMessage();
  writeUint(w, 1, ports ? r.srcPort : 0);
  writeUint(w, 2, ports ? r.dstPort : 0);
  writeUint(w, 3, ip ? r.protocol : 0);
  w.endMessage(transport);
  writeUint(w, 8, r.bytes);
  writeUint(w, 9, r.packets);
  if (r.interface !== "") {
    w.tag(10, LENGTH_DELIMITED);
    w.string(r.interface, names);
  }
  w.tag(12, LENGTH_DELIMITED);
  w.bytes(agentIp);
  writeUint(w, 13, ip && r.protocol === 6 ? r.tcpFlags & TCP_HEADER_FLAGS : 0);
  writeUint(w, 14, icmp ? r.icmpType : 0);
  writeUint(w, 15, icmp ? r.icmpCode : 0);
  w.tag(26, LENGTH_DELIMITED);
  const dup = w.beginMessage();
  if (r.interface !== "") {
    w.tag(1, LENGTH_DELIMITED);
    w.string(r.interface, names);
  }
  writeUint(w, 2, egress ? 1 : 0);
  w.endMessage(dup);
  w.endMessage(body);
}
