/**
 * How one export batch goes on the wire, per protocol: netflow.v1
 * CollectorService/Export (ours, with agent identity and sequence for
 * de-duplication) or pbflow Collector/Send (netobserv's FLP). The gRPC
 * exporter owns queueing and retries; a sender only encodes and calls.
 */
import { create } from "@bufbuild/protobuf";
import { createClient, type Transport } from "@connectrpc/connect";
import { msToDuration, msToTimestamp, toFlowMessage, toKernelCountersMessage } from "../api/flow-message.ts";
import type { AgentIdentity } from "../api/agent-identity.ts";
import type { FlowBatch, FlowRecord } from "../flow/flow-record.ts";
import { CollectorService, ExportRequestSchema } from "../gen/netflow/v1/collector_pb.ts";
import { FlowBatchSchema } from "../gen/netflow/v1/flow_pb.ts";
import { Collector } from "../gen/pbflow/flow_pb.ts";
import type { ExportBatch } from "./export-queue.ts";
import { agentIpMessage, toNetobservRecords } from "./netobserv-record.ts";

export type ExportProtocol = "netflow" | "netobserv";

/** What an export batch remembers of the evictions its records came from: the newest one's. */
export type EvictionInfo = Omit<FlowBatch, "records">;

export type FlowExportBatch = ExportBatch<FlowRecord, EvictionInfo>;

export interface CallOptions {
  signal: AbortSignal;
  timeoutMs: number;
}

export interface BatchSender {
  /** "netflow.v1.CollectorService/Export", for log lines. */
  readonly method: string;
  /** Resolves once the collector acknowledged the batch; rejects with a ConnectError otherwise. */
  send(batch: FlowExportBatch, call: CallOptions): Promise<void>;
}

const NO_EVICTION: EvictionInfo = {
  evictedAtMs: 0,
  evictionMs: 0,
  counters: { ringbufPackets: 0, droppedPackets: 0, droppedBytes: 0, mapErrors: 0, truncated: 0 },
};

/**
 * netflow.v1: one ExportRequest per batch. A batch may hold records of several
 * evictions; evicted_at, eviction_duration and the (cumulative) kernel
 * counters are those of the newest of them.
 */
export function netflowSender(transport: Transport, agent: AgentIdentity): BatchSender {
  const client = createClient(CollectorService, transport);
  return {
    method: `${CollectorService.typeName}/Export`,
    async send(batch, call) {
      const eviction = batch.tag ?? NO_EVICTION;
      const request = create(ExportRequestSchema, {
        agent,
        sequence: BigInt(batch.sequence),
        batch: create(FlowBatchSchema, {
          flows: batch.records.map(toFlowMessage),
          evictedAt: msToTimestamp(eviction.evictedAtMs),
          evictionDuration: msToDuration(eviction.evictionMs),
          kernel: toKernelCountersMessage(eviction.counters),
        }),
      });
      await client.export(request, call);
    },
  };
}

/** pbflow: one Records per batch (no sequence in netobserv's protocol: a resend may be counted twice by FLP). */
export function netobservSender(transport: Transport, agentAddress: Uint8Array): BatchSender {
  const client = createClient(Collector, transport);
  const agentIp = agentIpMessage(agentAddress);
  return {
    method: `${Collector.typeName}/Send`,
    async send(batch, call) {
      await client.send(toNetobservRecords(batch.records, agentIp), call);
    },
  };
}
