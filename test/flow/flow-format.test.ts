import { expect, test } from "bun:test";
import { FlowColumns } from "../../src/flow/flow-columns.ts";
import { addressText, flowJsonLine, flowToJson, protocolName, tcpFlagNames } from "../../src/flow/flow-format.ts";
import type { FlowRecord } from "../../src/flow/flow-record.ts";

const v6 = (...groups: number[]) => new Uint8Array(groups.flatMap((g) => [g >> 8, g & 0xff]));

test("IPv6 text follows RFC 5952: longest zero run compressed, first on ties, lowercase", () => {
  expect(addressText(v6(0xfd00, 0, 0, 0, 0, 0, 0, 1), 0x86dd)).toBe("fd00::1");
  expect(addressText(v6(0x2001, 0xdb8, 0, 0, 1, 0, 0, 1), 0x86dd)).toBe("2001:db8::1:0:0:1");
  expect(addressText(v6(0x2001, 0xdb8, 0, 1, 1, 1, 1, 1), 0x86dd)).toBe("2001:db8:0:1:1:1:1:1");
  expect(addressText(v6(0, 0, 0, 0, 0, 0, 0, 0), 0x86dd)).toBe("");
  expect(addressText(v6(0xfe80, 0, 0, 0, 0xABCD, 0, 0, 0), 0x86dd)).toBe("fe80::abcd:0:0:0");
});

test("IPv4-mapped addresses print as dotted quads; unread addresses as empty", () => {
  expect(addressText(new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 198, 18, 0, 1]), 0x0800)).toBe("198.18.0.1");
  expect(addressText(new Uint8Array(16), 0x0800)).toBe("");
  expect(addressText(new Uint8Array(16), 0x0806)).toBe("");
});

test("protocol and flag names", () => {
  expect(protocolName(6, 0x0800)).toBe("TCP");
  expect(protocolName(58, 0x86dd)).toBe("ICMPv6");
  expect(protocolName(0, 0x0806)).toBe("ARP");
  expect(protocolName(0, 0x1234)).toBe("0x1234");
  expect(protocolName(253, 0x0800)).toBe("253");
  expect(tcpFlagNames(0x1 | 0x2 | 0x10 | 0x100)).toEqual(["FIN", "SYN", "ACK", "NS"]);
});

test("flowToJson: readable names, ISO times, ICMP fields only for ICMP", () => {
  const json = flowToJson({
    ifindex: 2, interface: "eth0", direction: "ingress", ethType: 0x0800, protocol: 1,
    srcAddr: new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 198, 18, 0, 1]),
    dstAddr: new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 198, 18, 0, 2]),
    srcPort: 0, dstPort: 0, packets: 2, bytes: 196, startMs: Date.UTC(2026, 0, 1), endMs: Date.UTC(2026, 0, 1, 0, 0, 1, 500),
    tcpFlags: 0, dscp: 0, icmpType: 8, icmpCode: 0, srcMac: new Uint8Array([2, 0, 0, 0, 0, 0xa]), dstMac: new Uint8Array(6), flags: 1,
  });
  expect(json).toEqual({
    interface: "eth0", ifindex: 2, direction: "ingress", etherType: "IPv4", srcMac: "02:00:00:00:00:0a", dstMac: "00:00:00:00:00:00",
    srcAddr: "198.18.0.1", dstAddr: "198.18.0.2", srcPort: 0, dstPort: 0, protocol: "ICMP", packets: 2, bytes: 196,
    start: "2026-01-01T00:00:00.000Z", end: "2026-01-01T00:00:01.500Z", tcpFlags: [], dscp: 0, icmpType: 8, icmpCode: 0, fragment: true,
  });
});

test("flowJsonLine writes, from the columns, exactly JSON.stringify(flowToJson(r)) for every kind of flow", () => {
  const mapped = (d: number) => new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 198, 18, 0, d]);
  const base = {
    ifindex: 3, interface: 'we"ird\\name', direction: "egress" as const, ethType: 0x0800, protocol: 6,
    srcAddr: mapped(1), dstAddr: mapped(2), srcPort: 1, dstPort: 2, packets: 3, bytes: 4, startMs: 1.7e12, endMs: 1.7e12 + 1.5,
    tcpFlags: 0x1ff, dscp: 46, icmpType: 0, icmpCode: 0, srcMac: new Uint8Array([0xde, 0xad, 0xbe, 0xef, 0, 1]), dstMac: new Uint8Array(6), flags: 3,
  };
  const v6 = new Uint8Array(16);
  v6[0] = 0xfd;
  v6[15] = 9;
  const records = [
    base,
    { ...base, tcpFlags: 0, flags: 0, protocol: 17, startMs: 1.7e12 + 7.9, endMs: 1.7e12 + 1042 },
    { ...base, protocol: 1, icmpType: 3, icmpCode: 1 },
    { ...base, ethType: 0x86dd, protocol: 58, srcAddr: v6, dstAddr: v6, icmpType: 128 },
    { ...base, ethType: 0x0806, protocol: 0, srcAddr: new Uint8Array(16), dstAddr: new Uint8Array(16) },
    // Counters past 2^32 (read as two 32-bit halves) and the largest 16-bit ports.
    { ...base, ifindex: 7, interface: "eth1", direction: "ingress" as const, packets: 2 ** 40 + 3, bytes: 2 ** 52 - 1, srcPort: 65535, dstPort: 65534 },
    // Owners (--enable-process): every source, a container, a comm that needs escaping, a cgroup no longer known.
    { ...base, owner: { source: "socket" as const, pid: 4242, comm: 'iperf"3', cgroupId: 2 ** 33 + 5, socketCookie: 2 ** 40 + 9, cgroupPath: "/system.slice/docker-" + "ab".repeat(32) + ".scope", containerId: "ab".repeat(32) } },
    { ...base, owner: { source: "listener" as const, pid: 1, comm: "sshd", cgroupId: 77, socketCookie: 3, cgroupPath: "/" } },
    { ...base, owner: { source: "unknown" as const, pid: 0, comm: "", cgroupId: 78, socketCookie: 12 } },
    { ...base, owner: { source: "none" as const, pid: 0, comm: "", cgroupId: 0, socketCookie: 0 } },
  ];
  const flows = FlowColumns.fromRecords(records);
  records.forEach((r, i) => expect(flowJsonLine(flows, i)).toBe(JSON.stringify(flowToJson(r))));
});

test("sampling: printed after the counts when a flow was sampled 1 in N (N > 1), left out at 1", () => {
  const mapped = new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 198, 18, 0, 1]);
  const base = {
    ifindex: 3, interface: "veth-a", direction: "egress" as const, ethType: 0x0800, protocol: 17, srcAddr: mapped, dstAddr: mapped,
    srcPort: 1, dstPort: 2, packets: 10, bytes: 600, startMs: 1.7e12, endMs: 1.7e12, tcpFlags: 0, dscp: 0, icmpType: 0, icmpCode: 0,
    srcMac: new Uint8Array(6), dstMac: new Uint8Array(6), flags: 0, l2HeaderLen: 14,
  };
  const records: FlowRecord[] = [base, { ...base, sampling: 1 }, { ...base, sampling: 100 }];
  const flows = FlowColumns.fromRecords(records);
  expect(flows.records().map((r) => r.sampling)).toEqual([undefined, undefined, 100]);
  const lines = records.map((_, i) => flowJsonLine(flows, i));
  expect(lines[2]).toContain(`"bytes":600,"ipBytes":460,"sampling":100,"start"`);
  expect(JSON.parse(lines[0]!).sampling).toBeUndefined();
  expect(JSON.parse(lines[1]!).sampling).toBeUndefined();
  records.forEach((r, i) => expect(lines[i]).toBe(JSON.stringify(flowToJson(r.sampling === 1 ? base : r))));
});

test("ipBytes (frame bytes less each packet's link-layer header) and vlan: printed where known, same text from columns", () => {
  const mapped = (d: number) => new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 198, 18, 0, d]);
  const base = {
    ifindex: 3, interface: "eth0", direction: "egress" as const, ethType: 0x0800, protocol: 17,
    srcAddr: mapped(1), dstAddr: mapped(2), srcPort: 1, dstPort: 2, packets: 10, bytes: 1000, startMs: 1.7e12, endMs: 1.7e12 + 1,
    tcpFlags: 0, dscp: 0, icmpType: 0, icmpCode: 0, srcMac: new Uint8Array(6), dstMac: new Uint8Array(6), flags: 0,
  };
  const tagged = { ...base, l2HeaderLen: 18, vlanId: 100 };
  const l3 = { ...base, l2HeaderLen: 0 };
  const arp = { ...base, ethType: 0x0806, protocol: 0, l2HeaderLen: 14 };
  expect(flowToJson(tagged)).toMatchObject({ bytes: 1000, ipBytes: 1000 - 10 * 18, vlan: 100 });
  expect(flowToJson(l3).ipBytes).toBe(1000);
  expect(flowToJson(arp).ipBytes).toBeUndefined();
  expect(flowToJson(base).ipBytes).toBeUndefined(); // decoded from a peer: the link-layer length is unknown
  const known = FlowColumns.fromRecords([tagged, l3, arp]);
  [tagged, l3, arp].forEach((r, i) => expect(flowJsonLine(known, i)).toBe(JSON.stringify(flowToJson(r))));
  expect(flowJsonLine(FlowColumns.fromRecords([base]), 0)).toBe(JSON.stringify(flowToJson(base)));
});

test("owner: known fields only; forwarded traffic says none and nothing else", () => {
  const mapped = new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 198, 18, 0, 1]);
  const base = {
    ifindex: 3, interface: "veth-a", direction: "egress" as const, ethType: 0x0800, protocol: 17, srcAddr: mapped, dstAddr: mapped,
    srcPort: 1, dstPort: 2, packets: 1, bytes: 60, startMs: 1.7e12, endMs: 1.7e12, tcpFlags: 0, dscp: 0, icmpType: 0, icmpCode: 0,
    srcMac: new Uint8Array(6), dstMac: new Uint8Array(6), flags: 0,
  };
  const line = (owner: Parameters<typeof flowToJson>[0]["owner"]) => JSON.parse(flowJsonLine(FlowColumns.fromRecords([{ ...base, owner }]), 0)).owner;
  expect(line({ source: "none", pid: 0, comm: "", cgroupId: 0, socketCookie: 0 })).toEqual({ source: "none" });
  expect(line({ source: "connection", pid: 9, comm: "curl", cgroupId: 5, socketCookie: 6, cgroupPath: "/a/b" })).toEqual({
    source: "connection", pid: 9, comm: "curl", cgroupId: 5, cgroupPath: "/a/b", socketCookie: 6,
  });
  expect(line(undefined)).toBeUndefined();
});

test("dns: the response's transaction, rcode by name, latency in ms to the µs, after the owner", () => {
  const mapped = new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 198, 18, 0, 1]);
  const base = {
    ifindex: 3, interface: "veth-a", direction: "ingress" as const, ethType: 0x0800, protocol: 17, srcAddr: mapped, dstAddr: mapped,
    srcPort: 53, dstPort: 40000, packets: 1, bytes: 90, startMs: 1.7e12, endMs: 1.7e12, tcpFlags: 0, dscp: 0, icmpType: 0, icmpCode: 0,
    srcMac: new Uint8Array(6), dstMac: new Uint8Array(6), flags: 0, l2HeaderLen: 14,
  };
  const dns = { id: 0x1234, flags: 0x8183, latencyNs: 40_123_456, name: "no-such.example" };
  const records: FlowRecord[] = [base, { ...base, dns }];
  const flows = FlowColumns.fromRecords(records);
  const lines = [0, 1].map((i) => flowJsonLine(flows, i));
  expect(JSON.parse(lines[0]!).dns).toBeUndefined();
  expect(JSON.parse(lines[1]!).dns).toEqual({ id: 0x1234, flags: 0x8183, rcode: "NXDOMAIN", latencyMs: 40.123, name: "no-such.example" });
  expect(lines[1]).toEndWith(`,"dns":{"id":4660,"flags":33155,"rcode":"NXDOMAIN","latencyMs":40.123,"name":"no-such.example"}}`);
  records.forEach((r, i) => expect(lines[i]).toBe(JSON.stringify(flowToJson(r))));
  expect(flows.records()[1]!.dns).toEqual(dns);
});

test("rtt: latest, min and max in ms to the µs, after dns", () => {
  const mapped = new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 198, 18, 0, 1]);
  const base = {
    ifindex: 3, interface: "veth-a", direction: "egress" as const, ethType: 0x0800, protocol: 6, srcAddr: mapped, dstAddr: mapped,
    srcPort: 40000, dstPort: 5201, packets: 10, bytes: 9000, startMs: 1.7e12, endMs: 1.7e12, tcpFlags: 0x10, dscp: 0, icmpType: 0, icmpCode: 0,
    srcMac: new Uint8Array(6), dstMac: new Uint8Array(6), flags: 0, l2HeaderLen: 14,
  };
  const rtt = { latestNs: 20_426_499, minNs: 20_246_000, maxNs: 27_856_000 };
  const records: FlowRecord[] = [base, { ...base, rtt }];
  const flows = FlowColumns.fromRecords(records);
  const lines = [0, 1].map((i) => flowJsonLine(flows, i));
  expect(JSON.parse(lines[0]!).rtt).toBeUndefined();
  expect(lines[1]).toEndWith(`,"rtt":{"latestMs":20.426,"minMs":20.246,"maxMs":27.856}}`);
  records.forEach((r, i) => expect(lines[i]).toBe(JSON.stringify(flowToJson(r))));
  expect(flows.records()[1]!.rtt).toEqual(rtt);
});
