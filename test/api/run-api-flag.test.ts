/** `run --api`: bad values are one line and exit 2; a port in use is one line, exit 1, nothing left attached. */
import { $ } from "bun";
import { expect, test } from "bun:test";
import { join } from "node:path";
import { AgentProcess, cliPath } from "../helpers/agent-process.ts";
import { isRoot, VethPair } from "../helpers/netns.ts";

async function cli(args: string[], env: Record<string, string> = {}, prefix: string[] = []) {
  const proc = Bun.spawn([...prefix, process.execPath, cliPath, ...args], { stdout: "pipe", stderr: "pipe", env: { ...process.env, ...env } });
  const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
  return { code, lines: stderr.trim().split("\n") };
}

test("--api with a bad address: one line, exit 2", async () => {
  expect(await cli(["run", "--api", "9990"])).toEqual({
    code: 2,
    lines: ['netflow-agent: error: --api "9990" must be host:port with port 0-65535 (examples: 127.0.0.1:9990, [::1]:9990)'],
  });
});

test("NETFLOW_API is validated the same way", async () => {
  expect(await cli(["run"], { NETFLOW_API: "localhost:http" })).toEqual({
    code: 2,
    lines: ['netflow-agent: error: --api "localhost:http" must be host:port with port 0-65535 (examples: 127.0.0.1:9990, [::1]:9990)'],
  });
});

test.if(isRoot)("the API port in use: one line, exit 1, the programs detached again", async () => {
  await using pair = await VethPair.create();
  const { a } = pair;
  await using holder = await AgentProcess.start(["collect", "--listen", "127.0.0.1:9990"], { ns: a.ns, readyText: "collecting on" });
  const r = await cli(["run", "--interfaces", a.ifname], {}, ["ip", "netns", "exec", a.ns]);
  expect(r.code).toBe(1);
  expect(r.lines.filter((l) => l.includes("error"))).toEqual([
    "netflow-agent: error: listening on 127.0.0.1:9990: EADDRINUSE (the port is in use: pick another or stop what holds it)",
  ]);
  const tcxCount = join(import.meta.dir, "..", "helpers", "tcx-count.ts");
  expect(Number(await $`ip netns exec ${a.ns} ${process.execPath} ${tcxCount} ${a.ifname}`.text())).toBe(0);
  expect(await holder.stop()).toBe(0);
}, 30000);

test.if(isRoot)("the default: the API on 127.0.0.1:9990; --api off: none", async () => {
  await using pair = await VethPair.create();
  const { a } = pair;
  {
    await using agent = await AgentProcess.start(["run", "--interfaces", a.ifname], { ns: a.ns });
    expect(agent.stderr).toContain("netflow-agent: API (netflow.v1.AgentService) on http://127.0.0.1:9990\n");
    expect(await agent.stop()).toBe(0);
  }
  {
    await using agent = await AgentProcess.start(["run", "--interfaces", a.ifname, "--api", "off"], { ns: a.ns });
    expect(agent.stderr).not.toContain("API (netflow.v1.AgentService)");
    expect(await agent.stop()).toBe(0);
  }
}, 30000);
