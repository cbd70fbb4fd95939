/**
 * What every sink implements: take a batch, release what it holds on dispose.
 * An exporter must not throw for a bad record; it counts and skips it.
 */
import type { FlowBatch } from "../flow/flow-record.ts";

export interface Exporter extends AsyncDisposable {
  readonly name: string;
  export(batch: FlowBatch): Promise<void> | void;
}

/** Where text output goes; stdout unless a test injects its own. */
export type LineWriter = (text: string) => void;

export const stdoutWriter: LineWriter = (text) => {
  process.stdout.write(text);
};
