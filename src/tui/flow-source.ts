/**
 * Where the view's flows come from: the kernel through an agent this
 * process runs (local), or a running agent's Watch API (remote). The view
 * only sees batches and a status line.
 *
 * Lifetime: the source is created by the command, started once, and stopped
 * once by its creator (stop is idempotent); after stop no listener is called.
 * A listener reads the batch's columns during the call only (a local agent
 * reuses them for its next eviction).
 */
import type { FlowBatch } from "../flow/flow-record.ts";
import type { AccountingCheck } from "./components/header.ts";

export interface FlowSourceStatus {
  /** For the header: "local" or "agent 127.0.0.1:9090". */
  description: string;
  /** The host the flows are from, when not this one. */
  host?: string;
  interfaces: string[];
  /** The agent's eviction interval (its Status), ms; undefined when the agent does not say. */
  intervalMs: number | undefined;
  /**
   * When the flows delivered began to be counted, if the source knows better
   * than the view's start (a remote agent's first full interval). Wall ms.
   */
  countingSinceMs?: number;
  /** A problem worth showing (lost connection), if any. */
  message?: string;
  /** The agent's accounting self-check per interface and direction (its Status), for the header. */
  accounting?: readonly AccountingCheck[];
}

export type BatchListener = (batch: FlowBatch) => void;

export interface FlowSource extends AsyncDisposable {
  start(): Promise<void>;
  /** Returns a function that unsubscribes. */
  onBatch(listener: BatchListener): () => void;
  status(): FlowSourceStatus;
  stop(): Promise<void>;
}
