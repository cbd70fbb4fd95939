/**
 * The agent's Prometheus metrics, rendered from what Status reports
 * (AgentStatus) plus the eviction-duration histogram and the health verdicts.
 * Prefix netflow_agent_, base units, counters end in _total; labels are the
 * interface and direction, the sink, or a bounded kind (a DNS message's, a
 * drop's reason from the kernel's enum): never a flow's addresses or ports.
 * The enrichments' families (DNS, RTT, drops) are written only when asked for.
 * The list, with what each means, is in the README ("Metrics").
 */
import type { AgentStatus } from "../agent/agent.ts";
import { accountingRatio } from "../agent/interface-accounting.ts";
import { Exposition, type HistogramSeries, type Sample } from "./exposition.ts";
import { DROP_REASON_SLOTS } from "../bpf/flow-layout.ts";

export interface MetricsInput {
  version: string;
  /** Undefined while the agent loads and attaches. */
  status: AgentStatus | undefined;
  /** Watch streams open on the API now. */
  watchers: number;
  evictionSeconds: HistogramSeries;
  ready: boolean;
  healthy: boolean;
}

const P = "netflow_agent_";

export function renderAgentMetrics(m: MetricsInput): string {
  const out = new Exposition();
  out.gauge(`${P}build_info`, "This agent's build: its version in the label; the value is always 1.", [{ labels: { version: m.version }, value: 1 }]);
  out.gauge(`${P}ready`, "1 when /readyz answers 200: loaded, every selected interface attached, first eviction done.", m.ready ? 1 : 0);
  out.gauge(`${P}healthy`, "1 when /healthz answers 200: evictions on time, no export sink failing past its bound.", m.healthy ? 1 : 0);
  out.gauge(`${P}api_watchers`, "Watch streams open on the API now.", m.watchers);
  const s = m.status;
  if (!s) return out.text();

  out.gauge(`${P}start_time_seconds`, "When the agent started, seconds since the Unix epoch.", s.startedAtMs / 1000);
  out.gauge(`${P}interfaces_attached`, "Interfaces the flow programs are attached to now.", s.interfaces.length);
  const perInterface = (value: (a: AgentStatus["accounting"][number]) => number | undefined): Sample[] =>
    s.accounting.flatMap((a) => {
      const v = value(a);
      return v === undefined ? [] : [{ labels: { interface: a.name, direction: a.direction }, value: v }];
    });
  out.counter(`${P}packets_total`, "Packets accounted in flows, per attached interface and direction, since it was attached (GSO/GRO packets as their segments).", perInterface((a) => a.packets));
  out.counter(`${P}bytes_total`, "Bytes accounted in flows (frames as on the wire), per attached interface and direction, since it was attached.", perInterface((a) => a.bytes));
  out.gauge(
    `${P}accounting_ratio`,
    "Self-check: packets accounted / packets the kernel counted on the interface (rx_packets for ingress, tx_packets for egress) between the first eviction after attach and the last one. Absent while the kernel counted none.",
    perInterface(accountingRatio),
  );
  out.counter(`${P}accounting_checked_packets_total`, "Self-check numerator: packets accounted on the interface since its first eviction after attach.", perInterface((a) => a.checkedPackets));
  out.counter(`${P}accounting_kernel_packets_total`, "Self-check denominator: packets the kernel counted on the interface over the same interval.", perInterface((a) => a.kernelPackets));

  out.counter(`${P}evictions_total`, "Evictions of the kernel's flows map.", s.totals.evictions);
  out.counter(`${P}early_evictions_total`, "Evictions started before the interval was up because the map was filling.", s.flowMaps.earlyEvictions);
  out.counter(`${P}flows_evicted_total`, "Flows read out of the kernel by evictions.", s.totals.flows);
  out.histogram(`${P}eviction_duration_seconds`, "Time an eviction took: map swap, drain, overflow merge, time conversion.", [m.evictionSeconds]);
  if (s.lastEviction) out.gauge(`${P}last_eviction_timestamp_seconds`, "When the last eviction ran, seconds since the Unix epoch.", s.lastEviction.atMs / 1000);
  out.gauge(`${P}eviction_interval_seconds`, "The configured time between evictions (--cache-active-timeout).", s.evictionIntervalMs / 1000);

  out.gauge(`${P}flow_map_flows`, "Flows inserted into the active kernel flows map since it was installed, at the last fill check.", s.flowMaps.fill);
  out.gauge(`${P}flow_map_capacity_flows`, "Entries of the active kernel flows map.", s.flowMaps.capacity);
  out.gauge(`${P}flow_map_ceiling_flows`, "The largest the flows map may grow to (--cache-max-flows).", s.maxFlows);
  out.gauge(`${P}flow_map_kernel_memory_bytes`, "Kernel memory of every map the agent holds.", s.flowMaps.kernelMemoryBytes);
  out.counter(`${P}flow_map_resizes_total`, "Times the flows map was replaced by one of another size.", s.flowMaps.resizes);
  out.counter(`${P}flows_inserted_total`, "Flows the kernel inserted into its flows maps, as read at the last eviction.", s.kernel.flowsInserted);

  out.counter(`${P}ring_buffer_packets_total`, "Packets carried by the overflow ring buffer because their flow did not fit in the map (each a ring record, folded into its flow).", s.kernel.ringbufPackets);
  out.counter(`${P}unaccounted_packets_total`, "Packets not accounted in any flow: the flows map and the ring buffer were both full (the ring buffer's losses).", s.kernel.droppedPackets);
  out.counter(`${P}unaccounted_bytes_total`, "Bytes of the unaccounted packets.", s.kernel.droppedBytes);
  out.counter(`${P}map_errors_total`, "Flows map updates that failed for a reason other than a full map.", s.kernel.mapErrors);
  out.counter(`${P}truncated_packets_total`, "Packets that ended inside a header (accounted with what they carried).", s.kernel.truncated);

  enrichmentMetrics(out, s);

  const perSink = (value: (sink: AgentStatus["sinks"][number]) => number | undefined): Sample[] =>
    s.sinks.flatMap((sink) => {
      const v = value(sink);
      return v === undefined ? [] : [{ labels: { sink: sink.name }, value: v }];
    });
  out.gauge(`${P}sink_queued_records`, "Records accepted by the sink and not yet written or sent.", perSink((x) => x.queuedRecords));
  out.gauge(`${P}sink_queued_bytes`, "Bytes those queued records take.", perSink((x) => x.queuedBytes));
  out.counter(`${P}sink_sent_records_total`, "Records written or delivered.", perSink((x) => x.sentRecords));
  out.counter(`${P}sink_dropped_records_total`, "Records dropped: queue full, reader gone, refused by the peer, not flushed at exit.", perSink((x) => x.droppedRecords));
  out.counter(`${P}sink_send_errors_total`, "Failed writes or send attempts (each may have been retried).", perSink((x) => x.sendErrors));
  out.counter(`${P}sink_sent_messages_total`, "Messages sent: gRPC requests, IPFIX datagrams (not for stdout).", perSink((x) => x.sentMessages));
  return out.text();
}

/** --enable-dns, --enable-rtt, --enable-drops: each family only when its feature was asked for. */
function enrichmentMetrics(out: Exposition, s: AgentStatus) {
  if (s.dns) {
    const dns = s.dns;
    out.counter(
      `${P}dns_messages_total`,
      `DNS messages the kernel tracker saw on port ${dns.port} (--enable-dns), by kind: query (QR 0), response (QR 1), malformed (too short for a DNS header; skipped, still counted in its flow).`,
      [
        { labels: { kind: "query" }, value: dns.queries },
        { labels: { kind: "response" }, value: dns.responses },
        { labels: { kind: "malformed" }, value: dns.malformed },
      ],
    );
    out.counter(`${P}dns_responses_matched_total`, "DNS responses whose query the tracker had seen: a latency was recorded.", dns.matched);
  }
  if (s.rtt) {
    out.counter(`${P}rtt_connections_total`, "TCP connections' RTT records drained at evictions (--enable-rtt; any namespace), summed: one with samples in n intervals counts n times.", s.rtt.connections);
    out.counter(`${P}rtt_flows_total`, "Flows evicted with an RTT (both directions of a connection of this namespace).", s.rtt.flows);
  }
  if (s.drops) {
    const d = s.drops;
    out.gauge(`${P}drop_tracer_loaded`, "1 when the drop tracer runs (--enable-drops); 0 when it could not load (Status drops.unavailable and the log say why).", d.unavailable === undefined ? 1 : 0);
    out.counter(
      `${P}drops_total`,
      `Packets the kernel dropped on this host since start (every namespace, IP or not; a GSO packet once), by reason: the running kernel's enum skb_drop_reason name, OTHER for reasons numbered ${DROP_REASON_SLOTS - 1} and above.`,
      d.reasons.map((r) => ({ labels: { reason: r.reason }, value: r.packets })),
    );
    out.counter(`${P}drops_recorded_total`, "Drops put on their flow (this namespace's IP packets).", d.recorded);
    out.counter(
      `${P}drops_unrecorded_total`,
      "Drops put on no flow (still in drops_total), by why: map_full (the drops map was full: lost), not_ip (not IP, or unreadable), no_device (no device known), other_netns (another network namespace's).",
      [
        { labels: { why: "map_full" }, value: d.mapFull },
        { labels: { why: "not_ip" }, value: d.notIp },
        { labels: { why: "no_device" }, value: d.noDevice },
        { labels: { why: "other_netns" }, value: d.otherNetns },
      ],
    );
    out.counter(
      `${P}drops_unwatched_device_packets_total`,
      "Dropped packets the kernel put on a record of a device the agent does not capture on (excluded by --interfaces, or not attached): left out of the flows.",
      d.unwatchedDevicePackets,
    );
    out.counter(`${P}drop_only_flows_total`, "Flows made of drops only: packets no TC hook saw (a netfilter OUTPUT rule dropped them before egress).", d.dropOnlyFlows);
  }
}
