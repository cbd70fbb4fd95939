/**
 * `run --api`: bad values are one line and exit 2; so is an address in use, found before anything is
 * loaded into the kernel (the listener is bound first).
 */
import { $ } from "bun";
import { expect, test } from "bun:test";
import net, { type AddressInfo } from "node:net";
import { join } from "node:path";
import { AgentProcess, cliPath } from "../helpers/agent-process.ts";
import { kernelTest } from "../helpers/kernel-test.ts";
import { VethPair } from "../helpers/netns.ts";

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

test("the API port in use: one line naming --api and the address, exit 2, before anything is loaded", async () => {
  const holder = net.createServer();
  await new Promise<void>((resolve) => holder.listen(0, "127.0.0.1", resolve));
  try {
    const { port } = holder.address() as AddressInfo;
    // --log-level debug: loading the BPF object would add libbpf's lines, attaching "attached to …".
    const r = await cli(["run", "--api", `127.0.0.1:${port}`, "--interfaces", "roughnone", "--log-level", "debug"]);
    expect(r).toEqual({
      code: 2,
      lines: [`netflow-agent: error: --api 127.0.0.1:${port}: EADDRINUSE (the port is in use: pick another or stop what holds it)`],
    });
  } finally {
    holder.close();
  }
});

kernelTest("the API port in use in a namespace: exit 2, nothing attached", async () => {
  await using pair = await VethPair.create();
  const { a } = pair;
  await using holder = await AgentProcess.start(["collect", "--listen", "127.0.0.1:9990"], { ns: a.ns, readyText: "collecting on" });
  const r = await cli(["run", "--interfaces", a.ifname], {}, ["ip", "netns", "exec", a.ns]);
  expect(r).toEqual({
    code: 2,
    lines: ["netflow-agent: error: --api 127.0.0.1:9990: EADDRINUSE (the port is in use: pick another or stop what holds it)"],
  });
  const tcxCount = join(import.meta.dir, "..", "helpers", "tcx-count.ts");
  expect(Number(await $`ip netns exec ${a.ns} ${process.execPath} ${tcxCount} ${a.ifname}`.text())).toBe(0);
  expect(await holder.stop()).toBe(0);
}, 30000);

kernelTest("the default: the API on 127.0.0.1:9990; --api off: none", async () => {
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
