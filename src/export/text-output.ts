/**
 * Where a text sink (JSON lines, the text table) puts what it formats. The
 * sink hands over whole records as text, so an output that cannot keep up
 * drops whole records and counts them; the sink's stats() are its output's.
 */
import type { LineWriter, SinkStats } from "./exporter.ts";

export interface TextOutput extends AsyncDisposable {
  /**
   * False when write() would drop what it is given now (queue full, reader
   * gone): the sink then counts the rest of its batch with drop() instead of
   * formatting records nobody will read.
   */
  hasRoom(): boolean;
  /**
   * `text` holds `records` whole records, one line each, after `headerLines`
   * lines that are not records (a table's header; 0 when unset): taken whole,
   * or dropped and counted.
   */
  write(text: string, records: number, headerLines?: number): void;
  /** Records the sink did not format because there was no room. */
  drop(records: number): void;
  stats(): SinkStats;
}

/**
 * A blocking writer as a TextOutput: each record is written when write()
 * returns, and a failed write throws to the caller (for `collect`, whose
 * Export call must fail when its batch was not stored). Disposing it does not
 * close what `write` writes to: its owner does.
 */
export function blockingTextOutput(write: LineWriter): TextOutput {
  const counts = { sent: 0, errors: 0 };
  return {
    hasRoom: () => true,
    write(text, records) {
      try {
        write(text);
      } catch (error) {
        counts.errors++;
        throw error;
      }
      counts.sent += records;
    },
    drop() {
      throw new Error("blockingTextOutput always has room: nothing to drop");
    },
    stats: () => ({ queuedRecords: 0, queuedBytes: 0, sentRecords: counts.sent, droppedRecords: 0, sendErrors: counts.errors }),
    async [Symbol.asyncDispose]() {},
  };
}
