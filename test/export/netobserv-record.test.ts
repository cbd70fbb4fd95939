import { describe, expect, test } from "bun:test";
import { create, toBinary, toJson } from "@bufbuild/protobuf";
import {
  agentIpMessage,
  fromNetobservRecord,
  ipv4Integer,
  macInteger,
  toNetobservRecord,
  toNetobservRecords,
} from "../../src/export/netobserv-record.ts";
import { DataLinkSchema, IPSchema, RecordSchema, RecordsSchema } from "../../src/gen/pbflow/flow_pb.ts";
import { ipv4, ipv6, mac, udpFlow } from "../api/flow-fixtures.ts";

const agentIp = agentIpMessage(new Uint8Array([192, 0, 2, 7]));
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

describe("netobserv encoding quirks", () => {
  test("IPv4 is a big-endian integer; on the wire a fixed32 (little-endian bytes)", () => {
    expect(ipv4Integer(ipv4("10.0.0.1"))).toBe(0x0a000001);
    expect(ipv4Integer(ipv4("255.255.255.255"))).toBe(0xffffffff);
    const ip = create(IPSchema, { ipFamily: { case: "ipv4", value: ipv4Integer(ipv4("10.0.0.1")) } });
    // 0d = field 1, wire type 5 (fixed32); then 0x0A000001 little-endian.
    expect(hex(toBinary(IPSchema, ip))).toBe("0d" + "0100000a");
  });

  test("MACs are the 48-bit address as a uint64", () => {
    expect(macInteger(mac("11:22:33:44:55:66"))).toBe(0x112233445566n);
    expect(macInteger(mac("ff:ff:ff:ff:ff:ff"))).toBe(0xffffffffffffn);
    const link = create(DataLinkSchema, { srcMac: macInteger(mac("00:00:00:00:01:02")), dstMac: 0n });
    // 08 = field 1 varint; 0x0102 = 258 → 82 02.
    expect(hex(toBinary(DataLinkSchema, link))).toBe("08" + "8202");
  });

  test("agent_ip from 4 bytes, IPv4-mapped 16 bytes, or IPv6", () => {
    expect(toJson(IPSchema, agentIp)).toEqual({ ipv4: 0xc0000207 });
    expect(toJson(IPSchema, agentIpMessage(ipv4("192.0.2.7")))).toEqual({ ipv4: 0xc0000207 });
    expect(toJson(IPSchema, agentIpMessage(ipv6("fd00:0:0:0:0:0:0:1")))).toEqual({ ipv6: "/QAAAAAAAAAAAAAAAAAAAQ==" });
  });
});

describe("toNetobservRecord", () => {
  test("a UDP/IPv4 flow, every field", () => {
    const record = toNetobservRecord(udpFlow(), agentIp);
    expect(toJson(RecordSchema, record)).toEqual({
      ethProtocol: 0x0800,
      direction: "EGRESS",
      timeFlowStart: "2025-11-24T16:00:00.250Z",
      timeFlowEnd: "2025-11-24T16:00:01.750Z",
      dataLink: { srcMac: String(0x02000000000a), dstMac: String(0x02000000000b) },
      network: { srcAddr: { ipv4: 0xc6120001 }, dstAddr: { ipv4: 0xc6120002 }, dscp: 46 },
      transport: { srcPort: 40000, dstPort: 5000, protocol: 17 },
      bytes: "1420",
      packets: "10",
      interface: "veth-a",
      agentIp: { ipv4: 0xc0000207 },
      dupList: [{ interface: "veth-a", direction: "EGRESS" }],
    });
  });

  test("ingress maps to INGRESS (0), in the record and in dup_list", () => {
    const record = toNetobservRecord(udpFlow({ direction: "ingress", interface: "eth0" }), agentIp);
    expect(record.direction).toBe(0);
    expect(record.dupList.map((d) => [d.interface, d.direction])).toEqual([["eth0", 0]]);
  });

  test("TCP over IPv6: 16-byte addresses, flags without NS (0x100 means SYN_ACK to netobserv)", () => {
    const record = toNetobservRecord(
      udpFlow({
        ethType: 0x86dd,
        protocol: 6,
        srcAddr: ipv6("fd00:0:0:0:0:0:0:1"),
        dstAddr: ipv6("fd00:0:0:0:0:0:0:2"),
        tcpFlags: 0x100 | 0x10 | 0x02, // NS, ACK, SYN
      }),
      agentIp,
    );
    expect(record.flags).toBe(0x12);
    expect(toJson(RecordSchema, record)).toMatchObject({
      ethProtocol: 0x86dd,
      network: { srcAddr: { ipv6: "/QAAAAAAAAAAAAAAAAAAAQ==" }, dstAddr: { ipv6: "/QAAAAAAAAAAAAAAAAAAAg==" }, dscp: 46 },
      transport: { srcPort: 40000, dstPort: 5000, protocol: 6 },
      flags: 0x12,
    });
  });

  test("every TCP header flag passes through unchanged", () => {
    for (const bit of [0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80])
      expect(toNetobservRecord(udpFlow({ protocol: 6, tcpFlags: bit }), agentIp).flags).toBe(bit);
    expect(toNetobservRecord(udpFlow({ protocol: 6, tcpFlags: 0x1ff }), agentIp).flags).toBe(0xff);
  });

  test("flags only for TCP; ICMP type/code only for ICMP; ports only for TCP/UDP/SCTP", () => {
    const udp = toNetobservRecord(udpFlow({ tcpFlags: 0x02, icmpType: 3, icmpCode: 1 }), agentIp);
    expect([udp.flags, udp.icmpType, udp.icmpCode]).toEqual([0, 0, 0]);
    const sctp = toNetobservRecord(udpFlow({ protocol: 132 }), agentIp);
    expect([sctp.transport!.srcPort, sctp.transport!.dstPort, sctp.transport!.protocol]).toEqual([40000, 5000, 132]);
    const icmp = toNetobservRecord(udpFlow({ protocol: 1, srcPort: 9, dstPort: 9, icmpType: 8, icmpCode: 0 }), agentIp);
    expect([icmp.transport!.srcPort, icmp.transport!.dstPort, icmp.transport!.protocol, icmp.icmpType]).toEqual([0, 0, 1, 8]);
    const icmpv6 = toNetobservRecord(
      udpFlow({ ethType: 0x86dd, protocol: 58, srcAddr: ipv6("fd00:0:0:0:0:0:0:1"), icmpType: 128, icmpCode: 0 }),
      agentIp,
    );
    expect([icmpv6.icmpType, icmpv6.transport!.protocol]).toEqual([128, 58]);
    // Protocol 1 over IPv6 is not ICMPv6: no type/code.
    expect(toNetobservRecord(udpFlow({ ethType: 0x86dd, protocol: 1, icmpType: 8 }), agentIp).icmpType).toBe(0);
    const gre = toNetobservRecord(udpFlow({ protocol: 47, srcPort: 1, dstPort: 2 }), agentIp);
    expect([gre.transport!.srcPort, gre.transport!.dstPort, gre.transport!.protocol]).toEqual([0, 0, 47]);
  });

  test("a non-IP flow still has network and transport set (FLP dereferences them)", () => {
    const arp = toNetobservRecord(
      udpFlow({ ethType: 0x0806, protocol: 0, srcAddr: new Uint8Array(16), dstAddr: new Uint8Array(16), srcPort: 0, dstPort: 0, dscp: 0 }),
      agentIp,
    );
    expect(arp.network).toBeDefined();
    expect(arp.transport).toBeDefined();
    expect(toJson(RecordSchema, arp)).toMatchObject({ ethProtocol: 0x0806, network: {}, transport: {} });
    // Present on the wire even though empty: tag 0x32 (field 6) and 0x3a (field 7), length 0.
    const wire = hex(toBinary(RecordSchema, arp));
    expect(wire).toContain("3200");
    expect(wire).toContain("3a00");
    // ARP with the addresses the kernel read (IPv4-mapped) keeps them as ipv4.
    const arpWithIps = toNetobservRecord(udpFlow({ ethType: 0x0806, protocol: 0 }), agentIp);
    expect(toJson(RecordSchema, arpWithIps)).toMatchObject({ network: { srcAddr: { ipv4: 0xc6120001 }, dstAddr: { ipv4: 0xc6120002 } } });
  });

  test("sub-millisecond times survive as nanoseconds", () => {
    const record = toNetobservRecord(udpFlow({ startMs: 1_764_000_000_250.125 }), agentIp);
    expect(record.timeFlowStart!.nanos).toBe(250_125_000);
  });

  test("Records wraps one entry per record, in order", () => {
    const records = toNetobservRecords([udpFlow({ bytes: 1 }), udpFlow({ bytes: 2 }), udpFlow({ bytes: 3 })], agentIp);
    expect(records.entries.map((e) => e.bytes)).toEqual([1n, 2n, 3n]);
    expect(toBinary(RecordsSchema, records).length).toBeGreaterThan(0);
  });
});

describe("fromNetobservRecord (collect --protocol netobserv)", () => {
  test("inverts toNetobservRecord except what pbflow cannot carry", () => {
    const original = udpFlow({ ifindex: 9, flags: 1, protocol: 6, tcpFlags: 0x112 });
    expect(fromNetobservRecord(toNetobservRecord(original, agentIp))).toEqual({ ...original, ifindex: 0, flags: 0, tcpFlags: 0x12 });
  });

  test("RTT: time_flow_rtt 24 is the max (netobserv's flow RTT), ns exact; decoded as latest = min = max", () => {
    const original = udpFlow({ protocol: 6, rtt: { latestNs: 20_426_000, minNs: 20_246_000, maxNs: 2e9 + 27_856_001 } });
    const m = toNetobservRecord(original, agentIp);
    expect([m.timeFlowRtt?.seconds, m.timeFlowRtt?.nanos]).toEqual([2n, 27_856_001]);
    expect(fromNetobservRecord(m)).toEqual({ ...original, ifindex: 0, rtt: { latestNs: 2e9 + 27_856_001, minNs: 2e9 + 27_856_001, maxNs: 2e9 + 27_856_001 } });
    expect(toNetobservRecord(udpFlow(), agentIp).timeFlowRtt).toBeUndefined();
  });

  test("DNS: dns_id 21, dns_flags 22, dns_latency 23 (ns exact), dns_name 32; no dns_errno", () => {
    const original = udpFlow({ direction: "ingress", srcPort: 53, dns: { id: 4660, flags: 0x8183, latencyNs: 2e9 + 40_123_457, name: "nosuch.test" } });
    const m = toNetobservRecord(original, agentIp);
    expect([m.dnsId, m.dnsFlags, m.dnsLatency?.seconds, m.dnsLatency?.nanos, m.dnsName, m.dnsErrno]).toEqual([4660, 0x8183, 2n, 40_123_457, "nosuch.test", 0]);
    expect(fromNetobservRecord(m)).toEqual({ ...original, ifindex: 0 });
    // dns_name is field 32, length-delimited: tag (32 << 3 | 2) = 0x102 → varint 82 02, then length 11.
    expect(hex(toBinary(RecordSchema, m))).toContain("82020b" + hex(new TextEncoder().encode("nosuch.test")));
    const none = toNetobservRecord(udpFlow(), agentIp);
    expect([none.dnsLatency, none.dnsName]).toEqual([undefined, ""]);
  });

  test("drops: pkt_drop_bytes 16, packets 17, latest_flags 18, latest_state 19, latest_drop_cause 20", () => {
    const drops = { packets: 3, bytes: 180, reason: "NETFILTER_DROP", reasonCode: 8, tcpState: 1, tcpFlags: 0x118 };
    const original = udpFlow({ protocol: 6, drops });
    const m = toNetobservRecord(original, agentIp);
    // Flags as field 13: the header's bits only (netobserv's 0x100 is SYN_ACK, our NS).
    expect([m.pktDropBytes, m.pktDropPackets, m.pktDropLatestFlags, m.pktDropLatestState, m.pktDropLatestDropCause]).toEqual([180n, 3n, 0x18, 1, 8]);
    // On the wire: 80 01 b4 01 (16: 180), 88 01 03 (17: 3), 90 01 18 (18), 98 01 01 (19), a0 01 08 (20).
    expect(hex(toBinary(RecordSchema, m))).toContain("8001b401" + "880103" + "900118" + "980101" + "a00108");
    // pbflow carries the cause's number only: named by the collector's table, else its decimal text.
    expect(fromNetobservRecord(m, new Map([[8, "NETFILTER_DROP"]]))).toEqual({ ...original, ifindex: 0, tcpFlags: 0, drops: { ...drops, tcpFlags: 0x18 } });
    expect(fromNetobservRecord(m).drops).toEqual({ ...drops, reason: "UNKNOWN(8)", tcpFlags: 0x18 });
    expect(fromNetobservRecord(m, new Map([[2, "NOT_SPECIFIED"]])).drops?.reason).toBe("UNKNOWN(8)");
  });

  test("drops: absent without drops (no field 16-20 on the wire); netobserv's SYN_ACK bit folds back; a bad state is refused", () => {
    const plain = toNetobservRecord(udpFlow(), agentIp);
    expect([plain.pktDropBytes, plain.pktDropPackets, plain.pktDropLatestDropCause]).toEqual([0n, 0n, 0]);
    expect(fromNetobservRecord(plain).drops).toBeUndefined();
    const fromNetobserv = create(RecordSchema, { ethProtocol: 0x0800, pktDropPackets: 1n, pktDropBytes: 52n, pktDropLatestFlags: 0x100, pktDropLatestState: 2, pktDropLatestDropCause: 5 });
    expect(fromNetobservRecord(fromNetobserv, new Map([[5, "TCP_CSUM"]])).drops).toEqual({ packets: 1, bytes: 52, reason: "TCP_CSUM", reasonCode: 5, tcpState: 2, tcpFlags: 0x12 });
    fromNetobserv.pktDropLatestState = 300;
    expect(() => fromNetobservRecord(fromNetobserv)).toThrow("pkt_drop_latest_state 300 must be <= 255");
  });

  test("netobserv's SYN_ACK, FIN_ACK, RST_ACK bits fold back into TCP flags", () => {
    const record = toNetobservRecord(udpFlow({ protocol: 6 }), agentIp);
    for (const [netobserv, tcp] of [[0x100, 0x12], [0x200, 0x11], [0x400, 0x14], [0x708, 0x1f]] as const) {
      record.flags = netobserv;
      expect(fromNetobservRecord(record).tcpFlags).toBe(tcp);
    }
  });

  test("values no FlowRecord can hold are refused, naming the field", () => {
    const record = toNetobservRecord(udpFlow(), agentIp);
    record.transport!.srcPort = 70000;
    expect(() => fromNetobservRecord(record)).toThrow("transport.src_port 70000 must be <= 65535");
    const mac = toNetobservRecord(udpFlow(), agentIp);
    mac.dataLink!.srcMac = 1n << 48n;
    expect(() => fromNetobservRecord(mac)).toThrow("data_link.src_mac 281474976710656 is wider than 48 bits");
    const ip = toNetobservRecord(udpFlow({ ethType: 0x86dd }), agentIp);
    ip.network!.dstAddr = create(IPSchema, { ipFamily: { case: "ipv6", value: new Uint8Array(4) } });
    expect(() => fromNetobservRecord(ip)).toThrow("network.dst_addr.ipv6 has 4 bytes, expected 16");
  });

  test("a record without network, transport or data_link reads as zeros", () => {
    const bare = create(RecordSchema, { ethProtocol: 0x0806, interface: "eth1", packets: 2n, bytes: 120n });
    expect(fromNetobservRecord(bare)).toMatchObject({ interface: "eth1", srcPort: 0, protocol: 0, srcAddr: new Uint8Array(16), srcMac: new Uint8Array(6) });
  });
});
