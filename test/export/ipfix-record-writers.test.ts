/**
 * The fast IPFIX record writers (ipfix-templates.ts: runs of rows copied from
 * the raw rows) against a straightforward reference written here: one
 * record at a time, every field through FlowColumns' accessors and a
 * DataView, in the order of the template's field list, messages cut record
 * by record. The encoder's messages must be byte-identical to the
 * reference's for every template (IPv4, IPv6, non-IP, each with and without
 * VLAN; the IP ones also "+ drops"), at several MTUs, and for values at the
 * edges of each field.
 */
import { describe, expect, test } from "bun:test";
import { IpfixEncoder } from "../../src/export/ipfix-encoder.ts";
import { DROPS_TEMPLATES, FLOW_TEMPLATES, type Field, IE, RECORD_TEMPLATES } from "../../src/export/ipfix-templates.ts";
import { FlowColumns } from "../../src/flow/flow-columns.ts";
import type { FlowRecord } from "../../src/flow/flow-record.ts";
import { randomFlows, udpFlow } from "../api/flow-fixtures.ts";
import { decodeMessage, type TemplateStore } from "../helpers/ipfix-decoder.ts";

const TWO_32 = 2 ** 32;

/** Field `ie` of row i, by its meaning (RFC 7012), written at `at` with `length` bytes. */
function writeField(flows: FlowColumns, i: number, ie: number, length: number, out: Uint8Array, at: number) {
  const v = new DataView(out.buffer, out.byteOffset);
  const u64 = (value: number) => {
    v.setUint32(at, Math.floor(value / TWO_32));
    v.setUint32(at + 4, value % TWO_32);
  };
  const direction = flows.direction(i);
  const icmp = (protocol: number) => (flows.protocol(i) === protocol ? (flows.icmpType(i) << 8) | flows.icmpCode(i) : 0);
  switch (ie) {
    case IE.flowStartMilliseconds: return u64(Math.floor(flows.startMs[i]!));
    case IE.flowEndMilliseconds: return u64(Math.floor(flows.endMs[i]!));
    case IE.octetDeltaCount: return u64(flows.ipBytes(i));
    case IE.packetDeltaCount: return u64(flows.packets(i));
    case IE.layer2OctetDeltaCount: return u64(flows.bytes(i));
    case IE.sourceIPv4Address: return out.set(flows.keys.slice(flows.srcAddrAt(i) + 12, flows.srcAddrAt(i) + 16), at);
    case IE.destinationIPv4Address: return out.set(flows.keys.slice(flows.dstAddrAt(i) + 12, flows.dstAddrAt(i) + 16), at);
    case IE.sourceIPv6Address: return out.set(flows.keys.slice(flows.srcAddrAt(i), flows.srcAddrAt(i) + 16), at);
    case IE.destinationIPv6Address: return out.set(flows.keys.slice(flows.dstAddrAt(i), flows.dstAddrAt(i) + 16), at);
    case IE.sourceTransportPort: return v.setUint16(at, flows.srcPort(i));
    case IE.destinationTransportPort: return v.setUint16(at, flows.dstPort(i));
    case IE.protocolIdentifier: return v.setUint8(at, flows.protocol(i));
    case IE.ipClassOfService: return v.setUint8(at, (flows.dscp(i) << 2) & 0xff);
    case IE.tcpControlBits: return v.setUint8(at, flows.tcpFlags(i) & 0xff);
    case IE.flowDirection: return v.setUint8(at, direction);
    case IE.ingressInterface: return v.setUint32(at, direction === 0 ? flows.ifindex(i) : 0);
    case IE.egressInterface: return v.setUint32(at, direction === 1 ? flows.ifindex(i) : 0);
    case IE.icmpTypeCodeIPv4: return v.setUint16(at, icmp(1));
    case IE.icmpTypeCodeIPv6: return v.setUint16(at, icmp(58));
    case IE.ethernetType: return v.setUint16(at, flows.ethType(i));
    case IE.sourceMacAddress: return out.set(flows.metrics.slice(flows.srcMacAt(i), flows.srcMacAt(i) + 6), at);
    case IE.destinationMacAddress: return out.set(flows.metrics.slice(flows.dstMacAt(i), flows.dstMacAt(i) + 6), at);
    case IE.vlanId: return v.setUint16(at, flows.vlanId(i));
    case IE.droppedOctetDeltaCount: return u64(flows.drops(i)!.bytes);
    case IE.droppedPacketDeltaCount: return u64(flows.drops(i)!.packets);
  }
  throw new Error(`no reference for IE ${ie} (${length} bytes)`);
}

/** Index in RECORD_TEMPLATES: FLOW_TEMPLATES by kind and tag, then an IP flow with drops in its "+ drops" twin. */
function referenceTemplate(flows: FlowColumns, i: number): number {
  const kind = flows.ethType(i) === 0x0800 ? 0 : flows.ethType(i) === 0x86dd ? 1 : 2;
  const t = kind * 2 + (flows.vlanId(i) !== 0 ? 1 : 0);
  return kind < 2 && flows.drops(i) ? FLOW_TEMPLATES.length + t : t;
}

/** The flow messages as the encoder must write them: records grouped by template in row order, a message cut before the record that would overrun it. */
function referenceMessages(flows: FlowColumns, domain: number, max: number, seconds: number, sequence: number): Uint8Array[] {
  const messages: Uint8Array[] = [];
  let message = new Uint8Array(max);
  let at = 16;
  let records = 0;
  let set = -1; // offset of the open set
  let setId = 0;
  const closeSet = () => {
    if (set >= 0) new DataView(message.buffer).setUint16(set + 2, at - set);
    set = -1;
    setId = 0;
  };
  const finish = () => {
    closeSet();
    const v = new DataView(message.buffer);
    v.setUint16(0, 10);
    v.setUint16(2, at);
    v.setUint32(4, seconds);
    v.setUint32(8, sequence);
    v.setUint32(12, domain);
    messages.push(message.slice(0, at));
    sequence = (sequence + records) >>> 0;
    message = new Uint8Array(max);
    at = 16;
    records = 0;
  };
  for (const [t, template] of RECORD_TEMPLATES.entries()) {
    for (let i = 0; i < flows.count; i++) {
      if (referenceTemplate(flows, i) !== t) continue;
      if (at + (setId === template.id ? 0 : 4) + template.recordLength > max) finish();
      if (setId !== template.id) {
        closeSet();
        new DataView(message.buffer).setUint16(at, template.id);
        set = at;
        setId = template.id;
        at += 4;
      }
      for (const [ie, length] of template.fields as Field[]) {
        writeField(flows, i, ie, length, message, at);
        at += length;
      }
      records++;
    }
  }
  finish();
  return messages;
}

/** Random flows of every kind, some VLAN-tagged, each with a link-layer length. */
function mixedFlows(count: number, seed: number): FlowRecord[] {
  return randomFlows(count, seed).map((r, i) => {
    const l2HeaderLen = [14, 18, 22, 0][i % 4]!;
    return { ...r, l2HeaderLen, vlanId: l2HeaderLen > 14 ? ((i * 7) % 4095) + 1 : 0, bytes: r.packets * l2HeaderLen + (r.bytes % 2 ** 50) };
  });
}

/** Every field at its edges, for each of the six templates. */
function edgeFlows(): FlowRecord[] {
  const out: FlowRecord[] = [];
  const v6 = Uint8Array.from({ length: 16 }, (_, b) => 0xf0 + b);
  const v4 = (a: number) => Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, a, 0xfe, 0x01, 0xff]);
  for (const ethType of [0x0800, 0x86dd, 0x0806, 0x88cc]) {
    for (const vlanId of [0, 1, 4095]) {
      for (const [protocol, direction] of [[1, "ingress"], [58, "egress"], [6, "egress"], [0, "ingress"]] as const) {
        out.push(udpFlow({
          ifindex: 0xffffffff - protocol,
          interface: "edge",
          direction,
          ethType,
          protocol,
          srcAddr: ethType === 0x86dd ? v6 : v4(0xc6),
          dstAddr: ethType === 0x86dd ? v6.slice().reverse() : v4(0x0a),
          srcPort: 65535,
          dstPort: 0,
          packets: 2 ** 45 - 1 - protocol, // above 2^32, and × 255 still below 2^53
          bytes: 2 ** 53 - 1,
          startMs: 1_764_000_000_000.999,
          endMs: 2 ** 52 + 0.5,
          tcpFlags: 0x1ff,
          dscp: 63,
          icmpType: 255,
          icmpCode: 254,
          srcMac: Uint8Array.from([0xff, 1, 2, 3, 4, 0xfe]),
          dstMac: Uint8Array.from([0, 0, 0, 0, 0, 1]),
          flags: 3,
          vlanId,
          l2HeaderLen: vlanId ? 255 : 0,
        }));
      }
    }
  }
  // A small packet count with the largest link-layer length: octetDeltaCount = bytes - 255 × packets.
  out.push(udpFlow({ packets: 1, bytes: 255, l2HeaderLen: 255, ethType: 0x0800 }));
  return out;
}

/** Random flows with drops on about half of them (a drop-only flow among them: 0 packets), and drops at the edges. */
function flowsWithDrops(count: number, seed: number): FlowRecord[] {
  const edges = edgeFlows().map((r, i) => (i % 2 ? r : { ...r, drops: { packets: 2 ** 53 - 1 - i, bytes: 2 ** 53 - 2, reason: "NETFILTER_DROP", reasonCode: 2 ** 32 - 1, tcpState: 12, tcpFlags: 0x1ff } }));
  const random = mixedFlows(count, seed).map((r, i) => {
    if (i % 2) return r;
    const dropOnly = i % 6 === 0;
    return {
      ...r,
      ...(dropOnly ? { packets: 0, bytes: 0 } : {}),
      drops: { packets: (i % 5) + 1, bytes: ((i % 5) + 1) * (40 + i), reason: "TCP_INVALID_SEQUENCE", reasonCode: 70, tcpState: 1, tcpFlags: 0x10 },
    };
  });
  return [...random, ...edges];
}

function templatesOf(flows: FlowColumns): Set<number> {
  return new Set(Array.from({ length: flows.count }, (_, i) => referenceTemplate(flows, i)));
}

describe("IPFIX record writers", () => {
  const cases: [string, FlowColumns][] = [
    ["5,000 random flows of every kind", FlowColumns.fromRecords(mixedFlows(5000, 99))],
    ["every field at its edges", FlowColumns.fromRecords(edgeFlows())],
  ];
  for (const [name, flows] of cases) {
    test(`${name}: byte-identical to the field-by-field reference, every template, several MTUs`, () => {
      expect([...templatesOf(flows)].sort()).toEqual([0, 1, 2, 3, 4, 5]);
      expect(Array.from({ length: flows.count }, (_, i) => flows.drops(i)).every((d) => d === undefined)).toBe(true);
      for (const max of [1252, 1472, 8972, 65507]) {
        const encoder = new IpfixEncoder(7, max);
        const messages = encoder.flows(flows, 1_764_000_001).map((m) => m.bytes);
        const expected = referenceMessages(flows, 7, max, 1_764_000_001, 0);
        expect(messages.length).toBe(expected.length);
        messages.forEach((bytes, m) => expect(bytes).toEqual(expected[m]!));
        // A second batch continues the sequence.
        const again = encoder.flows(flows, 1_764_000_002).map((m) => m.bytes);
        expect(again).toEqual(referenceMessages(flows, 7, max, 1_764_000_002, flows.count));
      }
    });
  }

  test("flows with drops: the \"+ drops\" templates byte-identical to the reference (every template, several MTUs), announced before them", () => {
    const flows = FlowColumns.fromRecords(flowsWithDrops(5000, 17));
    expect([...templatesOf(flows)].sort((x, y) => x - y)).toEqual([...RECORD_TEMPLATES.keys()]);
    for (const max of [1252, 1472, 8972, 65507]) {
      const encoder = new IpfixEncoder(7, max);
      const [announcement, ...messages] = encoder.flows(flows, 1_764_000_001);
      // The first flows with drops: a message of DROPS_TEMPLATES alone, then the data (the sequence starts at 0).
      const store: TemplateStore = new Map();
      expect(announcement).toMatchObject({ templates: true, records: 0, flows: 0 });
      expect(decodeMessage(announcement!.bytes, store).templates.map((t) => t.id)).toEqual(DROPS_TEMPLATES.map((t) => t.id));
      const expected = referenceMessages(flows, 7, max, 1_764_000_001, 0);
      expect(messages.map((m) => m.bytes)).toEqual(expected);
      // Announced once: the next batch is data only.
      expect(encoder.flows(flows, 1_764_000_002).map((m) => m.bytes)).toEqual(referenceMessages(flows, 7, max, 1_764_000_002, flows.count));
    }
  });

  test("a smaller batch after a larger one: nothing of the larger is left in the reused grouping", () => {
    const large = FlowColumns.fromRecords(mixedFlows(3000, 5));
    const small = FlowColumns.fromRecords(mixedFlows(37, 6));
    const encoder = new IpfixEncoder(9, 1472);
    encoder.flows(large, 1);
    const sequence = encoder.nextSequence;
    expect(encoder.flows(small, 2).map((m) => m.bytes)).toEqual(referenceMessages(small, 9, 1472, 2, sequence));
  });

  test("messages written into reused chunks (released, full of an earlier batch's bytes) are still the reference's", () => {
    const encoder = new IpfixEncoder(9, 1472);
    const earlier = FlowColumns.fromRecords(edgeFlows());
    const buffers = new Set<ArrayBufferLike>();
    for (let round = 0; round < 3; round++) {
      for (const m of encoder.flows(FlowColumns.fromRecords(mixedFlows(4000, round)), 1)) {
        buffers.add(m.bytes.buffer);
        encoder.release(m);
      }
    }
    // 4,000 flows fill two chunks each round: the three rounds took them from the free list.
    expect(buffers.size).toBeLessThanOrEqual(3);
    const sequence = encoder.nextSequence;
    const messages = encoder.flows(earlier, 2);
    expect(messages.every((m) => buffers.has(m.bytes.buffer))).toBe(true);
    expect(messages.map((m) => m.bytes)).toEqual(referenceMessages(earlier, 9, 1472, 2, sequence));
  });

  test("a message not yet released is never overwritten", () => {
    const encoder = new IpfixEncoder(9, 1472);
    const kept = encoder.flows(FlowColumns.fromRecords(mixedFlows(4000, 1)), 1);
    const copies = kept.map((m) => m.bytes.slice());
    // Every other message released: no chunk of the first batch is wholly free.
    kept.forEach((m, i) => i % 2 === 1 && encoder.release(m));
    for (let round = 0; round < 3; round++) for (const m of encoder.flows(FlowColumns.fromRecords(mixedFlows(4000, 2 + round)), 1)) encoder.release(m);
    kept.forEach((m, i) => i % 2 === 0 && expect(m.bytes).toEqual(copies[i]!));
  });

  test("the reference agrees with the RFC 7011 decoder: one record per row, each of its template's length", () => {
    const flows = FlowColumns.fromRecords(edgeFlows());
    const store: TemplateStore = new Map();
    const encoder = new IpfixEncoder(7, 1472);
    const [templates] = encoder.templates(0, []);
    decodeMessage(templates!.bytes, store);
    const withDrops = FlowColumns.fromRecords(flowsWithDrops(50, 3));
    for (const m of encoder.flows(withDrops, 0)) if (m.templates) decodeMessage(m.bytes, store);
    const decoded = [flows, withDrops].flatMap((f) => referenceMessages(f, 7, 1472, 0, 0).flatMap((bytes) => decodeMessage(bytes, store).records));
    expect(decoded).toHaveLength(flows.count + withDrops.count);
    expect(new Set(decoded.map((r) => r.templateId))).toEqual(new Set(RECORD_TEMPLATES.map((t) => t.id)));
    for (const r of decoded) {
      const template = RECORD_TEMPLATES.find((t) => t.id === r.templateId)!;
      expect([...r.fields.values()].reduce((sum, f) => sum + f.length, 0)).toBe(template.recordLength);
    }
  });
});
