/**
 * What --enable-drops costs. Its program never runs at TC: it runs once per
 * packet the kernel drops (skb:kfree_skb), so the figures are per drop:
 *  - the program's own time per run, from the kernel's BPF statistics
 *    (kernel.bpf_stats_enabled: run_time_ns / run_cnt, every run counted);
 *  - what a dropping path loses: a UDP flood to a port with no socket on
 *    127.0.0.1 (bench/udp-flood.c, sendmmsg; every datagram dropped with
 *    NO_SOCKET on lo's ingress, on a flow), datagrams/s with the tracer
 *    attached and without, rounds alternated, medians.
 * Packets that are not dropped never run it: the TC path's ns/packet is
 * bench/bpf-cost.ts's and does not change. Run as root: `bun bench/drop-cost.ts`.
 */
import { $ } from "bun";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DropTracer } from "../src/bpf/drop-maps.ts";
import { readDropReasons } from "../src/bpf/drop-reasons.ts";

const ROUNDS = 7;
const reasons = readDropReasons();
const SECONDS = 2;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const binary = "/tmp/netflow-udp-flood";
await $`cc -O2 -o ${binary} ${join(import.meta.dir, "udp-flood.c")}`.quiet();

const STATS = "/proc/sys/kernel/bpf_stats_enabled";
const statsBefore = readFileSync(STATS, "utf8").trim();
writeFileSync(STATS, "1");

/** Datagrams/s of a flood to 127.0.0.1:9 (discard: no socket here), one flow. */
async function flood(): Promise<number> {
  const sent = Number((await $`${binary} 127.0.0.1 9 1 64 ${SECONDS}`.text()).trim().split(/\s+/).at(-1));
  return sent / SECONDS;
}

function programStats(): { runs: number; ns: number } {
  const progs = JSON.parse(Bun.spawnSync(["bpftool", "prog", "show", "-j"]).stdout.toString()) as { name?: string; run_cnt?: number; run_time_ns?: number }[];
  let runs = 0;
  let ns = 0;
  for (const p of progs) {
    if (p.name !== "drop_trace") continue;
    runs += p.run_cnt ?? 0;
    ns += p.run_time_ns ?? 0;
  }
  return { runs, ns };
}

try {
  const off: number[] = [];
  const on: number[] = [];
  const perRun: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    off.push(await flood());
    using tracer = await DropTracer.load({ reasons });
    tracer.attach();
    const before = programStats();
    on.push(await flood());
    const after = programStats();
    perRun.push((after.ns - before.ns) / Math.max(1, after.runs - before.runs));
    const drained = tracer.drain();
    if (round === 0) console.log(`round 0: ${after.runs - before.runs} runs, ${drained.count} flow record(s) drained, counters ${JSON.stringify(tracer.readCounters())}`);
  }
  const offPps = median(off);
  const onPps = median(on);
  console.log(`drop-cost: UDP to a closed port on 127.0.0.1, ${SECONDS} s × ${ROUNDS} rounds alternated, medians`);
  console.log(`  tracer off: ${Math.round(offPps)} datagrams/s (${(1e9 / offPps).toFixed(0)} ns each, send + drop)`);
  console.log(`  tracer on:  ${Math.round(onPps)} datagrams/s (${(1e9 / onPps).toFixed(0)} ns each); ratio on/off ${(onPps / offPps).toFixed(3)}`);
  console.log(`  added per drop (send loop): ${(1e9 / onPps - 1e9 / offPps).toFixed(0)} ns; the program itself (bpf_stats): ${median(perRun).toFixed(0)} ns a run`);
} finally {
  writeFileSync(STATS, statsBefore);
}
