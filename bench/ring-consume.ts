/**
 * The overflow path's throughput: the ring buffer filled by the real program
 * (BPF_PROG_TEST_RUN through a 16-entry flows map, so every packet of a new
 * flow spills), then read in place and folded into flows (OverflowRing +
 * OverflowFlows, what eviction does). Prints records/s for one hot flow and
 * for 10,000 distinct flows. Target: ≥ 2 M records/s. Run as root:
 *   bun bench/ring-consume.ts
 */
import { FlowObject } from "../src/bpf/flow-object.ts";
import { progTestRun } from "../src/bpf/libbpf.ts";
import { OverflowRing } from "../src/bpf/overflow-ring.ts";
import { OverflowFlows } from "../src/flow/overflow-flows.ts";
import { bytes, ethernet, ipv4, udp } from "../test/helpers/packets.ts";

const FILL = 60_000; // records per round: under the 8 MiB ring's ~74k

using object = await FlowObject.load({ initialFlows: 16 });
using ring = new OverflowRing(object.overflowFd, object.overflowBytes);
const overflow = new OverflowFlows();
const fold = (words: Uint32Array, at: number) => overflow.add(words, at);

const packet = (port: number) => bytes(ethernet(0x0800), ipv4({ protocol: 17, src: "198.18.0.1", dst: "198.18.0.2", payloadLength: 8 }), udp(port, 53, 0));
// Fill the map with 16 other flows, so every packet below spills.
for (let p = 0; p < 16; p++) progTestRun(object.ingressFd, packet(60000 + p), 1);

function round(distinct: number): { records: number; ms: number } {
  const per = FILL / distinct;
  for (let p = 0; p < distinct; p++) progTestRun(object.ingressFd, packet(1000 + p), per);
  const started = performance.now();
  const records = ring.consume(fold);
  const ms = performance.now() - started;
  overflow.clear();
  return { records, ms };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
// Warm the JIT up on both shapes first: the first reads of a cold process measure the compiler.
for (let i = 0; i < 5; i++) round(i % 2 ? 1 : 10_000);
const rows: Record<string, string>[] = [];
for (const distinct of [1, 10_000]) {
  const rates: number[] = [];
  let records = 0;
  for (let i = 0; i < 7; i++) {
    const r = round(distinct);
    records = r.records;
    rates.push(r.records / (r.ms / 1000));
  }
  rows.push({ flows: String(distinct), "records per read": String(records), "records/s (median of 7)": `${(median(rates) / 1e6).toFixed(2)} M` });
}
console.table(rows);
