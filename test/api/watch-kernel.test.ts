/**
 * End to end with the kernel: the agent in namespace A serving its API on A's
 * loopback, the Watch client in A too (a server in a namespace is reachable
 * only from inside it). UDP sent from A to B shows up over Watch with exactly
 * the packets and bytes sent, filtered on the server; Status names the veth.
 */
import { expect } from "bun:test";
import { join } from "node:path";
import { RUN_DEFAULTS } from "../../src/cli/run-config.ts";
import type { FlowJson } from "../../src/flow/flow-format.ts";
import { AgentProcess } from "../helpers/agent-process.ts";
import { kernelTest } from "../helpers/kernel-test.ts";
import { VethPair } from "../helpers/netns.ts";
import { receiveUdp, sendUdp, udpFrameBytes } from "../helpers/traffic.ts";
import { waitFor } from "../helpers/wait-for.ts";

const script = join(import.meta.dir, "watch-in-namespace.ts");
const API = "127.0.0.1:19990";

function inNamespace(ns: string, args: string[]) {
  return Bun.spawn(["ip", "netns", "exec", ns, process.execPath, script, ...args], { stdout: "pipe", stderr: "pipe" });
}

/** Reads JSON lines from a Watch script into `batches` as they come. */
function readLines(stream: ReadableStream<Uint8Array>, batches: { dropped: number; flows: FlowJson[] }[]) {
  return (async () => {
    let text = "";
    const reader = stream.getReader();
    for (let r = await reader.read(); !r.done; r = await reader.read()) {
      text += new TextDecoder().decode(r.value);
      let nl: number;
      while ((nl = text.indexOf("\n")) >= 0) {
        batches.push(JSON.parse(text.slice(0, nl)));
        text = text.slice(nl + 1);
      }
    }
  })();
}

kernelTest("Watch in the namespace: the UDP flow with exactly the packets and bytes sent; Status; a clean end when the agent stops", async () => {
  await using pair = await VethPair.create();
  const { a, b } = pair;
  await pair.settle();
  await using agent = await AgentProcess.start(["run", "--cache-active-timeout", "300ms", "--interfaces", a.ifname, "--api", API, "--output", "text"], { ns: a.ns });
  expect(agent.stderr).toContain(`API (netflow.v1.AgentService) on http://${API}`);

  const batches: { dropped: number; flows: FlowJson[] }[] = [];
  const watcher = inNamespace(a.ns, ["watch", API, JSON.stringify({ protocols: ["udp"], ports: [7100], cidrs: [`${b.ipv4}/32`] })]);
  const reading = readLines(watcher.stdout, batches);
  await waitFor("an (empty) eviction: the stream is live", () => batches.length > 0);

  // Receivers only keep B from answering port-unreachable (which fails the sender's next send):
  // the agent counts at A's egress, so what B's sockets keep under load does not matter.
  const receivers = [await receiveUdp(b, b.ipv4, 7100, 250, 3000), await receiveUdp(b, b.ipv4, 7101, 40, 3000)];
  expect(await sendUdp(a, b.ipv4, 7100, 41000, 250, 200)).toBe(250);
  expect(await sendUdp(a, b.ipv4, 7101, 41001, 40, 100)).toBe(40); // filtered out by the port
  for (const receiver of receivers) await receiver.done();

  const sum = () => {
    const flows = batches.flatMap((x) => x.flows);
    return { packets: flows.reduce((s, f) => s + f.packets, 0), bytes: flows.reduce((s, f) => s + f.bytes, 0) };
  };
  await waitFor("the flow's 250 packets", () => sum().packets >= 250);
  const seen = batches.length;
  await waitFor("two more evictions: nothing else may arrive", () => batches.length >= seen + 2);
  const flows = batches.flatMap((x) => x.flows);
  expect(sum()).toEqual({ packets: 250, bytes: 250 * udpFrameBytes(200, false) });
  expect(new Set(flows.map((f) => `${f.interface} ${f.direction} ${f.protocol} ${f.srcAddr}:${f.srcPort} > ${f.dstAddr}:${f.dstPort}`))).toEqual(
    new Set([`${a.ifname} egress UDP ${a.ipv4}:41000 > ${b.ipv4}:7100`]),
  );
  expect(batches.every((x) => x.dropped === 0)).toBe(true);

  const status = inNamespace(a.ns, ["status", API]);
  const report = JSON.parse(await new Response(status.stdout).text());
  expect(report.interfaces).toEqual([{ name: a.ifname, ifindex: expect.any(Number), kind: "tcx" }]);
  expect(report.agent.agentVersion).toBe((await import("../../package.json")).version);
  expect(report.watchers).toBe(1);
  expect(report.maxFlows).toBe(Number(RUN_DEFAULTS.cacheMaxFlows)); // the ceiling, by default
  expect(report.totals.packets).toBeGreaterThanOrEqual(290);
  // Stated by the agent, not inferred: --cache-active-timeout 300ms, one sink (--output text).
  expect(report.evictionIntervalMs).toBe(300);
  expect(report.sinks.map((s: { name: string }) => s.name)).toEqual(["text"]);
  expect(report.sinks[0].sentRecords).toBeGreaterThanOrEqual(2); // at least the two UDP flows
  // The map the programs write: within its ceiling, holding what was inserted into it, in kernel memory.
  expect(report.flowMaps.capacity).toBeGreaterThanOrEqual(1);
  expect(report.flowMaps.capacity).toBeLessThanOrEqual(report.maxFlows);
  expect(report.flowMaps.fill).toBeLessThanOrEqual(report.flowMaps.capacity);
  expect(report.flowMaps.kernelMemoryBytes).toBeGreaterThan(0);
  expect(report.kernel.flowsInserted).toBeGreaterThanOrEqual(2); // the kernel inserted at least the two UDP flows

  // The agent stopping ends the stream cleanly, after its final eviction.
  const evictionsSeen = batches.length;
  expect(await agent.stop()).toBe(0);
  await reading;
  expect(await watcher.exited).toBe(0);
  expect(batches.length).toBeGreaterThan(evictionsSeen);
}, 30000);
