/**
 * The hand-written encoders must produce exactly the bytes @bufbuild/protobuf's
 * toBinary produces from the reference conversions (toBatchMessage,
 * toNetobservRecords), for every kind of record.
 */
import { describe, expect, test } from "bun:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { toBatchMessage } from "../../src/api/flow-message.ts";
import { writeFlowBatch, writePbflowRecord } from "../../src/export/flow-wire.ts";
import { agentIpMessage, toNetobservRecords } from "../../src/export/netobserv-record.ts";
import { WireWriter } from "../../src/export/wire-writer.ts";
import type { FlowRecord } from "../../src/flow/flow-record.ts";
import { ExportRequestSchema } from "../../src/gen/netflow/v1/collector_pb.ts";
import { FlowBatchSchema } from "../../src/gen/netflow/v1/flow_pb.ts";
import { IPSchema, RecordsSchema } from "../../src/gen/pbflow/flow_pb.ts";
import { batchOf, ipv4, ipv6, mac, udpFlow } from "../api/flow-fixtures.ts";

/** Deterministic pseudo-random numbers (mulberry32). */
function random(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const edgeRecords: FlowRecord[] = [
  udpFlow(),
  udpFlow({ direction: "ingress", ifindex: 0, interface: "", packets: 0, bytes: 0, srcPort: 0, dstPort: 0, dscp: 0 }),
  udpFlow({ packets: 2 ** 53 - 1, bytes: 2 ** 32, ifindex: 2 ** 32 - 1, tcpFlags: 0x1ff, protocol: 6 }),
  udpFlow({ ethType: 0x86dd, protocol: 58, srcAddr: ipv6("fd00:0:0:0:0:0:0:1"), dstAddr: ipv6("ff02:0:0:0:0:0:0:1"), icmpType: 135, icmpCode: 0 }),
  udpFlow({ ethType: 0x86dd, protocol: 6, srcAddr: new Uint8Array(16), dstAddr: new Uint8Array(16) }),
  udpFlow({ ethType: 0x0806, protocol: 0, srcAddr: ipv4("198.18.0.1"), dstAddr: ipv4("0.0.0.0"), srcPort: 0, dstPort: 0 }),
  udpFlow({ ethType: 0x88cc, protocol: 0, srcAddr: new Uint8Array(16), dstAddr: new Uint8Array(16), srcMac: new Uint8Array(0), dstMac: mac("ff:ff:ff:ff:ff:ff") }),
  udpFlow({ protocol: 1, icmpType: 3, icmpCode: 13, startMs: 0, endMs: 999.9999999 }),
  udpFlow({ protocol: 132, interface: "vethé-ü-🙂", startMs: 1_764_000_000_000.000_4, endMs: 1_764_000_000_999.999_9 }),
  udpFlow({ protocol: 47, flags: 3, interface: "x".repeat(300) }), // a Flow longer than 127 bytes
];

function randomRecords(count: number, seed: number): FlowRecord[] {
  const next = random(seed);
  const int = (max: number) => Math.floor(next() * max);
  const out: FlowRecord[] = [];
  for (let i = 0; i < count; i++) {
    const v6 = next() < 0.3;
    const addr = () => {
      const a = v6 ? new Uint8Array(16).map(() => int(256)) : ipv4(`${int(256)}.${int(256)}.${int(256)}.${int(256)}`);
      return a;
    };
    out.push(
      udpFlow({
        ifindex: int(70000),
        interface: ["eth0", "veth-a", "br0", "if17", ""][int(5)]!,
        direction: next() < 0.5 ? "ingress" : "egress",
        ethType: v6 ? 0x86dd : [0x0800, 0x0800, 0x0806][int(3)]!,
        protocol: [6, 17, 1, 58, 132, 47, 0][int(7)]!,
        srcAddr: addr(),
        dstAddr: addr(),
        srcPort: int(65536),
        dstPort: int(65536),
        packets: int(2 ** 40),
        bytes: int(2 ** 52),
        startMs: 1_764_000_000_000 + next() * 1e7,
        endMs: 1_764_000_000_000 + next() * 1e7,
        tcpFlags: int(512),
        dscp: int(64),
        icmpType: int(256),
        icmpCode: int(256),
        srcMac: new Uint8Array(6).map(() => int(256)),
        dstMac: new Uint8Array(6).map(() => int(256)),
        flags: int(4),
      }),
    );
  }
  return out;
}

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

describe("WireWriter", () => {
  test("varints and fixed32 as @bufbuild's BinaryWriter writes them", () => {
    const values = [0, 1, 127, 128, 300, 16383, 16384, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 35 + 5, 2 ** 53 - 1];
    const ours = new WireWriter(4);
    const theirs = new BinaryWriter();
    for (const v of values) {
      ours.varint(v);
      theirs.uint64(v);
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

describe("netflow.v1 FlowBatch", () => {
  test.each([
    ["edge cases", edgeRecords],
    ["2,000 random records", randomRecords(2000, 7)],
  ])("%s: identical to toBinary(toBatchMessage(...))", (_, records) => {
    const batch = { ...batchOf(records, 1_764_000_002_000.5), counters: { ringbufPackets: 2 ** 40, droppedPackets: 0, droppedBytes: 7, mapErrors: 1, truncated: 2 ** 32 } };
    const w = new WireWriter(16);
    const { records: _r, ...eviction } = batch;
    writeFlowBatch(w, records, eviction, new Map());
    expect(hex(w.take())).toBe(hex(toBinary(FlowBatchSchema, toBatchMessage(batch))));
  });

  test("as an already-encoded field 3, the ExportRequest equals the one with batch set", () => {
    const batch = batchOf(randomRecords(300, 11));
    const w = new WireWriter();
    const body = w.beginMessage();
    writeFlowBatch(w, batch.records, batch, new Map());
    w.endMessage(body);
    const agent = { hostname: "node-1", agentId: "5f0c2d4e-0000-4000-8000-000000000001", agentVersion: "0.1.0" };
    const fast = create(ExportRequestSchema, { agent, sequence: 42n });
    fast.$unknown = [{ no: 3, wireType: WireType.LengthDelimited, data: w.take() }];
    const reference = create(ExportRequestSchema, { agent, sequence: 42n, batch: toBatchMessage(batch) });
    const bytes = toBinary(ExportRequestSchema, fast);
    expect(hex(bytes)).toBe(hex(toBinary(ExportRequestSchema, reference)));
    expect(fromBinary(ExportRequestSchema, bytes).batch!.flows).toHaveLength(300);
  });
});

describe("pbflow Records", () => {
  test.each([
    ["edge cases", edgeRecords],
    ["2,000 random records", randomRecords(2000, 13)],
  ])("%s: identical to toBinary(toNetobservRecords(...))", (_, records) => {
    for (const agent of [new Uint8Array([192, 0, 2, 7]), ipv6("fd00:0:0:0:0:0:0:9")]) {
      const agentIp = agentIpMessage(agent);
      const w = new WireWriter(16);
      const names = new Map<string, Uint8Array>();
      for (const r of records) writePbflowRecord(w, r, toBinary(IPSchema, agentIp), names);
      expect(hex(w.take())).toBe(hex(toBinary(RecordsSchema, toNetobservRecords(records, agentIp))));
    }
  });
});
