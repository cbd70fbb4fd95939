/** The default sink: one JSON object per flow per line on stdout. */
import { flowToJsonLine } from "../flow/flow-format.ts";
import type { FlowBatch } from "../flow/flow-record.ts";
import { stdoutWriter, type Exporter, type LineWriter } from "./exporter.ts";

const CHUNK_CHARS = 64 * 1024;

export class JsonLinesExporter implements Exporter {
  readonly name = "json";
  constructor(private readonly write: LineWriter = stdoutWriter) {}

  export(batch: FlowBatch) {
    if (batch.records.length === 0) return;
    // Written in chunks: a whole 10k-flow batch as one string is megabytes of heap that the
    // runtime grows for, returns to the kernel while idle, and faults back in next eviction.
    let out = "";
    for (const record of batch.records) {
      out += flowToJsonLine(record) + "\n";
      if (out.length >= CHUNK_CHARS) {
        this.write(out);
        out = "";
      }
    }
    if (out.length > 0) this.write(out);
  }

  async [Symbol.asyncDispose]() {}
}
