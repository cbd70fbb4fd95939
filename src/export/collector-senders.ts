/**
 * How records go on the wire, per protocol: netflow.v1
 * CollectorService/Export (ours, with agent identity and sequence for
 * de-duplication) or pbflow Collector/Send (netobserv's FLP). A sender says
 * how a row is written as a record (the exporter encodes an eviction's rows
 * with it when they are exported, and queues those bytes) and wraps a batch
 * of queued records in a request when it is sent. The gRPC exporter owns
 * queueing and retries.
 */
import { create, toBinary } from "@bufbuild/protobuf";
import { WireType } from "@bufbuild/protobuf/wire";
import { createClient, type Transport } from "@connectrpc/connect";
import type { AgentIdentity } from "../api/agent-identity.ts";
import { CollectorService, type ExportRequest, ExportRequestSchema } from "../gen/netflow/v1/collector_pb.ts";
import { Collector, IPSchema, type Records, RecordsSchema } from "../gen/pbflow/flow_pb.ts";
import type { WriteRecord } from "./encoded-records.ts";
import { encodedParts, type ExportBatch } from "./export-queue.ts";
import { type EvictionInfo, writeEvictionFields, writeFlowEntry, writePbflowRecord } from "./flow-wire.ts";
import { agentIpMessage } from "./netobserv-record.ts";
import { WireWriter } from "./wire-writer.ts";

export type ExportProtocol = "netflow" | "netobserv";

export type { EvictionInfo };

export type FlowExportBatch = ExportBatch<EvictionInfo>;

export interface CallOptions {
  signal: AbortSignal;
  timeoutMs: number;
}

export interface BatchSender {
  /** "netflow.v1.CollectorService/Export", for log lines. */
  readonly method: string;
  /** Writes a row as this protocol's record (see encodeRecordBlocks). */
  readonly writeRecord: WriteRecord;
  /** Resolves once the collector acknowledged the batch; rejects with a ConnectError otherwise. */
  send(batch: FlowExportBatch, call: CallOptions): Promise<void>;
}

const NO_EVICTION: EvictionInfo = {
  evictedAtMs: 0,
  evictionMs: 0,
  counters: { ringbufPackets: 0, droppedPackets: 0, droppedBytes: 0, mapErrors: 0, truncated: 0, flowsInserted: 0 },
};

/**
 * The ExportRequest for one batch. A batch may hold records of several
 * evictions; evicted_at, eviction_duration and the (cumulative) kernel
 * counters are those of the newest of them.
 *
 * The FlowBatch (field 3: its length, the queued flows, then fields 2-4) is
 * assembled in `writer` and attached as an already-encoded field ($unknown):
 * serializing writes it verbatim after agent and sequence, so the request on
 * the wire is the same as with `batch` set (test/export/collector-senders.test.ts),
 * without a message object per flow. The bytes live in `writer` until its next use.
 */
export function exportRequest(writer: WireWriter, agent: AgentIdentity, batch: FlowExportBatch): ExportRequest {
  // The eviction fields go first into the scratch space, so the FlowBatch length is known before its body is copied.
  writer.pos = 0;
  writeEvictionFields(writer, batch.tag ?? NO_EVICTION);
  const trailer = writer.buf.slice(0, writer.pos);
  writer.pos = 0;
  writer.varint(batch.bytes + trailer.length);
  for (const part of encodedParts(batch)) writer.raw(part);
  writer.raw(trailer);
  const request = create(ExportRequestSchema, { agent, sequence: BigInt(batch.sequence) });
  request.$unknown = [{ no: 3, wireType: WireType.LengthDelimited, data: writer.takeView() }];
  return request;
}

/**
 * The pbflow Records for one batch. Records has one field, `entries` (1);
 * each queued part is a run of whole entries (tag 0x0a, length, body), so it
 * is attached as an already-encoded field 1 whose bytes are the part after
 * its first tag byte: written after its tag, that is exactly the run. No copy:
 * the views point into the queue's blocks.
 */
export function recordsRequest(batch: FlowExportBatch): Records {
  const request = create(RecordsSchema);
  request.$unknown = encodedParts(batch).map((part) => ({ no: 1, wireType: WireType.LengthDelimited, data: part.subarray(1) }));
  return request;
}

/** netflow.v1: one ExportRequest per batch, with agent identity and sequence for de-duplication. */
export function netflowSender(transport: Transport, agent: AgentIdentity): BatchSender {
  const client = createClient(CollectorService, transport);
  const requests = new WireWriter();
  return {
    method: `${CollectorService.typeName}/Export`,
    writeRecord: writeFlowEntry,
    async send(batch, call) {
      // One request at a time: the transport has serialized (copied) it before the next send reuses the writer.
      await client.export(exportRequest(requests, agent, batch), call);
    },
  };
}

/** pbflow: one Records per batch (no sequence in netobserv's protocol: a resend may be counted twice by FLP). */
export function netobservSender(transport: Transport, agentAddress: Uint8Array): BatchSender {
  const client = createClient(Collector, transport);
  const agentIp = toBinary(IPSchema, agentIpMessage(agentAddress));
  return {
    method: `${Collector.typeName}/Send`,
    writeRecord: (w, flows, i, names) => writePbflowRecord(w, flows, i, agentIp, names),
    async send(batch, call) {
      await client.send(recordsRequest(batch), call);
    },
  };
}
