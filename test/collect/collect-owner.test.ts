/**
 * Owners through `collect`: the agent's hot-path encoding of a batch
 * (writeFlowBatch, as the gRPC sink sends it) handed to the collector's
 * service prints, line for line, what the agent's own JSON lines print for
 * the same rows, owners included.
 */
import { create, fromBinary } from "@bufbuild/protobuf";
import { createClient, createRouterTransport } from "@connectrpc/connect";
import { expect, test } from "bun:test";
import { BatchLedger } from "../../src/collect/batch-ledger.ts";
import { collectorService } from "../../src/collect/collector-service.ts";
import { writeFlowBatch } from "../../src/export/flow-wire.ts";
import { JsonLinesExporter } from "../../src/export/json-lines.ts";
import { WireWriter } from "../../src/export/wire-writer.ts";
import { flowJsonLine } from "../../src/flow/flow-format.ts";
import { CollectorService, ExportRequestSchema } from "../../src/gen/netflow/v1/collector_pb.ts";
import { FlowBatchSchema } from "../../src/gen/netflow/v1/flow_pb.ts";
import { batchOf, randomFlows, udpFlow, withOwners } from "../api/flow-fixtures.ts";

test("owners print the same from collect as from the agent", async () => {
  const records = [
    udpFlow({ owner: { source: "socket", pid: 4242, comm: "iperf3", cgroupId: 5171, socketCookie: 8231, cgroupPath: "/system.slice/docker-" + "ab".repeat(32) + ".scope", containerId: "ab".repeat(32) } }),
    udpFlow({ owner: { source: "none", pid: 0, comm: "", cgroupId: 0, socketCookie: 0 } }),
    // An empty interface name reads back as "if<index>" (not what this test is about).
    ...withOwners(randomFlows(200, 23), 23).map((r) => ({ ...r, interface: r.interface || `if${r.ifindex}` })),
  ];
  const batch = batchOf(records);
  const agentLines = records.map((_, i) => flowJsonLine(batch.flows, i) + "\n").join("");

  const w = new WireWriter();
  writeFlowBatch(w, batch.flows, batch);
  let printed = "";
  await using sink = new JsonLinesExporter((text: string) => void (printed += text));
  const client = createClient(CollectorService, createRouterTransport(({ service }) => service(CollectorService, collectorService(new BatchLedger(), sink))));
  const request = create(ExportRequestSchema, { agent: { agentId: "a-1", hostname: "node", agentVersion: "0.1.0" }, sequence: 1n, batch: fromBinary(FlowBatchSchema, w.take()) });
  expect(await client.export(request)).toMatchObject({ duplicate: false });
  expect(printed.split("\n")).toEqual(agentLines.split("\n"));
  expect(printed).toContain(`"owner":{"source":"socket","pid":4242,"comm":"iperf3","cgroupId":5171,"cgroupPath":"/system.slice/docker-${"ab".repeat(32)}.scope","containerId":"${"ab".repeat(32)}","socketCookie":8231}`);
  expect(printed).toContain(`"owner":{"source":"none"}`);
});
