/**
 * DNS per flow (--enable-dns): the kernel's dns_records (bpf/dns.h) joined to
 * an eviction's flows by flow key, as a sparse column beside FlowColumns.
 *
 * The record sits on the flow that carried the response (on a client: the
 * ingress flow from the server's port 53; on a server: its egress flow). A
 * flow holds its last matched transaction of the interval.
 *
 * A record whose flow is not in this eviction (the response's packet was
 * counted after the swap, in the next map) waits for the next one, once.
 */
import { DNS_RECORD, FLOW_KEY } from "../bpf/flow-layout.ts";
import type { DnsRows } from "../bpf/dns-maps.ts";

/** One DNS transaction, as a flow reports it. */
export interface FlowDns {
  /** DNS transaction id. */
  id: number;
  /** Header bytes 2-3 of the response (QR, opcode, AA, TC, RD, RA, Z, AD, CD, RCODE). */
  flags: number;
  /** Response time − query time, ns, as the interface saw them. */
  latencyNs: number;
  /** The question's name, dotted, without the root's final dot ("" for the root); labels cut by the 64-byte bound end with "…". */
  name: string;
}

/** RCODE names (RFC 1035 4.1.1, RFC 2136, IANA "DNS RCODEs" 0-10). */
const RCODES = ["NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE"] as const;

/** The response code (low 4 bits of flags) by name; "RCODE<n>" for the unassigned. */
export function rcodeName(flags: number): string {
  const code = flags & 0xf;
  return RCODES[code] ?? `RCODE${code}`;
}

/**
 * Decodes a raw QNAME (length-prefixed labels, RFC 1035 3.1) of at most
 * DNS_NAME_BYTES bytes. Stops at the root label; a label cut by the bound
 * is kept with "…"; a compression pointer (never in a question's first name)
 * or a length past the bytes ends it there too.
 */
export function decodeQname(raw: Uint8Array): string {
  const labels: string[] = [];
  let at = 0;
  while (at < raw.length) {
    const len = raw[at]!;
    if (len === 0) return labels.join(".");
    if (len >= 0x40) break; // a pointer or a reserved label type
    const end = at + 1 + len;
    labels.push(labelText(raw.subarray(at + 1, Math.min(end, raw.length))) + (end > raw.length ? "…" : ""));
    at = end;
  }
  return labels.join(".") + (labels.length && !labels[labels.length - 1]!.endsWith("…") ? ".…" : "");
}

/** Printable ASCII as is, other bytes as \DDD (the presentation format, RFC 4343 2.1). */
function labelText(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += b > 0x20 && b < 0x7f && b !== 0x2e && b !== 0x5c ? String.fromCharCode(b) : `\\${b.toString().padStart(3, "0")}`;
  return s;
}

/** A flow key's bytes as a Map key. */
function keyString(bytes: Uint8Array, at: number): string {
  let s = "";
  for (let i = at; i < at + FLOW_KEY.size; i++) s += String.fromCharCode(bytes[i]!);
  return s;
}

/** Joins dns_records to flows, keeping what found no flow for one more eviction. */
export class DnsJoiner {
  private pending = new Map<string, FlowDns>();

  /**
   * `rows`: this drain of dns_flows. `flowKeys`/`count`: the eviction's
   * flow keys (struct flow_key rows). Returns the DNS column, or undefined
   * when no flow has a record.
   */
  join(rows: DnsRows, flowKeys: Uint8Array, count: number): ReadonlyMap<number, FlowDns> | undefined {
    const byKey = this.pending;
    this.pending = new Map();
    const view = new DataView(rows.records.buffer, rows.records.byteOffset, rows.records.byteLength);
    const R = DNS_RECORD.fields;
    for (let i = 0; i < rows.count; i++) {
      const at = i * DNS_RECORD.size;
      const nameLen = rows.records[at + R.name_len.offset]!;
      byKey.set(keyString(rows.keys, i * FLOW_KEY.size), {
        id: view.getUint16(at + R.id.offset, true),
        flags: view.getUint16(at + R.flags.offset, true),
        latencyNs: Number(view.getBigUint64(at + R.latency_ns.offset, true)),
        name: decodeQname(rows.records.subarray(at + R.name.offset, at + R.name.offset + nameLen)),
      });
    }
    if (byKey.size === 0) return undefined;
    const byRow = new Map<number, FlowDns>();
    const protocolAt = FLOW_KEY.fields.protocol.offset;
    for (let row = 0; row < count && byKey.size > 0; row++) {
      const protocol = flowKeys[row * FLOW_KEY.size + protocolAt];
      if (protocol !== 17 && protocol !== 6) continue; // UDP, TCP
      const key = keyString(flowKeys, row * FLOW_KEY.size);
      const dns = byKey.get(key);
      if (!dns) continue;
      byRow.set(row, dns);
      byKey.delete(key);
    }
    this.pending = byKey;
    return byRow.size ? byRow : undefined;
  }
}
