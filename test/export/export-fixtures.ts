/**
 * For the exporter tests: numbered flow records (the number is the record's
 * `bytes`, so a collector's output says exactly which records arrived) as
 * the FlowColumns an eviction hands over, big tables made by tiling, the
 * real collector (`collect`'s CollectorService on the project's Connect
 * server) on 127.0.0.1 that can be stopped and restarted on the same port,
 * and a logger that keeps its lines.
 */
import { BatchLedger } from "../../src/collect/batch-ledger.ts";
import { collectorService } from "../../src/collect/collector-service.ts";
import type { Exporter } from "../../src/export/exporter.ts";
import type { EvictionInfo } from "../../src/export/flow-wire.ts";
import { FlowColumns } from "../../src/flow/flow-columns.ts";
import type { FlowBatch, FlowRecord, KernelCounters } from "../../src/flow/flow-record.ts";
import { netobservCollector } from "../../src/collect/netobserv-collector.ts";
import { CollectorService } from "../../src/gen/netflow/v1/collector_pb.ts";
import { Collector as NetobservCollector } from "../../src/gen/pbflow/flow_pb.ts";
import { createLogger, type Logger } from "../../src/log.ts";
import { startConnectServer, type ConnectServer } from "../../src/net/connect-server.ts";
import { udpFlow } from "../api/flow-fixtures.ts";

/** Records numbered from..from+count-1, the number in `bytes`. */
export function numberedRecords(from: number, count: number): FlowRecord[] {
  return Array.from({ length: count }, (_, i) => udpFlow({ bytes: from + i, packets: 1, srcPort: 1024 + ((from + i) % 60000) }));
}

export const testCounters: KernelCounters = { ringbufPackets: 3, droppedPackets: 0, droppedBytes: 0, mapErrors: 1, truncated: 2, flowsInserted: 40 };

/** An eviction's batch holding `records` (as columns), its eviction 1.25 ms long at `evictedAtMs`. */
export function columnsBatch(records: readonly FlowRecord[], evictedAtMs = 1_764_000_002_000, counters = testCounters): FlowBatch {
  return { flows: FlowColumns.fromRecords(records), evictedAtMs, evictionMs: 1.25, counters };
}

export function numberedBatch(from: number, count: number): FlowBatch {
  return columnsBatch(numberedRecords(from, count), 1_764_000_000_000 + from);
}

/**
 * `count` rows repeating `base`'s rows in order, built by copying its row
 * bytes (a million distinct FlowRecord objects would take ~500 MB of heap).
 */
export function tiledColumns(base: FlowColumns, count: number): FlowColumns {
  const tile = <T extends Uint8Array | Float64Array>(from: T, perRow: number, make: (n: number) => T): T => {
    const out = make(count * perRow);
    for (let row = 0; row < count; row += base.count) out.set(from.subarray(0, Math.min(base.count, count - row) * perRow), row * perRow);
    return out;
  };
  const names = new Map<number, string>();
  for (let i = 0; i < base.count; i++) names.set(base.ifindex(i), base.interfaceName(i));
  return new FlowColumns(
    tile(base.keys, base.keys.byteLength / base.count, (n) => new Uint8Array(n)),
    tile(base.metrics, base.metrics.byteLength / base.count, (n) => new Uint8Array(n)),
    count,
    tile(base.startMs, 1, (n) => new Float64Array(n)),
    tile(base.endMs, 1, (n) => new Float64Array(n)),
    (ifindex) => names.get(ifindex) ?? `if${ifindex}`,
  );
}

export function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i);
}

export function capturingLogger(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return { log: createLogger("debug", (line) => lines.push(line)), lines };
}

/**
 * The reference collector in this process, serving netflow.v1 and pbflow as
 * `collect --protocol netflow,netobserv` does: every new batch's record
 * numbers land in `received`, its records in `records`.
 */
export class TestCollector implements AsyncDisposable {
  readonly received: number[] = [];
  readonly records: FlowRecord[] = [];
  /** Per stored batch: its eviction time and kernel counters. */
  readonly evictions: EvictionInfo[] = [];
  readonly ledger = new BatchLedger();
  private server: ConnectServer | undefined;
  port = 0;

  static async start(): Promise<TestCollector> {
    const collector = new TestCollector();
    await collector.restart();
    return collector;
  }

  get target(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Listens again, on the same port as before (any free port the first time). */
  async restart() {
    const { received, records: stored, evictions } = this;
    const sink: Exporter = {
      name: "test",
      export(batch) {
        const { evictedAtMs, evictionMs, counters } = batch;
        evictions.push({ evictedAtMs, evictionMs, counters });
        const records = batch.flows.records();
        for (const r of records) received.push(r.bytes);
        stored.push(...records);
      },
      stats: () => ({ queuedRecords: 0, queuedBytes: 0, sentRecords: received.length, droppedRecords: 0, sendErrors: 0 }),
      async [Symbol.asyncDispose]() {},
    };
    this.server = await startConnectServer({
      listen: { host: "127.0.0.1", port: this.port },
      routes: (router) => {
        router.service(CollectorService, collectorService(this.ledger, sink));
        router.service(NetobservCollector, netobservCollector(this.ledger, sink));
      },
      graceMs: 200,
    });
    this.port = this.server.address.port;
  }

  async stop() {
    await this.server?.close();
    this.server = undefined;
  }

  async [Symbol.asyncDispose]() {
    await this.stop();
  }
}

/** Numbers that appear more than once. */
export function duplicates(numbers: number[]): number[] {
  const seen = new Set<number>();
  const twice = new Set<number>();
  for (const n of numbers) (seen.has(n) ? twice : seen).add(n);
  return [...twice];
}

export async function until(condition: () => boolean, timeoutMs = 10_000, what = "condition") {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await Bun.sleep(10);
  }
}
