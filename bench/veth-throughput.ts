/**
 * Packets per second through a veth pair between two namespaces, without and
 * with the agent attached to the sending end, and the agent's own CPU and
 * memory meanwhile. The generator (udp-flood.c, compiled here) cycles over
 * `flows` destination ports, so the agent holds that many flows.
 */
import { $ } from "bun";
import { join } from "node:path";
import { readFileSync } from "node:fs";
import { VethPair } from "../test/helpers/netns.ts";
import { AgentProcess } from "../test/helpers/agent-process.ts";

const CLK_TCK = 100;

export interface ThroughputResult {
  flows: number;
  seconds: number;
  ppsWithout: number;
  ppsWith: number;
  agentCpuPercent: number;
  agentRssMiB: number;
}

async function flood(pair: VethPair, flows: number, seconds: number, binary: string): Promise<number> {
  const before = pair.counters(pair.b).rxPackets;
  await $`ip netns exec ${pair.a.ns} ${binary} ${pair.b.ipv4} 10000 ${flows} 64 ${seconds}`.quiet();
  return (pair.counters(pair.b).rxPackets - before) / seconds;
}

function cpuTicks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15 of stat)
}

function rssMiB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, "utf8").split("\n").find((l) => l.startsWith("VmRSS:"))!;
  return Number(line.split(/\s+/)[1]) / 1024;
}

export async function measureThroughput(flows = 10_000, seconds = 5): Promise<ThroughputResult> {
  const binary = "/tmp/netflow-udp-flood";
  await $`cc -O2 -o ${binary} ${join(import.meta.dir, "udp-flood.c")}`.quiet();
  await using pair = await VethPair.create();
  await pair.settle(3000);
  const ppsWithout = await flood(pair, flows, seconds, binary);
  await using agent = await AgentProcess.start(["run", "--interfaces", pair.a.ifname, "--cache-max-flows", "32768", "--cache-active-timeout", "5s"], { ns: pair.a.ns });
  await Bun.sleep(500);
  const ticks0 = cpuTicks(agent.pid);
  const t0 = performance.now();
  const ppsWith = await flood(pair, flows, seconds, binary);
  const elapsed = (performance.now() - t0) / 1000;
  const agentCpuPercent = ((cpuTicks(agent.pid) - ticks0) / CLK_TCK / elapsed) * 100;
  const agentRssMiB = rssMiB(agent.pid);
  await agent.stop();
  const seen = new Set(agent.flows.filter((f) => f.protocol === "UDP" && f.direction === "egress").map((f) => f.dstPort));
  if (seen.size !== flows) throw new Error(`agent reported ${seen.size} flows, expected ${flows}`);
  return { flows, seconds, ppsWithout, ppsWith, agentCpuPercent, agentRssMiB };
}

if (import.meta.main) console.log(await measureThroughput());
