/**
 * Client side of netflow.v1.AgentService for `top` and scripts: flows as
 * FlowBatches (FlowColumns, as the agent's own exporters see them) and the
 * agent's status, from an agent run with `--api`.
 *
 * `target` is "host:port" (e.g. "127.0.0.1:9990") or an http(s):// URL. One
 * transport (one HTTP/2 connection) is kept per target for the process; it
 * does not keep the process alive when idle. Calls fail with ConnectError:
 * UNAVAILABLE when the agent cannot be reached or is stopping,
 * INVALID_ARGUMENT for a bad filter (the message names the value).
 */
import type { Duration } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, type Client, type Transport } from "@connectrpc/connect";
import type { AgentStatus } from "../agent/agent.ts";
import { FlowColumns } from "../flow/flow-columns.ts";
import type { FlowBatch } from "../flow/flow-record.ts";
import { AgentService, AttachKind, type StatusResponse } from "../gen/netflow/v1/agent_pb.ts";
import { Direction } from "../gen/netflow/v1/flow_pb.ts";
import { createClientTransport, targetUrl } from "../net/transport.ts";
import type { AgentIdentity } from "./agent-identity.ts";
import type { FlowFilterSpec } from "./flow-filter.ts";
import { durationToMs, fromBatchMessage, fromKernelCountersMessage, nsToDuration, timestampToMs } from "./flow-message.ts";

export type { FlowFilterSpec } from "./flow-filter.ts";

/**
 * One eviction as seen through Watch: only the flows that matched the filter.
 * Unlike the agent's own batches, its columns are the client's to keep.
 */
export interface WatchedBatch extends FlowBatch {
  /** Batches the agent dropped for this stream before this one (the client read too slowly). */
  droppedBatches: number;
}

/** AgentStatus plus what only the API knows. */
export interface AgentStatusReport extends AgentStatus {
  agent: AgentIdentity;
  /** Watch streams open on the agent now (this client's included). */
  watchers: number;
  /** What the agent's filter rules rejected since start (every packet, before sampling); 0 without rules. */
  filtered: { packets: number; bytes: number };
}

const transports = new Map<string, Transport>();

function agentClient(target: string): Client<typeof AgentService> {
  const url = targetUrl("target", target);
  let transport = transports.get(url);
  if (!transport) transports.set(url, (transport = createClientTransport(url)));
  return createClient(AgentService, transport);
}

/**
 * Every eviction from now on, until `signal` aborts (the iteration then ends
 * without error) or the agent stops (ends, or throws UNAVAILABLE). Throws a
 * ConfigError for a malformed target before connecting.
 */
export async function* watchFlows(target: string, filter: FlowFilterSpec = {}, signal?: AbortSignal): AsyncGenerator<WatchedBatch> {
  const client = agentClient(target);
  const request = {
    filter: {
      cidrs: [...(filter.cidrs ?? [])],
      ports: [...(filter.ports ?? [])],
      protocols: [...(filter.protocols ?? [])],
      interfaces: [...(filter.interfaces ?? [])],
      pids: [...(filter.pids ?? [])],
      comms: [...(filter.comms ?? [])],
      cgroupPaths: [...(filter.cgroupPaths ?? [])],
      containerIds: [...(filter.containerIds ?? [])],
      ...(filter.minDnsLatencyNs !== undefined ? { minDnsLatency: thresholdDuration("min_dns_latency", filter.minDnsLatencyNs) } : {}),
      dnsRcodes: [...(filter.dnsRcodes ?? [])],
      ...(filter.minRttNs !== undefined ? { minRtt: thresholdDuration("min_rtt", filter.minRttNs) } : {}),
      dropped: filter.dropped ?? false,
      dropReasons: [...(filter.dropReasons ?? [])],
    },
  };
  try {
    for await (const response of client.watch(request, { signal })) {
      const batch = response.batch ? fromBatchMessage(response.batch) : emptyBatch();
      yield { ...batch, droppedBatches: Number(response.droppedBatches) };
    }
  } catch (error) {
    if (signal?.aborted) return;
    throw error;
  }
}

/**
 * A threshold in ns as FlowFilter's Duration: whole ns, rounded up (what is
 * measured is whole ns, so ">= 1.5" is ">= 2"). One a Duration cannot hold is
 * refused here with the agent's own message for it.
 */
function thresholdDuration(field: string, ns: number): Duration {
  if (!Number.isFinite(ns) || ns < 0) throw new ConnectError(`filter.${field} ${ns} ns must be >= 0`, Code.InvalidArgument);
  return nsToDuration(Math.ceil(ns));
}

function emptyBatch(): FlowBatch {
  return { flows: FlowColumns.empty, evictedAtMs: 0, evictionMs: 0, counters: fromKernelCountersMessage(undefined) };
}

/** An agent of 0.1 sends neither flow_maps nor sinks (nor accounting): their figures are then 0 or empty (and the ceiling its max_flows). */
export function statusFromResponse(r: StatusResponse): AgentStatusReport {
  const last = r.lastEviction;
  const maps = r.flowMaps;
  const maxFlows = maps?.ceiling || r.maxFlows;
  return {
    agent: { hostname: r.agent?.hostname ?? "", agentId: r.agent?.agentId ?? "", agentVersion: r.agent?.agentVersion ?? "" },
    startedAtMs: timestampToMs(r.startedAt),
    interfaces: r.interfaces.map((i) => ({ name: i.name, ifindex: i.ifindex, kind: i.kind === AttachKind.TC ? ("tc" as const) : ("tcx" as const) })),
    maxFlows,
    evictionIntervalMs: durationToMs(r.evictionInterval),
    flowMaps: {
      capacity: maps?.capacity ?? 0,
      fill: Number(maps?.fill ?? 0n),
      kernelMemoryBytes: Number(maps?.kernelMemoryBytes ?? 0n),
      resizes: Number(maps?.resizes ?? 0n),
      earlyEvictions: Number(maps?.earlyEvictions ?? 0n),
    },
    sinks: r.sinks.map((s) => ({
      name: s.name,
      queuedRecords: Number(s.queuedRecords),
      queuedBytes: Number(s.queuedBytes),
      sentRecords: Number(s.sentRecords),
      droppedRecords: Number(s.droppedRecords),
      sendErrors: Number(s.sendErrors),
      sentMessages: Number(s.sentMessages),
    })),
    lastEviction: last && { atMs: timestampToMs(last.at), flows: Number(last.flows), durationMs: durationToMs(last.duration) },
    totals: {
      evictions: Number(r.totals?.evictions ?? 0n),
      flows: Number(r.totals?.flows ?? 0n),
      packets: Number(r.totals?.packets ?? 0n),
      bytes: Number(r.totals?.bytes ?? 0n),
    },
    kernel: { ...fromKernelCountersMessage(r.kernel), flowsInserted: Number(maps?.flowsInserted ?? 0n) },
    accounting: r.accounting.map((a) => ({
      name: a.interface,
      ifindex: a.ifindex,
      direction: a.direction === Direction.EGRESS ? ("egress" as const) : ("ingress" as const),
      packets: Number(a.packets),
      bytes: Number(a.bytes),
      checkedPackets: Number(a.checkedPackets),
      kernelPackets: Number(a.kernelPackets),
    })),
    notAttached: r.notAttached,
    watchers: r.watchers,
    sampling: r.sampling || 1,
    filtered: { packets: Number(r.filteredPackets), bytes: Number(r.filteredBytes) },
    dns: r.dns && { port: r.dns.port, queries: Number(r.dns.queries), responses: Number(r.dns.responses), matched: Number(r.dns.matched), malformed: Number(r.dns.malformed) },
    rtt: r.rtt && { connections: Number(r.rtt.connections), flows: Number(r.rtt.flows) },
    drops: r.drops && {
      ...(r.drops.unavailable ? { unavailable: r.drops.unavailable } : {}),
      recorded: Number(r.drops.recorded),
      mapFull: Number(r.drops.mapFull),
      notIp: Number(r.drops.notIp),
      noDevice: Number(r.drops.noDevice),
      otherNetns: Number(r.drops.otherNetns),
      dropOnlyFlows: Number(r.drops.dropOnlyFlows),
      unwatchedDevicePackets: Number(r.drops.unwatchedDevicePackets),
      reasons: r.drops.reasons.map((x) => ({ reason: x.reason, code: x.code, packets: Number(x.packets) })),
    },
  };
}

/** The agent's status now. `timeoutMs` bounds the call (default 5 s). */
export async function fetchStatus(target: string, options: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<AgentStatusReport> {
  const response = await agentClient(target).status({}, { signal: options.signal, timeoutMs: options.timeoutMs ?? 5000 });
  return statusFromResponse(response);
}
