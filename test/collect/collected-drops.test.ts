/**
 * Drops and the DNS name reach `collect`'s JSON lines from both protocols, in
 * process (createRouterTransport) through the JSON-lines sink collect uses:
 * netflow.v1 carries the reason's name as sent; pbflow only its number, which
 * the collector names with its table (injected here: this host's kernel in `collect`).
 */
import { create } from "@bufbuild/protobuf";
import { createClient, createRouterTransport } from "@connectrpc/connect";
import { expect, test } from "bun:test";
import { toBatchMessage } from "../../src/api/flow-message.ts";
import { BatchLedger } from "../../src/collect/batch-ledger.ts";
import { collectorService } from "../../src/collect/collector-service.ts";
import { netobservCollector } from "../../src/collect/netobserv-collector.ts";
import { JsonLinesExporter } from "../../src/export/json-lines.ts";
import { agentIpMessage, toNetobservRecords } from "../../src/export/netobserv-record.ts";
import { CollectorService, ExportRequestSchema } from "../../src/gen/netflow/v1/collector_pb.ts";
import { Collector } from "../../src/gen/pbflow/flow_pb.ts";
import { batchOf, udpFlow } from "../api/flow-fixtures.ts";

const dropped = udpFlow({ protocol: 6, drops: { packets: 3, bytes: 180, reason: "NETFILTER_DROP", reasonCode: 8, tcpState: 1, tcpFlags: 0x12 } });
const answered = udpFlow({ direction: "ingress", srcPort: 53, dns: { id: 4660, flags: 0x8180, latencyNs: 40_123_457, name: "example.test" } });

function jsonSink() {
  const lines: string[] = [];
  const sink = new JsonLinesExporter((text) => lines.push(...text.split("\n").filter(Boolean)));
  return { sink, parsed: () => lines.map((line) => JSON.parse(line)) };
}

test("netflow.v1: drops with the sender's reason name, and the DNS name, in the JSON lines", async () => {
  const { sink, parsed } = jsonSink();
  const client = createClient(CollectorService, createRouterTransport(({ service }) => service(CollectorService, collectorService(new BatchLedger(), sink))));
  const batch = batchOf([dropped, answered, udpFlow()], 1_764_000_000_000);
  await client.export(create(ExportRequestSchema, { agent: { agentId: "a-1", hostname: "node", agentVersion: "0.1.0" }, sequence: 1n, batch: toBatchMessage(batch) }));
  const [drops, dns, plain] = parsed();
  expect(drops.drops).toEqual({ packets: 3, bytes: 180, reason: "NETFILTER_DROP", reasonCode: 8, tcpState: "ESTABLISHED", tcpFlags: ["SYN", "ACK"] });
  expect(dns.dns).toMatchObject({ name: "example.test" });
  expect(plain.drops).toBeUndefined();
});

test("pbflow: the drop cause named by the collector's table, read once and only when a record has drops", async () => {
  const { sink, parsed } = jsonSink();
  let reads = 0;
  const reasons = () => (reads++, new Map([[8, "NETFILTER_DROP"]]));
  const client = createClient(Collector, createRouterTransport(({ service }) => service(Collector, netobservCollector(new BatchLedger(), sink, reasons))));
  const agentIp = agentIpMessage(new Uint8Array([192, 0, 2, 7]));
  await client.send(toNetobservRecords([udpFlow()], agentIp));
  expect(reads).toBe(0);
  await client.send(toNetobservRecords([dropped, answered], agentIp));
  await client.send(toNetobservRecords([dropped], agentIp));
  expect(reads).toBe(1);
  const [plain, drops, dns] = parsed();
  expect(plain.drops).toBeUndefined();
  expect(drops.drops).toEqual({ packets: 3, bytes: 180, reason: "NETFILTER_DROP", reasonCode: 8, tcpState: "ESTABLISHED", tcpFlags: ["SYN", "ACK"] });
  expect(dns.dns).toMatchObject({ name: "example.test" });
});

test("pbflow: a cause the table does not name reads as its number", async () => {
  const { sink, parsed } = jsonSink();
  const client = createClient(Collector, createRouterTransport(({ service }) => service(Collector, netobservCollector(new BatchLedger(), sink, () => new Map()))));
  await client.send(toNetobservRecords([dropped], agentIpMessage(new Uint8Array([192, 0, 2, 7]))));
  expect(parsed()[0].drops).toMatchObject({ reason: "UNKNOWN(8)", reasonCode: 8 });
});
