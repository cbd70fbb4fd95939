/** /healthz and /readyz rules on a clock the test moves by hand. */
import { describe, expect, test } from "bun:test";
import { AgentHealth, HEALTH_BOUNDS, type HealthInput } from "../../src/health/agent-health.ts";
import type { SinkStats } from "../../src/export/exporter.ts";

function setup() {
  let now = 1000;
  const health = new AgentHealth(() => now);
  const advance = (ms: number) => (now += ms);
  return { health, advance };
}

const idleSink: SinkStats = { queuedRecords: 0, queuedBytes: 0, sentRecords: 0, droppedRecords: 0, sendErrors: 0, sentMessages: 0 };

function input(overrides: Partial<HealthInput> = {}): HealthInput {
  return { evictionIntervalMs: 5000, interfaces: [{}, {}], notAttached: [], sinks: [], ...overrides };
}

describe("readiness", () => {
  test("neither live nor ready while loading, nor until the first eviction; both after", () => {
    const { health, advance } = setup();
    expect(health.readiness(undefined)).toEqual({ ok: false, reason: "not ready: loading and attaching the programs" });
    expect(health.liveness(undefined)).toEqual({ ok: false, reason: "starting: loading and attaching the programs" });
    health.started();
    expect(health.liveness(input())).toEqual({ ok: false, reason: "starting: waiting for the first eviction (due within 5.0 s)" });
    expect(health.readiness(input())).toEqual({ ok: false, reason: "not ready: waiting for the first eviction (due within 5.0 s)" });
    advance(5000);
    health.evicted();
    expect(health.liveness(input())).toEqual({ ok: true, reason: "ok" });
    expect(health.readiness(input())).toEqual({ ok: true, reason: "ready: 2 interface(s) attached, 1 eviction(s)" });
  });

  test("an interface whose attach failed keeps it unready, named", () => {
    const { health } = setup();
    health.started();
    health.evicted();
    expect(health.readiness(input({ notAttached: ["eth1", "wg0"] }))).toEqual({ ok: false, reason: "not ready: attaching failed on eth1, wg0 (the log says why)" });
  });

  test("an unhealthy agent is not ready either", () => {
    const { health, advance } = setup();
    health.started();
    health.evicted();
    advance(30_001);
    expect(health.readiness(input())).toEqual({ ok: false, reason: "not ready: no eviction for 30.0 s (one is due every 5.0 s; the bound is 30.0 s)" });
  });
});

describe("evictions must keep coming", () => {
  test("the bound: 3 intervals, at least 30 s; counted from the start before the first eviction", () => {
    const { health, advance } = setup();
    expect(health.evictionStallMs(5000)).toBe(30_000);
    expect(health.evictionStallMs(60_000)).toBe(180_000);
    expect(HEALTH_BOUNDS).toEqual({ evictionStallIntervals: 3, minEvictionStallMs: 30_000, sinkFailureMs: 300_000 });
    health.started();
    advance(30_000);
    expect(health.liveness(input())).toEqual({ ok: false, reason: "starting: waiting for the first eviction (due within 5.0 s)" });
    advance(1);
    expect(health.liveness(input())).toEqual({ ok: false, reason: "unhealthy: no eviction since the start for 30.0 s (one is due every 5.0 s; the bound is 30.0 s)" });
    health.evicted();
    expect(health.liveness(input()).ok).toBe(true);
    advance(180_000);
    expect(health.liveness(input({ evictionIntervalMs: 60_000 })).ok).toBe(true);
    advance(1);
    expect(health.liveness(input({ evictionIntervalMs: 60_000 }))).toEqual({
      ok: false,
      reason: "unhealthy: no eviction for 180.0 s (one is due every 60.0 s; the bound is 180.0 s)",
    });
  });
});

describe("a sink failing continuously", () => {
  const grpc = (s: Partial<SinkStats>) => ({ name: "grpc", ...idleSink, ...s });

  /** Evictions every 5 s, so the stall rule stays quiet, with the sink's counters at each. */
  function run(health: AgentHealth, advance: (ms: number) => void, states: Partial<SinkStats>[]) {
    for (const s of states) {
      advance(5000);
      health.evicted();
      health.observeSinks([grpc(s)]);
    }
  }

  test("errors growing with nothing delivered, records waiting, for more than 300 s: unhealthy, naming the sink", () => {
    const { health, advance } = setup();
    health.started();
    run(health, advance, [{ sentRecords: 100 }]);
    // Fails from here on: the first failing observation is 5 s later.
    const failing = Array.from({ length: 61 }, (_, i) => ({ sentRecords: 100, sendErrors: i + 1, queuedRecords: 50 }));
    run(health, advance, failing);
    // 61 observations 5 s apart: the failure was first seen 300 s ago.
    expect(health.liveness(input({ sinks: [grpc(failing.at(-1)!)] }))).toEqual({ ok: true, reason: "ok" });
    advance(1);
    expect(health.liveness(input({ sinks: [grpc(failing.at(-1)!)] }))).toEqual({
      ok: false,
      reason: "unhealthy: export sink grpc has failed every attempt for 300.0 s (the bound is 300.0 s)",
    });
    // One delivery: healthy again at once.
    run(health, advance, [{ sentRecords: 101, sendErrors: 61, queuedRecords: 49 }]);
    expect(health.liveness(input({ sinks: [grpc({ sentRecords: 101, sendErrors: 61, queuedRecords: 49 })] })).ok).toBe(true);
  });

  test("backoff pauses without new errors do not end a failure; an empty queue does", () => {
    const { health, advance } = setup();
    health.started();
    run(health, advance, [{ sendErrors: 1, queuedRecords: 10 }, { sendErrors: 2, queuedRecords: 10 }]);
    // Waiting out a backoff: no new error, records still queued: still failing since the second observation.
    run(health, advance, Array.from({ length: 60 }, () => ({ sendErrors: 2, queuedRecords: 10 })));
    advance(1);
    expect(health.liveness(input({ sinks: [grpc({ sendErrors: 2, queuedRecords: 10 })] })).ok).toBe(false);
    // The queue emptied (records dropped or expired): nothing is failing now.
    run(health, advance, [{ sendErrors: 2, queuedRecords: 0, droppedRecords: 10 }]);
    expect(health.liveness(input({ sinks: [grpc({ sendErrors: 2, queuedRecords: 0, droppedRecords: 10 })] })).ok).toBe(true);
  });

  test("occasional errors between deliveries never add up", () => {
    const { health, advance } = setup();
    health.started();
    const states = Array.from({ length: 200 }, (_, i) => ({ sentRecords: Math.floor(i / 2) * 10, sendErrors: i, queuedRecords: 5 }));
    run(health, advance, states);
    expect(health.liveness(input({ sinks: [grpc(states.at(-1)!)] })).ok).toBe(true);
  });
});
