/**
 * `run --api`: AgentService served on its own Connect server.
 *
 * Ownership: the returned handle owns the server. Dispose it after the agent:
 * the agent's final eviction then reaches open Watch streams, which end
 * cleanly once they have sent it, and the server closes.
 */
import { AgentService } from "../gen/netflow/v1/agent_pb.ts";
import type { Logger } from "../log.ts";
import { startConnectServer } from "../net/connect-server.ts";
import type { HostPort } from "../net/listen-address.ts";
import { agentIdentity } from "./agent-identity.ts";
import { createAgentApi, type FlowSource } from "./agent-service.ts";

export interface AgentApiServer extends AsyncDisposable {
  readonly url: string;
}

export async function startAgentApiServer(source: FlowSource, listen: HostPort, log: Logger): Promise<AgentApiServer> {
  const api = createAgentApi(source, agentIdentity());
  // Requests are small (a filter); nothing legitimate comes near 1 MiB.
  const server = await startConnectServer({ listen, readMaxBytes: 1024 * 1024, routes: (r) => r.service(AgentService, api.implementation) });
  log.info(`API (netflow.v1.AgentService) on ${server.url}`);
  return {
    url: server.url,
    async [Symbol.asyncDispose]() {
      await api.endStreams(1000);
      await server.close();
    },
  };
}
