/**
 * `run --export grpc`: flows to a collector over gRPC (HTTP/2, h2c or TLS).
 *
 * export() encodes the eviction's rows into the protocol's bytes (the
 * columns are reused by the next eviction) and enqueues them, so a slow or
 * absent collector never blocks the agent. One send loop drains the
 * ExportQueue: a batch at a time, retried with backoff (same sequence, same
 * records) until the collector takes it.
 * State changes are logged once ("failing", "recovered"), not every retry;
 * drops (queue full) are logged as they start and then at most every 10 s.
 *
 * Ownership: the exporter owns its queue, its send loop and its HTTP/2
 * connection. Disposing it (the Agent does, after its final eviction) flushes
 * for at most `flushTimeoutMs`, then aborts what is still in flight, reports
 * what was not delivered, and closes the connection.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { agentIdentity } from "../api/agent-identity.ts";
import { parseIpAddress } from "../net/ip-prefix.ts";
import type { FlowBatch } from "../flow/flow-record.ts";
import type { Logger } from "../log.ts";
import { hostPortText, type HostPort } from "../net/listen-address.ts";
import { createClosableClientTransport } from "../net/transport.ts";
import { hostAddress } from "./agent-address.ts";
import { Backoff, type BackoffOptions } from "./backoff.ts";
import { type BatchSender, type EvictionInfo, type ExportProtocol, type FlowExportBatch, netflowSender, netobservSender } from "./collector-senders.ts";
import { BlockBuffers, encodeRecordBlocks } from "./encoded-records.ts";
import { ExportQueue } from "./export-queue.ts";
import type { Exporter, SinkStats } from "./exporter.ts";

/** What `run` configures (RunConfig.export.grpc, built in src/cli/export-options.ts). */
export interface GrpcExportSettings {
  target: HostPort;
  protocol: ExportProtocol;
  /** Undefined: h2c (cleartext HTTP/2). */
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer; serverName?: string };
  /** Most bytes of encoded records held (--export-queue-bytes). */
  queueBytes: number;
  /** Most records held, when --export-queue-records is given. */
  queueRecords?: number;
  batchRecords: number;
  batchIntervalMs: number;
  flushTimeoutMs: number;
  /** netobserv's agent_ip: 4 or 16 bytes; the host's address when unset. */
  agentIp?: Uint8Array;
  /** Retry delays; 200 ms doubling up to 10 s when unset (no flag: tests shorten it). */
  backoff?: BackoffOptions;
}

export interface GrpcExporterOptions {
  /** "127.0.0.1:9999", for log lines. */
  target: string;
  sender: BatchSender;
  /** Closes the connection (called once, at the end of dispose). */
  close?: () => void;
  queue: { capacityBytes: number; capacityRecords?: number; batchRecords: number; batchIntervalMs: number };
  flushTimeoutMs: number;
  backoff?: BackoffOptions;
  /** Deadline of one call; a slower collector is retried like an absent one. */
  requestTimeoutMs?: number;
  log: Logger;
  now?: () => number;
}

/** stats() and what is behind its totals, for tests, the bench and the exit report. */
export interface GrpcExportDetails extends SinkStats {
  acceptedRecords: number;
  /** Dropped because the queue was full (the rest of droppedRecords: refused, or not flushed at exit). */
  queueFullRecords: number;
  /** Refused by the collector for good (INVALID_ARGUMENT…), not resent. */
  refusedRecords: number;
  /** Still queued when the flush at exit gave up. */
  notFlushedRecords: number;
  sentBatches: number;
  collector: CollectorState;
}

/** "unknown" until the first call ends. */
type CollectorState = "unknown" | "up" | "down";

const DROP_REPORT_INTERVAL_MS = 10_000;

/**
 * Codes a resend cannot fix: the batch itself is refused. Everything else
 * (UNAVAILABLE, DEADLINE_EXCEEDED, UNIMPLEMENTED from a collector being
 * redeployed, auth errors an operator may fix…) is retried.
 */
const REFUSED = new Set([Code.InvalidArgument, Code.ResourceExhausted, Code.OutOfRange]);

export class GrpcExporter implements Exporter {
  readonly name = "grpc";
  private readonly queue: ExportQueue<EvictionInfo>;
  private readonly buffers = new BlockBuffers();
  private readonly backoff: Backoff;
  private readonly stop = new AbortController();
  private readonly loop: Promise<void>;
  private state: CollectorState = "unknown";
  private downSinceMs = 0;
  private flushing = false;
  private disposed: Promise<void> | undefined;
  private wakeIdle: (() => void) | undefined;
  private readonly drops = { reportedTotal: 0, lastReportMs: -Infinity };
  private readonly now: () => number;

  constructor(private readonly options: GrpcExporterOptions) {
    this.now = options.now ?? Date.now;
    this.queue = new ExportQueue({ ...options.queue, now: this.now });
    this.backoff = new Backoff(options.backoff ?? { minMs: 200, maxMs: 10_000 });
    this.loop = this.sendLoop();
  }

  /** Builds the transport and the protocol's sender for `settings`. */
  static connect(settings: GrpcExportSettings, log: Logger): GrpcExporter {
    const target = hostPortText(settings.target);
    const tls = settings.tls;
    const { transport, close } = createClosableClientTransport(`${tls ? "https" : "http"}://${target}`, {
      unaryOnly: true,
      // Without --tls-server-name, node:http2 checks the certificate against the --target host (SNI only for names).
      nodeOptions: tls ? { ca: tls.ca, cert: tls.cert, key: tls.key, servername: tls.serverName } : undefined,
    });
    const sender =
      settings.protocol === "netobserv"
        ? netobservSender(transport, settings.agentIp ?? parseIpAddress(hostAddress())!)
        : netflowSender(transport, agentIdentity());
    log.info(
      `exporting flows to ${target} (${sender.method}, ${tls ? "TLS" : "h2c"}), batches of up to ${settings.batchRecords} records, ` +
        `queue of up to ${queueBound(settings.queueBytes, settings.queueRecords)}`,
    );
    return new GrpcExporter({
      target,
      sender,
      close,
      queue: { capacityBytes: settings.queueBytes, capacityRecords: settings.queueRecords, batchRecords: settings.batchRecords, batchIntervalMs: settings.batchIntervalMs },
      flushTimeoutMs: settings.flushTimeoutMs,
      backoff: settings.backoff,
      log,
    });
  }

  /** Encodes the batch's rows, enqueues the bytes and returns (the columns are not kept). */
  export(batch: FlowBatch) {
    const { flows } = batch;
    if (this.disposed) throw new Error(`exporter grpc to ${this.options.target} is closed: ${flows.count} records not accepted`);
    if (flows.count === 0) return;
    const eviction: EvictionInfo = { evictedAtMs: batch.evictedAtMs, evictionMs: batch.evictionMs, counters: { ...batch.counters } };
    let dropped = 0;
    const blocks = encodeRecordBlocks(flows, this.options.sender.writeRecord, this.buffers, (block) => (dropped += this.queue.push(block, eviction)));
    this.buffers.keepFor(blocks);
    if (dropped > 0) this.reportDrops(false);
    // The loop recomputes when the next batch is due (now, or after the interval).
    this.wakeIdle?.();
  }

  stats(): SinkStats {
    const { queuedRecords, queuedBytes, sentRecords, droppedRecords, sendErrors, sentBatches } = this.details();
    return { queuedRecords, queuedBytes, sentRecords, droppedRecords, sendErrors, sentMessages: sentBatches };
  }

  details(): GrpcExportDetails {
    const q = this.queue.stats();
    return {
      queuedRecords: q.heldRecords,
      queuedBytes: q.heldBytes,
      sentRecords: q.deliveredRecords,
      droppedRecords: q.droppedRecords + q.rejectedRecords + q.abandonedRecords,
      sendErrors: q.failedAttempts + q.rejectedBatches,
      acceptedRecords: q.acceptedRecords,
      queueFullRecords: q.droppedRecords,
      refusedRecords: q.rejectedRecords,
      notFlushedRecords: q.abandonedRecords,
      sentBatches: q.deliveredBatches,
      collector: this.state,
    };
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.disposed ??= this.shutdown();
    return this.disposed;
  }

  private async shutdown() {
    this.flushing = true;
    this.wakeIdle?.();
    const deadline = setTimeout(() => this.stop.abort(), this.options.flushTimeoutMs);
    await this.loop;
    clearTimeout(deadline);
    this.stop.abort();
    this.options.close?.();
    this.reportDrops(true);
    // What the flush could not send is let go of now and counted as dropped (SinkStats).
    const notFlushed = this.queue.abandon().records;
    const s = this.details();
    if (notFlushed > 0)
      this.options.log.error(
        `export to ${this.options.target}: ${notFlushed} records not delivered within --export-flush-timeout ${this.options.flushTimeoutMs} ms ` +
          `(${s.sentRecords} of ${s.acceptedRecords} delivered, ${s.queueFullRecords} dropped, ${s.refusedRecords} refused)`,
      );
    else if (s.acceptedRecords > 0)
      this.options.log.info(
        `export to ${this.options.target}: ${s.sentRecords} of ${s.acceptedRecords} records delivered in ${s.sentBatches} batches` +
          (s.queueFullRecords + s.refusedRecords > 0 ? ` (${s.queueFullRecords} dropped, ${s.refusedRecords} refused)` : ""),
      );
  }

  private async sendLoop() {
    while (!this.stop.signal.aborted) {
      if (this.flushing && this.queue.stats().heldRecords === 0) return;
      const batch = this.queue.take(this.flushing);
      if (!batch) {
        await this.idle(this.queue.msUntilDue());
        continue;
      }
      if (!(await this.sendOnce(batch)) && !this.stop.signal.aborted) await this.sleep(this.backoff.nextDelayMs());
    }
  }

  /** One attempt; true when the batch left the queue (delivered or refused for good). */
  private async sendOnce(batch: FlowExportBatch): Promise<boolean> {
    try {
      await this.options.sender.send(batch, { signal: this.stop.signal, timeoutMs: this.options.requestTimeoutMs ?? 10_000 });
    } catch (error) {
      const reason = ConnectError.from(error);
      if (this.stop.signal.aborted) {
        this.queue.failed(batch);
        return false;
      }
      if (REFUSED.has(reason.code)) {
        this.queue.rejected(batch);
        this.options.log.error(`export to ${this.options.target}: batch ${batch.sequence} of ${batch.records} records refused, not resent: ${reason.message}`);
        return true;
      }
      this.queue.failed(batch);
      this.markDown(reason);
      return false;
    }
    this.queue.delivered(batch);
    this.backoff.reset();
    this.markUp();
    return true;
  }

  private markDown(reason: ConnectError) {
    if (this.state === "down") {
      this.options.log.debug(`export to ${this.options.target}: attempt ${this.backoff.attempts + 1} failed: ${reason.message}`);
      return;
    }
    this.state = "down";
    this.downSinceMs = this.now();
    this.options.log.warn(
      `export to ${this.options.target} failing: ${reason.message}; retrying with backoff, ` +
        `holding up to ${queueBound(this.options.queue.capacityBytes, this.options.queue.capacityRecords)} meanwhile`,
    );
  }

  private markUp() {
    if (this.state === "down") {
      const s = this.queue.stats();
      this.options.log.info(
        `export to ${this.options.target} recovered after ${((this.now() - this.downSinceMs) / 1000).toFixed(1)} s; ${s.heldRecords} records still queued`,
      );
    }
    this.state = "up";
  }

  /** Drops are never silent: logged when they start, then at most every 10 s, and at the end. */
  private reportDrops(final: boolean) {
    const total = this.queue.stats().droppedRecords;
    const fresh = total - this.drops.reportedTotal;
    if (fresh === 0 || (!final && this.now() - this.drops.lastReportMs < DROP_REPORT_INTERVAL_MS)) return;
    this.drops.reportedTotal = total;
    this.drops.lastReportMs = this.now();
    const { capacityBytes, capacityRecords } = this.options.queue;
    const flags = `--export-queue-bytes ${sizeText(capacityBytes)}` + (capacityRecords === undefined ? "" : `, --export-queue-records ${capacityRecords}`);
    this.options.log.warn(
      `export queue full (${flags}): dropped the ${fresh} oldest records ` +
        `(${total} since start) while ${this.options.target} was ${this.state === "down" ? "unreachable" : "slower than the agent"}`,
    );
  }

  /** Waits until a batch may be due: `ms`, or until export() or dispose wakes it (no `ms`: nothing waiting). */
  private idle(ms: number | undefined): Promise<void> {
    return this.wait(ms, true);
  }

  /** Backoff: only dispose's deadline cuts it short, new records do not. */
  private sleep(ms: number): Promise<void> {
    return this.wait(ms, false);
  }

  private wait(ms: number | undefined, wakeable: boolean): Promise<void> {
    const signal = this.stop.signal;
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        if (this.wakeIdle === done) this.wakeIdle = undefined;
        resolve();
      };
      const timer = ms === undefined ? undefined : setTimeout(done, ms);
      signal.addEventListener("abort", done);
      if (wakeable) this.wakeIdle = done;
    });
  }
}

/** 268435456 → "256MiB", 1500 → "1500B": sizes as --export-queue-bytes accepts them. */
export function sizeText(bytes: number): string {
  for (const [unit, size] of [["GiB", 2 ** 30], ["MiB", 2 ** 20], ["KiB", 2 ** 10]] as const) if (bytes >= size && bytes % size === 0) return `${bytes / size}${unit}`;
  return `${bytes}B`;
}

/** "256MiB of records", or "256MiB or 1000 records" when both bounds are set. */
function queueBound(bytes: number, records: number | undefined): string {
  return records === undefined ? `${sizeText(bytes)} of records` : `${sizeText(bytes)} or ${records} records`;
}
