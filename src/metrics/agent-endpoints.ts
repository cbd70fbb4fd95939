/**
 * GET /metrics, /healthz and /readyz for a running agent, served as plain
 * HTTP beside the Connect routes of the API listener and on the --metrics
 * listener: one AgentEndpoints answers both.
 *
 * Until `serve(agent)` (the agent still loads and attaches) /metrics holds
 * the build and health gauges only, and /healthz and /readyz answer 503 (the
 * rules: src/health/agent-health.ts).
 *
 * Ownership: serve() subscribes to the agent's evictions (the duration
 * histogram, the health rules); the subscription lives as long as the agent.
 */
import type { FlowSource } from "../api/agent-service.ts";
import { AgentHealth, type HealthVerdict } from "../health/agent-health.ts";
import type { PlainResponse, PlainRoutes } from "../net/connect-server.ts";
import { AGENT_VERSION } from "../version.ts";
import { renderAgentMetrics } from "./agent-metrics.ts";
import { EXPOSITION_CONTENT_TYPE } from "./exposition.ts";
import { EVICTION_SECONDS_BUCKETS, Histogram } from "./histogram.ts";

const TEXT = "text/plain; charset=utf-8";

export class AgentEndpoints {
  private agent: FlowSource | undefined;
  private readonly evictionSeconds = new Histogram(EVICTION_SECONDS_BUCKETS);
  /** Watch streams open now; the API server sets it (0 without --api). */
  watchers: () => number = () => 0;

  constructor(readonly health = new AgentHealth()) {}

  /** Starts answering for `agent`, loaded and attached; call just before its timers start. */
  serve(agent: FlowSource) {
    this.agent = agent;
    agent.subscribe((batch) => {
      this.evictionSeconds.observe(batch.evictionMs / 1000);
      this.health.evicted();
      this.health.observeSinks(agent.status().sinks);
    });
    this.health.started();
  }

  readonly routes: PlainRoutes = {
    "/metrics": () => {
      const status = this.agent?.status();
      const body = renderAgentMetrics({
        version: AGENT_VERSION,
        status,
        watchers: this.watchers(),
        evictionSeconds: this.evictionSeconds.series(),
        ready: this.health.readiness(status).ok,
        healthy: this.health.liveness(status).ok,
      });
      return { status: 200, contentType: EXPOSITION_CONTENT_TYPE, body };
    },
    "/healthz": () => verdictResponse(this.health.liveness(this.agent?.status())),
    "/readyz": () => verdictResponse(this.health.readiness(this.agent?.status())),
  };
}

function verdictResponse(verdict: HealthVerdict): PlainResponse {
  return { status: verdict.ok ? 200 : 503, contentType: TEXT, body: verdict.reason + "\n" };
}
