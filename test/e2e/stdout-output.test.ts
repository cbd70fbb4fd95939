/**
 * stdout as the sink: a final eviction far larger than a pipe's buffer
 * arrives whole after SIGTERM, and a reader that goes away (`run | head`)
 * stops the agent with one line, everything detached.
 */
import { $ } from "bun";
import { expect, test } from "bun:test";
import { join } from "node:path";
import { AgentProcess, cliPath } from "../helpers/agent-process.ts";
import { isRoot, VethPair } from "../helpers/netns.ts";
import { receiveUdp } from "../helpers/traffic.ts";

const tcxCount = join(import.meta.dir, "..", "helpers", "tcx-count.ts");

test.if(isRoot)("3000 flows in the final eviction (≈1 MB of JSON through a pipe) all arrive after SIGTERM", async () => {
  await using pair = await VethPair.create();
  const { a, b } = pair;
  await pair.settle();
  // Nothing is evicted before the stop: the whole output is the final flush.
  await using agent = await AgentProcess.start(["run", "--cache-active-timeout", "1h", "--interfaces", a.ifname], { ns: a.ns });
  const sink = await receiveUdp(b, b.ipv4, 9, 3000);
  const script = `
    import dgram from "node:dgram";
    for (let i = 0; i < 3000; i++) {
      const s = dgram.createSocket("udp4");
      await new Promise((r) => s.bind(30000 + i, r));
      await new Promise((r, j) => s.send(Buffer.alloc(8), 9, "${b.ipv4}", (e) => (e ? j(e) : r())));
      s.close();
    }`;
  await $`ip netns exec ${a.ns} ${process.execPath} -e ${script}`.quiet();
  await Bun.sleep(200);
  sink.kill();
  expect(agent.flows).toHaveLength(0);
  expect(await agent.stop()).toBe(0);
  const ports = new Set(agent.flows.filter((f) => f.direction === "egress" && f.dstPort === 9).map((f) => f.srcPort));
  expect(ports.size).toBe(3000);
}, 60000);

test.if(isRoot)("run | head -1: one line on stderr, exit 1, nothing left attached", async () => {
  await using pair = await VethPair.create();
  const { a } = pair;
  const proc = Bun.spawn(["ip", "netns", "exec", a.ns, process.execPath, cliPath, "run", "--cache-active-timeout", "300ms", "--interfaces", "lo", "--api", "off"], {
    stdout: "pipe",
    stderr: "pipe",
  });
  // Whatever fails below, the agent must not outlive the test.
  await using _stopAgent = { [Symbol.asyncDispose]: async () => void (proc.exitCode === null && proc.kill("SIGKILL")) };
  // Traffic on the namespace's loopback until the first flow line arrives, then the reader leaves.
  const reader = proc.stdout.getReader();
  let first = "";
  const deadline = Date.now() + 15000;
  let pending = reader.read();
  while (!first.includes("\n") && Date.now() < deadline) {
    await $`ip netns exec ${a.ns} ${process.execPath} -e ${'require("node:dgram").createSocket("udp4").send("x", 9, "127.0.0.1", () => process.exit(0))'}`.quiet().nothrow();
    const chunk = await Promise.race([pending, Bun.sleep(400).then(() => undefined)]);
    if (chunk) {
      if (chunk.value) first += new TextDecoder().decode(chunk.value);
      pending = reader.read();
    }
  }
  expect(first).toContain('"interface":"lo"');
  await reader.cancel(); // closes our end of the pipe: the agent's next write gets EPIPE
  // Keep traffic flowing so there is a next eviction to write.
  for (let i = 0; i < 5 && proc.exitCode === null; i++) {
    await $`ip netns exec ${a.ns} ${process.execPath} -e ${'require("node:dgram").createSocket("udp4").send("x", 9, "127.0.0.1", () => process.exit(0))'}`.quiet().nothrow();
    await Bun.sleep(400);
  }
  const code = await Promise.race([proc.exited, Bun.sleep(10000).then(() => "timeout" as const)]);
  if (code === "timeout") proc.kill("SIGKILL");
  const stderr = await new Response(proc.stderr).text();
  expect(code).toBe(1);
  const errors = stderr.split("\n").filter((l) => l.includes("error"));
  expect(errors).toEqual(["netflow-agent: error: stdout was closed by its reader: stopped"]);
  expect(stderr).toContain("stdout closed: detaching and flushing");
  expect(Number(await $`ip netns exec ${a.ns} ${process.execPath} ${tcxCount} lo`.text())).toBe(0);
}, 60000);
