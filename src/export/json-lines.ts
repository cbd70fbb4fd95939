/** The default sink: one JSON object per flow per line on stdout. */
import { flowToJsonLine } from "../flow/flow-format.ts";
import type { FlowBatch } from "../flow/flow-record.ts";
import { stdoutWriter, type Exporter, type LineWriter } from "./exporter.ts";

export class JsonLinesExporter implements Exporter {
  readonly name = "json";
  constructor(private readonly write: LineWriter = stdoutWriter) {}

  export(batch: FlowBatch) {
    if (batch.records.length === 0) return;
    let out = "";
    for (const record of batch.records) out += flowToJsonLine(record) + "\n";
    this.write(out);
  }

  async [Symbol.asyncDispose]() {}
}
