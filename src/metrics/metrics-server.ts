/**
 * `run --metrics host:port`: /metrics, /healthz and /readyz on a listener of
 * their own (HTTP/1.1 and h2c), for a Prometheus that should not reach the
 * flows API. Bound before the agent loads anything, like --api, so an address
 * in use is found with nothing to detach.
 *
 * Ownership: the returned server owns its socket; dispose it after the agent.
 */
import { startConnectServer, type ConnectServer } from "../net/connect-server.ts";
import type { HostPort } from "../net/listen-address.ts";
import type { AgentEndpoints } from "./agent-endpoints.ts";

/** Binds `listen` (a ListenError when it cannot). No Connect service: other paths get 404. */
export function startMetricsServer(listen: HostPort, endpoints: AgentEndpoints): Promise<ConnectServer> {
  return startConnectServer({ listen, routes: () => {}, plainRoutes: endpoints.routes });
}
