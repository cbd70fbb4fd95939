/**
 * /healthz and /readyz: the rules, on an injected monotonic clock (tests
 * drive it by hand).
 *
 * Ready once the agent is loaded, every selected interface present is attached
 * (none whose attach failed; interfaces of a link type the parser does not read
 * are not selectable and do not count), and the first eviction has run, and
 * while it is healthy.
 *
 * Healthy unless:
 * - no eviction has completed for EVICTION_STALL_INTERVALS eviction intervals
 *   and at least MIN_EVICTION_STALL_MS (counted from the start before the
 *   first one): the timers stopped, or an eviction is stuck;
 * - an export sink has failed continuously for longer than SINK_FAILURE_MS:
 *   its send errors grew while nothing was delivered and records waited.
 *   Sinks are observed at each eviction and each probe, so "continuously"
 *   is at that resolution.
 * Before the first eviction both answer 503: while the agent loads (in
 * practice the JS thread is busy loading, and answers once it is done) and
 * until the first eviction, due one interval after the attach. A long
 * --cache-active-timeout therefore wants a startup probe in front of the
 * liveness probe (deploy/kubernetes has one).
 */
import type { SinkStats } from "../export/exporter.ts";

export const HEALTH_BOUNDS = {
  evictionStallIntervals: 3,
  /** A 1M-flow eviction keeps the agent busy for seconds: never sooner than this. */
  minEvictionStallMs: 30_000,
  /** Well past the gRPC backoff's 10 s ceiling: a collector restart is not a failure of the agent. */
  sinkFailureMs: 300_000,
};

export type HealthBounds = typeof HEALTH_BOUNDS;

export interface HealthVerdict {
  ok: boolean;
  /** One line: "ok", or what is wrong. */
  reason: string;
}

/** What the rules read of the agent's status. */
export interface HealthInput {
  evictionIntervalMs: number;
  interfaces: readonly unknown[];
  notAttached: readonly string[];
  sinks: readonly ({ name: string } & SinkStats)[];
}

interface SinkState {
  delivered: number;
  errors: number;
  /** Clock ms of the first observation that saw errors grow with nothing delivered since; undefined while not failing. */
  failingSince: number | undefined;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

export class AgentHealth {
  private startedAt: number | undefined;
  private lastEvictionAt: number | undefined;
  private evictions = 0;
  private readonly sinks = new Map<string, SinkState>();

  constructor(
    /** Monotonic ms (performance.now in production). */
    private readonly clock: () => number = () => performance.now(),
    readonly bounds: HealthBounds = HEALTH_BOUNDS,
  ) {}

  /** The agent is loaded and its timers run. */
  started() {
    this.startedAt ??= this.clock();
  }

  /** An eviction completed. */
  evicted() {
    this.lastEvictionAt = this.clock();
    this.evictions++;
  }

  /** Records the sinks' counters now; call at each eviction and probe. */
  observeSinks(sinks: HealthInput["sinks"]) {
    const now = this.clock();
    for (const sink of sinks) {
      const delivered = sink.sentRecords + (sink.sentMessages ?? 0);
      const before = this.sinks.get(sink.name);
      let failingSince = before?.failingSince;
      if (!before || delivered > before.delivered) failingSince = undefined;
      else if (sink.sendErrors > before.errors) failingSince ??= now;
      else if (sink.queuedRecords === 0) failingSince = undefined; // nothing waits: nothing is failing
      this.sinks.set(sink.name, { delivered, errors: sink.sendErrors, failingSince });
    }
  }

  /** The eviction-stall bound for an agent evicting every `intervalMs`. */
  evictionStallMs(intervalMs: number): number {
    return Math.max(this.bounds.evictionStallIntervals * intervalMs, this.bounds.minEvictionStallMs);
  }

  /** /healthz. `status` is undefined while the agent loads. */
  liveness(status: HealthInput | undefined): HealthVerdict {
    if (!status || this.startedAt === undefined) return { ok: false, reason: "starting: loading and attaching the programs" };
    this.observeSinks(status.sinks);
    const now = this.clock();
    const since = this.lastEvictionAt ?? this.startedAt;
    const stall = this.evictionStallMs(status.evictionIntervalMs);
    if (now - since > stall) {
      const what = this.lastEvictionAt === undefined ? "no eviction since the start" : "no eviction";
      return { ok: false, reason: `unhealthy: ${what} for ${seconds(now - since)} (one is due every ${seconds(status.evictionIntervalMs)}; the bound is ${seconds(stall)})` };
    }
    if (this.lastEvictionAt === undefined)
      return { ok: false, reason: `starting: waiting for the first eviction (due within ${seconds(status.evictionIntervalMs)})` };
    for (const [name, sink] of this.sinks) {
      if (sink.failingSince !== undefined && now - sink.failingSince > this.bounds.sinkFailureMs)
        return { ok: false, reason: `unhealthy: export sink ${name} has failed every attempt for ${seconds(now - sink.failingSince)} (the bound is ${seconds(this.bounds.sinkFailureMs)})` };
    }
    return { ok: true, reason: "ok" };
  }

  /** /readyz: healthy, and no selected interface left unattached. */
  readiness(status: HealthInput | undefined): HealthVerdict {
    if (!status || this.startedAt === undefined) return { ok: false, reason: "not ready: loading and attaching the programs" };
    if (status.notAttached.length > 0) return { ok: false, reason: `not ready: attaching failed on ${status.notAttached.join(", ")} (the log says why)` };
    const live = this.liveness(status);
    if (!live.ok) return { ok: false, reason: `not ready: ${live.reason.replace(/^(unhealthy|starting): /, "")}` };
    return { ok: true, reason: `ready: ${status.interfaces.length} interface(s) attached, ${this.evictions} eviction(s)` };
  }
}
