/**
 * The whole path with the kernel: the agent in namespace A exporting over
 * gRPC (`run --export grpc`) to `collect` in the same namespace. The UDP flow
 * arrives with exactly the packets and bytes sent, no batch twice, and the
 * collector's totals equal what it printed.
 */
import { expect } from "bun:test";
import type { FlowJson } from "../../src/flow/flow-format.ts";
import { AgentProcess } from "../helpers/agent-process.ts";
import { kernelTest } from "../helpers/kernel-test.ts";
import { VethPair } from "../helpers/netns.ts";
import { receiveUdp, sendUdp, udpFrameBytes } from "../helpers/traffic.ts";
import { waitFor } from "../helpers/wait-for.ts";

const sum = (flows: FlowJson[], f: (x: FlowJson) => number) => flows.reduce((s, x) => s + f(x), 0);

kernelTest("run --export grpc → collect: exact packets and bytes, totals consistent", async () => {
  await using pair = await VethPair.create();
  const { a, b } = pair;
  await pair.settle();
  await using collect = await AgentProcess.start(["collect", "--listen", "127.0.0.1:19999"], { ns: a.ns, readyText: "collecting on" });
  await using agent = await AgentProcess.start(
    ["run", "--cache-active-timeout", "300ms", "--interfaces", a.ifname, "--api", "off", "--export", "grpc", "--target", "127.0.0.1:19999"],
    { ns: a.ns },
  );
  expect(agent.stderr).not.toContain("API (netflow.v1.AgentService)");

  // The receiver only keeps B from answering port-unreachable (which fails the sender's next send):
  // the agent counts at A's egress, so what B's socket keeps under load does not matter.
  const receiver = await receiveUdp(b, b.ipv6, 7200, 300, 3000);
  expect(await sendUdp(a, b.ipv6, 7200, 42000, 300, 500)).toBe(300);
  await receiver.done();
  // Exported by the timed evictions: the collector prints it (a shortfall is asserted after the stop).
  await waitFor("the collector to print the flow", () => sum(collect.flows.filter((f) => f.srcPort === 42000), (f) => f.packets) >= 300);
  expect(await agent.stop()).toBe(0); // final eviction, flushed to the collector
  expect(await collect.stop()).toBe(0);

  if (!collect.flows.some((f) => f.srcPort === 42000)) console.error(`agent:\n${agent.stderr}\ncollect:\n${collect.stderr}`);
  expect(agent.flows).toEqual([]); // --export grpc alone prints nothing
  const ours = collect.flows.filter((f) => f.srcPort === 42000 && f.dstPort === 7200 && f.protocol === "UDP");
  expect(ours.every((f) => f.interface === a.ifname && f.direction === "egress" && f.srcAddr === a.ipv6 && f.dstAddr === b.ipv6)).toBe(true);
  expect({ packets: sum(ours, (f) => f.packets), bytes: sum(ours, (f) => f.bytes) }).toEqual({ packets: 300, bytes: 300 * udpFrameBytes(500, true) });

  const totals = collect.stderr.split("\n").filter((l) => l.startsWith("netflow-agent: totals: agent "));
  expect(totals).toHaveLength(1);
  const [, flows, packets, bytes, duplicates] = /: \d+ batches, (\d+) flows, (\d+) packets, (\d+) bytes, (\d+) duplicate/.exec(totals[0]!)!.map(Number);
  expect({ flows, packets, bytes, duplicates }).toEqual({
    flows: collect.flows.length,
    packets: sum(collect.flows, (f) => f.packets),
    bytes: sum(collect.flows, (f) => f.bytes),
    duplicates: 0,
  });
}, 60000);
