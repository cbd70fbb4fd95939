#!/usr/bin/env bun
/**
 * Interface churn figures: veth pairs created and deleted one after another
 * while the agent runs (test/helpers/interface-churn.ts), attach and detach
 * latency, and the agent's fds, BPF links and RSS along the way. The e2e test
 * (test/e2e/interface-churn.test.ts) asserts on the same run.
 *   sudo bun bench/interface-churn.ts [--cycles 1000] [--poll 100] [--mode auto|tc]
 */
import { release } from "node:os";
import { parseArgs } from "node:util";
import { runInterfaceChurn } from "../test/helpers/interface-churn.ts";

if (process.getuid?.() !== 0) {
  console.error("bench: needs root (loads BPF programs, creates namespaces): sudo bun bench/interface-churn.ts");
  process.exit(2);
}
const { values } = parseArgs({ options: { cycles: { type: "string", default: "1000" }, poll: { type: "string", default: "100" }, mode: { type: "string", default: "auto" } } });
const cycles = Number(values.cycles);
const pollMs = Number(values.poll);
const say = (s: string) => process.stderr.write(`bench: ${s}\n`);
const sampleAt = [10, 100, 250, 500, 750].filter((c) => c < cycles);

say(`${cycles} churn cycles, --interface-poll-interval ${pollMs}ms, --attach-mode ${values.mode}…`);
const r = await runInterfaceChurn({ cycles, pollMs, attachMode: values.mode === "tc" ? "tc" : "auto", sampleAt, progress: say });

const q = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;
const ms = (xs: number[]) => `${q(xs, 0.5).toFixed(0)} / ${q(xs, 0.99).toFixed(0)} / ${Math.max(...xs).toFixed(0)} ms`;
const mib = (kib: number) => `${(kib / 1024).toFixed(1)} MiB`;
/** The least RSS over the 50 cycles up to `cycle`: a single reading swings with the GC. */
const low = (cycle: number) => Math.min(...r.rssKiB.slice(Math.max(0, cycle - 50), cycle));

console.log(`Measured ${new Date().toISOString().slice(0, 10)} on kernel ${release()}, ${r.cyclesDone} cycles in ${(r.durationMs / 1000).toFixed(0)} s\n`);
console.log("| after cycle | fds | BPF links | RSS | RSS low-water (50 cycles) |\n|---|---|---|---|---|");
for (const s of r.samples) console.log(`| ${s.cycle} | ${s.fds} | ${s.links} | ${mib(s.rssKiB)} | ${mib(low(s.cycle))} |`);
console.log(`| after the last delete | ${r.end.fds} | ${r.end.links} | | |`);
console.log(`\nattach latency median / p99 / max: ${ms(r.attachMs)} (poll every ${pollMs} ms)`);
console.log(`detach latency median / p99 / max: ${ms(r.detachMs)}`);
console.log(`RSS max ${mib(Math.max(...r.rssKiB))}; kernel links to the agent's programs at the end: ${r.end.kernelLinksToOurPrograms}; agent exit ${r.exitCode}`);
console.log(`problems: ${r.problems.length === 0 ? "none" : r.problems.join("; ")}${r.warnings.length ? `; agent warnings: ${r.warnings.join("; ")}` : ""}`);
process.exit(r.problems.length === 0 && r.exitCode === 0 ? 0 : 1);
