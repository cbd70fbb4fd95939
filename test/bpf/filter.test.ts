/**
 * Filter rules in the kernel: crafted packets through BPF_PROG_TEST_RUN
 * against rule sets. An accepted packet is counted exactly in its flow; a
 * rejected one makes no flow and is counted in its rule's (or the
 * default's) slot of filter_counters instead.
 */
import { afterEach, expect, test } from "bun:test";
import { addressText } from "../../src/flow/flow-format.ts";
import { defaultFilterAction, parseFilterRules, type FilterActionName } from "../../src/filter/filter-rule.ts";
import { parseIpAddress } from "../../src/net/ip-prefix.ts";
import { kernelDescribe } from "../helpers/kernel-test.ts";
import { bytes, ethernet, icmp, ipv4, ipv6, ipv6Fragment, payload, tcp, TCP, udp } from "../helpers/packets.ts";
import { ProgramUnderTest } from "../helpers/test-run.ts";

const TC_ACT_UNSPEC = -1;
let prog: ProgramUnderTest | undefined;
afterEach(() => {
  prog?.[Symbol.dispose]();
  prog = undefined;
});

/** The program loaded with `rules` (as --filter gives them, in order). */
async function load(rules: string[], defaultAction?: FilterActionName): Promise<ProgramUnderTest> {
  const parsed = parseFilterRules(rules.map((text) => ({ text, source: { flag: "--filter" } })));
  prog = await ProgramUnderTest.load(1024, undefined, undefined, { rules: parsed, defaultAction: defaultFilterAction(parsed, defaultAction) });
  return prog;
}

/**
 * Runs `packet` `times` times and evicts: the packets its flow counted (0:
 * rejected, and then no flow at all). A counted flow's bytes are exact.
 */
async function counted(packet: Uint8Array, { times = 1, egress = false } = {}): Promise<number> {
  for (let i = 0; i < times; i++) expect(prog!.run(packet, { egress })).toBe(TC_ACT_UNSPEC);
  const { records } = await prog!.evict();
  if (records.length === 0) return 0;
  expect(records).toHaveLength(1);
  expect(records[0]!.packets).toBe(times);
  expect(records[0]!.bytes).toBe(times * packet.length);
  return records[0]!.packets;
}

const v4udp = (src: string, dst: string, sport: number, dport: number, size = 10) =>
  bytes(ethernet(0x0800), ipv4({ protocol: 17, src, dst, payloadLength: 8 + size }), udp(sport, dport, size), payload(size));
const v4tcp = (src: string, dst: string, sport: number, dport: number) =>
  bytes(ethernet(0x0800), ipv4({ protocol: 6, src, dst, payloadLength: 20 }), tcp(sport, dport, TCP.ACK));
const v4icmp = (type: number, code = 0, dst = "198.18.0.2") => bytes(ethernet(0x0800), ipv4({ protocol: 1, src: "198.18.0.1", dst, payloadLength: 8 }), icmp(type, code));
const v6udp = (src: string, dst: string, sport: number, dport: number, size = 10) =>
  bytes(ethernet(0x86dd), ipv6({ nextHeader: 17, src, dst, payloadLength: 8 + size }), udp(sport, dport, size), payload(size));
const v6tcp = (src: string, dst: string, sport: number, dport: number) =>
  bytes(ethernet(0x86dd), ipv6({ nextHeader: 6, src, dst, payloadLength: 20 }), tcp(sport, dport, TCP.SYN));
const v6icmp = (type: number) => bytes(ethernet(0x86dd), ipv6({ nextHeader: 58, src: "fd00::1", dst: "fd00::2", payloadLength: 8 }), icmp(type, 0));
const arp = () => bytes(ethernet(0x0806), payload(28));

kernelDescribe("filter rules (BPF_PROG_TEST_RUN)", () => {
  test("reject by destination port: no flow, counted in the rule's slot; other ports counted exactly", async () => {
    await load(["reject proto=udp dst-port=53"]);
    const dns = v4udp("198.18.0.1", "198.18.0.2", 40000, 53);
    expect(await counted(dns, { times: 5 })).toBe(0);
    expect(await counted(v4udp("198.18.0.1", "198.18.0.2", 40000, 54), { times: 3 })).toBe(3);
    expect(await counted(v4tcp("198.18.0.1", "198.18.0.2", 40000, 53), { times: 2 })).toBe(2); // not UDP
    expect(await counted(v4udp("198.18.0.1", "198.18.0.2", 53, 40000))).toBe(1); // 53 is the source port
    const counts = prog!.object.filter!.readCounts();
    expect(counts.byRule[0]).toEqual({ packets: 5, bytes: 5 * dns.length });
    expect(counts.byDefault).toEqual({ packets: 0, bytes: 0 });
    expect(counts.total).toEqual({ packets: 5, bytes: 5 * dns.length });
  });

  test("an accept rule makes the default reject: only what it names is counted; the rest counted as rejected by default", async () => {
    await load(["accept cidr=198.18.0.0/16 proto=udp port=53"]);
    expect(await counted(v4udp("198.18.0.1", "198.18.9.9", 40000, 53), { times: 4 })).toBe(4);
    expect(await counted(v4udp("198.18.9.9", "203.0.113.1", 53, 40000))).toBe(1); // the source side matches
    expect(await counted(v4udp("198.19.0.1", "203.0.113.1", 40000, 53))).toBe(0); // neither address in the /16
    expect(await counted(v4tcp("198.18.0.1", "198.18.0.2", 40000, 53))).toBe(0);
    expect(await counted(v4udp("198.18.0.1", "198.18.0.2", 40000, 54))).toBe(0);
    expect(await counted(v6udp("fd00::1", "fd00::2", 40000, 53))).toBe(0); // an IPv4 CIDR matches IPv4 only
    expect(await counted(arp(), { times: 2 })).toBe(0); // not IP: the default
    const counts = prog!.object.filter!.readCounts();
    expect(counts.byDefault.packets).toBe(6);
    expect(counts.byRule[0]).toEqual({ packets: 0, bytes: 0 }); // accept rules count nothing
  });

  test("only reject rules: the default accepts, non-IP frames included; --filter-default reject turns that round", async () => {
    await load(["reject cidr=fd00::/8"]);
    expect(await counted(arp())).toBe(1);
    expect(await counted(v4udp("198.18.0.1", "198.18.0.2", 1, 2))).toBe(1);
    expect(await counted(v6udp("fd00::1", "2001:db8::1", 1, 2))).toBe(0);
    prog![Symbol.dispose]();
    await load(["reject cidr=fd00::/8"], "reject");
    expect(await counted(arp())).toBe(0);
    expect(await counted(v4udp("198.18.0.1", "198.18.0.2", 1, 2))).toBe(0);
    expect(prog!.object.filter!.readCounts().byDefault.packets).toBe(2);
  });

  test("specificity: the longest prefix wins whatever the order given", async () => {
    for (const rules of [
      ["reject cidr=198.18.0.0/15", "accept cidr=198.18.5.0/24"],
      ["accept cidr=198.18.5.0/24", "reject cidr=198.18.0.0/15"],
    ]) {
      await load([...rules, "accept"]);
      expect(await counted(v4udp("203.0.113.1", "198.18.5.7", 1, 2))).toBe(1);
      expect(await counted(v4udp("203.0.113.1", "198.18.6.7", 1, 2))).toBe(0);
      expect(await counted(v4udp("198.19.255.1", "203.0.113.1", 1, 2))).toBe(0);
      expect(await counted(v4udp("203.0.113.1", "203.0.113.2", 1, 2))).toBe(1); // only the rule without a CIDR (/0)
      prog![Symbol.dispose]();
      prog = undefined;
    }
  });

  test("equal prefixes: the first given wins; a longer rule that does not match falls through to a shorter one", async () => {
    await load(["reject cidr=198.18.0.0/16 proto=udp", "accept cidr=198.18.0.0/16"]);
    expect(await counted(v4udp("198.18.0.1", "198.18.0.2", 1, 2))).toBe(0);
    expect(await counted(v4tcp("198.18.0.1", "198.18.0.2", 1, 2))).toBe(1);
    prog![Symbol.dispose]();
    await load(["accept cidr=198.18.0.0/16", "reject cidr=198.18.0.0/16 proto=udp"]);
    expect(await counted(v4udp("198.18.0.1", "198.18.0.2", 1, 2))).toBe(1);
    prog![Symbol.dispose]();
    // The /24 rule covers the address but not UDP: the /15 one decides.
    await load(["reject cidr=198.18.0.0/15", "accept cidr=198.18.0.0/24 proto=tcp"], "accept");
    expect(await counted(v4tcp("198.18.0.1", "198.18.0.2", 1, 2))).toBe(1);
    expect(await counted(v4udp("198.18.0.1", "198.18.0.2", 1, 2))).toBe(0);
    expect(prog!.object.filter!.readCounts().byRule.map((r) => r.packets)).toEqual([1, 0]);
  });

  test("src= and dst= match one address; between the two sides the longer prefix wins, then the first given", async () => {
    await load(["reject src=198.18.0.0/16", "accept dst=198.18.7.0/24"], "accept");
    expect(await counted(v4udp("198.18.0.1", "203.0.113.1", 1, 2))).toBe(0);
    expect(await counted(v4udp("203.0.113.1", "198.18.0.1", 1, 2))).toBe(1); // src= does not look at the destination
    expect(await counted(v4udp("198.18.0.1", "198.18.7.1", 1, 2))).toBe(1); // /24 on the destination beats /16 on the source
    prog![Symbol.dispose]();
    await load(["reject src=198.18.0.0/16", "accept dst=198.18.0.0/16"], "accept");
    expect(await counted(v4udp("198.18.0.1", "198.18.7.1", 1, 2))).toBe(0); // equal: the first given
  });

  test("port ranges: port= either port, inclusive bounds; src-port and dst-port together", async () => {
    await load(["reject port=1000-2000"]);
    for (const [sport, dport, expected] of [
      [1000, 80, 0], [80, 2000, 0], [1500, 1500, 0], [999, 2001, 1], [80, 443, 1], [2001, 999, 1],
    ] as const)
      expect([sport, dport, await counted(v4tcp("198.18.0.1", "198.18.0.2", sport, dport))]).toEqual([sport, dport, expected]);
    prog![Symbol.dispose]();
    await load(["reject cidr=fd00::/8 src-port=1000-2000 dst-port=53"]);
    expect(await counted(v6udp("fd00::1", "fd00::2", 1000, 53))).toBe(0);
    expect(await counted(v6tcp("fd00::1", "fd00::2", 2000, 53))).toBe(0);
    expect(await counted(v6udp("fd00::1", "fd00::2", 2001, 53))).toBe(1);
    expect(await counted(v6udp("fd00::1", "fd00::2", 1500, 54))).toBe(1);
    expect(await counted(v4udp("198.18.0.1", "198.18.0.2", 1500, 53))).toBe(1); // an IPv6 CIDR matches IPv6 only
  });

  test("a port rule does not match a later fragment (it has no ports)", async () => {
    await load(["reject proto=udp port=53"]);
    const later = bytes(ethernet(0x86dd), ipv6({ nextHeader: 44, src: "fd00::1", dst: "fd00::2", payloadLength: 8 + 16 }), ipv6Fragment(17, 2, false), payload(16));
    expect(await counted(later)).toBe(1);
  });

  test("direction: dir=egress rejects at egress only", async () => {
    await load(["reject dir=egress proto=udp"]);
    const packet = v4udp("198.18.0.1", "198.18.0.2", 5000, 5001);
    expect(await counted(packet, { times: 2 })).toBe(2);
    expect(await counted(packet, { times: 2, egress: true })).toBe(0);
    expect(await counted(v4tcp("198.18.0.1", "198.18.0.2", 5000, 5001), { egress: true })).toBe(1);
  });

  test("ICMP type and code, IPv4 and IPv6", async () => {
    await load(["reject icmp-type=8", "reject proto=icmpv6 icmp-type=128", "reject icmp-type=3 icmp-code=4"]);
    expect(await counted(v4icmp(8), { times: 3 })).toBe(0); // echo request
    expect(await counted(v4icmp(0), { times: 3 })).toBe(3); // echo reply
    expect(await counted(v6icmp(128))).toBe(0);
    expect(await counted(v6icmp(129))).toBe(1);
    expect(await counted(v4icmp(3, 4))).toBe(0);
    expect(await counted(v4icmp(3, 1))).toBe(1);
    expect(await counted(v6icmp(8))).toBe(0); // icmp-type=8 without proto: ICMPv6 type 8 too
    expect(prog!.object.filter!.readCounts().byRule.map((r) => r.packets)).toEqual([4, 1, 1]);
  });

  test("::/0 is IPv6 only, 0.0.0.0/0 IPv4 only", async () => {
    await load(["reject cidr=::/0"]);
    expect(await counted(v4udp("198.18.0.1", "198.18.0.2", 1, 2))).toBe(1);
    expect(await counted(v6udp("fd00::1", "fd00::2", 1, 2))).toBe(0);
    prog![Symbol.dispose]();
    await load(["reject cidr=0.0.0.0/0"]);
    expect(await counted(v4udp("198.18.0.1", "198.18.0.2", 1, 2))).toBe(0);
    expect(await counted(v6udp("fd00::1", "fd00::2", 1, 2))).toBe(1);
  });

  test("the trie holds each address's candidates in winning order (what the kernel looks up)", async () => {
    await load(["reject cidr=198.18.0.0/15", "accept dir=ingress src=198.18.5.0/24 proto=tcp", "accept cidr=198.18.5.0/24", "reject"]);
    const chain = (direction: "ingress" | "egress", side: "src" | "dst", address: string) =>
      prog!.object.filter!.lookupChain(direction, side, parseIpAddress(address)!);
    expect(chain("ingress", "src", "198.18.5.1")).toEqual([1, 2, 0, 3]);
    expect(chain("egress", "src", "198.18.5.1")).toEqual([2, 0, 3]);
    expect(chain("ingress", "dst", "198.18.5.1")).toEqual([2, 0]);
    expect(chain("ingress", "src", "198.18.6.1")).toEqual([0, 3]);
    expect(chain("ingress", "dst", "203.0.113.1")).toBeUndefined();
    expect(chain("ingress", "src", "fd00::1")).toEqual([3]);
  });

  test("sides without rules are not looked up: destinations only, a rule without CIDR on the destination side", async () => {
    await load(["accept dst=198.18.0.0/15", "reject proto=udp", "reject dir=egress src=203.0.113.0/24 proto=tcp"]);
    const chain = (direction: "ingress" | "egress", side: "src" | "dst", address: string) =>
      prog!.object.filter!.lookupChain(direction, side, parseIpAddress(address)!);
    expect(chain("ingress", "src", "198.18.0.1")).toBeUndefined();
    expect(chain("ingress", "dst", "198.18.0.2")).toEqual([0, 1]);
    expect(chain("ingress", "dst", "203.0.113.1")).toEqual([1]);
    expect(chain("egress", "src", "203.0.113.1")).toEqual([2, 1]);
    expect(await counted(v4udp("203.0.113.1", "198.18.0.2", 40000, 53), { times: 2 })).toBe(2); // /15 beats /0
    expect(await counted(v4udp("198.18.0.1", "203.0.113.2", 40000, 53))).toBe(0); // rule 1
    expect(await counted(v4tcp("198.18.0.1", "203.0.113.2", 40000, 443))).toBe(0); // default
    expect(await counted(v4tcp("203.0.113.1", "198.18.0.2", 40000, 443), { egress: true })).toBe(0); // rule 2, src at egress
    expect(await counted(v4tcp("203.0.113.1", "198.18.0.2", 40000, 443))).toBe(1); // rule 2 is egress only
    const counts = prog!.object.filter!.readCounts();
    expect(counts.byRule.map((r) => r.packets)).toEqual([0, 1, 1]);
    expect(counts.byDefault.packets).toBe(1);
  });

  test("without rules the filter is compiled out: no filter maps in use, every packet counted", async () => {
    prog = await ProgramUnderTest.load();
    expect(prog.object.filter).toBeUndefined();
    expect(await counted(v4udp("198.18.0.1", "198.18.0.2", 1, 53))).toBe(1);
  });

  test("a rejected flow's packets never reach the map: accepted flows beside it keep exact counts", async () => {
    await load(["reject dst-port=9"]);
    const keep = v4udp("198.18.0.1", "198.18.0.2", 4000, 7, 100);
    const drop = v4udp("198.18.0.1", "198.18.0.2", 4000, 9, 100);
    for (let i = 0; i < 50; i++) {
      prog!.run(keep);
      prog!.run(drop);
    }
    const { records } = await prog!.evict();
    expect(records.map((r) => [addressText(r.dstAddr, r.ethType), r.dstPort, r.packets, r.bytes])).toEqual([["198.18.0.2", 7, 50, 50 * keep.length]]);
    expect(prog!.object.filter!.readCounts().total).toEqual({ packets: 50, bytes: 50 * drop.length });
  });
});
