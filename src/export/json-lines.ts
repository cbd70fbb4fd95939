/** The default sink: one JSON object per flow per line, formatted from the batch's columns. */
import { flowJsonLine } from "../flow/flow-format.ts";
import type { FlowBatch } from "../flow/flow-record.ts";
import type { Exporter, LineWriter, SinkStats } from "./exporter.ts";
import { blockingTextOutput, type TextOutput } from "./text-output.ts";

/**
 * Lines are handed over in chunks of ~64 KB: a whole 10k-flow batch as one
 * string is megabytes of heap that the runtime grows for, returns to the
 * kernel while idle, and faults back in next eviction; and a chunk is what
 * the output keeps or drops whole.
 */
const CHUNK_CHARS = 64 * 1024;

export class JsonLinesExporter implements Exporter {
  readonly name = "json";
  private readonly output: TextOutput;

  /** Owns `output` (disposes it); a LineWriter is written to blocking (`collect`). */
  constructor(output: TextOutput | LineWriter) {
    this.output = typeof output === "function" ? blockingTextOutput(output) : output;
  }

  export(batch: FlowBatch) {
    const flows = batch.flows;
    let text = "";
    let records = 0;
    for (let i = 0; i < flows.count; i++) {
      // A full output drops the rest of the batch: counted, not formatted.
      if (records === 0 && !this.output.hasRoom()) return this.output.drop(flows.count - i);
      text += flowJsonLine(flows, i) + "\n";
      records++;
      if (text.length >= CHUNK_CHARS) {
        this.output.write(text, records);
        text = "";
        records = 0;
      }
    }
    if (records > 0) this.output.write(text, records);
  }

  stats(): SinkStats {
    return this.output.stats();
  }

  async [Symbol.asyncDispose]() {
    await this.output[Symbol.asyncDispose]();
  }
}
