/**
 * DropJoiner: the kernel's drop records (struct flow_key, struct drop_record
 * rows as the drops map's drain gives them) joined to an eviction's flow rows
 * by key; a record without its flow waits one eviction, then becomes a
 * drop-only row (0 packets, sampling 1, its time the drop's); at the final
 * eviction it does not wait.
 */
import { describe, expect, test } from "bun:test";
import { DROP_RECORD, FLOW_KEY, FLOW_METRICS } from "../../src/bpf/flow-layout.ts";
import type { DropRows } from "../../src/bpf/drop-maps.ts";
import { FlowColumns } from "../../src/flow/flow-columns.ts";
import { DropJoiner, tcpStateName } from "../../src/flow/flow-drops.ts";
import { FlowRows } from "../../src/flow/flow-rows.ts";

const K = FLOW_KEY.fields;
const M = FLOW_METRICS.fields;
const R = DROP_RECORD.fields;
const reasons = new Map([
  [3, "NO_SOCKET"],
  [12, "NETFILTER_DROP"],
]);

function key(ifindex: number, srcPort: number, dstPort: number, direction = 0): Uint8Array {
  const k = new Uint8Array(FLOW_KEY.size);
  const v = new DataView(k.buffer);
  v.setUint32(K.ifindex.offset, ifindex, true);
  v.setUint16(K.eth_protocol.offset, 0x0800, true);
  k[K.direction.offset] = direction;
  k[K.protocol.offset] = 17;
  k.set([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 198, 18, 0, 1], K.src_ip.offset);
  k.set([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 198, 18, 0, 2], K.dst_ip.offset);
  v.setUint16(K.src_port.offset, srcPort, true);
  v.setUint16(K.dst_port.offset, dstPort, true);
  return k;
}

/** Flow rows of `packets` each (first and last seen 1,000 ns). */
function rowsOf(keys: Uint8Array[], packets = 10): FlowRows {
  const rows = new FlowRows();
  for (const k of keys) {
    const m = new Uint8Array(FLOW_METRICS.size);
    const v = new DataView(m.buffer);
    v.setBigUint64(M.packets.offset, BigInt(packets), true);
    v.setBigUint64(M.bytes.offset, BigInt(packets * 100), true);
    v.setBigUint64(M.first_seen_ns.offset, 1000n, true);
    v.setBigUint64(M.last_seen_ns.offset, 1000n, true);
    v.setUint32(M.sampling.offset, 1, true);
    rows.append(new Uint32Array(k.buffer), 0, new Uint32Array(m.buffer), 0);
  }
  return rows;
}

function drained(records: { key: Uint8Array; packets: number; bytes: number; reason: number; lastNs?: bigint; tcpState?: number; tcpFlags?: number }[]): DropRows {
  const keys = new Uint8Array(records.length * FLOW_KEY.size);
  const values = new Uint8Array(records.length * DROP_RECORD.size);
  const v = new DataView(values.buffer);
  records.forEach((r, i) => {
    keys.set(r.key, i * FLOW_KEY.size);
    const at = i * DROP_RECORD.size;
    v.setBigUint64(at + R.packets.offset, BigInt(r.packets), true);
    v.setBigUint64(at + R.bytes.offset, BigInt(r.bytes), true);
    v.setBigUint64(at + R.last_ns.offset, r.lastNs ?? 5000n, true);
    v.setUint32(at + R.latest_reason.offset, r.reason, true);
    v.setUint16(at + R.tcp_flags.offset, r.tcpFlags ?? 0, true);
    values[at + R.tcp_state.offset] = r.tcpState ?? 0;
  });
  return { keys, records: values, count: records.length };
}

const columns = (rows: FlowRows, drops: ReturnType<DropJoiner["join"]>) =>
  new FlowColumns(rows.keys, rows.metrics, rows.count, new Float64Array(rows.count), new Float64Array(rows.count), (i) => `if${i}`, undefined, true, undefined, undefined, undefined, drops);

describe("DropJoiner", () => {
  test("a record joins the row with its key; the reason is named by the kernel's table, the TCP state by Linux's", () => {
    const rows = rowsOf([key(2, 40000, 7001), key(2, 40001, 7002), key(3, 40000, 7001)]);
    const joiner = new DropJoiner(reasons);
    const drops = joiner.join(drained([{ key: key(2, 40001, 7002), packets: 4, bytes: 512, reason: 12, tcpState: 1, tcpFlags: 0x18 }]), rows);
    expect(rows.count).toBe(3); // no row added
    expect([...drops!.keys()]).toEqual([1]);
    expect(drops!.get(1)).toEqual({ packets: 4, bytes: 512, reason: "NETFILTER_DROP", reasonCode: 12, tcpState: 1, tcpFlags: 0x18 });
    expect(tcpStateName(1)).toBe("ESTABLISHED");
    expect(joiner.waiting).toBe(0);
    // A reason the table lacks keeps its number.
    const other = joiner.join(drained([{ key: key(2, 40000, 7001), packets: 1, bytes: 28, reason: 99 }]), rows);
    expect(other!.get(0)!.reason).toMatch(/99/);
  });

  test("same ports on another device or direction is another flow", () => {
    const rows = rowsOf([key(2, 40000, 7001, 0), key(2, 40000, 7001, 1), key(3, 40000, 7001, 0)]);
    const drops = new DropJoiner(reasons).join(drained([{ key: key(2, 40000, 7001, 1), packets: 2, bytes: 56, reason: 3 }]), rows);
    expect([...drops!.keys()]).toEqual([1]);
  });

  test("without its flow a record waits one eviction (added to a later record of the same key), then is a drop-only row", () => {
    const joiner = new DropJoiner(reasons);
    const lonely = key(4, 40400, 7004, 1);
    const first = rowsOf([key(2, 40000, 7001)]);
    expect(joiner.join(drained([{ key: lonely, packets: 100, bytes: 9200, reason: 12, lastNs: 7000n }]), first)).toBeUndefined();
    expect(first.count).toBe(1);
    expect(joiner.waiting).toBe(1);

    const second = rowsOf([key(2, 40000, 7001)]);
    const drops = joiner.join(drained([{ key: lonely, packets: 200, bytes: 18400, reason: 12, lastNs: 9000n }]), second);
    expect(second.count).toBe(2);
    expect(drops!.get(1)).toEqual({ packets: 300, bytes: 27600, reason: "NETFILTER_DROP", reasonCode: 12, tcpState: 0, tcpFlags: 0 });
    const flows = columns(second, drops);
    expect(flows.packets(1)).toBe(0);
    expect(flows.bytes(1)).toBe(0);
    expect(flows.sampling(1)).toBe(1);
    expect(flows.ifindex(1)).toBe(4);
    expect(flows.direction(1)).toBe(1);
    expect(flows.dstPort(1)).toBe(7004);
    const m = new DataView(second.metrics.buffer, FLOW_METRICS.size);
    expect(m.getBigUint64(M.first_seen_ns.offset, true)).toBe(9000n);
    expect(m.getBigUint64(M.last_seen_ns.offset, true)).toBe(9000n);
    expect(flows.record(1).drops!.packets).toBe(300);
    expect(joiner.waiting).toBe(0);
  });

  test("a record whose flow comes in the next eviction joins it there", () => {
    const joiner = new DropJoiner(reasons);
    const late = key(2, 40002, 7003);
    expect(joiner.join(drained([{ key: late, packets: 5, bytes: 140, reason: 3 }]), rowsOf([key(2, 40000, 7001)]))).toBeUndefined();
    const next = rowsOf([key(2, 40000, 7001), late]);
    const drops = joiner.join(drained([]), next);
    expect(next.count).toBe(2);
    expect(drops!.get(1)!.packets).toBe(5);
  });

  test("the final eviction waits for nothing: every unjoined record is a drop-only row", () => {
    const joiner = new DropJoiner(reasons);
    const rows = rowsOf([key(2, 40000, 7001)]);
    const drops = joiner.join(drained([{ key: key(5, 1, 2), packets: 1, bytes: 40, reason: 12 }]), rows, true);
    expect(rows.count).toBe(2);
    expect(drops!.get(1)!.packets).toBe(1);
    expect(joiner.waiting).toBe(0);
  });

  test("drops on a device the agent does not capture on are counted, not reported", () => {
    const joiner = new DropJoiner(reasons, (ifindex) => ifindex === 2);
    const rows = rowsOf([key(2, 40000, 7001)]);
    const drops = joiner.join(drained([{ key: key(2, 40000, 7001), packets: 3, bytes: 84, reason: 3 }, { key: key(1, 5000, 9), packets: 8, bytes: 224, reason: 3 }]), rows, true);
    expect(rows.count).toBe(1); // no drop-only row for device 1
    expect([...drops!.keys()]).toEqual([0]);
    expect(joiner.unwatchedPackets).toBe(8);
  });
});
