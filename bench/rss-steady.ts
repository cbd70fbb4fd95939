/**
 * Memory over time: the agent evicting 10k flows every second for 60 s
 * (generator at 100k pps); prints RSS every 5 s. A leak shows as growth.
 *   sudo bun bench/rss-steady.ts
 */
import { $ } from "bun";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { VethPair } from "../test/helpers/netns.ts";
import { cliPath } from "../test/helpers/agent-process.ts";

const rssMiB = (pid: number) => Number(readFileSync(`/proc/${pid}/status`, "utf8").split("\n").find((l) => l.startsWith("VmRSS:"))!.split(/\s+/)[1]) / 1024;
const binary = "/tmp/netflow-udp-flood";
await $`cc -O2 -o ${binary} ${join(import.meta.dir, "udp-flood.c")}`.quiet();
await using pair = await VethPair.create();
const agent = Bun.spawn(["ip", "netns", "exec", pair.a.ns, process.execPath, cliPath, "run", "--interfaces", pair.a.ifname, "--api", "off", "--cache-active-timeout", "1s"], {
  stdout: Bun.file("/dev/null"),
  stderr: "ignore",
});
try {
  await Bun.sleep(2500);
  const flood = Bun.spawn(["ip", "netns", "exec", pair.a.ns, binary, pair.b.ipv4, "10000", "10000", "64", "60", "100000"]);
  for (let i = 1; i <= 12; i++) {
    await Bun.sleep(5000);
    console.log(`t=${i * 5}s rss ${rssMiB(agent.pid).toFixed(0)} MiB`);
  }
  await flood.exited;
} finally {
  agent.kill("SIGTERM");
  await agent.exited;
}
