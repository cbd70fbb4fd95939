/** `--output text`: an aligned table per eviction, biggest flows first, for people reading a terminal. */
import type { FlowColumns } from "../flow/flow-columns.ts";
import { addressTextAt, protocolName, tcpFlagNames } from "../flow/flow-format.ts";
import type { FlowBatch } from "../flow/flow-record.ts";
import type { Exporter, LineWriter, SinkStats } from "./exporter.ts";
import { blockingTextOutput, type TextOutput } from "./text-output.ts";

interface Column {
  title: string;
  right?: boolean;
  value: (f: FlowColumns, i: number) => string;
}

const columns: Column[] = [
  { title: "TIME", value: (f, i) => new Date(f.endMs[i]!).toISOString().slice(11, 23) },
  { title: "IFACE", value: (f, i) => f.interfaceName(i) },
  { title: "DIR", value: (f, i) => (f.direction(i) === 1 ? "out" : "in") },
  { title: "PROTO", value: (f, i) => protocolName(f.protocol(i), f.ethType(i)) },
  { title: "SOURCE", value: (f, i) => endpoint(f, f.srcAddrAt(i), f.srcPort(i), i) },
  { title: "DESTINATION", value: (f, i) => endpoint(f, f.dstAddrAt(i), f.dstPort(i), i) },
  { title: "PACKETS", right: true, value: (f, i) => String(f.packets(i)) },
  { title: "BYTES", right: true, value: (f, i) => String(f.bytes(i)) },
  { title: "FLAGS", value: (f, i) => tcpFlagNames(f.tcpFlags(i)).join(",") },
];

function endpoint(f: FlowColumns, addrAt: number, port: number, i: number): string {
  const ethType = f.ethType(i);
  const text = addressTextAt(f.keys, addrAt, ethType);
  if (!text) return "-";
  if (port === 0) return text;
  return ethType === 0x86dd ? `[${text}]:${port}` : `${text}:${port}`;
}

/** Row indices of `flows`, most bytes first (ties keep their order). */
function byBytes(flows: FlowColumns): number[] {
  const order = new Array<number>(flows.count);
  for (let i = 0; i < flows.count; i++) order[i] = i;
  return order.sort((a, b) => flows.bytes(b) - flows.bytes(a));
}

/**
 * The table of `rows` (default: every row in order), handed to `emit` in
 * pieces of about `chunkChars` with the number of flows (one line each) each
 * holds; the first piece opens with the header line, `end` closes the last. Cells are kept in one flat array: the widths
 * need every row before the first can be padded.
 */
export function formatTableChunks(
  flows: FlowColumns,
  emit: (text: string, records: number, headerLines: number) => void,
  { rows, end = "", chunkChars = 64 * 1024 }: { rows?: readonly number[]; end?: string; chunkChars?: number } = {},
) {
  const order = rows ?? Array.from({ length: flows.count }, (_, i) => i);
  const n = columns.length;
  const cells = new Array<string>(order.length * n);
  const widths = columns.map((c) => c.title.length);
  for (let r = 0; r < order.length; r++)
    for (let c = 0; c < n; c++) {
      const cell = columns[c]!.value(flows, order[r]!);
      cells[r * n + c] = cell;
      if (cell.length > widths[c]!) widths[c] = cell.length;
    }
  const line = (cell: (c: number) => string) => {
    let text = "";
    for (let c = 0; c < n; c++) text += (c > 0 ? "  " : "") + (columns[c]!.right ? cell(c).padStart(widths[c]!) : cell(c).padEnd(widths[c]!));
    return text.trimEnd() + "\n";
  };
  let text = line((c) => columns[c]!.title);
  let headerLines = 1;
  let records = 0;
  for (let r = 0; r < order.length; r++) {
    text += line((c) => cells[r * n + c]!);
    records++;
    if (text.length >= chunkChars) {
      emit(text, records, headerLines);
      text = "";
      records = 0;
      headerLines = 0;
    }
  }
  emit(text + end, records, headerLines);
}

/** The whole table as one string (tests, small tables). */
export function formatTable(flows: FlowColumns, rows?: readonly number[]): string {
  let table = "";
  formatTableChunks(flows, (text) => (table += text), { rows });
  return table;
}

export class TextTableExporter implements Exporter {
  readonly name = "text";
  private readonly output: TextOutput;

  /** Owns `output` (disposes it); a LineWriter is written to blocking. */
  constructor(output: TextOutput | LineWriter) {
    this.output = typeof output === "function" ? blockingTextOutput(output) : output;
  }

  export(batch: FlowBatch) {
    const flows = batch.flows;
    if (flows.count === 0) return;
    // A full output drops the table whole: counted, not formatted.
    if (!this.output.hasRoom()) return this.output.drop(flows.count);
    // A blank line separates one eviction's table from the next.
    formatTableChunks(flows, (text, records, headerLines) => this.output.write(text, records, headerLines), { rows: byBytes(flows), end: "\n" });
  }

  stats(): SinkStats {
    return this.output.stats();
  }

  async [Symbol.asyncDispose]() {
    await this.output[Symbol.asyncDispose]();
  }
}
