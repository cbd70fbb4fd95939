#!/usr/bin/env bun
/**
 * The Watch client run where the agent's API is reachable (`ip netns exec`):
 *   bun watch-in-namespace.ts watch <target> <filter-json>   one JSON line per batch: {dropped, flows}
 *   bun watch-in-namespace.ts status <target>                one JSON line: the status report
 * Watch runs until SIGTERM or the stream ends.
 */
import { fetchStatus, watchFlows } from "../../src/api/watch-client.ts";
import { flowToJson } from "../../src/flow/flow-format.ts";

const [mode, target, filterJson] = process.argv.slice(2);
if (mode === "status") {
  console.log(JSON.stringify(await fetchStatus(target!)));
} else {
  const abort = new AbortController();
  process.on("SIGTERM", () => abort.abort());
  for await (const batch of watchFlows(target!, JSON.parse(filterJson ?? "{}"), abort.signal))
    console.log(JSON.stringify({ dropped: batch.droppedBatches, flows: batch.flows.records().map(flowToJson) }));
}
