/**
 * The enrichments' metrics (--enable-dns, --enable-rtt, --enable-drops),
 * rendered from a status: exact samples, each family only when its feature
 * was asked for, labels bounded (no flow tuple), and promtool's opinion.
 */
import { expect, test } from "bun:test";
import type { AgentStatus } from "../../src/agent/agent.ts";
import { renderAgentMetrics } from "../../src/metrics/agent-metrics.ts";
import { EVICTION_SECONDS_BUCKETS, Histogram } from "../../src/metrics/histogram.ts";
import { PublishedFlows } from "../api/flow-source.ts";
import { testNeeding } from "../helpers/kernel-test.ts";
import { metricSamples } from "../helpers/metrics-text.ts";
import { promtoolCheck, promtoolPath } from "./promtool.ts";

function render(status: AgentStatus): string {
  return renderAgentMetrics({ version: "0.0.0-test", status, watchers: 0, evictionSeconds: new Histogram(EVICTION_SECONDS_BUCKETS).series(), ready: true, healthy: true });
}

const enriched: AgentStatus = {
  ...new PublishedFlows().status(),
  dns: { port: 5353, queries: 120, responses: 118, matched: 117, malformed: 2 },
  rtt: { connections: 31, flows: 58 },
  drops: {
    recorded: 40, mapFull: 1, notIp: 3, noDevice: 4, otherNetns: 9, dropOnlyFlows: 2, unwatchedDevicePackets: 7,
    reasons: [
      { reason: "NO_SOCKET", code: 3, packets: 30 },
      { reason: "NETFILTER_DROP", code: 8, packets: 24 },
      { reason: "OTHER", code: 511, packets: 3 },
    ],
  },
};

const ENRICHMENT_FAMILIES = /^netflow_agent_(dns_|rtt_|drops?_)/;

test("off: no DNS, RTT or drop family at all", () => {
  const text = render(new PublishedFlows().status());
  expect(text.split("\n").filter((line) => ENRICHMENT_FAMILIES.test(line.replace(/^# (HELP|TYPE) /, "")))).toEqual([]);
});

test("on: every counter of the trackers, by bounded labels", () => {
  const samples = metricSamples(render(enriched));
  const ours = Object.fromEntries([...samples].filter(([series]) => ENRICHMENT_FAMILIES.test(series)));
  expect(ours).toEqual({
    'netflow_agent_dns_messages_total{kind="query"}': 120,
    'netflow_agent_dns_messages_total{kind="response"}': 118,
    'netflow_agent_dns_messages_total{kind="malformed"}': 2,
    "netflow_agent_dns_responses_matched_total": 117,
    "netflow_agent_rtt_connections_total": 31,
    "netflow_agent_rtt_flows_total": 58,
    "netflow_agent_drop_tracer_loaded": 1,
    'netflow_agent_drops_total{reason="NO_SOCKET"}': 30,
    'netflow_agent_drops_total{reason="NETFILTER_DROP"}': 24,
    'netflow_agent_drops_total{reason="OTHER"}': 3,
    "netflow_agent_drops_recorded_total": 40,
    'netflow_agent_drops_unrecorded_total{why="map_full"}': 1,
    'netflow_agent_drops_unrecorded_total{why="not_ip"}': 3,
    'netflow_agent_drops_unrecorded_total{why="no_device"}': 4,
    'netflow_agent_drops_unrecorded_total{why="other_netns"}': 9,
    netflow_agent_drops_unwatched_device_packets_total: 7,
    "netflow_agent_drop_only_flows_total": 2,
  });
});

test("a drop tracer that could not load: loaded 0, the counters 0, no reason series", () => {
  const text = render({
    ...enriched,
    drops: { unavailable: "no kernel BTF", recorded: 0, mapFull: 0, notIp: 0, noDevice: 0, otherNetns: 0, dropOnlyFlows: 0, unwatchedDevicePackets: 0, reasons: [] },
  });
  const samples = metricSamples(text);
  expect(samples.get("netflow_agent_drop_tracer_loaded")).toBe(0);
  expect(samples.get("netflow_agent_drops_recorded_total")).toBe(0);
  expect([...samples.keys()].filter((series) => series.startsWith("netflow_agent_drops_total"))).toEqual([]);
  expect(text).toContain("# TYPE netflow_agent_drops_total counter\n");
  expect(samples.get("netflow_agent_rtt_flows_total")).toBe(58); // the others go on
});

testNeeding({ promtool: promtoolPath !== null }, "promtool test")("promtool check metrics accepts the enrichments' families, lint included", async () => {
  expect(await promtoolCheck(render(enriched))).toEqual({ code: 0, output: "" });
  const unloaded = { ...enriched, drops: { ...enriched.drops!, unavailable: "no kernel BTF", reasons: [] } };
  expect(await promtoolCheck(render(unloaded))).toEqual({ code: 0, output: "" });
});
