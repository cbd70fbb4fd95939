/**
 * `run --export grpc`: flows to a collector over gRPC (HTTP/2, h2c or TLS).
 *
 * export() only enqueues, so a slow or absent collector never blocks the
 * agent. One send loop drains the ExportQueue: a batch at a time, retried
 * with backoff (same sequence, same records) until the collector takes it.
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
import { parseIpAddress } from "../api/ip-prefix.ts";
import type { FlowBatch, FlowRecord } from "../flow/flow-record.ts";
import type { Logger } from "../log.ts";
import { hostPortText, type HostPort } from "../net/listen-address.ts";
import { createClosableClientTransport } from "../net/transport.ts";
import { hostAddress } from "./agent-address.ts";
import { Backoff, type BackoffOptions } from "./backoff.ts";
import { type BatchSender, type EvictionInfo, type ExportProtocol, type FlowExportBatch, netflowSender, netobservSender } from "./collector-senders.ts";
import { ExportQueue, type ExportQueueStats } from "./export-queue.ts";
import type { Exporter } from "./exporter.ts";

/** What `run` configures (RunConfig.export.grpc, built in src/cli/export-options.ts). */
export interface GrpcExportSettings {
  target: HostPort;
  protocol: ExportProtocol;
  /** Undefined: h2c (cleartext HTTP/2). */
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer; serverName?: string };
  queueRecords: number;
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
  queue: { capacityRecords: number; batchRecords: number; batchIntervalMs: number };
  flushTimeoutMs: number;
  backoff?: BackoffOptions;
  /** Deadline of one call; a slower collector is retried like an absent one. */
  requestTimeoutMs?: number;
  log: Logger;
  now?: () => number;
}

export interface GrpcExporterStats extends ExportQueueStats {
  state: CollectorState;
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
  private readonly queue: ExportQueue<FlowRecord, EvictionInfo>;
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
    log.info(`exporting flows to ${target} (${sender.method}, ${tls ? "TLS" : "h2c"}), batches of up to ${settings.batchRecords} records, queue of ${settings.queueRecords}`);
    return new GrpcExporter({
      target,
      sender,
      close,
      queue: { capacityRecords: settings.queueRecords, batchRecords: settings.batchRecords, batchIntervalMs: settings.batchIntervalMs },
      flushTimeoutMs: settings.flushTimeoutMs,
      backoff: settings.backoff,
      log,
    });
  }

  /** Enqueues the batch's records (kept by reference, not copied) and returns at once. */
  export(batch: FlowBatch) {
    if (this.disposed) throw new Error(`exporter grpc to ${this.options.target} is closed: ${batch.records.length} records not accepted`);
    if (batch.records.length === 0) return;
    const { records, ...eviction } = batch;
    const dropped = this.queue.push(records, eviction);
    if (dropped > 0) this.reportDrops(false);
    // The loop recomputes when the next batch is due (now, or after the interval).
    this.wakeIdle?.();
  }

  stats(): GrpcExporterStats {
    return { ...this.queue.stats(), state: this.state };
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
    const s = this.queue.stats();
    this.reportDrops(true);
    if (s.heldRecords > 0)
      this.options.log.error(
        `export to ${this.options.target}: ${s.heldRecords} records not delivered within --export-flush-timeout ${this.options.flushTimeoutMs} ms ` +
          `(${s.deliveredRecords} of ${s.acceptedRecords} delivered, ${s.droppedRecords} dropped, ${s.rejectedRecords} refused)`,
      );
    else if (s.acceptedRecords > 0)
      this.options.log.info(
        `export to ${this.options.target}: ${s.deliveredRecords} of ${s.acceptedRecords} records delivered in ${s.deliveredBatches} batches` +
          (s.droppedRecords + s.rejectedRecords > 0 ? ` (${s.droppedRecords} dropped, ${s.rejectedRecords} refused)` : ""),
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
        this.options.log.error(`export to ${this.options.target}: batch ${batch.sequence} of ${batch.records.length} records refused, not resent: ${reason.message}`);
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
      `export to ${this.options.target} failing: ${reason.message}; retrying with backoff, holding up to ${this.options.queue.capacityRecords} records meanwhile`,
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
    this.options.log.warn(
      `export queue full (--export-queue-records ${this.options.queue.capacityRecords}): dropped the ${fresh} oldest records ` +
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
