import { describe, expect, test } from "bun:test";
import { flowKey, flowKeyAt, FlowTable } from "../../../src/tui/model/flow-table.ts";
import { batch, record } from "../flow-fixtures.ts";

describe("FlowTable", () => {
  const a = { src: "198.18.0.1", dst: "198.18.0.2", srcPort: 40001, dstPort: 5001 };
  const b = { src: "fd00::1", dst: "fd00::2", srcPort: 40002, dstPort: 443, protocol: 6 };

  test("adds each eviction's records to the flow's totals and rate samples", () => {
    const table = new FlowTable(0);
    table.ingest(batch(1000, [record({ ...a, bytes: 1000, packets: 1, startMs: 100, endMs: 900 }), record({ ...b, bytes: 60, packets: 1, tcpFlags: 0x02, startMs: 200, endMs: 200 })]));
    table.ingest(batch(2000, [record({ ...a, bytes: 3000, packets: 3, startMs: 1100, endMs: 1900 }), record({ ...b, bytes: 52, packets: 1, tcpFlags: 0x10, startMs: 1500, endMs: 1500 })], { ringbufPackets: 0, droppedPackets: 7, droppedBytes: 700, mapErrors: 0, truncated: 0, flowsInserted: 4 }));
    const stats = table.stats(2000);
    expect(stats.map((s) => [s.id.srcAddr, s.id.srcPort, s.id.dstAddr, s.id.dstPort, s.id.protocol, s.bytes, s.packets, s.tcpFlags, s.firstSeenMs, s.lastSeenMs])).toEqual([
      ["198.18.0.1", 40001, "198.18.0.2", 5001, "UDP", 4000, 4, 0, 100, 1900],
      ["fd00::1", 40002, "fd00::2", 443, "TCP", 112, 2, 0x12, 200, 1500],
    ]);
    // 2 s observed: every window divides by 2 s.
    expect(stats[0]!.rates).toEqual({ bytes: [2000, 2000, 2000], packets: [2, 2, 2] });
    expect(table.counters.droppedPackets).toBe(7);
    expect(table.batches).toBe(2);
    expect(table.lastBatchAtMs).toBe(2000);
  });

  test("a sampled flow's counts are scaled by its N (estimates); the table says the largest N it saw", () => {
    const table = new FlowTable(0);
    expect(table.sampling).toBe(1);
    table.ingest(batch(2000, [{ ...record({ ...a, bytes: 1000, packets: 10 }), sampling: 100 }, record({ ...b, bytes: 60, packets: 1 })]));
    expect(table.stats(2000).map((s) => [s.bytes, s.packets])).toEqual([[100_000, 1000], [60, 1]]);
    expect(table.sampling).toBe(100);
  });

  test("flows of one key on another interface or direction are other flows", () => {
    const table = new FlowTable(0);
    table.ingest(batch(1000, [record({ ...a, bytes: 1, packets: 1 }), record({ ...a, bytes: 2, packets: 1, iface: "eth1" }), record({ ...a, bytes: 3, packets: 1, direction: "ingress" })]));
    expect(table.stats(1000).map((s) => s.bytes)).toEqual([1, 2, 3]);
  });

  test("a flow with no sample in the last 40 s is forgotten", () => {
    const table = new FlowTable(0);
    table.ingest(batch(1000, [record({ ...a, bytes: 10, packets: 1 })]));
    table.ingest(batch(20_000, [record({ ...b, bytes: 10, packets: 1 })]));
    expect(table.stats(40_999).length).toBe(2);
    expect(table.stats(41_000).map((s) => s.id.srcAddr)).toEqual(["fd00::1"]);
    expect(table.size).toBe(1);
  });

  test("a row's key read in place is the key of its record", () => {
    const flows = batch(0, [record({ ...a, bytes: 1, packets: 1 }), record({ ...b, bytes: 1, packets: 1, iface: "eth1", direction: "ingress" })]).flows;
    expect([0, 1].map((i) => flowKeyAt(flows, i))).toEqual([0, 1].map((i) => flowKey(flows.record(i))));
    expect(flowKeyAt(flows, 0)).toBe("2|egress|2048|17|00000000000000000000ffffc6120001|40001|00000000000000000000ffffc6120002|5001");
  });

  test("nothing of the batch's columns is kept: the next eviction may overwrite them", () => {
    const table = new FlowTable(0);
    const first = batch(1000, [record({ ...a, bytes: 10, packets: 1, startMs: 100, endMs: 900 })]);
    table.ingest(first);
    first.flows.keys.fill(0xa5);
    first.flows.metrics.fill(0xa5);
    first.flows.startMs.fill(NaN);
    const [only] = table.stats(1000);
    expect([only!.id.srcAddr, only!.id.dstPort, only!.bytes, only!.firstSeenMs]).toEqual(["198.18.0.1", 5001, 10, 100]);
  });
});
