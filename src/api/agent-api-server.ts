/**
 * `run --api`: AgentService served on its own Connect server.
 *
 * The listener is bound before the agent loads anything into the kernel, so
 * an address in use is found at once, with nothing to detach; until the agent
 * is handed over (`serve`) every call is answered UNAVAILABLE. GET /metrics,
 * /healthz and /readyz are answered beside the Connect routes by the
 * AgentEndpoints given (src/metrics/agent-endpoints.ts).
 *
 * Ownership: the returned handle owns the server. Dispose it after the agent:
 * the agent's final eviction then reaches open Watch streams, which end
 * cleanly once they have sent it, and the server closes.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { AgentService } from "../gen/netflow/v1/agent_pb.ts";
import type { Logger } from "../log.ts";
import type { AgentEndpoints } from "../metrics/agent-endpoints.ts";
import { startConnectServer } from "../net/connect-server.ts";
import type { HostPort } from "../net/listen-address.ts";
import { agentIdentity } from "./agent-identity.ts";
import { createAgentApi, type FlowSource } from "./agent-service.ts";

export interface AgentApiServer extends AsyncDisposable {
  readonly url: string;
  /** Starts answering for `agent` (loaded and attached). */
  serve(agent: FlowSource): void;
}

/** Binds `listen` (a ListenError when it cannot) and answers UNAVAILABLE until `serve`. */
export async function startAgentApiServer(listen: HostPort, log: Logger, endpoints?: AgentEndpoints): Promise<AgentApiServer> {
  let agent: FlowSource | undefined;
  const started = (): FlowSource => {
    if (!agent) throw new ConnectError("the agent is still loading and attaching its programs", Code.Unavailable);
    return agent;
  };
  const api = createAgentApi({ subscribe: (listener) => started().subscribe(listener), status: () => started().status() }, agentIdentity());
  // Requests are small (a filter); nothing legitimate comes near 1 MiB.
  const server = await startConnectServer({
    listen,
    readMaxBytes: 1024 * 1024,
    routes: (r) => r.service(AgentService, api.implementation),
    plainRoutes: endpoints?.routes,
  });
  if (endpoints) endpoints.watchers = () => api.watchers;
  return {
    url: server.url,
    serve(source) {
      agent = source;
      log.info(`API (netflow.v1.AgentService) on ${server.url}`);
    },
    async [Symbol.asyncDispose]() {
      await api.endStreams(1000);
      await server.close();
    },
  };
}
