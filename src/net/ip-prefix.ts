/**
 * IP addresses and CIDR prefixes as 16 bytes, the way the kernel's flow keys
 * (and FlowRecord) hold addresses (IPv4 as IPv4-mapped IPv6), so matching a flow is a byte compare.
 */
import { isIPv4, isIPv6 } from "node:net";

export interface IpPrefix {
  /** 16 bytes, host bits zeroed. */
  bytes: Uint8Array;
  /** Prefix length over the 16 bytes: an IPv4 /24 is 120. */
  bits: number;
}

function ipv4Bytes(text: string, into: Uint8Array, at: number) {
  text.split(".").forEach((part, i) => (into[at + i] = Number(part)));
}

/** 16 bytes for an IPv4 or IPv6 address text, undefined when it is neither. */
export function parseIpAddress(text: string): Uint8Array | undefined {
  const bytes = new Uint8Array(16);
  if (isIPv4(text)) {
    bytes[10] = 0xff;
    bytes[11] = 0xff;
    ipv4Bytes(text, bytes, 12);
    return bytes;
  }
  if (!isIPv6(text) || text.includes("%")) return undefined;
  // An embedded IPv4 tail ("::ffff:1.2.3.4") is the last two groups.
  const lastColon = text.lastIndexOf(":");
  let groupsText = text;
  if (text.includes(".", lastColon)) {
    const [a = 0, b = 0, c = 0, d = 0] = text.slice(lastColon + 1).split(".").map(Number);
    groupsText = `${text.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = "", tail] = groupsText.split("::");
  const headGroups = head ? head.split(":") : [];
  const tailGroups = tail ? tail.split(":") : [];
  const groups = [...headGroups, ...Array<string>(8 - headGroups.length - tailGroups.length).fill("0"), ...tailGroups];
  groups.forEach((g, i) => {
    const n = parseInt(g, 16);
    bytes[i * 2] = n >> 8;
    bytes[i * 2 + 1] = n & 0xff;
  });
  return bytes;
}

/** "10.0.0.0/8", "fd00::/8", or one address (a /32 or /128); undefined when invalid. */
export function parseIpPrefix(text: string): IpPrefix | undefined {
  const [addressText = "", bitsText, extra] = text.trim().split("/");
  if (extra !== undefined) return undefined;
  const bytes = parseIpAddress(addressText);
  if (!bytes) return undefined;
  const v4 = isIPv4(addressText);
  const max = v4 ? 32 : 128;
  if (bitsText !== undefined && !/^\d{1,3}$/.test(bitsText)) return undefined;
  const given = bitsText === undefined ? max : Number(bitsText);
  if (given > max) return undefined;
  const bits = v4 ? given + 96 : given;
  for (let i = 0; i < 16; i++) {
    const keep = Math.max(0, Math.min(8, bits - i * 8));
    bytes[i]! &= (0xff << (8 - keep)) & 0xff;
  }
  return { bytes, bits };
}

/**
 * Whether the 16-byte address at `bytes[at]` is inside `prefix`. `at` lets a
 * filter read addresses in place from a table of rows (FlowColumns.keys).
 */
export function prefixContains(prefix: IpPrefix, bytes: Uint8Array, at = 0): boolean {
  const whole = prefix.bits >> 3;
  for (let i = 0; i < whole; i++) if (bytes[at + i] !== prefix.bytes[i]) return false;
  const rest = prefix.bits & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (bytes[at + whole]! & mask) === prefix.bytes[whole];
}
