/** Batches of distinct, realistic flows for output tests: flow i is UDP 198.18.x.y:(10000+i%50000) → 198.18.0.1:9. */
import { FlowColumns } from "../../src/flow/flow-columns.ts";
import type { FlowBatch, FlowRecord } from "../../src/flow/flow-record.ts";

const mapped = (a: number, b: number, c: number, d: number) => new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, a, b, c, d]);

export function syntheticRecord(i: number): FlowRecord {
  return {
    ifindex: 2, interface: "eth0", direction: i % 2 === 0 ? "egress" : "ingress", ethType: 0x0800, protocol: 17,
    srcAddr: mapped(198, 18, (i >> 8) & 0xff, i & 0xff), dstAddr: mapped(198, 18, 0, 1), srcPort: 10000 + (i % 50000), dstPort: 9,
    packets: 1 + (i % 7), bytes: 60 + i, startMs: Date.UTC(2026, 0, 1, 12), endMs: Date.UTC(2026, 0, 1, 12, 0, 1, i % 1000),
    tcpFlags: 0, dscp: 0, icmpType: 0, icmpCode: 0, srcMac: new Uint8Array([2, 0, 0, 0, 0, 1]), dstMac: new Uint8Array([2, 0, 0, 0, 0, 2]), flags: 0,
  };
}

export function syntheticBatch(count: number): FlowBatch {
  const records = Array.from({ length: count }, (_, i) => syntheticRecord(i));
  return {
    flows: FlowColumns.fromRecords(records),
    evictedAtMs: Date.UTC(2026, 0, 1, 12, 0, 2),
    evictionMs: 1,
    counters: { ringbufPackets: 0, droppedPackets: 0, droppedBytes: 0, mapErrors: 0, truncated: 0, flowsInserted: count },
  };
}
