/**
 * Overflow folding and merging (src/flow/overflow-flows.ts) on flow_event
 * bytes built here field by field: events of one key fold into one row, a
 * key also in the drained map merges into that row, the rest are appended.
 */
import { describe, expect, test } from "bun:test";
import { FLOW_EVENT, FLOW_KEY, FLOW_METRICS } from "../../src/bpf/flow-layout.ts";
import { FlowColumns } from "../../src/flow/flow-columns.ts";
import { FlowRows } from "../../src/flow/flow-rows.ts";
import { OverflowFlows } from "../../src/flow/overflow-flows.ts";

const K = FLOW_KEY.fields;
const M = FLOW_METRICS.fields;

interface Packet {
  srcPort: number;
  packets: number;
  bytes: number;
  firstNs: number;
  lastNs: number;
  tcpFlags?: number;
  dscp?: number;
}

/** One struct flow_event: key (UDP 198.18.0.1:srcPort → 198.18.0.2:53 on ifindex 7), pad, metrics. */
function event(p: Packet): Uint8Array {
  const bytes = new Uint8Array(FLOW_EVENT.size);
  const v = new DataView(bytes.buffer);
  v.setUint32(K.ifindex.offset, 7, true);
  v.setUint16(K.eth_protocol.offset, 0x0800, true);
  bytes[K.protocol.offset] = 17;
  bytes.set([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 198, 18, 0, 1], K.src_ip.offset);
  bytes.set([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 198, 18, 0, 2], K.dst_ip.offset);
  v.setUint16(K.src_port.offset, p.srcPort, true);
  v.setUint16(K.dst_port.offset, 53, true);
  const m = FLOW_EVENT.fields.metrics.offset;
  v.setBigUint64(m + M.packets.offset, BigInt(p.packets), true);
  v.setBigUint64(m + M.bytes.offset, BigInt(p.bytes), true);
  v.setBigUint64(m + M.first_seen_ns.offset, BigInt(p.firstNs), true);
  v.setBigUint64(m + M.last_seen_ns.offset, BigInt(p.lastNs), true);
  v.setUint32(m + M.tcp_flags.offset, p.tcpFlags ?? 0, true);
  bytes[m + M.dscp.offset] = p.dscp ?? 0;
  return bytes;
}

function fold(overflow: OverflowFlows, ...packets: Packet[]) {
  for (const p of packets) {
    const e = event(p);
    overflow.add(new Uint32Array(e.buffer), 0);
  }
}

function columns(rows: FlowRows): FlowColumns {
  const start = new Float64Array(rows.count);
  const end = new Float64Array(rows.count);
  return new FlowColumns(rows.keys, rows.metrics, rows.count, start, end, (i) => `if${i}`);
}

describe("OverflowFlows", () => {
  test("events of one flow fold into one row: counts summed, span widened, first packet's fields kept", () => {
    const overflow = new OverflowFlows();
    fold(overflow, { srcPort: 1, packets: 1, bytes: 100, firstNs: 5000, lastNs: 5000, dscp: 10, tcpFlags: 0x02 });
    fold(overflow, { srcPort: 1, packets: 3, bytes: 4500, firstNs: 2000, lastNs: 9000, dscp: 46, tcpFlags: 0x10 });
    fold(overflow, { srcPort: 2, packets: 1, bytes: 60, firstNs: 1, lastNs: 1 });
    expect(overflow.count).toBe(2);
    expect(overflow.records).toBe(3);
    const rows = new FlowRows();
    overflow.mergeInto(rows);
    const flows = columns(rows);
    const byPort = new Map(flows.records().map((r) => [r.srcPort, r]));
    expect(byPort.get(1)).toMatchObject({ packets: 4, bytes: 4600, tcpFlags: 0x12, dscp: 46 });
    expect(byPort.get(2)).toMatchObject({ packets: 1, bytes: 60 });
    expect(overflow.count).toBe(0);
  });

  test("a flow both drained from the map and in the ring comes out as one row", () => {
    const drained = new FlowRows();
    const inMap = event({ srcPort: 9, packets: 10, bytes: 1000, firstNs: 100, lastNs: 200 });
    const words = new Uint32Array(inMap.buffer);
    drained.append(words, 0, words, FLOW_EVENT.fields.metrics.offset / 4);
    const overflow = new OverflowFlows();
    fold(overflow, { srcPort: 9, packets: 2, bytes: 300, firstNs: 150, lastNs: 400 }, { srcPort: 10, packets: 1, bytes: 50, firstNs: 1, lastNs: 1 });
    overflow.mergeInto(drained);
    const records = columns(drained).records();
    expect(records.map((r) => [r.srcPort, r.packets, r.bytes])).toEqual([
      [9, 12, 1300],
      [10, 1, 50],
    ]);
  });

  test("100k distinct flows fold exactly (the table grows), twice each", () => {
    const overflow = new OverflowFlows();
    for (let round = 0; round < 2; round++)
      for (let port = 0; port < 50_000; port++) fold(overflow, { srcPort: port, packets: 1, bytes: port + 1, firstNs: round + 1, lastNs: round + 1 });
    expect(overflow.count).toBe(50_000);
    const rows = new FlowRows();
    overflow.mergeInto(rows);
    const flows = columns(rows);
    let packets = 0;
    for (let i = 0; i < flows.count; i++) {
      expect(flows.bytes(i)).toBe(2 * (flows.srcPort(i) + 1));
      packets += flows.packets(i);
    }
    expect(packets).toBe(100_000);
  });
});
