/**
 * Frames for the parser fuzz: well-formed frames of every kind the parser
 * reads (Ethernet, 802.1Q/802.1ad tags, IPv4 with options and fragments, IPv6
 * with extension chains, TCP, UDP, UDP-Lite, SCTP, ICMP, ICMPv6), non-IP
 * EtherTypes and garbage, then mutated: bytes flipped, cut short, type and
 * length fields that lie; and now and then one frame cut at every offset.
 * Everything comes from one RandomSource, so a seed names the whole stream.
 */
import type { RandomSource } from "./random-source.ts";

/** Largest frame BPF_PROG_TEST_RUN takes here: a page less skb headroom and shared info. */
export const MAX_RUNNABLE_FRAME = 3712;

/** Where a header starts in a built frame, for mutations that aim at its fields. */
interface HeaderAt {
  kind: "type" | "ipv4" | "ipv6" | "extension" | "fragment" | "tcp" | "l4";
  at: number;
}

export interface FuzzFrame {
  frame: Uint8Array;
  /** What it was built as and what was done to it, e.g. "ipv6/tcp+ext3 cut@60". */
  origin: string;
  egress: boolean;
}

/**
 * Whether BPF_PROG_TEST_RUN accepts the frame. It refuses (EINVAL) frames
 * shorter than an Ethernet header or longer than MAX_RUNNABLE_FRAME, and
 * untagged IPv4/IPv6 frames shorter than the fixed IP header (measured on
 * 6.18): those truncations are reached behind a VLAN tag instead.
 */
export function runnable(frame: Uint8Array): boolean {
  const n = frame.length;
  if (n < 14 || n > MAX_RUNNABLE_FRAME) return false;
  const type = (frame[12]! << 8) | frame[13]!;
  if (type === 0x0800) return n >= 34;
  if (type === 0x86dd) return n >= 54;
  return true;
}

const NEXT_HEADERS = [0, 43, 44, 51, 60, 135, 6, 17, 136, 132, 1, 58, 59, 50, 4, 41, 47, 255] as const;
const L4_PROTOCOLS = [6, 6, 17, 17, 136, 132, 1, 58, 47, 50, 59, 0, 255] as const;
const ETHER_TYPES = [0x0800, 0x86dd, 0x8100, 0x88a8, 0x0806, 0x88cc, 0x8847, 0x9100] as const;
const MAC_A = [0x02, 0, 0, 0, 0, 0x0a];
const MAC_B = [0x02, 0, 0, 0, 0, 0x0b];

/** A frame under construction: bytes and where each header went. */
class FrameBuilder {
  readonly bytes: number[] = [];
  readonly headers: HeaderAt[] = [];
  readonly parts: string[] = [];
  constructor(private readonly rng: RandomSource) {}

  get length() {
    return this.bytes.length;
  }
  mark(kind: HeaderAt["kind"], at = this.bytes.length) {
    this.headers.push({ kind, at });
  }
  push(...values: number[]) {
    for (const v of values) this.bytes.push(v & 0xff);
  }
  u16(v: number) {
    this.push(v >> 8, v);
  }
  u32(v: number) {
    this.push(v >>> 24, v >>> 16, v >>> 8, v);
  }
  random(n: number) {
    for (let i = 0; i < n; i++) this.bytes.push(this.rng.byte());
  }
  setU16(at: number, v: number) {
    this.bytes[at] = (v >> 8) & 0xff;
    this.bytes[at + 1] = v & 0xff;
  }
}

/** Values from a small pool now and then, so some frames share a flow and aggregate. */
function pooled(rng: RandomSource, pool: readonly number[], random: () => number): number {
  return rng.chance(0.3) ? rng.pick(pool) : random();
}

function ethernet(b: FrameBuilder, rng: RandomSource) {
  if (rng.chance(0.9)) b.push(...MAC_B, ...MAC_A);
  else b.random(12);
  const tags = rng.weighted([[55, 0], [20, 1], [20, 2], [5, 3]] as const);
  for (let i = 0; i < tags; i++) {
    b.mark("type");
    b.u16(rng.chance(0.5) ? 0x8100 : 0x88a8);
    // TCI: PCP and DEI random, VID 0 (priority tag) and 4095 included.
    b.u16(rng.weighted([[1, 0], [1, 0x0fff], [8, rng.between(0, 0xffff)]] as const));
  }
  if (tags) b.parts.push(`vlan${tags}`);
  b.mark("type");
}

function transport(b: FrameBuilder, rng: RandomSource, protocol: number) {
  const port = () => pooled(rng, [53, 443, 40000], () => rng.between(0, 0xffff));
  switch (protocol) {
    case 6: {
      b.mark("tcp");
      const optionWords = rng.chance(0.3) ? rng.between(1, 10) : 0;
      b.u16(port()), b.u16(port()), b.u32(rng.next32()), b.u32(rng.next32());
      b.push(((5 + optionWords) << 4) | rng.below(2), rng.byte()); // data offset, NS; flags
      b.u16(rng.between(0, 0xffff)), b.u16(0), b.u16(0); // window, checksum, urgent pointer
      b.random(optionWords * 4);
      b.parts.push("tcp");
      return;
    }
    case 17:
    case 136:
      b.mark("l4");
      b.u16(port()), b.u16(port()), b.u16(8 + rng.below(64)), b.u16(0);
      b.parts.push(protocol === 17 ? "udp" : "udplite");
      return;
    case 132:
      b.mark("l4");
      b.u16(port()), b.u16(port()), b.u32(rng.next32()), b.u32(0); // verification tag, checksum
      if (rng.chance(0.5)) b.push(1, 0), b.u16(20), b.random(16); // an INIT chunk
      b.parts.push("sctp");
      return;
    case 1:
    case 58:
      b.mark("l4");
      b.push(rng.chance(0.5) ? rng.pick([0, 3, 8, 11, 128, 129, 133, 135]) : rng.byte(), rng.byte());
      b.u16(0), b.u32(rng.next32());
      b.parts.push(protocol === 1 ? "icmp" : "icmpv6");
      return;
    default:
      b.parts.push(`proto${protocol}`);
  }
}

function ipv4(b: FrameBuilder, rng: RandomSource) {
  const at = b.length;
  b.mark("ipv4");
  const optionWords = rng.chance(0.25) ? rng.between(1, 10) : 0;
  const protocol = rng.pick(L4_PROTOCOLS);
  const laterFragment = rng.chance(0.1);
  const fragment = (rng.chance(0.5) ? 0x4000 : 0) | (rng.chance(0.15) ? 0x2000 : 0) | (laterFragment ? rng.between(1, 0x1fff) : 0);
  b.push(0x40 | (5 + optionWords), rng.byte()); // version/IHL, DSCP/ECN
  b.u16(0), b.u16(rng.between(0, 0xffff)), b.u16(fragment); // total length (set below), identification, flags/offset
  b.push(rng.between(1, 255), protocol), b.u16(0); // TTL, protocol, checksum
  const addr = () => pooled(rng, [0xc6120001, 0xc6120002, 0x0a000001], () => rng.next32());
  b.u32(addr()), b.u32(addr());
  for (let i = 0; i < optionWords; i++) {
    // Router alert (RFC 2113), NOPs and EOL, or raw bytes: the parser only skips them.
    if (rng.chance(0.5)) b.push(0x94, 0x04, 0, 0);
    else if (rng.chance(0.5)) b.push(1, 1, 1, 0);
    else b.random(4);
  }
  b.parts.push(`ipv4${optionWords ? `+opt${optionWords}` : ""}${laterFragment ? "+frag" : ""}`);
  if (laterFragment) b.random(rng.below(48));
  else transport(b, rng, protocol);
  payload(b, rng);
  b.setU16(at + 2, b.length - at);
}

function ipv6(b: FrameBuilder, rng: RandomSource) {
  const at = b.length;
  b.mark("ipv6");
  const tc = rng.byte();
  b.push(0x60 | (tc >> 4), ((tc & 0x0f) << 4) | rng.below(16), rng.byte(), rng.byte()); // version, traffic class, flow label
  b.u16(0), b.push(0, rng.between(1, 255)); // payload length (set below), next header (set below), hop limit
  const addr = () => (rng.chance(0.3) ? [0xfd, 0, ...Array(13).fill(0), rng.between(1, 3)] : Array.from({ length: 16 }, () => rng.byte()));
  b.push(...addr(), ...addr());
  let nextAt = at + 6;
  const chain = rng.weighted([[50, 0], [20, 1], [12, 2], [8, 3], [4, 5], [3, 6], [3, 7]] as const);
  let laterFragment = false;
  for (let i = 0; i < chain && !laterFragment; i++) {
    const type = rng.pick([0, 43, 60, 135, 51, 44] as const);
    b.bytes[nextAt] = type;
    nextAt = b.length;
    if (type === 44) {
      b.mark("fragment");
      laterFragment = rng.chance(0.4);
      b.push(0, 0), b.u16(((laterFragment ? rng.between(1, 0x1fff) : 0) << 3) | rng.below(2)), b.u32(rng.next32());
    } else if (type === 51) {
      b.mark("extension");
      const words = rng.between(3, 8); // total length in 4-octet units: 12-byte fixed part, then the ICV
      b.push(0, words - 2), b.u16(0), b.u32(rng.next32()), b.u32(rng.next32());
      b.random((words - 3) * 4);
    } else {
      b.mark("extension");
      const octets8 = rng.chance(0.05) ? rng.between(16, 140) : rng.between(1, 3);
      b.push(0, octets8 - 1);
      b.random(octets8 * 8 - 2);
    }
  }
  b.parts.push(`ipv6${chain ? `+ext${chain}` : ""}${laterFragment ? "+frag" : ""}`);
  const protocol = rng.pick(L4_PROTOCOLS);
  b.bytes[nextAt] = protocol;
  if (laterFragment) b.random(rng.below(48));
  else transport(b, rng, protocol);
  payload(b, rng);
  b.setU16(at + 4, b.length - at - 40);
}

function payload(b: FrameBuilder, rng: RandomSource) {
  const n = rng.weighted([[70, rng.below(32)], [25, rng.below(600)], [5, rng.below(3000)]] as const);
  b.random(Math.min(n, MAX_RUNNABLE_FRAME - b.length));
}

/** A well-formed frame of a random kind, and where its headers are. */
function wellFormed(rng: RandomSource): FrameBuilder {
  const b = new FrameBuilder(rng);
  ethernet(b, rng);
  const kind = rng.weighted([[42, "ipv4"], [42, "ipv6"], [10, "other"], [6, "length"]] as const);
  if (kind === "ipv4") b.u16(0x0800), ipv4(b, rng);
  else if (kind === "ipv6") b.u16(0x86dd), ipv6(b, rng);
  else {
    // Non-IP: ARP, LLDP, MPLS, a random type, or an 802.3 length field.
    const type = kind === "length" ? rng.below(0x600) : rng.chance(0.7) ? rng.pick([0x0806, 0x88cc, 0x8847, 0x9100, 0x88e5]) : rng.between(0x600, 0xffff);
    b.u16(type);
    b.random(rng.below(80));
    b.parts.push(`type${type.toString(16)}`);
  }
  return b;
}

/** Rewrites one type, length or offset field of a header to a lie. */
function lie(b: FrameBuilder, rng: RandomSource): string {
  const h = rng.pick(b.headers);
  const f = b.bytes;
  if (h.at >= f.length) return "";
  const set16 = (at: number, v: number) => at + 1 < f.length && b.setU16(at, v);
  switch (h.kind) {
    case "type":
      set16(h.at, rng.chance(0.8) ? rng.pick(ETHER_TYPES) : rng.between(0, 0xffff));
      return "lie:type";
    case "ipv4":
      if (rng.chance(0.5)) f[h.at] = (f[h.at]! & 0xf0) | rng.below(16); // IHL
      else if (rng.chance(0.4)) f[h.at + 9] = rng.pick(NEXT_HEADERS);
      else if (rng.chance(0.5)) set16(h.at + 6, rng.chance(0.5) ? 0 : rng.between(0, 0xffff)); // flags/offset
      else f[h.at] = (rng.below(16) << 4) | (f[h.at]! & 0x0f); // version
      return "lie:ipv4";
    case "ipv6":
      if (rng.chance(0.5)) f[h.at + 6] = rng.pick(NEXT_HEADERS);
      else set16(h.at + 4, rng.between(0, 0xffff)); // payload length
      return "lie:ipv6";
    case "extension":
    case "fragment":
      if (rng.chance(0.5)) f[h.at] = rng.pick(NEXT_HEADERS);
      else if (h.kind === "extension") f[h.at + 1] = rng.chance(0.5) ? rng.below(8) : rng.byte(); // length
      else set16(h.at + 2, rng.chance(0.5) ? rng.below(8) : rng.between(0, 0xffff)); // offset and M
      return `lie:${h.kind}`;
    case "tcp":
      if (h.at + 12 < f.length) f[h.at + 12] = rng.byte(); // data offset, reserved, NS
      return "lie:tcp";
    case "l4":
      return "";
  }
}

function toFrame(b: FrameBuilder): Uint8Array {
  return new Uint8Array(b.bytes);
}

/**
 * An endless stream of frames the kernel will take (see runnable). Mostly
 * one frame per step; now and then a well-formed frame cut at every offset.
 */
export function* fuzzFrames(rng: RandomSource): Generator<FuzzFrame> {
  for (;;) {
    const egress = rng.chance(0.5);
    const style = rng.weighted([[40, "as built"], [45, "mutated"], [10, "garbage"], [1.5, "cut everywhere"]] as const);
    if (style === "garbage") {
      const frame = rng.fill(new Uint8Array(rng.between(14, 160)));
      // Mostly aimed at the parser: an IP or tag type in front of noise.
      if (rng.chance(0.7)) {
        const type = rng.pick([0x0800, 0x86dd, 0x8100, 0x88a8]);
        frame.set([type >> 8, type & 0xff], 12);
      }
      if (runnable(frame)) yield { frame, origin: "garbage", egress };
      continue;
    }
    const b = wellFormed(rng);
    const origin = b.parts.join("/");
    if (style === "cut everywhere") {
      const full = toFrame(b);
      const last = Math.min(full.length, 160);
      for (let n = 14; n <= last; n++) {
        const frame = full.slice(0, n);
        if (runnable(frame)) yield { frame, origin: `${origin} cut@${n}`, egress };
      }
      continue;
    }
    const done: string[] = [];
    if (style === "mutated") {
      const count = rng.weighted([[60, 1], [30, 2], [10, 4]] as const);
      for (let i = 0; i < count; i++) {
        const what = rng.weighted([[35, "lie"], [35, "flip"], [30, "cut"]] as const);
        if (what === "lie") done.push(lie(b, rng));
        else if (what === "flip") {
          const at = rng.below(Math.min(b.length, 128));
          b.bytes[at] = rng.chance(0.5) ? b.bytes[at]! ^ (1 << rng.below(8)) : rng.byte();
          done.push(`flip@${at}`);
        } else if (b.length > 14) {
          const n = rng.between(14, Math.min(b.length - 1, 200));
          b.bytes.length = n;
          done.push(`cut@${n}`);
        }
      }
    }
    const frame = toFrame(b);
    if (runnable(frame)) yield { frame, origin: [origin, ...done.filter(Boolean)].join(" "), egress };
  }
}
