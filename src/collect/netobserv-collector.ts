/**
 * pbflow.Collector/Send for `collect --protocol netobserv`: receives what
 * netobserv's agent (or `run --protocol netobserv`) sends, and hands it to the
 * same sink and ledger as netflow.v1. pbflow carries no agent id or sequence:
 * a sender is named by its agent_ip, and nothing can be de-duplicated.
 */
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import type { Exporter } from "../export/exporter.ts";
import { fromNetobservRecord, NetobservRecordError } from "../export/netobserv-record.ts";
import { FlowColumns } from "../flow/flow-columns.ts";
import { addressText } from "../flow/flow-format.ts";
import type { FlowRecord } from "../flow/flow-record.ts";
import { Collector, type IP, type Records } from "../gen/pbflow/flow_pb.ts";
import type { BatchLedger } from "./batch-ledger.ts";

function agentName(ip: IP | undefined): string {
  if (ip?.ipFamily.case === "ipv4") {
    const v = ip.ipFamily.value;
    return `${v >>> 24}.${(v >>> 16) & 0xff}.${(v >>> 8) & 0xff}.${v & 0xff}`;
  }
  if (ip?.ipFamily.case === "ipv6" && ip.ipFamily.value.length === 16) return addressText(ip.ipFamily.value, 0x86dd);
  return "unknown";
}

/** The request's entries as columns, the batches sinks take; an invalid entry is INVALID_ARGUMENT naming its index. */
function readFlows(request: Records): FlowColumns {
  const records = request.entries.map((entry, index): FlowRecord => {
    try {
      return fromNetobservRecord(entry);
    } catch (error) {
      if (error instanceof NetobservRecordError) throw new ConnectError(`entries ${index}: ${error.message}`, Code.InvalidArgument);
      throw error;
    }
  });
  return FlowColumns.fromRecords(records);
}

export function netobservCollector(ledger: BatchLedger, sink: Exporter): ServiceImpl<typeof Collector> {
  const requestsPerAgent = new Map<string, bigint>();
  return {
    async send(request) {
      let flows: FlowColumns;
      try {
        flows = readFlows(request);
      } catch (error) {
        ledger.rejected++;
        throw error;
      }
      const agent = agentName(request.entries[0]?.agentIp);
      // Counted per agent_ip; a running count stands in for the sequence pbflow lacks.
      const sequence = (requestsPerAgent.get(agent) ?? 0n) + 1n;
      requestsPerAgent.set(agent, sequence);
      ledger.accept({ agentId: `pbflow@${agent}`, hostname: agent, agentVersion: "netobserv" }, sequence, flows);
      try {
        await sink.export({
          flows,
          evictedAtMs: Date.now(),
          evictionMs: 0,
          // pbflow carries no kernel counters.
          counters: { ringbufPackets: 0, droppedPackets: 0, droppedBytes: 0, mapErrors: 0, truncated: 0, flowsInserted: 0 },
        });
      } catch (error) {
        ledger.release(`pbflow@${agent}`, sequence, flows); // not stored: not counted
        throw error;
      }
      return {};
    },
  };
}
