/**
 * Filter rules (--filter, --filter-file): which packets the kernel counts.
 * This file is the grammar and its validation; filter-trie.ts turns rules
 * into the kernel's LPM trie entries, src/bpf/filter-maps.ts writes them.
 *
 *   RULE   = ACTION *(" " FIELD)          one rule; fields in any order, each at most once
 *   ACTION = "accept" | "reject"
 *   FIELD  = "cidr=" CIDR                 the source or the destination address is in CIDR
 *          | "src=" CIDR | "dst=" CIDR    only that address (at most one of cidr, src, dst)
 *          | "proto=" PROTO               tcp, udp, udplite, sctp, icmp, icmpv6, or 0-255
 *          | "port=" PORTS                the source or the destination port
 *          | "src-port=" PORTS | "dst-port=" PORTS   (not with port=)
 *          | "dir=" ("ingress" | "egress")
 *          | "icmp-type=" 0-255 | "icmp-code=" 0-255
 *          | "sample=" N                  1-in-N sampling of what it accepts (instead of --sampling)
 *   PORTS  = 0-65535 | 0-65535 "-" 0-65535
 *   CIDR   = an IPv4 or IPv6 address with an optional /length (no host bits set)
 *
 * A rule matches a packet when every field it has matches. An IPv4 CIDR
 * matches only IPv4 packets, an IPv6 CIDR only IPv6 ones. Port fields match
 * only TCP, UDP, UDP-Lite and SCTP packets whose ports were read (not later
 * fragments), ICMP fields only ICMP/ICMPv6. Of the rules matching a packet
 * the one with the longest CIDR prefix wins (no CIDR counts as /0); among
 * equal prefixes the first given (--filter rules in order, then
 * --filter-file's lines). Non-IP frames match no rule. A packet no rule
 * matches gets --filter-default: reject when any accept rule exists,
 * accept otherwise.
 */
import { ConfigError } from "../config-error.ts";
import { parseIpAddress, parseIpPrefix, type IpPrefix } from "../net/ip-prefix.ts";
import { MAX_FILTER_RULES } from "../bpf/flow-layout.ts";

export type FilterActionName = "accept" | "reject";
export type FilterDirectionName = "ingress" | "egress";

export interface PortRange {
  min: number;
  max: number;
}

export interface FilterCidr {
  /** Which address it is matched on: cidr= is either. */
  side: "src" | "dst" | "either";
  /** 16 bytes (IPv4 as IPv4-mapped IPv6) and bits over them (an IPv4 /24 is 120). */
  prefix: IpPrefix;
  family: 4 | 6;
  /** As written. */
  text: string;
}

export interface FilterRule {
  /** Its place among all rules, from 0: breaks ties between equal prefixes, and names its counter. */
  id: number;
  /** As written (trimmed): how messages and counters name it. */
  text: string;
  action: FilterActionName;
  cidr?: FilterCidr;
  protocol?: number;
  /** port=: either port in range. */
  port?: PortRange;
  srcPort?: PortRange;
  dstPort?: PortRange;
  direction?: FilterDirectionName;
  icmpType?: number;
  icmpCode?: number;
  /** sample=N: what it accepts is sampled 1 in N (in the kernel), instead of at --sampling. */
  sample?: number;
}

export interface FilterConfig {
  /** In winning order among equal prefixes: --filter's, then --filter-file's. */
  rules: FilterRule[];
  /** For packets no rule matches, non-IP frames among them. */
  defaultAction: FilterActionName;
}


export const PROTOCOLS: Record<string, number> = { icmp: 1, tcp: 6, udp: 17, icmpv6: 58, sctp: 132, udplite: 136 };
const PORT_PROTOCOLS = new Set([6, 17, 132, 136]);
const ICMP_PROTOCOLS = new Set([1, 58]);
const FIELDS = ["cidr", "src", "dst", "proto", "port", "src-port", "dst-port", "dir", "icmp-type", "icmp-code", "sample"] as const;
type FieldName = (typeof FIELDS)[number];

/** A rule that cannot be: the message says what is wrong with it (the caller adds where it came from). */
export class FilterRuleError extends Error {
  override readonly name = "FilterRuleError";
}

function integer(field: string, text: string, min: number, max: number): number {
  if (!/^\d+$/.test(text)) throw new FilterRuleError(`${field} "${text}" is not a whole number`);
  const n = Number(text);
  if (n < min || n > max) throw new FilterRuleError(`${field} ${text} must be >= ${min} and <= ${max}`);
  return n;
}

function portRange(field: string, text: string): PortRange {
  const match = /^(\d+)(?:-(\d+))?$/.exec(text);
  if (!match) throw new FilterRuleError(`${field} "${text}" must be a port 0-65535 or a range like 1000-2000`);
  const min = Number(match[1]);
  const max = match[2] === undefined ? min : Number(match[2]);
  if (min > 65535 || max > 65535) throw new FilterRuleError(`${field} "${text}" must be a port 0-65535 or a range like 1000-2000`);
  if (min > max) throw new FilterRuleError(`${field} "${text}": the range's start must be <= its end`);
  return { min, max };
}

function cidr(field: "cidr" | "src" | "dst", text: string): FilterCidr {
  const prefix = parseIpPrefix(text);
  if (!prefix) throw new FilterRuleError(`${field} "${text}" is not an IPv4 or IPv6 CIDR (examples: 198.18.0.0/15, fd00::/8, 198.18.0.1)`);
  const [address = ""] = text.split("/");
  const given = parseIpAddress(address)!;
  const family = address.includes(":") ? 6 : 4;
  if (given.some((byte, i) => byte !== prefix.bytes[i])) {
    const bits = family === 4 ? prefix.bits - 96 : prefix.bits;
    throw new FilterRuleError(`${field} "${text}" has host bits set (the network is ${prefixText(prefix.bytes, family)}/${bits})`);
  }
  return { side: field === "cidr" ? "either" : field, prefix, family, text };
}

function prefixText(bytes: Uint8Array, family: 4 | 6): string {
  if (family === 4) return [...bytes.subarray(12)].join(".");
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  // The longest run of zero groups becomes "::" (RFC 5952).
  let best = { at: -1, length: 1 };
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === "0") j++;
    if (j - i > best.length) best = { at: i, length: j - i };
    i = j === i ? i + 1 : j;
  }
  if (best.at < 0) return groups.join(":");
  return `${groups.slice(0, best.at).join(":")}::${groups.slice(best.at + best.length).join(":")}`;
}

function protocol(text: string): number {
  const named = PROTOCOLS[text];
  if (named !== undefined) return named;
  if (/^\d+$/.test(text) && Number(text) <= 255) return Number(text);
  throw new FilterRuleError(`proto "${text}" must be tcp, udp, udplite, sctp, icmp, icmpv6 or a number 0-255`);
}

/** One rule's text (see the grammar above); `id` is its place among all rules. Throws FilterRuleError. */
export function parseFilterRule(text: string, id: number): FilterRule {
  const words = text.trim().split(/\s+/).filter(Boolean);
  const [action, ...fields] = words;
  if (action === undefined) throw new FilterRuleError("empty rule (a rule starts with accept or reject)");
  if (action !== "accept" && action !== "reject") throw new FilterRuleError(`"${action}" must be accept or reject (a rule starts with its action)`);
  const rule: FilterRule = { id, text: words.join(" "), action };
  const seen = new Set<FieldName>();
  for (const word of fields) {
    const eq = word.indexOf("=");
    const name = (eq < 0 ? word : word.slice(0, eq)) as FieldName;
    if (!FIELDS.includes(name)) throw new FilterRuleError(`unknown field "${name}" (fields: ${FIELDS.join(", ")})`);
    const value = eq < 0 ? "" : word.slice(eq + 1);
    if (value === "") throw new FilterRuleError(`${name} needs a value (${name}=...)`);
    if (seen.has(name)) throw new FilterRuleError(`${name} is given twice`);
    seen.add(name);
    switch (name) {
      case "cidr":
      case "src":
      case "dst":
        if (rule.cidr) throw new FilterRuleError(`${name} and ${rule.cidr.side === "either" ? "cidr" : rule.cidr.side}: at most one of cidr, src, dst per rule`);
        rule.cidr = cidr(name, value);
        break;
      case "proto":
        rule.protocol = protocol(value);
        break;
      case "port":
        rule.port = portRange(name, value);
        break;
      case "src-port":
        rule.srcPort = portRange(name, value);
        break;
      case "dst-port":
        rule.dstPort = portRange(name, value);
        break;
      case "dir":
        if (value !== "ingress" && value !== "egress") throw new FilterRuleError(`dir "${value}" must be ingress or egress`);
        rule.direction = value;
        break;
      case "icmp-type":
        rule.icmpType = integer(name, value, 0, 255);
        break;
      case "icmp-code":
        rule.icmpCode = integer(name, value, 0, 255);
        break;
      case "sample":
        rule.sample = integer(name, value, 1, 2 ** 31);
        break;
    }
  }
  checkConsistent(rule);
  return rule;
}

/** Fields that together could never match a packet: said, not silently never matching. */
function checkConsistent(rule: FilterRule) {
  const ports = rule.port ? "port" : rule.srcPort ? "src-port" : rule.dstPort ? "dst-port" : undefined;
  if (rule.port && (rule.srcPort || rule.dstPort)) throw new FilterRuleError(`port and ${rule.srcPort ? "src-port" : "dst-port"}: use port (either port) or src-port/dst-port, not both`);
  const icmp = rule.icmpType !== undefined ? "icmp-type" : rule.icmpCode !== undefined ? "icmp-code" : undefined;
  if (ports && icmp) throw new FilterRuleError(`${ports} and ${icmp}: ICMP has no ports`);
  const name = Object.entries(PROTOCOLS).find(([, n]) => n === rule.protocol)?.[0] ?? String(rule.protocol);
  if (ports && rule.protocol !== undefined && !PORT_PROTOCOLS.has(rule.protocol))
    throw new FilterRuleError(`${ports} needs proto tcp, udp, udplite or sctp (proto=${name} has no ports)`);
  if (icmp && rule.protocol !== undefined && !ICMP_PROTOCOLS.has(rule.protocol)) throw new FilterRuleError(`${icmp} needs proto icmp or icmpv6 (not proto=${name})`);
  if (rule.cidr && rule.protocol === 1 && rule.cidr.family === 6) throw new FilterRuleError(`proto=icmp never matches an IPv6 cidr (ICMP for IPv6 is icmpv6)`);
  if (rule.cidr && rule.protocol === 58 && rule.cidr.family === 4) throw new FilterRuleError(`proto=icmpv6 never matches an IPv4 cidr (use icmp)`);
  if (rule.sample !== undefined && rule.action === "reject") throw new FilterRuleError(`sample applies to accept rules (a rejected packet is not counted at all)`);
}

/** Where a rule came from, for its error line. */
export type RuleSource = { flag: string } | { file: string; line: number };

function sourceText(source: RuleSource, text: string): string {
  const quoted = JSON.stringify(text.trim());
  return "flag" in source ? `${source.flag} ${quoted}` : `--filter-file ${source.file} line ${source.line} ${quoted}`;
}

/** Rules with where each came from, numbered in order; the first bad one throws a ConfigError naming it. */
export function parseFilterRules(given: { text: string; source: RuleSource }[]): FilterRule[] {
  if (given.length > MAX_FILTER_RULES) throw new ConfigError(`--filter: ${given.length} rules, at most ${MAX_FILTER_RULES}`);
  return given.map(({ text, source }, id) => {
    try {
      return parseFilterRule(text, id);
    } catch (error) {
      if (error instanceof FilterRuleError) throw new ConfigError(`${sourceText(source, text)}: ${error.message}`, { cause: error });
      throw error;
    }
  });
}

/** A --filter-file's rules: one per line; blank lines and "#" comments (whole-line or trailing) are skipped. */
export function filterFileRules(file: string, content: string): { text: string; source: RuleSource }[] {
  return content.split("\n").flatMap((line, i) => {
    const text = line.replace(/#.*$/, "").trim();
    return text ? [{ text, source: { file, line: i + 1 } }] : [];
  });
}

/** --filter-default, or the default's default: reject when any accept rule exists (an allow list), else accept. */
export function defaultFilterAction(rules: FilterRule[], given?: FilterActionName): FilterActionName {
  return given ?? (rules.some((r) => r.action === "accept") ? "reject" : "accept");
}

/** The rule as the log and counters name it: "#3 reject cidr=fd00::/8". */
export function ruleLabel(rule: FilterRule): string {
  return `#${rule.id + 1} ${rule.text}`;
}
