/**
 * writeWatchBatchField encodes rows of FlowColumns into exactly the bytes
 * @bufbuild/protobuf's toBinary makes of the reference message
 * (toBatchMessage over the same rows as objects), for every kind of flow,
 * whole batches and filtered ones.
 */
import { describe, expect, test } from "bun:test";
import { toBinary } from "@bufbuild/protobuf";
import { BinaryWriter } from "@bufbuild/protobuf/wire";
import { compileFlowFilter, type FlowFilterSpec } from "../../src/api/flow-filter.ts";
import { toBatchMessage } from "../../src/api/flow-message.ts";
import { writeWatchBatchField } from "../../src/api/watch-batch-wire.ts";
import { WireWriter } from "../../src/export/wire-writer.ts";
import type { FlowBatch, FlowRecord } from "../../src/flow/flow-record.ts";
import { FlowBatchSchema } from "../../src/gen/netflow/v1/flow_pb.ts";
import { batchOf, ipv4, ipv6, mac, randomFlows, udpFlow } from "./flow-fixtures.ts";

/** One of each shape the encoder branches on; each ifindex has one name, as in the kernel. */
const edgeFlows: FlowRecord[] = [
  udpFlow(),
  udpFlow({ direction: "ingress", ifindex: 0, interface: "", packets: 0, bytes: 0, srcPort: 0, dstPort: 0, dscp: 0 }), // every default omitted
  udpFlow({ ifindex: 2 ** 32 - 1, interface: "big", packets: 2 ** 53 - 1, bytes: 2 ** 32, tcpFlags: 0x1ff, protocol: 6 }),
  udpFlow({ ifindex: 3, interface: "eth0", ethType: 0x86dd, protocol: 58, srcAddr: ipv6("fd00:0:0:0:0:0:0:1"), dstAddr: ipv6("ff02:0:0:0:0:0:0:1"), icmpType: 135 }),
  udpFlow({ ifindex: 3, interface: "eth0", ethType: 0x86dd, protocol: 6, srcAddr: new Uint8Array(16), dstAddr: new Uint8Array(16) }), // IPv6 "::" still 16 bytes
  udpFlow({ ethType: 0x0806, protocol: 0, srcAddr: ipv4("198.18.0.1"), dstAddr: ipv4("0.0.0.0"), srcPort: 0, dstPort: 0 }), // ARP: mapped, so 16 bytes
  udpFlow({ ethType: 0x88cc, protocol: 0, srcAddr: new Uint8Array(16), dstAddr: new Uint8Array(16), srcMac: mac("00:00:00:00:00:00"), dstMac: mac("01:80:c2:00:00:0e") }), // LLDP: no addresses
  udpFlow({ protocol: 1, icmpType: 3, icmpCode: 13, startMs: 0, endMs: 999.9999999 }), // a zero Timestamp; nanos capped below 1 s
  udpFlow({ ifindex: 9, interface: "vethé-ü-🙂", protocol: 132, startMs: 1_764_000_000_000.000_4, endMs: 1_764_000_000_999.999_9 }),
  udpFlow({ ifindex: 10, interface: "x".repeat(300), protocol: 47, flags: 3 }), // a Flow longer than 127 bytes: 2-byte length
];

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const lengthPrefixed = (body: Uint8Array) => new BinaryWriter().bytes(body).finish();

function encode(batch: FlowBatch, filter?: FlowFilterSpec): { bytes: Uint8Array; matched: number } {
  const w = new WireWriter(16); // small: every growth path runs
  const matched = writeWatchBatchField(w, batch, filter && compileFlowFilter(filter).matches);
  return { bytes: w.take(), matched };
}

/** The reference: toBinary of the message built from the rows as objects, length-prefixed as a field's value. */
function reference(batch: FlowBatch, keep: (r: FlowRecord) => boolean = () => true): Uint8Array {
  return lengthPrefixed(toBinary(FlowBatchSchema, toBatchMessage(batch, batch.flows.records().filter(keep))));
}

const counters = { ringbufPackets: 2 ** 40, droppedPackets: 0, droppedBytes: 7, mapErrors: 1, truncated: 2 ** 32, flowsInserted: 99 };

describe("a whole batch: identical to toBinary(toBatchMessage(...))", () => {
  test.each([
    ["edge cases", edgeFlows],
    ["2,000 random flows", randomFlows(2000, 7)],
    ["no flows", []],
  ])("%s", (_, records) => {
    const batch = { ...batchOf(records, 1_764_000_002_000.5), counters };
    const { bytes, matched } = encode(batch);
    expect(matched).toBe(records.length);
    expect(hex(bytes)).toBe(hex(reference(batch)));
  });

  test("eviction time and duration of 0 and a batch past 16 KiB (3-byte length)", () => {
    const batch = { ...batchOf(randomFlows(300, 3), 0), evictionMs: 0 };
    const { bytes } = encode(batch);
    expect(bytes.length).toBeGreaterThan(16384 + 3);
    expect(hex(bytes)).toBe(hex(reference(batch)));
  });
});

describe("filtered: only the matching rows, the batch's time and counters as they are", () => {
  const batch = batchOf(randomFlows(2000, 11));
  const cases: [string, FlowFilterSpec, (r: FlowRecord) => boolean][] = [
    ["TCP", { protocols: ["tcp"] }, (r) => r.protocol === 6],
    ["an interface", { interfaces: ["veth-a"] }, (r) => r.interface === "veth-a"],
    ["ports", { ports: [1, 2, 3, 80, 443, 65535] }, (r) => [1, 2, 3, 80, 443, 65535].some((p) => p === r.srcPort || p === r.dstPort)],
    ["an IPv4 /2 on either side", { cidrs: ["64.0.0.0/2"] }, (r) => [r.srcAddr, r.dstAddr].some((a) => a[10] === 0xff && a[11] === 0xff && a[12]! >> 6 === 1)],
    ["nothing matches", { interfaces: ["none"] }, () => false],
  ];
  test.each(cases)("%s", (_, filter, keep) => {
    const { bytes, matched } = encode(batch, filter);
    const expected = batch.flows.records().filter(keep).length;
    expect(matched).toBe(expected);
    if (filter.interfaces?.[0] !== "none") expect(expected).toBeGreaterThan(0);
    expect(hex(bytes)).toBe(hex(reference(batch, keep)));
  });
});
