/**
 * The real agent exporting over gRPC to the real `collect`, both in namespace
 * A (so 127.0.0.1 is theirs), traffic on the veth to namespace B. The
 * collector is stopped for a while and restarted on the same port: what it
 * printed across both runs adds up exactly to the interface's own counters.
 */
import { expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FlowJson } from "../../src/flow/flow-format.ts";
import { AgentProcess, cliPath } from "../helpers/agent-process.ts";
import { counterDelta, isRoot, VethPair } from "../helpers/netns.ts";
import { receiveUdp, sendUdp, udpFrameBytes } from "../helpers/traffic.ts";

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
  const deadline = Date.now() + 10_000;
  while (!/collecting on http:\/\/127\.0\.0\.1:\d+/.test(stderr)) {
    if (Date.now() > deadline || proc.exitCode !== null) throw new Error(`collect did not start: ${stderr}`);
    await Bun.sleep(20);
  }
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
  return readFileSync(file, "utf8").split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
}

const sum = (flows: FlowJson[], f: (x: FlowJson) => number) => flows.reduce((s, x) => s + f(x), 0);

test.if(isRoot)("agent → collect over gRPC; collect away for 3 s: every packet arrives once", async () => {
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
      await Bun.sleep(100);
      receiver.kill();
    };
    await traffic(7100, 41001, 200);
    await Bun.sleep(1200);
    const firstStderr = await collect.stop();
    await traffic(7101, 41002, 300); // exported while nobody listens: queued
    await Bun.sleep(3000);
    collect = await startCollect(a.ns, port, join(dir, "second.jsonl"));
    await traffic(7102, 41003, 100);
    await Bun.sleep(1500);
    expect(await agent.stop()).toBe(0);
    const secondStderr = await collect.stop();
    const delta = counterDelta(before, pair.counters(a));

    const flows = [...flowsIn(join(dir, "first.jsonl")), ...flowsIn(join(dir, "second.jsonl"))].filter((f) => f.interface === a.ifname);
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

test.if(isRoot)("unreachable --target: one clear line, the agent keeps capturing, the loss is reported at exit", async () => {
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
  await Bun.sleep(100);
  receiver.kill();
  await Bun.sleep(2500);
  expect(agent.stderr.match(/ failing: /g)).toHaveLength(1);
  expect(agent.stderr).toContain("netflow-agent: warn: export to 127.0.0.1:9 failing: [unavailable] connect ECONNREFUSED 127.0.0.1:9; retrying with backoff");
  expect(await agent.stop()).toBe(0);
  expect(agent.stderr).toMatch(/netflow-agent: error: export to 127\.0\.0\.1:9: \d+ records not delivered within --export-flush-timeout 500 ms \(0 of \d+ delivered, 0 dropped, 0 refused\)/);
}, 30_000);
