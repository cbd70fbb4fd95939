/**
 * AsyncOutput against real pipes whose reader is another process: one that
 * never reads (sleep), one that reads only after we exit (a stopped cat), one
 * that reads late, one that reads everything, one that goes away (head).
 */
import { expect, test } from "bun:test";
import { join } from "node:path";
import { AsyncOutput } from "../../src/export/async-output.ts";
import { JsonLinesExporter } from "../../src/export/json-lines.ts";
import { flowJsonLine } from "../../src/flow/flow-format.ts";
import type { FlowBatch } from "../../src/flow/flow-record.ts";
import { createLogger } from "../../src/log.ts";
import { FifoPipe } from "./fifo-pipe.ts";
import { syntheticBatch } from "./synthetic-flows.ts";

const childScript = join(import.meta.dir, "async-output-child.ts");
const MiB = 2 ** 20;

function capturedLog() {
  const lines: string[] = [];
  return { lines, log: createLogger("debug", (line) => lines.push(line)) };
}

/** `batch` with columns that throw when read (its count stays readable): exporting it formats nothing, or fails. */
function unreadable(batch: FlowBatch): FlowBatch {
  const flows = new Proxy(batch.flows, {
    get(target, property, receiver) {
      if (property === "count") return target.count;
      throw new Error(`the exporter read flows.${String(property)} of a batch it should have dropped whole`);
    },
  });
  return { ...batch, flows };
}

/** Accepted = sent + dropped + queued, whatever happened. */
function accounted(stats: { sentRecords: number; droppedRecords: number; queuedRecords: number }) {
  return stats.sentRecords + stats.droppedRecords + stats.queuedRecords;
}

test("a reader that never reads (sleep): export() returns, the bound holds, drops are counted and logged once, dispose returns within the flush timeout", async () => {
  await using pipe = await FifoPipe.create(["sleep", "60"]);
  const { lines, log } = capturedLog();
  const sink = new JsonLinesExporter(new AsyncOutput({ fd: pipe.writeFd, label: "stdout", maxQueuedBytes: MiB, flushTimeoutMs: 300, log }));
  const batch = syntheticBatch(20_000); // ~6.6 MB of JSON: 100 times the pipe's 64 KiB

  // Returning at all is the point: a write that waited for this reader would wait 60 s.
  sink.export(batch);
  let stats = sink.stats();
  expect(stats.queuedBytes).toBeLessThanOrEqual(MiB);
  expect(stats.droppedRecords).toBeGreaterThan(15_000);
  expect(accounted(stats)).toBe(20_000);
  await Bun.sleep(0);
  expect(lines).toEqual([
    `netflow-agent: warn: stdout: reader not keeping up: dropped ${stats.droppedRecords} records (${(stats.queuedBytes / MiB).toFixed(1)} MiB waiting, at most 1.0 MiB); dropping more until it catches up`,
  ]);

  // Still stalled: the next batch is dropped whole, counted, and not logged again (one line per episode).
  // A full output is not even formatted for: a batch whose columns cannot be read goes through.
  const t0 = performance.now();
  sink.export(unreadable(batch));
  const secondExportMs = performance.now() - t0;
  stats = sink.stats();
  expect(accounted(stats)).toBe(40_000);
  await Bun.sleep(0);
  expect(lines).toHaveLength(1);

  const t1 = performance.now();
  await sink[Symbol.asyncDispose]();
  const disposeMs = performance.now() - t1;
  stats = sink.stats();
  expect(stats.queuedRecords).toBe(0);
  expect(stats.sentRecords + stats.droppedRecords).toBe(40_000);
  // The pipe's 64 KiB hold ~190 of these lines; the worker wrote them and blocks on the next piece.
  expect(stats.sentRecords).toBeGreaterThan(100);
  expect(stats.sentRecords).toBeLessThan(400);
  // The flush timeout, then no longer: the reader holds the pipe for 60 s (the margin is for a loaded machine).
  expect(disposeMs).toBeGreaterThanOrEqual(295);
  expect(disposeMs).toBeLessThan(300 + 10_000);
  expect(lines[1]).toMatch(/^netflow-agent: error: stdout: \d+ records not written within --export-flush-timeout 300 ms \(the reader is not reading\); \d+ of 40000 records written, \d+ dropped$/);
  console.log(`stalled reader: second export of 20000 flows (all dropped, not formatted) ${secondExportMs.toFixed(1)} ms; dispose ${disposeMs.toFixed(0)} ms; ${stats.sentRecords} sent, ${stats.droppedRecords} dropped`);
}, 30_000);

test("a process that exits after its flush timeout leaves exactly `sentRecords` whole lines for the reader, in order", async () => {
  // The reader stops itself before reading anything and is resumed once the writer has exited.
  await using pipe = await FifoPipe.create(["sh", "-c", "kill -STOP $$; exec cat"]);
  const started = performance.now();
  const child = Bun.spawn([process.execPath, childScript, "20000", String(MiB), "300"], { stdout: pipe.writeFd, stderr: "pipe" });
  pipe.closeWriteEnd();
  const code = await child.exited;
  const elapsedMs = performance.now() - started;
  const stderr = await new Response(child.stderr).text();
  expect(code).toBe(0);
  const report = JSON.parse(stderr.trim().split("\n").at(-1)!);
  // The flush timeout, then no longer: the stopped reader would never read (the margin is for a loaded machine).
  expect(report.disposeMs).toBeGreaterThanOrEqual(295);
  expect(report.disposeMs).toBeLessThan(300 + 10_000);
  expect(report.final.sentRecords + report.final.droppedRecords).toBe(20_000);
  expect(stderr).toContain(`${report.final.sentRecords} of 20000 records written, ${report.final.droppedRecords} dropped`);

  pipe.resume();
  const received = (await pipe.output()).split("\n");
  expect(received.pop()).toBe(""); // ends with a newline: no torn line
  expect(received).toHaveLength(report.final.sentRecords);
  const { flows } = syntheticBatch(20_000);
  received.forEach((line, i) => expect(line).toBe(flowJsonLine(flows, i)));
  console.log(`stalled reader, process exit: ${received.length} lines received = sentRecords; dispose ${report.disposeMs.toFixed(0)} ms, whole process ${elapsedMs.toFixed(0)} ms`);
}, 30_000);

test("--output text through a stalled pipe: the header is not a record; rows received = sentRecords", async () => {
  await using pipe = await FifoPipe.create(["sh", "-c", "kill -STOP $$; exec cat"]);
  const child = Bun.spawn([process.execPath, childScript, "20000", String(MiB), "300", "text"], { stdout: pipe.writeFd, stderr: "pipe" });
  pipe.closeWriteEnd();
  expect(await child.exited).toBe(0);
  const report = JSON.parse((await new Response(child.stderr).text()).trim().split("\n").at(-1)!);
  expect(report.final.sentRecords + report.final.droppedRecords).toBe(20_000);
  pipe.resume();
  const received = (await pipe.output()).split("\n");
  expect(received.pop()).toBe("");
  expect(received[0]).toStartWith("TIME  ");
  expect(received.length - 1).toBe(report.final.sentRecords);
  expect(report.final.sentRecords).toBeGreaterThan(100);
}, 30_000);

test("a reader that keeps reading gets every line of a 30,000-flow batch even though the process exits right after dispose", async () => {
  await using pipe = await FifoPipe.create(["cat"]);
  const child = Bun.spawn([process.execPath, childScript, "30000", String(64 * MiB), "10000"], { stdout: pipe.writeFd, stderr: "pipe" });
  pipe.closeWriteEnd();
  const [code, stderr, out] = await Promise.all([child.exited, new Response(child.stderr).text(), pipe.output()]);
  expect(code).toBe(0);
  const report = JSON.parse(stderr.trim().split("\n").at(-1)!);
  expect(report.final).toEqual({ queuedRecords: 0, queuedBytes: 0, sentRecords: 30_000, droppedRecords: 0, sendErrors: 0 });
  const received = out.split("\n");
  expect(received.pop()).toBe("");
  expect(received).toHaveLength(30_000);
  const { flows } = syntheticBatch(30_000);
  received.forEach((line, i) => expect(line).toBe(flowJsonLine(flows, i)));
  console.log(`reading reader: 30000 lines (${(out.length / MiB).toFixed(1)} MiB); export ${report.exportMs.toFixed(0)} ms, flush ${report.disposeMs.toFixed(0)} ms`);
}, 30_000);

test("a reader that falls behind then catches up: drops counted, one warning, one 'recovered', then everything written", async () => {
  await using pipe = await FifoPipe.create(["sh", "-c", "sleep 1; exec wc -l"]);
  const { lines, log } = capturedLog();
  const output = new AsyncOutput({ fd: pipe.writeFd, label: "stdout", maxQueuedBytes: 256 * 1024, flushTimeoutMs: 5000, log });
  const sink = new JsonLinesExporter(output);
  sink.export(syntheticBatch(5000)); // ~1.7 MB against 256 KiB
  const dropped = sink.stats().droppedRecords;
  expect(dropped).toBeGreaterThan(0);
  expect(await output.flush(10_000)).toBe(true);
  expect(lines).toHaveLength(2);
  expect(lines[0]).toStartWith(`netflow-agent: warn: stdout: reader not keeping up: dropped ${dropped} records`);
  expect(lines[1]).toMatch(new RegExp(`^netflow-agent: stdout: recovered after \\d+\\.\\d s: the reader caught up; ${dropped} records were dropped meanwhile$`));

  sink.export(syntheticBatch(100)); // fits: no new episode
  await sink[Symbol.asyncDispose]();
  const stats = sink.stats();
  expect(stats).toEqual({ queuedRecords: 0, queuedBytes: 0, sentRecords: 5100 - dropped, droppedRecords: dropped, sendErrors: 0 });
  expect(lines.slice(2)).toEqual([`netflow-agent: warn: stdout: ${5100 - dropped} of 5100 records written, ${dropped} dropped (reader not keeping up)`]);
  pipe.closeWriteEnd();
  expect(Number((await pipe.output()).trim())).toBe(stats.sentRecords);
}, 30_000);

test("a reader that goes away (head -n 1, EPIPE): onClosed once, the rest dropped and counted, dispose at once, no error logged", async () => {
  await using pipe = await FifoPipe.create(["head", "-n", "1"]);
  const { lines, log } = capturedLog();
  let closedCalls = 0;
  const output = new AsyncOutput({ fd: pipe.writeFd, label: "stdout", flushTimeoutMs: 5000, log, onClosed: () => closedCalls++ });
  const sink = new JsonLinesExporter(output);
  sink.export(syntheticBatch(5000));
  for (const deadline = Date.now() + 5000; closedCalls === 0 && Date.now() < deadline; ) await Bun.sleep(10);
  expect(closedCalls).toBe(1);
  expect(output.hasRoom()).toBe(false);
  sink.export(syntheticBatch(1000));
  // At once: nothing is left to flush to a reader that went away, so the 5 s flush timeout is not waited
  // for (the margin below it is for a loaded machine).
  const t0 = performance.now();
  await sink[Symbol.asyncDispose]();
  expect(performance.now() - t0).toBeLessThan(2500);
  const stats = sink.stats();
  expect(closedCalls).toBe(1);
  expect(stats.queuedRecords).toBe(0);
  expect(stats.sentRecords + stats.droppedRecords).toBe(6000);
  expect(stats.sendErrors).toBe(1);
  expect(lines.filter((l) => l.includes("error"))).toEqual([]);
  expect(lines.at(-1)).toBe(`netflow-agent: warn: stdout: ${stats.sentRecords} of 6000 records written, ${stats.droppedRecords} dropped (reader went away)`);
  expect((await pipe.output()).split("\n")[0]).toBe(flowJsonLine(syntheticBatch(1).flows, 0));
}, 30_000);
