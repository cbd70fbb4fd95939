/**
 * The netflow.v1.FlowBatch of a WatchResponse, as bytes: the eviction's rows
 * that match the stream's filter, encoded straight from the columns by the
 * export path's row encoder (src/export/flow-wire.ts, one encoder per
 * message), then the eviction's time and counters. The bytes are toBinary's
 * of toBatchMessage over the same rows (test/api/watch-batch-wire.test.ts).
 */
import { InterfaceNameBytes, writeEvictionFields, writeFlowEntry } from "../export/flow-wire.ts";
import type { WireWriter } from "../export/wire-writer.ts";
import type { FlowBatch } from "../flow/flow-record.ts";
import type { RowPredicate } from "./flow-filter.ts";

/**
 * The rows of `batch` that `matches` (every row without it) as a
 * length-prefixed FlowBatch: what follows the tag of a field holding it
 * (WatchResponse.batch). Returns how many rows matched.
 */
export function writeWatchBatchField(w: WireWriter, batch: FlowBatch, matches: RowPredicate | undefined): number {
  const flows = batch.flows;
  const names = new InterfaceNameBytes(flows);
  let matched = 0;
  const body = w.beginMessage();
  for (let i = 0; i < flows.count; i++) {
    if (matches && !matches(flows, i)) continue;
    writeFlowEntry(w, flows, i, names);
    matched++;
  }
  writeEvictionFields(w, batch);
  w.endMessage(body);
  return matched;
}
