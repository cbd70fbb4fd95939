/**
 * The default --export-queue-bytes against the burst it is sized for: whole
 * evictions at the default map ceiling (1,048,576 flows) exported while the
 * collector is away, so every record stays queued. IPv6 rows are the largest
 * a flow encodes to, short of very long interface names.
 */
import { describe, expect, test } from "bun:test";
import { buildExportConfig, defaultQueueBytes, EXPORT_DEFAULTS } from "../../src/cli/export-options.ts";
import { GrpcExporter } from "../../src/export/grpc-exporter.ts";
import { FlowColumns } from "../../src/flow/flow-columns.ts";
import { ipv6, udpFlow } from "../api/flow-fixtures.ts";
import { capturingLogger, testCounters, TestCollector, tiledColumns } from "./export-fixtures.ts";

const MAP_CEILING = 1_048_576;

/** 4,096 distinct TCP/IPv6 flows with busy-node counters, tiled to one full map. */
function fullMapOfIpv6Flows(): FlowColumns {
  const base = FlowColumns.fromRecords(
    Array.from({ length: 4096 }, (_, i) =>
      udpFlow({
        ethType: 0x86dd,
        protocol: 6,
        ifindex: 2 + (i % 4),
        interface: `eth${i % 4}`,
        srcAddr: ipv6(`2001:db8:0:0:0:0:${(i >> 8).toString(16)}:${(i & 0xff).toString(16)}`),
        dstAddr: ipv6("2001:db8:0:0:0:0:ffff:1"),
        srcPort: 32768 + i,
        dstPort: 443,
        packets: 1000 + i,
        bytes: 1_400_000 + i * 997,
        tcpFlags: 0x1b,
        startMs: 1_764_000_000_123.456 + i,
        endMs: 1_764_000_004_987.654 + i,
      }),
    ),
  );
  return tiledColumns(base, MAP_CEILING);
}

/** Exports `evictions` full maps to a collector that is not there; returns the exporter's figures after dispose. */
async function exportWhileCollectorAway(protocol: "netflow" | "netobserv", evictions: number) {
  const collector = await TestCollector.start();
  const port = collector.port;
  await collector.stop();
  const config = buildExportConfig({ ...EXPORT_DEFAULTS, export: "grpc", target: `127.0.0.1:${port}`, protocol, exportFlushTimeout: "0" }, MAP_CEILING);
  const { log, lines } = capturingLogger();
  const exporter = GrpcExporter.connect(config.grpc!, log);
  const flows = fullMapOfIpv6Flows();
  for (let e = 0; e < evictions; e++) exporter.export({ flows, evictedAtMs: 1_764_000_005_000 + e * 5000, evictionMs: 300, counters: testCounters });
  const held = exporter.stats();
  await exporter[Symbol.asyncDispose]();
  return { queueBytes: config.grpc!.queueBytes, held, after: exporter.details(), lines };
}

describe("default export queue", () => {
  test("derived from the map ceiling: 2 evictions at 128 bytes a record, at least 64 MiB", () => {
    expect(defaultQueueBytes(MAP_CEILING)).toBe(256 * 2 ** 20);
    expect(defaultQueueBytes(4_194_304)).toBe(2 ** 30);
    expect(defaultQueueBytes(32_768)).toBe(64 * 2 ** 20);
  });

  test("netflow.v1: two evictions of a full map of IPv6 flows are held whole", async () => {
    const { queueBytes, held, after, lines } = await exportWhileCollectorAway("netflow", 2);
    expect(held.queuedRecords).toBe(2 * MAP_CEILING);
    expect(held.droppedRecords).toBe(0);
    expect(held.queuedBytes).toBeLessThanOrEqual(queueBytes);
    expect(lines.filter((l) => l.includes("export queue full"))).toEqual([]);
    // At exit nothing could be sent: every record is reported as not flushed, none as dropped for room.
    expect(after).toMatchObject({ queuedRecords: 0, queuedBytes: 0, droppedRecords: 2 * MAP_CEILING, queueFullRecords: 0, notFlushedRecords: 2 * MAP_CEILING });
  }, 60_000);

  test("pbflow (larger records): one eviction of a full map of IPv6 flows is held whole", async () => {
    const { queueBytes, held } = await exportWhileCollectorAway("netobserv", 1);
    expect(held).toMatchObject({ queuedRecords: MAP_CEILING, droppedRecords: 0 });
    expect(held.queuedBytes).toBeLessThanOrEqual(queueBytes);
  }, 60_000);
});
