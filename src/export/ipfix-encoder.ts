/**
 * IPFIX messages (RFC 7011) from a flow batch, written straight into
 * buffers: no object per flow, no copy of a record.
 *
 * Message header (§3.1): version 10, length, export time (seconds), sequence
 * number, observation domain. The sequence number is the count of DATA
 * records sent in this domain before the message, mod 2^32; template records
 * do not count (§3.1: counting messages makes nfcapd report sequence errors).
 * Messages are cut so that none exceeds `maxMessageBytes` (the path MTU less
 * the IP and UDP headers): a record is never split.
 *
 * Messages are views into large chunks that are filled one after another;
 * a chunk is freed when the messages in it have been sent and dropped.
 */
import type { FlowColumns } from "../flow/flow-columns.ts";
import { FLOW_TEMPLATES, type Field, INTERFACE_NAMES_TEMPLATE, templateIndex } from "./ipfix-templates.ts";

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

export class IpfixEncoder {
  /** Data records encoded in this domain so far, mod 2^32: the next message's sequence number. */
  private sequence = 0;
  private chunk = new Uint8Array(CHUNK_BYTES);
  private view = new DataView(this.chunk.buffer);
  private used = 0;
  // The message being written.
  private start = 0;
  private at = 0;
  private records = 0;
  private hasTemplates = false;
  private ofFlows = false;
  private setStart = -1;
  private setId = 0;
  private kinds = new Uint8Array(0);
  private readonly text = new TextEncoder();

  constructor(
    readonly domain: number,
    readonly maxMessageBytes: number,
  ) {
    if (!Number.isInteger(maxMessageBytes) || maxMessageBytes > MAX_MESSAGE_BYTES || maxMessageBytes < templatesBytes())
      throw new RangeError(`IPFIX messages of ${maxMessageBytes} bytes cannot hold the templates (${templatesBytes()} bytes) or exceed ${MAX_MESSAGE_BYTES}`);
  }

  /** The sequence number the next message carries. */
  get nextSequence(): number {
    return this.sequence;
  }

  /**
   * The templates, the options template and the interface names (options
   * data): sent first, and again on every refresh (RFC 7011 §8.1: over UDP,
   * templates are re-sent periodically).
   */
  templates(exportSeconds: number, interfaces: Iterable<readonly [number, string]>): IpfixMessage[] {
    const out: IpfixMessage[] = [];
    this.begin();
    this.hasTemplates = true;
    this.openSet(TEMPLATE_SET_ID);
    for (const t of FLOW_TEMPLATES) {
      this.view.setUint16(this.at, t.id);
      this.view.setUint16(this.at + 2, t.fields.length);
      this.at = this.writeFields(t.fields, this.at + 4);
    }
    this.closeSet();
    this.openSet(OPTIONS_TEMPLATE_SET_ID);
    const names = INTERFACE_NAMES_TEMPLATE;
    this.view.setUint16(this.at, names.id);
    this.view.setUint16(this.at + 2, names.scopeFields.length + names.fields.length);
    this.view.setUint16(this.at + 4, names.scopeFields.length);
    this.at = this.writeFields([...names.scopeFields, ...names.fields], this.at + 6);
    this.closeSet();
    this.interfaceNames(exportSeconds, interfaces, out);
    return out;
  }

  /** Interface names alone (for interfaces first seen between refreshes). */
  interfaceNameMessages(exportSeconds: number, interfaces: Iterable<readonly [number, string]>): IpfixMessage[] {
    const out: IpfixMessage[] = [];
    this.begin();
    this.interfaceNames(exportSeconds, interfaces, out);
    return out;
  }

  private interfaceNames(exportSeconds: number, interfaces: Iterable<readonly [number, string]>, out: IpfixMessage[]) {
    for (const [ifindex, name] of interfaces) {
      const bytes = this.text.encode(name).subarray(0, 255);
      const length = 4 + 1 + bytes.length;
      if (!this.fits(INTERFACE_NAMES_TEMPLATE.id, length)) {
        out.push(this.finish(exportSeconds));
        this.begin();
      }
      if (this.setId !== INTERFACE_NAMES_TEMPLATE.id) this.openSet(INTERFACE_NAMES_TEMPLATE.id);
      this.view.setUint32(this.at, ifindex);
      this.chunk[this.at + 4] = bytes.length; // RFC 7011 §7: lengths below 255 take one octet
      this.chunk.set(bytes, this.at + 5);
      this.at += length;
      this.records++;
    }
    if (this.at > this.start + MESSAGE_HEADER) out.push(this.finish(exportSeconds));
  }

  /** Every flow of the batch as data records, in as few messages as fit. */
  flows(flows: FlowColumns, exportSeconds: number, out: IpfixMessage[] = []): IpfixMessage[] {
    const n = flows.count;
    if (n === 0) return out;
    if (this.kinds.length < n) this.kinds = new Uint8Array(Math.max(n, this.kinds.length * 2));
    const kinds = this.kinds;
    const perTemplate = new Array<number>(FLOW_TEMPLATES.length).fill(0);
    for (let i = 0; i < n; i++) perTemplate[(kinds[i] = templateIndex(flows, i))]!++;
    this.begin();
    this.ofFlows = true;
    for (let t = 0; t < FLOW_TEMPLATES.length; t++) {
      if (perTemplate[t] === 0) continue;
      const template = FLOW_TEMPLATES[t]!;
      const length = template.recordLength;
      for (let i = 0; i < n; i++) {
        if (kinds[i] !== t) continue;
        if (!this.fits(template.id, length)) {
          out.push(this.finish(exportSeconds));
          this.begin();
          this.ofFlows = true;
        }
        if (this.setId !== template.id) this.openSet(template.id);
        this.at = template.write(flows, i, this.chunk, this.view, this.at);
        this.records++;
      }
    }
    out.push(this.finish(exportSeconds));
    return out;
  }

  private writeFields(fields: readonly Field[], at: number): number {
    for (const [ie, length] of fields) {
      this.view.setUint16(at, ie);
      this.view.setUint16(at + 2, length);
      at += 4;
    }
    return at;
  }

  /** Starts a message, in a fresh chunk when this one has no room for a whole message. */
  private begin() {
    if (this.used + this.maxMessageBytes > this.chunk.length) {
      this.chunk = new Uint8Array(Math.max(CHUNK_BYTES, this.maxMessageBytes));
      this.view = new DataView(this.chunk.buffer);
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

  private finish(exportSeconds: number): IpfixMessage {
    this.closeSet();
    const length = this.at - this.start;
    const v = this.view;
    v.setUint16(this.start, IPFIX_VERSION);
    v.setUint16(this.start + 2, length);
    v.setUint32(this.start + 4, exportSeconds >>> 0);
    v.setUint32(this.start + 8, this.sequence);
    v.setUint32(this.start + 12, this.domain >>> 0);
    this.sequence = (this.sequence + this.records) >>> 0;
    this.used = this.at;
    return {
      bytes: this.chunk.subarray(this.start, this.at),
      records: this.records,
      flows: this.ofFlows ? this.records : 0,
      templates: this.hasTemplates,
    };
  }
}

/** Bytes of the message holding every template and the options template, without interface names. */
function templatesBytes(): number {
  let bytes = MESSAGE_HEADER + SET_HEADER;
  for (const t of FLOW_TEMPLATES) bytes += 4 + 4 * t.fields.length;
  const names = INTERFACE_NAMES_TEMPLATE;
  bytes += SET_HEADER + 6 + 4 * (names.scopeFields.length + names.fields.length);
  // Room for one interface-name record after them (its set header, index, length octet, 15-byte name).
  return bytes + SET_HEADER + 4 + 1 + 15;
}
