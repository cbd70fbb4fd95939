/**
 * netflow.v1.AgentService over a running agent: Watch streams every eviction
 * (filtered here, on the server), Status reports agent.status().
 *
 * Watch streams are fed by WatchStreams: each eviction's matching rows are
 * encoded from the columns into bytes while the agent's listener runs, and
 * sent at the client's pace; a client slower than the evictions loses the
 * oldest batches (counted in WatchResponse.dropped_batches) instead of
 * slowing the agent.
 */
import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import type { AgentStatus, BatchListener } from "../agent/agent.ts";
import { accountingRatio } from "../agent/interface-accounting.ts";
import { Direction } from "../gen/netflow/v1/flow_pb.ts";
import { AgentService, AttachKind, type StatusResponse, StatusResponseSchema } from "../gen/netflow/v1/agent_pb.ts";
import type { AgentIdentity } from "./agent-identity.ts";
import { compileFlowFilter } from "./flow-filter.ts";
import { msToDuration, msToTimestamp, toKernelCountersMessage } from "./flow-message.ts";
import { wantsJson, watchResponse } from "./watch-response.ts";
import { WatchStreams } from "./watch-streams.ts";

/** What the service needs of the agent (the Agent class provides it). */
export interface FlowSource {
  /** `listener` gets each eviction; its columns are valid only during the call. */
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
  const maps = status.flowMaps;
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
    evictionInterval: msToDuration(status.evictionIntervalMs),
    flowMaps: {
      capacity: maps.capacity,
      fill: BigInt(maps.fill),
      ceiling: status.maxFlows,
      kernelMemoryBytes: BigInt(maps.kernelMemoryBytes),
      resizes: BigInt(maps.resizes),
      earlyEvictions: BigInt(maps.earlyEvictions),
      flowsInserted: BigInt(status.kernel.flowsInserted),
    },
    sinks: status.sinks.map((sink) => ({
      name: sink.name,
      queuedRecords: BigInt(sink.queuedRecords),
      queuedBytes: BigInt(sink.queuedBytes),
      sentRecords: BigInt(sink.sentRecords),
      droppedRecords: BigInt(sink.droppedRecords),
      sentMessages: BigInt(sink.sentMessages ?? 0),
      sendErrors: BigInt(sink.sendErrors),
    })),
    accounting: status.accounting.map((a) => ({
      interface: a.name,
      ifindex: a.ifindex,
      direction: a.direction === "egress" ? Direction.EGRESS : Direction.INGRESS,
      packets: BigInt(a.packets),
      bytes: BigInt(a.bytes),
      checkedPackets: BigInt(a.checkedPackets),
      kernelPackets: BigInt(a.kernelPackets),
      accountingRatio: accountingRatio(a),
    })),
    notAttached: status.notAttached,
    sampling: status.sampling,
    filteredPackets: BigInt(status.filter?.total.packets ?? 0),
    filteredBytes: BigInt(status.filter?.total.bytes ?? 0),
    dns: status.dns && {
      port: status.dns.port,
      queries: BigInt(status.dns.queries),
      responses: BigInt(status.dns.responses),
      matched: BigInt(status.dns.matched),
      malformed: BigInt(status.dns.malformed),
    },
    rtt: status.rtt && { connections: BigInt(status.rtt.connections), flows: BigInt(status.rtt.flows) },
    drops: status.drops && {
      unavailable: status.drops.unavailable ?? "",
      recorded: BigInt(status.drops.recorded),
      mapFull: BigInt(status.drops.mapFull),
      notIp: BigInt(status.drops.notIp),
      noDevice: BigInt(status.drops.noDevice),
      otherNetns: BigInt(status.drops.otherNetns),
      dropOnlyFlows: BigInt(status.drops.dropOnlyFlows),
      unwatchedDevicePackets: BigInt(status.drops.unwatchedDevicePackets),
      reasons: status.drops.reasons.map((r) => ({ reason: r.reason, code: r.code, packets: BigInt(r.packets) })),
    },
  });
}

export function createAgentApi(source: FlowSource, identity: AgentIdentity, options: AgentApiOptions = {}): AgentApi {
  const streams = new WatchStreams(source, options.watchBufferBatches ?? DEFAULT_WATCH_BUFFER_BATCHES);
  const implementation: ServiceImpl<typeof AgentService> = {
    async *watch(request, context) {
      const filter = compileFlowFilter(request.filter); // throws INVALID_ARGUMENT before the stream starts
      const json = wantsJson(context.requestHeader.get("content-type"));
      using stream = streams.open(filter);
      for await (const { item, dropped } of stream.buffer.drain(context.signal)) yield watchResponse(item, dropped, json);
      // Server shutdown aborts with UNAVAILABLE: tell the client, do not end as if done.
      if (context.signal.aborted) throw context.signal.reason;
    },
    status() {
      return statusResponse(source.status(), identity, streams.size);
    },
  };
  return {
    implementation,
    get watchers() {
      return streams.size;
    },
    async endStreams(timeoutMs = 1000) {
      streams.endAll();
      const deadline = Date.now() + timeoutMs;
      while (streams.size > 0 && Date.now() < deadline) await Bun.sleep(10);
    },
  };
}
