/**
 * The IPFIX encoder, read back with an independent RFC 7011 decoder
 * (test/helpers/ipfix-decoder.ts): every field of every flow, message sizes,
 * sequence numbers, templates. The collectors' own reading is tested end to
 * end in test/e2e/ipfix-export.test.ts.
 */
import { describe, expect, test } from "bun:test";
import { FlowColumns } from "../../src/flow/flow-columns.ts";
import type { FlowRecord } from "../../src/flow/flow-record.ts";
import { IpfixEncoder, type IpfixMessage, samplingDomainId } from "../../src/export/ipfix-encoder.ts";
import { maxMessageBytes } from "../../src/export/ipfix-exporter.ts";
import { FLOW_TEMPLATES, IE, INTERFACE_NAMES_TEMPLATE, SAMPLING_TEMPLATE } from "../../src/export/ipfix-templates.ts";
import { randomFlows } from "../api/flow-fixtures.ts";
import { decodeMessage, type TemplateStore, uint } from "../helpers/ipfix-decoder.ts";

/** Random flows of every kind, some tagged, with a link-layer length each. */
function flowsWithLinkLayer(count: number, seed: number): FlowRecord[] {
  return randomFlows(count, seed).map((r, i) => {
    const l2HeaderLen = [14, 18, 22, 0][i % 4]!;
    return { ...r, l2HeaderLen, vlanId: l2HeaderLen > 14 ? (i * 7) % 4095 + 1 : 0, bytes: r.packets * l2HeaderLen + (r.bytes % 2 ** 50) };
  });
}

const ipv4Of = (addr: Uint8Array) => addr.subarray(12, 16);

function expectRecordMatches(fields: Map<number, Uint8Array>, r: FlowRecord) {
  const ip = r.ethType === 0x0800 || r.ethType === 0x86dd;
  expect(uint(fields.get(IE.flowStartMilliseconds))).toBe(Math.floor(r.startMs));
  expect(uint(fields.get(IE.flowEndMilliseconds))).toBe(Math.floor(r.endMs));
  expect(uint(fields.get(IE.packetDeltaCount))).toBe(r.packets);
  expect(uint(fields.get(IE.layer2OctetDeltaCount))).toBe(r.bytes);
  expect(uint(fields.get(IE.flowDirection))).toBe(r.direction === "egress" ? 1 : 0);
  expect(uint(fields.get(IE.ingressInterface))).toBe(r.direction === "ingress" ? r.ifindex : 0);
  expect(uint(fields.get(IE.egressInterface))).toBe(r.direction === "egress" ? r.ifindex : 0);
  expect(uint(fields.get(IE.ethernetType))).toBe(r.ethType);
  expect(fields.get(IE.sourceMacAddress)).toEqual(r.srcMac);
  expect(fields.get(IE.destinationMacAddress)).toEqual(r.dstMac);
  if (r.vlanId) expect(uint(fields.get(IE.vlanId))).toBe(r.vlanId);
  else expect(fields.has(IE.vlanId)).toBe(false);
  if (!ip) {
    for (const ie of [IE.octetDeltaCount, IE.sourceIPv4Address, IE.sourceIPv6Address, IE.sourceTransportPort]) expect(fields.has(ie)).toBe(false);
    return;
  }
  expect(uint(fields.get(IE.octetDeltaCount))).toBe(r.bytes - r.packets * r.l2HeaderLen!);
  expect(uint(fields.get(IE.protocolIdentifier))).toBe(r.protocol);
  expect(uint(fields.get(IE.sourceTransportPort))).toBe(r.srcPort);
  expect(uint(fields.get(IE.destinationTransportPort))).toBe(r.dstPort);
  expect(uint(fields.get(IE.ipClassOfService))).toBe(r.dscp << 2);
  expect(fields.get(IE.tcpControlBits)).toEqual(new Uint8Array([r.tcpFlags & 0xff])); // one octet
  if (r.ethType === 0x0800) {
    expect(fields.get(IE.sourceIPv4Address)).toEqual(ipv4Of(r.srcAddr));
    expect(fields.get(IE.destinationIPv4Address)).toEqual(ipv4Of(r.dstAddr));
    expect(uint(fields.get(IE.icmpTypeCodeIPv4))).toBe(r.protocol === 1 ? (r.icmpType << 8) | r.icmpCode : 0);
  } else {
    expect(fields.get(IE.sourceIPv6Address)).toEqual(r.srcAddr);
    expect(fields.get(IE.destinationIPv6Address)).toEqual(r.dstAddr);
    expect(uint(fields.get(IE.icmpTypeCodeIPv6))).toBe(r.protocol === 58 ? (r.icmpType << 8) | r.icmpCode : 0);
  }
}

describe("IPFIX encoder", () => {
  test("every template's writer writes exactly the bytes its fields declare", () => {
    const records = flowsWithLinkLayer(400, 11);
    const flows = FlowColumns.fromRecords(records);
    const out = new Uint8Array(512);
    for (const [t, template] of FLOW_TEMPLATES.entries()) {
      const rows = Uint32Array.from(records.keys()).filter((i) => templateOf(records[i]!) === t);
      expect(rows.length).toBeGreaterThanOrEqual(2);
      expect(template.writeRows(flows, rows, 0, 1, out, 3) - 3).toBe(template.recordLength);
      expect(template.writeRows(flows, rows, 0, 2, out, 3) - 3).toBe(2 * template.recordLength);
    }
  });

  test("5,000 random flows: every field read back by an RFC 7011 decoder, messages within the MTU, sequence = data records before in each domain", () => {
    const records = flowsWithLinkLayer(5000, 7);
    const flows = FlowColumns.fromRecords(records);
    const max = maxMessageBytes(1500, false);
    const encoder = new IpfixEncoder(4242, max);
    const stores = new Map<number, TemplateStore>();
    const interfaces = new Map(records.map((r) => [r.ifindex, r.interface] as const));
    const messages = [...encoder.templates(1_764_000_000, interfaces), ...encoder.flows(flows, 1_764_000_001)];
    // Data records before each message, per domain: flows in 4242, interface names in 0.
    const dataRecords = new Map([[4242, 0], [0, 0]]);
    const names = new Map<number, string>();
    const decodedFlows: Map<number, Uint8Array>[] = [];
    for (const m of messages) {
      expect(m.bytes.length).toBeLessThanOrEqual(max);
      // Templates are kept per domain, as collectors keep them (RFC 7011 §8).
      const domain = new DataView(m.bytes.buffer, m.bytes.byteOffset).getUint32(12);
      if (!stores.has(domain)) stores.set(domain, new Map());
      const d = decodeMessage(m.bytes, stores.get(domain)!);
      expect([d.version, d.sequence]).toEqual([10, dataRecords.get(d.domain)!]);
      dataRecords.set(d.domain, dataRecords.get(d.domain)! + d.records.length);
      expect(m.records).toBe(d.records.length);
      for (const r of d.records) {
        if (r.templateId === INTERFACE_NAMES_TEMPLATE.id) {
          expect(d.domain).toBe(0);
          names.set(uint(r.fields.get(IE.ingressInterface)), new TextDecoder().decode(r.fields.get(IE.interfaceName)));
        } else {
          expect(d.domain).toBe(4242);
          decodedFlows.push(r.fields);
        }
      }
    }
    expect(encoder.nextSequence).toBe(dataRecords.get(4242)!);
    expect(encoder.nextNamesSequence).toBe(dataRecords.get(0)!);
    expect(names).toEqual(interfaces);
    expect(stores.get(0)!.get(INTERFACE_NAMES_TEMPLATE.id)!.scopeCount).toBe(1);
    expect([...stores.get(4242)!.keys()]).toEqual(FLOW_TEMPLATES.map((t) => t.id));
    // Records are grouped by template, so match them by their place in each template's order.
    const expected = [...FLOW_TEMPLATES.keys()].flatMap((t) => records.filter((r) => templateOf(r) === t));
    expect(decodedFlows).toHaveLength(records.length);
    decodedFlows.forEach((fields, i) => expectRecordMatches(fields, expected[i]!));
    // Full messages: only the last of the flow messages may be much shorter than the limit.
    const flowMessages = messages.filter((m) => m.flows > 0);
    for (const m of flowMessages.slice(0, -1)) expect(m.bytes.length).toBeGreaterThan(max - 120);
  });

  test("the sequence number wraps at 2^32 and templates do not advance it", () => {
    const encoder = new IpfixEncoder(1, 1400);
    const flows = FlowColumns.fromRecords(flowsWithLinkLayer(10, 3));
    (encoder as unknown as { flowDomain: { next: number } }).flowDomain.next = 2 ** 32 - 4;
    const before = encoder.nextSequence;
    encoder.templates(0, []);
    expect(encoder.nextSequence).toBe(before);
    const [m] = encoder.flows(flows, 0);
    expect(new DataView(m!.bytes.buffer, m!.bytes.byteOffset).getUint32(8)).toBe(2 ** 32 - 4);
    expect(encoder.nextSequence).toBe(6);
  });

  test("interface names go in domain 0 with a sequence of their own; flows' sequence counts flows only", () => {
    const encoder = new IpfixEncoder(77, 1472);
    const flows = FlowColumns.fromRecords(flowsWithLinkLayer(30, 4));
    const header = (m: { bytes: Uint8Array }) => {
      const v = new DataView(m.bytes.buffer, m.bytes.byteOffset);
      return { domain: v.getUint32(12), sequence: v.getUint32(8) };
    };
    const refresh = () => encoder.templates(0, [[2, "eth0"], [3, "eth1"]]);
    const first = refresh();
    expect(first.map(header)).toEqual([{ domain: 77, sequence: 0 }, { domain: 0, sequence: 0 }]);
    expect(first.map((m) => [m.templates, m.records, m.flows])).toEqual([[true, 0, 0], [true, 2, 0]]);
    encoder.flows(flows, 0);
    // A refresh after flows: the names' sequence counts the names before, the flows' the flows before.
    expect(refresh().map(header)).toEqual([{ domain: 77, sequence: 30 }, { domain: 0, sequence: 2 }]);
    expect(encoder.interfaceNameMessages(0, [[4, "eth2"]]).map(header)).toEqual([{ domain: 0, sequence: 4 }]);
    expect(encoder.flows(flows, 0).map(header)).toEqual([{ domain: 77, sequence: 30 }, { domain: 77, sequence: 30 + 17 }]);
    expect([encoder.nextSequence, encoder.nextNamesSequence]).toEqual([60, 5]);
  });

  test("with --ipfix-domain 0, names share domain 0 and its sequence (there is no other domain to give them)", () => {
    const encoder = new IpfixEncoder(0, 1472);
    const flows = FlowColumns.fromRecords(flowsWithLinkLayer(5, 4));
    encoder.templates(0, [[2, "eth0"]]);
    const [m] = encoder.flows(flows, 0);
    expect(new DataView(m!.bytes.buffer, m!.bytes.byteOffset).getUint32(8)).toBe(1);
    expect([encoder.nextSequence, encoder.nextNamesSequence]).toEqual([6, 6]);
  });

  test("sampled flows: a domain per rate with its templates and sampling options; unsampled flows the same bytes as without them", () => {
    const MTU = 1472;
    const records = flowsWithLinkLayer(90, 9).map((r, i) => ({ ...r, sampling: [1, 10, 100][i % 3]! }));
    const encoder = new IpfixEncoder(77, MTU);
    const first = encoder.templates(0, [[2, "eth0"]]);
    expect(first).toHaveLength(2); // no rate seen yet: no sampling domain, no sampling options
    const messages = encoder.flows(FlowColumns.fromRecords(records), 0);
    // Unsampled flows: exactly what an encoder given only them writes (no sampling IE, no options).
    const plain = new IpfixEncoder(77, MTU);
    plain.templates(0, [[2, "eth0"]]);
    const unsampled = records.filter((r) => r.sampling === 1);
    const plainBytes = plain.flows(FlowColumns.fromRecords(unsampled), 0).map((m) => [...m.bytes]);
    const domainOf = (m: IpfixMessage) => new DataView(m.bytes.buffer, m.bytes.byteOffset).getUint32(12);
    expect(messages.filter((m) => domainOf(m) === 77).map((m) => [...m.bytes])).toEqual(plainBytes);
    expect([samplingDomainId(77, 10), samplingDomainId(77, 100), samplingDomainId(0xffffffff, 10)]).toEqual([87, 177, 9]);

    // Decoded as a collector would, templates kept per domain.
    const stores = new Map<number, TemplateStore>();
    const decode = (m: IpfixMessage) => {
      const domain = domainOf(m);
      if (!stores.has(domain)) stores.set(domain, new Map());
      return decodeMessage(m.bytes, stores.get(domain)!);
    };
    for (const m of first) decode(m);
    const byDomain = new Map<number, ReturnType<typeof decode>[]>();
    for (const m of messages) {
      const d = decode(m);
      byDomain.set(d.domain, [...(byDomain.get(d.domain) ?? []), d]);
      expect(m.bytes.length).toBeLessThanOrEqual(MTU);
    }
    expect([...byDomain.keys()]).toEqual([77, 87, 177]);
    for (const rate of [10, 100]) {
      const [options, ...data] = byDomain.get(77 + rate)!;
      // First in the domain: the flow templates, the sampling options template (scope selectorId), its record.
      expect(messages.find((m) => domainOf(m) === 77 + rate)).toMatchObject({ templates: true, records: 1, flows: 0 });
      expect(options!.sequence).toBe(0);
      expect(options!.templates.map((t) => t.id)).toEqual([...FLOW_TEMPLATES.map((t) => t.id), SAMPLING_TEMPLATE.id]);
      expect(options!.templates.at(-1)).toEqual({
        id: 263,
        scopeCount: 1,
        fields: [[302, 4], [34, 4], [304, 2], [309, 4], [310, 4]],
      });
      expect(options!.records).toHaveLength(1);
      const o = options!.records[0]!.fields;
      expect([IE.selectorId, IE.samplingInterval, IE.selectorAlgorithm, IE.samplingSize, IE.samplingPopulation].map((ie) => uint(o.get(ie)))).toEqual([rate, rate, 3, 1, rate]);
      expect(o.has(35)).toBe(false); // samplingAlgorithm: nfdump 1.7.1 ignores a template with 34 and 35
      // Then its flows, raw counts, the options record counted in the sequence (RFC 7011 §3.1).
      const expected = records.filter((r) => r.sampling === rate);
      const got = data.flatMap((d) => d.records);
      expect(got).toHaveLength(expected.length);
      expect(data[0]!.sequence).toBe(1);
      expect(encoder.nextSampledSequence(rate)).toBe(1 + expected.length);
      const sorted = [...expected].sort((x, y) => templateOf(x) - templateOf(y));
      got.forEach((rec, i) => expectRecordMatches(rec.fields, sorted[i]!));
      expect(got.every((rec) => !rec.fields.has(IE.samplingInterval) && !rec.fields.has(IE.selectorId))).toBe(true);
    }
    expect(encoder.nextSequence).toBe(unsampled.length);
    expect(encoder.samplingRates).toEqual([10, 100]);

    // A refresh re-sends each sampled domain's templates and options (a collector restarted learns the rate again).
    const refresh = encoder.templates(0, [[2, "eth0"]]);
    expect(refresh.map(domainOf)).toEqual([77, 0, 87, 177]);
    expect(refresh.slice(2).map((m) => [m.templates, m.records, m.flows])).toEqual([[true, 1, 0], [true, 1, 0]]);
    expect(decode(refresh[2]!).sequence).toBe(1 + records.filter((r) => r.sampling === 10).length);
    // A batch of known rates carries no options again.
    const again = encoder.flows(FlowColumns.fromRecords(records.filter((r) => r.sampling === 10)), 0);
    expect(again.length).toBeGreaterThan(0);
    expect(again.every((m) => domainOf(m) === 87)).toBe(true);
    expect(again.every((m) => !m.templates)).toBe(true);
  });

  test("an MTU too small for the templates is refused", () => {
    expect(() => new IpfixEncoder(1, 400)).toThrow(/cannot hold the templates/);
    expect(maxMessageBytes(1500, true)).toBe(1452);
    expect(maxMessageBytes(65535, false)).toBe(65507);
  });
});

function templateOf(r: FlowRecord): number {
  const kind = r.ethType === 0x0800 ? 0 : r.ethType === 0x86dd ? 1 : 2;
  return kind * 2 + (r.vlanId ? 1 : 0);
}
