#!/usr/bin/env bun
/**
 * Export path figures (not a test; prints them):
 *  1. encode from FlowColumns, the way export() does it (encodeRecordBlocks:
 *     rows → netflow.v1 / pbflow records in reused 256 KiB blocks), records/s
 *     and ms per 100k rows, IPv4 and IPv6 rows; the same into fresh memory
 *     (the first burst, before buffers are reused); and @bufbuild/protobuf's
 *     create() + toBinary() of the same rows for reference;
 *  2. one eviction of a full map (1,048,576 flows) handed to export() while
 *     the collector is away: the time export() takes, bytes queued per record,
 *     heap and RSS growth;
 *  3. the whole export path (export() → encode → queue → gRPC over h2c) to a
 *     counting receiver in a child process on 127.0.0.1, netflow.v1 and
 *     pbflow: records/s (wall) and this process's CPU ms per 100k records.
 *     Numbers vary by ±30% on a busy machine: run it alone.
 *
 *   bun bench/export-bench.ts            (RECORDS=1000000 by default)
 */
import { create, toBinary } from "@bufbuild/protobuf";
import { toFlowMessage } from "../src/api/flow-message.ts";
import { BlockBuffers, type EncodedRecords, encodeRecordBlocks, type WriteRecord } from "../src/export/encoded-records.ts";
import { writeFlowEntry, writePbflowRecord } from "../src/export/flow-wire.ts";
import { GrpcExporter } from "../src/export/grpc-exporter.ts";
import { FlowColumns } from "../src/flow/flow-columns.ts";
import type { FlowBatch, FlowRecord, KernelCounters } from "../src/flow/flow-record.ts";
import { FlowBatchSchema } from "../src/gen/netflow/v1/flow_pb.ts";
import { createLogger } from "../src/log.ts";
import { tiledColumns } from "../test/export/export-fixtures.ts";

/** A multiple of 100,000. */
const RECORDS = Number(process.env.RECORDS ?? 1_000_000);
const MAP_CEILING = 1_048_576;
const counters: KernelCounters = { ringbufPackets: 0, droppedPackets: 0, droppedBytes: 0, mapErrors: 0, truncated: 0, flowsInserted: 0 };
const agentIp = Uint8Array.of(0x0d, 1, 0, 0, 10); // pbflow.IP{ipv4: 10.0.0.1}, encoded
const writePbflow: WriteRecord = (w, flows, i, names) => writePbflowRecord(w, flows, i, agentIp, names);
const fmt = (n: number) => Math.round(n).toLocaleString("en-US");

/** Varied busy-node rows: TCP/UDP, 8 interfaces, counters and times of a 5 s eviction. */
function makeRecords(count: number, ipv6: boolean, offset = 0): FlowRecord[] {
  return Array.from({ length: count }, (_, n) => {
    const i = n + offset;
    const src = new Uint8Array(16);
    const dst = new Uint8Array(16);
    if (ipv6) {
      src.set([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, (i >> 24) & 0xff, (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff]);
      dst.set([0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, (i >> 8) & 0xff, i & 0xff]);
    } else {
      src[10] = src[11] = dst[10] = dst[11] = 0xff;
      src.set([10, (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff], 12);
      dst.set([10, 200, (i >> 8) & 0xff, i & 0xff], 12);
    }
    return {
      ifindex: 2 + (i % 8), interface: `veth${i % 8}`, direction: i % 2 ? "egress" : "ingress", ethType: ipv6 ? 0x86dd : 0x0800,
      protocol: i % 3 ? 6 : 17, srcAddr: src, dstAddr: dst, srcPort: 1024 + (i % 60000), dstPort: 443,
      packets: 1 + (i % 100), bytes: 64 + (i % 100) * 1400, startMs: 1_764_000_000_000 + i + 0.123, endMs: 1_764_000_004_000 + i + 0.456,
      tcpFlags: i % 3 ? 0x18 : 0, dscp: 0, icmpType: 0, icmpCode: 0,
      srcMac: Uint8Array.of(2, 0, 0, 0, 0, i & 0xff), dstMac: Uint8Array.of(2, 0, 0, 0, 1, i & 0xff), flags: 0,
    };
  });
}

/** ms to encode every row of `flows` into blocks; `fresh`: new buffers each time (no reuse). */
function encodeMs(flows: FlowColumns, write: WriteRecord, buffers: BlockBuffers, fresh: boolean): { ms: number; bytes: number } {
  const blocks: EncodedRecords[] = [];
  const t0 = performance.now();
  encodeRecordBlocks(flows, write, fresh ? new BlockBuffers() : buffers, (b) => blocks.push(b));
  const ms = performance.now() - t0;
  buffers.keepFor(blocks.length); // as export() does, before any of them is delivered
  let bytes = 0;
  for (const b of blocks) {
    bytes += b.size(0, b.count);
    b.settle(b.count); // as the queue does once they are delivered: their buffers go back for the next run
  }
  return { ms, bytes };
}

function encodeFigures() {
  console.log("encode from FlowColumns, 100,000 rows (best of 15 after 5 warm-up runs):");
  console.log("  rows   protocol    steady (reused blocks)          new buffers every run        bytes/record");
  for (const ipv6 of [false, true]) {
    const flows = FlowColumns.fromRecords(makeRecords(100_000, ipv6));
    for (const [name, write] of [["netflow.v1", writeFlowEntry], ["pbflow", writePbflow]] as const) {
      const buffers = new BlockBuffers();
      for (let r = 0; r < 5; r++) encodeMs(flows, write, buffers, false);
      const steady = Math.min(...Array.from({ length: 15 }, () => encodeMs(flows, write, buffers, false).ms));
      const fresh = Math.min(...Array.from({ length: 5 }, () => encodeMs(flows, write, buffers, true).ms));
      const { bytes } = encodeMs(flows, write, buffers, false);
      console.log(
        `  ${ipv6 ? "IPv6" : "IPv4"}   ${name.padEnd(10)}  ${steady.toFixed(1).padStart(5)} ms  (${fmt((100_000 / steady) * 1000).padStart(10)} records/s)` +
          `  ${fresh.toFixed(1).padStart(5)} ms  (${fmt((100_000 / fresh) * 1000).padStart(10)}/s)   ${(bytes / 100_000).toFixed(1)}`,
      );
    }
  }
  // Reference: what the hand-written encoder replaces (a message object per flow, reflection).
  const records = FlowColumns.fromRecords(makeRecords(10_000, false)).records();
  let best = Infinity;
  for (let r = 0; r < 5; r++) {
    const t0 = performance.now();
    toBinary(FlowBatchSchema, create(FlowBatchSchema, { flows: records.map(toFlowMessage) }));
    best = Math.min(best, performance.now() - t0);
  }
  console.log(`  reference: @bufbuild create()+toBinary() from FlowRecords, IPv4: ${(best * 10).toFixed(0)} ms per 100k (${fmt((10_000 / best) * 1000)} records/s)`);
}

/** export() of one full map while nobody listens: the burst the queue default is sized for. */
async function fullMapBurst(protocol: "netflow" | "netobserv") {
  const flows = tiledColumns(FlowColumns.fromRecords(makeRecords(65_536, false)), MAP_CEILING);
  const exporter = GrpcExporter.connect(
    { target: { host: "127.0.0.1", port: 9 }, protocol, queueBytes: 256 * 2 ** 20, batchRecords: 5000, batchIntervalMs: 1000, flushTimeoutMs: 0, agentIp: Uint8Array.of(10, 0, 0, 1) },
    createLogger("error"),
  );
  Bun.gc(true);
  const heap0 = process.memoryUsage().heapUsed;
  const rss0 = process.memoryUsage().rss;
  const t0 = performance.now();
  exporter.export({ flows, evictedAtMs: Date.now(), evictionMs: 1, counters });
  const ms = performance.now() - t0;
  const s = exporter.stats();
  Bun.gc(true);
  const mem = process.memoryUsage();
  console.log(
    `  ${protocol.padEnd(9)}: export() ${fmt(ms)} ms (${(ms / (MAP_CEILING / 100_000)).toFixed(1)} ms per 100k); queued ${fmt(s.queuedRecords)} records, ` +
      `${(s.queuedBytes / s.queuedRecords).toFixed(1)} B each (${fmt(s.queuedBytes / 2 ** 20)} MiB); dropped ${s.droppedRecords}; ` +
      `heap +${fmt((mem.heapUsed - heap0) / 2 ** 20)} MiB, RSS +${fmt((mem.rss - rss0) / 2 ** 20)} MiB`,
  );
  await exporter[Symbol.asyncDispose]();
  // The next eviction of the same size, once the first has drained: into the same block buffers.
  const buffers = new BlockBuffers();
  const write = protocol === "netflow" ? writeFlowEntry : writePbflow;
  encodeMs(flows, write, buffers, false);
  const again = encodeMs(flows, write, buffers, false).ms;
  console.log(`             the next full map, into the buffers the first one drained from: ${fmt(again)} ms (${(again / (MAP_CEILING / 100_000)).toFixed(1)} ms per 100k)`);
}

/** `sink` mode (a child of this bench): collect's Connect services with a sink that only counts. */
async function runSink() {
  const { startConnectServer } = await import("../src/net/connect-server.ts");
  const { collectorService } = await import("../src/collect/collector-service.ts");
  const { netobservCollector } = await import("../src/collect/netobserv-collector.ts");
  const { BatchLedger, ledgerLine } = await import("../src/collect/batch-ledger.ts");
  const { CollectorService } = await import("../src/gen/netflow/v1/collector_pb.ts");
  const { Collector } = await import("../src/gen/pbflow/flow_pb.ts");
  const ledger = new BatchLedger();
  const stats = () => ({ queuedRecords: 0, queuedBytes: 0, sentRecords: 0, droppedRecords: 0, sendErrors: 0 });
  const sink = { name: "count", export() {}, stats, async [Symbol.asyncDispose]() {} };
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

async function startSink(): Promise<{ port: number; stop(): Promise<string> }> {
  const proc = Bun.spawn([process.execPath, import.meta.path, "sink"], { stdout: "ignore", stderr: "pipe" });
  let stderr = "";
  void (async () => {
    for await (const chunk of proc.stderr as unknown as AsyncIterable<Uint8Array>) stderr += new TextDecoder().decode(chunk);
  })();
  const deadline = Date.now() + 10_000;
  while (!/collecting on http:\/\/127\.0\.0\.1:(\d+)/.test(stderr)) {
    if (Date.now() > deadline || proc.exitCode !== null) throw new Error(`sink did not start: ${stderr}`);
    await Bun.sleep(20);
  }
  return {
    port: Number(/collecting on http:\/\/127\.0\.0\.1:(\d+)/.exec(stderr)![1]),
    async stop() {
      proc.kill("SIGTERM");
      await proc.exited;
      return stderr.split("\n").filter((l) => l.includes("totals")).join("; ");
    },
  };
}

async function exportPath(protocol: "netflow" | "netobserv", batchRecords: number) {
  const sink = await startSink();
  // 100,000 distinct rows as 10 evictions of 10,000, exported RECORDS / 100,000 times over.
  const evictions: FlowBatch[] = Array.from({ length: 10 }, (_, e) => ({
    flows: FlowColumns.fromRecords(makeRecords(10_000, false, e * 10_000)),
    evictedAtMs: Date.now(),
    evictionMs: 1,
    counters,
  }));
  Bun.gc(true);
  const exporter = GrpcExporter.connect(
    { target: { host: "127.0.0.1", port: sink.port }, protocol, queueBytes: 2 ** 30, batchRecords, batchIntervalMs: 100, flushTimeoutMs: 600_000, agentIp: Uint8Array.of(10, 0, 0, 1) },
    createLogger("warn"),
  );
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let n = 0; n < RECORDS / 10_000; n++) exporter.export(evictions[n % evictions.length]!);
  await exporter[Symbol.asyncDispose]();
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const sent = exporter.stats().sentRecords;
  const totals = await sink.stop();
  const cpuMsPer100k = ((cpu.user + cpu.system) / 1000 / sent) * 100_000;
  console.log(
    `  ${protocol.padEnd(9)} batch ${String(batchRecords).padStart(5)}: ${fmt((sent / wallMs) * 1000).padStart(9)} records/s wall, ` +
      `${cpuMsPer100k.toFixed(0).padStart(4)} CPU ms per 100k (= ${fmt((100_000 / cpuMsPer100k) * 1000)} records/s per core); ` +
      `sent ${fmt(sent)}; ${totals.includes(` ${sent} flows`) ? "receiver totals match" : `receiver: ${totals}`}`,
  );
}

if (process.argv[2] === "sink") {
  await runSink();
} else {
  console.log(`export bench: bun ${Bun.version}, ${navigator.hardwareConcurrency} cores, RECORDS=${fmt(RECORDS)}`);
  encodeFigures();
  console.log(`one eviction of a full map (${fmt(MAP_CEILING)} IPv4 rows) to export(), collector away, --export-queue-bytes 256MiB:`);
  for (const protocol of ["netflow", "netobserv"] as const) await fullMapBurst(protocol);
  console.log(`whole export path, evictions of 10,000 rows → gRPC h2c → counting receiver (child process):`);
  for (const [protocol, batch] of [["netflow", 5000], ["netflow", 10_000], ["netobserv", 5000]] as const) await exportPath(protocol, batch);
}
