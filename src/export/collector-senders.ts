/**
 * How one export batch goes on the wire, per protocol: netflow.v1
 * CollectorService/Export (ours, with agent identity and sequence for
 * de-duplication) or pbflow Collector/Send (netobserv's FLP). The gRPC
 * exporter owns queueing and retries; a sender only encodes and calls.
 */
import { create, toBinary } from "@bufbuild/protobuf";
import { WireType } from "@bufbuild/protobuf/wire";
import { createClient, type Transport } from "@connectrpc/connect";
import type { AgentIdentity } from "../api/agent-identity.ts";
import type { FlowBatch, FlowRecord } from "../flow/flow-record.ts";
import { CollectorService, ExportRequestSchema } from "../gen/netflow/v1/collector_pb.ts";
import { Collector, IPSchema, RecordsSchema } from "../gen/pbflow/flow_pb.ts";
import type { ExportBatch } from "./export-queue.ts";
import { writeFlowBatch, writePbflowRecord } from "./flow-wire.ts";
import { agentIpMessage } from "./netobserv-record.ts";
import { WireWriter } from "./wire-writer.ts";

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
 *
 * The FlowBatch (field 3) is encoded by flow-wire.ts and handed to Connect as
 * an already-encoded field ($unknown): toBinary writes it verbatim after
 * agent and sequence, so the request on the wire is the same as with
 * `batch` set, at a fraction of the cost.
 */
export function netflowSender(transport: Transport, agent: AgentIdentity): BatchSender {
  const client = createClient(CollectorService, transport);
  const writer = new WireWriter();
  const names = new Map<string, Uint8Array>();
  return {
    method: `${CollectorService.typeName}/Export`,
    async send(batch, call) {
      const body = writer.beginMessage();
      writeFlowBatch(writer, batch.records, batch.tag ?? NO_EVICTION, names);
      writer.endMessage(body);
      const request = create(ExportRequestSchema, { agent, sequence: BigInt(batch.sequence) });
      // A view on the writer's buffer: serialized (copied) by toBinary before the next send can write to it.
      request.$unknown = [{ no: 3, wireType: WireType.LengthDelimited, data: writer.takeView() }];
      await client.export(request, call);
    },
  };
}

/**
 * pbflow: one Records per batch (no sequence in netobserv's protocol: a resend
 * may be counted twice by FLP). Entries are encoded by flow-wire.ts and passed
 * as already-encoded field-1 values, like netflowSender's batch.
 */
export function netobservSender(transport: Transport, agentAddress: Uint8Array): BatchSender {
  const client = createClient(Collector, transport);
  const agentIp = toBinary(IPSchema, agentIpMessage(agentAddress));
  const writer = new WireWriter();
  const names = new Map<string, Uint8Array>();
  return {
    method: `${Collector.typeName}/Send`,
    async send(batch, call) {
      const ends: number[] = [];
      for (const r of batch.records) {
        writePbflowRecord(writer, r, agentIp, names);
        ends.push(writer.pos);
      }
      const bytes = writer.takeView();
      const request = create(RecordsSchema);
      // Each entry is tag 0x0a (field 1, length-delimited), then its length and body.
      request.$unknown = ends.map((end, i) => ({ no: 1, wireType: WireType.LengthDelimited, data: bytes.subarray((ends[i - 1] ?? 0) + 1, end) }));
      await client.send(request, call);
    },
  };
}
