/** FlowRecords and batches built by code for the API and collector tests. */
import type { FlowBatch, FlowRecord } from "../../src/flow/flow-record.ts";

export function ipv4(text: string): Uint8Array {
  const addr = new Uint8Array(16);
  addr[10] = 0xff;
  addr[11] = 0xff;
  addr.set(text.split(".").map(Number), 12);
  return addr;
}

/** Full-form IPv6 only ("fd00:0:0:0:0:0:0:1"), enough for fixtures. */
export function ipv6(text: string): Uint8Array {
  const addr = new Uint8Array(16);
  text.split(":").forEach((group, i) => {
    const n = parseInt(group, 16);
    addr[i * 2] = n >> 8;
    addr[i * 2 + 1] = n & 0xff;
  });
  return addr;
}

export function mac(text: string): Uint8Array {
  return Uint8Array.from(text.split(":").map((b) => parseInt(b, 16)));
}

/** A UDP/IPv4 flow 198.18.0.1:40000 → 198.18.0.2:5000 on veth-a, egress; override what a test needs. */
export function udpFlow(overrides: Partial<FlowRecord> = {}): FlowRecord {
  return {
    ifindex: 7,
    interface: "veth-a",
    direction: "egress",
    ethType: 0x0800,
    protocol: 17,
    srcAddr: ipv4("198.18.0.1"),
    dstAddr: ipv4("198.18.0.2"),
    srcPort: 40000,
    dstPort: 5000,
    packets: 10,
    bytes: 1420,
    startMs: 1_764_000_000_250,
    endMs: 1_764_000_001_750,
    tcpFlags: 0,
    dscp: 46,
    icmpType: 0,
    icmpCode: 0,
    srcMac: mac("02:00:00:00:00:0a"),
    dstMac: mac("02:00:00:00:00:0b"),
    flags: 0,
    ...overrides,
  };
}

export function batchOf(records: FlowRecord[], evictedAtMs = 1_764_000_002_000): FlowBatch {
  return {
    records,
    evictedAtMs,
    evictionMs: 1.25,
    counters: { ringbufPackets: 3, droppedPackets: 0, droppedBytes: 0, mapErrors: 1, truncated: 2 },
  };
}
