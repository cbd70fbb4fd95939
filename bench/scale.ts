#!/usr/bin/env bun
/**
 * The agent at scale: 10k, 100k and 1M concurrent flows at a fixed packet
 * rate through a veth pair, with the agent's DEFAULT flags (5 s evictions,
 * map from 4096 up to 1,048,576), once printing JSON lines to /dev/null and
 * once exporting over gRPC to `netflow-agent collect` (output to /dev/null).
 * Per case: the agent's CPU (% of one core over the steady window), RSS each
 * second (start, median, max, end), eviction time (Status lastEviction) and
 * CPU per eviction (drain + encode + export), kernel memory (Status), and
 * packets sent against packets accounted (Status totals) and reported lost.
 * Then the generator's pps without and with the agent, alternating.
 *
 *   bun bench/scale.ts [--quick] [--pps 300000] [--flows 10000,100000,1000000] [--export json,grpc] [--minutes N]
 * --minutes N: instead, N minutes at 100k flows exported over gRPC, RSS each minute (flatness).
 *
 * Needs root. The generator (bench/flow-flood.c) is pinned to CPU 1, the agent to CPU 0.
 */
import { readFileSync } from "node:fs";
import { cpus, release } from "node:os";
import { $ } from "bun";
import { cliPath } from "../test/helpers/agent-process.ts";
import { statusIn, type AgentStatusReport } from "../test/helpers/agent-status.ts";
import { FlowFlood, routeFloodDestinations, type FloodReport } from "../test/helpers/flow-flood.ts";
import { VethPair } from "../test/helpers/netns.ts";

if (process.getuid?.() !== 0) {
  console.error("scale: needs root (loads BPF programs, creates namespaces): sudo bun bench/scale.ts");
  process.exit(2);
}
const argv = process.argv.slice(2);
const text = (name: string, fallback: string) => (argv.includes(name) ? argv[argv.indexOf(name) + 1]! : fallback);
const option = (name: string, fallback: number) => Number(text(name, String(fallback)));
const quick = argv.includes("--quick");
const PPS = option("--pps", 300_000);
const MINUTES = option("--minutes", 0);
const FLOW_COUNTS = text("--flows", "10000,100000,1000000").split(",").map(Number);
const EXPORTS = text("--export", "json,grpc").split(",") as Export[];
const API = "127.0.0.1:9990";
const COLLECTOR = "127.0.0.1:9999";
const CLK_TCK = Number((await $`getconf CLK_TCK`.text()).trim());
const WARMUP_S = quick ? 6 : 11; // the first (early) evictions grow the map
const WINDOW_S = quick ? 15 : 30;
const PPS_RUNS = quick ? 1 : 3;
const PPS_SECONDS = 5;
const IDLE_S = quick ? 3 : 5;
const say = (s: string) => process.stderr.write(`scale: ${s}\n`);
const median = (xs: number[]) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]! : NaN);
const MiB = 1024 * 1024;

function cpuTicks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15 of stat)
}
function rssMiB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, "utf8").split("\n").find((l) => l.startsWith("VmRSS:"))!;
  return Number(line.split(/\s+/)[1]) / 1024;
}

/** An eviction as the agent logs it at --log-level debug. */
interface EvictionLine {
  atMs: number;
  flows: number;
  ms: number;
}

/** A child in namespace `ns` (ip netns exec and taskset exec in place: the pid is the program's). */
class Child implements AsyncDisposable {
  stderr = "";
  readonly evictions: EvictionLine[] = [];
  readonly proc: Bun.Subprocess<"ignore", "ignore", "pipe">;
  private constructor(cmd: string[]) {
    // stdout "ignore": the JSON lines go to /dev/null.
    const proc = Bun.spawn(cmd, { stdin: "ignore", stdout: "ignore", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } });
    this.proc = proc;
    void (async () => {
      const reader = proc.stderr.getReader();
      const decoder = new TextDecoder();
      let partial = "";
      for (let r = await reader.read(); !r.done; r = await reader.read()) {
        const text = decoder.decode(r.value, { stream: true });
        const lines = (partial + text).split("\n");
        partial = lines.pop()!;
        for (const line of lines) {
          const m = /evicted (\d+) flows in ([\d.]+) ms/.exec(line);
          if (m) this.evictions.push({ atMs: Date.now(), flows: Number(m[1]), ms: Number(m[2]) });
          else this.stderr += line + "\n"; // one line per eviction would make this grow for a long run
        }
      }
    })();
  }
  static async start(ns: string, args: string[], ready: string, cpu?: number): Promise<Child> {
    const pin = cpu === undefined ? [] : ["taskset", "-c", String(cpu)];
    const child = new Child(["ip", "netns", "exec", ns, ...pin, process.execPath, cliPath, ...args]);
    const deadline = Date.now() + 20000;
    while (!child.stderr.includes(ready)) {
      if (child.proc.exitCode !== null || Date.now() > deadline) {
        await child[Symbol.asyncDispose]();
        throw new Error(`${args[0]} did not start: ${child.stderr.trim()}`);
      }
      await Bun.sleep(20);
    }
    return child;
  }
  async stop(): Promise<number> {
    if (this.proc.exitCode === null) this.proc.kill("SIGTERM");
    return this.proc.exited;
  }
  async [Symbol.asyncDispose]() {
    if (this.proc.exitCode === null) this.proc.kill("SIGKILL");
    await this.proc.exited;
  }
}

type Export = "json" | "grpc";
const agentArgs = (pair: VethPair, exp: Export) => ["run", "--interfaces", pair.a.ifname, ...(exp === "grpc" ? ["--export", "grpc", "--target", COLLECTOR] : [])];

interface CaseResult {
  flows: number;
  export: Export;
  report: FloodReport;
  cpuPercent: number;
  /** The same agent before the traffic. */
  idlePercent: number;
  rss: number[];
  /** Evictions in the window, as logged. */
  evictions: EvictionLine[];
  /** The window's CPU above idle, per eviction: drain, encode, export. */
  cpuMsPerEviction: number;
  /** Of the window's evictions, those started early (the map filling), from Status. */
  earlyEvictions: number;
  capacity: number;
  kernelMiB: number;
  accounted: number;
  reportedLost: number;
  sinkDropped: number;
}

/**
 * One case: the agent (default flags; --log-level debug only for its one line per eviction),
 * the generator at PPS for warm-up + window, then one eviction more. Status is read outside the
 * CPU window (each call costs the agent CPU: ~0.4 % of a core at one a second).
 */
async function runCase(pair: VethPair, flows: number, exp: Export, windowS = WINDOW_S, onMinute?: (rss: number[], status: AgentStatusReport) => void): Promise<CaseResult> {
  await using collector = exp === "grpc" ? await Child.start(pair.a.ns, ["collect", "--listen", COLLECTOR, "--output-file", "/dev/null"], "collecting on") : undefined;
  await using agent = await Child.start(pair.a.ns, [...agentArgs(pair, exp), "--log-level", "debug"], "capturing on", 0);
  const pid = agent.proc.pid;
  const first = await statusIn(pair.a.ns, API);
  const rss: number[] = [rssMiB(pid)];
  // Its CPU with nothing to do (fill checks every 100 ms, interface polls), to tell it from the eviction work.
  const idleTicks0 = cpuTicks(pid);
  const idleT0 = performance.now();
  await Bun.sleep(IDLE_S * 1000);
  const idlePercent = ((cpuTicks(pid) - idleTicks0) / CLK_TCK / ((performance.now() - idleT0) / 1000)) * 100;
  await using generator = await FlowFlood.start(pair.a, { flows, seconds: WARMUP_S + windowS, pps: PPS, cpu: 1 });
  const sampleRss = setInterval(() => rss.push(rssMiB(pid)), 1000);
  const minutes = onMinute && setInterval(async () => onMinute(rss, await statusIn(pair.a.ns, API)), 60_000);
  try {
    await Bun.sleep(WARMUP_S * 1000 - 500);
    const atStart = await statusIn(pair.a.ns, API);
    const ticks0 = cpuTicks(pid);
    const t0 = performance.now();
    const wall0 = Date.now();
    const report = await generator.report();
    const seconds = (performance.now() - t0) / 1000;
    const ticks = cpuTicks(pid) - ticks0;
    const wall1 = Date.now();
    const atEnd = await statusIn(pair.a.ns, API);
    const inWindow = agent.evictions.filter((e) => e.atMs >= wall0 && e.atMs <= wall1);
    // One eviction after the traffic: everything sent is then out of the kernel and counted.
    while (!agent.evictions.some((e) => e.atMs > wall1)) {
      if (agent.proc.exitCode !== null || Date.now() > wall1 + 30_000) throw new Error(`no eviction after the traffic: ${agent.stderr.trim()}`);
      await Bun.sleep(100);
    }
    const last = await statusIn(pair.a.ns, API);
    return {
      flows,
      export: exp,
      report,
      cpuPercent: (ticks / CLK_TCK / seconds) * 100,
      idlePercent,
      rss: [...rss, rssMiB(pid)],
      evictions: inWindow,
      cpuMsPerEviction: inWindow.length > 0 ? ((ticks / CLK_TCK - (idlePercent / 100) * seconds) * 1000) / inWindow.length : NaN,
      earlyEvictions: atEnd.flowMaps.earlyEvictions - atStart.flowMaps.earlyEvictions,
      capacity: atEnd.flowMaps.capacity,
      kernelMiB: atEnd.flowMaps.kernelMemoryBytes / MiB,
      accounted: last.totals.packets - first.totals.packets,
      reportedLost: last.kernel.droppedPackets - first.kernel.droppedPackets,
      sinkDropped: last.sinks.reduce((s, x) => s + x.droppedRecords, 0),
    };
  } finally {
    clearInterval(sampleRss);
    if (minutes) clearInterval(minutes);
    const code = await agent.stop();
    if (code !== 0) say(`agent exited ${code}: ${agent.stderr.trim().split("\n").slice(-3).join(" | ")}`);
  }
}

/** The generator's highest rate without and with the agent attached, alternating; medians. */
async function ppsWithoutWith(pair: VethPair, flows: number) {
  const without: number[] = [];
  const withAgent: number[] = [];
  for (let i = 0; i < PPS_RUNS; i++) {
    without.push((await (await FlowFlood.start(pair.a, { flows, seconds: PPS_SECONDS, cpu: 1 })).report()).pps);
    await using agent = await Child.start(pair.a.ns, agentArgs(pair, "json"), "capturing on", 0);
    withAgent.push((await (await FlowFlood.start(pair.a, { flows, seconds: PPS_SECONDS, cpu: 1 })).report()).pps);
    await agent.stop();
  }
  return { without: median(without), with: median(withAgent), runs: without.length };
}

const f0 = (x: number) => (Number.isFinite(x) ? x.toFixed(0) : "–");
const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : "–");
const n = (x: number) => Math.round(x).toLocaleString("en");
const mark = (ok: boolean) => (ok ? "✓" : "✗");
const rssFigures = (rss: number[]) => ({ start: rss[0]!, median: median(rss), max: Math.max(...rss), end: rss.at(-1)! });

await using pair = await VethPair.create();
await routeFloodDestinations(pair);
await pair.settle(3000);
console.log(`Measured ${new Date().toISOString().slice(0, 19)}Z on kernel ${release()}, ${cpus().length} × ${cpus()[0]?.model.trim()}, ${quick ? "--quick" : "full"}`);

if (MINUTES > 0) {
  say(`100k flows over gRPC for ${MINUTES} min, RSS every minute…`);
  const perMinute: string[] = [];
  const r = await runCase(pair, 100_000, "grpc", MINUTES * 60, (rss, status) =>
    perMinute.push(`| ${perMinute.length + 1} | ${f0(rss.at(-1)!)} | ${f0(status.flowMaps.kernelMemoryBytes / MiB)} | ${n(status.flowMaps.capacity)} | ${n(status.totals.evictions)} |`),
  );
  const rss = rssFigures(r.rss);
  const late = r.rss.slice(60); // after the first minute
  console.log(`\n100k flows, gRPC export, ${MINUTES} min at ${n(r.report.pps)} pps; agent CPU ${r.cpuPercent.toFixed(2)} % of one core (idle ${r.idlePercent.toFixed(2)} %; target ≤ 2 %) ${mark(r.cpuPercent <= 2)}`);
  console.log(`RSS MiB start ${f0(rss.start)}, median ${f0(rss.median)}, max ${f0(rss.max)}, end ${f0(rss.end)}; after the first minute ${f0(Math.min(...late))}–${f0(Math.max(...late))} (target ≤ 64, flat) ${mark(rss.max <= 64)}`);
  console.log(`eviction ms median ${f1(median(r.evictions.map((e) => e.ms)))}, max ${f1(Math.max(...r.evictions.map((e) => e.ms)))}; CPU ms per eviction above idle ${f0(r.cpuMsPerEviction)}`);
  console.log(`sent ${n(r.report.sent)}, accounted ${n(r.accounted)}, reported lost ${n(r.reportedLost)}, sink dropped ${n(r.sinkDropped)}\n`);
  console.log("| minute | RSS MiB | kernel MiB | map capacity | evictions |\n|---|---|---|---|---|");
  for (const row of perMinute) console.log(row);
  process.exit(0);
}

const rows: string[] = [];
const ppsRows: string[] = [];
for (const flows of FLOW_COUNTS) {
  say(`${n(flows)} flows: pps without and with the agent…`);
  const pps = await ppsWithoutWith(pair, flows);
  ppsRows.push(`| ${n(flows)} | ${n(pps.without)} | ${n(pps.with)} | ${f1((1 - pps.with / pps.without) * 100)} % | ${pps.runs} × ${PPS_SECONDS} s, medians |`);
  for (const exp of EXPORTS) {
    say(`${n(flows)} flows, ${exp}: ${WARMUP_S} s warm-up + ${WINDOW_S} s at ${n(PPS)} pps…`);
    const r = await runCase(pair, flows, exp);
    const rss = rssFigures(r.rss);
    const targets: string[] = [];
    if (flows === 10_000) targets.push(`CPU ≤ 0.5 % ${mark(r.cpuPercent <= 0.5)}`);
    if (flows === 100_000 && exp === "grpc") targets.push(`CPU ≤ 2 % ${mark(r.cpuPercent <= 2)}`, `RSS ≤ 64 MiB ${mark(rss.max <= 64)}`);
    const ms = r.evictions.map((e) => e.ms);
    if (flows === 100_000) targets.push(`eviction+encode ≤ 50 ms: ${mark(median(ms) <= 50)} eviction, ${mark(r.cpuMsPerEviction <= 50)} CPU per eviction`);
    if (flows === 1_000_000) targets.push(`unaccounted 0 ${mark(r.report.sent - r.accounted === 0 && r.reportedLost === 0)}`, `RSS ≤ 256 MiB ${mark(rss.max <= 256)}`);
    rows.push(
      `| ${n(flows)} | ${exp} | ${n(r.report.pps)} | ${r.cpuPercent.toFixed(2)} (idle ${r.idlePercent.toFixed(2)}) | ${f0(rss.start)} / ${f0(rss.median)} / ${f0(rss.max)} / ${f0(rss.end)} | ` +
        `${f1(median(ms))} / ${f1(Math.max(...ms))} (${n(median(r.evictions.map((e) => e.flows)))} flows) | ${f0(r.cpuMsPerEviction)} | ` +
        `${r.evictions.length} (${r.earlyEvictions} early) | ${n(r.capacity)} | ${f0(r.kernelMiB)} | ${n(r.report.sent)} | ${n(r.accounted)} | ` +
        `${n(r.report.sent - r.accounted)} / ${n(r.reportedLost)} | ${n(r.sinkDropped)} | ${targets.join("; ")} |`,
    );
  }
}
console.log(`\nSteady window ${WINDOW_S} s after ${WARMUP_S} s warm-up, generator at ${n(PPS)} pps (64-byte frames) pinned to CPU 1, agent (default flags) on CPU 0.`);
console.log("CPU: agent utime+stime over the window, % of one core (idle: the same agent before the traffic). RSS MiB: start / median / max / end, sampled each second.");
console.log("Eviction ms: the agent's own figure (drain + columns; `evicted N flows in X ms`), median / max over the window; CPU ms / eviction: the window's CPU above idle / evictions (drain, encode, export).");
console.log("Map capacity, kernel MiB: Status flowMaps at the window's end. Lost: sent − accounted (Status totals) / reported by the agent (droppedPackets).\n");
console.log("| flows | export | pps | agent CPU % | RSS MiB | eviction ms | CPU ms / eviction | evictions | map capacity | kernel MiB | sent | accounted | lost: unaccounted / reported | sink dropped | targets |");
console.log("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
for (const row of rows) console.log(row);
console.log("\n| flows | pps, no agent | pps, agent attached | lower by | runs |\n|---|---|---|---|---|");
for (const row of ppsRows) console.log(row);
