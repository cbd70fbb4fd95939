/**
 * Flows from this host's kernel: an Agent with no exporters, evicting every
 * interval. Opening it loads and attaches (root); stopping it detaches every
 * program, so nothing stays attached after the view exits.
 */
import { Agent, type AgentOptions } from "../agent/agent.ts";
import { privilegeRefusal } from "../agent/privileges.ts";
import type { Logger } from "../log.ts";
import type { BatchListener, FlowSource, FlowSourceStatus } from "./flow-source.ts";

export class LocalFlowSource implements FlowSource {
  private stopped: Promise<void> | undefined;

  private constructor(private readonly agent: Agent) {}

  /** Loads and attaches; throws (nothing left attached) when that fails. */
  static async open(options: AgentOptions, log: Logger): Promise<LocalFlowSource> {
    // The agent's own check, with top's way out added.
    const refused = privilegeRefusal(undefined, "watch a running agent without privileges: top --connect host:port");
    if (refused) throw refused;
    const agent = await Agent.start(options, [], log);
    return new LocalFlowSource(agent);
  }

  async start() {
    this.agent.start();
  }

  onBatch(listener: BatchListener): () => void {
    const unsubscribe = this.agent.subscribe((batch) => {
      if (!this.stopped) listener(batch);
    });
    return () => void unsubscribe();
  }

  status(): FlowSourceStatus {
    const status = this.agent.status();
    return { description: "local", interfaces: status.interfaces.map((i) => i.name), intervalMs: status.evictionIntervalMs, accounting: status.accounting };
  }

  stop(): Promise<void> {
    this.stopped ??= this.agent[Symbol.asyncDispose]();
    return this.stopped;
  }

  [Symbol.asyncDispose]() {
    return this.stop();
  }
}
