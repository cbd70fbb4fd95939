import { describe, expect, test } from "bun:test";
import { create } from "@bufbuild/protobuf";
import { DurationSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { compileFlowFilter, parseProtocol } from "../../src/api/flow-filter.ts";
import { FlowColumns } from "../../src/flow/flow-columns.ts";
import { FlowFilterSchema } from "../../src/gen/netflow/v1/agent_pb.ts";
import { ipv4, ipv6, udpFlow } from "./flow-fixtures.ts";

const udp4 = udpFlow(); // veth-a (ifindex 7) 198.18.0.1:40000 → 198.18.0.2:5000 UDP
const tcp6 = udpFlow({ interface: "eth0", ifindex: 3, ethType: 0x86dd, protocol: 6, srcAddr: ipv6("fd00:0:0:0:0:0:0:1"), dstAddr: ipv6("2001:db8:0:0:0:0:0:9"), srcPort: 443, dstPort: 51000 });
const icmp = udpFlow({ protocol: 1, srcAddr: ipv4("10.0.0.1"), dstAddr: ipv4("10.0.0.2"), srcPort: 0, dstPort: 0 });
const all = [udp4, tcp6, icmp];
const rows = FlowColumns.fromRecords(all);
/** The records whose rows match, read from the columns. */
const kept = (filter: Parameters<typeof compileFlowFilter>[0]) => {
  const { matches } = compileFlowFilter(filter);
  return all.filter((_, i) => matches(rows, i));
};
const keyOf = (filter: Parameters<typeof compileFlowFilter>[0]) => compileFlowFilter(filter).key;

test("no filter, or an empty one, keeps everything", () => {
  expect(kept(undefined)).toEqual(all);
  expect(kept({})).toEqual(all);
});

test("each list: source or destination, any entry", () => {
  expect(kept({ cidrs: ["198.18.0.2"] })).toEqual([udp4]);
  expect(kept({ cidrs: ["2001:db8::/32", "10.0.0.0/24"] })).toEqual([tcp6, icmp]);
  expect(kept({ ports: [40000] })).toEqual([udp4]);
  expect(kept({ ports: [51000, 5000] })).toEqual([udp4, tcp6]);
  expect(kept({ protocols: ["ICMP", "6"] })).toEqual([tcp6, icmp]);
  expect(kept({ interfaces: ["eth0"] })).toEqual([tcp6]);
});

test("lists combine with AND", () => {
  expect(kept({ interfaces: ["veth-a"], protocols: ["udp"] })).toEqual([udp4]);
  expect(kept({ interfaces: ["veth-a"], ports: [443] })).toEqual([]);
});

test("a filter's key: equal for the same flows however written, different otherwise", () => {
  expect(keyOf({ protocols: ["UDP", "tcp"], ports: [443, 53], cidrs: ["10.1.2.3/8"], interfaces: ["eth0", "eth1"] })).toBe(
    keyOf({ protocols: ["6", "17", "udp"], ports: [53, 443], cidrs: ["10.0.0.0/8"], interfaces: ["eth1", "eth0"] }),
  );
  expect(keyOf(undefined)).toBe(keyOf({}));
  expect(keyOf({ interfaces: ["eth0"] })).not.toBe(keyOf({ interfaces: ["ETH0"] })); // names are exact
  expect(keyOf({ cidrs: ["10.0.0.0/8"] })).not.toBe(keyOf({ cidrs: ["10.0.0.0/9"] }));
  expect(keyOf({ ports: [53] })).not.toBe(keyOf({ protocols: ["53"] }));
});

test("protocol names, any case, and numbers 0-255", () => {
  expect(["tcp", "UDP", "icmpv6", "ipv6-icmp", "sctp", "0", "255", " 17 "].map(parseProtocol)).toEqual([6, 17, 58, 58, 132, 0, 255, 17]);
});

test("invalid entries: INVALID_ARGUMENT naming the field and value", () => {
  const cases: [Parameters<typeof compileFlowFilter>[0], string][] = [
    [{ cidrs: ["10.0.0.0/8", "nope"] }, 'filter.cidrs "nope" must be an IPv4 or IPv6 address or CIDR (examples: 10.0.0.0/8, fd00::/8, 192.0.2.7)'],
    [{ ports: [0] }, "filter.ports 0 must be >= 1 and <= 65535"],
    [{ ports: [65536] }, "filter.ports 65536 must be >= 1 and <= 65535"],
    [{ protocols: ["256"] }, 'filter.protocols "256" must be a protocol number 0-255 or one of: icmp, igmp, ipip, tcp, udp, ipv6, gre, esp, ah, icmpv6, ipv6-icmp, ospf, vrrp, sctp, udplite'],
    [{ interfaces: [""] }, 'filter.interfaces "" must be an interface name (1-15 characters, no spaces or "/")'],
    [{ interfaces: ["a-very-long-interface"] }, 'filter.interfaces "a-very-long-interface" must be an interface name (1-15 characters, no spaces or "/")'],
  ];
  for (const [filter, message] of cases) {
    let error: ConnectError | undefined;
    try {
      compileFlowFilter(filter);
    } catch (e) {
      error = e as ConnectError;
    }
    expect({ code: error?.code, message: error?.rawMessage }).toEqual({ code: Code.InvalidArgument, message });
  }
});

describe("by owner (--enable-process)", () => {
  const container = "3f2a9c01b7e4".padEnd(64, "0");
  const iperf = udpFlow({ owner: { source: "socket", pid: 4242, comm: "iperf3", cgroupId: 10, socketCookie: 1, cgroupPath: `/system.slice/docker-${container}.scope`, containerId: container } });
  const sshd = udpFlow({ srcPort: 22, owner: { source: "listener", pid: 812, comm: "sshd", cgroupId: 11, socketCookie: 2, cgroupPath: "/system.slice/ssh.service" } });
  const iperfLong = udpFlow({ owner: { source: "socket", pid: 4243, comm: "iperf3-helper", cgroupId: 12, socketCookie: 3, cgroupPath: "/system.slicer" } });
  const unknown = udpFlow({ owner: { source: "unknown", pid: 0, comm: "", cgroupId: 13, socketCookie: 4 } }); // cgroup gone
  const none = udpFlow({ owner: { source: "none", pid: 0, comm: "", cgroupId: 0, socketCookie: 0 } });
  const off = udpFlow(); // attribution off
  const owned = [iperf, sshd, iperfLong, unknown, none, off];
  const ownedRows = FlowColumns.fromRecords(owned);
  const keptOwned = (filter: Parameters<typeof compileFlowFilter>[0]) => {
    const { matches } = compileFlowFilter(filter);
    return owned.filter((_, i) => matches(ownedRows, i));
  };

  test("pid, command name (exact), cgroup (itself or below), container id (or a prefix, any case)", () => {
    expect(keptOwned({ pids: [4242, 812] })).toEqual([iperf, sshd]);
    expect(keptOwned({ comms: ["iperf3"] })).toEqual([iperf]); // not iperf3-helper
    expect(keptOwned({ comms: ["iperf3-helper", "sshd"] })).toEqual([sshd, iperfLong]);
    expect(keptOwned({ cgroupPaths: ["/system.slice"] })).toEqual([iperf, sshd]); // not /system.slicer
    expect(keptOwned({ cgroupPaths: ["/system.slice/ssh.service/"] })).toEqual([sshd]);
    expect(keptOwned({ cgroupPaths: ["/"] })).toEqual([iperf, sshd, iperfLong]); // every flow whose cgroup is known
    expect(keptOwned({ containerIds: ["3F2A9C01B7E4"] })).toEqual([iperf]);
    expect(keptOwned({ containerIds: [container] })).toEqual([iperf]);
  });

  test("with the other lists, AND; flows without a process match no owner list", () => {
    expect(keptOwned({ comms: ["sshd"], ports: [22] })).toEqual([sshd]);
    expect(keptOwned({ comms: ["sshd"], ports: [40000] })).toEqual([]);
    expect(keptOwned({ pids: [4242], comms: ["sshd"] })).toEqual([]);
    expect(keptOwned({ ports: [40000] })).toEqual([iperf, iperfLong, unknown, none, off]);
  });

  test("keys: equal however written, different per list", () => {
    expect(keyOf({ containerIds: ["ABC"], cgroupPaths: ["/a/"], pids: [2, 1] })).toBe(keyOf({ containerIds: ["abc"], cgroupPaths: ["/a"], pids: [1, 2] }));
    expect(keyOf({ pids: [22] })).not.toBe(keyOf({ ports: [22] }));
    expect(keyOf({ comms: ["a"] })).not.toBe(keyOf({ comms: ["A"] })); // command names are exact
  });

  test("invalid entries: INVALID_ARGUMENT naming the field and value", () => {
    const cases: [Parameters<typeof compileFlowFilter>[0], string][] = [
      [{ pids: [0] }, "filter.pids 0 must be >= 1 and <= 4194304"],
      [{ pids: [4194305] }, "filter.pids 4194305 must be >= 1 and <= 4194304"],
      [{ comms: [""] }, 'filter.comms "" must be a command name of 1-15 bytes (the kernel keeps no more)'],
      [{ comms: ["a-sixteen-bytes!"] }, 'filter.comms "a-sixteen-bytes!" must be a command name of 1-15 bytes (the kernel keeps no more)'],
      [{ cgroupPaths: ["system.slice"] }, 'filter.cgroup_paths "system.slice" must be a cgroup path under the cgroup v2 mount, starting with "/" (example: /system.slice)'],
      [{ containerIds: ["docker-3f2a"] }, 'filter.container_ids "docker-3f2a" must be a container id or its prefix (1-64 hex digits)'],
    ];
    for (const [filter, message] of cases) {
      let error: ConnectError | undefined;
      try {
        compileFlowFilter(filter);
      } catch (e) {
        error = e as ConnectError;
      }
      expect({ code: error?.code, message: error?.rawMessage }).toEqual({ code: Code.InvalidArgument, message });
    }
  });
});

describe("by enrichment (--enable-dns, --enable-rtt, --enable-drops)", () => {
  const ms = 1e6;
  const nxdomain = udpFlow({ srcPort: 53, dns: { id: 1, flags: 0x8183, latencyNs: 40 * ms, name: "nosuch.test" } });
  const noerror = udpFlow({ srcPort: 53, dns: { id: 2, flags: 0x8180, latencyNs: 2 * ms, name: "a.test" } });
  const unassigned = udpFlow({ srcPort: 53, dns: { id: 3, flags: 0x818c, latencyNs: 1 * ms, name: "b.test" } }); // RCODE 12
  const slow = udpFlow({ protocol: 6, rtt: { latestNs: 20 * ms, minNs: 10 * ms, maxNs: 150 * ms } });
  const fast = udpFlow({ protocol: 6, rtt: { latestNs: 1 * ms, minNs: 1 * ms, maxNs: 1 * ms }, drops: { packets: 2, bytes: 120, reason: "TCP_INVALID_SEQUENCE", reasonCode: 40, tcpState: 1, tcpFlags: 0x10 } });
  const dropOnly = udpFlow({ protocol: 6, packets: 0, bytes: 0, drops: { packets: 5, bytes: 300, reason: "NETFILTER_DROP", reasonCode: 6, tcpState: 2, tcpFlags: 0x02 } });
  const plain = udpFlow();
  const enriched = [nxdomain, noerror, unassigned, slow, fast, dropOnly, plain];
  const enrichedRows = FlowColumns.fromRecords(enriched);
  const keptEnriched = (filter: Parameters<typeof compileFlowFilter>[0]) => {
    const { matches } = compileFlowFilter(filter);
    return enriched.filter((_, i) => matches(enrichedRows, i));
  };
  const duration = (ns: number) => create(DurationSchema, { seconds: BigInt(Math.floor(ns / 1e9)), nanos: ns % 1e9 });

  test("min_dns_latency: flows whose DNS latency is at least it (a Duration in a FlowFilter, ns in the lists)", () => {
    expect(keptEnriched(create(FlowFilterSchema, { minDnsLatency: duration(2 * ms) }))).toEqual([nxdomain, noerror]);
    expect(keptEnriched({ minDnsLatencyNs: 10 * ms })).toEqual([nxdomain]);
    expect(keptEnriched(create(FlowFilterSchema, { minDnsLatency: duration(0) }))).toEqual([nxdomain, noerror, unassigned]); // any with DNS
    expect(keptEnriched(create(FlowFilterSchema, { minDnsLatency: duration(2_000 * ms) }))).toEqual([]);
  });

  test("dns_rcodes: by name, any case, or RCODE<n>", () => {
    expect(keptEnriched(create(FlowFilterSchema, { dnsRcodes: ["nxdomain"] }))).toEqual([nxdomain]);
    expect(keptEnriched({ dnsRcodes: ["NOERROR", "RCODE3"] })).toEqual([nxdomain, noerror]);
    expect(keptEnriched({ dnsRcodes: ["rcode12"] })).toEqual([unassigned]);
    expect(keptEnriched({ dnsRcodes: ["SERVFAIL"] })).toEqual([]);
    expect(keptEnriched({ dnsRcodes: ["NOERROR"], minDnsLatencyNs: 1 * ms })).toEqual([noerror]);
  });

  test("min_rtt: the RTT's maximum in the interval at least it", () => {
    expect(keptEnriched(create(FlowFilterSchema, { minRtt: duration(100 * ms) }))).toEqual([slow]); // latest 20 ms, max 150
    expect(keptEnriched({ minRttNs: 1 * ms })).toEqual([slow, fast]);
    expect(keptEnriched({ minRttNs: 1 * ms + 1 })).toEqual([slow]);
  });

  test("dropped, drop_reasons (any case): flows with drops, drop-only flows included", () => {
    expect(keptEnriched(create(FlowFilterSchema, { dropped: true }))).toEqual([fast, dropOnly]);
    expect(keptEnriched(create(FlowFilterSchema, { dropped: false }))).toEqual(enriched);
    expect(keptEnriched({ dropReasons: ["netfilter_drop"] })).toEqual([dropOnly]);
    expect(keptEnriched({ dropReasons: ["NETFILTER_DROP", "TCP_INVALID_SEQUENCE"], dropped: true })).toEqual([fast, dropOnly]);
    expect(keptEnriched({ dropReasons: ["NO_SOCKET"] })).toEqual([]);
  });

  test("with each other and the other lists, AND; flows without the enrichment match none", () => {
    expect(keptEnriched({ dropped: true, minRttNs: 1 * ms })).toEqual([fast]);
    expect(keptEnriched({ dropped: true, protocols: ["udp"] })).toEqual([]);
    expect(keptEnriched({ minDnsLatencyNs: 0, minRttNs: 0 })).toEqual([]);
    expect(keptEnriched({ ports: [53], dnsRcodes: ["NXDOMAIN"] })).toEqual([nxdomain]);
  });

  test("keys: equal however written (case, Duration or ns, order), different per field", () => {
    expect(keyOf(create(FlowFilterSchema, { dnsRcodes: ["nxdomain", "NOERROR"], dropReasons: ["netfilter_drop"], minRtt: duration(5 * ms), dropped: true }))).toBe(
      keyOf({ dnsRcodes: ["RCODE0", "NXDOMAIN"], dropReasons: ["NETFILTER_DROP"], minRttNs: 5 * ms, dropped: true }),
    );
    expect(keyOf({ minRttNs: 5 * ms })).not.toBe(keyOf({ minDnsLatencyNs: 5 * ms }));
    expect(keyOf({ dropped: true })).not.toBe(keyOf({}));
    expect(keyOf(create(FlowFilterSchema, {}))).toBe(keyOf({}));
  });

  test("invalid entries: INVALID_ARGUMENT naming the field and value", () => {
    const cases: [Parameters<typeof compileFlowFilter>[0], string][] = [
      [{ dnsRcodes: ["NXDOMAIN", "NOSUCH"] }, 'filter.dns_rcodes "NOSUCH" must be a DNS response code name (NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED, YXDOMAIN, YXRRSET, NXRRSET, NOTAUTH, NOTZONE, any case) or RCODE0-RCODE15'],
      [{ dnsRcodes: ["RCODE16"] }, 'filter.dns_rcodes "RCODE16" must be a DNS response code name (NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED, YXDOMAIN, YXRRSET, NXRRSET, NOTAUTH, NOTZONE, any case) or RCODE0-RCODE15'],
      [{ dnsRcodes: ["3"] }, 'filter.dns_rcodes "3" must be a DNS response code name (NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED, YXDOMAIN, YXRRSET, NXRRSET, NOTAUTH, NOTZONE, any case) or RCODE0-RCODE15'],
      [{ dropReasons: ["netfilter drop"] }, 'filter.drop_reasons "netfilter drop" must be a drop reason as the kernel names it (letters, digits and "_", example: NETFILTER_DROP)'],
      [{ dropReasons: [""] }, 'filter.drop_reasons "" must be a drop reason as the kernel names it (letters, digits and "_", example: NETFILTER_DROP)'],
      [create(FlowFilterSchema, { minDnsLatency: create(DurationSchema, { seconds: -1n }) }), "filter.min_dns_latency -1s must be a duration >= 0"],
      [create(FlowFilterSchema, { minRtt: create(DurationSchema, { nanos: -5_000_000 }) }), "filter.min_rtt -0.005s must be a duration >= 0"],
      [{ minRttNs: -1 }, "filter.min_rtt -1 ns must be >= 0"],
    ];
    for (const [filter, message] of cases) {
      let error: ConnectError | undefined;
      try {
        compileFlowFilter(filter);
      } catch (e) {
        error = e as ConnectError;
      }
      expect({ code: error?.code, message: error?.rawMessage }).toEqual({ code: Code.InvalidArgument, message });
    }
  });

  test("a reason the running kernel does not name is matched as the agent writes it: UNKNOWN(<n>)", () => {
    const unnamed = FlowColumns.fromRecords([udpFlow({ drops: { packets: 1, bytes: 60, reason: "UNKNOWN(77)", reasonCode: 77, tcpState: 0, tcpFlags: 0 } })]);
    expect(compileFlowFilter({ dropReasons: ["unknown(77)"] }).matches(unnamed, 0)).toBe(true);
    expect(compileFlowFilter({ dropReasons: ["UNKNOWN(78)"] }).matches(unnamed, 0)).toBe(false);
  });
});
