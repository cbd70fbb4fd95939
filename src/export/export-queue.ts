/**
 * The records an exporter has accepted but not yet delivered, held as the
 * bytes they go on the wire as, bounded in bytes (and optionally in records).
 *
 * Why bytes: an eviction's columns are reused by the next eviction, so the
 * exporter must keep its own copy; the encoded record (~60-130 bytes) is the
 * smallest one, is what the send needs anyway, and costs no JS object per flow.
 *
 * Algorithm: pushed blocks of encoded records (EncodedRecords: the bytes, back
 * to back, and where each record ends) are kept in arrival order. `take()`
 * hands out one batch at a time: a batch that failed before, else a new batch
 * cut from the front of the blocks (as views, no copy) once `batchRecords` are
 * waiting or the oldest record has waited `batchIntervalMs` (or on flush).
 * Each new batch gets the next sequence number; a failed batch comes back
 * whole, with the same sequence number and records, so a collector that did
 * receive it can drop the resend. A batch the collector refuses for good is
 * `rejected`: it leaves the queue, counted. At most one batch is in flight.
 *
 * Every record leaves once, settled in its block (delivered, dropped, refused
 * or abandoned), so a block's buffer is reused only when nothing reads it.
 *
 * Capacity counts every record held: waiting, in a batch to retry, in flight.
 * Over capacity the oldest records not in flight are dropped, record by record
 * (the retry batch first, trimmed from its front: what remains is a subset, so
 * de-duplication by sequence number stays correct) and counted in `droppedRecords`.
 *
 * Pure: no timers, no I/O; the clock is injected.
 */
import type { EncodedRecords } from "./encoded-records.ts";

export interface ExportQueueOptions {
  /** Most bytes of encoded records held at once (waiting + retry + in flight). */
  capacityBytes: number;
  /** Most records held at once; unlimited when unset. */
  capacityRecords?: number;
  /** Most records in one batch. */
  batchRecords: number;
  /** Longest a record waits for a batch to fill. */
  batchIntervalMs: number;
  /** Monotonic-enough ms clock; Date.now in production, a counter in tests. */
  now: () => number;
}

/** Records [from, to) of one block. */
export interface RecordRange {
  readonly block: EncodedRecords;
  from: number;
  readonly to: number;
}

export interface ExportBatch<Tag = undefined> {
  /** 1, 2, 3, … per queue; a resend keeps its number. */
  readonly sequence: number;
  /** The batch's records, oldest first, as ranges of the pushed blocks; read only (see encodedParts). */
  ranges: RecordRange[];
  records: number;
  bytes: number;
  /** The tag pushed with the newest records of the batch (the exporter: that eviction's time and counters). */
  readonly tag: Tag | undefined;
  /** How many times this batch was handed out before (0 on the first try). */
  attempts: number;
}

function settleRanges(ranges: readonly RecordRange[]) {
  for (const r of ranges) r.block.settle(r.to - r.from);
}

/** The batch's encoded records as views of the queue's blocks, oldest first: runs of whole records. */
export function encodedParts(batch: ExportBatch<unknown>): Uint8Array[] {
  return batch.ranges.map((r) => r.block.view(r.from, r.to));
}

export interface ExportQueueStats {
  acceptedRecords: number;
  deliveredRecords: number;
  /** Dropped to stay within capacity. */
  droppedRecords: number;
  /** Records of batches the collector refused for good (see `rejected`). */
  rejectedRecords: number;
  rejectedBatches: number;
  /** Held when the queue was abandoned (see `abandon`). */
  abandonedRecords: number;
  /** Held now: waiting + retry + in flight. */
  heldRecords: number;
  heldBytes: number;
  inFlightRecords: number;
  deliveredBatches: number;
  failedAttempts: number;
}

interface Waiting<Tag> {
  range: RecordRange;
  tag: Tag | undefined;
  enqueuedAtMs: number;
}

export class ExportQueue<Tag = undefined> {
  /** Blocks before `head` are done (undefined: let go of as soon as they are). */
  private blocks: (Waiting<Tag> | undefined)[] = [];
  private head = 0;
  private readonly waiting = { records: 0, bytes: 0 };
  private retry: ExportBatch<Tag> | undefined;
  private inFlight: ExportBatch<Tag> | undefined;
  private nextSequence = 1;
  private readonly capacityRecords: number;
  private readonly counts = { accepted: 0, delivered: 0, dropped: 0, rejected: 0, rejectedBatches: 0, abandoned: 0, deliveredBatches: 0, failedAttempts: 0 };

  constructor(private readonly options: ExportQueueOptions) {
    this.capacityRecords = options.capacityRecords ?? Infinity;
    if (!(options.batchRecords >= 1)) throw new RangeError(`batchRecords ${options.batchRecords} must be >= 1`);
    if (!(options.capacityBytes >= 1)) throw new RangeError(`capacityBytes ${options.capacityBytes} must be >= 1`);
    if (!(this.capacityRecords >= options.batchRecords))
      throw new RangeError(`capacityRecords ${options.capacityRecords} must be >= batchRecords ${options.batchRecords}`);
  }

  /**
   * Accepts a block (kept by reference: the caller must not write to it
   * afterwards). Returns how many records were dropped to make room (the
   * oldest ones, possibly some of these). `tag` travels with them (see ExportBatch.tag).
   */
  push(block: EncodedRecords, tag?: Tag): number {
    if (block.count === 0) return 0;
    this.counts.accepted += block.count;
    this.blocks.push({ range: { block, from: 0, to: block.count }, tag, enqueuedAtMs: this.options.now() });
    this.waiting.records += block.count;
    this.waiting.bytes += block.size(0, block.count);
    return this.dropOverCapacity();
  }

  /**
   * The next batch to send, or undefined if one is in flight or none is due.
   * `flush` hands out whatever is waiting without waiting for the interval.
   */
  take(flush = false): ExportBatch<Tag> | undefined {
    if (this.inFlight) return undefined;
    if (this.retry) {
      this.inFlight = this.retry;
      this.retry = undefined;
      return this.inFlight;
    }
    if (this.waiting.records === 0 || (!flush && this.msUntilDue()! > 0)) return undefined;
    this.inFlight = this.cut(Math.min(this.waiting.records, this.options.batchRecords));
    return this.inFlight;
  }

  /** The in-flight batch arrived: its records leave the queue. */
  delivered(batch: ExportBatch<Tag>) {
    this.expectInFlight(batch);
    this.inFlight = undefined;
    settleRanges(batch.ranges);
    this.counts.delivered += batch.records;
    this.counts.deliveredBatches++;
  }

  /** The in-flight batch was not (known to be) delivered: it goes back to the front, unchanged. */
  failed(batch: ExportBatch<Tag>) {
    this.expectInFlight(batch);
    this.inFlight = undefined;
    this.counts.failedAttempts++;
    batch.attempts++;
    this.retry = batch;
  }

  /**
   * The collector refused the in-flight batch in a way a resend cannot fix
   * (invalid, too large): its records leave the queue, counted as rejected,
   * so one bad batch cannot block every later one.
   */
  rejected(batch: ExportBatch<Tag>) {
    this.expectInFlight(batch);
    this.inFlight = undefined;
    settleRanges(batch.ranges);
    this.counts.rejected += batch.records;
    this.counts.rejectedBatches++;
  }

  /**
   * Lets go of every record held (at exit, after the flush gave up): they are
   * counted as abandoned and their blocks become garbage. Returns how many.
   */
  abandon(): { records: number; bytes: number } {
    const records = this.held().records;
    const bytes = this.held().bytes;
    this.counts.abandoned += records;
    settleRanges(this.blocks.slice(this.head).map((waiting) => waiting!.range));
    settleRanges(this.retry?.ranges ?? []);
    settleRanges(this.inFlight?.ranges ?? []);
    this.blocks = [];
    this.head = 0;
    this.waiting.records = this.waiting.bytes = 0;
    this.retry = this.inFlight = undefined;
    return { records, bytes };
  }

  /**
   * ms until a batch is due: 0 if one is due now (a retry, a full batch, or the
   * oldest record has waited the interval), undefined if nothing is waiting.
   * Ignores the in-flight batch.
   */
  msUntilDue(): number | undefined {
    if (this.retry) return 0;
    if (this.waiting.records === 0) return undefined;
    if (this.waiting.records >= this.options.batchRecords) return 0;
    const oldest = this.blocks[this.head]!.enqueuedAtMs;
    return Math.max(0, oldest + this.options.batchIntervalMs - this.options.now());
  }

  stats(): ExportQueueStats {
    const held = this.held();
    const c = this.counts;
    return {
      acceptedRecords: c.accepted,
      deliveredRecords: c.delivered,
      droppedRecords: c.dropped,
      rejectedRecords: c.rejected,
      rejectedBatches: c.rejectedBatches,
      abandonedRecords: c.abandoned,
      heldRecords: held.records,
      heldBytes: held.bytes,
      inFlightRecords: this.inFlight?.records ?? 0,
      deliveredBatches: c.deliveredBatches,
      failedAttempts: c.failedAttempts,
    };
  }

  private held() {
    return {
      records: this.waiting.records + (this.retry?.records ?? 0) + (this.inFlight?.records ?? 0),
      bytes: this.waiting.bytes + (this.retry?.bytes ?? 0) + (this.inFlight?.bytes ?? 0),
    };
  }

  /** Drops the oldest records not in flight until both bounds hold; returns how many. */
  private dropOverCapacity(): number {
    let dropped = 0;
    for (;;) {
      const held = this.held();
      const recordsOver = held.records - this.capacityRecords;
      const bytesOver = held.bytes - this.options.capacityBytes;
      if (recordsOver <= 0 && bytesOver <= 0) break;
      const oldest = this.retry?.ranges[0] ?? this.blocks[this.head]?.range;
      if (!oldest) break; // only the in-flight batch is left; it was within capacity when cut
      const n = Math.max(recordsOver, oldest.block.recordsCovering(oldest.from, oldest.to, bytesOver));
      const removed = this.retry ? this.trimRetry(n) : this.removeWaiting(n).records;
      oldest.block.settle(removed);
      dropped += removed;
    }
    this.counts.dropped += dropped;
    return dropped;
  }

  /** Drops up to `count` records from the front of the retry batch's first range. */
  private trimRetry(count: number): number {
    const batch = this.retry!;
    const range = batch.ranges[0]!;
    const n = Math.min(count, range.to - range.from);
    batch.bytes -= range.block.size(range.from, range.from + n);
    batch.records -= n;
    range.from += n;
    if (range.from === range.to) batch.ranges.shift();
    if (batch.records === 0) this.retry = undefined;
    return n;
  }

  /** A new batch of the first `count` waiting records. */
  private cut(count: number): ExportBatch<Tag> {
    const ranges: RecordRange[] = [];
    let bytes = 0;
    let tag: Tag | undefined;
    for (let left = count; left > 0; ) {
      const front = this.blocks[this.head]!;
      const { block, from } = front.range;
      const to = Math.min(front.range.to, from + left);
      ranges.push({ block, from, to });
      tag = front.tag;
      bytes += this.removeWaiting(to - from).bytes;
      left -= to - from;
    }
    return { sequence: this.nextSequence++, ranges, records: count, bytes, tag, attempts: 0 };
  }

  /** Forgets up to `count` waiting records of the front block. */
  private removeWaiting(count: number): { records: number; bytes: number } {
    const front = this.blocks[this.head]!;
    const range = front.range;
    const n = Math.min(count, range.to - range.from);
    const bytes = range.block.size(range.from, range.from + n);
    range.from += n;
    this.waiting.records -= n;
    this.waiting.bytes -= bytes;
    if (range.from === range.to) this.nextBlock();
    return { records: n, bytes };
  }

  private nextBlock() {
    this.blocks[this.head++] = undefined;
    // Compact now and then so the list does not grow without bound.
    if (this.head === this.blocks.length) {
      this.blocks = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.blocks.length) {
      this.blocks = this.blocks.slice(this.head);
      this.head = 0;
    }
  }

  private expectInFlight(batch: ExportBatch<Tag>) {
    if (this.inFlight !== batch) throw new Error(`export batch ${batch.sequence} is not the batch in flight`);
  }
}
