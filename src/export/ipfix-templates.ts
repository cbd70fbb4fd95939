/**
 * The IPFIX templates netflow-agent exports (RFC 7011 §3.4), defined once:
 * each template's fields (Information Element id and length, IANA "IPFIX
 * Information Elements" registry) and, beside them, the function that writes
 * a flow in exactly that order. test/export/ipfix-encoder.test.ts checks that
 * every writer writes as many bytes as its template declares.
 *
 * One template per kind of flow (IPv4, IPv6, non-IP), each with and without
 * vlanId: a field is sent only where the flow has it (RFC 7011 has no
 * "absent" value, and 0 is VLAN 0). Times are absolute milliseconds
 * (flowStart/EndMilliseconds): every known interop bug of flow exporters
 * comes from uptime-relative times. Counters are unsigned64.
 */
import type { FlowColumns } from "../flow/flow-columns.ts";

/** Information Element ids (IANA registry). */
export const IE = {
  octetDeltaCount: 1,
  packetDeltaCount: 2,
  protocolIdentifier: 4,
  ipClassOfService: 5,
  tcpControlBits: 6,
  sourceTransportPort: 7,
  sourceIPv4Address: 8,
  ingressInterface: 10,
  destinationTransportPort: 11,
  destinationIPv4Address: 12,
  egressInterface: 14,
  sourceIPv6Address: 27,
  destinationIPv6Address: 28,
  icmpTypeCodeIPv4: 32,
  sourceMacAddress: 56,
  vlanId: 58,
  flowDirection: 61,
  destinationMacAddress: 80,
  interfaceName: 82,
  icmpTypeCodeIPv6: 139,
  flowStartMilliseconds: 152,
  flowEndMilliseconds: 153,
  ethernetType: 256,
  layer2OctetDeltaCount: 352,
} as const;

/** RFC 7011 §7: a field length of 65535 means the record carries the length. */
export const VARIABLE_LENGTH = 0xffff;

export type Field = readonly [ie: number, length: number];

/**
 * Writes row `i` of `flows` at `at` in `out` (big-endian, network order) and
 * returns the offset after it. `view` is a DataView of the same bytes.
 */
export type RecordWriter = (flows: FlowColumns, i: number, out: Uint8Array, view: DataView, at: number) => number;

export interface FlowTemplate {
  readonly id: number;
  readonly name: string;
  readonly fields: readonly Field[];
  /** Bytes of one record: the sum of the field lengths. */
  readonly recordLength: number;
  readonly write: RecordWriter;
}

const TWO_32 = 4294967296;

/** An unsigned 64-bit value held in a double (exact below 2^53: packets, bytes, ms). */
function u64(view: DataView, at: number, value: number) {
  const high = Math.floor(value / TWO_32);
  view.setUint32(at, high);
  view.setUint32(at + 4, value - high * TWO_32);
}

/** The fields every IP template starts with; the writer below follows the same order. */
const TIMES_AND_COUNTERS: Field[] = [
  [IE.flowStartMilliseconds, 8],
  [IE.flowEndMilliseconds, 8],
  [IE.octetDeltaCount, 8],
  [IE.packetDeltaCount, 8],
  [IE.layer2OctetDeltaCount, 8],
];

function writeTimesAndCounters(flows: FlowColumns, i: number, view: DataView, at: number): number {
  const packets = flows.packets(i);
  const bytes = flows.bytes(i);
  u64(view, at, Math.floor(flows.startMs[i]!));
  u64(view, at + 8, Math.floor(flows.endMs[i]!));
  u64(view, at + 16, bytes - packets * flows.l2HeaderLen(i));
  u64(view, at + 24, packets);
  u64(view, at + 32, bytes);
  return at + 40;
}

/** After the addresses: ports, protocol, class of service, TCP flags, direction, interfaces. */
const TRANSPORT_AND_INTERFACES: Field[] = [
  [IE.sourceTransportPort, 2],
  [IE.destinationTransportPort, 2],
  [IE.protocolIdentifier, 1],
  [IE.ipClassOfService, 1],
  // One octet: pmacct's nfacctd 1.7 reads a 2-octet tcpControlBits as 0 (RFC 7011 §6.2 allows the reduced size).
  [IE.tcpControlBits, 1],
  [IE.flowDirection, 1],
  [IE.ingressInterface, 4],
  [IE.egressInterface, 4],
];

function writeTransportAndInterfaces(flows: FlowColumns, i: number, out: Uint8Array, view: DataView, at: number): number {
  view.setUint16(at, flows.srcPort(i));
  view.setUint16(at + 2, flows.dstPort(i));
  out[at + 4] = flows.protocol(i);
  // The kernel keeps DSCP only; the class-of-service octet is DSCP << 2 with ECN 0.
  out[at + 5] = flows.dscp(i) << 2;
  out[at + 6] = flows.tcpFlags(i) & 0xff;
  const direction = flows.direction(i);
  out[at + 7] = direction;
  // The flow was seen on one device, in one direction: the other interface is unknown (0).
  view.setUint32(at + 8, direction === 0 ? flows.ifindex(i) : 0);
  view.setUint32(at + 12, direction === 1 ? flows.ifindex(i) : 0);
  return at + 16;
}

/** Ends every template: ICMP type/code (IP only), EtherType, MACs. */
function writeLink(flows: FlowColumns, i: number, out: Uint8Array, view: DataView, at: number): number {
  view.setUint16(at, flows.ethType(i));
  out.set(flows.metrics.subarray(flows.srcMacAt(i), flows.srcMacAt(i) + 6), at + 2);
  out.set(flows.metrics.subarray(flows.dstMacAt(i), flows.dstMacAt(i) + 6), at + 8);
  return at + 14;
}
const LINK: Field[] = [
  [IE.ethernetType, 2],
  [IE.sourceMacAddress, 6],
  [IE.destinationMacAddress, 6],
];

function icmpTypeCode(flows: FlowColumns, i: number, icmpProtocol: number): number {
  return flows.protocol(i) === icmpProtocol ? (flows.icmpType(i) << 8) | flows.icmpCode(i) : 0;
}

const writeIpv4: RecordWriter = (flows, i, out, view, at) => {
  at = writeTimesAndCounters(flows, i, view, at);
  // IPv4-mapped: the address is the last 4 of the 16 bytes.
  out.set(flows.keys.subarray(flows.srcAddrAt(i) + 12, flows.srcAddrAt(i) + 16), at);
  out.set(flows.keys.subarray(flows.dstAddrAt(i) + 12, flows.dstAddrAt(i) + 16), at + 4);
  at = writeTransportAndInterfaces(flows, i, out, view, at + 8);
  view.setUint16(at, icmpTypeCode(flows, i, 1));
  return writeLink(flows, i, out, view, at + 2);
};

const writeIpv6: RecordWriter = (flows, i, out, view, at) => {
  at = writeTimesAndCounters(flows, i, view, at);
  out.set(flows.keys.subarray(flows.srcAddrAt(i), flows.srcAddrAt(i) + 16), at);
  out.set(flows.keys.subarray(flows.dstAddrAt(i), flows.dstAddrAt(i) + 16), at + 16);
  at = writeTransportAndInterfaces(flows, i, out, view, at + 32);
  view.setUint16(at, icmpTypeCode(flows, i, 58));
  return writeLink(flows, i, out, view, at + 2);
};

/** Non-IP (ARP, LLDP…): no IP bytes, addresses or ports; the frame bytes are layer2OctetDeltaCount. */
const writeNonIp: RecordWriter = (flows, i, out, view, at) => {
  u64(view, at, Math.floor(flows.startMs[i]!));
  u64(view, at + 8, Math.floor(flows.endMs[i]!));
  u64(view, at + 16, flows.packets(i));
  u64(view, at + 24, flows.bytes(i));
  const direction = flows.direction(i);
  out[at + 32] = direction;
  view.setUint32(at + 33, direction === 0 ? flows.ifindex(i) : 0);
  view.setUint32(at + 37, direction === 1 ? flows.ifindex(i) : 0);
  return writeLink(flows, i, out, view, at + 41);
};

const withVlan = (write: RecordWriter): RecordWriter => (flows, i, out, view, at) => {
  at = write(flows, i, out, view, at);
  view.setUint16(at, flows.vlanId(i));
  return at + 2;
};

function template(id: number, name: string, fields: Field[], write: RecordWriter): FlowTemplate {
  return { id, name, fields, recordLength: fields.reduce((sum, [, length]) => sum + length, 0), write };
}

const IPV4_FIELDS: Field[] = [
  ...TIMES_AND_COUNTERS,
  [IE.sourceIPv4Address, 4],
  [IE.destinationIPv4Address, 4],
  ...TRANSPORT_AND_INTERFACES,
  [IE.icmpTypeCodeIPv4, 2],
  ...LINK,
];
const IPV6_FIELDS: Field[] = [
  ...TIMES_AND_COUNTERS,
  [IE.sourceIPv6Address, 16],
  [IE.destinationIPv6Address, 16],
  ...TRANSPORT_AND_INTERFACES,
  [IE.icmpTypeCodeIPv6, 2],
  ...LINK,
];
const NON_IP_FIELDS: Field[] = [
  [IE.flowStartMilliseconds, 8],
  [IE.flowEndMilliseconds, 8],
  [IE.packetDeltaCount, 8],
  [IE.layer2OctetDeltaCount, 8],
  [IE.flowDirection, 1],
  [IE.ingressInterface, 4],
  [IE.egressInterface, 4],
  ...LINK,
];
const VLAN: Field = [IE.vlanId, 2];

/** Indexed by templateIndex(): kind * 2 + tagged. */
export const FLOW_TEMPLATES: readonly FlowTemplate[] = [
  template(256, "IPv4", IPV4_FIELDS, writeIpv4),
  template(257, "IPv4 + VLAN", [...IPV4_FIELDS, VLAN], withVlan(writeIpv4)),
  template(258, "IPv6", IPV6_FIELDS, writeIpv6),
  template(259, "IPv6 + VLAN", [...IPV6_FIELDS, VLAN], withVlan(writeIpv6)),
  template(260, "non-IP", NON_IP_FIELDS, writeNonIp),
  template(261, "non-IP + VLAN", [...NON_IP_FIELDS, VLAN], withVlan(writeNonIp)),
];

/** Which of FLOW_TEMPLATES row i is written with. */
export function templateIndex(flows: FlowColumns, i: number): number {
  const ethType = flows.ethType(i);
  // An IP flow whose addresses the kernel could not read (truncated) still has the mapped/zero form; IPv4 is told by EtherType.
  const kind = ethType === 0x0800 ? 0 : ethType === 0x86dd ? 1 : 2;
  return kind * 2 + (flows.vlanId(i) !== 0 ? 1 : 0);
}

/**
 * The options template (RFC 7011 §3.4.2) mapping an interface index to its
 * name, so a collector can show "eth0" instead of 2. Scope: ingressInterface.
 */
export const INTERFACE_NAMES_TEMPLATE = {
  id: 262,
  scopeFields: [[IE.ingressInterface, 4]] as readonly Field[],
  fields: [[IE.interfaceName, VARIABLE_LENGTH]] as readonly Field[],
} as const;
