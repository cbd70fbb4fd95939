/**
 * The IPFIX templates netflow-agent exports (RFC 7011 §3.4), defined once:
 * each template's fields (Information Element id and length, IANA "IPFIX
 * Information Elements" registry) and, beside them, the function that writes
 * rows of a flow batch in exactly that order.
 * test/export/ipfix-record-writers.test.ts checks every writer, byte for byte,
 * against a field-by-field reference and against an RFC 7011 decoder.
 *
 * One template per kind of flow (IPv4, IPv6, non-IP), each with and without
 * vlanId: a field is sent only where the flow has it (RFC 7011 has no
 * "absent" value, and 0 is VLAN 0). The same holds for drops
 * (--enable-drops): an IP flow the kernel dropped packets of is written with
 * the IP template's "+ drops" twin, which adds droppedOctetDeltaCount (132)
 * and droppedPacketDeltaCount (133) at the end (DROPS_TEMPLATES; announced
 * from the first such flow on, so an agent without drops sends the same
 * bytes as before). A drop-only flow (no TC hook saw its packets) has
 * packetDeltaCount 0 there. Times are absolute milliseconds
 * (flowStart/EndMilliseconds): every known interop bug of flow exporters
 * comes from uptime-relative times. Counters are unsigned64.
 *
 * Speed: a writer takes a run of rows of one template (the encoder groups
 * the batch by template first) and copies straight from the eviction's raw
 * rows (struct flow_key / flow_metrics, src/bpf/flow-layout.ts): addresses,
 * MACs and counters as bytes, little-endian host fields byte-swapped to
 * network order, no DataView, no BigInt, nothing allocated per row. The rows
 * are the kernel's little-endian layout (x86-64, arm64).
 */
import { FLOW_KEY, FLOW_METRICS } from "../bpf/flow-layout.ts";
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
  samplingInterval: 34,
  sourceMacAddress: 56,
  vlanId: 58,
  flowDirection: 61,
  destinationMacAddress: 80,
  interfaceName: 82,
  icmpTypeCodeIPv6: 139,
  flowStartMilliseconds: 152,
  flowEndMilliseconds: 153,
  ethernetType: 256,
  selectorId: 302,
  selectorAlgorithm: 304,
  samplingSize: 309,
  samplingPopulation: 310,
  droppedOctetDeltaCount: 132,
  droppedPacketDeltaCount: 133,
  layer2OctetDeltaCount: 352,
} as const;

/** RFC 7011 §7: a field length of 65535 means the record carries the length. */
export const VARIABLE_LENGTH = 0xffff;

export type Field = readonly [ie: number, length: number];

/**
 * Writes the rows `rows[from..to)` of `flows`, one record each, from `at` in
 * `out` (network order) and returns the offset after the last. The caller
 * has checked that they fit.
 */
export type RowsWriter = (flows: FlowColumns, rows: Uint32Array, from: number, to: number, out: Uint8Array, at: number) => number;

export interface FlowTemplate {
  readonly id: number;
  readonly name: string;
  readonly fields: readonly Field[];
  /** Bytes of one record: the sum of the field lengths. */
  readonly recordLength: number;
  readonly writeRows: RowsWriter;
}

const KEY = FLOW_KEY.size;
const METRICS = FLOW_METRICS.size;
const K = FLOW_KEY.fields;
const M = FLOW_METRICS.fields;
const K_IFINDEX = K.ifindex.offset;
const K_ETH = K.eth_protocol.offset;
const K_DIRECTION = K.direction.offset;
const K_PROTOCOL = K.protocol.offset;
const K_SRC = K.src_ip.offset;
const K_DST = K.dst_ip.offset;
const K_SPORT = K.src_port.offset;
const K_DPORT = K.dst_port.offset;
const M_PACKETS = M.packets.offset;
const M_BYTES = M.bytes.offset;
const M_TCP_FLAGS = M.tcp_flags.offset;
const M_DSCP = M.dscp.offset;
const M_ICMP_TYPE = M.icmp_type.offset;
const M_ICMP_CODE = M.icmp_code.offset;
const M_L2_LEN = M.l2_header_len.offset;
const M_SRC_MAC = M.src_mac.offset;
const M_DST_MAC = M.dst_mac.offset;
const M_VLAN = M.vlan_id.offset;

const TWO_32 = 4294967296;

/** A 32-bit value, big-endian (ToUint32 of `v`, as DataView.setUint32). */
function put32(out: Uint8Array, at: number, v: number) {
  out[at] = v >>> 24;
  out[at + 1] = (v >>> 16) & 0xff;
  out[at + 2] = (v >>> 8) & 0xff;
  out[at + 3] = v & 0xff;
}

/** An unsigned 64-bit value held in a double (exact below 2^53: ms, IP bytes), big-endian. */
function put64(out: Uint8Array, at: number, v: number) {
  const high = Math.floor(v / TWO_32);
  put32(out, at, high);
  put32(out, at + 4, v - high * TWO_32);
}

/** A little-endian u64 of the rows, byte-swapped: exact for every value. */
function swap64(out: Uint8Array, at: number, src: Uint8Array, from: number) {
  out[at] = src[from + 7]!;
  out[at + 1] = src[from + 6]!;
  out[at + 2] = src[from + 5]!;
  out[at + 3] = src[from + 4]!;
  out[at + 4] = src[from + 3]!;
  out[at + 5] = src[from + 2]!;
  out[at + 6] = src[from + 1]!;
  out[at + 7] = src[from]!;
}

/** ingressInterface, egressInterface: the flow was seen on one device, in one direction; the other is unknown (0). */
function putInterfaces(out: Uint8Array, at: number, keys: Uint8Array, k: number, direction: number) {
  const seen = direction === 0 ? at : at + 4; // ingress 0, egress 1
  const unknown = direction === 0 ? at + 4 : at;
  if (direction === 0 || direction === 1) {
    out[seen] = keys[k + K_IFINDEX + 3]!;
    out[seen + 1] = keys[k + K_IFINDEX + 2]!;
    out[seen + 2] = keys[k + K_IFINDEX + 1]!;
    out[seen + 3] = keys[k + K_IFINDEX]!;
  } else put32(out, seen, 0);
  put32(out, unknown, 0);
}

/** ethernetType, sourceMacAddress, destinationMacAddress: every template ends with them (then vlanId, if tagged). */
function putLink(out: Uint8Array, at: number, keys: Uint8Array, k: number, metrics: Uint8Array, m: number) {
  out[at] = keys[k + K_ETH + 1]!;
  out[at + 1] = keys[k + K_ETH]!;
  for (let b = 0; b < 6; b++) out[at + 2 + b] = metrics[m + M_SRC_MAC + b]!;
  for (let b = 0; b < 6; b++) out[at + 8 + b] = metrics[m + M_DST_MAC + b]!;
}

/** The fields every IP template starts with; writeIpRows follows the same order. */
const TIMES_AND_COUNTERS: Field[] = [
  [IE.flowStartMilliseconds, 8],
  [IE.flowEndMilliseconds, 8],
  [IE.octetDeltaCount, 8],
  [IE.packetDeltaCount, 8],
  [IE.layer2OctetDeltaCount, 8],
];

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

const LINK: Field[] = [
  [IE.ethernetType, 2],
  [IE.sourceMacAddress, 6],
  [IE.destinationMacAddress, 6],
];

/** IPv4 or IPv6 records (IPV4_FIELDS / IPV6_FIELDS, then vlanId when `vlan`, then DROPS when `drops`). */
function writeIpRows(flows: FlowColumns, rows: Uint32Array, from: number, to: number, out: Uint8Array, at: number, v6: boolean, vlan: boolean, drops: boolean): number {
  const { keys, metrics, startMs, endMs } = flows;
  // IPv4 addresses are IPv4-mapped in the rows: the last 4 of the 16 bytes.
  const addressBytes = v6 ? 16 : 4;
  const addressFrom = v6 ? 0 : 12;
  const icmpProtocol = v6 ? 58 : 1;
  for (let r = from; r < to; r++) {
    const i = rows[r]!;
    const k = i * KEY;
    const m = i * METRICS;
    put64(out, at, Math.floor(startMs[i]!));
    put64(out, at + 8, Math.floor(endMs[i]!));
    // octetDeltaCount: IP header + payload, the frame bytes less each packet's link-layer header.
    put64(out, at + 16, flows.bytes(i) - flows.packets(i) * metrics[m + M_L2_LEN]!);
    swap64(out, at + 24, metrics, m + M_PACKETS);
    swap64(out, at + 32, metrics, m + M_BYTES);
    at += 40;
    for (let b = 0; b < addressBytes; b++) out[at + b] = keys[k + K_SRC + addressFrom + b]!;
    at += addressBytes;
    for (let b = 0; b < addressBytes; b++) out[at + b] = keys[k + K_DST + addressFrom + b]!;
    at += addressBytes;
    out[at] = keys[k + K_SPORT + 1]!;
    out[at + 1] = keys[k + K_SPORT]!;
    out[at + 2] = keys[k + K_DPORT + 1]!;
    out[at + 3] = keys[k + K_DPORT]!;
    const protocol = keys[k + K_PROTOCOL]!;
    out[at + 4] = protocol;
    // The kernel keeps DSCP only; the class-of-service octet is DSCP << 2 with ECN 0.
    out[at + 5] = (metrics[m + M_DSCP]! << 2) & 0xff;
    out[at + 6] = metrics[m + M_TCP_FLAGS]!; // the low octet of the little-endian flags
    const direction = keys[k + K_DIRECTION]!;
    out[at + 7] = direction;
    putInterfaces(out, at + 8, keys, k, direction);
    // icmpTypeCodeIPv4/IPv6: type << 8 | code, for ICMP flows only.
    const icmp = protocol === icmpProtocol;
    out[at + 16] = icmp ? metrics[m + M_ICMP_TYPE]! : 0;
    out[at + 17] = icmp ? metrics[m + M_ICMP_CODE]! : 0;
    putLink(out, at + 18, keys, k, metrics, m);
    at += 32;
    if (vlan) {
      out[at] = metrics[m + M_VLAN + 1]!;
      out[at + 1] = metrics[m + M_VLAN]!;
      at += 2;
    }
    if (drops) {
      // droppedOctetDeltaCount (IP bytes, as octetDeltaCount), droppedPacketDeltaCount: the sparse column's, by row.
      const d = flows.drops(i);
      put64(out, at, d ? d.bytes : 0);
      put64(out, at + 8, d ? d.packets : 0);
      at += 16;
    }
  }
  return at;
}

/** Non-IP (ARP, LLDP…): no IP bytes, addresses or ports; the frame bytes are layer2OctetDeltaCount. */
function writeNonIpRows(flows: FlowColumns, rows: Uint32Array, from: number, to: number, out: Uint8Array, at: number, vlan: boolean): number {
  const { keys, metrics, startMs, endMs } = flows;
  for (let r = from; r < to; r++) {
    const i = rows[r]!;
    const k = i * KEY;
    const m = i * METRICS;
    put64(out, at, Math.floor(startMs[i]!));
    put64(out, at + 8, Math.floor(endMs[i]!));
    swap64(out, at + 16, metrics, m + M_PACKETS);
    swap64(out, at + 24, metrics, m + M_BYTES);
    const direction = keys[k + K_DIRECTION]!;
    out[at + 32] = direction;
    putInterfaces(out, at + 33, keys, k, direction);
    putLink(out, at + 41, keys, k, metrics, m);
    at += 55;
    if (vlan) {
      out[at] = metrics[m + M_VLAN + 1]!;
      out[at + 1] = metrics[m + M_VLAN]!;
      at += 2;
    }
  }
  return at;
}

function template(id: number, name: string, fields: Field[], writeRows: RowsWriter): FlowTemplate {
  return { id, name, fields, recordLength: fields.reduce((sum, [, length]) => sum + length, 0), writeRows };
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
/** What the kernel dropped of the flow (FlowDrops): RFC 7012 §5.10's counters, IP bytes as octetDeltaCount's. */
const DROPS: Field[] = [
  [IE.droppedOctetDeltaCount, 8],
  [IE.droppedPacketDeltaCount, 8],
];

/** The templates every export announces, indexed by templateIndex(): kind * 2 + tagged. */
export const FLOW_TEMPLATES: readonly FlowTemplate[] = [
  template(256, "IPv4", IPV4_FIELDS, (f, rows, from, to, out, at) => writeIpRows(f, rows, from, to, out, at, false, false, false)),
  template(257, "IPv4 + VLAN", [...IPV4_FIELDS, VLAN], (f, rows, from, to, out, at) => writeIpRows(f, rows, from, to, out, at, false, true, false)),
  template(258, "IPv6", IPV6_FIELDS, (f, rows, from, to, out, at) => writeIpRows(f, rows, from, to, out, at, true, false, false)),
  template(259, "IPv6 + VLAN", [...IPV6_FIELDS, VLAN], (f, rows, from, to, out, at) => writeIpRows(f, rows, from, to, out, at, true, true, false)),
  template(260, "non-IP", NON_IP_FIELDS, (f, rows, from, to, out, at) => writeNonIpRows(f, rows, from, to, out, at, false)),
  template(261, "non-IP + VLAN", [...NON_IP_FIELDS, VLAN], (f, rows, from, to, out, at) => writeNonIpRows(f, rows, from, to, out, at, true)),
];

/**
 * The IP templates' twins for flows with drops, announced once a flow has
 * them: DROPS_TEMPLATES[t] is FLOW_TEMPLATES[t] with DROPS at the end. Ids
 * after the options templates' 262 and 263, which keep theirs. Drops are of
 * IP packets only (bpf/drops.bpf.c parses IPv4 and IPv6): non-IP has no twin.
 */
export const DROPS_TEMPLATES: readonly FlowTemplate[] = [
  template(264, "IPv4 + drops", [...IPV4_FIELDS, ...DROPS], (f, rows, from, to, out, at) => writeIpRows(f, rows, from, to, out, at, false, false, true)),
  template(265, "IPv4 + VLAN + drops", [...IPV4_FIELDS, VLAN, ...DROPS], (f, rows, from, to, out, at) => writeIpRows(f, rows, from, to, out, at, false, true, true)),
  template(266, "IPv6 + drops", [...IPV6_FIELDS, ...DROPS], (f, rows, from, to, out, at) => writeIpRows(f, rows, from, to, out, at, true, false, true)),
  template(267, "IPv6 + VLAN + drops", [...IPV6_FIELDS, VLAN, ...DROPS], (f, rows, from, to, out, at) => writeIpRows(f, rows, from, to, out, at, true, true, true)),
];

/**
 * Every template a flow record is written with, indexed by
 * recordTemplateIndex(): FLOW_TEMPLATES, then DROPS_TEMPLATES (the encoder
 * writes them in this order, so a batch without drops is written as before).
 */
export const RECORD_TEMPLATES: readonly FlowTemplate[] = [...FLOW_TEMPLATES, ...DROPS_TEMPLATES];

/** Which of FLOW_TEMPLATES row i of these raw rows is written with (drops aside: recordTemplateIndex). */
export function templateIndex(keys: Uint8Array, metrics: Uint8Array, i: number): number {
  const k = i * KEY + K_ETH;
  const ethType = keys[k]! | (keys[k + 1]! << 8);
  const m = i * METRICS + M_VLAN;
  const tagged = (metrics[m]! | metrics[m + 1]!) !== 0 ? 1 : 0;
  // An IP flow whose addresses the kernel could not read (truncated) still has the mapped/zero form; IPv4 is told by EtherType.
  return (ethType === 0x0800 ? 0 : ethType === 0x86dd ? 2 : 4) + tagged;
}

/** templateIndex() of an IP row with drops → its index in RECORD_TEMPLATES (DROPS_TEMPLATES follow FLOW_TEMPLATES). */
const DROPS_OFFSET = FLOW_TEMPLATES.length;

/** Which of RECORD_TEMPLATES row i of `flows` is written with: its FLOW_TEMPLATES one, or that one's "+ drops" twin. */
export function recordTemplateIndex(flows: FlowColumns, i: number): number {
  const t = templateIndex(flows.keys, flows.metrics, i);
  return t < DROPS_TEMPLATES.length && flows.drops(i) !== undefined ? t + DROPS_OFFSET : t;
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

/**
 * The options template (RFC 7011 §3.4.2, RFC 5476 §6.5 "Selector Report
 * Interpretation") telling a collector that the flows of an observation
 * domain were counted from 1 packet in N, chosen at random: scope
 * selectorId = N; samplingInterval (34) = N for nfdump and goflow2;
 * selectorAlgorithm (304) = 3, "Random n-out-of-N Sampling" (RFC 5475), with
 * its parameters samplingSize (309) = 1 and samplingPopulation (310) = N for
 * pmacct and the PSAMP-minded rest. Sent only in a sampled flows' domain
 * (ipfix-encoder.ts says why).
 *
 * No samplingAlgorithm (35): nfdump 1.7.1 (Debian 12, src/netflow/ipfix.c)
 * treats an options template as a sampler only when its flags are exactly
 * {34} or exactly {306} among {34, 35} and {302, 304, 306}: 34 with 35 is
 * ignored (the flows stay unscaled); 34 with 304 reads as sampler id 0 with
 * interval N, which every record without a selectorId uses. Later nfdump
 * releases take 34 alone too. No selectorId outside the scope for the same
 * reason (302 among the fields makes 1.7.1 ignore the template).
 */
export const SAMPLING_TEMPLATE = {
  id: 263,
  scopeFields: [[IE.selectorId, 4]] as readonly Field[],
  fields: [
    [IE.samplingInterval, 4],
    [IE.selectorAlgorithm, 2],
    [IE.samplingSize, 4],
    [IE.samplingPopulation, 4],
  ] as readonly Field[],
  /** Bytes of its one record. */
  recordLength: 18,
  /** selectorAlgorithm: Random n-out-of-N Sampling (IANA "Packet Selection Methods"). */
  randomNOutOfN: 3,
} as const;
