/**
 * The hand-written encoders must produce exactly the bytes @bufbuild/protobuf's
 * toBinary produces from the reference conversions (toFlowMessage,
 * toNetobservRecords) of the same rows, for every kind of record. Inputs are
 * built as the eviction hands them over: FlowColumns (fromRecords), and the
 * references are computed from what the columns hold (columns.records()).
 */
import { describe, expect, test } from "bun:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { fromFlowMessage, msToDuration, msToTimestamp, toFlowMessage, toKernelCountersMessage } from "../../src/api/flow-message.ts";
import { BlockBuffers, type EncodedRecords, encodeRecordBlocks } from "../../src/export/encoded-records.ts";
import { type EvictionInfo, InterfaceNameBytes, writeFlowBatch, writeFlowEntry, writePbflowRecord } from "../../src/export/flow-wire.ts";
import { agentIpMessage, toNetobservRecords } from "../../src/export/netobserv-record.ts";
import { WireWriter } from "../../src/export/wire-writer.ts";
import { FlowColumns } from "../../src/flow/flow-columns.ts";
import type { FlowRecord } from "../../src/flow/flow-record.ts";
import { ExportRequestSchema } from "../../src/gen/netflow/v1/collector_pb.ts";
import { FlowBatchSchema, FlowSchema, OwnerSource } from "../../src/gen/netflow/v1/flow_pb.ts";
import { IPSchema, RecordsSchema } from "../../src/gen/pbflow/flow_pb.ts";
import { ipv4, ipv6, mac, randomFlows, udpFlow, withOwners } from "../api/flow-fixtures.ts";

const edgeRecords: FlowRecord[] = [
  udpFlow(),
  udpFlow({ direction: "ingress", ifindex: 0, interface: "", packets: 0, bytes: 0, srcPort: 0, dstPort: 0, dscp: 0 }),
  udpFlow({ packets: 2 ** 53 - 1, bytes: 2 ** 32, ifindex: 2 ** 32 - 1, tcpFlags: 0x1ff, protocol: 6 }),
  udpFlow({ packets: 2 ** 60, bytes: 2 ** 63 + 2 ** 11 }), // u64 counters past 2^53 (exact doubles)
  udpFlow({ ethType: 0x86dd, protocol: 58, srcAddr: ipv6("fd00:0:0:0:0:0:0:1"), dstAddr: ipv6("ff02:0:0:0:0:0:0:1"), icmpType: 135, icmpCode: 0 }),
  udpFlow({ ethType: 0x86dd, protocol: 6, srcAddr: new Uint8Array(16), dstAddr: new Uint8Array(16) }),
  udpFlow({ ethType: 0x0806, protocol: 0, srcAddr: ipv4("198.18.0.1"), dstAddr: ipv4("0.0.0.0"), srcPort: 0, dstPort: 0 }),
  udpFlow({ ethType: 0x88cc, protocol: 0, srcAddr: new Uint8Array(16), dstAddr: new Uint8Array(16), srcMac: new Uint8Array(0), dstMac: mac("ff:ff:ff:ff:ff:ff") }),
  udpFlow({ protocol: 1, icmpType: 3, icmpCode: 13, startMs: 0, endMs: 999.9999999 }),
  udpFlow({ protocol: 132, ifindex: 8, interface: "vethé-ü-🙂", startMs: 1_764_000_000_000.000_4, endMs: 1_764_000_000_999.999_9 }),
  udpFlow({ protocol: 47, flags: 3, ifindex: 9, interface: "x".repeat(300) }), // a Flow longer than 127 bytes
  ...ownerRecords(),
  udpFlow({ sampling: 100 }), // 1-in-N sampling: field 30 (pbflow 29)
  udpFlow({ sampling: 2 ** 31, owner: { source: "none", pid: 0, comm: "", cgroupId: 0, socketCookie: 0 } }),
  // DNS: netflow.v1 Flow.dns 31; pbflow dns_id 21, dns_flags 22, dns_latency 23 (no name)
  udpFlow({ direction: "ingress", srcPort: 53, dns: { id: 0x1234, flags: 0x8183, latencyNs: 40_123_456, name: "nosuch.test" } }),
  udpFlow({ direction: "ingress", srcPort: 53, dns: { id: 0, flags: 0x8000, latencyNs: 3 * 1e9 + 7, name: "" } }),
  udpFlow({ direction: "ingress", srcPort: 53, dns: { id: 65535, flags: 0xffff, latencyNs: 1e9, name: "é.ü-🙂.test" } }),
  // TCP RTT: netflow.v1 Flow.rtt 32; pbflow time_flow_rtt 24 (the max)
  udpFlow({ protocol: 6, rtt: { latestNs: 20_426_000, minNs: 20_246_000, maxNs: 27_856_000 } }),
  udpFlow({ protocol: 6, direction: "ingress", rtt: { latestNs: 3 * 1e9 + 7, minNs: 1000, maxNs: 2 ** 40 } }),
  ...dropRecords(),
];

/**
 * Drops: netflow.v1 Flow.drops 33; pbflow pkt_drop_bytes 16, packets 17,
 * latest_flags 18 (header bits only), latest_state 19, latest_drop_cause 20.
 */
function dropRecords(): FlowRecord[] {
  return [
    // A TCP drop on an established socket, flags with NS (cut to 0xff for pbflow).
    udpFlow({ protocol: 6, drops: { packets: 3, bytes: 180, reason: "NETFILTER_DROP", reasonCode: 8, tcpState: 1, tcpFlags: 0x118 } }),
    // A drop-only flow (0 packets) with no socket, and a reason the kernel did not name.
    udpFlow({ direction: "ingress", packets: 0, bytes: 0, drops: { packets: 1, bytes: 2 ** 40, reason: "UNKNOWN(196608)", reasonCode: 196608, tcpState: 0, tcpFlags: 0 } }),
    // Everything at once, with a non-ASCII reason (a name is UTF-8 on the wire).
    udpFlow({ protocol: 6, sampling: 10, dns: { id: 1, flags: 0x8180, latencyNs: 5, name: "a.test" }, rtt: { latestNs: 1, minNs: 1, maxNs: 1 }, drops: { packets: 2 ** 53 - 1, bytes: 1, reason: "é", reasonCode: 0, tcpState: 13, tcpFlags: 0x02 } }),
  ];
}

/** Flows with an owner of every kind: process, cgroup and container; unknown; none; a command name cut inside a character. */
function ownerRecords(): FlowRecord[] {
  const container = "3f2a9c01b7e4".padEnd(64, "5");
  return [
    udpFlow({ owner: { source: "socket", pid: 4242, comm: "iperf3", cgroupId: 2 ** 33 + 5, socketCookie: 2 ** 40 + 9, cgroupPath: `/system.slice/docker-${container}.scope`, containerId: container } }),
    udpFlow({ direction: "ingress", owner: { source: "connection", pid: 2 ** 32 - 1, comm: "x".repeat(15), cgroupId: 1, socketCookie: 1, cgroupPath: "/" } }),
    udpFlow({ owner: { source: "listener", pid: 1, comm: "", cgroupId: 77, socketCookie: 3 } }), // cgroup gone: no path
    udpFlow({ owner: { source: "unknown", pid: 0, comm: "", cgroupId: 78, socketCookie: 12 } }),
    udpFlow({ owner: { source: "none", pid: 0, comm: "", cgroupId: 0, socketCookie: 0 } }),
    udpFlow({ owner: { source: "socket", pid: 9, comm: "é".repeat(8), cgroupId: 79, socketCookie: 13, cgroupPath: "/user.slice/ü" } }), // 16 bytes, cut to 15
  ];
}

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

describe("WireWriter", () => {
  test("varints and fixed32 as @bufbuild's BinaryWriter writes them", () => {
    const values = [0, 1, 127, 128, 300, 16383, 16384, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 35 + 5, 0xffffffffffff, 2 ** 53 - 1];
    // u64 counters past 2^53: the doubles that hold them exactly.
    const beyond = [2 ** 53, 2 ** 60 + 2 ** 8, 2 ** 63 + 2 ** 11, 2 ** 64 - 2 ** 11];
    const ours = new WireWriter(4);
    const theirs = new BinaryWriter();
    for (const v of values) {
      ours.varint(v);
      theirs.uint64(v);
    }
    for (const v of beyond) {
      ours.varint(v);
      theirs.uint64(BigInt(v));
    }
    ours.fixed32(0xc6120001);
    theirs.fixed32(0xc6120001);
    expect(hex(ours.take())).toBe(hex(theirs.finish()));
  });

  test("a sub-message's length takes as many bytes as it needs, the body moved after it", () => {
    for (const size of [0, 127, 128, 16383, 16384, 70000]) {
      const ours = new WireWriter(8);
      ours.tag(1, 2);
      const body = ours.beginMessage();
      for (let i = 0; i < size; i++) ours.varint32(i % 100);
      ours.endMessage(body);
      ours.varint32(42);
      const payload = Uint8Array.from({ length: size }, (_, i) => i % 100);
      expect(hex(ours.take())).toBe(hex(new BinaryWriter().tag(1, WireType.LengthDelimited).bytes(payload).uint32(42).finish()));
    }
  });
});

const eviction: EvictionInfo = {
  evictedAtMs: 1_764_000_002_000.5,
  evictionMs: 1.25,
  counters: { ringbufPackets: 2 ** 40, droppedPackets: 0, droppedBytes: 7, mapErrors: 1, truncated: 2 ** 32, flowsInserted: 9 },
};

/** The reference: @bufbuild's message for the rows the columns hold. */
function referenceBatch(flows: FlowColumns, e: EvictionInfo) {
  return create(FlowBatchSchema, {
    flows: flows.records().map(toFlowMessage),
    evictedAt: msToTimestamp(e.evictedAtMs),
    evictionDuration: msToDuration(e.evictionMs),
    kernel: toKernelCountersMessage(e.counters),
  });
}

describe("netflow.v1 FlowBatch from FlowColumns", () => {
  test.each([
    ["edge cases", edgeRecords],
    ["2,000 random records", randomFlows(2000, 7)],
    ["2,000 random records with owners", withOwners(randomFlows(2000, 19), 19)],
  ])("%s: identical to toBinary of the reference message", (_, records) => {
    const flows = FlowColumns.fromRecords(records);
    const w = new WireWriter(16);
    writeFlowBatch(w, flows, eviction);
    expect(hex(w.take())).toBe(hex(toBinary(FlowBatchSchema, referenceBatch(flows, eviction))));
  });

  test("as an already-encoded field 3, the ExportRequest equals the one with batch set", () => {
    const flows = FlowColumns.fromRecords(randomFlows(300, 11));
    const w = new WireWriter();
    const body = w.beginMessage();
    writeFlowBatch(w, flows, eviction);
    w.endMessage(body);
    const agent = { hostname: "node-1", agentId: "5f0c2d4e-0000-4000-8000-000000000001", agentVersion: "0.1.0" };
    const fast = create(ExportRequestSchema, { agent, sequence: 42n });
    fast.$unknown = [{ no: 3, wireType: WireType.LengthDelimited, data: w.take() }];
    const reference = create(ExportRequestSchema, { agent, sequence: 42n, batch: referenceBatch(flows, eviction) });
    const bytes = toBinary(ExportRequestSchema, fast);
    expect(hex(bytes)).toBe(hex(toBinary(ExportRequestSchema, reference)));
    expect(fromBinary(ExportRequestSchema, bytes).batch!.flows).toHaveLength(300);
  });

  test("each record of an encoded block is one whole FlowBatch.flows entry, at the offsets the block gives", () => {
    const flows = FlowColumns.fromRecords(randomFlows(500, 17));
    const blocks: EncodedRecords[] = [];
    encodeRecordBlocks(flows, writeFlowEntry, new BlockBuffers(4096), (block) => blocks.push(block));
    expect(blocks.reduce((n, b) => n + b.count, 0)).toBe(500);
    let row = 0;
    for (const block of blocks) {
      expect(block.size(0, block.count)).toBeLessThanOrEqual(block.bytes.length);
      for (let k = 0; k < block.count; k++, row++) {
        const expected = new BinaryWriter().tag(1, WireType.LengthDelimited).bytes(toBinary(FlowSchema, toFlowMessage(flows.record(row)))).finish();
        expect(hex(block.view(k, k + 1))).toBe(hex(expected));
      }
    }
  });

  test("a renamed interface is read per batch: the names of one eviction do not leak into the next", () => {
    const before = FlowColumns.fromRecords([udpFlow({ ifindex: 5, interface: "eth0" })]);
    const after = FlowColumns.fromRecords([udpFlow({ ifindex: 5, interface: "wan0" })]);
    const decoded = [before, after].map((flows) => {
      const w = new WireWriter();
      writeFlowBatch(w, flows, eviction);
      return fromBinary(FlowBatchSchema, w.take()).flows[0]!.interface;
    });
    expect(decoded).toEqual(["eth0", "wan0"]);
  });
});

test("owners decode field by field as the generated decoder reads them", () => {
  const flows = FlowColumns.fromRecords(ownerRecords());
  const w = new WireWriter();
  writeFlowBatch(w, flows, eviction);
  const owners = fromBinary(FlowBatchSchema, w.take()).flows.map((f) => f.owner && { ...f.owner, $typeName: undefined });
  const container = "3f2a9c01b7e4".padEnd(64, "5");
  const fields = { $typeName: undefined, pid: 0, comm: "", cgroupId: 0n, cgroupPath: "", containerId: "", socketCookie: 0n };
  expect(owners).toEqual([
    { ...fields, source: OwnerSource.SOCKET, pid: 4242, comm: "iperf3", cgroupId: 2n ** 33n + 5n, cgroupPath: `/system.slice/docker-${container}.scope`, containerId: container, socketCookie: 2n ** 40n + 9n },
    { ...fields, source: OwnerSource.CONNECTION, pid: 2 ** 32 - 1, comm: "x".repeat(15), cgroupId: 1n, cgroupPath: "/", socketCookie: 1n },
    { ...fields, source: OwnerSource.LISTENER, pid: 1, cgroupId: 77n, socketCookie: 3n },
    { ...fields, source: OwnerSource.UNKNOWN, cgroupId: 78n, socketCookie: 12n },
    { ...fields, source: OwnerSource.NONE },
    { ...fields, source: OwnerSource.SOCKET, pid: 9, comm: "é".repeat(7) + "\ufffd", cgroupId: 79n, cgroupPath: "/user.slice/ü", socketCookie: 13n },
  ]);
  // Attribution off: no field 21 at all.
  const off = new WireWriter();
  writeFlowBatch(off, FlowColumns.fromRecords([udpFlow()]), eviction);
  expect(fromBinary(FlowBatchSchema, off.take()).flows[0]!.owner).toBeUndefined();
});

test("drops decode field by field as the generated decoder reads them, back to the same FlowRecord", () => {
  const records = dropRecords();
  const w = new WireWriter();
  writeFlowBatch(w, FlowColumns.fromRecords(records), eviction);
  const decoded = fromBinary(FlowBatchSchema, w.take()).flows;
  expect(decoded.map((f) => f.drops && { ...f.drops, $typeName: undefined })).toEqual([
    { $typeName: undefined, packets: 3n, bytes: 180n, reason: "NETFILTER_DROP", reasonCode: 8, tcpState: 1, tcpFlags: 0x118 },
    { $typeName: undefined, packets: 1n, bytes: 2n ** 40n, reason: "UNKNOWN(196608)", reasonCode: 196608, tcpState: 0, tcpFlags: 0 },
    { $typeName: undefined, packets: 2n ** 53n - 1n, bytes: 1n, reason: "é", reasonCode: 0, tcpState: 13, tcpFlags: 0x02 },
  ]);
  expect(decoded.map((f) => fromFlowMessage(f).drops)).toEqual(records.map((r) => r.drops));
  // Without drops: no field 33 at all.
  const off = new WireWriter();
  writeFlowBatch(off, FlowColumns.fromRecords([udpFlow()]), eviction);
  expect(fromBinary(FlowBatchSchema, off.take()).flows[0]!.drops).toBeUndefined();
});

test("pbflow drops (16-20) and dns_name (32) decode as the generated decoder reads them", () => {
  const flows = FlowColumns.fromRecords([...dropRecords(), udpFlow()]);
  const w = new WireWriter();
  const names = new InterfaceNameBytes(flows);
  const agentIp = toBinary(IPSchema, agentIpMessage(new Uint8Array([192, 0, 2, 7])));
  for (let i = 0; i < flows.count; i++) writePbflowRecord(w, flows, i, agentIp, names);
  const entries = fromBinary(RecordsSchema, w.take()).entries;
  const fields = entries.map((e) => [e.pktDropBytes, e.pktDropPackets, e.pktDropLatestFlags, e.pktDropLatestState, e.pktDropLatestDropCause, e.dnsName]);
  expect(fields).toEqual([
    [180n, 3n, 0x18, 1, 8, ""],
    [2n ** 40n, 1n, 0, 0, 196608, ""],
    [1n, 2n ** 53n - 1n, 0x02, 13, 0, "a.test"],
    [0n, 0n, 0, 0, 0, ""],
  ]);
});

describe("pbflow Records from FlowColumns", () => {
  test.each([
    ["edge cases", edgeRecords],
    ["2,000 random records", randomFlows(2000, 13)],
  ])("%s: identical to toBinary(toNetobservRecords(...))", (_, records) => {
    const flows = FlowColumns.fromRecords(records);
    for (const agent of [new Uint8Array([192, 0, 2, 7]), ipv6("fd00:0:0:0:0:0:0:9")]) {
      const agentIp = agentIpMessage(agent);
      const w = new WireWriter(16);
      const names = new InterfaceNameBytes(flows);
      for (let i = 0; i < flows.count; i++) writePbflowRecord(w, flows, i, toBinary(IPSchema, agentIp), names);
      expect(hex(w.take())).toBe(hex(toBinary(RecordsSchema, toNetobservRecords(flows.records(), agentIp))));
    }
  });
});
