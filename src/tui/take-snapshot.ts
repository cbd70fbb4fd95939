/**
 * Batch mode: collect until the source's first batch (one interval), then
 * render every row as text from the same model as the live view.
 */
import { renderSnapshot } from "./components/snapshot.ts";
import type { Style } from "./components/style.ts";
import type { FlowSource } from "./flow-source.ts";
import { FlowTable } from "./model/flow-table.ts";
import { deriveRows, trafficTotals } from "./model/top-view.ts";
import type { ViewState } from "./model/view-state.ts";
import { NameResolver, type ReverseLookup } from "./name-resolver.ts";

export interface SnapshotOptions {
  state: ViewState;
  host: string;
  clock: () => number;
  lookup: ReverseLookup;
  style: Style;
  width: number;
  /** Longest wait for names when they are on, ms. */
  namesWaitMs?: number;
}

export async function takeSnapshot(source: FlowSource, options: SnapshotOptions): Promise<string> {
  const table = new FlowTable(options.clock());
  let unsubscribe = () => {};
  const firstBatch = new Promise<void>((resolve) => {
    unsubscribe = source.onBatch((batch) => {
      const since = source.status().countingSinceMs;
      if (since !== undefined) table.observeFrom(since);
      table.ingest(batch);
      resolve();
    });
  });
  await source.start();
  await firstBatch;
  unsubscribe();
  const now = options.clock();
  const stats = table.stats(now);
  const resolver = new NameResolver(options.lookup, () => {});
  if (options.state.resolveNames) {
    for (const f of stats) for (const addr of [f.id.srcAddr, f.id.dstAddr]) resolver.nameOf(addr);
    const deadline = Date.now() + (options.namesWaitMs ?? 3000);
    while (resolver.pending > 0 && Date.now() < deadline) await Bun.sleep(20);
  }
  const nameOf = options.state.resolveNames ? resolver.nameOf : () => undefined;
  const rows = deriveRows(stats, options.state, nameOf);
  const status = source.status();
  const header = {
    host: status.host ?? options.host,
    source: status.description,
    interfaces: status.interfaces,
    intervalMs: status.intervalMs,
    accounting: status.accounting,
    sampling: table.sampling,
    counters: table.counters,
    totals: trafficTotals(stats),
    shownRows: rows.length,
    nowMs: now,
    message: status.message,
  };
  return renderSnapshot(header, rows, options.state, nameOf, options.width, options.style);
}
