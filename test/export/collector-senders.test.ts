/**
 * The requests the senders build from queued bytes serialize to exactly the
 * reference requests' bytes: rows encoded in blocks, queued, cut into a
 * batch that spans blocks and starts in the middle of one.
 */
import { describe, expect, test } from "bun:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { msToDuration, msToTimestamp, toFlowMessage, toKernelCountersMessage } from "../../src/api/flow-message.ts";
import { exportRequest, type FlowExportBatch, recordsRequest } from "../../src/export/collector-senders.ts";
import { BlockBuffers, encodeRecordBlocks, type WriteRecord } from "../../src/export/encoded-records.ts";
import { ExportQueue } from "../../src/export/export-queue.ts";
import { type EvictionInfo, writeFlowEntry, writePbflowRecord } from "../../src/export/flow-wire.ts";
import { agentIpMessage, toNetobservRecords } from "../../src/export/netobserv-record.ts";
import { WireWriter } from "../../src/export/wire-writer.ts";
import { FlowColumns } from "../../src/flow/flow-columns.ts";
import type { FlowRecord } from "../../src/flow/flow-record.ts";
import { ExportRequestSchema } from "../../src/gen/netflow/v1/collector_pb.ts";
import { FlowBatchSchema } from "../../src/gen/netflow/v1/flow_pb.ts";
import { IPSchema, RecordsSchema } from "../../src/gen/pbflow/flow_pb.ts";
import { ipv6, udpFlow } from "../api/flow-fixtures.ts";
import { numberedRecords, testCounters } from "./export-fixtures.ts";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const agent = { hostname: "node-1", agentId: "5f0c2d4e-0000-4000-8000-000000000001", agentVersion: "0.1.0" };
const older: EvictionInfo = { evictedAtMs: 1_764_000_001_000, evictionMs: 3, counters: { ...testCounters, mapErrors: 0 } };
const newer: EvictionInfo = { evictedAtMs: 1_764_000_002_000.25, evictionMs: 1.25, counters: testCounters };

/**
 * `records` as two evictions (the first 40% older), encoded in blocks of
 * 1 KiB (a few rows each), queued in a queue that holds all but `skip` of them (the oldest
 * `skip` are dropped); returns the batch of the rest and the rows it holds.
 */
function queuedBatch(records: FlowRecord[], write: WriteRecord, skip: number) {
  const keep = records.length - skip;
  const q = new ExportQueue<EvictionInfo>({ capacityBytes: 1 << 24, capacityRecords: keep, batchRecords: keep, batchIntervalMs: 0, now: () => 0 });
  const split = Math.floor(records.length * 0.4);
  const buffers = new BlockBuffers(1024);
  for (const [part, eviction] of [[records.slice(0, split), older], [records.slice(split), newer]] as const)
    encodeRecordBlocks(FlowColumns.fromRecords(part), write, buffers, (block) => q.push(block, eviction));
  expect(q.stats().droppedRecords).toBe(skip);
  const batch: FlowExportBatch = q.take(true)!;
  // The reference rows are what the columns hold (e.g. interface names per ifindex).
  const rows = FlowColumns.fromRecords(records).records().slice(skip);
  return { batch, rows };
}

describe("exportRequest", () => {
  test.each([
    [1, 0],
    [20, 3],
    [1000, 17],
  ])("%i records, the oldest %i dropped: the bytes of the ExportRequest with batch set, the newest eviction's fields", (count, skip) => {
    const records = numberedRecords(0, count);
    const { batch, rows } = queuedBatch(records, writeFlowEntry, skip);
    const eviction = newer;
    expect([batch.records, batch.tag]).toEqual([rows.length, eviction]);
    const reference = create(ExportRequestSchema, {
      agent,
      sequence: BigInt(batch.sequence),
      batch: create(FlowBatchSchema, {
        flows: rows.map(toFlowMessage),
        evictedAt: msToTimestamp(eviction.evictedAtMs),
        evictionDuration: msToDuration(eviction.evictionMs),
        kernel: toKernelCountersMessage(eviction.counters),
      }),
    });
    const request = exportRequest(new WireWriter(64), agent, batch);
    expect(hex(toBinary(ExportRequestSchema, request))).toBe(hex(toBinary(ExportRequestSchema, reference)));
  });

  test("a batch without eviction metadata gets zero times and counters", () => {
    const { batch } = queuedBatch([udpFlow()], writeFlowEntry, 0);
    const request = exportRequest(new WireWriter(), agent, { ...batch, tag: undefined });
    const decoded = fromBinary(ExportRequestSchema, toBinary(ExportRequestSchema, request));
    expect([decoded.batch!.flows.length, decoded.batch!.evictedAt!.seconds, decoded.batch!.kernel!.mapErrors]).toEqual([1, 0n, 0n]);
  });
});

describe("recordsRequest", () => {
  test.each([
    [1, 0],
    [2, 1],
    [1000, 23],
  ])("%i records, the oldest %i dropped: the bytes of toNetobservRecords", (count, skip) => {
    const records = numberedRecords(0, count);
    if (count > 1) records[1] = udpFlow({ ethType: 0x86dd, protocol: 6, srcAddr: ipv6("fd00:0:0:0:0:0:0:1"), ifindex: 3, interface: "x".repeat(200) });
    const agentIp = agentIpMessage(new Uint8Array([10, 0, 0, 1]));
    const agentIpBytes = toBinary(IPSchema, agentIp);
    const { batch, rows } = queuedBatch(records, (w, flows, i, names) => writePbflowRecord(w, flows, i, agentIpBytes, names), skip);
    const request = recordsRequest(batch);
    expect(hex(toBinary(RecordsSchema, request))).toBe(hex(toBinary(RecordsSchema, toNetobservRecords(rows, agentIp))));
    expect(fromBinary(RecordsSchema, toBinary(RecordsSchema, request)).entries).toHaveLength(count - skip);
  });
});
