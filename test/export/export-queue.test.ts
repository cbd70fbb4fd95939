import { describe, expect, test } from "bun:test";
import { encodedParts, type ExportBatch, ExportQueue, type ExportQueueOptions } from "../../src/export/export-queue.ts";
import { EncodedRecords } from "../../src/export/encoded-records.ts";

/**
 * Records here are numbers encoded as their decimal text and a ";" ("7;",
 * "42;", "100;"), so sizes vary with the number of digits and a batch's
 * bytes decode back to the numbers it holds.
 */
function block(numbers: readonly number[]): EncodedRecords {
  const parts = numbers.map((n) => new TextEncoder().encode(`${n};`));
  const ends = new Uint32Array(parts.length);
  let end = 0;
  parts.forEach((p, k) => (ends[k] = end += p.length));
  const bytes = new Uint8Array(end);
  parts.forEach((p, k) => bytes.set(p, k === 0 ? 0 : ends[k - 1]!));
  return new EncodedRecords(bytes, ends);
}

function numbersOf(batch: ExportBatch<unknown>): number[] {
  const text = encodedParts(batch).map((p) => new TextDecoder().decode(p)).join("");
  return text === "" ? [] : text.slice(0, -1).split(";").map(Number);
}

/** Bytes of `numbers` as records. */
const sizeOf = (numbers: readonly number[]) => numbers.reduce((sum, n) => sum + `${n};`.length, 0);

/** A queue bounded at 10 records (and bytes to spare) with a hand-driven clock. */
function queue(options: Partial<ExportQueueOptions> = {}) {
  const clock = { ms: 1000 };
  const q = new ExportQueue({ capacityBytes: 1 << 20, capacityRecords: 10, batchRecords: 4, batchIntervalMs: 100, now: () => clock.ms, ...options });
  return { q, clock };
}

/** Everything due, delivered; the numbers in order. */
function drain(q: ExportQueue<unknown>): number[] {
  const out: number[] = [];
  for (let batch = q.take(true); batch; batch = q.take(true)) {
    out.push(...numbersOf(batch));
    q.delivered(batch);
  }
  return out;
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

describe("ExportQueue", () => {
  test("rejects bounds smaller than a batch", () => {
    expect(() => queue({ capacityRecords: 3, batchRecords: 4 })).toThrow("capacityRecords 3 must be >= batchRecords 4");
    expect(() => queue({ batchRecords: 0 })).toThrow("batchRecords 0 must be >= 1");
    expect(() => queue({ capacityBytes: 0 })).toThrow("capacityBytes 0 must be >= 1");
  });

  test("a full batch is due at once; a partial one after the interval", () => {
    const { q, clock } = queue();
    expect(q.msUntilDue()).toBeUndefined();
    expect(q.take()).toBeUndefined();
    q.push(block([1, 2, 3]));
    expect(q.msUntilDue()).toBe(100);
    expect(q.take()).toBeUndefined();
    clock.ms += 60;
    q.push(block([4, 5]));
    expect(q.msUntilDue()).toBe(0);
    const first = q.take()!;
    expect([first.sequence, numbersOf(first), first.records, first.bytes, first.attempts]).toEqual([1, [1, 2, 3, 4], 4, 8, 0]);
    q.delivered(first);
    // The remaining record (5) arrived with 4 just now: a full interval to go.
    expect(q.msUntilDue()).toBe(100);
    clock.ms += 99;
    expect(q.take()).toBeUndefined();
    clock.ms += 1;
    const second = q.take()!;
    expect([second.sequence, numbersOf(second)]).toEqual([2, [5]]);
    q.delivered(second);
    expect(q.stats()).toEqual({
      acceptedRecords: 5, deliveredRecords: 5, droppedRecords: 0, rejectedRecords: 0, rejectedBatches: 0, abandonedRecords: 0,
      heldRecords: 0, heldBytes: 0, inFlightRecords: 0, deliveredBatches: 2, failedAttempts: 0,
    });
  });

  test("a batch cut across blocks and from the middle of one: views of the pushed bytes, in order", () => {
    const { q } = queue({ batchRecords: 5 });
    q.push(block([10, 11, 12]));
    q.push(block([13]));
    q.push(block([14, 15, 16, 17]));
    const first = q.take()!;
    expect(encodedParts(first).map((p) => new TextDecoder().decode(p))).toEqual(["10;11;12;", "13;", "14;"]);
    expect([first.records, first.bytes]).toEqual([5, 15]);
    q.delivered(first);
    const second = q.take(true)!;
    expect([numbersOf(second), second.bytes]).toEqual([[15, 16, 17], 9]);
  });

  test("flush hands out a partial batch before the interval", () => {
    const { q } = queue();
    q.push(block([7]));
    expect(numbersOf(q.take(true)!)).toEqual([7]);
  });

  test("one batch in flight at a time; held counts it", () => {
    const { q } = queue();
    q.push(block(range(0, 8)));
    const first = q.take()!;
    expect(q.take()).toBeUndefined();
    expect(q.stats()).toMatchObject({ heldRecords: 8, heldBytes: 16, inFlightRecords: 4 });
    q.delivered(first);
    expect(numbersOf(q.take()!)).toEqual([4, 5, 6, 7]);
  });

  test("a failed batch comes back first, same sequence and records, then order continues", () => {
    const { q } = queue();
    q.push(block(range(0, 8)));
    const first = q.take()!;
    q.failed(first);
    expect(q.msUntilDue()).toBe(0);
    const again = q.take()!;
    expect(again).toBe(first);
    expect([again.sequence, numbersOf(again), again.attempts]).toEqual([1, [0, 1, 2, 3], 1]);
    q.delivered(again);
    const second = q.take()!;
    expect([second.sequence, numbersOf(second), second.attempts]).toEqual([2, [4, 5, 6, 7], 0]);
    q.delivered(second);
    expect(q.stats()).toMatchObject({ acceptedRecords: 8, deliveredRecords: 8, droppedRecords: 0, heldRecords: 0, failedAttempts: 1 });
  });

  test("settling a batch that is not in flight is a programming error", () => {
    const { q } = queue();
    q.push(block(range(0, 4)));
    const batch = q.take()!;
    q.delivered(batch);
    expect(() => q.delivered(batch)).toThrow("export batch 1 is not the batch in flight");
  });

  test("over the record bound, the oldest waiting records are dropped and counted", () => {
    const { q } = queue();
    expect(q.push(block(range(0, 6)))).toBe(0);
    expect(q.push(block(range(6, 13)))).toBe(3);
    expect(q.stats()).toMatchObject({ acceptedRecords: 13, droppedRecords: 3, heldRecords: 10, heldBytes: sizeOf(range(3, 13)) });
    expect(drain(q)).toEqual(range(3, 13));
  });

  test("over the byte bound, exactly the oldest records that make room are dropped, whatever their sizes", () => {
    const numbers = [5, 1234, 77, 9, 100_000, 31, 8, 555, 2, 64_000, 3];
    for (let capacityBytes = 8; capacityBytes <= sizeOf(numbers); capacityBytes++) {
      const { q } = queue({ capacityBytes, capacityRecords: undefined, batchRecords: 1 });
      // Pushed in three blocks: drops cross block boundaries.
      const dropped = q.push(block(numbers.slice(0, 4))) + q.push(block(numbers.slice(4, 5))) + q.push(block(numbers.slice(5)));
      // The newest suffix that fits is kept; one more record would not fit.
      const kept = numbers.slice(dropped);
      expect(sizeOf(kept)).toBeLessThanOrEqual(capacityBytes);
      if (dropped > 0) expect(sizeOf(numbers.slice(dropped - 1))).toBeGreaterThan(capacityBytes);
      expect(q.stats()).toMatchObject({ droppedRecords: dropped, heldRecords: kept.length, heldBytes: sizeOf(kept) });
      expect(drain(q)).toEqual(kept);
    }
  });

  test("one block larger than the whole bound keeps only its newest records that fit", () => {
    const { q } = queue({ capacityBytes: 30, capacityRecords: undefined });
    expect(q.push(block(range(0, 100)))).toBe(90); // 10..99 are 3 bytes each: 10 fit in 30
    expect(drain(q)).toEqual(range(90, 100));
  });

  test("records in flight are never dropped; a retry batch is trimmed from its front", () => {
    const { q } = queue();
    q.push(block(range(0, 8)));
    const inFlight = q.take()!; // 0..3 in flight, 4..7 waiting
    expect(q.push(block(range(8, 12)))).toBe(2); // held 12 > 10: drops 4, 5
    q.failed(inFlight); // 0..3 back to the front
    expect(q.push(block([12, 13]))).toBe(2); // drops 0, 1 from the retry batch
    const retry = q.take()!;
    expect([retry.sequence, numbersOf(retry), retry.records, retry.bytes, retry.attempts]).toEqual([1, [2, 3], 2, 4, 1]);
    q.delivered(retry);
    expect(drain(q)).toEqual([6, 7, 8, 9, 10, 11, 12, 13]);
    expect(q.stats()).toMatchObject({ acceptedRecords: 14, deliveredRecords: 10, droppedRecords: 4, heldRecords: 0, heldBytes: 0 });
  });

  test("a retry batch dropped entirely disappears and the next batch gets a new number", () => {
    const { q } = queue({ capacityRecords: 4, batchRecords: 4 });
    q.push(block(range(0, 4)));
    const first = q.take()!;
    expect(q.push(block(range(4, 8)))).toBe(4); // in flight fills capacity: the newcomers go
    q.failed(first);
    expect(q.push(block(range(8, 12)))).toBe(4); // the retry batch is the oldest: it goes
    const next = q.take()!;
    expect([next.sequence, numbersOf(next), next.attempts]).toEqual([2, [8, 9, 10, 11], 0]);
    expect(q.stats()).toMatchObject({ acceptedRecords: 12, droppedRecords: 8, heldRecords: 4 });
  });

  test("accepted = delivered + dropped + held, bytes included, across many pushes and failures", () => {
    const { q, clock } = queue({ capacityBytes: 3000, capacityRecords: undefined, batchRecords: 64 });
    let next = 0;
    const delivered: number[] = [];
    for (let step = 0; step < 2000; step++) {
      clock.ms += 7;
      q.push(block(range(next, next + (step % 13))));
      next += step % 13;
      const batch = q.take();
      if (!batch) continue;
      // Every third attempt fails, and all of them for a while: a collector that flaps, then is down.
      if (step % 3 === 0 || (step > 500 && step < 1000)) q.failed(batch);
      else {
        delivered.push(...numbersOf(batch));
        q.delivered(batch);
      }
    }
    const s = q.stats();
    expect(s.acceptedRecords).toBe(next);
    expect(s.droppedRecords).toBeGreaterThan(0);
    expect(s.acceptedRecords).toBe(s.deliveredRecords + s.droppedRecords + s.rejectedRecords + s.heldRecords);
    expect(s.heldBytes).toBeLessThanOrEqual(3000);
    // Delivered in order, each once; what is held is the newest records, and their bytes are counted exactly.
    for (let i = 1; i < delivered.length; i++) expect(delivered[i]! > delivered[i - 1]!).toBe(true);
    expect(delivered.length).toBe(s.deliveredRecords);
    const held: number[] = [];
    for (let batch = q.take(true); batch; batch = q.take(true)) {
      held.push(...numbersOf(batch));
      q.delivered(batch);
    }
    expect(held).toEqual(range(next - s.heldRecords, next));
    expect(sizeOf(held)).toBe(s.heldBytes);
  });

  test("a batch carries the tag of its newest records; a resend keeps it", () => {
    const q = new ExportQueue<string>({ capacityBytes: 1000, batchRecords: 3, batchIntervalMs: 100, now: () => 0 });
    q.push(block([1, 2]), "eviction A");
    q.push(block([3, 4]), "eviction B");
    const first = q.take()!;
    expect([numbersOf(first), first.tag]).toEqual([[1, 2, 3], "eviction B"]);
    q.failed(first);
    expect(q.take()!.tag).toBe("eviction B");
    q.delivered(first);
    const second = q.take(true)!;
    expect([second.sequence, numbersOf(second), second.tag]).toEqual([2, [4], "eviction B"]);
  });

  test("a rejected batch leaves the queue, counted apart from drops", () => {
    const { q } = queue();
    q.push(block(range(0, 6)));
    q.rejected(q.take()!);
    const next = q.take(true)!;
    expect([next.sequence, numbersOf(next)]).toEqual([2, [4, 5]]);
    q.delivered(next);
    expect(q.stats()).toMatchObject({ acceptedRecords: 6, deliveredRecords: 2, rejectedRecords: 4, rejectedBatches: 1, droppedRecords: 0, heldRecords: 0 });
  });

  test("abandon lets go of everything held, counted", () => {
    const { q } = queue();
    q.push(block(range(0, 6)));
    q.failed(q.take()!);
    expect(q.abandon()).toEqual({ records: 6, bytes: 12 });
    expect(q.take(true)).toBeUndefined();
    expect(q.stats()).toMatchObject({ acceptedRecords: 6, abandonedRecords: 6, heldRecords: 0, heldBytes: 0 });
  });
});
