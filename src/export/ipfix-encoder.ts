/**
 * IPFIX messages (RFC 7011) from a flow batch, written straight into
 * buffers: no object per flow, no copy of a record.
 *
 * Message header (§3.1): version 10, length, export time (seconds), sequence
 * number, observation domain. The sequence number is the count of DATA
 * records sent in this domain before the message, mod 2^32; template
 * records do not count (§3.1: counting messages makes nfcapd report sequence
 * errors). Messages are cut so that none exceeds `maxMessageBytes` (the path
 * MTU less the IP and UDP headers): a record is never split.
 *
 * Two observation domains. Flows and their templates go in `domain`; the
 * interface names (options template 262 and its data) go in domain 0, with
 * a sequence number of their own. RFC 7011 §3.1: the Observation Domain ID
 * "SHOULD be 0 when no specific Observation Domain ID is relevant for the
 * entire IPFIX Message" (its example: Exporting Process statistics), and an
 * ifindex → name table is the host's, not one domain's. The split is also
 * what lets every collector agree on the sequence numbers: tshark counts
 * every data record, options included, as the RFC says; nfcapd (nfdump
 * 1.7.1 and today's src/netflow/ipfix.c) counts flow records only, per
 * exporter and domain, and never reports an error in a domain that has
 * carried no flow data. With names in the flows' domain, each message of
 * names after flows was one "sequence error" in nfcapd. When `domain` is
 * itself 0, names share it (and its sequence).
 *
 * Sampled flows (--sampling N, a filter rule's sample=N: counts are of 1
 * packet in N) go in an observation domain of their own per N,
 * samplingDomainId(domain, N) = domain + N, with the flow templates and the
 * sampling options (SAMPLING_TEMPLATE: 34 = N, 304 = 3, 309 = 1, 310 = N,
 * scope selectorId = N) in that domain, before its first flows and at every
 * refresh. Why a domain per rate: nfdump (its samplers) and goflow2 (its
 * rate) keep sampling per exporter and observation domain, and nfdump 1.7.1
 * applies a domain's sampler to
 * every record of the domain without a selectorId it knows (nfdump #212:
 * unsampled records scaled once options were sent), while its option
 * template parser recognises no selectorId-keyed sampler at all (302 among
 * the fields → template ignored): one rate per domain is the one layout it
 * scales right, for any mix of rates. Unsampled flows stay in `domain`,
 * which never carries sampling options: their messages are the same bytes
 * as before sampling existed. The options record is a data record and
 * counts in its domain's sequence number (RFC 7011 §3.1, as tshark checks);
 * nfcapd counts flow records only, so each re-sent options record after
 * flows shows as an nfcapd "sequence error" there (a counter; no flow is
 * lost; test/e2e/ipfix-export.test.ts measures it). Re-sending them at each
 * refresh is what lets a restarted collector scale the flows again.
 *
 * Flows with drops (--enable-drops) are written with the "+ drops" twins of
 * the IP templates (DROPS_TEMPLATES: droppedOctetDeltaCount and
 * droppedPacketDeltaCount added). Those templates are announced, in a
 * message of their own in each flow domain, before the first flow with
 * drops and at every refresh after it: until then (and always without
 * --enable-drops) every message is the same bytes as before drops existed.
 *
 * Flows are grouped by template first (one pass that computes each row's
 * template), then each template's rows are written in runs that fill a
 * message, by the template's straight-line writer (ipfix-templates.ts).
 *
 * Messages are views into large chunks (ipfix-message-chunks.ts) filled one
 * after another; the exporter hands each message back with release() once
 * it is sent or dropped, and its chunk is reused when all of its messages are.
 */
import type { FlowColumns } from "../flow/flow-columns.ts";
import { type MessageChunk, MessageChunks } from "./ipfix-message-chunks.ts";
import { FlowRowGroups } from "./ipfix-row-groups.ts";
import { DROPS_TEMPLATES, FLOW_TEMPLATES, type FlowTemplate, type Field, INTERFACE_NAMES_TEMPLATE, RECORD_TEMPLATES, SAMPLING_TEMPLATE } from "./ipfix-templates.ts";

/** Observation domain of the interface names: 0, "no specific Observation Domain" (RFC 7011 §3.1). */
export const INTERFACE_NAMES_DOMAIN = 0;

/** Observation domain of the flows sampled 1 in `rate` (rate > 1): the flows' domain + rate, mod 2^32. */
export function samplingDomainId(domain: number, rate: number): number {
  return (domain + rate) >>> 0;
}

const IPFIX_VERSION = 10;
const MESSAGE_HEADER = 16;
const SET_HEADER = 4;
const TEMPLATE_SET_ID = 2;
const OPTIONS_TEMPLATE_SET_ID = 3;
/** UDP over IPv4 carries at most 65507 bytes; the message length field is 16 bits. */
export const MAX_MESSAGE_BYTES = 65507;
const CHUNK_BYTES = 256 * 1024;

export interface IpfixMessage {
  bytes: Uint8Array;
  /** Data records in it (flows or interface names); 0 for templates only. */
  records: number;
  /** Of those, flow records (the rest are options data: interface names). */
  flows: number;
  /** Holds templates: sent even when data is dropped for room. */
  templates: boolean;
}

/** One observation domain's id and the sequence number its next message carries. */
interface DomainSequence {
  readonly id: number;
  next: number;
}

export class IpfixEncoder {
  private readonly flowDomain: DomainSequence;
  /** By sampling rate N > 1: the domain of the flows sampled 1 in N, created (and announced) at its first flows. */
  private readonly sampledDomains = new Map<number, DomainSequence>();
  private readonly namesDomain: DomainSequence;
  private readonly chunks: MessageChunks;
  private current: MessageChunk;
  private chunk: Uint8Array;
  private view: DataView;
  private used = 0;
  // The message being written.
  private start = 0;
  private at = 0;
  private records = 0;
  private hasTemplates = false;
  private ofFlows = false;
  private setStart = -1;
  private setId = 0;
  /** Whether a flow with drops has been seen: DROPS_TEMPLATES are then announced in every flow domain, at every refresh. */
  private dropsAnnounced = false;
  /** Reused across batches: each row's template and rate, and the rows of one rate in template order. */
  private readonly rows = new FlowRowGroups(RECORD_TEMPLATES.length);
  private readonly text = new TextEncoder();

  constructor(
    /** Observation domain of the flows (--ipfix-domain). */
    readonly domain: number,
    readonly maxMessageBytes: number,
  ) {
    if (!Number.isInteger(maxMessageBytes) || maxMessageBytes > MAX_MESSAGE_BYTES || maxMessageBytes < templatesBytes())
      throw new RangeError(`IPFIX messages of ${maxMessageBytes} bytes cannot hold the templates (${templatesBytes()} bytes) or exceed ${MAX_MESSAGE_BYTES}`);
    this.chunks = new MessageChunks(Math.max(CHUNK_BYTES, maxMessageBytes));
    this.current = this.chunks.take();
    this.chunk = this.current.bytes;
    this.view = this.current.view;
    this.flowDomain = { id: domain >>> 0, next: 0 };
    this.namesDomain = this.flowDomain.id === INTERFACE_NAMES_DOMAIN ? this.flowDomain : { id: INTERFACE_NAMES_DOMAIN, next: 0 };
  }

  /** The sequence number the next message of flows carries. */
  get nextSequence(): number {
    return this.flowDomain.next;
  }

  /** The sequence number the next message of flows sampled 1 in `rate` carries (undefined before the first). */
  nextSampledSequence(rate: number): number | undefined {
    return this.sampledDomains.get(rate)?.next;
  }

  /** The sampling rates (N > 1) flows have been exported at, each in its own domain. */
  get samplingRates(): number[] {
    return [...this.sampledDomains.keys()];
  }

  /** The sequence number the next message of interface names carries (domain 0). */
  get nextNamesSequence(): number {
    return this.namesDomain.next;
  }

  /**
   * The flow templates (in the flows' domain), then the options template and
   * the interface names (in domain 0): sent first, and again on every refresh
   * (RFC 7011 §8.1: over UDP, templates are re-sent periodically).
   */
  templates(exportSeconds: number, interfaces: Iterable<readonly [number, string]>): IpfixMessage[] {
    const out: IpfixMessage[] = [];
    this.begin();
    this.hasTemplates = true;
    this.flowTemplates();
    out.push(this.finish(exportSeconds, this.flowDomain));
    if (this.dropsAnnounced) out.push(this.dropsTemplates(exportSeconds, this.flowDomain));
    this.begin();
    this.hasTemplates = true;
    this.openSet(OPTIONS_TEMPLATE_SET_ID);
    const names = INTERFACE_NAMES_TEMPLATE;
    this.view.setUint16(this.at, names.id);
    this.view.setUint16(this.at + 2, names.scopeFields.length + names.fields.length);
    this.view.setUint16(this.at + 4, names.scopeFields.length);
    this.at = this.writeFields([...names.scopeFields, ...names.fields], this.at + 6);
    this.closeSet();
    this.interfaceNames(exportSeconds, interfaces, out);
    for (const [rate, domain] of this.sampledDomains) {
      out.push(this.samplingTemplates(exportSeconds, rate, domain));
      if (this.dropsAnnounced) out.push(this.dropsTemplates(exportSeconds, domain));
    }
    return out;
  }

  /** A message of DROPS_TEMPLATES alone, in `domain` (no data record: the sequence stays). */
  private dropsTemplates(exportSeconds: number, domain: DomainSequence): IpfixMessage {
    this.begin();
    this.hasTemplates = true;
    this.templateSet(DROPS_TEMPLATES);
    return this.finish(exportSeconds, domain);
  }

  /**
   * One message in the domain of the flows sampled 1 in `rate`: the flow
   * templates, the sampling options template and its one record (which
   * counts in the domain's sequence, RFC 7011 §3.1).
   */
  private samplingTemplates(exportSeconds: number, rate: number, domain: DomainSequence): IpfixMessage {
    this.begin();
    this.hasTemplates = true;
    this.flowTemplates();
    this.openSet(OPTIONS_TEMPLATE_SET_ID);
    const sampling = SAMPLING_TEMPLATE;
    this.view.setUint16(this.at, sampling.id);
    this.view.setUint16(this.at + 2, sampling.scopeFields.length + sampling.fields.length);
    this.view.setUint16(this.at + 4, sampling.scopeFields.length);
    this.at = this.writeFields([...sampling.scopeFields, ...sampling.fields], this.at + 6);
    this.openSet(sampling.id);
    const v = this.view;
    v.setUint32(this.at, rate); // scope: selectorId
    v.setUint32(this.at + 4, rate); // samplingInterval
    v.setUint16(this.at + 8, sampling.randomNOutOfN); // selectorAlgorithm
    v.setUint32(this.at + 10, 1); // samplingSize
    v.setUint32(this.at + 14, rate); // samplingPopulation
    this.at += sampling.recordLength;
    this.records++;
    return this.finish(exportSeconds, domain);
  }

  /** Interface names alone (for interfaces first seen between refreshes), in domain 0. */
  interfaceNameMessages(exportSeconds: number, interfaces: Iterable<readonly [number, string]>): IpfixMessage[] {
    const out: IpfixMessage[] = [];
    this.begin();
    this.interfaceNames(exportSeconds, interfaces, out);
    return out;
  }

  /** Writes the names after what the open message holds (the options template, or nothing); pushes every message it ends. */
  private interfaceNames(exportSeconds: number, interfaces: Iterable<readonly [number, string]>, out: IpfixMessage[]) {
    for (const [ifindex, name] of interfaces) {
      const bytes = this.text.encode(name).subarray(0, 255);
      const length = 4 + 1 + bytes.length;
      if (!this.fits(INTERFACE_NAMES_TEMPLATE.id, length)) {
        out.push(this.finish(exportSeconds, this.namesDomain));
        this.begin();
      }
      if (this.setId !== INTERFACE_NAMES_TEMPLATE.id) this.openSet(INTERFACE_NAMES_TEMPLATE.id);
      this.view.setUint32(this.at, ifindex);
      this.chunk[this.at + 4] = bytes.length; // RFC 7011 §7: lengths below 255 take one octet
      this.chunk.set(bytes, this.at + 5);
      this.at += length;
      this.records++;
    }
    if (this.at > this.start + MESSAGE_HEADER) out.push(this.finish(exportSeconds, this.namesDomain));
  }

  /**
   * Takes back a message once it has been sent or dropped: its bytes may then
   * be overwritten. Call it once per message, or never (its chunk is then
   * left to the garbage collector).
   */
  release(message: IpfixMessage) {
    this.chunks.release(message.bytes);
  }

  /**
   * Every flow of the batch as data records, grouped by template, in as few
   * messages as fit: unsampled flows in the flows' domain, then the flows of
   * each sampling rate in that rate's domain (its templates and sampling
   * options first, the first time the rate is seen).
   */
  flows(flows: FlowColumns, exportSeconds: number, out: IpfixMessage[] = []): IpfixMessage[] {
    const n = flows.count;
    if (n === 0) return out;
    const chunksBefore = this.chunks.taken;
    const sampledRates = this.rows.classify(flows);
    if (this.rows.dropRows > 0 && !this.dropsAnnounced) {
      // The first flows with drops: their templates, before them, in every flow domain known so far.
      this.dropsAnnounced = true;
      out.push(this.dropsTemplates(exportSeconds, this.flowDomain));
      for (const domain of this.sampledDomains.values()) out.push(this.dropsTemplates(exportSeconds, domain));
    }
    if (this.rows.group(n, 1) > 0) this.writeFlows(flows, exportSeconds, this.flowDomain, out);
    for (const rate of sampledRates) {
      let domain = this.sampledDomains.get(rate);
      if (!domain) {
        domain = { id: samplingDomainId(this.flowDomain.id, rate), next: 0 };
        this.sampledDomains.set(rate, domain);
        out.push(this.samplingTemplates(exportSeconds, rate, domain));
        if (this.dropsAnnounced) out.push(this.dropsTemplates(exportSeconds, domain));
      }
      this.rows.group(n, rate);
      this.writeFlows(flows, exportSeconds, domain, out);
    }
    this.chunks.keepFor(this.chunks.taken - chunksBefore + 1);
    return out;
  }

  /** The rows of the last rows.group(), as data records in `domain`. */
  private writeFlows(flows: FlowColumns, exportSeconds: number, domain: DomainSequence, out: IpfixMessage[]) {
    const { order, firstOfTemplate: first } = this.rows;
    this.begin();
    this.ofFlows = true;
    for (let t = 0; t < RECORD_TEMPLATES.length; t++) {
      const template = RECORD_TEMPLATES[t]!;
      const length = template.recordLength;
      let from = first[t]!;
      const to = first[t + 1]!;
      while (from < to) {
        // As many records as the message has room for (a set header first if this template's set is not open).
        const header = this.setId === template.id ? 0 : SET_HEADER;
        const room = Math.floor((this.start + this.maxMessageBytes - this.at - header) / length);
        if (room <= 0) {
          out.push(this.finish(exportSeconds, domain));
          this.begin();
          this.ofFlows = true;
          continue;
        }
        if (header !== 0) this.openSet(template.id);
        const end = Math.min(to, from + room);
        this.at = template.writeRows(flows, order, from, end, this.chunk, this.at);
        this.records += end - from;
        from = end;
      }
    }
    out.push(this.finish(exportSeconds, domain));
  }

  /** A template set holding every flow template (DROPS_TEMPLATES aside: dropsTemplates()). */
  private flowTemplates() {
    this.templateSet(FLOW_TEMPLATES);
  }

  private templateSet(templates: readonly FlowTemplate[]) {
    this.openSet(TEMPLATE_SET_ID);
    for (const t of templates) {
      this.view.setUint16(this.at, t.id);
      this.view.setUint16(this.at + 2, t.fields.length);
      this.at = this.writeFields(t.fields, this.at + 4);
    }
  }

  private writeFields(fields: readonly Field[], at: number): number {
    for (const [ie, length] of fields) {
      this.view.setUint16(at, ie);
      this.view.setUint16(at + 2, length);
      at += 4;
    }
    return at;
  }

  /** Starts a message, in another chunk when this one has no room for a whole message. */
  private begin() {
    if (this.used + this.maxMessageBytes > this.chunk.length) {
      this.chunks.retire(this.current);
      this.current = this.chunks.take();
      this.chunk = this.current.bytes;
      this.view = this.current.view;
      this.used = 0;
    }
    this.start = this.used;
    this.at = this.start + MESSAGE_HEADER;
    this.records = 0;
    this.hasTemplates = false;
    this.ofFlows = false;
    this.setStart = -1;
    this.setId = 0;
  }

  /** Whether a record of `length` bytes for set `setId` fits in the message (with a set header if that set is not open). */
  private fits(setId: number, length: number): boolean {
    const header = this.setId === setId ? 0 : SET_HEADER;
    return this.at + header + length <= this.start + this.maxMessageBytes;
  }

  private openSet(id: number) {
    this.closeSet();
    this.setStart = this.at;
    this.setId = id;
    this.view.setUint16(this.at, id);
    this.at += SET_HEADER;
  }

  private closeSet() {
    if (this.setStart < 0) return;
    this.view.setUint16(this.setStart + 2, this.at - this.setStart);
    this.setStart = -1;
    this.setId = 0;
  }

  private finish(exportSeconds: number, domain: DomainSequence): IpfixMessage {
    this.closeSet();
    const length = this.at - this.start;
    const v = this.view;
    v.setUint16(this.start, IPFIX_VERSION);
    v.setUint16(this.start + 2, length);
    v.setUint32(this.start + 4, exportSeconds >>> 0);
    v.setUint32(this.start + 8, domain.next);
    v.setUint32(this.start + 12, domain.id);
    domain.next = (domain.next + this.records) >>> 0;
    this.used = this.at;
    this.current.unreleased++;
    return {
      bytes: this.chunk.subarray(this.start, this.at),
      records: this.records,
      flows: this.ofFlows ? this.records : 0,
      templates: this.hasTemplates,
    };
  }
}

/**
 * Bytes of the largest template message: the flow templates with the
 * sampling options template and record, the drops templates, or the names'
 * options template with one interface name.
 */
function templatesBytes(): number {
  let flowTemplates = MESSAGE_HEADER + SET_HEADER;
  for (const t of FLOW_TEMPLATES) flowTemplates += 4 + 4 * t.fields.length;
  const sampling = SAMPLING_TEMPLATE;
  flowTemplates += SET_HEADER + 6 + 4 * (sampling.scopeFields.length + sampling.fields.length) + SET_HEADER + sampling.recordLength;
  const names = INTERFACE_NAMES_TEMPLATE;
  const optionsTemplate = MESSAGE_HEADER + SET_HEADER + 6 + 4 * (names.scopeFields.length + names.fields.length);
  let dropsTemplates = MESSAGE_HEADER + SET_HEADER;
  for (const t of DROPS_TEMPLATES) dropsTemplates += 4 + 4 * t.fields.length;
  // Room for one interface-name record after it (its set header, index, length octet, 15-byte name).
  return Math.max(flowTemplates, dropsTemplates, optionsTemplate + SET_HEADER + 4 + 1 + 15);
}
