/**
 * Human names for the numbers of a flow: protocols, EtherTypes, flags,
 * addresses; and the JSON line `run` prints per flow, read straight from
 * FlowColumns (flowJsonLine) or built as an object from a FlowRecord
 * (flowToJson, the reference shape the tests hold it to).
 */
import { OWNER_SOURCES, type FlowColumns } from "./flow-columns.ts";
import type { FlowOwner, FlowRecord } from "./flow-record.ts";
import { rcodeName, type FlowDns } from "./flow-dns.ts";
import type { FlowRtt } from "./flow-rtt.ts";
import { tcpStateName, type FlowDrops } from "./flow-drops.ts";

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

/** Whether the 16 bytes at `at` are ::ffff:a.b.c.d. */
export function isIpv4Mapped(addr: Uint8Array, at = 0): boolean {
  for (let i = at; i < at + 10; i++) if (addr[i] !== 0) return false;
  return addr[at + 10] === 0xff && addr[at + 11] === 0xff;
}

/** Dotted quad for IPv4-mapped addresses, RFC 5952 text for IPv6, "" for a non-IP flow. */
export function addressText(addr: Uint8Array, ethType: number): string {
  return addressTextAt(addr, 0, ethType);
}

/** addressText of the 16 bytes at `at` in `bytes` (FlowColumns.keys + srcAddrAt(i)), without copying them. */
export function addressTextAt(bytes: Uint8Array, at: number, ethType: number): string {
  // The kernel leaves addresses all-zero when it could not read them (truncated, not IP).
  if (isIpv4Mapped(bytes, at)) return `${bytes[at + 12]}.${bytes[at + 13]}.${bytes[at + 14]}.${bytes[at + 15]}`;
  if (ethType !== 0x86dd) return "";
  const groups: number[] = [];
  for (let i = at; i < at + 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!);
  if (groups.every((g) => g === 0)) return "";
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
  return macTextAt(mac, 0);
}

/** macText of the 6 bytes at `at` (FlowColumns.metrics + srcMacAt(i)). */
export function macTextAt(b: Uint8Array, at: number): string {
  return `${HEX_BYTE[b[at]!]}:${HEX_BYTE[b[at + 1]!]}:${HEX_BYTE[b[at + 2]!]}:${HEX_BYTE[b[at + 3]!]}:${HEX_BYTE[b[at + 4]!]}:${HEX_BYTE[b[at + 5]!]}`;
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
  /** Frame bytes: what the device carried, link-layer header included. */
  bytes: number;
  /** IP header and payload (bytes less each packet's link-layer header): IP flows whose link-layer length is known. */
  ipBytes?: number;
  /**
   * N when the flow was sampled 1 in N (--sampling, a rule's sample=N):
   * packets, bytes and ipBytes count the sampled packets; N times them
   * estimates the wire. Absent: every packet was counted.
   */
  sampling?: number;
  /** Outermost 802.1Q VLAN ID, when tagged. */
  vlan?: number;
  start: string;
  end: string;
  tcpFlags: string[];
  dscp: number;
  icmpType?: number;
  icmpCode?: number;
  fragment?: true;
  truncated?: true;
  /**
   * The process and cgroup owning the flow's local socket (--enable-process):
   * `source` says how it was found ("none": no local socket, e.g. forwarded);
   * fields that are not known are left out.
   */
  owner?: OwnerJson;
  /** The flow's last DNS transaction (--enable-dns), on the flow that carried the response. */
  dns?: DnsJson;
  /** The smoothed RTT of the flow's TCP connection over the interval (--enable-rtt), both directions. */
  rtt?: RttJson;
  /** What the kernel dropped of the flow over the interval, and the latest drop's reason (--enable-drops). */
  drops?: DropsJson;
}

export interface DropsJson {
  packets: number;
  /** IP bytes (header and payload), as nft counters count them. */
  bytes: number;
  /** The latest drop's reason, named by the running kernel (enum skb_drop_reason without SKB_DROP_REASON_): "NETFILTER_DROP", "NO_SOCKET", "QDISC_DROP", … */
  reason: string;
  /** That reason's number in the running kernel (it differs between kernels). */
  reasonCode: number;
  /** The TCP state of the dropped packet's socket, where one was known ("ESTABLISHED", …). */
  tcpState?: string;
  /** The latest dropped TCP packet's flags (TCP only). */
  tcpFlags?: string[];
}

/** The drops' JSON, in the order flowJsonLine writes it. */
export function dropsToJson(d: FlowDrops): DropsJson {
  return {
    packets: d.packets,
    bytes: d.bytes,
    reason: d.reason,
    reasonCode: d.reasonCode,
    ...(d.tcpState ? { tcpState: tcpStateName(d.tcpState) } : {}),
    ...(d.tcpFlags ? { tcpFlags: tcpFlagNames(d.tcpFlags) } : {}),
  };
}

export interface RttJson {
  /** After the interval's last sample, ms to the µs (what `ss -ti` prints as rtt). */
  latestMs: number;
  minMs: number;
  maxMs: number;
}

const nsToMs = (ns: number) => Math.round(ns / 1000) / 1000;

/** The RTT's JSON, in the order flowJsonLine writes it. */
export function rttToJson(r: FlowRtt): RttJson {
  return { latestMs: nsToMs(r.latestNs), minMs: nsToMs(r.minNs), maxMs: nsToMs(r.maxNs) };
}

export interface DnsJson {
  id: number;
  /** Header bytes 2-3 of the response, as a number (QR 0x8000 … RCODE in the low 4 bits). */
  flags: number;
  /** The response code by name: "NOERROR", "NXDOMAIN", "SERVFAIL", … */
  rcode: string;
  /** Response time − query time at this interface, ms, to the µs. */
  latencyMs: number;
  /** The question's name (at most 64 bytes of it on the wire; a cut label ends with "…"). */
  name: string;
}

/** The DNS transaction's JSON, in the order flowJsonLine writes it. */
export function dnsToJson(d: FlowDns): DnsJson {
  return { id: d.id, flags: d.flags, rcode: rcodeName(d.flags), latencyMs: Math.round(d.latencyNs / 1000) / 1000, name: d.name };
}

export interface OwnerJson {
  source: FlowOwner["source"];
  pid?: number;
  comm?: string;
  cgroupId?: number;
  cgroupPath?: string;
  containerId?: string;
  socketCookie?: number;
}

/** The owner's JSON, known fields only, in the order flowJsonLine writes them. */
export function ownerToJson(o: FlowOwner): OwnerJson {
  const json: OwnerJson = { source: o.source };
  if (o.pid) json.pid = o.pid;
  if (o.comm) json.comm = o.comm;
  if (o.cgroupId) json.cgroupId = o.cgroupId;
  if (o.cgroupPath !== undefined) json.cgroupPath = o.cgroupPath;
  if (o.containerId) json.containerId = o.containerId;
  if (o.socketCookie) json.socketCookie = o.socketCookie;
  return json;
}

const isIp = (ethType: number) => ethType === 0x0800 || ethType === 0x86dd;

export function flowToJson(r: FlowRecord): FlowJson {
  // Built in the order flowJsonLine writes its keys: the tests compare the two texts.
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
  } as FlowJson;
  if (isIp(r.ethType) && r.l2HeaderLen !== undefined) json.ipBytes = r.bytes - r.packets * r.l2HeaderLen;
  if (r.sampling !== undefined && r.sampling > 1) json.sampling = r.sampling;
  if (r.vlanId) json.vlan = r.vlanId;
  json.start = new Date(r.startMs).toISOString();
  json.end = new Date(r.endMs).toISOString();
  json.tcpFlags = tcpFlagNames(r.tcpFlags);
  json.dscp = r.dscp;
  if (r.protocol === 1 || r.protocol === 58) {
    json.icmpType = r.icmpType;
    json.icmpCode = r.icmpCode;
  }
  if (r.flags & 1) json.fragment = true;
  if (r.flags & 2) json.truncated = true;
  if (r.owner) json.owner = ownerToJson(r.owner);
  if (r.dns) json.dns = dnsToJson(r.dns);
  if (r.rtt) json.rtt = rttToJson(r.rtt);
  if (r.drops) json.drops = dropsToJson(r.drops);
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

/**
 * Row i of `flows` as JSON text: exactly JSON.stringify(flowToJson(flows.record(i)))
 * (test/flow/flow-format.test.ts holds the two equal), written directly from
 * the columns: no object per flow on the stdout hot path.
 */
export function flowJsonLine(flows: FlowColumns, i: number): string {
  const ethType = flows.ethType(i);
  const protocol = flows.protocol(i);
  const keys = flows.keys;
  const metrics = flows.metrics;
  let line =
    `{"interface":${quoted(flows.interfaceName(i))},"ifindex":${flows.ifindex(i)},"direction":"${flows.direction(i) === 1 ? "egress" : "ingress"}"` +
    `,"etherType":${quoted(ethTypeName(ethType))},"srcMac":"${macTextAt(metrics, flows.srcMacAt(i))}","dstMac":"${macTextAt(metrics, flows.dstMacAt(i))}"` +
    `,"srcAddr":"${addressTextAt(keys, flows.srcAddrAt(i), ethType)}","dstAddr":"${addressTextAt(keys, flows.dstAddrAt(i), ethType)}"` +
    `,"srcPort":${flows.srcPort(i)},"dstPort":${flows.dstPort(i)},"protocol":${quoted(protocolName(protocol, ethType))}` +
    `,"packets":${flows.packets(i)},"bytes":${flows.bytes(i)}`;
  if (flows.linkHeaderKnown && isIp(ethType)) line += `,"ipBytes":${flows.ipBytes(i)}`;
  const sampling = flows.sampling(i);
  if (sampling > 1) line += `,"sampling":${sampling}`;
  const vlan = flows.vlanId(i);
  if (vlan !== 0) line += `,"vlan":${vlan}`;
  line +=
    `,"start":"${isoText(Math.floor(flows.startMs[i]!))}","end":"${isoText(Math.floor(flows.endMs[i]!))}"` +
    `,"tcpFlags":${TCP_FLAGS_JSON[flows.tcpFlags(i)]},"dscp":${flows.dscp(i)}`;
  if (protocol === 1 || protocol === 58) line += `,"icmpType":${flows.icmpType(i)},"icmpCode":${flows.icmpCode(i)}`;
  const flags = flows.flags(i);
  if (flags & 1) line += `,"fragment":true`;
  if (flags & 2) line += `,"truncated":true`;
  const source = OWNER_SOURCES[flows.ownerSource(i)];
  if (source !== undefined) line += `,"owner":${ownerJsonText(flows, i, source)}`;
  const dns = flows.dns(i);
  if (dns) line += `,"dns":${JSON.stringify(dnsToJson(dns))}`;
  const rtt = flows.rtt(i);
  if (rtt) line += `,"rtt":${JSON.stringify(rttToJson(rtt))}`;
  const drops = flows.drops(i);
  if (drops) line += `,"drops":${JSON.stringify(dropsToJson(drops))}`;
  return line + "}";
}

function ownerJsonText(flows: FlowColumns, i: number, source: string): string {
  let text = `{"source":"${source}"`;
  const pid = flows.ownerPid(i);
  if (pid) text += `,"pid":${pid}`;
  const comm = flows.ownerComm(i);
  if (comm) text += `,"comm":${JSON.stringify(comm)}`;
  const cgroupId = flows.cgroupId(i);
  if (cgroupId) {
    text += `,"cgroupId":${cgroupId}`;
    const cgroup = flows.cgroup(i);
    if (cgroup) {
      text += `,"cgroupPath":${quoted(cgroup.path)}`;
      if (cgroup.containerId) text += `,"containerId":"${cgroup.containerId}"`;
    }
  }
  const cookie = flows.socketCookie(i);
  if (cookie) text += `,"socketCookie":${cookie}`;
  return text + "}";
}
