/**
 * The Watch filter (netflow.v1.FlowFilter) checked once and compiled into a
 * predicate over rows of FlowColumns: it reads the fields it needs in place,
 * no object per flow. Each non-empty list must match (AND), any entry of a
 * list matches (OR); an empty filter matches every flow. The owner lists
 * (pid, command name, cgroup path, container id) match only flows with an
 * owner (--enable-process); a command name is compared in the row's bytes.
 * The enrichment fields (DNS latency and response codes, RTT, drops and their
 * reasons) match only flows that carry the enrichment (--enable-dns,
 * --enable-rtt, --enable-drops). An invalid entry is a ConnectError
 * INVALID_ARGUMENT naming the field, the value and what is allowed.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { type FlowColumns, OWNER_COMM_BYTES } from "../flow/flow-columns.ts";
import { rcodeName } from "../flow/flow-dns.ts";
import type { FlowFilter } from "../gen/netflow/v1/agent_pb.ts";
import { parseIpPrefix, prefixContains, type IpPrefix } from "../net/ip-prefix.ts";

/** Whether row `row` of `flows` matches. */
export type RowPredicate = (flows: FlowColumns, row: number) => boolean;

export interface CompiledFlowFilter {
  matches: RowPredicate;
  /**
   * Equal for filters that match the same flows however they were written
   * (order, case, "17" or "udp", host bits): Watch streams with equal keys
   * share one encoding of each batch.
   */
  key: string;
}

/** The filter as plain lists: what `top` and other clients build. */
export interface FlowFilterSpec {
  cidrs?: readonly string[];
  ports?: readonly number[];
  protocols?: readonly string[];
  interfaces?: readonly string[];
  /** The owner of the flow's local socket (--enable-process): pids, command names (exact), cgroup paths (that cgroup or below), container ids or prefixes. */
  pids?: readonly number[];
  comms?: readonly string[];
  cgroupPaths?: readonly string[];
  containerIds?: readonly string[];
  /** Enrichments (flows without the field match none of these): DNS latency at least this many ns (FlowFilter.min_dns_latency); */
  minDnsLatencyNs?: number;
  /** DNS response codes by name ("NXDOMAIN", any case, or "RCODE<n>"); */
  dnsRcodes?: readonly string[];
  /** the largest smoothed RTT in the interval at least this many ns (FlowFilter.min_rtt); */
  minRttNs?: number;
  /** only flows with drops; */
  dropped?: boolean;
  /** the latest drop's reason by the kernel's name ("NETFILTER_DROP", any case). */
  dropReasons?: readonly string[];
}

/** FlowFilter's Duration fields, as the lists have them. */
interface DurationField {
  seconds: bigint;
  nanos: number;
}

/** IANA protocol numbers by the names users type (lower case). */
export const PROTOCOL_NUMBERS: Readonly<Record<string, number>> = {
  icmp: 1, igmp: 2, ipip: 4, tcp: 6, udp: 17, ipv6: 41, gre: 47, esp: 50, ah: 51,
  icmpv6: 58, "ipv6-icmp": 58, ospf: 89, vrrp: 112, sctp: 132, udplite: 136,
};

function invalid(message: string): ConnectError {
  return new ConnectError(message, Code.InvalidArgument);
}

/** A protocol name or number 0-255; throws INVALID_ARGUMENT otherwise. */
export function parseProtocol(text: string): number {
  const name = text.trim().toLowerCase();
  if (/^\d{1,3}$/.test(name) && Number(name) <= 255) return Number(name);
  const number = PROTOCOL_NUMBERS[name];
  if (number === undefined)
    throw invalid(`filter.protocols "${text}" must be a protocol number 0-255 or one of: ${Object.keys(PROTOCOL_NUMBERS).join(", ")}`);
  return number;
}

function parseCidr(text: string): IpPrefix {
  const prefix = parseIpPrefix(text);
  if (!prefix) throw invalid(`filter.cidrs "${text}" must be an IPv4 or IPv6 address or CIDR (examples: 10.0.0.0/8, fd00::/8, 192.0.2.7)`);
  return prefix;
}

function checkPort(port: number): number {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw invalid(`filter.ports ${port} must be >= 1 and <= 65535`);
  return port;
}

function checkInterface(name: string): string {
  if (name.length === 0 || name.length > 15 || /[\s/]/.test(name))
    throw invalid(`filter.interfaces "${name}" must be an interface name (1-15 characters, no spaces or "/")`);
  return name;
}

/** PID_MAX_LIMIT (include/linux/threads.h): no pid is larger on 64-bit kernels. */
const PID_MAX = 4_194_304;
const utf8 = new TextEncoder();

function checkPid(pid: number): number {
  if (!Number.isInteger(pid) || pid < 1 || pid > PID_MAX) throw invalid(`filter.pids ${pid} must be >= 1 and <= ${PID_MAX}`);
  return pid;
}

/** A command name as the row holds it: its UTF-8, at most TASK_COMM_LEN - 1 bytes. */
function parseComm(comm: string): Uint8Array {
  const bytes = utf8.encode(comm);
  if (bytes.length === 0 || bytes.length >= OWNER_COMM_BYTES)
    throw invalid(`filter.comms "${comm}" must be a command name of 1-${OWNER_COMM_BYTES - 1} bytes (the kernel keeps no more)`);
  return bytes;
}

/** "/a/b/" as "/a/b"; "/" stays. */
function parseCgroupPath(path: string): string {
  if (!path.startsWith("/") || /\s/.test(path)) throw invalid(`filter.cgroup_paths "${path}" must be a cgroup path under the cgroup v2 mount, starting with "/" (example: /system.slice)`);
  return path.length > 1 ? path.replace(/\/+$/, "") || "/" : path;
}

function parseContainerId(id: string): string {
  const lower = id.toLowerCase();
  if (!/^[0-9a-f]{1,64}$/.test(lower)) throw invalid(`filter.container_ids "${id}" must be a container id or its prefix (1-64 hex digits)`);
  return lower;
}

/** A threshold in ns, >= 0: a Duration (its seconds and nanos of one sign, nanos under 1 s) or a number of ns. */
function checkThreshold(field: string, value: DurationField | number | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value === "number") {
    if (!Number.isFinite(value) || value < 0) throw invalid(`filter.${field} ${value} ns must be >= 0`);
    return value;
  }
  const ns = Number(value.seconds) * 1e9 + value.nanos;
  if (ns < 0 || Math.abs(value.nanos) >= 1e9 || (value.seconds > 0n && value.nanos < 0)) throw invalid(`filter.${field} ${ns / 1e9}s must be a duration >= 0`);
  return ns;
}

/** RCODE names by code (0-15, the header's 4 bits): NOERROR … NOTZONE, then RCODE11-RCODE15. */
const RCODE_NAMES = Array.from({ length: 16 }, (_, code) => rcodeName(code));

function parseRcode(text: string): number {
  const name = text.trim().toUpperCase();
  const code = RCODE_NAMES.indexOf(name);
  if (code >= 0) return code;
  const numbered = /^RCODE(\d{1,2})$/.exec(name);
  if (numbered && Number(numbered[1]) < 16) return Number(numbered[1]);
  throw invalid(`filter.dns_rcodes "${text}" must be a DNS response code name (${RCODE_NAMES.slice(0, 11).join(", ")}, any case) or RCODE0-RCODE15`);
}

/** A kernel drop reason's name (enum skb_drop_reason without its prefix), upper case; or UNKNOWN(<n>) as the agent names a number it cannot. */
function parseDropReason(text: string): string {
  const name = text.trim().toUpperCase();
  if (!/^[A-Z][A-Z0-9_]{0,63}$/.test(name) && !/^UNKNOWN\(\d{1,10}\)$/.test(name))
    throw invalid(`filter.drop_reasons "${text}" must be a drop reason as the kernel names it (letters, digits and "_", example: NETFILTER_DROP)`);
  return name;
}

/** Whether row i's command name is exactly `comm`, compared in place. */
function commIs(flows: FlowColumns, i: number, comm: Uint8Array): boolean {
  const at = flows.ownerCommAt(i);
  const metrics = flows.metrics;
  for (let k = 0; k < comm.length; k++) if (metrics[at + k] !== comm[k]) return false;
  return metrics[at + comm.length] === 0;
}

function anyCommIs(flows: FlowColumns, i: number, comms: readonly Uint8Array[]): boolean {
  for (const comm of comms) if (commIs(flows, i, comm)) return true;
  return false;
}

/** The row's cgroup is one of `paths` or below one. */
function inCgroup(path: string | undefined, paths: readonly string[]): boolean {
  if (path === undefined) return false;
  for (const p of paths) if (p === "/" || path === p || (path.startsWith(p) && path[p.length] === "/")) return true;
  return false;
}

function inContainer(id: string | undefined, prefixes: readonly string[]): boolean {
  if (id === undefined) return false;
  for (const p of prefixes) if (id.startsWith(p)) return true;
  return false;
}

function anyPrefixContains(prefixes: readonly IpPrefix[], keys: Uint8Array, src: number, dst: number): boolean {
  for (const p of prefixes) if (prefixContains(p, keys, src) || prefixContains(p, keys, dst)) return true;
  return false;
}

const sorted = <T extends string | number>(values: Iterable<T>) => [...values].sort();

/** Validates `filter` and returns its predicate; no filter matches everything. */
export function compileFlowFilter(filter: FlowFilter | FlowFilterSpec | undefined): CompiledFlowFilter {
  const prefixes = (filter?.cidrs ?? []).map(parseCidr);
  const ports = new Set((filter?.ports ?? []).map(checkPort));
  const protocols = new Set((filter?.protocols ?? []).map(parseProtocol));
  const interfaces = new Set((filter?.interfaces ?? []).map(checkInterface));
  const pids = new Set((filter?.pids ?? []).map(checkPid));
  const commTexts = new Set(filter?.comms ?? []);
  const comms = [...commTexts].map(parseComm);
  const cgroupPaths = [...new Set((filter?.cgroupPaths ?? []).map(parseCgroupPath))];
  const containerIds = [...new Set((filter?.containerIds ?? []).map(parseContainerId))];
  // A FlowFilter message's Durations, or the lists' ns.
  const proto = filter as Partial<FlowFilter> | undefined;
  const spec = filter as FlowFilterSpec | undefined;
  const minDnsNs = checkThreshold("min_dns_latency", proto?.minDnsLatency ?? spec?.minDnsLatencyNs);
  const minRttNs = checkThreshold("min_rtt", proto?.minRtt ?? spec?.minRttNs);
  const rcodes = new Set((filter?.dnsRcodes ?? []).map(parseRcode));
  const dropReasons = new Set((filter?.dropReasons ?? []).map(parseDropReason));
  const dropped = filter?.dropped === true;
  const prefixTexts = new Set(prefixes.map((p) => `${Buffer.from(p.bytes).toString("hex")}/${p.bits}`));
  const key = JSON.stringify([
    sorted(prefixTexts), sorted(ports), sorted(protocols), sorted(interfaces),
    sorted(pids), sorted(commTexts), sorted(cgroupPaths), sorted(containerIds),
    minDnsNs ?? null, sorted(rcodes), minRttNs ?? null, dropped, sorted(dropReasons),
  ]);
  const byOwner = pids.size > 0 || comms.length > 0 || cgroupPaths.length > 0 || containerIds.length > 0;
  const byDns = minDnsNs !== undefined || rcodes.size > 0;
  const byDrops = dropped || dropReasons.size > 0;
  return {
    key,
    // The cheap checks first; the interface name is a lookup, the prefixes a byte compare each.
    matches(flows, i) {
      if (protocols.size > 0 && !protocols.has(flows.protocol(i))) return false;
      if (ports.size > 0 && !ports.has(flows.srcPort(i)) && !ports.has(flows.dstPort(i))) return false;
      if (interfaces.size > 0 && !interfaces.has(flows.interfaceName(i))) return false;
      if (prefixes.length > 0 && !anyPrefixContains(prefixes, flows.keys, flows.srcAddrAt(i), flows.dstAddrAt(i))) return false;
      if (byOwner) {
        if (pids.size > 0 && !pids.has(flows.ownerPid(i))) return false;
        if (comms.length > 0 && !anyCommIs(flows, i, comms)) return false;
        if (cgroupPaths.length > 0 || containerIds.length > 0) {
          const cgroup = flows.cgroup(i);
          if (cgroupPaths.length > 0 && !inCgroup(cgroup?.path, cgroupPaths)) return false;
          if (containerIds.length > 0 && !inContainer(cgroup?.containerId, containerIds)) return false;
        }
      }
      if (byDns) {
        const dns = flows.dns(i);
        if (!dns) return false;
        if (minDnsNs !== undefined && dns.latencyNs < minDnsNs) return false;
        if (rcodes.size > 0 && !rcodes.has(dns.flags & 0xf)) return false;
      }
      if (minRttNs !== undefined) {
        const rtt = flows.rtt(i);
        if (!rtt || rtt.maxNs < minRttNs) return false;
      }
      if (byDrops) {
        const drops = flows.drops(i);
        if (!drops) return false;
        if (dropReasons.size > 0 && !dropReasons.has(drops.reason.toUpperCase())) return false;
      }
      return true;
    },
  };
}
