/**
 * Drops in IPFIX (--enable-drops): a flow the kernel dropped packets of is
 * written with its IP template's "+ drops" twin (ids 264–267), which adds
 * droppedOctetDeltaCount (132) and droppedPacketDeltaCount (133); the twins
 * are announced before the first such flow, in every flow domain, and at each
 * refresh after it. One drop-only record is checked byte by byte, annotated.
 * nfcapd and tshark read the same messages in test/e2e/ipfix-drops.test.ts.
 */
import { describe, expect, test } from "bun:test";
import { IpfixEncoder, type IpfixMessage } from "../../src/export/ipfix-encoder.ts";
import { DROPS_TEMPLATES, FLOW_TEMPLATES, IE, SAMPLING_TEMPLATE } from "../../src/export/ipfix-templates.ts";
import { FlowColumns } from "../../src/flow/flow-columns.ts";
import type { FlowDrops } from "../../src/flow/flow-drops.ts";
import { udpFlow } from "../api/flow-fixtures.ts";
import { decodeMessage, type TemplateStore, uint } from "../helpers/ipfix-decoder.ts";

const header = (m: IpfixMessage) => {
  const v = new DataView(m.bytes.buffer, m.bytes.byteOffset);
  return { domain: v.getUint32(12), sequence: v.getUint32(8) };
};
/** The ids of the templates a message defines (its data sets skipped). */
function setIds(m: IpfixMessage): number[] {
  const v = new DataView(m.bytes.buffer, m.bytes.byteOffset, m.bytes.byteLength);
  const ids: number[] = [];
  for (let at = 16; at < m.bytes.length; at += v.getUint16(at + 2)) {
    if (v.getUint16(at) !== 2 && v.getUint16(at) !== 3) continue;
    ids.push(...decodeMessage(m.bytes, new Map()).templates.map((t) => t.id));
    break;
  }
  return ids;
}

const DROPS: FlowDrops = { packets: 3, bytes: 3 * 128, reason: "NETFILTER_DROP", reasonCode: 8, tcpState: 0, tcpFlags: 0 };
/** A drop-only flow: an egress UDP packet a netfilter OUTPUT rule dropped three times before any TC hook saw it. */
const dropOnly = udpFlow({ packets: 0, bytes: 0, l2HeaderLen: 14, dscp: 0, startMs: 1_764_000_000_250, endMs: 1_764_000_000_250, drops: DROPS });

describe("IPFIX drops", () => {
  test("the \"+ drops\" templates are the IP templates with 132 and 133 (8 octets each) at the end, ids after the options templates", () => {
    expect(DROPS_TEMPLATES.map((t) => t.id)).toEqual([264, 265, 266, 267]);
    DROPS_TEMPLATES.forEach((t, i) => {
      expect(t.fields).toEqual([...FLOW_TEMPLATES[i]!.fields, [IE.droppedOctetDeltaCount, 8], [IE.droppedPacketDeltaCount, 8]]);
      expect(t.recordLength).toBe(FLOW_TEMPLATES[i]!.recordLength + 16);
    });
    expect([IE.droppedOctetDeltaCount, IE.droppedPacketDeltaCount]).toEqual([132, 133]);
  });

  test("a drop-only IPv4 flow, every byte of its message", () => {
    const encoder = new IpfixEncoder(77, 1472);
    const [announcement, data] = encoder.flows(FlowColumns.fromRecords([dropOnly]), 1_764_000_001);
    expect(setIds(announcement!)).toEqual([264, 265, 266, 267]);
    // prettier-ignore
    const expected = [
      0x00, 0x0a, 0x00, 0x74,                         // version 10, length 116 = 16 + 4 + 96
      0x69, 0x24, 0x81, 0x01,                         // export time 1764000001
      0x00, 0x00, 0x00, 0x00,                         // sequence 0: no data record before (the announcement has none)
      0x00, 0x00, 0x00, 0x4d,                         // observation domain 77
      0x01, 0x08, 0x00, 0x64,                         // set 264 (IPv4 + drops), length 100
      0x00, 0x00, 0x01, 0x9a, 0xb6, 0x97, 0xe8, 0xfa, // flowStartMilliseconds 1764000000250
      0x00, 0x00, 0x01, 0x9a, 0xb6, 0x97, 0xe8, 0xfa, // flowEndMilliseconds: the drop's time too
      0, 0, 0, 0, 0, 0, 0, 0,                         // octetDeltaCount 0
      0, 0, 0, 0, 0, 0, 0, 0,                         // packetDeltaCount 0: no TC hook saw a packet
      0, 0, 0, 0, 0, 0, 0, 0,                         // layer2OctetDeltaCount 0
      198, 18, 0, 1,                                  // sourceIPv4Address
      198, 18, 0, 2,                                  // destinationIPv4Address
      0x9c, 0x40,                                     // sourceTransportPort 40000
      0x13, 0x88,                                     // destinationTransportPort 5000
      17,                                             // protocolIdentifier UDP
      0,                                              // ipClassOfService
      0,                                              // tcpControlBits
      1,                                              // flowDirection egress
      0, 0, 0, 0,                                     // ingressInterface: unknown
      0, 0, 0, 7,                                     // egressInterface 7
      0, 0,                                           // icmpTypeCodeIPv4: not ICMP
      0x08, 0x00,                                     // ethernetType IPv4
      0x02, 0, 0, 0, 0, 0x0a,                         // sourceMacAddress
      0x02, 0, 0, 0, 0, 0x0b,                         // destinationMacAddress
      0, 0, 0, 0, 0, 0, 0x01, 0x80,                   // droppedOctetDeltaCount 384: 3 IP packets of 128 bytes
      0, 0, 0, 0, 0, 0, 0, 3,                         // droppedPacketDeltaCount 3
    ];
    expect([...data!.bytes]).toEqual(expected);
    expect(data).toMatchObject({ records: 1, flows: 1, templates: false });
    expect(encoder.nextSequence).toBe(1);
  });

  test("the RFC 7011 decoder reads 132 and 133 back; a flow both forwarded and dropped keeps its counters beside them", () => {
    const both = udpFlow({ packets: 10, bytes: 10 * 142, l2HeaderLen: 14, vlanId: 5, drops: { ...DROPS, packets: 2 ** 40 + 1, bytes: 2 ** 52 } });
    const plain = udpFlow({ srcPort: 40001, l2HeaderLen: 14 });
    const encoder = new IpfixEncoder(1, 1472);
    const store: TemplateStore = new Map();
    decodeMessage(encoder.templates(0, [])[0]!.bytes, store);
    const records = encoder.flows(FlowColumns.fromRecords([both, plain, dropOnly]), 0).flatMap((m) => decodeMessage(m.bytes, store).records);
    // Grouped by template: the plain flow first (256), then 264 (drop-only), then 265 (tagged).
    expect(records.map((r) => r.templateId)).toEqual([256, 264, 265]);
    const [p, d, b] = records.map((r) => r.fields);
    expect([p!.has(IE.droppedOctetDeltaCount), p!.has(IE.droppedPacketDeltaCount)]).toEqual([false, false]);
    expect([uint(d!.get(IE.packetDeltaCount)), uint(d!.get(IE.droppedPacketDeltaCount)), uint(d!.get(IE.droppedOctetDeltaCount))]).toEqual([0, 3, 384]);
    expect([uint(b!.get(IE.packetDeltaCount)), uint(b!.get(IE.octetDeltaCount)), uint(b!.get(IE.vlanId))]).toEqual([10, 1280, 5]);
    expect([uint(b!.get(IE.droppedPacketDeltaCount)), uint(b!.get(IE.droppedOctetDeltaCount))]).toEqual([2 ** 40 + 1, 2 ** 52]);
  });

  test("announced from the first flow with drops on: in every flow domain, sampled ones included, at every refresh; sequences unchanged", () => {
    const encoder = new IpfixEncoder(77, 1472);
    const refresh = () => encoder.templates(0, [[7, "veth-a"]]);
    // No drops yet: nothing of them in the templates.
    expect(refresh().flatMap(setIds)).not.toContain(264);
    const sampled = FlowColumns.fromRecords([udpFlow({ sampling: 10, l2HeaderLen: 14 })]);
    expect(encoder.flows(sampled, 0).map((m) => [header(m).domain, setIds(m)])).toEqual([
      [87, [...FLOW_TEMPLATES.map((t) => t.id), SAMPLING_TEMPLATE.id]],
      [87, []],
    ]);
    // The first flow with drops (unsampled): the drops templates in 77 and in 87, before its data.
    const first = encoder.flows(FlowColumns.fromRecords([dropOnly]), 0);
    expect(first.map((m) => ({ ...header(m), ids: setIds(m), records: m.records }))).toEqual([
      { domain: 77, sequence: 0, ids: [264, 265, 266, 267], records: 0 },
      { domain: 87, sequence: 2, ids: [264, 265, 266, 267], records: 0 }, // its options record and flow before
      { domain: 77, sequence: 0, ids: [], records: 1 },
    ]);
    // A rate first seen after: its domain gets them after its sampling options.
    const later = encoder.flows(FlowColumns.fromRecords([udpFlow({ sampling: 100, l2HeaderLen: 14, drops: DROPS })]), 0);
    expect(later.map((m) => [header(m).domain, setIds(m).at(-1), m.records])).toEqual([[177, SAMPLING_TEMPLATE.id, 1], [177, 267, 0], [177, undefined, 1]]);
    // Every refresh from now on: flow templates, then the drops templates, in each flow domain; sequences as before.
    expect(refresh().map((m) => [header(m).domain, header(m).sequence, setIds(m).at(-1)])).toEqual([
      [77, 1, 261],
      [77, 1, 267],
      [0, 1, 262], // the interface names (1 before: the first refresh's)
      [87, 2, SAMPLING_TEMPLATE.id],
      [87, 3, 267], // after the re-sent options record, which counts
      [177, 2, SAMPLING_TEMPLATE.id],
      [177, 3, 267],
    ]);
    // Announced once: a later batch with drops is data only.
    expect(encoder.flows(FlowColumns.fromRecords([dropOnly]), 0).map((m) => m.templates)).toEqual([false]);
  });

  test("a non-IP flow has no drops template: any drops it carries are not written", () => {
    const arp = udpFlow({ ethType: 0x0806, protocol: 0, l2HeaderLen: 14, drops: DROPS });
    const encoder = new IpfixEncoder(1, 1472);
    const messages = encoder.flows(FlowColumns.fromRecords([arp]), 0);
    expect(messages.map((m) => m.templates)).toEqual([false]);
    expect(decodeMessage(messages[0]!.bytes, new Map([[260, { id: 260, scopeCount: 0, fields: FLOW_TEMPLATES[4]!.fields.map(([ie, l]) => [ie, l] as [number, number]) }]])).records[0]!.templateId).toBe(260);
  });
});
