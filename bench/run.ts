#!/usr/bin/env bun
/**
 * The benchmark (not a test: it prints figures, asserts nothing about speed).
 * Needs root. Prints the figures README.md quotes, as a markdown table.
 *   sudo bun bench/run.ts            all kernel-side figures
 *   sudo bun bench/run.ts --quick    fewer repetitions
 */
import { measureBpfCost } from "./bpf-cost.ts";
import { measureEviction } from "./eviction-cost.ts";
import { measureThroughput } from "./veth-throughput.ts";
import { release, cpus } from "node:os";

if (process.getuid?.() !== 0) {
  console.error("bench: needs root (loads BPF programs, creates namespaces): sudo bun bench/run.ts");
  process.exit(2);
}
const quick = process.argv.includes("--quick");
const say = (s: string) => process.stderr.write(`bench: ${s}\n`);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

say("BPF_PROG_TEST_RUN cost per packet…");
const cost = await measureBpfCost(quick ? 200_000 : 1_000_000, quick ? 3 : 7);
say("eviction of 100k flows…");
const eviction = await measureEviction(100_000, quick ? 2 : 5);
say("veth throughput with 10k flows…");
const tp = await measureThroughput(10_000, 5, quick ? 2 : 5);

const v4 = cost.find((c) => c.packet === "IPv4 TCP")!;
const v6 = cost.find((c) => c.packet === "IPv6 TCP")!;
const rows: [string, string, string][] = [
  ["BPF cost per packet, IPv4 TCP (known flow)", `${v4.flowNs} ns`, `floor ${v4.floorNs} ns (dual-stack 5-tuple key) → ${(v4.flowNs / v4.floorNs).toFixed(2)}×; IPv4-only key floor ${v4.floorV4KeyNs} ns → ${(v4.flowNs / v4.floorV4KeyNs).toFixed(2)}×`],
  ["BPF cost per packet, IPv6 TCP (known flow)", `${v6.flowNs} ns`, "floor parses IPv4 only"],
  ["pps on veth, no agent", `${Math.round(tp.ppsWithout).toLocaleString("en")}`, `median of ${tp.runs} × ${tp.seconds} s; 64-byte UDP payload, ${tp.flows.toLocaleString("en")} flows, one sender thread pinned to CPU 1`],
  ["pps on veth, agent attached", `${Math.round(tp.ppsWith).toLocaleString("en")}`, `${((1 - tp.ppsWith / tp.ppsWithout) * 100).toFixed(1)}% lower`],
  ["agent CPU (user+sys) at that rate", `${tp.agentCpuPercent.toFixed(2)} % of one core`, `${tp.runs} × ${tp.seconds} s, eviction every 5 s, JSON lines to /dev/null`],
  ["agent CPU, same 10k flows at a tenth of the rate", `${tp.agentCpuPercentTenthRate.toFixed(2)} % of one core`, "the agent's work is per flow and eviction, not per packet"],
  ["agent RSS", `${tp.agentRssMiB.toFixed(0)} MiB`, ""],
  ["eviction of 100k flows", `${median(eviction.evictionMs).toFixed(1)} ms`, `median of ${eviction.evictionMs.length}: ${eviction.evictionMs.map((m) => m.toFixed(0)).join(", ")} ms`],
];
console.log(`Measured ${new Date().toISOString().slice(0, 10)} on kernel ${release()}, ${cpus().length} × ${cpus()[0]?.model.trim()}\n`);
console.log("| figure | value | notes |\n|---|---|---|");
for (const [a, b, c] of rows) console.log(`| ${a} | ${b} | ${c} |`);
