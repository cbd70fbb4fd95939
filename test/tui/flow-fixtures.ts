/** FlowRecords and batches for the view's tests, built from readable fields. */
import { FlowColumns } from "../../src/flow/flow-columns.ts";
import type { FlowDns } from "../../src/flow/flow-dns.ts";
import type { FlowDrops } from "../../src/flow/flow-drops.ts";
import type { FlowBatch, FlowOwner, FlowRecord, KernelCounters } from "../../src/flow/flow-record.ts";
import type { FlowRtt } from "../../src/flow/flow-rtt.ts";
import type { FlowStat } from "../../src/tui/model/flow-table.ts";
import { flowIdentity } from "../../src/tui/model/flow-table.ts";

/** "198.18.0.1" → IPv4-mapped 16 bytes; "fd00::1" → 16 bytes. */
export function addr(text: string): Uint8Array {
  const out = new Uint8Array(16);
  if (text.includes(".")) {
    out[10] = 0xff;
    out[11] = 0xff;
    text.split(".").forEach((part, i) => (out[12 + i] = Number(part)));
    return out;
  }
  const [head, tail] = text.split("::") as [string, string | undefined];
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const groups = [...h, ...Array(8 - h.length - t.length).fill("0"), ...t];
  groups.forEach((g, i) => {
    const v = parseInt(g, 16);
    out[i * 2] = v >> 8;
    out[i * 2 + 1] = v & 0xff;
  });
  return out;
}

export interface RecordFields {
  src: string;
  dst: string;
  srcPort?: number;
  dstPort?: number;
  protocol?: number;
  bytes: number;
  packets: number;
  iface?: string;
  direction?: "ingress" | "egress";
  tcpFlags?: number;
  startMs?: number;
  endMs?: number;
  owner?: FlowOwner;
  dns?: FlowDns;
  rtt?: FlowRtt;
  drops?: FlowDrops;
}

export function record(f: RecordFields): FlowRecord {
  const v6 = f.src.includes(":");
  return {
    ifindex: f.iface === "eth1" ? 3 : 2,
    interface: f.iface ?? "eth0",
    direction: f.direction ?? "egress",
    ethType: v6 ? 0x86dd : 0x0800,
    protocol: f.protocol ?? 17,
    srcAddr: addr(f.src),
    dstAddr: addr(f.dst),
    srcPort: f.srcPort ?? 0,
    dstPort: f.dstPort ?? 0,
    packets: f.packets,
    bytes: f.bytes,
    startMs: f.startMs ?? 0,
    endMs: f.endMs ?? 0,
    tcpFlags: f.tcpFlags ?? 0,
    dscp: 0,
    icmpType: 0,
    icmpCode: 0,
    srcMac: new Uint8Array([2, 0, 0, 0, 0, 0xa]),
    dstMac: new Uint8Array([2, 0, 0, 0, 0, 0xb]),
    flags: 0,
    ...(f.owner ? { owner: f.owner } : {}),
    ...(f.dns ? { dns: f.dns } : {}),
    ...(f.rtt ? { rtt: f.rtt } : {}),
    ...(f.drops ? { drops: f.drops } : {}),
  };
}

export const zeroCounters: KernelCounters = { ringbufPackets: 0, droppedPackets: 0, droppedBytes: 0, mapErrors: 0, truncated: 0, flowsInserted: 0 };

/** A batch of `records` as columns, as the agent hands them over. */
export function batch(evictedAtMs: number, records: FlowRecord[], counters = zeroCounters): FlowBatch {
  return { flows: FlowColumns.fromRecords(records), evictedAtMs, evictionMs: 1, counters };
}

/** A FlowStat with given totals and 2 s / 10 s / 40 s byte rates (packet rates = bytes / 100); its drops' latest at endMs. */
export function stat(f: RecordFields, rates: [number, number, number] = [0, 0, 0]): FlowStat {
  return {
    id: flowIdentity(record(f)),
    bytes: f.bytes,
    packets: f.packets,
    tcpFlags: f.tcpFlags ?? 0,
    dscp: 0,
    firstSeenMs: f.startMs ?? 0,
    lastSeenMs: f.endMs ?? 0,
    rates: { bytes: [...rates], packets: rates.map((r) => r / 100) },
    ...(f.dns ? { dns: f.dns } : {}),
    ...(f.rtt ? { rtt: f.rtt } : {}),
    ...(f.drops ? { drops: { ...f.drops, lastMs: f.endMs ?? 0 } } : {}),
  };
}
