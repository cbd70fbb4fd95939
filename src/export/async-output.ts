/**
 * `run`'s stdout: a bounded output to a file descriptor whose write() never
 * waits for the reader. A stalled or slow reader loses whole records (counted,
 * logged once per episode) and never holds up eviction, the API or shutdown.
 *
 * Mechanism (Bun 1.4): a worker thread does the blocking write(2) calls
 * (output-worker.ts), one chunk at a time, the chunk's ArrayBuffer
 * transferred, not copied. Why not the others:
 * - process.stdout / Bun.file(1).writer(): buffer without bound in the
 *   process and drop what is still buffered at process.exit().
 * - O_NONBLOCK + EAGAIN + a retry timer on the JS thread: the flag lives on
 *   the open file description, shared with the shell (a terminal left
 *   non-blocking breaks the next program reading it, and a SIGKILL leaves it
 *   set), and Bun has no readiness event for a bare fd: it would be polling.
 * - async fs.write(): runs on Bun's shared thread pool, where a stalled reader
 *   would hold a thread that file reads need, with no way to bound the wait.
 * A worker blocked in write(2) does not hold up process.exit() (measured:
 * exit 0.1 s after SIGTERM with the reader asleep), so shutdown takes at most
 * `flushTimeoutMs` whatever the reader does.
 *
 * Bound: the bytes accepted and not yet written (waiting, or being written)
 * stay <= `maxQueuedBytes`; a chunk that does not fit is dropped whole.
 * Accounting, always: records accepted = sent + dropped + queued. Each record
 * is one line; `sent` counts the lines the worker has put in the pipe, so on
 * a shutdown out of time the chunk being written is split exactly: its lines
 * already written are sent, the rest dropped (see output-worker.ts for why
 * the pipe then holds whole lines only).
 *
 * Ownership: owns its worker; dispose flushes for up to `flushTimeoutMs`,
 * reports, and stops it.
 */
import type { Logger } from "../log.ts";
import type { SinkStats } from "./exporter.ts";
import { LINES, SHARED_SLOTS, startOutputWorker, type WriteRequest, type WriteResult } from "./output-worker.ts";
import type { TextOutput } from "./text-output.ts";

/** 64 MiB: ~200,000 JSON lines (~330 B each), minutes of a busy node's flows for a reader that pauses. */
export const DEFAULT_OUTPUT_QUEUE_BYTES = 64 * 2 ** 20;

export interface AsyncOutputOptions {
  fd: number;
  /** Names the output in log lines: "stdout". */
  label: string;
  maxQueuedBytes?: number;
  /** How long dispose waits for the reader (--export-flush-timeout). */
  flushTimeoutMs: number;
  log: Logger;
  /** Called once when the reader goes away (EPIPE: `run | head`); later records are dropped, counted. */
  onClosed?: () => void;
  now?: () => number;
}

interface Chunk {
  /** Detached once handed to the worker: its size is kept in `size`. */
  bytes: Uint8Array;
  size: number;
  records: number;
  /** Lines before the first record that are not records (a table's header). */
  headerLines: number;
}

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

export class AsyncOutput implements TextOutput {
  private readonly worker: Worker;
  private readonly stopWorker: () => void;
  private readonly shared = new Int32Array(new SharedArrayBuffer(SHARED_SLOTS * 4));
  private readonly encoder = new TextEncoder();
  private readonly maxQueuedBytes: number;
  private readonly now: () => number;
  /** Accepted chunks not yet handed to the worker, oldest first. */
  private readonly waiting: Chunk[] = [];
  /** The chunk the worker is writing. */
  private inFlight: Chunk | undefined;
  private readonly queued = { bytes: 0, records: 0 };
  private readonly counts = { sent: 0, dropped: 0, errors: 0 };
  /** A chunk did not fit: no room until the worker frees some (so a sink stops formatting what would be dropped). */
  private full = false;
  /** The reader went away (EPIPE) or the worker died: nothing more will be written. */
  private closed = false;
  private disposed: Promise<void> | undefined;
  /** Set once dispose stopped waiting: later answers are for chunks already accounted for. */
  private gaveUp = false;
  /** Drops since the reader last caught up; undefined while it keeps up. */
  private episode: { startMs: number; dropped: number } | undefined;
  /** Write errors other than EPIPE since the last good write (logged once per run of failures). */
  private failing = 0;
  private readonly idleWaiters = new Set<() => void>();

  constructor(private readonly options: AsyncOutputOptions) {
    this.maxQueuedBytes = options.maxQueuedBytes ?? DEFAULT_OUTPUT_QUEUE_BYTES;
    if (!(this.maxQueuedBytes >= 1)) throw new RangeError(`${options.label}: maxQueuedBytes ${this.maxQueuedBytes} must be >= 1`);
    this.now = options.now ?? Date.now;
    ({ worker: this.worker, stop: this.stopWorker } = startOutputWorker(options.fd, this.shared));
    this.worker.onmessage = (event: MessageEvent<WriteResult>) => this.answered(event.data);
    this.worker.onerror = (event) => this.workerFailed(event.message);
  }

  hasRoom(): boolean {
    return !this.full && !this.closed && this.disposed === undefined;
  }

  write(text: string, records: number, headerLines = 0) {
    if (!this.hasRoom()) return this.drop(records);
    const bytes = this.encoder.encode(text);
    if (this.queued.bytes + bytes.length > this.maxQueuedBytes) {
      this.full = true;
      return this.drop(records);
    }
    this.waiting.push({ bytes, size: bytes.length, records, headerLines });
    this.queued.bytes += bytes.length;
    this.queued.records += records;
    this.next();
  }

  drop(records: number) {
    if (records <= 0) return;
    this.counts.dropped += records;
    // A closed output or a shutdown has its own report; an episode is about a slow reader.
    if (this.closed || this.disposed) return;
    if (this.episode) {
      this.episode.dropped += records;
      return;
    }
    this.episode = { startMs: this.now(), dropped: records };
    // Announced once the current export() has returned, so the line counts that whole batch's drops.
    queueMicrotask(() => {
      if (!this.episode || this.closed) return;
      this.options.log.warn(
        `${this.options.label}: reader not keeping up: dropped ${this.episode.dropped} records ` +
          `(${mib(this.queued.bytes)} waiting, at most ${mib(this.maxQueuedBytes)}); dropping more until it catches up`,
      );
    });
  }

  stats(): SinkStats {
    return {
      queuedRecords: this.queued.records,
      queuedBytes: this.queued.bytes,
      sentRecords: this.counts.sent,
      droppedRecords: this.counts.dropped,
      sendErrors: this.counts.errors,
    };
  }

  /** Waits until every accepted chunk is written, for up to `timeoutMs`; true if it was. */
  flush(timeoutMs: number): Promise<boolean> {
    if (!this.inFlight || this.closed) return Promise.resolve(!this.inFlight);
    return new Promise((resolve) => {
      const done = (written: boolean) => {
        clearTimeout(timer);
        this.idleWaiters.delete(idle);
        resolve(written);
      };
      const idle = () => done(!this.inFlight);
      const timer = setTimeout(() => done(false), timeoutMs);
      this.idleWaiters.add(idle);
    });
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.disposed ??= this.shutdown();
    return this.disposed;
  }

  private async shutdown() {
    const written = await this.flush(this.options.flushTimeoutMs);
    const before = { sent: this.counts.sent, queued: this.queued.records };
    this.gaveUp = true;
    this.stopWorker();
    this.abandonQueued();
    const { sent, dropped } = this.counts;
    const { label, log, flushTimeoutMs } = this.options;
    const summary = `${sent} of ${sent + dropped} records written, ${dropped} dropped`;
    if (!written && !this.closed) {
      const notWritten = before.queued - (sent - before.sent);
      log.error(`${label}: ${notWritten} records not written within --export-flush-timeout ${flushTimeoutMs} ms (the reader is not reading); ${summary}`);
    } else if (dropped > 0) log.warn(`${label}: ${summary} (${this.closed ? "reader went away" : "reader not keeping up"})`);
    else log.debug(`${label}: all ${sent} records written`);
  }

  /** Hands the oldest waiting chunk to the worker when it is free. */
  private next() {
    if (this.inFlight || this.closed) return;
    const chunk = this.waiting.shift();
    if (!chunk) return;
    this.inFlight = chunk;
    Atomics.store(this.shared, LINES, 0);
    const request: WriteRequest = { bytes: chunk.bytes };
    // TextEncoder's result owns its ArrayBuffer (never a shared pool, as Buffer's may be): safe to transfer.
    this.worker.postMessage(request, [chunk.bytes.buffer as ArrayBuffer]);
  }

  /**
   * What will not be written (closed, or out of time) becomes dropped; of the
   * chunk in flight, the records whose lines are already written count as sent.
   * Call after stopping the worker, so that no further piece starts.
   */
  private abandonQueued() {
    const chunk = this.inFlight;
    if (chunk) {
      const written = Math.min(Math.max(Atomics.load(this.shared, LINES) - chunk.headerLines, 0), chunk.records);
      this.counts.sent += written;
      this.queued.records -= written;
    }
    this.counts.dropped += this.queued.records;
    this.queued.records = 0;
    this.queued.bytes = 0;
    this.waiting.length = 0;
    this.inFlight = undefined;
  }

  private answered(result: WriteResult) {
    const chunk = this.inFlight;
    // An answer for a chunk already given up (reader gone, or shutdown out of time).
    if (!chunk || this.gaveUp) return;
    this.inFlight = undefined;
    this.full = false;
    this.queued.bytes -= chunk.size;
    this.queued.records -= chunk.records;
    if (result.error === undefined) this.written(chunk);
    else this.writeFailed(chunk, result.error);
    this.next();
    if (!this.inFlight) for (const idle of [...this.idleWaiters]) idle();
  }

  private written(chunk: Chunk) {
    this.counts.sent += chunk.records;
    if (this.failing > 0) {
      this.options.log.info(`${this.options.label}: writes succeed again after ${this.failing} failed`);
      this.failing = 0;
    }
    if (this.episode && !this.inFlight && this.waiting.length === 0) {
      const seconds = ((this.now() - this.episode.startMs) / 1000).toFixed(1);
      this.options.log.info(`${this.options.label}: recovered after ${seconds} s: the reader caught up; ${this.episode.dropped} records were dropped meanwhile`);
      this.episode = undefined;
    }
  }

  private writeFailed(chunk: Chunk, code: string) {
    this.counts.errors++;
    this.counts.dropped += chunk.records;
    if (code === "EPIPE") {
      this.closed = true;
      this.abandonQueued();
      this.options.onClosed?.();
      return;
    }
    // EIO, ENOSPC, …: may pass (a full disk freed); the next chunk is tried.
    if (this.failing++ === 0)
      this.options.log.error(`${this.options.label}: writing flows failed (${code}); dropping them (counted) until a write succeeds`);
  }

  private workerFailed(message: string) {
    if (this.closed) return;
    this.counts.errors++;
    this.abandonQueued();
    this.closed = true;
    this.options.log.error(`${this.options.label}: output thread failed (${message}); further flows are dropped (counted)`);
    for (const idle of [...this.idleWaiters]) idle();
  }
}
