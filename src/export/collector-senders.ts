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
import { CollectorService, type ExportRequest, ExportRequestSchema } from "../gen/netflow/v1/collector_pb.ts";
import { Collector, IPSchema, type Records, RecordsSchema } from "../gen/pbflow/flow_pb.ts";
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
 * The ExportRequest for one batch. A batch may hold records of several
 * evictions; evicted_at, eviction_duration and the (cumulative) kernel
 * counters are those of the newest of them.
 *
 * The FlowBatch (field 3) is encoded by flow-wire.ts and attached as an
 * already-encoded field ($unknown): serializing writes it verbatim after
 * agent and sequence, so the request on the wire is the same as with `batch`
 * set (test/export/collector-senders.test.ts), at a fraction of the cost.
 * The bytes live in `writer` until its next use.
 */
export function exportRequest(writer: WireWriter, names: Map<string, Uint8Array>, agent: AgentIdentity, batch: FlowExportBatch): ExportRequest {
  const body = writer.beginMessage();
  writeFlowBatch(writer, batch.records, batch.tag ?? NO_EVICTION, names);
  writer.endMessage(body);
  const request = create(ExportRequestSchema, { agent, sequence: BigInt(batch.sequence) });
  request.$unknown = [{ no: 3, wireType: WireType.LengthDelimited, data: writer.takeView() }];
  return request;
}

/**
 * The pbflow Records for one batch, its entries encoded by flow-wire.ts.
 * Records has one field, `entries` (1); the encoded entries follow each other
 * as tag 0x0a, length, body. They are attached as a single already-encoded
 * field 1 whose bytes run from the first entry's length to the end: written
 * after its tag, that is exactly the repeated field (one view instead of one
 * per record, which costs more than the encoding). The bytes live in `writer`
 * until its next use.
 */
export function recordsRequest(writer: WireWriter, names: Map<string, Uint8Array>, agentIp: Uint8Array, records: readonly FlowRecord[]): Records {
  for (const r of records) writePbflowRecord(writer, r, agentIp, names);
  const request = create(RecordsSchema);
  if (records.length > 0) request.$unknown = [{ no: 1, wireType: WireType.LengthDelimited, data: writer.takeView().subarray(1) }];
  else writer.takeView();
  return request;
}

/** netflow.v1: one ExportRequest per batch, with agent identity and sequence for de-duplication. */
export function netflowSender(transport: Transport, agent: AgentIdentity): BatchSender {
  const client = createClient(CollectorService, transport);
  const writer = new WireWriter();
  const names = new Map<string, Uint8Array>();
  return {
    method: `${CollectorService.typeName}/Export`,
    async send(batch, call) {
      // One request at a time: the transport has serialized (copied) it before the next send reuses the writer.
      await client.export(exportRequest(writer, names, agent, batch), call);
    },
  };
}

/** pbflow: one Records per batch (no sequence in netobserv's protocol: a resend may be counted twice by FLP). */
export function netobservSender(transport: Transport, agentAddress: Uint8Array): BatchSender {
  const client = createClient(Collector, transport);
  const agentIp = toBinary(IPSchema, agentIpMessage(agentAddress));
  const writer = new WireWriter();
  const names = new Map<string, Uint8Array>();
  return {
    method: `${Collector.typeName}/Send`,
    async send(batch, call) {
      await client.send(recordsRequest(writer, names, agentIp, batch.records), call);
    },
  };
}
