/**
 * Packets per second through a veth pair between two namespaces, without and
 * with the agent attached to the sending end, and the agent's own CPU and
 * memory meanwhile. The generator (udp-flood.c, compiled here) cycles over
 * `flows` destination ports, so the agent holds that many flows.
 *
 * This VM's figures move by ±20% from run to run, so the generator is pinned
 * to CPU 1 and the agent to CPU 0, each case runs `runs` times, and medians
 * are reported. The agent prints its JSON lines to /dev/null.
 */
import { $ } from "bun";
import { join } from "node:path";
import { readFileSync } from "node:fs";
import { VethPair } from "../test/helpers/netns.ts";
import { cliPath } from "../test/helpers/agent-process.ts";

const CLK_TCK = 100;

export interface ThroughputResult {
  flows: number;
  seconds: number;
  runs: number;
  ppsWithout: number;
  ppsWith: number;
  agentCpuPercent: number;
  /** The agent's CPU with the same flows at a tenth of the packet rate. */
  agentCpuPercentTenthRate: number;
  agentRssMiB: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function cpuTicks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15 of stat)
}

function rssMiB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, "utf8").split("\n").find((l) => l.startsWith("VmRSS:"))!;
  return Number(line.split(/\s+/)[1]) / 1024;
}

export async function measureThroughput(flows = 10_000, seconds = 5, runs = 3): Promise<ThroughputResult> {
  const binary = "/tmp/netflow-udp-flood";
  await $`cc -O2 -o ${binary} ${join(import.meta.dir, "udp-flood.c")}`.quiet();
  await using pair = await VethPair.create();
  await pair.settle(3000);
  /** Packets that reached namespace B per second. */
  const flood = async (pps = 0) => {
    const before = pair.counters(pair.b).rxPackets;
    await $`ip netns exec ${pair.a.ns} taskset -c 1 ${binary} ${pair.b.ipv4} 10000 ${flows} 64 ${seconds} ${pps}`.quiet();
    return (pair.counters(pair.b).rxPackets - before) / seconds;
  };

  const without: number[] = [];
  for (let i = 0; i < runs; i++) without.push(await flood());

  const agent = Bun.spawn(["ip", "netns", "exec", pair.a.ns, "taskset", "-c", "0", process.execPath, cliPath, "run", "--interfaces", pair.a.ifname, "--api", "off"], {
    stdout: Bun.file("/dev/null"),
    stderr: "pipe",
  });
  try {
    await Bun.sleep(3000);
    const ticks0 = cpuTicks(agent.pid);
    const t0 = performance.now();
    const withAgent: number[] = [];
    for (let i = 0; i < runs; i++) withAgent.push(await flood());
    const elapsed = (performance.now() - t0) / 1000;
    const agentCpuPercent = ((cpuTicks(agent.pid) - ticks0) / CLK_TCK / elapsed) * 100;
    const ppsWith = median(withAgent);
    const ticks1 = cpuTicks(agent.pid);
    const t1 = performance.now();
    for (let i = 0; i < runs; i++) await flood(Math.round(ppsWith / 10));
    const agentCpuPercentTenthRate = ((cpuTicks(agent.pid) - ticks1) / CLK_TCK / ((performance.now() - t1) / 1000)) * 100;
    const agentRssMiB = rssMiB(agent.pid);
    return { flows, seconds, runs, ppsWithout: median(without), ppsWith, agentCpuPercent, agentCpuPercentTenthRate, agentRssMiB };
  } finally {
    agent.kill("SIGTERM");
    await agent.exited;
  }
}

if (import.meta.main) console.log(await measureThroughput());
