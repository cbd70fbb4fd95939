import { describe, expect, test } from "bun:test";
import { ExportQueue, type ExportQueueOptions } from "../../src/export/export-queue.ts";

/** A queue of numbers with a hand-driven clock. */
function queue(options: Partial<ExportQueueOptions> = {}) {
  const clock = { ms: 1000 };
  const q = new ExportQueue<number>({ capacityRecords: 10, batchRecords: 4, batchIntervalMs: 100, now: () => clock.ms, ...options });
  return { q, clock };
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

describe("ExportQueue", () => {
  test("rejects a capacity smaller than a batch", () => {
    expect(() => queue({ capacityRecords: 3, batchRecords: 4 })).toThrow("capacityRecords 3 must be >= batchRecords 4");
    expect(() => queue({ batchRecords: 0 })).toThrow("batchRecords 0 must be >= 1");
  });

  test("a full batch is due at once; a partial one after the interval", () => {
    const { q, clock } = queue();
    expect(q.msUntilDue()).toBeUndefined();
    expect(q.take()).toBeUndefined();
    q.push([1, 2, 3]);
    expect(q.msUntilDue()).toBe(100);
    expect(q.take()).toBeUndefined();
    clock.ms += 60;
    q.push([4, 5]);
    expect(q.msUntilDue()).toBe(0);
    const first = q.take()!;
    expect(first).toEqual({ sequence: 1, records: [1, 2, 3, 4], tag: undefined, attempts: 0 });
    q.delivered(first);
    // The remaining record (5) arrived with 4 just now: a full interval to go.
    expect(q.msUntilDue()).toBe(100);
    clock.ms += 99;
    expect(q.take()).toBeUndefined();
    clock.ms += 1;
    const second = q.take()!;
    expect(second).toEqual({ sequence: 2, records: [5], tag: undefined, attempts: 0 });
    q.delivered(second);
    expect(q.stats()).toEqual({
      acceptedRecords: 5, deliveredRecords: 5, droppedRecords: 0, rejectedRecords: 0, heldRecords: 0, inFlightRecords: 0, deliveredBatches: 2, failedAttempts: 0,
    });
  });

  test("flush hands out a partial batch before the interval", () => {
    const { q } = queue();
    q.push([7]);
    expect(q.take(true)).toEqual({ sequence: 1, records: [7], tag: undefined, attempts: 0 });
  });

  test("one batch in flight at a time", () => {
    const { q } = queue();
    q.push(range(0, 8));
    const first = q.take()!;
    expect(q.take()).toBeUndefined();
    q.delivered(first);
    expect(q.take()!.records).toEqual([4, 5, 6, 7]);
  });

  test("a failed batch comes back first, same sequence and records, then order continues", () => {
    const { q } = queue();
    q.push(range(0, 8));
    const first = q.take()!;
    q.failed(first);
    expect(q.msUntilDue()).toBe(0);
    const again = q.take()!;
    expect(again).toBe(first);
    expect(again).toEqual({ sequence: 1, records: [0, 1, 2, 3], tag: undefined, attempts: 1 });
    q.delivered(again);
    const second = q.take()!;
    expect(second).toEqual({ sequence: 2, records: [4, 5, 6, 7], tag: undefined, attempts: 0 });
    q.delivered(second);
    expect(q.stats()).toMatchObject({ acceptedRecords: 8, deliveredRecords: 8, droppedRecords: 0, heldRecords: 0, failedAttempts: 1 });
  });

  test("settling a batch that is not in flight is a programming error", () => {
    const { q } = queue();
    q.push(range(0, 4));
    const batch = q.take()!;
    q.delivered(batch);
    expect(() => q.delivered(batch)).toThrow("export batch 1 is not the batch in flight");
  });

  test("over capacity, the oldest waiting records are dropped and counted", () => {
    const { q } = queue();
    expect(q.push(range(0, 6))).toBe(0);
    expect(q.push(range(6, 13))).toBe(3);
    expect(q.stats()).toMatchObject({ acceptedRecords: 13, droppedRecords: 3, heldRecords: 10 });
    const delivered: number[] = [];
    for (let batch = q.take(true); batch; batch = q.take(true)) {
      delivered.push(...batch.records);
      q.delivered(batch);
    }
    expect(delivered).toEqual(range(3, 13));
  });

  test("records in flight are never dropped; a retry batch is trimmed from its front", () => {
    const { q } = queue();
    q.push(range(0, 8));
    const inFlight = q.take()!; // 0..3 in flight, 4..7 waiting
    expect(q.push(range(8, 12))).toBe(2); // held 12 > 10: drops 4, 5
    q.failed(inFlight); // 0..3 back to the front
    expect(q.push([12, 13])).toBe(2); // drops 0, 1 from the retry batch
    const retry = q.take()!;
    expect(retry).toEqual({ sequence: 1, records: [2, 3], tag: undefined, attempts: 1 });
    q.delivered(retry);
    const rest: number[] = [];
    for (let batch = q.take(true); batch; batch = q.take(true)) {
      rest.push(...batch.records);
      q.delivered(batch);
    }
    expect(rest).toEqual([6, 7, 8, 9, 10, 11, 12, 13]);
    expect(q.stats()).toMatchObject({ acceptedRecords: 14, deliveredRecords: 10, droppedRecords: 4, heldRecords: 0 });
  });

  test("a retry batch dropped entirely disappears and the next batch gets a new number", () => {
    const { q } = queue({ capacityRecords: 4, batchRecords: 4 });
    q.push(range(0, 4));
    const first = q.take()!;
    expect(q.push(range(4, 8))).toBe(4); // in flight fills capacity: the newcomers go
    q.failed(first);
    expect(q.push(range(8, 12))).toBe(4); // the retry batch is the oldest: it goes
    const next = q.take()!;
    expect(next).toEqual({ sequence: 2, records: [8, 9, 10, 11], tag: undefined, attempts: 0 });
    expect(q.stats()).toMatchObject({ acceptedRecords: 12, droppedRecords: 8, heldRecords: 4 });
  });

  test("accepted = delivered + dropped + held, across many pushes and failures", () => {
    const { q, clock } = queue({ capacityRecords: 1000, batchRecords: 64 });
    let next = 0;
    const delivered: number[] = [];
    for (let step = 0; step < 2000; step++) {
      clock.ms += 7;
      q.push(range(next, next + (step % 13)));
      next += step % 13;
      const batch = q.take();
      if (!batch) continue;
      // Every third attempt fails, as a collector that is down would make it.
      if (step % 3 === 0) q.failed(batch);
      else {
        delivered.push(...batch.records);
        q.delivered(batch);
      }
    }
    const s = q.stats();
    expect(s.acceptedRecords).toBe(next);
    expect(s.acceptedRecords).toBe(s.deliveredRecords + s.droppedRecords + s.rejectedRecords + s.heldRecords);
    // Delivered in order, each once.
    for (let i = 1; i < delivered.length; i++) expect(delivered[i]! > delivered[i - 1]!).toBe(true);
    expect(delivered.length).toBe(s.deliveredRecords);
  });

  test("a batch carries the tag of its newest records; a resend keeps it", () => {
    const q = new ExportQueue<number, string>({ capacityRecords: 10, batchRecords: 3, batchIntervalMs: 100, now: () => 0 });
    q.push([1, 2], "eviction A");
    q.push([3, 4], "eviction B");
    const first = q.take()!;
    expect([first.records, first.tag]).toEqual([[1, 2, 3], "eviction B"]);
    q.failed(first);
    expect(q.take()!.tag).toBe("eviction B");
    q.delivered(first);
    expect(q.take(true)).toMatchObject({ sequence: 2, records: [4], tag: "eviction B" });
  });

  test("a rejected batch leaves the queue, counted apart from drops", () => {
    const { q } = queue();
    q.push(range(0, 6));
    q.rejected(q.take()!);
    const next = q.take(true)!;
    expect(next).toMatchObject({ sequence: 2, records: [4, 5] });
    q.delivered(next);
    expect(q.stats()).toMatchObject({ acceptedRecords: 6, deliveredRecords: 2, rejectedRecords: 4, droppedRecords: 0, heldRecords: 0 });
  });

  test("a caller's array is not modified", () => {
    const { q } = queue();
    const records = range(0, 6);
    q.push(records);
    q.delivered(q.take()!);
    expect(records).toEqual(range(0, 6));
  });
});
