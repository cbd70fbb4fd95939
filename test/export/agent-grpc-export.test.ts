/**
 * The real agent exporting over gRPC to the real `collect`, both in namespace
 * A (so 127.0.0.1 is theirs), traffic on the veth to namespace B. The
 * collector is stopped for a while and restarted on the same port: what it
 * printed across both runs adds up exactly to the interface's own counters.
 */
import { expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FlowJson } from "../../src/flow/flow-format.ts";
import { AgentProcess, cliPath } from "../helpers/agent-process.ts";
import { kernelTest } from "../helpers/kernel-test.ts";
import { waitForFlowsToMatchCounters } from "../helpers/interface-totals.ts";
import { counterDelta, VethPair } from "../helpers/netns.ts";
import { receiveUdp, sendUdp, udpFrameBytes } from "../helpers/traffic.ts";
import { waitFor } from "../helpers/wait-for.ts";

/** `netflow-agent collect` in namespace `ns`, appending JSON lines to `file`. */
async function startCollect(ns: string, port: number, file: string) {
  const proc = Bun.spawn(["ip", "netns", "exec", ns, process.execPath, cliPath, "collect", "--listen", `127.0.0.1:${port}`, "--output-file", file], {
    stdout: "ignore",
    stderr: "pipe",
  });
  let stderr = "";
  void (async () => {
    for await (const chunk of proc.stderr as unknown as AsyncIterable<Uint8Array>) stderr += new TextDecoder().decode(chunk);
  })();
  await waitFor("collect to start", () => {
    if (proc.exitCode !== null) throw new Error(`collect did not start: ${stderr}`);
    return /collecting on http:\/\/127\.0\.0\.1:\d+/.test(stderr);
  });
  return {
    port: Number(/collecting on http:\/\/127\.0\.0\.1:(\d+)/.exec(stderr)![1]),
    async stop() {
      proc.kill("SIGTERM");
      await proc.exited;
      return stderr;
    },
    kill: () => proc.kill("SIGKILL"),
  };
}

function flowsIn(file: string): FlowJson[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8").split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
}

const sum = (flows: FlowJson[], f: (x: FlowJson) => number) => flows.reduce((s, x) => s + f(x), 0);

kernelTest("agent → collect over gRPC; collect away until the agent reports the export failing: every packet arrives once", async () => {
  await using pair = await VethPair.create();
  const { a, b } = pair;
  await pair.settle();
  const dir = mkdtempSync(join(tmpdir(), "netflow-export-"));
  let collect = await startCollect(a.ns, 0, join(dir, "first.jsonl"));
  try {
    const port = collect.port;
    await using agent = await AgentProcess.start(
      ["run", "--cache-active-timeout", "500ms", "--interfaces", a.ifname, "--export", "grpc", "--target", `127.0.0.1:${port}`, "--export-batch-interval", "100ms"],
      { ns: a.ns },
    );
    const before = pair.counters(a);

    const traffic = async (port: number, srcPort: number, count: number) => {
      const receiver = await receiveUdp(b, b.ipv4, port, count);
      expect(await sendUdp(a, b.ipv4, port, srcPort, count, 200)).toBe(count);
      // The receiver only keeps the port open; its count is not asserted (a socket buffer may drop
      // under load after TC has seen the packet). Flows are checked against what was sent.
      receiver.kill();
    };
    const files = [join(dir, "first.jsonl"), join(dir, "second.jsonl")];
    const collected = () => files.flatMap(flowsIn);
    const packetsTo = (dstPort: number) => sum(collected().filter((f) => f.direction === "egress" && f.dstPort === dstPort), (f) => f.packets);
    await traffic(7100, 41001, 200);
    await waitFor("the first collector to have the first flow", () => packetsTo(7100) === 200);
    const firstStderr = await collect.stop();
    await traffic(7101, 41002, 300); // exported while nobody listens: queued
    await waitFor("the agent to say the export is failing", () => agent.stderr.includes(" failing: "));
    collect = await startCollect(a.ns, port, files[1]!);
    await traffic(7102, 41003, 100);
    await waitFor("the agent to say the export recovered", () => agent.stderr.includes(" recovered after "));
    await waitForFlowsToMatchCounters(pair, a, before, collected);
    expect(await agent.stop()).toBe(0);
    const secondStderr = await collect.stop();
    const delta = counterDelta(before, pair.counters(a));

    const flows = collected().filter((f) => f.interface === a.ifname);
    const udp = (dstPort: number) => flows.filter((f) => f.direction === "egress" && f.protocol === "UDP" && f.dstPort === dstPort);
    expect([7100, 7101, 7102].map((p) => sum(udp(p), (f) => f.packets))).toEqual([200, 300, 100]);
    expect(sum(udp(7101), (f) => f.bytes)).toBe(300 * udpFrameBytes(200, false));
    const egress = flows.filter((f) => f.direction === "egress");
    const ingress = flows.filter((f) => f.direction === "ingress");
    expect({ packets: sum(egress, (f) => f.packets), bytes: sum(egress, (f) => f.bytes) }).toEqual({ packets: delta.txPackets, bytes: delta.txBytes });
    expect({ packets: sum(ingress, (f) => f.packets), bytes: sum(ingress, (f) => f.bytes) }).toEqual({ packets: delta.rxPackets, bytes: delta.rxBytes });

    expect(agent.stderr.match(/ failing: /g)).toHaveLength(1);
    expect(agent.stderr.match(/ recovered after /g)).toHaveLength(1);
    expect(agent.stderr).toMatch(/export to 127\.0\.0\.1:\d+: (\d+) of \1 records delivered in \d+ batches/);
    expect(firstStderr + secondStderr).toMatch(/0 duplicate batches dropped/);
  } finally {
    collect.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}, 60_000);

kernelTest("unreachable --target: one clear line, the agent keeps capturing, the loss is reported at exit", async () => {
  await using pair = await VethPair.create();
  const { a, b } = pair;
  await pair.settle();
  // Port 9 (discard) on the namespace's loopback: nothing listens there.
  await using agent = await AgentProcess.start(
    ["run", "--cache-active-timeout", "300ms", "--interfaces", a.ifname, "--export", "grpc", "--target", "127.0.0.1:9", "--export-flush-timeout", "500ms"],
    { ns: a.ns },
  );
  const receiver = await receiveUdp(b, b.ipv4, 7200, 50);
  expect(await sendUdp(a, b.ipv4, 7200, 41010, 50, 100)).toBe(50);
  receiver.kill();
  await waitFor("the agent to say the export is failing", () => agent.stderr.includes(" failing: "));
  expect(agent.stderr.match(/ failing: /g)).toHaveLength(1);
  expect(agent.stderr).toContain("netflow-agent: warn: export to 127.0.0.1:9 failing: [unavailable] connect ECONNREFUSED 127.0.0.1:9; retrying with backoff");
  expect(await agent.stop()).toBe(0);
  expect(agent.stderr).toMatch(/netflow-agent: error: export to 127\.0\.0\.1:9: \d+ records not delivered within --export-flush-timeout 500 ms \(0 of \d+ delivered, 0 dropped, 0 refused\)/);
}, 30_000);
