/**
 * Who this agent is on the wire (netflow.v1.AgentIdentity): made once per
 * process, so every exported batch and every Status answer name the same
 * agent run. A restart gets a new agent id, which lets a collector tell a
 * restarted agent's sequence 1 from a retried one.
 */
import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { AGENT_VERSION } from "../version.ts";

export interface AgentIdentity {
  hostname: string;
  agentId: string;
  agentVersion: string;
}

let identity: AgentIdentity | undefined;

/** This process's identity; the same object on every call. */
export function agentIdentity(): AgentIdentity {
  identity ??= Object.freeze({ hostname: hostname(), agentId: randomUUID(), agentVersion: AGENT_VERSION });
  return identity;
}
