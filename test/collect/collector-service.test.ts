/** The collector's service in process (createRouterTransport): a sink that fails must not turn the agent's resend into a "duplicate". */
import { create } from "@bufbuild/protobuf";
import { createClient, createRouterTransport } from "@connectrpc/connect";
import { expect, test } from "bun:test";
import { toBatchMessage } from "../../src/api/flow-message.ts";
import { BatchLedger } from "../../src/collect/batch-ledger.ts";
import { collectorService } from "../../src/collect/collector-service.ts";
import type { Exporter } from "../../src/export/exporter.ts";
import type { FlowBatch } from "../../src/flow/flow-record.ts";
import { CollectorService, ExportRequestSchema } from "../../src/gen/netflow/v1/collector_pb.ts";
import { batchOf, plainBatch, udpFlow } from "../api/flow-fixtures.ts";

test("sink fails once: the request errors, the resend is stored and counted once", async () => {
  const stored: ReturnType<typeof plainBatch<FlowBatch>>[] = [];
  let failures = 1;
  const sink: Exporter = {
    name: "flaky",
    export(batch) {
      if (failures-- > 0) throw new Error("ENOSPC: no space left on device");
      stored.push(plainBatch(batch)); // the columns are the sink's only during the call
    },
    stats: () => ({ queuedRecords: 0, queuedBytes: 0, sentRecords: stored.length, droppedRecords: 0, sendErrors: 0 }),
    async [Symbol.asyncDispose]() {},
  };
  const ledger = new BatchLedger();
  const transport = createRouterTransport(({ service }) => service(CollectorService, collectorService(ledger, sink)));
  const client = createClient(CollectorService, transport);
  const batch = batchOf([udpFlow({ packets: 4, bytes: 400 })], 1_764_000_000_000);
  const request = create(ExportRequestSchema, { agent: { agentId: "a-1", hostname: "node", agentVersion: "0.1.0" }, sequence: 1n, batch: toBatchMessage(batch) });

  await expect(client.export(request)).rejects.toThrow("[unavailable] storing the batch failed: ENOSPC: no space left on device");
  expect(await client.export(request)).toMatchObject({ duplicate: false });
  expect(await client.export(request)).toMatchObject({ duplicate: true });
  expect(stored).toEqual([plainBatch(batch)]); // flows, times and counters as the agent sent them
  expect(ledger.totals()[0]).toMatchObject({ batches: 1, packets: 4, bytes: 400, duplicateBatches: 1 });
});
