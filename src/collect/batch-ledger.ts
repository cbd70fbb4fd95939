/** Per-agent accounting of what a collector received: batches, flows, packets, bytes, duplicates. */
import type { FlowColumns } from "../flow/flow-columns.ts";
import { SeenSequences } from "./seen-sequences.ts";

export interface AgentLedger {
  agentId: string;
  hostname: string;
  agentVersion: string;
  batches: number;
  flows: number;
  packets: number;
  bytes: number;
  duplicateBatches: number;
}

export class BatchLedger {
  private readonly agents = new Map<string, { totals: AgentLedger; seen: SeenSequences; released: Set<bigint> }>();
  /** Requests refused as invalid (not counted under any agent: their identity may be the problem). */
  rejected = 0;

  /**
   * Counts a batch once per (agentId, sequence). Returns false for a
   * duplicate, which is counted but whose flows must not be stored again.
   */
  accept(agent: { agentId: string; hostname: string; agentVersion: string }, sequence: bigint, flows: FlowColumns): boolean {
    let entry = this.agents.get(agent.agentId);
    if (!entry) {
      const totals = { ...agent, batches: 0, flows: 0, packets: 0, bytes: 0, duplicateBatches: 0 };
      entry = { totals, seen: new SeenSequences(), released: new Set<bigint>() };
      this.agents.set(agent.agentId, entry);
    }
    const totals = entry.totals;
    // A batch released after a failed store is new again when it is resent.
    if (!entry.released.delete(sequence) && !entry.seen.add(sequence)) {
      totals.duplicateBatches++;
      return false;
    }
    totals.batches++;
    totals.flows += flows.count;
    for (let i = 0; i < flows.count; i++) {
      totals.packets += flows.packets(i);
      totals.bytes += flows.bytes(i);
    }
    return true;
  }

  /**
   * Takes back an accepted batch that could not be stored (the sink failed):
   * its totals are uncounted and its resend will be accepted, not dropped as
   * a duplicate, so the agent's retry delivers it.
   */
  release(agentId: string, sequence: bigint, flows: FlowColumns) {
    const entry = this.agents.get(agentId);
    if (!entry) return;
    entry.released.add(sequence);
    const totals = entry.totals;
    totals.batches--;
    totals.flows -= flows.count;
    for (let i = 0; i < flows.count; i++) {
      totals.packets -= flows.packets(i);
      totals.bytes -= flows.bytes(i);
    }
  }

  /** A copy of every agent's totals, in the order agents first sent. */
  totals(): AgentLedger[] {
    return [...this.agents.values()].map((e) => ({ ...e.totals }));
  }
}

/** The line `collect` prints on stderr per agent at exit. */
export function ledgerLine(t: AgentLedger): string {
  return (
    `agent ${t.agentId} (${t.hostname}, ${t.agentVersion}): ${t.batches} batches, ${t.flows} flows, ` +
    `${t.packets} packets, ${t.bytes} bytes, ${t.duplicateBatches} duplicate batches dropped`
  );
}
