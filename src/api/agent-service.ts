/**
 * netflow.v1.AgentService over a running agent: Watch streams every eviction
 * (filtered here, on the server), Status reports agent.status().
 *
 * Each Watch stream subscribes to the agent with a BatchBuffer: the agent's
 * listener only pushes a reference, filtering and encoding happen at the
 * client's pace, and a client slower than the evictions loses the oldest
 * batches (counted in WatchResponse.dropped_batches) instead of slowing the agent.
 */
import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import type { AgentStatus, BatchListener } from "../agent/agent.ts";
import type { FlowBatch } from "../flow/flow-record.ts";
import { AgentService, AttachKind, type StatusResponse, StatusResponseSchema } from "../gen/netflow/v1/agent_pb.ts";
import type { AgentIdentity } from "./agent-identity.ts";
import { BatchBuffer } from "./batch-buffer.ts";
import { compileFlowFilter } from "./flow-filter.ts";
import { msToDuration, msToTimestamp, toBatchMessage, toKernelCountersMessage } from "./flow-message.ts";

/** What the service needs of the agent (the Agent class provides it). */
export interface FlowSource {
  subscribe(listener: BatchListener): () => void;
  status(): AgentStatus;
}

export interface AgentApiOptions {
  /** Batches buffered per Watch stream before the oldest are dropped. */
  watchBufferBatches?: number;
}

export const DEFAULT_WATCH_BUFFER_BATCHES = 8;

export interface AgentApi {
  readonly implementation: ServiceImpl<typeof AgentService>;
  /** Watch streams open now. */
  readonly watchers: number;
  /**
   * Ends every open Watch stream once it has sent what it holds (the agent is
   * stopping, its final eviction published); resolves when all have ended or
   * after `timeoutMs`.
   */
  endStreams(timeoutMs?: number): Promise<void>;
}

export function statusResponse(status: AgentStatus, identity: AgentIdentity, watchers: number): StatusResponse {
  const last = status.lastEviction;
  return create(StatusResponseSchema, {
    agent: identity,
    startedAt: msToTimestamp(status.startedAtMs),
    interfaces: status.interfaces.map((i) => ({
      name: i.name,
      ifindex: i.ifindex,
      kind: i.kind === "tcx" ? AttachKind.TCX : AttachKind.TC,
    })),
    maxFlows: status.maxFlows,
    lastEviction: last && { at: msToTimestamp(last.atMs), flows: BigInt(last.flows), duration: msToDuration(last.durationMs) },
    totals: {
      evictions: BigInt(status.totals.evictions),
      flows: BigInt(status.totals.flows),
      packets: BigInt(status.totals.packets),
      bytes: BigInt(status.totals.bytes),
    },
    kernel: toKernelCountersMessage(status.kernel),
    watchers,
  });
}

export function createAgentApi(source: FlowSource, identity: AgentIdentity, options: AgentApiOptions = {}): AgentApi {
  const buffers = new Set<BatchBuffer<FlowBatch>>();
  let ended = false;
  const implementation: ServiceImpl<typeof AgentService> = {
    async *watch(request, context) {
      const matches = compileFlowFilter(request.filter); // throws INVALID_ARGUMENT before the stream starts
      const buffer = new BatchBuffer<FlowBatch>(options.watchBufferBatches ?? DEFAULT_WATCH_BUFFER_BATCHES);
      if (ended) buffer.end();
      buffers.add(buffer);
      const unsubscribe = source.subscribe((batch) => buffer.push(batch));
      try {
        for await (const { item, dropped } of buffer.drain(context.signal)) {
          yield { batch: toBatchMessage(item, item.records.filter(matches)), droppedBatches: BigInt(dropped) };
        }
        // Server shutdown aborts with UNAVAILABLE: tell the client, do not end as if done.
        if (context.signal.aborted) throw context.signal.reason;
      } finally {
        unsubscribe();
        buffers.delete(buffer);
      }
    },
    status() {
      return statusResponse(source.status(), identity, buffers.size);
    },
  };
  return {
    implementation,
    get watchers() {
      return buffers.size;
    },
    async endStreams(timeoutMs = 1000) {
      ended = true;
      for (const buffer of buffers) buffer.end();
      const deadline = Date.now() + timeoutMs;
      while (buffers.size > 0 && Date.now() < deadline) await Bun.sleep(10);
    },
  };
}
