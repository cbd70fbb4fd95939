/**
 * Blocks of encoded records: offsets, filling, and the reuse of their
 * buffers, which must never hand a buffer out while a record in it may still
 * be sent (checked by decoding everything the queue hands out).
 */
import { describe, expect, test } from "bun:test";
import { fromBinary } from "@bufbuild/protobuf";
import { BlockBuffers, EncodedRecords, encodeRecordBlocks } from "../../src/export/encoded-records.ts";
import { encodedParts, type ExportBatch, ExportQueue } from "../../src/export/export-queue.ts";
import { writeFlowEntry } from "../../src/export/flow-wire.ts";
import { FlowColumns } from "../../src/flow/flow-columns.ts";
import { FlowBatchSchema } from "../../src/gen/netflow/v1/flow_pb.ts";
import { udpFlow } from "../api/flow-fixtures.ts";
import { numberedRecords, range } from "./export-fixtures.ts";

/** The record numbers (`bytes`) a batch of netflow.v1 entries holds, decoded as a FlowBatch. */
function numbersIn(batch: ExportBatch<unknown>): number[] {
  const parts = encodedParts(batch);
  const joined = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((at, p) => (joined.set(p, at), at + p.length), 0);
  return fromBinary(FlowBatchSchema, joined).flows.map((f) => Number(f.bytes));
}

function blocksOf(flows: FlowColumns, buffers: BlockBuffers): EncodedRecords[] {
  const blocks: EncodedRecords[] = [];
  buffers.keepFor(encodeRecordBlocks(flows, writeFlowEntry, buffers, (b) => blocks.push(b)));
  return blocks;
}

describe("EncodedRecords", () => {
  test("sizes, views and the fewest records covering a number of bytes", () => {
    const text = "1;22;333;4444;"; // records of 2, 3, 4, 5 bytes
    const b = new EncodedRecords(new TextEncoder().encode(text), Uint32Array.of(2, 5, 9, 14));
    expect([b.count, b.size(0, 4), b.size(1, 3), b.size(2, 2)]).toEqual([4, 14, 7, 0]);
    expect(new TextDecoder().decode(b.view(1, 3))).toBe("22;333;");
    expect([0, 1, 2, 3, 5, 6, 14, 99].map((bytes) => b.recordsCovering(0, 4, bytes))).toEqual([0, 1, 1, 2, 2, 3, 4, 4]);
    expect([1, 3, 4, 7, 8].map((bytes) => b.recordsCovering(1, 3, bytes))).toEqual([1, 1, 2, 2, 2]);
  });

  test("settling more records than a block holds is a programming error", () => {
    const released: Uint8Array[] = [];
    const b = new EncodedRecords(new Uint8Array(4), Uint32Array.of(2, 4), (bytes) => released.push(bytes));
    b.settle(1);
    expect(released).toHaveLength(0);
    b.settle(1);
    expect(released).toEqual([b.bytes]);
    expect(() => b.settle(1)).toThrow("block of 2 records settled 1 times too many");
  });
});

describe("encodeRecordBlocks", () => {
  test("blocks are filled up to the buffer size, every row once, in order", () => {
    const flows = FlowColumns.fromRecords(numberedRecords(0, 1000));
    const buffers = new BlockBuffers(2048);
    const blocks = blocksOf(flows, buffers);
    expect(blocks.reduce((n, b) => n + b.count, 0)).toBe(1000);
    for (const b of blocks) expect(b.bytes.buffer.byteLength).toBe(2048);
    // Every block but the last stopped at the first record that reached the fill mark (2048 - 512).
    for (const b of blocks.slice(0, -1)) {
      expect(b.size(0, b.count)).toBeGreaterThanOrEqual(1536);
      expect(b.size(0, b.count - 1)).toBeLessThan(1536);
    }
    const q = new ExportQueue({ capacityBytes: 1 << 20, batchRecords: 1000, batchIntervalMs: 0, now: () => 0 });
    for (const b of blocks) q.push(b);
    expect(numbersIn(q.take(true)!)).toEqual(range(0, 1000));
  });

  test("a record larger than a block gets a bigger buffer of its own, which is not reused", () => {
    const flows = FlowColumns.fromRecords([udpFlow({ bytes: 1 }), udpFlow({ bytes: 2, ifindex: 9, interface: "x".repeat(5000) }), udpFlow({ bytes: 3 })]);
    const buffers = new BlockBuffers(1024);
    const blocks = blocksOf(flows, buffers);
    expect(blocks.map((b) => b.count)).toEqual([2, 1]);
    expect(blocks[0]!.bytes.buffer.byteLength).toBeGreaterThan(5000);
    const q = new ExportQueue({ capacityBytes: 1 << 20, batchRecords: 3, batchIntervalMs: 0, now: () => 0 });
    for (const b of blocks) q.push(b);
    const batch = q.take(true)!;
    expect(numbersIn(batch)).toEqual([1, 2, 3]);
    q.delivered(batch);
    expect(buffers.freeBuffers).toBe(1);
  });
});

describe("BlockBuffers", () => {
  test("a buffer comes back only when every record of its block is settled, and the next eviction writes into it", () => {
    const buffers = new BlockBuffers(1024);
    const q = new ExportQueue({ capacityBytes: 1 << 20, batchRecords: 15, batchIntervalMs: 0, now: () => 0 });
    const first = blocksOf(FlowColumns.fromRecords(numberedRecords(0, 30)), buffers);
    for (const b of first) q.push(b);
    expect(first[0]!.count).toBeGreaterThan(1);
    const batch = q.take(true)!; // the first 15 records: whole blocks and part of one
    q.delivered(batch);
    const wholeBlocks = first.filter((b, k) => first.slice(0, k + 1).reduce((n, x) => n + x.count, 0) <= 15).length;
    expect(buffers.freeBuffers).toBe(wholeBlocks);
    q.delivered(q.take(true)!);
    expect(buffers.freeBuffers).toBe(first.length);
    const second = blocksOf(FlowColumns.fromRecords(numberedRecords(30, 30)), buffers);
    expect(new Set(second.map((b) => b.bytes.buffer))).toEqual(new Set(first.map((b) => b.bytes.buffer)));
  });

  test("free buffers are kept up to what the last eviction used", () => {
    const buffers = new BlockBuffers(1024);
    const q = new ExportQueue({ capacityBytes: 1 << 20, batchRecords: 1000, batchIntervalMs: 0, now: () => 0 });
    const burst = blocksOf(FlowColumns.fromRecords(numberedRecords(0, 200)), buffers);
    for (const b of burst) q.push(b);
    const small = blocksOf(FlowColumns.fromRecords(numberedRecords(200, 20)), buffers);
    for (const b of small) q.push(b);
    expect(small.length).toBeLessThan(burst.length);
    q.delivered(q.take(true)!);
    expect(buffers.freeBuffers).toBe(small.length);
  });

  test("evictions, batches, failures and drops with reused buffers: every record handed out is the one exported", () => {
    const buffers = new BlockBuffers(1024);
    const q = new ExportQueue({ capacityBytes: 4000, batchRecords: 37, batchIntervalMs: 0, now: () => 0 });
    let next = 0;
    const handedOut: number[] = [];
    for (let step = 0; step < 300; step++) {
      const count = (step * 7) % 61;
      for (const b of blocksOf(FlowColumns.fromRecords(numberedRecords(next, count)), buffers)) q.push(b);
      next += count;
      for (let attempt = 0; attempt < 2; attempt++) {
        const batch = q.take(true);
        if (!batch) break;
        const numbers = numbersIn(batch);
        // Oldest first, and what is handed out is contiguous runs of what was exported, never another eviction's bytes.
        for (const n of numbers) expect(n).toBeLessThan(next);
        for (let k = 1; k < numbers.length; k++) expect(numbers[k]!).toBeGreaterThan(numbers[k - 1]!);
        if ((step + attempt) % 5 === 0) q.failed(batch);
        else if (step % 17 === 0) q.rejected(batch);
        else {
          handedOut.push(...numbers);
          q.delivered(batch);
        }
      }
    }
    const s = q.stats();
    expect(s.droppedRecords).toBeGreaterThan(0);
    expect(s.acceptedRecords).toBe(s.deliveredRecords + s.droppedRecords + s.rejectedRecords + s.heldRecords);
    expect(handedOut).toHaveLength(s.deliveredRecords);
    expect(new Set(handedOut).size).toBe(handedOut.length);
    q.abandon();
    expect(buffers.freeBuffers).toBeGreaterThan(0);
  });
});
