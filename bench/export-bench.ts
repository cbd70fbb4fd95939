#!/usr/bin/env bun
/**
 * Export path figures (not a test; prints them):
 *  1. memory held per queued FlowRecord (sizes the --export-queue-records default);
 *  2. encode only, one FlowBatch of 1,000 flows at a time: @bufbuild/protobuf
 *     (our generated code) vs protobufjs (reflection from the same .proto),
 *     with and without building the messages from FlowRecords, and the
 *     hand-written encoder the exporter uses (src/export/flow-wire.ts);
 *  3. the whole export path (enqueue → convert → encode → gRPC over h2c) to a
 *     `netflow-agent collect` child process on 127.0.0.1, for netflow.v1 and
 *     pbflow: records/s (wall) and this process's CPU ms per 100k records,
 *     with the lean unary transport (default) and connect-node's.
 *     Numbers vary by ±30% on a busy machine: run it alone.
 *
 *   bun bench/export-bench.ts            (RECORDS=1000000 by default)
 */
import { create, toBinary } from "@bufbuild/protobuf";
import protobuf from "protobufjs";
import { join } from "node:path";
import { toFlowMessage, msToTimestamp } from "../src/api/flow-message.ts";
import { writeFlowBatch } from "../src/export/flow-wire.ts";
import { GrpcExporter } from "../src/export/grpc-exporter.ts";
import { WireWriter } from "../src/export/wire-writer.ts";
import type { FlowBatch, FlowRecord } from "../src/flow/flow-record.ts";
import { FlowBatchSchema } from "../src/gen/netflow/v1/flow_pb.ts";
import { createLogger } from "../src/log.ts";

/** A multiple of 100,000. */
const RECORDS = Number(process.env.RECORDS ?? 1_000_000);
const BATCH = 1000;
const root = join(import.meta.dir, "..");

/** Varied records built the way decode-flows builds them (fresh small arrays per record). */
function makeRecords(count: number, offset = 0): FlowRecord[] {
  const out: FlowRecord[] = new Array(count);
  for (let n = 0; n < count; n++) {
    const i = n + offset;
    const src = new Uint8Array(16);
    const dst = new Uint8Array(16);
    src[10] = src[11] = dst[10] = dst[11] = 0xff;
    src.set([10, (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff], 12);
    dst.set([10, 200, (i >> 8) & 0xff, i & 0xff], 12);
    out[n] = {
      ifindex: 2 + (i % 8), interface: `veth${i % 8}`, direction: i % 2 ? "egress" : "ingress", ethType: 0x0800,
      protocol: i % 3 ? 6 : 17, srcAddr: src, dstAddr: dst, srcPort: 1024 + (i % 60000), dstPort: 443,
      packets: 1 + (i % 100), bytes: 64 + (i % 100) * 1400, startMs: 1_764_000_000_000 + i, endMs: 1_764_000_004_000 + i,
      tcpFlags: i % 3 ? 0x18 : 0, dscp: 0, icmpType: 0, icmpCode: 0,
      srcMac: Uint8Array.of(2, 0, 0, 0, 0, i & 0xff), dstMac: Uint8Array.of(2, 0, 0, 0, 1, i & 0xff), flags: 0,
    };
  }
  return out;
}

function rate(records: number, ms: number) {
  return Math.round((records / ms) * 1000);
}

function memoryPerRecord() {
  Bun.gc(true);
  const before = process.memoryUsage().heapUsed;
  const held = makeRecords(100_000);
  Bun.gc(true);
  const after = process.memoryUsage().heapUsed;
  return Math.round((after - before) / held.length);
}

/** Best of `rounds` timings of fn over all batches; returns records/s. */
function bestRate(batches: FlowRecord[][], rounds: number, fn: (batch: FlowRecord[], i: number) => number): number {
  let best = Infinity;
  let sink = 0;
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    batches.forEach((b, i) => (sink += fn(b, i)));
    best = Math.min(best, performance.now() - t0);
  }
  if (sink < 0) console.log(sink);
  return rate(batches.length * BATCH, best);
}

async function encodeComparison() {
  const batches = Array.from({ length: 200 }, (_, i) => makeRecords(BATCH, i * BATCH));
  // @bufbuild/protobuf
  const es = {
    convertAndEncode: bestRate(batches, 5, (b) => toBinary(FlowBatchSchema, create(FlowBatchSchema, { flows: b.map(toFlowMessage) })).length),
    encodeOnly: 0,
  };
  const built = batches.map((b) => create(FlowBatchSchema, { flows: b.map(toFlowMessage) }));
  es.encodeOnly = bestRate(batches, 5, (_, i) => toBinary(FlowBatchSchema, built[i]!).length);
  const bytesPerRecord = toBinary(FlowBatchSchema, built[0]!).length / BATCH;

  // protobufjs, reflection from the same .proto (google/* from its bundled common types)
  const pbRoot = new protobuf.Root();
  pbRoot.resolvePath = (_origin, target) => (target.startsWith("google/protobuf/") ? target : join(root, "proto", target));
  pbRoot.loadSync("netflow/v1/flow.proto");
  const PbBatch = pbRoot.lookupType("netflow.v1.FlowBatch");
  const toPlain = (r: FlowRecord) => {
    const start = msToTimestamp(r.startMs);
    const end = msToTimestamp(r.endMs);
    return {
      interface: r.interface, ifindex: r.ifindex, direction: r.direction === "egress" ? 2 : 1, ethType: r.ethType,
      srcMac: r.srcMac, dstMac: r.dstMac, srcAddr: r.srcAddr.subarray(12), dstAddr: r.dstAddr.subarray(12),
      srcPort: r.srcPort, dstPort: r.dstPort, protocol: r.protocol, packets: r.packets, bytes: r.bytes,
      start: { seconds: Number(start.seconds), nanos: start.nanos }, end: { seconds: Number(end.seconds), nanos: end.nanos },
      tcpFlags: r.tcpFlags, dscp: r.dscp, icmpType: r.icmpType, icmpCode: r.icmpCode, flags: r.flags,
    };
  };
  const pbjs = {
    convertAndEncode: bestRate(batches, 5, (b) => PbBatch.encode({ flows: b.map(toPlain) }).finish().length),
    encodeOnly: 0,
  };
  const plain = batches.map((b) => ({ flows: b.map(toPlain) }));
  pbjs.encodeOnly = bestRate(batches, 5, (_, i) => PbBatch.encode(plain[i]!).finish().length);
  const pbjsBytes = PbBatch.encode(plain[0]!).finish().length / BATCH;
  // The exporter's encoder: FlowRecords straight to bytes, no message objects.
  const writer = new WireWriter();
  const names = new Map<string, Uint8Array>();
  const eviction = { evictedAtMs: 1_764_000_000_000, evictionMs: 1, counters: { ringbufPackets: 0, droppedPackets: 0, droppedBytes: 0, mapErrors: 0, truncated: 0 } };
  const direct = bestRate(batches, 5, (b) => {
    writeFlowBatch(writer, b, eviction, names);
    return writer.takeView().length;
  });
  return { es, pbjs, bytesPerRecord, pbjsBytes, direct };
}

/**
 * `sink` mode (a child of this bench): the same Connect server and services
 * as `collect`, with a sink that only counts, so the figures show what the
 * agent side can do rather than collect's JSON printing.
 */
async function runSink() {
  const { startConnectServer } = await import("../src/net/connect-server.ts");
  const { collectorService } = await import("../src/collect/collector-service.ts");
  const { netobservCollector } = await import("../src/collect/netobserv-collector.ts");
  const { BatchLedger, ledgerLine } = await import("../src/collect/batch-ledger.ts");
  const { CollectorService } = await import("../src/gen/netflow/v1/collector_pb.ts");
  const { Collector } = await import("../src/gen/pbflow/flow_pb.ts");
  const ledger = new BatchLedger();
  const sink = { name: "count", export() {}, async [Symbol.asyncDispose]() {} };
  const server = await startConnectServer({
    listen: { host: "127.0.0.1", port: 0 },
    routes: (router) => {
      router.service(CollectorService, collectorService(ledger, sink));
      router.service(Collector, netobservCollector(ledger, sink));
    },
  });
  process.stderr.write(`netflow-agent: collecting on ${server.url}\n`);
  process.on("SIGTERM", async () => {
    await server.close();
    for (const t of ledger.totals()) process.stderr.write(`netflow-agent: totals: ${ledgerLine(t)}\n`);
    process.exit(0);
  });
}

async function startCollect(protocol: string, collector: "collect" | "sink"): Promise<{ port: number; stop(): Promise<string> }> {
  const command =
    collector === "sink"
      ? [process.execPath, import.meta.path, "sink"]
      : [process.execPath, join(root, "src/cli/main.ts"), "collect", "--listen", "127.0.0.1:0", "--output-file", "/dev/null", "--protocol", protocol];
  const proc = Bun.spawn(command, { stdout: "ignore", stderr: "pipe" });
  let stderr = "";
  const decoder = new TextDecoder();
  void (async () => {
    for await (const chunk of proc.stderr as unknown as AsyncIterable<Uint8Array>) stderr += decoder.decode(chunk);
  })();
  const deadline = Date.now() + 10_000;
  while (!/collecting on http:\/\/127\.0\.0\.1:(\d+)/.test(stderr)) {
    if (Date.now() > deadline || proc.exitCode !== null) throw new Error(`collect did not start: ${stderr}`);
    await Bun.sleep(20);
  }
  const port = Number(/collecting on http:\/\/127\.0\.0\.1:(\d+)/.exec(stderr)![1]);
  return {
    port,
    async stop() {
      proc.kill("SIGTERM");
      await proc.exited;
      return stderr.split("\n").filter((l) => l.includes("totals")).join("; ");
    },
  };
}

async function exportPath(protocol: "netflow" | "netobserv", batchRecords: number, transport: "lean" | "connect-node", collector: "collect" | "sink") {
  if (transport === "connect-node") process.env.NETFLOW_GRPC_TRANSPORT = "connect-node";
  else delete process.env.NETFLOW_GRPC_TRANSPORT;
  const collect = await startCollect(protocol, collector);
  // 100,000 distinct records (a full default queue's worth of heap), exported RECORDS / 100,000 times over.
  const distinct: FlowBatch[] = [];
  for (let i = 0; i < 100_000; i += 10_000)
    distinct.push({ records: makeRecords(10_000, i), evictedAtMs: Date.now(), evictionMs: 1, counters: { ringbufPackets: 0, droppedPackets: 0, droppedBytes: 0, mapErrors: 0, truncated: 0 } });
  const evictions = Array.from({ length: RECORDS / 10_000 }, (_, i) => distinct[i % distinct.length]!);
  Bun.gc(true);
  const exporter = GrpcExporter.connect(
    {
      target: { host: "127.0.0.1", port: collect.port },
      protocol,
      queueRecords: RECORDS,
      batchRecords,
      batchIntervalMs: 100,
      flushTimeoutMs: 600_000,
    },
    createLogger("warn"),
  );
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (const e of evictions) exporter.export(e);
  await exporter[Symbol.asyncDispose]();
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  const delivered = exporter.stats().deliveredRecords;
  const totals = await collect.stop();
  return { protocol, transport, collector, batchRecords, delivered, wallMs, recordsPerSec: rate(delivered, wallMs), cpuMsPer100k: (cpuMs / delivered) * 100_000, totals };
}

const fmt = (n: number) => n.toLocaleString("en-US");

if (process.argv[2] === "sink") {
  await runSink();
} else {
  console.log(`export bench: ${fmt(RECORDS)} records, bun ${Bun.version}, ${navigator.hardwareConcurrency} cores`);
  console.log(`memory per queued FlowRecord: ~${memoryPerRecord()} bytes`);
  const enc = await encodeComparison();
  console.log(`encode FlowBatch of ${BATCH} (records/s, best of 5, 200k records):`);
  console.log(`  @bufbuild/protobuf  convert+encode ${fmt(enc.es.convertAndEncode)}  encode only ${fmt(enc.es.encodeOnly)}  (${enc.bytesPerRecord.toFixed(1)} B/record)`);
  console.log(`  protobufjs          convert+encode ${fmt(enc.pbjs.convertAndEncode)}  encode only ${fmt(enc.pbjs.encodeOnly)}  (${enc.pbjsBytes.toFixed(1)} B/record)`);
  console.log(`  flow-wire (ours)    FlowRecords → bytes ${fmt(enc.direct)}  (same bytes as @bufbuild)`);
  const runs = [
    ["netflow", 1000, "lean", "sink"],
    ["netflow", 5000, "lean", "sink"],
    ["netflow", 10_000, "lean", "sink"],
    ["netobserv", 5000, "lean", "sink"],
    ["netflow", 5000, "connect-node", "sink"],
    ["netflow", 5000, "lean", "collect"],
    ["netobserv", 5000, "lean", "collect"],
  ] as const;
  for (const [protocol, batch, transport, collector] of runs) {
    const r = await exportPath(protocol, batch, transport, collector);
    console.log(
      `export ${r.protocol.padEnd(9)} batch ${String(r.batchRecords).padStart(5)} ${r.transport.padEnd(12)} → ${r.collector.padEnd(7)}: ` +
        `${fmt(r.recordsPerSec).padStart(9)} records/s wall, ${r.cpuMsPer100k.toFixed(0).padStart(4)} CPU ms per 100k ` +
        `(= ${fmt(Math.round((100_000 / r.cpuMsPer100k) * 1000))} records/s per core); delivered ${fmt(r.delivered)}; ${r.totals.includes(`${fmt(r.delivered).replaceAll(",", "")} flows`) ? "collector totals match" : `collector: ${r.totals}`}`,
    );
  }
}
