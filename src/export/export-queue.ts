/**
 * The records an exporter has accepted but not yet delivered, bounded.
 *
 * Algorithm: pushed arrays are kept as chunks (no copy) in arrival order.
 * `take()` hands out one batch at a time: a batch that failed before, else a
 * new batch cut from the front of the chunks once `batchRecords` are waiting
 * or the oldest record has waited `batchIntervalMs` (or on flush). Each new
 * batch gets the next sequence number; a failed batch comes back whole, with
 * the same sequence number and records, so a collector that did receive it
 * can drop the resend. A batch the collector refuses for good is `rejected`:
 * it leaves the queue, counted. At most one batch is in flight.
 *
 * Capacity counts every record held: waiting, in a batch to retry, in flight.
 * Over capacity the oldest records not in flight are dropped (the retry batch
 * first, trimmed from its front: what remains is a subset, so de-duplication
 * by sequence number stays correct) and counted in `droppedRecords`.
 *
 * Pure: no timers, no I/O; the clock is injected.
 */

export interface ExportQueueOptions {
  /** Most records held at once (waiting + retry + in flight). */
  capacityRecords: number;
  /** Most records in one batch. */
  batchRecords: number;
  /** Longest a record waits for a batch to fill. */
  batchIntervalMs: number;
  /** Monotonic-enough ms clock; Date.now in production, a counter in tests. */
  now: () => number;
}

export interface ExportBatch<T, Tag = undefined> {
  /** 1, 2, 3, … per queue; a resend keeps its number. */
  readonly sequence: number;
  /** The records of the batch; do not mutate. */
  records: T[];
  /** The tag pushed with the newest records of the batch (the exporter: that eviction's time and counters). */
  readonly tag: Tag | undefined;
  /** How many times this batch was handed out before (0 on the first try). */
  attempts: number;
}

export interface ExportQueueStats {
  acceptedRecords: number;
  deliveredRecords: number;
  droppedRecords: number;
  /** Records of batches the collector refused for good (see `rejected`). */
  rejectedRecords: number;
  /** Held now: waiting + retry + in flight. */
  heldRecords: number;
  inFlightRecords: number;
  deliveredBatches: number;
  failedAttempts: number;
}

interface Chunk<T, Tag> {
  records: T[];
  tag: Tag | undefined;
  /** Index of the first record still waiting in `records`. */
  offset: number;
  enqueuedAtMs: number;
}

export class ExportQueue<T, Tag = undefined> {
  private chunks: Chunk<T, Tag>[] = [];
  private head = 0;
  private waiting = 0;
  private retry: ExportBatch<T, Tag> | undefined;
  private inFlight: ExportBatch<T, Tag> | undefined;
  private nextSequence = 1;
  private readonly counts = { accepted: 0, delivered: 0, dropped: 0, rejected: 0, deliveredBatches: 0, failedAttempts: 0 };

  constructor(private readonly options: ExportQueueOptions) {
    if (!(options.batchRecords >= 1)) throw new RangeError(`batchRecords ${options.batchRecords} must be >= 1`);
    if (!(options.capacityRecords >= options.batchRecords))
      throw new RangeError(`capacityRecords ${options.capacityRecords} must be >= batchRecords ${options.batchRecords}`);
  }

  /**
   * Accepts `records` (kept by reference: the caller must not mutate the array
   * afterwards). Returns how many records were dropped to make room (the
   * oldest ones, possibly some of these). `tag` travels with them (see ExportBatch.tag).
   */
  push(records: readonly T[], tag?: Tag): number {
    if (records.length === 0) return 0;
    this.counts.accepted += records.length;
    this.chunks.push({ records: records as T[], tag, offset: 0, enqueuedAtMs: this.options.now() });
    this.waiting += records.length;
    const excess = this.held() - this.options.capacityRecords;
    if (excess <= 0) return 0;
    this.dropOldest(excess);
    this.counts.dropped += excess;
    return excess;
  }

  /**
   * The next batch to send, or undefined if one is in flight or none is due.
   * `flush` hands out whatever is waiting without waiting for the interval.
   */
  take(flush = false): ExportBatch<T, Tag> | undefined {
    if (this.inFlight) return undefined;
    if (this.retry) {
      this.inFlight = this.retry;
      this.retry = undefined;
      return this.inFlight;
    }
    if (this.waiting === 0 || (!flush && this.msUntilDue()! > 0)) return undefined;
    const tagged = { tag: undefined as Tag | undefined };
    const records = this.cut(Math.min(this.waiting, this.options.batchRecords), tagged);
    this.inFlight = { sequence: this.nextSequence++, records, tag: tagged.tag, attempts: 0 };
    return this.inFlight;
  }

  /** The in-flight batch arrived: its records leave the queue. */
  delivered(batch: ExportBatch<T, Tag>) {
    this.expectInFlight(batch);
    this.inFlight = undefined;
    this.counts.delivered += batch.records.length;
    this.counts.deliveredBatches++;
  }

  /** The in-flight batch was not (known to be) delivered: it goes back to the front, unchanged. */
  failed(batch: ExportBatch<T, Tag>) {
    this.expectInFlight(batch);
    this.inFlight = undefined;
    this.counts.failedAttempts++;
    batch.attempts++;
    if (batch.records.length > 0) this.retry = batch;
  }

  /**
   * The collector refused the in-flight batch in a way a resend cannot fix
   * (invalid, too large): its records leave the queue, counted as rejected,
   * so one bad batch cannot block every later one.
   */
  rejected(batch: ExportBatch<T, Tag>) {
    this.expectInFlight(batch);
    this.inFlight = undefined;
    this.counts.rejected += batch.records.length;
  }

  /**
   * ms until a batch is due: 0 if one is due now (a retry, a full batch, or the
   * oldest record has waited the interval), undefined if nothing is waiting.
   * Ignores the in-flight batch.
   */
  msUntilDue(): number | undefined {
    if (this.retry) return 0;
    if (this.waiting === 0) return undefined;
    if (this.waiting >= this.options.batchRecords) return 0;
    const oldest = this.chunks[this.head]!.enqueuedAtMs;
    return Math.max(0, oldest + this.options.batchIntervalMs - this.options.now());
  }

  /** Records held and not in flight (waiting + retry). */
  get pendingRecords(): number {
    return this.waiting + (this.retry?.records.length ?? 0);
  }

  stats(): ExportQueueStats {
    return {
      acceptedRecords: this.counts.accepted,
      deliveredRecords: this.counts.delivered,
      droppedRecords: this.counts.dropped,
      rejectedRecords: this.counts.rejected,
      heldRecords: this.held(),
      inFlightRecords: this.inFlight?.records.length ?? 0,
      deliveredBatches: this.counts.deliveredBatches,
      failedAttempts: this.counts.failedAttempts,
    };
  }

  private held(): number {
    return this.pendingRecords + (this.inFlight?.records.length ?? 0);
  }

  private dropOldest(count: number) {
    if (this.retry) {
      const fromRetry = Math.min(count, this.retry.records.length);
      this.retry.records = this.retry.records.slice(fromRetry);
      if (this.retry.records.length === 0) this.retry = undefined;
      count -= fromRetry;
    }
    this.skip(count);
  }

  /** Removes `count` waiting records from the front and returns them; `tagged.tag` gets the last chunk's tag. */
  private cut(count: number, tagged: { tag: Tag | undefined }): T[] {
    const out: T[] = new Array(count);
    let filled = 0;
    while (filled < count) {
      const chunk = this.chunks[this.head]!;
      const n = Math.min(count - filled, chunk.records.length - chunk.offset);
      for (let i = 0; i < n; i++) out[filled + i] = chunk.records[chunk.offset + i]!;
      filled += n;
      tagged.tag = chunk.tag;
      this.advance(chunk, n);
    }
    return out;
  }

  /** Forgets `count` waiting records from the front. */
  private skip(count: number) {
    while (count > 0) {
      const chunk = this.chunks[this.head]!;
      const n = Math.min(count, chunk.records.length - chunk.offset);
      count -= n;
      this.advance(chunk, n);
    }
  }

  private advance(chunk: Chunk<T, Tag>, n: number) {
    chunk.offset += n;
    this.waiting -= n;
    if (chunk.offset < chunk.records.length) return;
    // Let go of the eviction's array now, not at the next compaction.
    chunk.records = [];
    chunk.offset = 0;
    this.head++;
    // Compact now and then so the chunk list does not grow without bound.
    if (this.head > 1024 && this.head * 2 > this.chunks.length) {
      this.chunks = this.chunks.slice(this.head);
      this.head = 0;
    }
    if (this.head === this.chunks.length) {
      this.chunks = [];
      this.head = 0;
    }
  }

  private expectInFlight(batch: ExportBatch<T, Tag>) {
    if (this.inFlight !== batch) throw new Error(`export batch ${batch.sequence} is not the batch in flight`);
  }
}
