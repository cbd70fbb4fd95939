/** Human names for the numbers in a FlowRecord: protocols, EtherTypes, flags, addresses. */
import type { FlowRecord } from "./flow-record.ts";

const protocolNames: Record<number, string> = {
  1: "ICMP", 2: "IGMP", 4: "IPIP", 6: "TCP", 17: "UDP", 41: "IPv6", 43: "IPv6-Route", 44: "IPv6-Frag",
  47: "GRE", 50: "ESP", 51: "AH", 58: "ICMPv6", 59: "IPv6-NoNxt", 60: "IPv6-Opts", 89: "OSPF",
  112: "VRRP", 132: "SCTP", 136: "UDPLite",
};

const ethTypeNames: Record<number, string> = {
  0x0800: "IPv4", 0x0806: "ARP", 0x86dd: "IPv6", 0x8100: "802.1Q", 0x88a8: "802.1ad", 0x8847: "MPLS",
  0x8848: "MPLS-multicast", 0x88cc: "LLDP", 0x8035: "RARP", 0x888e: "EAPOL", 0x88f7: "PTP",
};

/** RFC 9293 bit order, NS (RFC 3540) as bit 8. */
const tcpFlagBits: [number, string][] = [
  [0x01, "FIN"], [0x02, "SYN"], [0x04, "RST"], [0x08, "PSH"], [0x10, "ACK"], [0x20, "URG"],
  [0x40, "ECE"], [0x80, "CWR"], [0x100, "NS"],
];

export function protocolName(protocol: number, ethType: number): string {
  if (ethType !== 0x0800 && ethType !== 0x86dd) return ethTypeName(ethType);
  return protocolNames[protocol] ?? String(protocol);
}

export function ethTypeName(ethType: number): string {
  return ethTypeNames[ethType] ?? `0x${ethType.toString(16).padStart(4, "0")}`;
}

export function tcpFlagNames(flags: number): string[] {
  return tcpFlagBits.filter(([bit]) => flags & bit).map(([, name]) => name);
}

export function isIpv4Mapped(addr: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (addr[i] !== 0) return false;
  return addr[10] === 0xff && addr[11] === 0xff;
}

/** Dotted quad for IPv4-mapped addresses, RFC 5952 text for IPv6, "" for a non-IP flow. */
export function addressText(addr: Uint8Array, ethType: number): string {
  // The kernel leaves addresses all-zero when it could not read them (truncated, not IP).
  if (isIpv4Mapped(addr)) return `${addr[12]}.${addr[13]}.${addr[14]}.${addr[15]}`;
  if (ethType !== 0x86dd || addr.every((b) => b === 0)) return "";
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((addr[i]! << 8) | addr[i + 1]!);
  // RFC 5952: compress the longest run (length ≥ 2) of zero groups, the first one on ties.
  let bestStart = -1, bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLen).join(":")}`;
}

const HEX_BYTE = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"));

export function macText(mac: Uint8Array): string {
  return `${HEX_BYTE[mac[0]!]}:${HEX_BYTE[mac[1]!]}:${HEX_BYTE[mac[2]!]}:${HEX_BYTE[mac[3]!]}:${HEX_BYTE[mac[4]!]}:${HEX_BYTE[mac[5]!]}`;
}

/** The JSON shape of a flow, as `run` prints it (one object per line). */
export interface FlowJson {
  interface: string;
  ifindex: number;
  direction: "ingress" | "egress";
  etherType: string;
  srcMac: string;
  dstMac: string;
  srcAddr: string;
  dstAddr: string;
  srcPort: number;
  dstPort: number;
  protocol: string;
  packets: number;
  bytes: number;
  start: string;
  end: string;
  tcpFlags: string[];
  dscp: number;
  icmpType?: number;
  icmpCode?: number;
  fragment?: true;
  truncated?: true;
}

export function flowToJson(r: FlowRecord): FlowJson {
  const json: FlowJson = {
    interface: r.interface,
    ifindex: r.ifindex,
    direction: r.direction,
    etherType: ethTypeName(r.ethType),
    srcMac: macText(r.srcMac),
    dstMac: macText(r.dstMac),
    srcAddr: addressText(r.srcAddr, r.ethType),
    dstAddr: addressText(r.dstAddr, r.ethType),
    srcPort: r.srcPort,
    dstPort: r.dstPort,
    protocol: protocolName(r.protocol, r.ethType),
    packets: r.packets,
    bytes: r.bytes,
    start: new Date(r.startMs).toISOString(),
    end: new Date(r.endMs).toISOString(),
    tcpFlags: tcpFlagNames(r.tcpFlags),
    dscp: r.dscp,
  };
  if (r.protocol === 1 || r.protocol === 58) {
    json.icmpType = r.icmpType;
    json.icmpCode = r.icmpCode;
  }
  if (r.flags & 1) json.fragment = true;
  if (r.flags & 2) json.truncated = true;
  return json;
}

const quotedNames = new Map<string, string>();
const quoted = (name: string) => {
  let q = quotedNames.get(name);
  if (q === undefined) {
    q = JSON.stringify(name);
    if (quotedNames.size < 65536) quotedNames.set(name, q);
  }
  return q;
};

/**
 * The same object as JSON.stringify(flowToJson(r)), written directly: the
 * stdout hot path, several times faster than building the object first
 * (test/flow/flow-format.test.ts holds the two equal).
 */
/** JSON text of tcpFlagNames for every 9-bit value, built once. */
const TCP_FLAGS_JSON = Array.from({ length: 512 }, (_, v) => JSON.stringify(tcpFlagNames(v)));

/** ISO-8601 text of a ms timestamp; the part up to the second is reused while the second is the same. */
let isoSecond = NaN;
let isoPrefix = "";
function isoText(ms: number): string {
  const second = Math.floor(ms / 1000);
  if (second !== isoSecond || !Number.isInteger(ms) || ms < 0) {
    if (!Number.isInteger(ms) || ms < 0) return new Date(ms).toISOString();
    isoSecond = second;
    isoPrefix = new Date(second * 1000).toISOString().slice(0, 20); // "2026-11-25T12:00:01."
  }
  const milli = ms - second * 1000;
  return `${isoPrefix}${milli < 10 ? "00" : milli < 100 ? "0" : ""}${milli}Z`;
}

export function flowToJsonLine(r: FlowRecord): string {
  let line =
    `{"interface":${quoted(r.interface)},"ifindex":${r.ifindex},"direction":"${r.direction}","etherType":${quoted(ethTypeName(r.ethType))}` +
    `,"srcMac":"${macText(r.srcMac)}","dstMac":"${macText(r.dstMac)}","srcAddr":"${addressText(r.srcAddr, r.ethType)}","dstAddr":"${addressText(r.dstAddr, r.ethType)}"` +
    `,"srcPort":${r.srcPort},"dstPort":${r.dstPort},"protocol":${quoted(protocolName(r.protocol, r.ethType))},"packets":${r.packets},"bytes":${r.bytes}` +
    `,"start":"${isoText(Math.floor(r.startMs))}","end":"${isoText(Math.floor(r.endMs))}","tcpFlags":${TCP_FLAGS_JSON[r.tcpFlags & 0x1ff]},"dscp":${r.dscp}`;
  if (r.protocol === 1 || r.protocol === 58) line += `,"icmpType":${r.icmpType},"icmpCode":${r.icmpCode}`;
  if (r.flags & 1) line += `,"fragment":true`;
  if (r.flags & 2) line += `,"truncated":true`;
  return line + "}";
}
