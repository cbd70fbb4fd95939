/** `--output text`: an aligned table per eviction, for people reading a terminal. */
import { addressText, protocolName, tcpFlagNames } from "../flow/flow-format.ts";
import type { FlowBatch, FlowRecord } from "../flow/flow-record.ts";
import { stdoutWriter, type Exporter, type LineWriter } from "./exporter.ts";

const columns: { title: string; right?: boolean; value: (r: FlowRecord) => string }[] = [
  { title: "TIME", value: (r) => new Date(r.endMs).toISOString().slice(11, 23) },
  { title: "IFACE", value: (r) => r.interface },
  { title: "DIR", value: (r) => (r.direction === "ingress" ? "in" : "out") },
  { title: "PROTO", value: (r) => protocolName(r.protocol, r.ethType) },
  { title: "SOURCE", value: (r) => endpoint(r.srcAddr, r.srcPort, r) },
  { title: "DESTINATION", value: (r) => endpoint(r.dstAddr, r.dstPort, r) },
  { title: "PACKETS", right: true, value: (r) => String(r.packets) },
  { title: "BYTES", right: true, value: (r) => String(r.bytes) },
  { title: "FLAGS", value: (r) => tcpFlagNames(r.tcpFlags).join(",") },
];

function endpoint(addr: Uint8Array, port: number, r: FlowRecord): string {
  const text = addressText(addr, r.ethType);
  if (!text) return "-";
  if (port === 0) return text;
  return r.ethType === 0x86dd ? `[${text}]:${port}` : `${text}:${port}`;
}

export function formatTable(records: FlowRecord[]): string {
  const rows = records.map((r) => columns.map((c) => c.value(r)));
  const widths = columns.map((c, i) => Math.max(c.title.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((cell, i) => (columns[i]!.right ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join("  ").trimEnd();
  return [line(columns.map((c) => c.title)), ...rows.map(line)].join("\n") + "\n";
}

export class TextTableExporter implements Exporter {
  readonly name = "text";
  constructor(private readonly write: LineWriter = stdoutWriter) {}

  export(batch: FlowBatch) {
    if (batch.records.length === 0) return;
    const sorted = [...batch.records].sort((a, b) => b.bytes - a.bytes);
    this.write(formatTable(sorted) + "\n");
  }

  async [Symbol.asyncDispose]() {}
}
