/**
 * The reference the BPF parser is fuzzed against: what one Ethernet frame
 * should add to its flow, written from the standards and from the contract
 * the C headers document (bpf/flow.h, bpf/parse.h, bpf/config.h comments),
 * not from the C code. test/fuzz/scapy-dissector.py checks it on a sample.
 *
 * Standards: IEEE 802.3 (Ethernet II; a type field below 0x0600 is a length,
 * recorded as is), IEEE 802.1Q (C-tag 0x8100, S-tag 0x88a8), RFC 791 (IPv4),
 * RFC 2474 (DSCP), RFC 4291 2.5.5.2 (IPv4-mapped IPv6), RFC 8200 (IPv6 and
 * its extension headers), RFC 4302 (AH), RFC 6275 (Mobility header), RFC 9293
 * and 3540 (TCP flags, NS), RFC 768 (UDP), RFC 3828 (UDP-Lite), RFC 9260
 * (SCTP), RFC 792 (ICMP), RFC 4443 (ICMPv6).
 *
 * Where the documents leave a choice, the choice, stated once:
 * - Dispatch is by EtherType: bytes after 0x0800 are read as IPv4 and after
 *   0x86dd as IPv6 whatever their version nibble (as the kernel's flow
 *   dissector and scapy do).
 * - Length fields are not trusted for the end of a header or datagram: the
 *   frame's end is (IPv4 total length and IPv6 payload length are 0 in BIG
 *   TCP packets; Ethernet padding is not a header either way).
 * - "A header that does not fit ends parsing" (parse.h): a header fits when
 *   the frame holds every byte the flow takes from it: the fields it records
 *   and the fields that locate the next header (BYTES_TAKEN). A header that
 *   does not fit adds nothing and sets TRUNCATED. A header whose fields fit
 *   but whose body (IPv4 options, an extension header's data) runs past the
 *   frame is not a truncation unless a header behind it is wanted.
 * - ICMP type/code are recorded for protocol 1 and 58 in either IP version:
 *   the protocol number names the header (IANA).
 * - Design limits (config.h), implemented explicitly: at most MAX_VLAN_TAGS
 *   in-packet tags are skipped (a further tag leaves its TPID as the
 *   EtherType and nothing is parsed behind it); at most MAX_IPV6_EXT_HEADERS
 *   extension headers (a further one leaves its number as the protocol, no
 *   ports, not truncated); an extension chain longer than MAX_HEADER_OFFSET
 *   bytes (counted from its first header) stops parsing with TRUNCATED and
 *   the protocol its last header names.
 * Two of these readings are where the parser differs today; each is a
 * ReferenceChoices field, so the fuzz can hold the parser to the rest while
 * the difference is settled (test/fuzz/known-divergences.ts).
 */

/** config.h's parser bounds. */
export const MAX_VLAN_TAGS = 2;
export const MAX_IPV6_EXT_HEADERS = 6;
export const MAX_HEADER_OFFSET = 1024;

export const FLAG_FRAGMENT = 1;
export const FLAG_TRUNCATED = 2;

const ETH_P_IP = 0x0800;
const ETH_P_IPV6 = 0x86dd;
const ETH_P_8021Q = 0x8100;
const ETH_P_8021AD = 0x88a8;

const IPPROTO = { ICMP: 1, TCP: 6, UDP: 17, ICMPV6: 58, SCTP: 132, UDPLITE: 136 } as const;
/** IANA "IPv6 Extension Header Types" that parse.h skips: hop-by-hop, routing, fragment, AH, destination options, mobility. */
export const IPV6_EXTENSIONS = { HOP_BY_HOP: 0, ROUTING: 43, FRAGMENT: 44, AUTH: 51, DEST_OPTS: 60, MOBILITY: 135 } as const;
const EXTENSION_NUMBERS: ReadonlySet<number> = new Set(Object.values(IPV6_EXTENSIONS));

/** Bytes of each header the flow takes (see the header comment), counted from the header's start. */
export const BYTES_TAKEN = {
  ethernet: 14, // destination, source, type
  vlanTag: 4, // TCI (VID in its low 12 bits), then the next type
  ipv4: 20, // version/IHL ... destination address: every field of the fixed header
  ipv6: 40, // the fixed header
  extension: 2, // next header, header extension length (RFC 8200 4.3-4.6, RFC 4302 2, RFC 6275 6.1.1)
  fragment: 4, // next header, reserved, fragment offset (RFC 8200 4.5)
  tcp: 14, // ports (0-3), data offset/NS (12), flags (13)
  ports: 4, // UDP, UDP-Lite, SCTP: source and destination port
  icmp: 2, // type, code
} as const;

/** Readings of the contract where the parser differs today (known-divergences.ts); STANDARD is the contract's. */
export interface ReferenceChoices {
  /**
   * "outermost": the outermost tag's VID, even 0 (a priority tag, IEEE 802.1Q 9.6), as flow.h says;
   * "first-nonzero": the first tag whose VID is not 0.
   */
  vlanId: "outermost" | "first-nonzero";
  /** Bytes of an IPv6 fragment header the frame must hold: 4 (the fields taken, BYTES_TAKEN) or 8 (the whole fixed header). */
  fragmentHeaderBytes: 4 | 8;
}

export const STANDARD: ReferenceChoices = { vlanId: "outermost", fragmentHeaderBytes: BYTES_TAKEN.fragment };

/** What one frame adds to its flow: the key's fields (less ifindex/direction) and the metrics'. */
export interface ExpectedPacket {
  ethType: number;
  protocol: number;
  srcAddr: Uint8Array;
  dstAddr: Uint8Array;
  srcPort: number;
  dstPort: number;
  tcpFlags: number;
  flags: number;
  dscp: number;
  icmpType: number;
  icmpCode: number;
  l2HeaderLen: number;
  vlanId: number;
  srcMac: Uint8Array;
  dstMac: Uint8Array;
}

const be16 = (f: Uint8Array, at: number) => (f[at]! << 8) | f[at + 1]!;

/** The frame's flow contribution; the frame must be at least an Ethernet header long. */
export function dissect(frame: Uint8Array, choices: ReferenceChoices = STANDARD): ExpectedPacket {
  if (frame.length < BYTES_TAKEN.ethernet) throw new Error(`frame of ${frame.length} bytes must be >= 14 (an Ethernet header)`);
  const p: ExpectedPacket = {
    ethType: 0, protocol: 0, srcAddr: new Uint8Array(16), dstAddr: new Uint8Array(16), srcPort: 0, dstPort: 0,
    tcpFlags: 0, flags: 0, dscp: 0, icmpType: 0, icmpCode: 0, l2HeaderLen: 0, vlanId: 0,
    dstMac: frame.slice(0, 6), srcMac: frame.slice(6, 12),
  };
  const fits = (at: number, n: number) => at + n <= frame.length;
  const truncated = () => {
    p.flags |= FLAG_TRUNCATED;
    return p;
  };

  // IEEE 802.1Q: tags between the source MAC and the type, outermost first.
  let type = be16(frame, 12);
  let at = 14;
  for (let tags = 0; tags < MAX_VLAN_TAGS && (type === ETH_P_8021Q || type === ETH_P_8021AD); tags++) {
    if (!fits(at, BYTES_TAKEN.vlanTag)) {
      p.ethType = type;
      return truncated();
    }
    if (tags === 0 || (choices.vlanId === "first-nonzero" && p.vlanId === 0)) p.vlanId = be16(frame, at) & 0x0fff;
    type = be16(frame, at + 2);
    at += 4;
  }
  p.ethType = type;
  p.l2HeaderLen = at;

  let l4: number;
  if (type === ETH_P_IP) {
    // RFC 791 3.1.
    if (!fits(at, BYTES_TAKEN.ipv4)) return truncated();
    const ihl = frame[at]! & 0x0f;
    if (ihl < 5) return truncated(); // shorter than the fixed header: malformed, nothing from it is trusted (parse.h)
    p.dscp = frame[at + 1]! >> 2;
    p.protocol = frame[at + 9]!;
    p.srcAddr.set([0xff, 0xff], 10);
    p.srcAddr.set(frame.subarray(at + 12, at + 16), 12);
    p.dstAddr.set([0xff, 0xff], 10);
    p.dstAddr.set(frame.subarray(at + 16, at + 20), 12);
    if ((be16(frame, at + 6) & 0x1fff) !== 0) {
      p.flags |= FLAG_FRAGMENT; // a later fragment: no transport header (flow.h)
      return p;
    }
    l4 = at + ihl * 4;
  } else if (type === ETH_P_IPV6) {
    // RFC 8200 3: traffic class is bits 4-11.
    if (!fits(at, BYTES_TAKEN.ipv6)) return truncated();
    p.dscp = (((frame[at]! & 0x0f) << 4) | (frame[at + 1]! >> 4)) >> 2;
    p.srcAddr.set(frame.subarray(at + 8, at + 24));
    p.dstAddr.set(frame.subarray(at + 24, at + 40));
    let next = frame[at + 6]!;
    const chainStart = at + 40;
    let offset = chainStart;
    for (let n = 0; n < MAX_IPV6_EXT_HEADERS && EXTENSION_NUMBERS.has(next); n++) {
      let length: number;
      if (next === IPV6_EXTENSIONS.FRAGMENT) {
        if (!fits(offset, choices.fragmentHeaderBytes)) {
          p.protocol = next;
          return truncated();
        }
        const fragmentOffset = be16(frame, offset + 2) >> 3;
        next = frame[offset]!;
        if (fragmentOffset !== 0) {
          p.protocol = next;
          p.flags |= FLAG_FRAGMENT;
          return p;
        }
        length = 8; // RFC 8200 4.5: fixed size
      } else {
        if (!fits(offset, BYTES_TAKEN.extension)) {
          p.protocol = next;
          return truncated();
        }
        const lengthField = frame[offset + 1]!;
        // RFC 4302 2.2: AH length in 4-octet units minus 2; RFC 8200 and 6275: 8-octet units, not counting the first 8.
        length = next === IPV6_EXTENSIONS.AUTH ? (lengthField + 2) * 4 : (lengthField + 1) * 8;
        next = frame[offset]!;
      }
      offset += length;
      if (offset - chainStart > MAX_HEADER_OFFSET) {
        p.protocol = next;
        return truncated();
      }
    }
    p.protocol = next;
    l4 = offset;
  } else {
    return p;
  }

  switch (p.protocol) {
    case IPPROTO.TCP:
      if (!fits(l4, BYTES_TAKEN.tcp)) return truncated();
      p.srcPort = be16(frame, l4);
      p.dstPort = be16(frame, l4 + 2);
      p.tcpFlags = ((frame[l4 + 12]! & 1) << 8) | frame[l4 + 13]!; // RFC 3540 NS, then CWR ... FIN
      return p;
    case IPPROTO.UDP:
    case IPPROTO.UDPLITE:
    case IPPROTO.SCTP:
      if (!fits(l4, BYTES_TAKEN.ports)) return truncated();
      p.srcPort = be16(frame, l4);
      p.dstPort = be16(frame, l4 + 2);
      return p;
    case IPPROTO.ICMP:
    case IPPROTO.ICMPV6:
      if (!fits(l4, BYTES_TAKEN.icmp)) return truncated();
      p.icmpType = frame[l4]!;
      p.icmpCode = frame[l4 + 1]!;
      return p;
    default:
      return p;
  }
}

/** The flow key's fields of a packet, as one string: packets with equal strings share a flow. */
export function keyOf(p: ExpectedPacket, egress: boolean): string {
  return `${egress ? "e" : "i"}|${p.ethType}|${p.protocol}|${hex(p.srcAddr)}|${hex(p.dstAddr)}|${p.srcPort}|${p.dstPort}`;
}

/** The fields the packet that inserts a flow writes once (flow.h): later packets of the flow must agree for an exact check. */
export function firstPacketFields(p: ExpectedPacket): string {
  return `${p.dscp}|${p.icmpType}|${p.icmpCode}|${p.l2HeaderLen}|${p.vlanId}|${hex(p.srcMac)}|${hex(p.dstMac)}`;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

export function hex(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i++) s += HEX[b[i]!];
  return s;
}
