/**
 * What every sink implements: take a batch, release what it holds on dispose.
 * An exporter must not throw for a bad record; it counts and skips it.
 */
import type { FlowBatch } from "../flow/flow-record.ts";
import { writeStdout } from "../write-sync.ts";

/**
 * A sink. `export()` reads the batch during the call only (its columns are
 * reused by the next eviction: encode or copy what you keep) and never waits
 * for the network or a reader: a sink that cannot keep up drops records,
 * counts them, and says so once per episode.
 */
export interface Exporter extends AsyncDisposable {
  readonly name: string;
  export(batch: FlowBatch): Promise<void> | void;
  /** Counters for Status and metrics. */
  stats(): SinkStats;
}

/** What every sink reports (Status `sinks`). Records are flows; counters only grow, except `queuedRecords`. */
export interface SinkStats {
  /** Records accepted and not yet written or sent. */
  queuedRecords: number;
  /** Bytes those records take while they wait. */
  queuedBytes: number;
  /** Records written or delivered. */
  sentRecords: number;
  /** Records dropped: queue full, reader gone, refused by the peer, not flushed at exit. */
  droppedRecords: number;
  /** Failed writes or send attempts (each may be retried). */
  sendErrors: number;
  /** Messages sent (IPFIX datagrams, gRPC requests); absent for stdout. */
  sentMessages?: number;
}

/**
 * A blocking text writer: done when the call returns; may throw
 * OutputClosedError. For `collect`'s output (src/collect/output-file.ts); a
 * sink takes a TextOutput (text-output.ts), which `run` backs with the
 * non-blocking AsyncOutput.
 */
export type LineWriter = (text: string) => void;

/** Whole, blocking writes to fd 1 (src/write-sync.ts says when that is right). */
export const stdoutWriter: LineWriter = writeStdout;
