/**
 * FlowRecord → pbflow.Record, the shape netobserv's flowlogs-pipeline (FLP)
 * reads. Each rule below is one FLP relies on; proto/pbflow/README.md has the
 * field-for-field table. The exporter encodes pbflow straight from FlowColumns
 * (flow-wire.ts, with the helpers below); toNetobservRecord is the reference
 * it must match byte for byte, and fromNetobservRecord is `collect`'s decoder.
 *
 * One record maps to one pbflow.Record whose dup_list holds its own
 * (interface, direction): we key flows by interface and direction, so a flow
 * seen at two interfaces arrives as two records, each counted where it was seen.
 */
import { create } from "@bufbuild/protobuf";
import { durationToNs, msToTimestamp, nsToDuration, timestampToMs } from "../api/flow-message.ts";
import { dropReasonName, type DropReasons } from "../bpf/drop-reasons.ts";

/** No table: every cause reads UNKNOWN(<n>), as the agent writes a reason its kernel does not name. */
const NO_REASON_NAMES: DropReasons = new Map();
import type { FlowDrops } from "../flow/flow-drops.ts";
import { isIpv4Mapped } from "../flow/flow-format.ts";
import type { FlowRecord } from "../flow/flow-record.ts";
import {
  DataLinkSchema,
  Direction,
  DupMapEntrySchema,
  type IP,
  IPSchema,
  NetworkSchema,
  type Record as PbflowRecord,
  RecordSchema,
  RecordsSchema,
  type Records,
  TransportSchema,
} from "../gen/pbflow/flow_pb.ts";

const ETH_P_IPV4 = 0x0800;
const ETH_P_IPV6 = 0x86dd;
const IPPROTO_ICMP = 1;
const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;
const IPPROTO_ICMPV6 = 58;
const IPPROTO_SCTP = 132;

/**
 * Our tcpFlags bits 0x01-0x80 are the TCP header's (FIN ... CWR), as are
 * netobserv's. Our 0x100 is NS; netobserv's 0x100 means "a packet had SYN and
 * ACK" (0x200 FIN+ACK, 0x400 RST+ACK), which a per-flow OR cannot tell (SYN
 * then ACK in two packets looks the same), so only the low byte is passed.
 */
export const TCP_HEADER_FLAGS = 0xff;

/**
 * The IPv4 address in bytes offset..offset+3 (12-15 of an IPv4-mapped address)
 * as a big-endian integer: 10.0.0.1 → 0x0A000001.
 */
export function ipv4Integer(addr: Uint8Array, offset = 12): number {
  return ((addr[offset]! << 24) | (addr[offset + 1]! << 16) | (addr[offset + 2]! << 8) | addr[offset + 3]!) >>> 0;
}

/** A 6-byte MAC as the 48-bit integer netobserv sends (11:22:33:44:55:66 → 0x112233445566). */
export function macInteger(mac: Uint8Array): bigint {
  return BigInt(macNumber(mac));
}

/** macInteger as a JS number (48 bits fit in a double exactly). */
export function macNumber(mac: Uint8Array): number {
  let value = 0;
  for (let i = 0; i < 6; i++) value = value * 256 + (mac[i] ?? 0);
  return value;
}

/**
 * pbflow.IP for a 16-byte record address: ipv4 for an IPv4 flow, ipv6 for an
 * IPv6 flow. A non-IP flow (ARP) carries an IPv4-mapped address when the
 * kernel program read one, else nothing (the oneof stays unset).
 */
export function pbflowIp(addr: Uint8Array, ethType: number): IP | undefined {
  if (ethType === ETH_P_IPV6) return create(IPSchema, { ipFamily: { case: "ipv6", value: addr } });
  if (ethType === ETH_P_IPV4 || isIpv4MappedNonZero(addr))
    return create(IPSchema, { ipFamily: { case: "ipv4", value: ipv4Integer(addr) } });
  return undefined;
}

/**
 * An IPv4-mapped address other than ::ffff:0.0.0.0 (what a non-IP flow such
 * as ARP may carry), of the 16 bytes at `offset` (FlowColumns keys are read in place).
 */
export function isIpv4MappedNonZero(bytes: Uint8Array, offset = 0): boolean {
  for (let i = offset; i < offset + 10; i++) if (bytes[i] !== 0) return false;
  return bytes[offset + 10] === 0xff && bytes[offset + 11] === 0xff && ipv4Integer(bytes, offset + 12) !== 0;
}

/** The agent's own address for Record.agent_ip: 4 bytes (IPv4) or 16 (IPv6). */
export function agentIpMessage(address: Uint8Array): IP {
  if (address.length === 4) return create(IPSchema, { ipFamily: { case: "ipv4", value: ipv4Integer(address, 0) } });
  if (address.length === 16 && isIpv4Mapped(address)) return create(IPSchema, { ipFamily: { case: "ipv4", value: ipv4Integer(address) } });
  return create(IPSchema, { ipFamily: { case: "ipv6", value: address } });
}

export function isIp(ethType: number) {
  return ethType === ETH_P_IPV4 || ethType === ETH_P_IPV6;
}

/** Ports only for TCP, UDP and SCTP over IP. */
export function hasPorts(ethType: number, protocol: number) {
  return isIp(ethType) && (protocol === IPPROTO_TCP || protocol === IPPROTO_UDP || protocol === IPPROTO_SCTP);
}

/** ICMP type/code only for ICMP over IPv4 and ICMPv6 over IPv6. */
export function isIcmp(ethType: number, protocol: number) {
  return (ethType === ETH_P_IPV4 && protocol === IPPROTO_ICMP) || (ethType === ETH_P_IPV6 && protocol === IPPROTO_ICMPV6);
}

/** TCP flags for pbflow: only for TCP over IP, only the header's bits (see TCP_HEADER_FLAGS). */
export function pbflowTcpFlags(ethType: number, protocol: number, tcpFlags: number) {
  return isIp(ethType) && protocol === IPPROTO_TCP ? tcpFlags & TCP_HEADER_FLAGS : 0;
}

/**
 * pbflow's drop fields (16-20), as netobserv's agent fills them: TCP flags
 * cut to the header's bits as in field 13, the state as tcp_states.h numbers
 * it, the cause as the sending kernel numbers enum skb_drop_reason (pbflow has
 * no field for the name). Present only for a flow with drops.
 */
function dropFields(d: FlowDrops) {
  return {
    pktDropBytes: BigInt(d.bytes),
    pktDropPackets: BigInt(d.packets),
    pktDropLatestFlags: d.tcpFlags & TCP_HEADER_FLAGS,
    pktDropLatestState: d.tcpState,
    pktDropLatestDropCause: d.reasonCode,
  };
}

export function toNetobservRecord(r: FlowRecord, agentIp: IP): PbflowRecord {
  const direction = r.direction === "egress" ? Direction.EGRESS : Direction.INGRESS;
  const ports = hasPorts(r.ethType, r.protocol);
  const icmp = isIcmp(r.ethType, r.protocol);
  return create(RecordSchema, {
    ethProtocol: r.ethType,
    direction,
    timeFlowStart: msToTimestamp(r.startMs),
    timeFlowEnd: msToTimestamp(r.endMs),
    dataLink: create(DataLinkSchema, { srcMac: macInteger(r.srcMac), dstMac: macInteger(r.dstMac) }),
    network: create(NetworkSchema, {
      srcAddr: pbflowIp(r.srcAddr, r.ethType),
      dstAddr: pbflowIp(r.dstAddr, r.ethType),
      dscp: isIp(r.ethType) ? r.dscp : 0,
    }),
    transport: create(TransportSchema, {
      srcPort: ports ? r.srcPort : 0,
      dstPort: ports ? r.dstPort : 0,
      protocol: isIp(r.ethType) ? r.protocol : 0,
    }),
    bytes: BigInt(r.bytes),
    packets: BigInt(r.packets),
    interface: r.interface,
    agentIp,
    flags: pbflowTcpFlags(r.ethType, r.protocol, r.tcpFlags),
    icmpType: icmp ? r.icmpType : 0,
    icmpCode: icmp ? r.icmpCode : 0,
    dupList: [create(DupMapEntrySchema, { interface: r.interface, direction })],
    sampling: r.sampling !== undefined && r.sampling > 1 ? r.sampling : 0,
    ...(r.drops ? dropFields(r.drops) : {}),
    ...(r.dns ? { dnsId: r.dns.id, dnsFlags: r.dns.flags, dnsLatency: nsToDuration(r.dns.latencyNs), dnsName: r.dns.name } : {}),
    ...(r.rtt ? { timeFlowRtt: nsToDuration(r.rtt.maxNs) } : {}),
  });
}

/** One Send request. netobserv's own agent caps a request at 10,000 records; --export-batch-records bounds ours. */
export function toNetobservRecords(records: readonly FlowRecord[], agentIp: IP): Records {
  return create(RecordsSchema, { entries: records.map((r) => toNetobservRecord(r, agentIp)) });
}

/** A pbflow.Record no FlowRecord can hold; the text names the field and its value. */
export class NetobservRecordError extends Error {
  override readonly name = "NetobservRecordError";
}

function checkRange(field: string, value: number, max: number): number {
  if (value > max) throw new NetobservRecordError(`${field} ${value} must be <= ${max}`);
  return value;
}

function addressFromIp(field: string, ip: IP | undefined): Uint8Array {
  const addr = new Uint8Array(16);
  if (ip?.ipFamily.case === "ipv4") {
    addr[10] = addr[11] = 0xff;
    new DataView(addr.buffer).setUint32(12, ip.ipFamily.value);
  } else if (ip?.ipFamily.case === "ipv6") {
    if (ip.ipFamily.value.length !== 16) throw new NetobservRecordError(`${field}.ipv6 has ${ip.ipFamily.value.length} bytes, expected 16`);
    addr.set(ip.ipFamily.value);
  }
  return addr;
}

function macFromInteger(field: string, value: bigint): Uint8Array {
  if (value > 0xffffffffffffn) throw new NetobservRecordError(`${field} ${value} is wider than 48 bits`);
  const mac = new Uint8Array(6);
  let rest = Number(value);
  for (let i = 5; i >= 0; i--, rest = Math.floor(rest / 256)) mac[i] = rest % 256;
  return mac;
}

/** netobserv's per-packet SYN_ACK/FIN_ACK/RST_ACK bits folded back into plain TCP flags. */
function tcpFlagsFromNetobserv(flags: number): number {
  let tcp = flags & TCP_HEADER_FLAGS;
  if (flags & 0x100) tcp |= 0x02 | 0x10;
  if (flags & 0x200) tcp |= 0x01 | 0x10;
  if (flags & 0x400) tcp |= 0x04 | 0x10;
  return tcp;
}

/**
 * The drops of a record with pkt_drop_packets > 0 (netobserv sends the five
 * fields together, zero without drops). pbflow carries the cause's number
 * only: `reasons` names it (`collect` passes its own kernel's names, right
 * when sender and collector run the same kernel); a number it does not name
 * reads "UNKNOWN(77)", as the agent writes a reason its kernel does not name, and so does every cause without `reasons`.
 */
function dropsFromNetobserv(m: PbflowRecord, reasons: DropReasons | undefined): FlowDrops | undefined {
  if (m.pktDropPackets === 0n) return undefined;
  const reasonCode = m.pktDropLatestDropCause;
  return {
    packets: Number(m.pktDropPackets),
    bytes: Number(m.pktDropBytes),
    reason: dropReasonName(reasons ?? NO_REASON_NAMES, reasonCode),
    reasonCode,
    tcpState: checkRange("pkt_drop_latest_state", m.pktDropLatestState, 255),
    tcpFlags: tcpFlagsFromNetobserv(m.pktDropLatestFlags),
  };
}

/**
 * The FlowRecord a pbflow.Record describes (`collect --protocol netobserv`);
 * ifindex is unknown (0). `reasons` names drop causes (dropsFromNetobserv).
 */
export function fromNetobservRecord(m: PbflowRecord, reasons?: DropReasons): FlowRecord {
  const drops = dropsFromNetobserv(m, reasons);
  const name = m.interface || m.dupList[0]?.interface || "if0";
  return {
    ifindex: 0,
    interface: name,
    direction: m.direction === Direction.EGRESS ? "egress" : "ingress",
    ethType: checkRange("eth_protocol", m.ethProtocol, 0xffff),
    protocol: checkRange("transport.protocol", m.transport?.protocol ?? 0, 255),
    srcAddr: addressFromIp("network.src_addr", m.network?.srcAddr),
    dstAddr: addressFromIp("network.dst_addr", m.network?.dstAddr),
    srcPort: checkRange("transport.src_port", m.transport?.srcPort ?? 0, 65535),
    dstPort: checkRange("transport.dst_port", m.transport?.dstPort ?? 0, 65535),
    packets: Number(m.packets),
    bytes: Number(m.bytes),
    startMs: timestampToMs(m.timeFlowStart),
    endMs: timestampToMs(m.timeFlowEnd),
    tcpFlags: tcpFlagsFromNetobserv(m.flags),
    dscp: checkRange("network.dscp", m.network?.dscp ?? 0, 63),
    icmpType: checkRange("icmp_type", m.icmpType, 255),
    icmpCode: checkRange("icmp_code", m.icmpCode, 255),
    srcMac: macFromInteger("data_link.src_mac", m.dataLink?.srcMac ?? 0n),
    dstMac: macFromInteger("data_link.dst_mac", m.dataLink?.dstMac ?? 0n),
    flags: 0,
    ...(m.sampling > 1 ? { sampling: m.sampling } : {}),
    // A transaction is one with a latency (we send DNS fields only for matched ones).
    ...(m.dnsLatency ? { dns: { id: checkRange("dns_id", m.dnsId, 0xffff), flags: checkRange("dns_flags", m.dnsFlags, 0xffff), latencyNs: durationToNs(m.dnsLatency), name: m.dnsName } } : {}),
    // pbflow carries the max only (netobserv's flow RTT): it stands for all three.
    ...(m.timeFlowRtt ? { rtt: { latestNs: durationToNs(m.timeFlowRtt), minNs: durationToNs(m.timeFlowRtt), maxNs: durationToNs(m.timeFlowRtt) } } : {}),
    ...(drops ? { drops } : {}),
  };
}
