/**
 * What every sink implements: take a batch, release what it holds on dispose.
 * An exporter must not throw for a bad record; it counts and skips it.
 */
import type { FlowBatch } from "../flow/flow-record.ts";
import { OutputClosedError, writeStdout } from "../write-sync.ts";

export interface Exporter extends AsyncDisposable {
  readonly name: string;
  export(batch: FlowBatch): Promise<void> | void;
}

/** Where text output goes; stdout unless a test injects its own. May throw OutputClosedError. */
export type LineWriter = (text: string) => void;

/** Whole, blocking writes (src/write-sync.ts says why). */
export const stdoutWriter: LineWriter = writeStdout;

/**
 * A writer that, once its reader has gone (EPIPE: `run | head`), calls
 * `onClosed` once and drops what follows instead of failing every eviction.
 */
export function closingWriter(write: LineWriter, onClosed: () => void): LineWriter {
  let closed = false;
  return (text) => {
    if (closed) return;
    try {
      write(text);
    } catch (error) {
      if (!(error instanceof OutputClosedError)) throw error;
      closed = true;
      onClosed();
    }
  };
}
