/**
 * A small IPFIX decoder written from RFC 7011 (§3 message format, §7
 * variable-length encoding), independent of src/export: the encoder's tests
 * read our messages back with it. The real collectors (nfcapd, nfacctd,
 * tshark) check the same bytes end to end in test/e2e/ipfix-export.test.ts.
 */
export interface DecodedMessage {
  version: number;
  length: number;
  exportTime: number;
  sequence: number;
  domain: number;
  templates: DecodedTemplate[];
  /** Data records, each a map of IE id → raw bytes, with the template that describes it. */
  records: { templateId: number; fields: Map<number, Uint8Array> }[];
}

export interface DecodedTemplate {
  id: number;
  scopeCount: number;
  fields: [ie: number, length: number][];
}

/** Templates by id, kept across messages as a collector keeps them per domain. */
export type TemplateStore = Map<number, DecodedTemplate>;

export function decodeMessage(bytes: Uint8Array, store: TemplateStore): DecodedMessage {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const message: DecodedMessage = {
    version: v.getUint16(0),
    length: v.getUint16(2),
    exportTime: v.getUint32(4),
    sequence: v.getUint32(8),
    domain: v.getUint32(12),
    templates: [],
    records: [],
  };
  if (message.length !== bytes.length) throw new Error(`message length ${message.length} != datagram ${bytes.length}`);
  let at = 16;
  while (at < bytes.length) {
    if (at + 4 > bytes.length) throw new Error(`set header cut at ${at}`);
    const setId = v.getUint16(at);
    const setLength = v.getUint16(at + 2);
    const end = at + setLength;
    if (setLength < 4 || end > bytes.length) throw new Error(`set ${setId} length ${setLength} overruns the message`);
    let p = at + 4;
    if (setId === 2 || setId === 3) {
      while (p + 4 <= end) {
        const id = v.getUint16(p);
        const count = v.getUint16(p + 2);
        const scopeCount = setId === 3 ? v.getUint16(p + 4) : 0;
        p += setId === 3 ? 6 : 4;
        const fields: [number, number][] = [];
        for (let f = 0; f < count; f++, p += 4) {
          const ie = v.getUint16(p);
          if (ie & 0x8000) throw new Error("enterprise-specific IE not expected");
          fields.push([ie, v.getUint16(p + 2)]);
        }
        const template = { id, scopeCount, fields };
        store.set(id, template);
        message.templates.push(template);
      }
    } else if (setId >= 256) {
      const template = store.get(setId);
      if (!template) throw new Error(`data set ${setId} before its template`);
      while (p < end) {
        const fields = new Map<number, Uint8Array>();
        for (const [ie, length] of template.fields) {
          let n = length;
          if (length === 0xffff) {
            n = bytes[p]!;
            p += 1;
            if (n === 255) {
              n = v.getUint16(p);
              p += 2;
            }
          }
          if (p + n > end) throw new Error(`record of set ${setId} cut at IE ${ie}`);
          fields.set(ie, bytes.subarray(p, p + n));
          p += n;
        }
        message.records.push({ templateId: setId, fields });
      }
    } else throw new Error(`reserved set id ${setId}`);
    if (p !== end) throw new Error(`set ${setId}: ${end - p} bytes left over (no padding is sent)`);
    at = end;
  }
  return message;
}

/** An unsigned big-endian integer field (up to 8 bytes, exact below 2^53). */
export function uint(field: Uint8Array | undefined): number {
  if (!field) throw new Error("field absent");
  let value = 0;
  for (const b of field) value = value * 256 + b;
  return value;
}
