#!/usr/bin/env bun
/**
 * What a /metrics scrape costs the agent's thread: renderAgentMetrics over a
 * Status with 2, 100 and 1,000 attached interfaces (each with both
 * directions), median of 1,000 renders after warm-up. No root needed.
 *   bun bench/metrics-render.ts
 */
import type { AgentStatus } from "../src/agent/agent.ts";
import { renderAgentMetrics } from "../src/metrics/agent-metrics.ts";
import { EVICTION_SECONDS_BUCKETS, Histogram } from "../src/metrics/histogram.ts";

function statusWith(interfaces: number): AgentStatus {
  return {
    startedAtMs: Date.now(),
    interfaces: Array.from({ length: interfaces }, (_, i) => ({ name: `veth${i}`, ifindex: i + 2, kind: "tcx" as const })),
    maxFlows: 1_048_576,
    evictionIntervalMs: 5000,
    flowMaps: { capacity: 65536, fill: 40_000, kernelMemoryBytes: 12_000_000, resizes: 3, earlyEvictions: 1 },
    sinks: [{ name: "grpc", queuedRecords: 10, queuedBytes: 1280, sentRecords: 1e9, droppedRecords: 0, sendErrors: 2, sentMessages: 2e5 }],
    lastEviction: { atMs: Date.now(), flows: 40_000, durationMs: 30 },
    totals: { evictions: 1e5, flows: 1e9, packets: 1e12, bytes: 1e15 },
    kernel: { ringbufPackets: 0, droppedPackets: 0, droppedBytes: 0, mapErrors: 0, truncated: 0, flowsInserted: 1e9 },
    accounting: Array.from({ length: interfaces * 2 }, (_, i) => ({
      name: `veth${i >> 1}`,
      ifindex: (i >> 1) + 2,
      direction: i & 1 ? ("egress" as const) : ("ingress" as const),
      packets: 1e9 + i,
      bytes: 1e12 + i,
      checkedPackets: 1e9,
      kernelPackets: 1e9 + 3,
    })),
    notAttached: [], sampling: 1,
  };
}

const histogram = new Histogram(EVICTION_SECONDS_BUCKETS);
for (const ms of [3, 5, 8, 30, 70]) histogram.observe(ms / 1000);
for (const interfaces of [2, 100, 1000]) {
  const input = { version: "0.1.0", status: statusWith(interfaces), watchers: 1, evictionSeconds: histogram.series(), ready: true, healthy: true };
  for (let i = 0; i < 200; i++) renderAgentMetrics(input);
  const times: number[] = [];
  let bytes = 0;
  for (let i = 0; i < 1000; i++) {
    const started = performance.now();
    bytes = renderAgentMetrics(input).length;
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  console.log(`${interfaces} interfaces: ${times[500]!.toFixed(2)} ms a render (median), ${(bytes / 1024).toFixed(0)} KiB`);
}
