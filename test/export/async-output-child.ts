/**
 * A process whose stdout is an AsyncOutput, as `run`'s is: exports `count`
 * flows as JSON lines in one batch, disposes (flushing for up to
 * `flushTimeoutMs`), prints its timings and stats as the last stderr line,
 * and exits at once, the way the agent does.
 *   bun async-output-child.ts <count> <maxQueuedBytes> <flushTimeoutMs> [json|text]
 */
import { AsyncOutput } from "../../src/export/async-output.ts";
import { JsonLinesExporter } from "../../src/export/json-lines.ts";
import { TextTableExporter } from "../../src/export/text-table.ts";
import { createLogger } from "../../src/log.ts";
import { writeStderr } from "../../src/write-sync.ts";
import { syntheticBatch } from "./synthetic-flows.ts";

const [count, maxQueuedBytes, flushTimeoutMs] = process.argv.slice(2, 5).map(Number) as [number, number, number];
const output = new AsyncOutput({ fd: 1, label: "stdout", maxQueuedBytes, flushTimeoutMs, log: createLogger("info") });
const sink = process.argv[5] === "text" ? new TextTableExporter(output) : new JsonLinesExporter(output);
const batch = syntheticBatch(count);
const t0 = performance.now();
sink.export(batch);
const exportMs = performance.now() - t0;
const afterExport = sink.stats();
const t1 = performance.now();
await sink[Symbol.asyncDispose]();
const disposeMs = performance.now() - t1;
writeStderr(JSON.stringify({ exportMs, disposeMs, afterExport, final: sink.stats() }) + "\n");
process.exit(0);
