/**
 * Flows from a running agent through its Watch API (no privileges needed).
 * connect() checks the agent answers Status (failing with a one-line reason
 * otherwise); start() watches in the background: every flow (the view
 * filters itself, as the user types), watching again after a lost stream
 * while the header says so. The eviction interval and the interfaces are
 * the agent's Status, read again every few seconds.
 *
 * Timing: batches are sampled when received, not at the agent's eviction
 * time, since the rate windows run on this machine's clock, which may differ
 * from the agent's. The first batch of a stream holds traffic from before the
 * view watched (since the agent's previous eviction), so it is not counted:
 * counting starts when it arrives, and the next batch covers exactly one
 * interval from there.
 */
import { ConnectError } from "@connectrpc/connect";
import { fetchStatus, watchFlows, type AgentStatusReport, type WatchedBatch } from "../api/watch-client.ts";
import type { BatchListener, FlowSource, FlowSourceStatus } from "./flow-source.ts";

export interface RemoteFlowSourceOptions {
  /** Wall-clock ms. */
  clock?: () => number;
  /** Wait before watching again after a lost stream, ms. */
  retryMs?: number;
  /** How often the agent's status (interfaces, interval) is read again, ms. */
  statusRefreshMs?: number;
  /** Called once, when counting begins (the first batch of the first stream arrived). */
  onCounting?: () => void;
}

function reason(error: unknown): string {
  if (error instanceof ConnectError) return error.rawMessage || error.message;
  return error instanceof Error ? error.message : String(error);
}

export class RemoteFlowSource implements FlowSource {
  private readonly listeners = new Set<BatchListener>();
  private readonly abort = new AbortController();
  private readonly clock: () => number;
  private report: AgentStatusReport | undefined;
  private message: string | undefined;
  private droppedBatches = 0;
  private watching: Promise<void> | undefined;
  private statusTimer: ReturnType<typeof setInterval> | undefined;
  private stopped: Promise<void> | undefined;

  private countingSinceMs: number | undefined;

  private constructor(readonly target: string, private readonly options: RemoteFlowSourceOptions) {
    this.clock = options.clock ?? Date.now;
  }

  /** `target`: "host:port" or an http(s):// URL of the agent's API. Fails when the agent does not answer. */
  static async connect(target: string, options: RemoteFlowSourceOptions = {}): Promise<RemoteFlowSource> {
    const source = new RemoteFlowSource(target, options);
    try {
      source.report = await fetchStatus(target, { timeoutMs: 5000 });
    } catch (error) {
      throw new Error(`cannot reach the agent at ${target}: ${reason(error)} (is it running with --api ${target}?)`);
    }
    return source;
  }

  async start() {
    this.message = "waiting for the agent's next eviction";
    this.watching = this.watch();
    this.statusTimer = setInterval(() => void this.refreshStatus(), this.options.statusRefreshMs ?? 5000);
  }

  onBatch(listener: BatchListener): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  status(): FlowSourceStatus {
    const dropped = this.droppedBatches > 0 ? `the agent dropped ${this.droppedBatches} batches for this view (read too slowly)` : undefined;
    return {
      description: `agent ${this.target}`,
      host: this.report?.agent.hostname || undefined,
      interfaces: this.report?.interfaces.map((i) => i.name) ?? [],
      // 0: an agent too old to state it.
      intervalMs: this.report?.evictionIntervalMs || undefined,
      countingSinceMs: this.countingSinceMs,
      message: this.message ?? dropped,
      accounting: this.report?.accounting,
    };
  }

  stop(): Promise<void> {
    this.stopped ??= (async () => {
      this.abort.abort();
      clearInterval(this.statusTimer);
      await this.watching;
      this.listeners.clear();
    })();
    return this.stopped;
  }

  [Symbol.asyncDispose]() {
    return this.stop();
  }

  private async watch() {
    const signal = this.abort.signal;
    while (!signal.aborted) {
      let first = true;
      try {
        for await (const batch of watchFlows(this.target, {}, signal)) {
          this.deliver(batch, first);
          first = false;
        }
        if (signal.aborted) return;
        this.message = `the agent at ${this.target} ended the stream; watching again`;
      } catch (error) {
        if (signal.aborted) return;
        this.message = `lost the agent at ${this.target}: ${reason(error)}; retrying`;
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.options.retryMs ?? 1000);
        signal.addEventListener("abort", () => (clearTimeout(timer), resolve()), { once: true });
      });
    }
  }

  private deliver(batch: WatchedBatch, firstOfStream: boolean) {
    const now = this.clock();
    this.droppedBatches += batch.droppedBatches;
    if (firstOfStream) {
      // Traffic from before this stream: only its arrival time is used (see the file comment).
      if (this.countingSinceMs === undefined) {
        this.countingSinceMs = now;
        this.options.onCounting?.();
      }
      this.message = "waiting for the agent's next eviction";
      return;
    }
    this.message = undefined;
    const received = { flows: batch.flows, evictedAtMs: now, evictionMs: batch.evictionMs, counters: batch.counters };
    for (const listener of this.listeners) listener(received);
  }

  private async refreshStatus() {
    try {
      this.report = await fetchStatus(this.target, { signal: this.abort.signal, timeoutMs: 2000 });
    } catch {
      // The watch loop reports a lost agent; the last known interfaces and interval stay shown.
    }
  }
}
