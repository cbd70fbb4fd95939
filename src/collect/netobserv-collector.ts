/**
 * pbflow.Collector/Send for `collect --protocol netobserv`: receives what
 * netobserv's agent (or `run --protocol netobserv`) sends, and hands it to the
 * same sink and ledger as netflow.v1. pbflow carries no agent id or sequence:
 * a sender is named by its agent_ip, and nothing can be de-duplicated.
 *
 * Drop causes arrive as numbers only (pkt_drop_latest_drop_cause): they are
 * named by this host's kernel (its BTF), which is right when the sender runs
 * the same kernel and may name another reason otherwise (the enum is
 * renumbered between releases). Without BTF a cause reads as its number.
 */
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { type DropReasons, readDropReasons } from "../bpf/drop-reasons.ts";
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

/** This host's kernel's drop reason names; none (causes read as numbers) when it has no BTF or no such enum. */
export function kernelDropReasons(): DropReasons {
  try {
    return readDropReasons();
  } catch {
    return new Map();
  }
}

/** The request's entries as columns, the batches sinks take; an invalid entry is INVALID_ARGUMENT naming its index. */
function readFlows(request: Records, reasons: () => DropReasons): FlowColumns {
  // The names are read only once a record has drops: most senders never send any.
  const names = request.entries.some((entry) => entry.pktDropPackets > 0n) ? reasons() : undefined;
  const records = request.entries.map((entry, index): FlowRecord => {
    try {
      return fromNetobservRecord(entry, names);
    } catch (error) {
      if (error instanceof NetobservRecordError) throw new ConnectError(`entries ${index}: ${error.message}`, Code.InvalidArgument);
      throw error;
    }
  });
  return FlowColumns.fromRecords(records);
}

/** `dropReasons` names drop causes (read once, on the first record with drops); tests pass their own. */
export function netobservCollector(ledger: BatchLedger, sink: Exporter, dropReasons: () => DropReasons = kernelDropReasons): ServiceImpl<typeof Collector> {
  const requestsPerAgent = new Map<string, bigint>();
  let reasons: DropReasons | undefined;
  const names = () => (reasons ??= dropReasons());
  return {
    async send(request) {
      let flows: FlowColumns;
      try {
        flows = readFlows(request, names);
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
