import { describe, expect, test } from "bun:test";
import { toBinary } from "@bufbuild/protobuf";
import { toFlowMessage } from "../../src/api/flow-message.ts";
import { GrpcExporter, type GrpcExportSettings } from "../../src/export/grpc-exporter.ts";
import type { FlowRecord } from "../../src/flow/flow-record.ts";
import { FlowSchema } from "../../src/gen/netflow/v1/flow_pb.ts";
import { capturingLogger, columnsBatch, numberedBatch, numberedRecords, range, testCounters, TestCollector, until } from "./export-fixtures.ts";

function settings(port: number, overrides: Partial<GrpcExportSettings> = {}): GrpcExportSettings {
  return {
    target: { host: "127.0.0.1", port },
    protocol: "netflow",
    queueBytes: 64 * 2 ** 20,
    batchRecords: 1000,
    batchIntervalMs: 50,
    flushTimeoutMs: 5000,
    ...overrides,
  };
}

/** What `records` take queued as netflow.v1 FlowBatch.flows entries: key, length, body each (from @bufbuild's encoding). */
function netflowEntryBytes(records: FlowRecord[]): number {
  return records.reduce((sum, r) => {
    const body = toBinary(FlowSchema, toFlowMessage(r)).length;
    return sum + 1 + (body < 128 ? 1 : 2) + body;
  }, 0);
}

/** A port nothing listens on: bound once, then released. */
async function closedPort(): Promise<number> {
  const collector = await TestCollector.start();
  const port = collector.port;
  await collector.stop();
  return port;
}

describe("GrpcExporter → collect", () => {
  test("every record once, in order; totals exact; the flush at dispose sends the partial batch", async () => {
    await using collector = await TestCollector.start();
    const { log, lines } = capturingLogger();
    const exporter = GrpcExporter.connect(settings(collector.port), log);
    for (let e = 0; e < 25; e++) exporter.export(numberedBatch(e * 402, 402)); // 10,050 records
    await exporter[Symbol.asyncDispose]();
    expect(collector.received).toEqual(range(0, 10_050));
    const [totals] = collector.ledger.totals();
    expect(totals).toMatchObject({ batches: 11, flows: 10_050, packets: 10_050, bytes: (10_049 * 10_050) / 2, duplicateBatches: 0 });
    expect(exporter.stats()).toEqual({ queuedRecords: 0, queuedBytes: 0, sentRecords: 10_050, droppedRecords: 0, sendErrors: 0, sentMessages: 11 });
    expect(exporter.details()).toMatchObject({ acceptedRecords: 10_050, sentBatches: 11, collector: "up" });
    expect(lines).toContain(`netflow-agent: export to 127.0.0.1:${collector.port}: 10050 of 10050 records delivered in 11 batches`);
    expect(lines.filter((l) => l.includes("warn") || l.includes("error"))).toEqual([]);
  });

  test("the request carries the agent identity, sequence 1, 2, … and the newest eviction's time and counters", async () => {
    await using collector = await TestCollector.start();
    const exporter = GrpcExporter.connect(settings(collector.port, { batchRecords: 4 }), capturingLogger().log);
    const first = numberedBatch(0, 3);
    const second = { ...numberedBatch(3, 3), counters: { ...testCounters, ringbufPackets: 9, droppedPackets: 8, droppedBytes: 7, mapErrors: 6, truncated: 5 } };
    exporter.export(first);
    exporter.export(second);
    await exporter[Symbol.asyncDispose]();
    const [totals] = collector.ledger.totals();
    expect(totals!.agentId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(totals).toMatchObject({ agentVersion: "0.1.0", batches: 2, flows: 6, duplicateBatches: 0 });
    // Batch 1 holds records 0-2 of the first eviction and 3 of the second: it says the second.
    expect(collector.received).toEqual([0, 1, 2, 3, 4, 5]);
    // netflow.v1's KernelCounters carries these five (not flowsInserted).
    const onTheWire = { ringbufPackets: 9, droppedPackets: 8, droppedBytes: 7, mapErrors: 6, truncated: 5 };
    expect(collector.evictions).toMatchObject([
      { evictedAtMs: second.evictedAtMs, evictionMs: 1.25, counters: onTheWire },
      { evictedAtMs: second.evictedAtMs, evictionMs: 1.25, counters: onTheWire },
    ]);
  });

  test("a partial batch goes after --export-batch-interval, without waiting for dispose", async () => {
    await using collector = await TestCollector.start();
    const exporter = GrpcExporter.connect(settings(collector.port, { batchIntervalMs: 100 }), capturingLogger().log);
    const started = Date.now();
    exporter.export(numberedBatch(0, 3));
    await until(() => collector.received.length === 3, 5000, "3 records");
    expect(Date.now() - started).toBeGreaterThanOrEqual(95);
    await exporter[Symbol.asyncDispose]();
    expect(collector.received).toEqual([0, 1, 2]);
  });

  test("unreachable target: export() returns at once, one clear log line, the rest reported at dispose and counted as dropped", async () => {
    const port = await closedPort();
    const { log, lines } = capturingLogger();
    const exporter = GrpcExporter.connect(settings(port, { flushTimeoutMs: 1500 }), log);
    // export() only enqueues: it returns nothing to wait for, and every record is held at once, as its encoded bytes.
    for (let e = 0; e < 10; e++) expect(exporter.export(numberedBatch(e * 100, 100))).toBeUndefined();
    expect(exporter.stats()).toEqual({ queuedRecords: 1000, queuedBytes: netflowEntryBytes(numberedRecords(0, 1000)), sentRecords: 0, droppedRecords: 0, sendErrors: 0, sentMessages: 0 });
    await until(() => exporter.stats().sendErrors >= 4, 10_000, "4 failed attempts");
    await exporter[Symbol.asyncDispose]();
    const warnings = lines.filter((l) => l.startsWith("netflow-agent: warn:"));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toStartWith(`netflow-agent: warn: export to 127.0.0.1:${port} failing: [unavailable]`);
    expect(warnings[0]).toEndWith("retrying with backoff, holding up to 64MiB of records meanwhile");
    expect(lines.filter((l) => l.startsWith("netflow-agent: error:"))).toEqual([
      `netflow-agent: error: export to 127.0.0.1:${port}: 1000 records not delivered within --export-flush-timeout 1500 ms (0 of 1000 delivered, 0 dropped, 0 refused)`,
    ]);
    expect(exporter.stats()).toMatchObject({ queuedRecords: 0, queuedBytes: 0, sentRecords: 0, droppedRecords: 1000 });
    expect(exporter.details()).toMatchObject({ acceptedRecords: 1000, queueFullRecords: 0, notFlushedRecords: 1000, collector: "down" });
  });

  test("export after dispose is refused loudly, not lost silently", async () => {
    await using collector = await TestCollector.start();
    const exporter = GrpcExporter.connect(settings(collector.port), capturingLogger().log);
    await exporter[Symbol.asyncDispose]();
    expect(() => exporter.export(numberedBatch(0, 2))).toThrow(`exporter grpc to 127.0.0.1:${collector.port} is closed: 2 records not accepted`);
  });

  test("a batch the collector refuses as invalid is counted and skipped; later batches still go", async () => {
    await using collector = await TestCollector.start();
    const { log, lines } = capturingLogger();
    const exporter = GrpcExporter.connect(settings(collector.port, { batchRecords: 2 }), log);
    const bad = numberedRecords(0, 2);
    bad[1]!.dscp = 64; // the collector accepts 0-63 only
    exporter.export(columnsBatch(bad));
    exporter.export(numberedBatch(2, 2));
    await exporter[Symbol.asyncDispose]();
    expect(collector.received).toEqual([2, 3]);
    expect(exporter.stats()).toMatchObject({ queuedRecords: 0, sentRecords: 2, droppedRecords: 2, sendErrors: 1 });
    expect(exporter.details()).toMatchObject({ acceptedRecords: 4, refusedRecords: 2 });
    expect(lines.filter((l) => l.includes("error:"))).toEqual([
      `netflow-agent: error: export to 127.0.0.1:${collector.port}: batch 1 of 2 records refused, not resent: [invalid_argument] batch: flow 1: dscp 64 must be <= 63`,
    ]);
  });
});
