#!/usr/bin/env bun
/**
 * IPFIX encoding speed beside the netflow.v1 path (not a test; prints figures):
 * 100k rows of a FlowColumns batch encoded into messages of the default MTU,
 * IPv4 and IPv6, the two encoders alternated in one run, median of 9 rounds
 * each, records/s and ms per 100k. Each round's output is handed back as
 * the exporters do once it is sent (netflow.v1's blocks settled, IPFIX
 * messages released), so both reuse their buffers. Run it alone: the VM is
 * noisy; the ratio of the two in one run is the figure to compare.
 * "IPv4 sampled": a third each unsampled, 1-in-10 and 1-in-100 (three
 * observation domains, ipfix-encoder.ts).
 *
 *   bun bench/ipfix-encode.ts
 */
import { BlockBuffers, type EncodedRecords, encodeRecordBlocks } from "../src/export/encoded-records.ts";
import { writeFlowEntry } from "../src/export/flow-wire.ts";
import { IpfixEncoder } from "../src/export/ipfix-encoder.ts";
import { maxMessageBytes } from "../src/export/ipfix-exporter.ts";
import { FlowColumns } from "../src/flow/flow-columns.ts";
import { randomFlows } from "../test/api/flow-fixtures.ts";
import { tiledColumns } from "../test/export/export-fixtures.ts";

const ROWS = 100_000;
const ROUNDS = 9;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

for (const family of ["IPv4", "IPv6", "IPv4 sampled"] as const) {
  const base = randomFlows(1000, 5)
    .filter((r) => (family === "IPv6" ? r.ethType === 0x86dd : r.ethType === 0x0800))
    .map((r, i) => ({ ...r, l2HeaderLen: 14, bytes: r.packets * 14 + (r.bytes % 2 ** 40), sampling: family === "IPv4 sampled" ? [1, 10, 100][i % 3]! : 1 }));
  const flows = tiledColumns(FlowColumns.fromRecords(base), ROWS);
  const encoder = new IpfixEncoder(1, maxMessageBytes(1500, false));
  const buffers = new BlockBuffers();
  const ipfixMs: number[] = [];
  const netflowMs: number[] = [];
  let messages = 0;
  let bytes = 0;
  for (let round = 0; round < ROUNDS + 1; round++) {
    let t = performance.now();
    const out = encoder.flows(flows, 1_764_000_000);
    const ipfix = performance.now() - t;
    t = performance.now();
    const blocks: EncodedRecords[] = [];
    encodeRecordBlocks(flows, writeFlowEntry, buffers, (b) => blocks.push(b));
    const netflow = performance.now() - t;
    // As export() and the queue / the paced sender do: hand the buffers back once "delivered".
    buffers.keepFor(blocks.length);
    for (const b of blocks) b.settle(b.count);
    for (const m of out) encoder.release(m);
    if (round === 0) continue; // warm-up
    ipfixMs.push(ipfix);
    netflowMs.push(netflow);
    messages = out.length;
    bytes = out.reduce((s, m) => s + m.bytes.length, 0);
  }
  const ipfix = median(ipfixMs);
  const netflow = median(netflowMs);
  console.log(
    `${family}: IPFIX ${Math.round((ROWS / ipfix) * 1000).toLocaleString("en-US")} records/s (${ipfix.toFixed(1)} ms per 100k, ` +
      `${messages} messages, ${(bytes / ROWS).toFixed(1)} B/record); netflow.v1 ${Math.round((ROWS / netflow) * 1000).toLocaleString("en-US")} records/s ` +
      `(${netflow.toFixed(1)} ms); IPFIX/netflow.v1 time ${(ipfix / netflow).toFixed(2)}`,
  );
}
