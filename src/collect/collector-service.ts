/**
 * netflow.v1.CollectorService, the reference implementation: validate the
 * request, drop it if its (agent_id, sequence) was seen, else count it and
 * hand its flows to the sink as FlowColumns (fromBatchMessage), the batches
 * every sink takes. Invalid requests get INVALID_ARGUMENT naming
 * the field and value; nothing of them is stored.
 */
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { fromBatchMessage, FlowMessageError } from "../api/flow-message.ts";
import type { Exporter } from "../export/exporter.ts";
import type { FlowBatch } from "../flow/flow-record.ts";
import { CollectorService, type ExportRequest } from "../gen/netflow/v1/collector_pb.ts";
import type { BatchLedger } from "./batch-ledger.ts";

function invalid(message: string): ConnectError {
  return new ConnectError(message, Code.InvalidArgument);
}

function readBatch(request: ExportRequest): FlowBatch {
  if (!request.agent?.agentId) throw invalid("agent.agent_id is empty: every request names its agent");
  if (request.sequence < 1n) throw invalid(`sequence ${request.sequence} must be >= 1`);
  if (!request.batch) throw invalid("batch is missing");
  try {
    return fromBatchMessage(request.batch);
  } catch (error) {
    if (error instanceof FlowMessageError) throw invalid(`batch: ${error.message}`);
    throw error;
  }
}

/** `sink` gets each new batch once (collect uses the JSON-lines exporter). */
export function collectorService(ledger: BatchLedger, sink: Exporter): ServiceImpl<typeof CollectorService> {
  return {
    async export(request) {
      let batch: FlowBatch;
      try {
        batch = readBatch(request);
      } catch (error) {
        ledger.rejected++;
        throw error;
      }
      const { agentId, hostname, agentVersion } = request.agent!;
      if (!ledger.accept({ agentId, hostname, agentVersion }, request.sequence, batch.flows)) return { duplicate: true };
      try {
        await sink.export(batch);
      } catch (error) {
        // Not stored: the agent will resend it, and that resend must not count as a duplicate.
        ledger.release(agentId, request.sequence, batch.flows);
        throw new ConnectError(`storing the batch failed: ${error instanceof Error ? error.message : String(error)}`, Code.Unavailable);
      }
      return { duplicate: false };
    },
  };
}
