/**
 * Crafted packets for BPF_PROG_TEST_RUN, built layer by layer so each test
 * states its bytes: Ethernet → VLAN tags → IPv4/IPv6 (+ options, fragments,
 * extension headers) → TCP/UDP/SCTP/ICMP. Checksums are left zero: the
 * program never reads them.
 */
export const MAC_A = [0x02, 0, 0, 0, 0, 0x0a];
export const MAC_B = [0x02, 0, 0, 0, 0, 0x0b];

export function bytes(...parts: (number[] | Uint8Array)[]): Uint8Array {
  const out: number[] = [];
  for (const p of parts) out.push(...p);
  return new Uint8Array(out);
}

const u16 = (v: number) => [(v >> 8) & 0xff, v & 0xff];

export function ethernet(ethType: number, dst = MAC_B, src = MAC_A): number[] {
  return [...dst, ...src, ...u16(ethType)]; // 6 dst, 6 src, 2 EtherType
}

/** An 802.1Q (0x8100) or 802.1ad (0x88a8) tag: TCI then the inner EtherType. */
export function vlanTag(vid: number, innerEthType: number): number[] {
  return [...u16(vid & 0xfff), ...u16(innerEthType)];
}

export function ipv4Addr(text: string): number[] {
  return text.split(".").map(Number);
}

export interface Ipv4Options {
  protocol: number;
  src: string;
  dst: string;
  payloadLength: number;
  tos?: number;
  /** Raw IP options, padded by the caller to a multiple of 4. */
  options?: number[];
  /** Fragment offset in 8-byte units, and More Fragments. */
  fragmentOffset?: number;
  moreFragments?: boolean;
  ihlOverride?: number;
}

export function ipv4(o: Ipv4Options): number[] {
  const options = o.options ?? [];
  const ihl = o.ihlOverride ?? 5 + options.length / 4;
  const total = 20 + options.length + o.payloadLength;
  const frag = ((o.moreFragments ? 1 : 0) << 13) | (o.fragmentOffset ?? 0);
  return [
    0x40 | ihl, o.tos ?? 0, ...u16(total), // version/IHL, TOS, total length
    0x12, 0x34, ...u16(frag),               // identification, flags/fragment offset
    64, o.protocol, 0, 0,                   // TTL, protocol, checksum
    ...ipv4Addr(o.src), ...ipv4Addr(o.dst), // addresses
    ...options,
  ];
}

export function ipv6Addr(text: string): number[] {
  const [head, tail] = text.includes("::") ? text.split("::") : [text, undefined];
  const h = head ? head.split(":").filter(Boolean) : [];
  const t = tail ? tail.split(":").filter(Boolean) : [];
  const groups = [...h, ...Array(8 - h.length - t.length).fill("0"), ...t];
  return groups.flatMap((g) => u16(parseInt(g, 16)));
}

export function ipv6(o: { nextHeader: number; src: string; dst: string; payloadLength: number; trafficClass?: number }): number[] {
  const tc = o.trafficClass ?? 0;
  return [
    0x60 | (tc >> 4), (tc & 0x0f) << 4, 0, 0, // version, traffic class, flow label
    ...u16(o.payloadLength), o.nextHeader, 64, // payload length, next header, hop limit
    ...ipv6Addr(o.src), ...ipv6Addr(o.dst),
  ];
}

/** Hop-by-hop / routing / destination options: next header, length in 8-octet units minus 1, padding. */
export function ipv6Ext(nextHeader: number, octets8: number): number[] {
  return [nextHeader, octets8 - 1, ...Array(octets8 * 8 - 2).fill(0)];
}

/** Fragment header (RFC 8200 4.5): offset in 8-octet units, M flag. */
export function ipv6Fragment(nextHeader: number, offset: number, more: boolean): number[] {
  const v = (offset << 3) | (more ? 1 : 0);
  return [nextHeader, 0, ...u16(v), 0, 0, 0x56, 0x78];
}

export const TCP = { FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10, URG: 0x20, ECE: 0x40, CWR: 0x80 };

export function tcp(src: number, dst: number, flags: number, ns = false): number[] {
  return [
    ...u16(src), ...u16(dst), // ports
    0, 0, 0, 1, 0, 0, 0, 0,   // sequence, acknowledgement
    0x50 | (ns ? 1 : 0), flags, ...u16(65535), // data offset 5 + NS, flags, window
    0, 0, 0, 0,               // checksum, urgent pointer
  ];
}

export function udp(src: number, dst: number, payloadLength: number): number[] {
  return [...u16(src), ...u16(dst), ...u16(8 + payloadLength), 0, 0];
}

export function sctp(src: number, dst: number): number[] {
  return [...u16(src), ...u16(dst), 0, 0, 0, 1, 0, 0, 0, 0]; // ports, verification tag, checksum
}

export function icmp(type: number, code: number): number[] {
  return [type, code, 0, 0, 0, 1, 0, 1]; // type, code, checksum, identifier, sequence
}

export const payload = (n: number) => Array(n).fill(0xab);

/**
 * A DNS message (RFC 1035 4.1): the 12-byte header — id, flags (QR 0x8000,
 * RD 0x0100, RA 0x0080, RCODE in the low 4 bits), QDCOUNT 1, ANCOUNT,
 * NSCOUNT, ARCOUNT 0 — then one question: `name` as length-prefixed labels,
 * the root's 0, QTYPE A (1), QCLASS IN (1).
 */
export function dnsMessage(id: number, flags: number, name: string): number[] {
  const qname = name === "" ? [] : name.split(".").flatMap((label) => [label.length, ...new TextEncoder().encode(label)]);
  return [...u16(id), ...u16(flags), 0, 1, 0, 0, 0, 0, 0, 0, ...qname, 0, 0, 1, 0, 1];
}
