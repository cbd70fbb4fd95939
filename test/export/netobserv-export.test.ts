import { describe, expect, test } from "bun:test";
import { GrpcExporter } from "../../src/export/grpc-exporter.ts";
import { FlowColumns } from "../../src/flow/flow-columns.ts";
import type { FlowRecord } from "../../src/flow/flow-record.ts";
import { ipv4, ipv6, udpFlow } from "../api/flow-fixtures.ts";
import { capturingLogger, columnsBatch, numberedBatch, range, TestCollector } from "./export-fixtures.ts";

const kinds: FlowRecord[] = [
  udpFlow({ bytes: 1 }),
  udpFlow({ bytes: 2, direction: "ingress", ifindex: 8, interface: "eth0", ethType: 0x86dd, protocol: 6, srcAddr: ipv6("fd00:0:0:0:0:0:0:1"), dstAddr: ipv6("fd00:0:0:0:0:0:0:2"), tcpFlags: 0x1d3 }),
  udpFlow({ bytes: 3, protocol: 1, srcPort: 0, dstPort: 0, icmpType: 8, icmpCode: 0, dscp: 0 }),
  udpFlow({ bytes: 4, ethType: 0x0806, protocol: 0, srcPort: 0, dstPort: 0, dscp: 0, srcAddr: ipv4("198.18.0.1"), dstAddr: ipv4("198.18.0.2") }),
];

/** What survives pbflow: no ifindex, no fragment/truncated flags, NS (0x100) dropped. */
function throughPbflow(r: FlowRecord): FlowRecord {
  return { ...r, ifindex: 0, flags: 0, tcpFlags: r.protocol === 6 ? r.tcpFlags & 0xff : 0 };
}

describe("--protocol netobserv → collect --protocol netobserv", () => {
  test("records arrive as sent, field for field, named by agent_ip", async () => {
    await using collector = await TestCollector.start();
    const exporter = GrpcExporter.connect(
      {
        target: { host: "127.0.0.1", port: collector.port },
        protocol: "netobserv",
        queueBytes: 2 ** 20,
        batchRecords: 1000,
        batchIntervalMs: 50,
        flushTimeoutMs: 5000,
        agentIp: new Uint8Array([192, 0, 2, 7]),
      },
      capturingLogger().log,
    );
    const sent = kinds.map((r) => ({ ...r, flags: 3 }));
    exporter.export(columnsBatch(sent));
    await exporter[Symbol.asyncDispose]();
    expect(collector.records).toEqual(FlowColumns.fromRecords(sent).records().map(throughPbflow));
    expect(collector.ledger.totals()).toEqual([
      { agentId: "pbflow@192.0.2.7", hostname: "192.0.2.7", agentVersion: "netobserv", batches: 1, flows: 4, packets: 40, bytes: 10, duplicateBatches: 0 },
    ]);
  });

  test("10,000 records in batches of 1,000, exact totals", async () => {
    await using collector = await TestCollector.start();
    const { log, lines } = capturingLogger();
    const exporter = GrpcExporter.connect(
      { target: { host: "127.0.0.1", port: collector.port }, protocol: "netobserv", queueBytes: 64 * 2 ** 20, batchRecords: 1000, batchIntervalMs: 50, flushTimeoutMs: 5000 },
      log,
    );
    for (let e = 0; e < 10; e++) exporter.export(numberedBatch(e * 1000, 1000));
    await exporter[Symbol.asyncDispose]();
    expect(collector.received).toEqual(range(0, 10_000));
    expect(collector.ledger.totals()[0]).toMatchObject({ batches: 10, flows: 10_000, packets: 10_000 });
    expect(lines[0]).toBe(`netflow-agent: exporting flows to 127.0.0.1:${collector.port} (pbflow.Collector/Send, h2c), batches of up to 1000 records, queue of up to 64MiB of records`);
  });
});
