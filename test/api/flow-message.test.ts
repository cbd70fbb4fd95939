import { describe, expect, test } from "bun:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  fromBatchMessage,
  fromFlowMessage,
  msToTimestamp,
  timestampToMs,
  toBatchMessage,
  toFlowMessage,
} from "../../src/api/flow-message.ts";
import { Direction, DropsSchema, FlowBatchSchema, FlowSchema, OwnerSchema, type OwnerSource } from "../../src/gen/netflow/v1/flow_pb.ts";
import { batchOf, ipv6, mac, plainBatch, udpFlow } from "./flow-fixtures.ts";

const tcp6 = udpFlow({
  ifindex: 3,
  interface: "eth0",
  direction: "ingress",
  ethType: 0x86dd,
  protocol: 6,
  srcAddr: ipv6("fd00:0:0:0:0:0:0:1"),
  dstAddr: ipv6("fd00:0:0:0:0:0:0:2"),
  srcPort: 443,
  dstPort: 51000,
  packets: 2 ** 40,
  bytes: 2 ** 52,
  tcpFlags: 0x12,
  flags: 3,
});

describe("toFlowMessage", () => {
  test("an IPv4 flow: 4-byte addresses, every field copied", () => {
    const m = toFlowMessage(udpFlow());
    expect(m.interface).toBe("veth-a");
    expect(m.ifindex).toBe(7);
    expect(m.direction).toBe(Direction.EGRESS);
    expect(m.ethType).toBe(0x0800);
    expect([...m.srcAddr]).toEqual([198, 18, 0, 1]);
    expect([...m.dstAddr]).toEqual([198, 18, 0, 2]);
    expect([...m.srcMac]).toEqual([2, 0, 0, 0, 0, 0x0a]);
    expect([...m.dstMac]).toEqual([2, 0, 0, 0, 0, 0x0b]);
    expect([m.srcPort, m.dstPort, m.protocol]).toEqual([40000, 5000, 17]);
    expect([m.packets, m.bytes]).toEqual([10n, 1420n]);
    expect([m.start?.seconds, m.start?.nanos]).toEqual([1_764_000_000n, 250_000_000]);
    expect([m.end?.seconds, m.end?.nanos]).toEqual([1_764_000_001n, 750_000_000]);
    expect([m.tcpFlags, m.dscp, m.icmpType, m.icmpCode, m.flags]).toEqual([0, 46, 0, 0, 0]);
  });

  test("an IPv6 flow keeps 16-byte addresses and 64-bit counts", () => {
    const m = toFlowMessage(tcp6);
    expect(m.srcAddr.length).toBe(16);
    expect([...m.dstAddr]).toEqual([...ipv6("fd00:0:0:0:0:0:0:2")]);
    expect(m.direction).toBe(Direction.INGRESS);
    expect([m.packets, m.bytes]).toEqual([1_099_511_627_776n, 4_503_599_627_370_496n]);
  });

  test("a non-IP flow (ARP) has empty addresses", () => {
    const m = toFlowMessage(udpFlow({ ethType: 0x0806, protocol: 0, srcAddr: new Uint8Array(16), dstAddr: new Uint8Array(16), srcPort: 0, dstPort: 0 }));
    expect(m.srcAddr.length).toBe(0);
    expect(m.dstAddr.length).toBe(0);
  });

  test("sub-millisecond times are kept to the nanosecond", () => {
    const ts = msToTimestamp(1_764_000_000_123.5);
    expect([ts.seconds, ts.nanos]).toEqual([1_764_000_000n, 123_500_000]);
    expect(timestampToMs(ts)).toBe(1_764_000_000_123.5);
  });
});

describe("round trip through the wire format", () => {
  for (const [name, record] of [
    ["IPv4 UDP", udpFlow()],
    ["IPv6 TCP with flags", tcp6],
    ["ICMP", udpFlow({ protocol: 1, srcPort: 0, dstPort: 0, icmpType: 8, icmpCode: 0 })],
    ["ARP", udpFlow({ ethType: 0x0806, protocol: 0, srcAddr: new Uint8Array(16), dstAddr: new Uint8Array(16), srcPort: 0, dstPort: 0, dscp: 0 })],
    ["owned, in a container", udpFlow({ owner: { source: "socket", pid: 4242, comm: "iperf3", cgroupId: 2 ** 40, socketCookie: 2 ** 50 + 1, cgroupPath: "/system.slice/docker-ab.scope", containerId: "ab" } })],
    ["owned, cgroup gone", udpFlow({ owner: { source: "listener", pid: 1, comm: "sshd", cgroupId: 77, socketCookie: 3 } })],
    ["no local socket", udpFlow({ owner: { source: "none", pid: 0, comm: "", cgroupId: 0, socketCookie: 0 } })],
    ["a DNS response", udpFlow({ direction: "ingress", srcPort: 53, dns: { id: 4660, flags: 0x8183, latencyNs: 40_123_457, name: "nosuch.test" } })],
    ["a TCP flow with its RTT", udpFlow({ protocol: 6, rtt: { latestNs: 20_426_000, minNs: 20_246_000, maxNs: 2e9 + 27_856_001 } })],
    ["a flow with drops", udpFlow({ protocol: 6, drops: { packets: 3, bytes: 2 ** 40, reason: "NETFILTER_DROP", reasonCode: 8, tcpState: 1, tcpFlags: 0x118 } })],
    ["a drop-only flow, reason unnamed", udpFlow({ packets: 0, bytes: 0, drops: { packets: 1, bytes: 60, reason: "UNKNOWN(196608)", reasonCode: 196608, tcpState: 0, tcpFlags: 0 } })],
  ] as const) {
    test(name, () => {
      const wire = toBinary(FlowSchema, toFlowMessage(record));
      expect(fromFlowMessage(fromBinary(FlowSchema, wire))).toEqual(record);
    });
  }

  test("a batch: records, eviction time and duration, kernel counters", () => {
    const batch = batchOf([udpFlow(), tcp6]);
    const wire = toBinary(FlowBatchSchema, toBatchMessage(batch));
    expect(plainBatch(fromBatchMessage(fromBinary(FlowBatchSchema, wire)))).toEqual(plainBatch(batch));
  });

  test("drops: every field of netflow.v1.Drops, the reason by name and number", () => {
    const m = toFlowMessage(udpFlow({ drops: { packets: 3, bytes: 180, reason: "NO_SOCKET", reasonCode: 3, tcpState: 12, tcpFlags: 0x04 } }));
    expect([m.drops?.packets, m.drops?.bytes, m.drops?.reason, m.drops?.reasonCode, m.drops?.tcpState, m.drops?.tcpFlags]).toEqual([3n, 180n, "NO_SOCKET", 3, 12, 0x04]);
    expect(toFlowMessage(udpFlow()).drops).toBeUndefined();
  });

  test("a batch with drops keeps them by row", () => {
    const dropped = udpFlow({ drops: { packets: 1, bytes: 60, reason: "QDISC_DROP", reasonCode: 9, tcpState: 0, tcpFlags: 0 } });
    const batch = batchOf([udpFlow(), dropped]);
    const flows = fromBatchMessage(fromBinary(FlowBatchSchema, toBinary(FlowBatchSchema, toBatchMessage(batch)))).flows;
    expect([flows.drops(0), flows.drops(1)]).toEqual([undefined, dropped.drops]);
  });

  test("a batch with a subset of its records", () => {
    const batch = batchOf([udpFlow(), tcp6]);
    expect(fromBatchMessage(toBatchMessage(batch, [tcp6])).flows.records()).toEqual([tcp6]);
  });
});

describe("fromFlowMessage rejects what no record can hold", () => {
  const good = () => toFlowMessage(udpFlow());
  const cases: [string, (m: ReturnType<typeof good>) => void, string][] = [
    ["5-byte address", (m) => (m.srcAddr = new Uint8Array(5)), "src_addr has 5 bytes, expected 4 (IPv4), 16 (IPv6) or 0 (not IP)"],
    ["7-byte MAC", (m) => (m.dstMac = new Uint8Array(7)), "dst_mac has 7 bytes, expected 6"],
    ["no direction", (m) => (m.direction = Direction.UNSPECIFIED), "direction 0 must be 1 (ingress) or 2 (egress)"],
    ["port out of range", (m) => (m.dstPort = 70000), "dst_port 70000 must be <= 65535"],
    ["protocol out of range", (m) => (m.protocol = 256), "protocol 256 must be <= 255"],
    ["owner without a source", (m) => (m.owner = create(OwnerSchema, { pid: 5 })), "owner.source 0 (unspecified) must be set"],
    ["drops TCP state out of range", (m) => (m.drops = create(DropsSchema, { packets: 1n, tcpState: 256 })), "drops.tcp_state 256 must be <= 255"],
    ["drops TCP flags out of range", (m) => (m.drops = create(DropsSchema, { packets: 1n, tcpFlags: 0x10000 })), "drops.tcp_flags 65536 must be <= 65535"],
  ];
  for (const [name, spoil, message] of cases) {
    test(name, () => {
      const m = good();
      spoil(m);
      expect(() => fromFlowMessage(m)).toThrow(message);
    });
  }

  test("a bad flow in a batch is named by its index", () => {
    const m = toBatchMessage(batchOf([udpFlow(), udpFlow()]));
    m.flows[1]!.srcAddr = new Uint8Array(3);
    expect(() => fromBatchMessage(m)).toThrow("flow 1: src_addr has 3 bytes, expected 4 (IPv4), 16 (IPv6) or 0 (not IP)");
  });

  test("an owner source a newer agent added reads as unknown, its other fields kept", () => {
    const m = toFlowMessage(udpFlow());
    m.owner = create(OwnerSchema, { source: 9 as OwnerSource, pid: 5, comm: "x", cgroupId: 7n });
    expect(fromFlowMessage(m).owner).toEqual({ source: "unknown", pid: 5, comm: "x", cgroupId: 7, socketCookie: 0 });
  });

  test("missing MACs and interface name get the record's defaults", () => {
    const r = fromFlowMessage(create(FlowSchema, { ifindex: 9, direction: Direction.INGRESS, ethType: 0x0800 }));
    expect(r.interface).toBe("if9");
    expect([...r.srcMac]).toEqual([0, 0, 0, 0, 0, 0]);
    expect([...r.srcAddr]).toEqual([...new Uint8Array(16)]);
    expect(r.srcMac).toEqual(mac("00:00:00:00:00:00"));
  });
});
