/**
 * Where the BPF parser differs from the reference today, each found by the
 * fuzz and reported (issue 12), with the smallest frame that shows it. The
 * fuzz test holds the parser to the reference with these readings swapped
 * in (PARSER_CHOICES), so everything else stays checked, and runs each
 * example against the contract's reading as an expected failure: once the
 * parser (or the contract) changes, that test fails and the entry goes.
 */
import {
  bytes, ethernet, ipv4, ipv6, ipv6Fragment, udp, vlanTag,
} from "../helpers/packets.ts";
import { STANDARD, type ReferenceChoices } from "./reference-dissector.ts";

export interface KnownDivergence {
  name: string;
  /** The reading that matches the parser today. */
  parserReads: Partial<ReferenceChoices>;
  /** The contract's answer and the parser's, for the example. */
  expected: string;
  example: Uint8Array;
}

const udpV4 = () => {
  const l4 = udp(1000, 2000, 0);
  return [...ipv4({ protocol: 17, src: "198.18.0.1", dst: "198.18.0.2", payloadLength: l4.length }), ...l4];
};

export const KNOWN_DIVERGENCES: KnownDivergence[] = [
  {
    name: "a priority tag (VID 0) outermost: the parser records the inner tag's VID",
    parserReads: { vlanId: "first-nonzero" },
    expected: "vlanId 0 (flow.h: the outermost tag's VID); the parser records 20",
    // 802.1ad tag with VID 0, then an 802.1Q tag with VID 20, then IPv4/UDP.
    example: bytes(ethernet(0x88a8), vlanTag(0, 0x8100), vlanTag(20, 0x0800), udpV4()),
  },
  {
    name: "an IPv6 fragment header cut after its offset field: the parser wants all 8 bytes",
    parserReads: { fragmentHeaderBytes: 8 },
    expected: "protocol 17, flags FRAGMENT (next header and offset are in the frame); the parser records protocol 44, flags TRUNCATED",
    // IPv6 → fragment header (next header UDP, offset 2, M=0) cut after 4 of its 8 bytes.
    example: bytes(ethernet(0x86dd), ipv6({ nextHeader: 44, src: "fd00::1", dst: "fd00::2", payloadLength: 4 }), ipv6Fragment(17, 2, false).slice(0, 4)),
  },
];

/** The reference's choices with every known divergence's reading: what the parser does today. */
export const PARSER_CHOICES: ReferenceChoices = Object.assign({}, STANDARD, ...KNOWN_DIVERGENCES.map((d) => d.parserReads));
