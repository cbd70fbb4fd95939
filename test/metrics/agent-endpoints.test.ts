/**
 * /metrics, /healthz and /readyz as plain HTTP beside the Connect routes of
 * the API listener, over a published (test-made) agent: what they answer
 * before and after the agent is served and evicts, the metrics' text, and
 * promtool's opinion of it. The real agent's are in test/e2e/metrics-accounting.test.ts.
 */
import { afterEach, expect, test } from "bun:test";
import { startAgentApiServer } from "../../src/api/agent-api-server.ts";
import { fetchStatus } from "../../src/api/watch-client.ts";
import { AgentHealth } from "../../src/health/agent-health.ts";
import { createLogger } from "../../src/log.ts";
import { AgentEndpoints } from "../../src/metrics/agent-endpoints.ts";
import { startMetricsServer } from "../../src/metrics/metrics-server.ts";
import { AGENT_VERSION } from "../../src/version.ts";
import { batchOf, udpFlow } from "../api/flow-fixtures.ts";
import { PublishedFlows } from "../api/flow-source.ts";
import { testNeeding } from "../helpers/kernel-test.ts";
import { promtoolCheck, promtoolPath } from "./promtool.ts";

const log = createLogger("error", () => {});
const disposers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const dispose of disposers.splice(0)) await dispose();
});

async function setup() {
  let now = 0;
  const endpoints = new AgentEndpoints(new AgentHealth(() => now));
  const api = await startAgentApiServer({ host: "127.0.0.1", port: 0 }, log, endpoints);
  disposers.push(async () => await api[Symbol.asyncDispose]());
  const get = async (path: string, init?: RequestInit) => {
    const response = await fetch(`${api.url}${path}`, init);
    return { status: response.status, type: response.headers.get("content-type"), body: await response.text() };
  };
  return { endpoints, api, get, advance: (ms: number) => (now += ms) };
}

test("before the agent is served: neither healthy nor ready, build info only", async () => {
  const { get } = await setup();
  expect(await get("/healthz")).toEqual({ status: 503, type: "text/plain; charset=utf-8", body: "starting: loading and attaching the programs\n" });
  expect(await get("/readyz")).toEqual({ status: 503, type: "text/plain; charset=utf-8", body: "not ready: loading and attaching the programs\n" });
  const metrics = await get("/metrics");
  expect(metrics.status).toBe(200);
  expect(metrics.type).toBe("text/plain; version=0.0.4; charset=utf-8");
  expect(metrics.body).toContain(`netflow_agent_build_info{version="${AGENT_VERSION}"} 1\n`);
  expect(metrics.body).toContain("netflow_agent_ready 0\n");
  expect(metrics.body).toContain("netflow_agent_healthy 0\n");
  expect(metrics.body).not.toContain("netflow_agent_packets_total");
});

test("served: 503 until the first eviction, then 200; the Connect API still answers beside", async () => {
  const { endpoints, api, get } = await setup();
  const agent = new PublishedFlows();
  agent.statusNow.notAttached = [];
  api.serve(agent);
  endpoints.serve(agent);
  expect(await get("/readyz")).toMatchObject({ status: 503, body: "not ready: waiting for the first eviction (due within 5.0 s)\n" });
  expect(await get("/healthz")).toMatchObject({ status: 503, body: "starting: waiting for the first eviction (due within 5.0 s)\n" });
  agent.publish(batchOf([udpFlow()]));
  expect(await get("/readyz")).toMatchObject({ status: 200, body: "ready: 2 interface(s) attached, 1 eviction(s)\n" });
  expect(await get("/healthz")).toMatchObject({ status: 200, body: "ok\n" });
  expect((await get("/readyz?verbose")).status).toBe(200);
  expect((await get("/readyz", { method: "HEAD" })).status).toBe(200);
  expect(await get("/metrics", { method: "POST" })).toMatchObject({ status: 405, body: "POST /metrics: only GET and HEAD\n" });
  expect((await fetchStatus(api.url)).watchers).toBe(0);
});

test("an attach that failed keeps it unready; evictions that stop make it unhealthy", async () => {
  const { endpoints, api, get, advance } = await setup();
  const agent = new PublishedFlows();
  api.serve(agent);
  endpoints.serve(agent);
  agent.publish(batchOf([udpFlow()]));
  expect(await get("/readyz")).toMatchObject({ status: 503, body: "not ready: attaching failed on wg0 (the log says why)\n" });
  agent.statusNow.notAttached = [];
  advance(30_001);
  expect(await get("/healthz")).toMatchObject({ status: 503, body: "unhealthy: no eviction for 30.0 s (one is due every 5.0 s; the bound is 30.0 s)\n" });
  expect((await get("/metrics")).body).toContain("netflow_agent_healthy 0\n");
});

test("the metrics of a status: per interface and direction, the self-check, sinks, histogram", async () => {
  const { endpoints, api, get } = await setup();
  const agent = new PublishedFlows();
  api.serve(agent);
  endpoints.serve(agent);
  agent.publish({ ...batchOf([udpFlow()]), evictionMs: 12.5 });
  const body = (await get("/metrics")).body;
  const lines = body.split("\n");
  for (const line of [
    'netflow_agent_packets_total{interface="eth0",direction="ingress"} 700',
    'netflow_agent_bytes_total{interface="eth0",direction="ingress"} 1099511623776',
    'netflow_agent_accounting_ratio{interface="eth0",direction="ingress"} 1',
    'netflow_agent_accounting_kernel_packets_total{interface="eth0",direction="egress"} 0',
    "netflow_agent_flows_evicted_total 40",
    "netflow_agent_evictions_total 3",
    'netflow_agent_eviction_duration_seconds_bucket{le="0.01"} 0',
    'netflow_agent_eviction_duration_seconds_bucket{le="0.025"} 1',
    'netflow_agent_eviction_duration_seconds_bucket{le="+Inf"} 1',
    "netflow_agent_eviction_duration_seconds_sum 0.0125",
    "netflow_agent_eviction_duration_seconds_count 1",
    "netflow_agent_flow_map_flows 1234",
    "netflow_agent_flow_map_capacity_flows 4096",
    "netflow_agent_flow_map_ceiling_flows 32768",
    "netflow_agent_ring_buffer_packets_total 1",
    "netflow_agent_unaccounted_packets_total 2",
    'netflow_agent_sink_queued_records{sink="grpc"} 12',
    'netflow_agent_sink_sent_records_total{sink="json"} 40',
    'netflow_agent_sink_dropped_records_total{sink="grpc"} 7',
    'netflow_agent_sink_send_errors_total{sink="grpc"} 3',
    "netflow_agent_api_watchers 0",
    "netflow_agent_interfaces_attached 2",
  ])
    expect(lines).toContain(line);
  // No ratio where the kernel counted nothing (0/0), and no flow tuple anywhere.
  expect(body).not.toContain('netflow_agent_accounting_ratio{interface="eth0",direction="egress"}');
  expect(body).not.toMatch(/198\.18|srcPort|src_port|dst/);
});

testNeeding({ promtool: promtoolPath !== null }, "promtool test")("promtool check metrics accepts the exposition, lint included", async () => {
  const { endpoints, api, get } = await setup();
  const agent = new PublishedFlows();
  api.serve(agent);
  endpoints.serve(agent);
  agent.publish(batchOf([udpFlow()]));
  expect(await promtoolCheck((await get("/metrics")).body)).toEqual({ code: 0, output: "" });
});

test("--metrics listener: the same three paths, nothing of the flows API", async () => {
  const endpoints = new AgentEndpoints();
  const server = await startMetricsServer({ host: "127.0.0.1", port: 0 }, endpoints);
  disposers.push(() => server.close());
  expect((await fetch(`${server.url}/readyz`)).status).toBe(503);
  expect((await fetch(`${server.url}/healthz`)).status).toBe(503);
  expect((await fetch(`${server.url}/metrics`)).status).toBe(200);
  expect((await fetch(`${server.url}/netflow.v1.AgentService/Status`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" })).status).toBe(404);
});
