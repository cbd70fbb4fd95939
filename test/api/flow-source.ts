/** A FlowSource that publishes the batches a test gives it, the way Agent.evictAndExport does. */
import type { AgentStatus, BatchListener } from "../../src/agent/agent.ts";
import type { FlowSource } from "../../src/api/agent-service.ts";
import type { FlowBatch } from "../../src/flow/flow-record.ts";

export class PublishedFlows implements FlowSource {
  private readonly listeners = new Set<BatchListener>();
  statusNow: AgentStatus = {
    startedAtMs: 1_764_000_000_000,
    interfaces: [
      { name: "veth-a", ifindex: 7, kind: "tcx" },
      { name: "eth0", ifindex: 2, kind: "tc" },
    ],
    maxFlows: 32768,
    evictionIntervalMs: 5000,
    flowMaps: { capacity: 4096, fill: 1234, kernelMemoryBytes: 3_276_800, resizes: 2, earlyEvictions: 1 },
    sinks: [
      { name: "json", queuedRecords: 0, queuedBytes: 0, sentRecords: 40, droppedRecords: 0, sendErrors: 0, sentMessages: 0 },
      { name: "grpc", queuedRecords: 12, queuedBytes: 1536, sentRecords: 28, droppedRecords: 7, sendErrors: 3, sentMessages: 5 },
    ],
    lastEviction: { atMs: 1_764_000_005_000, flows: 12, durationMs: 0.75 },
    totals: { evictions: 3, flows: 40, packets: 1000, bytes: 2 ** 40 },
    kernel: { ringbufPackets: 1, droppedPackets: 2, droppedBytes: 3, mapErrors: 4, truncated: 5, flowsInserted: 6 },
    accounting: [
      { name: "eth0", ifindex: 2, direction: "ingress", packets: 700, bytes: 2 ** 40 - 4000, checkedPackets: 650, kernelPackets: 650 },
      { name: "eth0", ifindex: 2, direction: "egress", packets: 300, bytes: 4000, checkedPackets: 0, kernelPackets: 0 },
    ],
    notAttached: ["wg0"],
    sampling: 1,
  };

  subscribe(listener: BatchListener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get subscribers() {
    return this.listeners.size;
  }

  /**
   * Calls every listener with `batch`, synchronously, as the agent does; then
   * overwrites its columns, as the agent's next eviction reuses them: a
   * listener that kept them instead of encoding or copying sees garbage.
   */
  publish(batch: FlowBatch) {
    for (const listener of this.listeners) listener(batch);
    batch.flows.keys.fill(0xa5);
    batch.flows.metrics.fill(0xa5);
    batch.flows.startMs.fill(NaN);
    batch.flows.endMs.fill(NaN);
  }

  status() {
    return structuredClone(this.statusNow);
  }
}

/** Resolves when `check` holds, polling every 10 ms; fails after `ms`. */
export async function until(check: () => boolean, ms = 3000, what = "condition") {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(10);
  }
}
