/**
 * RemoteFlowSource against a real AgentService on 127.0.0.1 (ephemeral port),
 * published to by the test: the first batch of each stream is not counted,
 * batches are stamped with this side's clock, the interval is the agent's
 * Status, a lost agent is reported and watched again, and stop() ends it all.
 */
import { afterEach, expect, test } from "bun:test";
import { createAgentApi } from "../../src/api/agent-service.ts";
import type { FlowBatch } from "../../src/flow/flow-record.ts";
import { AgentService } from "../../src/gen/netflow/v1/agent_pb.ts";
import { startConnectServer, type ConnectServer } from "../../src/net/connect-server.ts";
import { RemoteFlowSource } from "../../src/tui/remote-flow-source.ts";
import { PublishedFlows, until } from "../api/flow-source.ts";
import { batch, record } from "./flow-fixtures.ts";

const identity = { hostname: "node-a", agentId: "3f1c0b8e-0000-4000-8000-000000000002", agentVersion: "0.1.0" };
const servers: ConnectServer[] = [];

async function serve(published: PublishedFlows, port = 0): Promise<ConnectServer> {
  const api = createAgentApi(published, identity);
  const server = await startConnectServer({ listen: { host: "127.0.0.1", port }, routes: (r) => r.service(AgentService, api.implementation) });
  servers.push(server);
  return server;
}

afterEach(async () => {
  for (const server of servers.splice(0)) await server.close();
});

const udp = record({ src: "198.18.0.1", dst: "198.18.0.2", srcPort: 40001, dstPort: 5001, bytes: 1042, packets: 1 });
const shape = (b: FlowBatch) => b.flows.records().map((r) => [r.interface, r.srcPort, r.dstPort, r.bytes, r.packets]);

test("first batch of a stream not counted, local time stamps, interval from Status, reconnects after a lost agent, stop", async () => {
  const published = new PublishedFlows();
  const server = await serve(published);
  const target = `127.0.0.1:${server.address.port}`;
  let now = 10_000;
  const countingStarted: number[] = [];
  const source = await RemoteFlowSource.connect(target, { clock: () => now, retryMs: 50, onCounting: () => countingStarted.push(now) });
  expect(source.status()).toEqual({
    description: `agent ${target}`, host: "node-a", interfaces: ["veth-a", "eth0"], intervalMs: 5000, countingSinceMs: undefined, message: undefined,
    // The agent's self-check, for the header.
    accounting: published.statusNow.accounting,
  });
  const received: FlowBatch[] = [];
  source.onBatch((b) => received.push(b));
  await source.start();
  await until(() => published.subscribers === 1, 3000, "the watch");

  published.publish(batch(1_764_000_006_000, [udp]));
  await until(() => source.status().countingSinceMs !== undefined, 3000, "the first batch");
  expect(received).toEqual([]);
  expect(countingStarted).toEqual([10_000]);
  expect(source.status().message).toBe("waiting for the agent's next eviction");

  now = 11_000;
  published.publish(batch(1_764_000_007_000, [udp, { ...udp, srcPort: 40002 }]));
  await until(() => received.length === 1, 3000, "the second batch");
  expect(received[0]!.evictedAtMs).toBe(11_000);
  expect(shape(received[0]!)).toEqual([["eth0", 40001, 5001, 1042, 1], ["eth0", 40002, 5001, 1042, 1]]);
  // The agent's configured interval, not the 1 s between these two evictions.
  expect(source.status()).toMatchObject({ intervalMs: 5000, countingSinceMs: 10_000, message: undefined });

  // The agent goes away: said in the status; it comes back on the same port: watched again.
  await servers.pop()!.close();
  await until(() => /^(lost the agent at|the agent at) /.test(source.status().message ?? ""), 5000, "the loss reported");
  const again = new PublishedFlows();
  await serve(again, server.address.port);
  await until(() => again.subscribers === 1, 5000, "the watch again");
  now = 20_000;
  again.publish(batch(1_764_000_020_000, [udp]));
  await until(() => source.status().message === "waiting for the agent's next eviction", 3000, "the new stream's first batch");
  now = 21_000;
  again.publish(batch(1_764_000_021_000, [udp]));
  await until(() => received.length === 2, 3000, "the new stream's second batch");
  expect(received[1]!.evictedAtMs).toBe(21_000);
  // Counting began once, at the first stream.
  expect(countingStarted).toEqual([10_000]);
  expect(source.status().countingSinceMs).toBe(10_000);

  await source.stop();
  await until(() => again.subscribers === 0, 3000, "the watch to end");
  again.publish(batch(1_764_000_022_000, [udp]));
  await Bun.sleep(50);
  expect(received.length).toBe(2);
});

test("connect fails with one line naming the target when nothing answers", async () => {
  const probe = await serve(new PublishedFlows());
  const port = probe.address.port;
  await servers.pop()!.close();
  await expect(RemoteFlowSource.connect(`127.0.0.1:${port}`)).rejects.toThrow(new RegExp(`^cannot reach the agent at 127\\.0\\.0\\.1:${port}: .+ \\(is it running with --api 127\\.0\\.0\\.1:${port}\\?\\)$`));
});

test("the interval follows the agent's Status; an agent that does not state it shows none", async () => {
  const published = new PublishedFlows();
  const server = await serve(published);
  const source = await RemoteFlowSource.connect(`127.0.0.1:${server.address.port}`, { statusRefreshMs: 20 });
  await source.start();
  expect(source.status().intervalMs).toBe(5000);
  published.statusNow.evictionIntervalMs = 250;
  await until(() => source.status().intervalMs === 250, 3000, "the refreshed status");
  published.statusNow.evictionIntervalMs = 0; // what an agent of 0.1 sends: no eviction_interval
  await until(() => source.status().intervalMs === undefined, 3000, "the refreshed status");
  await source.stop();
});
