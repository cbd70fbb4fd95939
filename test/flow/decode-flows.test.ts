/** Per-CPU merge and time conversion, on buffers laid out as the kernel lays them out. */
import { expect, test } from "bun:test";
import { FLOW_KEY, FLOW_METRICS, perCpuStride } from "../../src/bpf/flow-layout.ts";
import { decodeFlows, mergeFlows } from "../../src/flow/decode-flows.ts";
import { monotonicToWallOffsetMs } from "../../src/flow/clock.ts";

const K = FLOW_KEY.fields;
const M = FLOW_METRICS.fields;

function drained(cpus: number, perCpu: { packets: number; bytes: number; first: number; last: number; flags: number; dscp: number; mac: number }[]) {
  const keys = new Uint8Array(FLOW_KEY.size);
  const kv = new DataView(keys.buffer);
  kv.setUint32(K.ifindex.offset, 7, true);
  kv.setUint16(K.eth_protocol.offset, 0x0800, true);
  keys[K.direction.offset] = 1;
  keys[K.protocol.offset] = 6;
  keys.set([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 198, 18, 0, 1], K.src_ip.offset);
  keys.set([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 198, 18, 0, 2], K.dst_ip.offset);
  kv.setUint16(K.src_port.offset, 40000, true);
  kv.setUint16(K.dst_port.offset, 443, true);
  const stride = perCpuStride(FLOW_METRICS.size);
  const values = new Uint8Array(stride * cpus);
  const vv = new DataView(values.buffer);
  perCpu.forEach((c, cpu) => {
    const base = cpu * stride;
    vv.setBigUint64(base + M.packets.offset, BigInt(c.packets), true);
    vv.setBigUint64(base + M.bytes.offset, BigInt(c.bytes), true);
    vv.setBigUint64(base + M.first_seen_ns.offset, BigInt(c.first), true);
    vv.setBigUint64(base + M.last_seen_ns.offset, BigInt(c.last), true);
    vv.setUint16(base + M.tcp_flags.offset, c.flags, true);
    values[base + M.dscp.offset] = c.dscp;
    values[base + M.src_mac.offset + 5] = c.mac;
  });
  return { keys, values, count: 1, valueStride: stride * cpus };
}

test("per-CPU copies merge: sums, earliest first, latest last, ORed flags, latest CPU's DSCP and MACs", () => {
  const d = drained(3, [
    { packets: 3, bytes: 300, first: 2_000_000_000, last: 5_000_000_000, flags: 0x02, dscp: 10, mac: 1 },
    { packets: 0, bytes: 0, first: 0, last: 0, flags: 0, dscp: 0, mac: 0 }, // a CPU that never saw it
    { packets: 2, bytes: 5_000_000_000_000, first: 1_000_000_000, last: 9_000_000_000, flags: 0x10, dscp: 46, mac: 2 },
  ]);
  const [r] = decodeFlows(d, 3, 1_700_000_000_000, (i) => `eth${i}`);
  expect(r).toMatchObject({
    ifindex: 7,
    interface: "eth7",
    direction: "egress",
    ethType: 0x0800,
    protocol: 6,
    srcPort: 40000,
    dstPort: 443,
    packets: 5,
    bytes: 5_000_000_000_300, // past 2^32: read as two words
    startMs: 1_700_000_001_000,
    endMs: 1_700_000_009_000,
    tcpFlags: 0x12,
    dscp: 46,
  });
  expect(r!.srcMac[5]).toBe(2);
});

test("monotonic to wall offset comes from one reading of each clock", () => {
  const offset = monotonicToWallOffsetMs({ wallMs: () => 1_700_000_000_000, monotonicNs: () => 123_456_000_000n });
  expect(offset).toBe(1_700_000_000_000 - 123_456);
});

test("mergeFlows folds records of the same key and keeps others", () => {
  const d = drained(1, [{ packets: 1, bytes: 100, first: 1e9, last: 2e9, flags: 2, dscp: 0, mac: 0 }]);
  const [a] = decodeFlows(d, 1, 0, () => "x");
  const [b] = decodeFlows(drained(1, [{ packets: 4, bytes: 400, first: 5e8, last: 3e9, flags: 16, dscp: 8, mac: 0 }]), 1, 0, () => "x");
  const other = { ...b!, srcPort: 1 };
  const merged = mergeFlows([a!], [b!, other]);
  expect(merged).toHaveLength(2);
  expect(merged[0]).toMatchObject({ packets: 5, bytes: 500, startMs: 500, endMs: 3000, tcpFlags: 18, dscp: 8 });
});
